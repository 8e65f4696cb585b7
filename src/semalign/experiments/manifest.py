"""One manifest per output folder: ``manifest.json`` says what the folder holds and how it was run.

Every folder the run engine writes (a study of ``semalign reproduce`` or a sweep of ``semalign run``)
has the same manifest::

    {
      "format": 1,
      "kind": "study" | "sweep",
      "study": "mimo" | "game" | "federated" | null,   # the named grid, for a study
      "run_kind": "link" | "game" | "federated",       # what one run is
      "setting": "single-link" | "game" | "federated",
      "runs": 350, "swept": {...}, "fixed": {...},      # the runs' settings: values per swept key
      "grid": {...},                                   # the study's grid (a study; null for a sweep)
      "execution": {"executor": ..., "scheduler": ..., "workers": ..., "device": ..., "batch": ...,
                    "protocol_executor": ...},
      "timing": {"elapsed": ..., "executed": ..., "groups": ..., "stored_by_others": ...},
                                                       # runs and calls this process executed; runs
                                                       # that concurrent processes stored
      "semalign_version": "0.2.0"
    }

A study that spans several run kinds (``robustness``) names them joined by ``+`` in ``run_kind``,
lists their ``setting`` values, counts every kind's ``runs``, and keeps each kind's ``setting``,
``runs``, ``swept``, ``fixed`` and ``timing`` under ``"kinds": {"link": {...}, ...}``.

Figures, reports and ``semalign figures`` read it to know which study drew the rows; nothing guesses
a study from column names.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from semalign._cache import atomic_open
from semalign._version import __version__

FORMAT = 1
FILENAME = "manifest.json"


def swept_and_fixed(runs: list, config_type: type) -> tuple[dict[str, list], dict[str, Any]]:
    """``(swept, fixed)``: the settings that take several values across ``runs`` (sorted values) and
    the ones that take one."""
    frame = [asdict(run) for run in runs]
    names = [f.name for f in fields(config_type)]
    swept = {
        n: sorted({r[n] for r in frame}, key=lambda v: (v is None, str(type(v)), v if v is not None else 0))
        for n in names
        if len({json.dumps(r[n], default=str) for r in frame}) > 1
    }
    fixed = {n: frame[0][n] for n in names if n not in swept}
    return swept, fixed


def write_manifest(out_dir: str | os.PathLike, manifest: dict) -> Path:
    """Write ``manifest`` (completed with the format and version) to ``out_dir/manifest.json`` atomically."""
    path = Path(out_dir) / FILENAME
    content = {"format": FORMAT, **manifest, "semalign_version": __version__}
    with atomic_open(path) as handle:
        handle.write(json.dumps(content, indent=2, default=str).encode())
    return path


def read_manifest(out_dir: str | os.PathLike) -> dict:
    """The manifest of ``out_dir``.

    Raises:
        FileNotFoundError: the folder has no manifest (not written by the run engine of semalign
            0.2 or later); the message says how to get one.
        ValueError: the manifest is not valid JSON or of another format.
    """
    path = Path(out_dir) / FILENAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: {out_dir} was not written by `semalign reproduce` or `semalign run` "
            "(semalign 0.2 or later); rerun the study or sweep into it"
        )
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); rerun the study or sweep to rewrite it") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{path} is not a semalign manifest of format {FORMAT}")
    return manifest
