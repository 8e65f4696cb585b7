"""The physical layer of every setting: the :class:`Link` (channels, SNR convention, power, channel
uses, and the one place symbols cross the channel), channel models, noise, packing, whitening and the
shared MIMO maths, and imperfect channel knowledge (:mod:`semalign.link.csi`)."""

from semalign.link.channel import channel_for_seed, rayleigh_channel
from semalign.link.csi import ChannelEstimate, estimate_channel, estimate_of, gauss_markov_channels, jakes_correlation, true_channel
from semalign.link.link import Link
from semalign.link.mimo import block_diagonal_channel, canonical_phase, column_phases, project_power_ball, real_composite
from semalign.link.noise import SNR_CONVENTIONS, complex_awgn, noise_variance
from semalign.link.packing import complex_dim, pack_complex, unpack_complex
from semalign.link.whitening import Whitener, fit_whitener

__all__ = [
    "SNR_CONVENTIONS",
    "ChannelEstimate",
    "Link",
    "Whitener",
    "block_diagonal_channel",
    "canonical_phase",
    "channel_for_seed",
    "column_phases",
    "complex_awgn",
    "complex_dim",
    "estimate_channel",
    "estimate_of",
    "fit_whitener",
    "gauss_markov_channels",
    "jakes_correlation",
    "noise_variance",
    "pack_complex",
    "project_power_ball",
    "rayleigh_channel",
    "real_composite",
    "true_channel",
    "unpack_complex",
]
