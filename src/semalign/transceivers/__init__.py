"""Single-link semantic transceivers: linear ADMM, neural, and the First-K / Top-K / Eigen-K baselines."""

from semalign.transceivers.base import NotFittedError, SemanticTransceiver
from semalign.transceivers.baselines import BASELINES, EigenKTransceiver, FirstKTransceiver, TopKTransceiver
from semalign.transceivers.linear_admm import GramStatistics, LinearSemanticTransceiver, gram_statistics
from semalign.transceivers.neural import NeuralSemanticTransceiver

__all__ = [
    "BASELINES",
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
