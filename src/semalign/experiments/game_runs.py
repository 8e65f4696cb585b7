"""Deprecated: game runs moved to :mod:`semalign.experiments.runs.game` in 0.2.0. The old names below keep working for one release."""

from semalign.experiments._moved import moved

__getattr__ = moved(__name__, {
    "GameRun": "semalign.experiments.runs.game:GameRun",
    "check_game_runs": "semalign.experiments.runs.game:check_game_runs",
    "run_game_group": "semalign.experiments.runs.game:run_game_group",
})
