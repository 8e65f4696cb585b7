"""Studies: named grids of runs on the run engine, each with its figures and summary table.

``semalign reproduce mimo|game|federated|robustness`` runs one: the study's grid (quick, full, or a preset)
expands into runs of one run kind, :func:`run_study` hands them to the engine (resumable, batched,
local or on Dask) and draws the study's figures from the stored rows.

========== ========== ================================================================
study      run kind   what it reproduces
========== ========== ================================================================
mimo       link       single link: accuracy vs compression, SNR and FLOPs
game       game       interference game: compression, cross gain, primary users, convergence
federated  federated  federated downlink: compression, SNR, heterogeneity, pilots
robustness link       single link with imperfect CSI: CSI error, pilot SNR, Doppler
========== ========== ================================================================
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from semalign.experiments.engine import RunContext, execute_runs
from semalign.experiments.runs import get_run_kind
from semalign.experiments.store import succeeded


@dataclass(frozen=True)
class Study:
    """A named grid of runs.

    Attributes:
        name: ``mimo``, ``game`` or ``federated``.
        run_kind: the kind of its runs (``link``, ``game``, ``federated``).
        description: one line.
        quick, full: ``(**overrides) -> grid``, the quick default and the complete grid.
        runs: ``grid -> runs``.
        draw_figures: ``(rows, figures_dir) -> paths`` of the figures drawn.
        summary: ``rows -> (title, table)`` printed after a run.
    """

    name: str
    run_kind: str
    description: str
    quick: Callable[..., Any]
    full: Callable[..., Any]
    runs: Callable[[Any], list]
    draw_figures: Callable[[pl.DataFrame, Path], list[Path]]
    summary: Callable[[pl.DataFrame], tuple[str, pl.DataFrame]]


def _mimo() -> Study:
    from semalign.experiments.studies import mimo, mimo_figures

    return Study("mimo", "link", "single-link MIMO study", mimo.quick_grid, mimo.full_grid, mimo.mimo_runs, mimo_figures.draw_mimo_figures, mimo.mimo_summary)


def _game() -> Study:
    from semalign.experiments.studies import game, game_figures

    return Study("game", "game", "interference-game study", game.quick_grid, game.full_grid, game.game_runs, game_figures.draw_game_figures, game.game_summary)


def _federated() -> Study:
    from semalign.experiments.studies import federated, federated_figures

    return Study(
        "federated", "federated", "federated multi-user downlink study", federated.quick_grid, federated.full_grid,
        federated.federated_runs, federated_figures.draw_federated_figures, federated.federated_summary,
    )  # fmt: skip


def _robustness() -> Study:
    from semalign.experiments.studies import robustness, robustness_figures

    return Study(
        "robustness", "link", "single-link robustness study (imperfect and outdated CSI)", robustness.quick_grid, robustness.full_grid,
        robustness.robustness_runs, robustness_figures.draw_robustness_figures, robustness.robustness_summary,
    )  # fmt: skip


_STUDIES: dict[str, Callable[[], Study]] = {"mimo": _mimo, "game": _game, "federated": _federated, "robustness": _robustness}
#: Study names, as ``semalign reproduce`` lists them.
STUDIES = tuple(_STUDIES)


def get_study(name: str) -> Study:
    """The study called ``name``; ``ValueError`` naming the valid ones otherwise."""
    if name not in _STUDIES:
        raise ValueError(f"unknown study {name!r}; expected one of {', '.join(STUDIES)}")
    return _STUDIES[name]()


@contextlib.contextmanager
def _protocol_cluster(context: RunContext):
    """With ``protocol_executor="dask"`` and no scheduler: one local cluster for the whole study,
    shared by every protocol's actors."""
    if context.protocol_executor != "dask" or context.protocol_scheduler:
        yield context
        return
    from semalign._dask import local_cluster

    with local_cluster(2) as cluster:
        yield RunContext(context.device, "dask", cluster.scheduler_address, context.threads)


def run_study(
    study: Study | str,
    grid,
    out_dir: str | Path,
    *,
    context: RunContext = RunContext(),
    executor: str = "local",
    scheduler: str | None = None,
    workers: int = 2,
    progress: bool = True,
    figures: bool = True,
) -> pl.DataFrame:
    """Run (or resume) a study's grid into ``out_dir``; returns its rows.

    Writes ``out_dir/parts/*.parquet`` as groups of runs finish, ``out_dir/results.parquet``,
    ``out_dir/manifest.json`` and, with ``figures``, PNGs in ``out_dir/figures/``. Every run is
    checked (latents loaded, antennas and pilot budgets validated) before anything is written.
    """
    study = get_study(study) if isinstance(study, str) else study
    runs = study.runs(grid)
    with _protocol_cluster(context) as context:
        results = execute_runs(
            get_run_kind(study.run_kind), runs, out_dir, executor=executor, scheduler=scheduler, workers=workers,
            context=context, progress=progress, study=study.name, grid=asdict(grid),
        )  # fmt: skip
    if figures and results.height:
        study.draw_figures(succeeded(results), Path(out_dir) / "figures")
    return results
