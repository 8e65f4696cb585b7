"""Deprecated: the federated-downlink study moved to :mod:`semalign.experiments.studies.federated` in 0.2.0. The old names below keep working for one release."""

from semalign.experiments._moved import moved

__getattr__ = moved(__name__, {
    "EXPERIMENTS": "semalign.experiments.studies.federated:EXPERIMENTS",
    "METHODS": "semalign.experiments.studies.federated:METHODS",
    "PAPER_SEEDS": "semalign._vocabulary:PAPER_SEEDS",
    "DIGITS_USERS": "semalign.experiments.runs.federated:DIGITS_USERS",
    "DIGITS_HOMOGENEOUS": "semalign.experiments.runs.federated:DIGITS_HOMOGENEOUS",
    "DIGITS_HETEROGENEOUS": "semalign.experiments.runs.federated:DIGITS_HETEROGENEOUS",
    "SYNTHETIC_USERS": "semalign.experiments.runs.federated:SYNTHETIC_USERS",
    "UserPool": "semalign.experiments.runs.federated:UserPool",
    "encoder_pool": "semalign.experiments.runs.federated:encoder_pool",
    "synthetic_pool": "semalign.experiments.runs.federated:synthetic_pool",
    "FederatedGrid": "semalign.experiments.studies.federated:FederatedGrid",
    "quick_grid": "semalign.experiments.studies.federated:quick_grid",
    "full_grid": "semalign.experiments.studies.federated:full_grid",
    "run_federated": "semalign.experiments.compat:run_federated",
})
