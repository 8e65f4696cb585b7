"""The 0.1 entry points of the studies and sweeps, as thin wrappers over the 0.2.0 run engine.

``run_mimo``, ``run_game``, ``run_federated`` and ``run_sweep`` keep their 0.1 signatures for one
release (their modules warn when they are imported from); new code calls
:func:`semalign.experiments.studies.run_study` and :func:`semalign.experiments.engine.execute_runs`.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from semalign.experiments.engine import RunContext, execute_runs
from semalign.experiments.runs import get_run_kind
from semalign.experiments.studies import run_study


def run_mimo(grid, out_dir: str | Path, *, device: str = "cpu", progress: bool = True, figures: bool = True) -> pl.DataFrame:
    """0.1's single-link study entry point: :func:`run_study` of ``mimo``."""
    return run_study("mimo", grid, out_dir, context=RunContext(device=device), progress=progress, figures=figures)


def run_game(grid, out_dir: str | Path, *, progress: bool = True, figures: bool = True) -> pl.DataFrame:
    """0.1's game study entry point: :func:`run_study` of ``game``."""
    return run_study("game", grid, out_dir, progress=progress, figures=figures)


def run_federated(grid, out_dir: str | Path, *, progress: bool = True, figures: bool = True, executor: str = "local", scheduler: str | None = None) -> pl.DataFrame:
    """0.1's federated study entry point: :func:`run_study` of ``federated`` (``executor``: the
    protocols' roles in process or as Dask actors)."""
    context = RunContext(protocol_executor="dask" if scheduler else executor, protocol_scheduler=scheduler)
    return run_study("federated", grid, out_dir, context=context, progress=progress, figures=figures)


def run_sweep(experiment, runs, out_dir: str | Path, *, executor: str = "local", scheduler: str | None = None, workers: int = 2, device: str = "cpu",
              batch: bool = True, threads: int | None = None, progress: bool = True, on_group_done=None) -> pl.DataFrame:  # fmt: skip
    """0.1's sweep entry point: :func:`execute_runs` of the run kind ``experiment``."""
    kind = get_run_kind(experiment) if isinstance(experiment, str) else experiment
    context = RunContext(device=device, threads=threads)
    return execute_runs(kind, runs, out_dir, executor=executor, scheduler=scheduler, workers=workers, context=context, batch=batch, progress=progress, on_group_done=on_group_done)
