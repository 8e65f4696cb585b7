"""Deprecated: the single-link study moved to :mod:`semalign.experiments.studies.mimo` in 0.2.0. The old names below keep working for one release."""

from semalign.experiments._moved import moved

__getattr__ = moved(__name__, {
    "METHODS": "semalign.experiments.studies.mimo:METHODS",
    "EXPERIMENTS": "semalign.experiments.studies.mimo:EXPERIMENTS",
    "FLOPS_METHODS": "semalign.experiments.studies.mimo:FLOPS_METHODS",
    "PAPER_SEEDS": "semalign._vocabulary:PAPER_SEEDS",
    "MimoGrid": "semalign.experiments.studies.mimo:MimoGrid",
    "quick_grid": "semalign.experiments.studies.mimo:quick_grid",
    "full_grid": "semalign.experiments.studies.mimo:full_grid",
    "run_mimo": "semalign.experiments.compat:run_mimo",
})
