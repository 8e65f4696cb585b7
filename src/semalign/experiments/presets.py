"""Deprecated: presets moved to :mod:`semalign.experiments.studies.presets` in 0.2.0. The old names below keep working for one release."""

from semalign.experiments._moved import moved

__getattr__ = moved(__name__, {
    "Preset": "semalign.experiments.studies.presets:Preset",
    "PRESETS": "semalign.experiments.studies.presets:PRESETS",
    "get_preset": "semalign.experiments.studies.presets:get_preset",
    "preset_grid": "semalign.experiments.studies.presets:preset_grid",
    "extract_command": "semalign.experiments.studies.presets:extract_command",
    "PUBLISHED_NOISE": "semalign.experiments.studies.presets:PUBLISHED_NOISE",
    "PAPER_MIMO_ENCODERS": "semalign.experiments.studies.presets:PAPER_MIMO_ENCODERS",
    "PAPER_FEDERATED_AP": "semalign.experiments.studies.presets:PAPER_FEDERATED_AP",
    "PAPER_FEDERATED_USERS": "semalign.experiments.studies.presets:PAPER_FEDERATED_USERS",
})
