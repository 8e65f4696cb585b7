"""Single-link semantic transceivers: linear ADMM and the First-K / Top-K / Eigen-K baselines."""

from semalign.transceivers.base import NotFittedError, SemanticTransceiver
from semalign.transceivers.baselines import BASELINES, EigenKTransceiver, FirstKTransceiver, TopKTransceiver
from semalign.transceivers.linear_admm import GramStatistics, LinearSemanticTransceiver, gram_statistics

__all__ = [
    "BASELINES",
    "EigenKTransceiver",
    "FirstKTransceiver",
    "GramStatistics",
    "LinearSemanticTransceiver",
    "NotFittedError",
    "SemanticTransceiver",
    "TopKTransceiver",
    "gram_statistics",
]
