"""Sweeps: many runs of one experiment, grouped into batched solver calls, executed in this process
or on a Dask cluster, streamed into a resumable Parquet store.

A sweep is a list of run configurations (frozen dataclasses, see
:mod:`semalign.experiments.overrides`). Each run has an id: a hash of the experiment name and every
field, so the same configuration always has the same id. :func:`run_sweep`

1. drops the runs whose id is already stored in ``out_dir/parts`` (a rerun resumes; nothing is
   duplicated);
2. groups the rest: runs equal in every field but the experiment's batched fields (e.g. the SNR)
   share shapes and become one batched call (``batch=False`` runs them one by one instead, to
   measure what batching buys);
3. executes the groups, in this process or as Dask tasks (``executor="dask"``: a local cluster, or
   the scheduler at ``scheduler``), writing each group's rows atomically as soon as it finishes,
   so an interruption loses nothing finished;
4. writes the sweep's rows (stored earlier or now) to ``out_dir/results.parquet``.

Rows carry ``run_id``, so a changed or extended sweep in the same folder reuses exactly the runs
it shares with earlier ones.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Sequence

import polars as pl

from semalign.experiments.store import ResultStore

EXECUTORS = ("local", "dask")
#: Most runs fitted in one call (bigger groups are split): bounds memory, and spreads work over
#: Dask workers.
MAX_BATCH = 64
#: Part of every run id: bump it when a change makes stored rows of the same settings stale (a
#: corrected estimator, a new noise draw), so a resumed sweep reruns them.
RESULTS_VERSION = 2


@dataclass(frozen=True)
class SweepExperiment:
    """What ``semalign run <name>`` runs.

    Attributes:
        name: the experiment's name on the command line and in run ids.
        config_type: frozen dataclass of one run's scalar settings.
        batched_fields: fields a group of runs may vary while being fitted as one batch.
        run_group: ``(runs, run_ids, device) -> rows`` (one row per run, each with ``run_id``);
            must be importable at module level so Dask workers can run it.
        check: ``(runs) -> None``, raising ``ValueError`` for runs that cannot work, before any runs.
        devices: the torch devices the experiment runs on.
        alone: ``run -> bool``, true for runs that must not share a call (their result would
            depend on their batch, e.g. the game's random ``async`` wake-ups).
        data_version: ``run -> str``, a fingerprint of the data a run reads (e.g. when its cached
            latents were extracted); part of the run id, so re-extracted data reruns the run.
    """

    name: str
    config_type: type
    batched_fields: tuple[str, ...]
    run_group: Callable[[list, list[str], str], list[dict]]
    check: Callable[[list], None]
    devices: tuple[str, ...] = ("cpu", "cuda")
    alone: Callable[[object], bool] = lambda run: False  # noqa: E731
    data_version: Callable[[object], str] = lambda run: ""  # noqa: E731


def _link() -> SweepExperiment:
    from semalign.experiments.link_runs import BATCHED_FIELDS, LinkRun, check_link_runs, run_link_group

    from semalign.experiments.link_runs import latents_version

    return SweepExperiment("link", LinkRun, BATCHED_FIELDS, run_link_group, check_link_runs, data_version=latents_version)


def _game() -> SweepExperiment:
    from semalign.experiments.game_runs import BATCHED_FIELDS, GameRun, check_game_runs, run_game_group

    # The games are small complex128 eigenproblems: they run on the CPU.
    return SweepExperiment("game", GameRun, BATCHED_FIELDS, run_game_group, check_game_runs, devices=("cpu",), alone=lambda run: run.schedule == "async")


def _federated() -> SweepExperiment:
    from semalign.experiments.federated_runs import BATCHED_FIELDS, FederatedRun, check_federated_runs, run_federated_group

    return SweepExperiment("federated", FederatedRun, BATCHED_FIELDS, run_federated_group, check_federated_runs, devices=("cpu",))


#: Experiments of ``semalign run``, by name (built lazily: importing them loads torch).
SWEEP_EXPERIMENTS: dict[str, Callable[[], SweepExperiment]] = {"link": _link, "game": _game, "federated": _federated}


def get_experiment(name: str) -> SweepExperiment:
    """The experiment called ``name``. Raises ``ValueError`` naming the valid ones."""
    if name not in SWEEP_EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; expected one of {', '.join(SWEEP_EXPERIMENTS)}")
    return SWEEP_EXPERIMENTS[name]()


def run_id(experiment: str, config, data_version: str = "") -> str:
    """Stable id of one run: hash of :data:`RESULTS_VERSION`, the experiment name, every field of
    its configuration, each as its declared type (``snr_db=10`` and ``10.0`` are one run), and the
    version of the data it reads (``data_version``, empty for data that cannot change)."""
    from semalign.experiments.overrides import field_types

    kinds = field_types(type(config))
    fields_ = {k: (v if v is None else kinds[k][0](v)) for k, v in asdict(config).items()}
    stamp = {"version": RESULTS_VERSION, "experiment": experiment, **({"data": data_version} if data_version else {})}
    payload = json.dumps({**stamp, **fields_}, sort_keys=True, default=str)
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


def group_runs(experiment: SweepExperiment, runs: Sequence, *, batch: bool = True, max_batch: int = MAX_BATCH) -> list[list]:
    """Partition ``runs`` into groups that one batched call can fit: equal in every field except
    ``experiment.batched_fields``, at most ``max_batch`` runs each (order of first appearance kept;
    duplicates dropped). ``batch=False`` makes every run its own group, as do runs the experiment
    marks ``alone``."""
    unique = list(dict.fromkeys(runs))
    if not batch:
        return [[run] for run in unique]
    batched = set(experiment.batched_fields)
    groups: dict[tuple, list] = {}
    for index, run in enumerate(unique):
        key = tuple(getattr(run, f.name) for f in fields(run) if f.name not in batched)
        groups.setdefault((index,) if experiment.alone(run) else key, []).append(run)
    return [group[i : i + max_batch] for group in groups.values() for i in range(0, len(group), max_batch)]


def _execute(experiment_name: str, runs: list, run_ids: list[str], device: str, threads: int | None) -> list[dict]:
    """One group, wherever it runs (a Dask worker imports this module and calls it)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    return get_experiment(experiment_name).run_group(runs, run_ids, device)


def _progress(label: str, progress: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Finished runs per second."""

        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:.2f} runs/s")

    columns = (TextColumn(f"[bold]{label}[/]"), BarColumn(), MofNCompleteColumn(), RateColumn(), TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.description}"))
    return Progress(*columns, disable=not progress, transient=False)


def run_sweep(
    experiment: SweepExperiment | str,
    runs: Sequence,
    out_dir: str | Path,
    *,
    executor: str = "local",
    scheduler: str | None = None,
    workers: int = 2,
    device: str = "cpu",
    batch: bool = True,
    threads: int | None = None,
    progress: bool = True,
    on_group_done: Callable[[list[dict]], None] | None = None,
) -> pl.DataFrame:
    """Run (or resume) a sweep into ``out_dir``; returns the sweep's rows.

    Args:
        experiment: a :class:`SweepExperiment` or its name.
        runs: the sweep's configurations (duplicates are run once).
        out_dir: output folder: ``parts/`` (one Parquet file per finished group),
            ``results.parquet`` (the sweep's rows) and ``sweep.json`` (what was asked).
        executor: ``local`` (this process) or ``dask`` (a ``LocalCluster`` of ``workers``
            processes, or the cluster at ``scheduler``, e.g. ``tcp://HOST:8786``).
        device: torch device of the solvers (on every worker).
        batch: group runs into batched calls (``False``: one call per run).
        threads: torch threads per executing process (``None``: leave as is).
        progress: show a progress bar (runs done, runs/s, time left).
        on_group_done: called with each group's rows after they are stored (tests use it to
            simulate a crash).

    Raises:
        ValueError: unknown executor, or runs the experiment rejects (before anything runs).
    """
    if isinstance(experiment, str):
        experiment = get_experiment(experiment)
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; expected one of {', '.join(EXECUTORS)}")
    if scheduler and executor != "dask":
        raise ValueError(f"a scheduler address ({scheduler!r}) needs executor='dask'")
    if not runs:
        raise ValueError("the sweep has no runs")
    for run in runs:
        if not isinstance(run, experiment.config_type):
            raise ValueError(f"runs of experiment {experiment.name!r} must be {experiment.config_type.__name__}, got {type(run).__name__}")
    if device.split(":")[0] not in experiment.devices:
        raise ValueError(f"experiment {experiment.name!r} runs on {' or '.join(experiment.devices)}, not {device!r}")
    experiment.check(list(runs))
    out_dir = Path(out_dir)
    store = ResultStore(out_dir)
    ids = {run: run_id(experiment.name, run, experiment.data_version(run)) for run in runs}
    done = store.done_runs()
    todo = [run for run in dict.fromkeys(runs) if ids[run] not in done]
    groups = group_runs(experiment, todo, batch=batch)
    _write_manifest(out_dir, experiment, runs, executor, scheduler, device, batch)

    def store_group(group: list, rows: list[dict]) -> None:
        key = hashlib.sha1("".join(ids[run] for run in group).encode()).hexdigest()[:16]
        store.write(f"{experiment.name}-{key}", rows)
        if on_group_done is not None:
            on_group_done(rows)

    started = time.perf_counter()
    with _progress(experiment.name, progress) as bar:
        job = bar.add_task(f"{len(groups)} batched calls", total=len(todo))
        if executor == "local":
            for group in groups:
                store_group(group, _execute(experiment.name, group, [ids[r] for r in group], device, threads))
                bar.advance(job, len(group))
        else:
            _run_on_dask(experiment, groups, ids, store_group, bar, job, scheduler, workers, device, threads)
    elapsed = time.perf_counter() - started
    wanted = set(ids.values())
    results = store.load_runs(wanted)
    store.consolidate_frame(results)
    _write_manifest(out_dir, experiment, runs, executor, scheduler, device, batch, elapsed=elapsed, executed=len(todo), groups=len(groups))
    return results


def _run_on_dask(experiment, groups, ids, store_group, bar, job, scheduler, workers, device, threads) -> None:
    """Submit every group to a Dask cluster and store each group's rows as it completes."""
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        with Client(scheduler or cluster) as client:
            futures = {}
            for group in groups:
                future = client.submit(_execute, experiment.name, group, [ids[r] for r in group], device, threads or 1, pure=False)
                futures[future] = group
            for future in as_completed(futures):
                group = futures[future]
                store_group(group, future.result())
                bar.advance(job, len(group))
    finally:
        if cluster is not None:
            cluster.close()


def _write_manifest(out_dir: Path, experiment: SweepExperiment, runs, executor, scheduler, device, batch, **timing) -> None:
    """``sweep.json``: the experiment, its swept and fixed settings, and how it was executed."""
    import semalign

    frame = [asdict(run) for run in runs]
    names = [f.name for f in fields(experiment.config_type)]
    swept = {n: sorted({r[n] for r in frame}, key=lambda v: (v is None, str(type(v)), v if v is not None else 0)) for n in names if len({json.dumps(r[n]) for r in frame}) > 1}
    fixed = {n: frame[0][n] for n in names if n not in swept}
    manifest = {
        "experiment": experiment.name,
        "runs": len(dict.fromkeys(runs)),
        "swept": swept,
        "fixed": fixed,
        "batched_fields": list(experiment.batched_fields),
        "executor": executor,
        "scheduler": scheduler,
        "device": device,
        "batch": batch,
        "semalign_version": semalign.__version__,
        **timing,
    }
    (out_dir / "sweep.json").write_text(json.dumps(manifest, indent=2, default=str))
