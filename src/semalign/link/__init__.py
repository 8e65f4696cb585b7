"""The radio link: channels, noise and SNR conventions, real<->complex packing, whitening."""

from semalign.link.channel import channel_for_seed, rayleigh_channel
from semalign.link.noise import SNR_CONVENTIONS, complex_awgn, noise_variance
from semalign.link.packing import complex_dim, pack_complex, unpack_complex
from semalign.link.whitening import Whitener, fit_whitener

__all__ = [
    "SNR_CONVENTIONS",
    "Whitener",
    "channel_for_seed",
    "complex_awgn",
    "complex_dim",
    "fit_whitener",
    "noise_variance",
    "pack_complex",
    "rayleigh_channel",
    "unpack_complex",
]
