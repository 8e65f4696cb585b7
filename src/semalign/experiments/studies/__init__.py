"""Studies: named grids of runs on the run engine, each with its figures and summary table.

``semalign reproduce mimo|game|federated|robustness`` runs one: the study's grid (quick, full, or a preset)
expands into runs, :func:`run_study` hands them to the engine (resumable, batched, local or on
Dask), kind by kind when a study spans several, and draws the study's figures from the stored rows.

========== ==================== ==========================================================
study      run kinds            what it reproduces
========== ==================== ==========================================================
mimo       link                 single link: accuracy vs compression, SNR and FLOPs
game       game                 interference game: compression, cross gain, primary users, convergence
federated  federated            federated downlink: compression, SNR, heterogeneity, pilots
robustness link, federated,     imperfect CSI (error, pilot SNR, Doppler) and 3GPP channel
           game                 models on the single link; CSI error in the multi-user settings
========== ==================== ==========================================================
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
from semalign.experiments.manifest import read_manifest, write_manifest
from semalign.experiments.store import ResultStore, succeeded


@dataclass(frozen=True)
class Study:
    """A named grid of runs.

    Attributes:
        name: ``mimo``, ``game``, ``federated`` or ``robustness``.
        run_kind: the kind of its runs (``link``, ``game``, ``federated``); a study whose grid
            spans several kinds names them joined by ``+`` (its runs are told apart by type).
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
        "robustness", "link+federated+game", "robustness study (imperfect and outdated CSI, 3GPP channel models)", robustness.quick_grid, robustness.full_grid,
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


def _runs_by_kind(study: Study, runs: list) -> dict:
    """The study's runs split by run kind (:class:`~semalign.experiments.engine.RunKind` -> runs), in
    the order of ``study.run_kind``; ``ValueError`` for a run of a kind the study does not name."""
    kinds = [get_run_kind(name) for name in study.run_kind.split("+")]
    split: dict = {kind: [] for kind in kinds}
    for run in runs:
        kind = next((k for k in kinds if isinstance(run, k.config_type)), None)
        if kind is None:
            raise ValueError(f"study {study.name!r} runs {study.run_kind} runs, not {type(run).__name__}")
        split[kind].append(run)
    return {kind: members for kind, members in split.items() if members}


def _combined_manifest(manifests: dict[str, dict]) -> dict:
    """One manifest for the run kinds of a study (:mod:`~semalign.experiments.manifest`): what they
    share, their kinds and settings, the total of runs, and each kind's own part."""
    own = ("setting", "runs", "swept", "fixed", "timing")
    first = next(iter(manifests.values()))
    return {
        **{key: value for key, value in first.items() if key not in (*own, "run_kind")},
        "run_kind": "+".join(manifests),
        "setting": [manifest["setting"] for manifest in manifests.values()],
        "runs": sum(manifest["runs"] for manifest in manifests.values()),
        "kinds": {name: {key: manifest.get(key) for key in own} for name, manifest in manifests.items()},
    }


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
    runs_of_kind = _runs_by_kind(study, study.runs(grid))
    parts, manifests = [], {}
    with _protocol_cluster(context) as context:
        for kind, runs in runs_of_kind.items():
            parts.append(execute_runs(
                kind, runs, out_dir, executor=executor, scheduler=scheduler, workers=workers,
                context=context, progress=progress, study=study.name, grid=asdict(grid),
            ))  # fmt: skip
            manifests[kind.name] = read_manifest(out_dir)
    results = parts[0]
    if len(parts) > 1:  # every kind's rows in one table and one manifest (each call wrote only its own)
        results = pl.concat([p for p in parts if p.height], how="diagonal_relaxed")
        order = tuple(dict.fromkeys(c for kind in runs_of_kind for c in ("setting", *kind.sort_columns)))
        ResultStore(out_dir).consolidate_frame(results, order)
        write_manifest(out_dir, _combined_manifest(manifests))
    if figures and results.height:
        study.draw_figures(succeeded(results), Path(out_dir) / "figures")
    return results
