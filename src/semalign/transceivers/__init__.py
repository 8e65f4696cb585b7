"""Single-link semantic transceivers: linear ADMM, neural, and the First-K / Top-K / Eigen-K baselines.

Every transceiver follows the estimator contract (:mod:`semalign._estimator`) and sends through a
:class:`~semalign.link.Link`; each registers itself in the method registry (:mod:`semalign.methods`).
"""

from semalign.transceivers.base import NotFittedError, SemanticTransceiver
from semalign.transceivers.linear_admm import GramStatistics, LinearSemanticTransceiver, gram_statistics
from semalign.transceivers.neural import NeuralSemanticTransceiver
from semalign.transceivers.baselines import EigenKTransceiver, FirstKTransceiver, TopKTransceiver  # noqa: I001 (registration order)

__all__ = [
    "EigenKTransceiver",
    "FirstKTransceiver",
    "GramStatistics",
    "LinearSemanticTransceiver",
    "NeuralSemanticTransceiver",
    "NotFittedError",
    "SemanticTransceiver",
    "TopKTransceiver",
    "gram_statistics",
]


def __getattr__(name: str):
    if name == "BASELINES":  # replaced by the method registry in 0.2.0
        from semalign.transceivers import baselines

        return baselines.BASELINES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
