"""Draw the figures of an output folder from its stored rows, as its manifest says.

A study folder gets its study's figures (:mod:`semalign.experiments.studies`), a sweep folder one
figure per numeric swept setting (:mod:`semalign.experiments.sweep_figures`). Nothing is rerun:
``semalign figures OUT`` and ``semalign report OUT`` redraw from ``results.parquet``.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from semalign.experiments.manifest import read_manifest
from semalign.experiments.store import read_results, succeeded
from semalign.experiments.studies import STUDIES, get_study
from semalign.experiments.sweep_figures import draw_sweep_figures

def folder_kind(manifest: dict) -> str:
    """``mimo``, ``game``, ``federated`` (a study folder) or ``sweep``."""
    return manifest["study"] if manifest.get("kind") == "study" else "sweep"


def describe(kind: str) -> str:
    """What a folder of ``kind`` holds, for titles (a study's description, or a sweep)."""
    return get_study(kind).description if kind in STUDIES else "sweep (semalign run)" if kind == "sweep" else "results"


def draw_figures(out_dir: str | os.PathLike, results: pl.DataFrame | None = None) -> list[Path]:
    """Draw every figure of the folder ``out_dir`` into ``out_dir/figures`` from ``results`` (default:
    its ``results.parquet``); returns the paths.

    Raises:
        FileNotFoundError: no ``manifest.json``, or neither ``results.parquet`` nor parts, in the folder.
    """
    out_dir = Path(out_dir)
    if results is None:
        results = read_results(out_dir)  # a damaged file is rebuilt from the parts
    manifest = read_manifest(out_dir)
    results = succeeded(results)
    if not results.height:
        return []
    figures_dir = out_dir / "figures"
    if manifest.get("kind") == "study":
        return get_study(manifest["study"]).draw_figures(results, figures_dir)
    return draw_sweep_figures(results, figures_dir, list(manifest.get("swept", {})))


# 0.1 names of this module (it held every study's figure code): kept for one release.
from semalign.experiments._moved import moved as _moved  # noqa: E402

__getattr__ = _moved(__name__, {
    "draw_mimo_figures": "semalign.experiments.studies.mimo_figures:draw_mimo_figures",
    "draw_game_figures": "semalign.experiments.studies.game_figures:draw_game_figures",
    "draw_federated_figures": "semalign.experiments.studies.federated_figures:draw_federated_figures",
    "png_caption": "semalign.experiments.plotting:png_caption",
    "summarise": "semalign.experiments.plotting:summarise",
    "SETTING_COLUMNS": "semalign.experiments.sweep_figures:SETTING_COLUMNS",
})
