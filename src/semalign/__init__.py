"""semalign: latent-space alignment for AI-native semantic MIMO communications.

Public API (stable)::

    from semalign import LinearSemanticTransceiver, load_latents
    pair = load_latents("digits")          # LatentPair: .train/.test with .tx, .rx, .labels
    model = LinearSemanticTransceiver(channel=H, snr_db=20.0, power=1.0, rho=100.0,
                                      iterations=20, snr_convention="total")
    model.fit(x_train, y_train)            # (n, d_tx), (n, d_rx) real tensors; returns self
    y_hat = model.transmit(x_test)         # (n, d_rx) through H with noise; noise=False option
"""

__version__ = "0.1.0"

from semalign.latents import LatentPair, LatentSplit, load_latents, select_pilots  # noqa: E402
from semalign.link.channel import channel_for_seed, rayleigh_channel  # noqa: E402
from semalign.link.noise import noise_variance  # noqa: E402
from semalign.transceivers.baselines import EigenKTransceiver, FirstKTransceiver, TopKTransceiver  # noqa: E402
from semalign.transceivers.base import NotFittedError  # noqa: E402
from semalign.transceivers.linear_admm import LinearSemanticTransceiver  # noqa: E402
from semalign.transceivers.neural import NeuralSemanticTransceiver  # noqa: E402

__all__ = [
    "EigenKTransceiver",
    "FirstKTransceiver",
    "LatentPair",
    "LatentSplit",
    "LinearSemanticTransceiver",
    "NeuralSemanticTransceiver",
    "NotFittedError",
    "TopKTransceiver",
    "channel_for_seed",
    "load_latents",
    "noise_variance",
    "rayleigh_channel",
    "select_pilots",
]
