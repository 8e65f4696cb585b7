"""Deprecated: federated runs moved to :mod:`semalign.experiments.runs.federated` in 0.2.0. The old names below keep working for one release."""

from semalign.experiments._moved import moved

__getattr__ = moved(__name__, {
    "FederatedRun": "semalign.experiments.runs.federated:FederatedRun",
    "check_federated_runs": "semalign.experiments.runs.federated:check_federated_runs",
    "run_federated_group": "semalign.experiments.runs.federated:run_federated_group",
})
