"""Deprecated: the interference-game study moved to :mod:`semalign.experiments.studies.game` in 0.2.0. The old names below keep working for one release."""

from semalign.experiments._moved import moved

__getattr__ = moved(__name__, {
    "EXPERIMENTS": "semalign.experiments.studies.game:EXPERIMENTS",
    "SCHEDULES": "semalign._vocabulary:SCHEDULES",
    "PAPER_SEEDS": "semalign._vocabulary:PAPER_SEEDS",
    "DIGITS_PAIRS": "semalign.experiments.runs.game:DIGITS_PAIRS",
    "GameGrid": "semalign.experiments.studies.game:GameGrid",
    "quick_grid": "semalign.experiments.studies.game:quick_grid",
    "full_grid": "semalign.experiments.studies.game:full_grid",
    "run_game": "semalign.experiments.compat:run_game",
})
