"""Deprecated: sweeps run on the run engine, :mod:`semalign.experiments.engine`, since 0.2.0. The old names below keep working for one release."""

from semalign.experiments._moved import moved

__getattr__ = moved(__name__, {
    "EXECUTORS": "semalign._vocabulary:EXECUTORS",
    "MAX_BATCH": "semalign.experiments.engine:MAX_BATCH",
    "RESULTS_VERSION": "semalign.experiments.engine:RESULTS_VERSION",
    "run_id": "semalign.experiments.engine:run_id",
    "group_runs": "semalign.experiments.engine:group_runs",
    "get_experiment": "semalign.experiments.runs:get_run_kind",
    "run_sweep": "semalign.experiments.compat:run_sweep",
})
