"""The physical layer of every setting: the :class:`Link` (channels, SNR convention, power, channel
uses, and the one place symbols cross the channel), channel models
(:mod:`semalign.link.channel_models`: Rayleigh, Kronecker, 3GPP TDL/CDL through OFDM), noise,
packing, whitening and the shared MIMO maths, and imperfect channel knowledge
(:mod:`semalign.link.csi`)."""

from semalign.link.channel import channel_for_seed, ofdm_channel, rayleigh_channel
from semalign.link.channel_models import CHANNEL_MODELS, ChannelModel
from semalign.link.csi import ChannelEstimate, estimate_channel, estimate_of, gauss_markov_channels, jakes_correlation, true_channel
from semalign.link.link import Link
from semalign.link.mimo import block_diagonal_channel, canonical_phase, column_phases, project_power_ball, real_composite, subcarrier_block_diagonal
from semalign.link.noise import SNR_CONVENTIONS, complex_awgn, noise_variance
from semalign.link.packing import complex_dim, pack_complex, unpack_complex
from semalign.link.whitening import Whitener, fit_whitener

__all__ = [
    "CHANNEL_MODELS",
    "SNR_CONVENTIONS",
    "ChannelEstimate",
    "ChannelModel",
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
    "ofdm_channel",
    "pack_complex",
    "project_power_ball",
    "rayleigh_channel",
    "real_composite",
    "subcarrier_block_diagonal",
    "true_channel",
    "unpack_complex",
]
