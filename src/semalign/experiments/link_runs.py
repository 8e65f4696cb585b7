"""Deprecated: single-link runs moved to :mod:`semalign.experiments.runs.link` in 0.2.0. The old names below keep working for one release."""

from semalign.experiments._moved import moved

__getattr__ = moved(__name__, {
    "LinkRun": "semalign.experiments.runs.link:LinkRun",
    "LATENT_FIELDS": "semalign.experiments.runs.link:LATENT_FIELDS",
    "check_link_runs": "semalign.experiments.runs.link:check_link_runs",
    "latents_version": "semalign.experiments.runs.link:latents_version",
    "run_link_group": "semalign.experiments.runs.link:run_link_group",
})
