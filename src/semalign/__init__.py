"""semalign: latent-space alignment for AI-native semantic MIMO communications.

Public API (stable)::

    from semalign import LinearSemanticTransceiver, load_latents
    pair = load_latents("digits")          # LatentPair: .train/.test with .tx, .rx, .labels
    model = LinearSemanticTransceiver(channel=H, snr_db=20.0, power=1.0, rho=100.0,
                                      iterations=20, snr_convention="total")
    model.fit(x_train, y_train)            # (n, d_tx), (n, d_rx) real tensors; returns self
    y_hat = model.transmit(x_test)         # (n, d_rx) through H with noise; noise=False option
    model.save("model")                    # semalign.load("model") transmits the same

Layers, each importing only those below it: ``cli`` > ``experiments`` > ``multiuser`` >
``transceivers`` > ``link``, ``latents``, ``tasks`` and the private helpers (``_estimator``,
``_registry``, ``_seeds``, ``_vocabulary``, ...). No module imports this package root.
"""

from semalign import _threads

_threads.prefer_sleeping_threads()  # before torch starts its OpenMP threads (see semalign._threads)

from semalign._version import __version__  # noqa: E402 (after the thread policy)
from semalign._estimator import Estimator, NotFittedError, load
from semalign.latents import LatentPair, LatentSplit, load_latents, select_pilots
from semalign.link.channel import channel_for_seed, rayleigh_channel
from semalign.link.link import Link
from semalign.link.noise import noise_variance
from semalign.transceivers.baselines import EigenKTransceiver, FirstKTransceiver, TopKTransceiver
from semalign.transceivers.linear_admm import LinearSemanticTransceiver
from semalign.transceivers.neural import NeuralSemanticTransceiver
from semalign.multiuser.federated import FederatedDownlink
from semalign.multiuser.federated_baselines import FederatedFeatureBaseline
from semalign.multiuser.semantic_game import SemanticInterferenceGame

try:
    _threads.configure_threads()  # never more intra-op threads than usable cores; $SEMALIGN_THREADS wins
except ValueError as _error:
    import warnings

    warnings.warn(f"{_error}; keeping torch's thread count", RuntimeWarning, stacklevel=2)

__all__ = [
    "EigenKTransceiver",
    "Estimator",
    "FederatedDownlink",
    "FederatedFeatureBaseline",
    "FirstKTransceiver",
    "LatentPair",
    "LatentSplit",
    "LinearSemanticTransceiver",
    "Link",
    "NeuralSemanticTransceiver",
    "NotFittedError",
    "SemanticInterferenceGame",
    "TopKTransceiver",
    "__version__",
    "channel_for_seed",
    "load",
    "load_latents",
    "noise_variance",
    "rayleigh_channel",
    "select_pilots",
]
