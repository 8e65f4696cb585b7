"""The run engine: expand, group into batched calls, execute, store by run id, resume.

A *run* is one configuration of one setting (a frozen dataclass of scalar settings: a
:class:`~semalign.experiments.runs.link.LinkRun`, ``GameRun`` or ``FederatedRun``); its *run kind*
(:class:`RunKind`) says how a group of runs executes and which settings a group may vary. Sweeps
(``semalign run``) and studies (``semalign reproduce``, named grids of runs) both go through
:func:`execute_runs`, which

1. checks every run before anything runs (:attr:`RunKind.check`);
2. drops the runs whose id is already stored in ``out_dir/parts`` (a rerun resumes; nothing is
   duplicated): :func:`run_id` hashes the results version, the kind, every setting (as its declared
   type) and the version of the data the run reads;
3. groups the rest: runs equal in every setting but those their method can batch (e.g. the SNR)
   share shapes and become one batched call (:func:`group_runs`);
4. executes the groups in this process or on Dask (:mod:`semalign.experiments.executors`), writing
   each group's rows atomically as soon as it finishes, so an interruption loses nothing finished;
5. writes the runs' rows to ``out_dir/results.parquet`` and the folder's ``manifest.json``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import polars as pl

from semalign._checks import check_choice, check_positive_int
from semalign._vocabulary import EXECUTORS
from semalign.experiments.executors import run_groups
from semalign.experiments.manifest import swept_and_fixed, write_manifest
from semalign.experiments.overrides import field_types
from semalign.experiments.progress import RunProgress
from semalign.experiments.store import ClaimKeeper, ResultStore, check_output_folder

#: Most runs fitted in one call (bigger groups are split): bounds memory, and spreads work over
#: Dask workers.
MAX_BATCH = 64
#: Part of every run id: bump it when a change makes stored rows of the same settings stale (a
#: corrected estimator, a new noise draw, a new row layout), so a resumed folder reruns them.
#: 3: the 0.2.0 engine (one store for studies and sweeps; rows record ``setting``).
#: 4: baselines learn their receiver from received pilots; link rows record the mean predictor and
#: Top-K's side information.
RESULTS_VERSION = 4


@dataclass(frozen=True)
class RunContext:
    """How runs execute, without changing their results (so not part of their ids).

    Attributes:
        device: torch device of the solvers.
        protocol_executor: where multi-role protocols (the federated downlink) run their roles:
            ``"local"`` or ``"dask"`` (actors on ``protocol_scheduler``'s workers).
        protocol_scheduler: the Dask scheduler of the protocols' actors.
        threads: torch threads of the executing process (``None``: leave as is).
    """

    device: str = "cpu"
    protocol_executor: str = "local"
    protocol_scheduler: str | None = None
    threads: int | None = None


@dataclass(frozen=True)
class RunKind:
    """What ``semalign run <name>`` runs, and how the engine handles its runs.

    Attributes:
        name: the kind's name on the command line and in run ids (``link``, ``game``, ``federated``).
        setting: the library setting its rows belong to (``single-link``, ``game``, ``federated``).
        config_type: frozen dataclass of one run's scalar settings.
        run_group: ``(runs, run_ids, context) -> rows`` (each row with ``run_id``); importable at
            module level so Dask workers can run it.
        check: ``(runs) -> None``, raising ``ValueError`` for runs that cannot work, before any runs.
        batched_fields: ``run -> settings`` a group of runs may vary while fitted as one batch.
        devices: the torch devices the kind runs on.
        alone: ``run -> bool``, true for runs that must not share a call (their result would
            depend on their batch, e.g. the game's random ``async`` wake-ups).
        data_version: ``run -> str``, a fingerprint of the data a run reads (e.g. when its cached
            latents were extracted); part of the run id, so re-extracted data reruns the run.
        sort_columns: columns that order ``results.parquet``.
        cost: ``run -> float``, what a run is expected to cost relative to the kind's other runs
            (the progress display's time left is weighted by it).
    """

    name: str
    setting: str
    config_type: type
    run_group: Callable[[list, list[str], RunContext], list[dict]]
    check: Callable[[list], None]
    batched_fields: Callable[[object], tuple[str, ...]]
    devices: tuple[str, ...] = ("cpu", "cuda")
    alone: Callable[[object], bool] = lambda run: False  # noqa: E731
    data_version: Callable[[object], str] = lambda run: ""  # noqa: E731
    sort_columns: tuple[str, ...] = field(default=("experiment", "method", "seed"))
    cost: Callable[[object], float] = lambda run: 1.0  # noqa: E731


def run_id(kind: str, config, data_version: str = "") -> str:
    """Stable id of one run: hash of :data:`RESULTS_VERSION`, the kind's name, every setting of its
    configuration, each as its declared type (``snr_db=10`` and ``10.0`` are one run), and the
    version of the data it reads (``data_version``, empty for data that cannot change)."""
    kinds = field_types(type(config))
    settings = {k: (v if v is None else kinds[k][0](v)) for k, v in asdict(config).items()}
    stamp = {"version": RESULTS_VERSION, "experiment": kind, **({"data": data_version} if data_version else {})}
    payload = json.dumps({**stamp, **settings}, sort_keys=True, default=str)
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


def group_runs(kind: RunKind, runs: Sequence, *, batch: bool = True, max_batch: int = MAX_BATCH) -> list[list]:
    """Partition ``runs`` into groups that one batched call can fit: equal in every setting except
    the run's :attr:`RunKind.batched_fields`, at most ``max_batch`` runs each (order of first
    appearance kept; duplicates dropped). ``batch=False`` makes every run its own group, as do runs
    the kind marks ``alone``."""
    unique = list(dict.fromkeys(runs))
    if not batch:
        return [[run] for run in unique]
    groups: dict[tuple, list] = {}
    for index, run in enumerate(unique):
        batched = set(kind.batched_fields(run))
        key = tuple(getattr(run, f.name) for f in fields(run) if f.name not in batched)
        groups.setdefault((index,) if kind.alone(run) else key, []).append(run)
    return [group[i : i + max_batch] for group in groups.values() for i in range(0, len(group), max_batch)]


def _execute_group(run_group: Callable, runs: list, run_ids: list[str], context: RunContext) -> list[dict]:
    """One group, wherever it runs (a Dask worker unpickles ``run_group`` by its module and name)."""
    import torch

    if context.threads:
        torch.set_num_threads(context.threads)
    return run_group(runs, run_ids, context)


#: Result columns that must be finite numbers in a row that succeeded.
METRICS = ("accuracy", "mse")


def mark_failed_rows(kind: str, rows: list[dict]) -> list[dict]:
    """Set every row's ``failed`` column: ``True`` where a metric of :data:`METRICS` is NaN or
    infinite (a run that broke down numerically), with a warning naming the runs; such rows are
    stored, so the run is not repeated, but never pass for results."""
    broken = []
    for row in rows:
        bad = [m for m in METRICS if isinstance(row.get(m), float) and not math.isfinite(row[m])]
        row["failed"] = bool(bad)
        if bad:
            broken.append(f"{row.get('method', kind)} run {row.get('run_id')} ({', '.join(bad)})")
    if broken:
        warnings.warn(f"{len(broken)} {kind} result rows have non-finite metrics and are stored with failed=True: {'; '.join(sorted(set(broken)))}", RuntimeWarning, stacklevel=2)
    return rows


def _wait_for_others(store: ResultStore, groups: list[tuple[list, str]], progress: RunProgress, cost: Callable[[list], float], poll: float = 1.0) -> list[tuple[list, str]]:
    """Wait while other processes work on ``groups`` (pairs of group and key); returns the groups
    whose owner gave up without storing them (interrupted, killed: their claim is gone or stale),
    for this process to run. Groups another process stored advance the progress bar."""
    waiting = list(groups)
    while waiting:
        still = []
        for index, (group, key) in enumerate(waiting):
            if store.has_part(key):
                progress.advance(len(group), cost(group), elsewhere=True)
            elif store.claim_held(key):
                still.append((group, key))
            else:  # abandoned: back to the caller, with the rest still to check
                return still + waiting[index:]
        waiting = still
        if waiting:
            time.sleep(poll)
    return []


def execute_runs(
    kind: RunKind,
    runs: Sequence,
    out_dir: str | Path,
    *,
    executor: str = "local",
    scheduler: str | None = None,
    workers: int = 2,
    context: RunContext = RunContext(),
    batch: bool = True,
    progress: bool = True,
    study: str | None = None,
    grid: dict | None = None,
    on_group_done: Callable[[list[dict]], None] | None = None,
) -> pl.DataFrame:
    """Run (or resume) ``runs`` into ``out_dir``; returns their rows.

    Args:
        kind: the runs' :class:`RunKind`.
        runs: the configurations (duplicates are run once).
        out_dir: output folder: ``parts/`` (one Parquet file per finished group), ``results.parquet``
            (the runs' rows) and ``manifest.json``.
        executor: ``local`` (this process) or ``dask`` (a ``LocalCluster`` of ``workers``
            processes, or the cluster at ``scheduler``, e.g. ``tcp://HOST:8786``).
        context: device, threads and protocol executor of the runs (:class:`RunContext`).
        batch: group runs into batched calls (``False``: one call per run).
        progress: show progress (:class:`~semalign.experiments.progress.RunProgress`: a bar on a
            terminal, a line per batched call in a log; time left weighted by :attr:`RunKind.cost`).
        study, grid: the named grid the runs come from (recorded in the manifest); ``None`` for a sweep.
        on_group_done: called with each group's rows after they are stored (tests use it to
            simulate a crash).

    Several processes may run into one ``out_dir`` at once: each claims a group before executing
    it (:meth:`~semalign.experiments.store.ResultStore.claim`), leaves groups claimed by others to
    them and waits for their parts, and runs a group itself if its owner stops without storing it;
    every process's ``results.parquet`` then holds every run exactly once.

    Raises:
        ValueError: unknown executor, runs the kind rejects, or an output folder that cannot be
            written (before anything runs or is written).
    """
    check_choice("executor", executor, EXECUTORS)
    if scheduler and executor != "dask":
        raise ValueError(f"a scheduler address ({scheduler!r}) needs executor='dask'")
    if executor == "dask" and not scheduler:
        check_positive_int("workers", workers)
    if not runs:
        raise ValueError("there are no runs to execute")
    for run in runs:
        if not isinstance(run, kind.config_type):
            raise ValueError(f"runs of {kind.name!r} must be {kind.config_type.__name__}, got {type(run).__name__}")
    if context.device.split(":")[0] not in kind.devices:
        raise ValueError(f"experiment {kind.name!r} runs on {' or '.join(kind.devices)}, not {context.device!r}")
    out_dir = Path(out_dir)
    check_output_folder(out_dir)  # before the checks that load latents: a bad --out fails at once
    kind.check(list(runs))
    store = ResultStore(out_dir)
    ids = {run: run_id(kind.name, run, kind.data_version(run)) for run in runs}
    done = store.done_runs()
    todo = [run for run in dict.fromkeys(runs) if ids[run] not in done]
    groups = group_runs(kind, todo, batch=batch)
    swept, fixed = swept_and_fixed(list(runs), kind.config_type)
    manifest = {
        "kind": "sweep" if study is None else "study",
        "study": study,
        "run_kind": kind.name,
        "setting": kind.setting,
        "runs": len(dict.fromkeys(runs)),
        "swept": swept,
        "fixed": fixed,
        "grid": grid,
        "execution": {"executor": executor, "scheduler": scheduler, "workers": workers if executor == "dask" else None,
                      "device": context.device, "batch": batch, "protocol_executor": context.protocol_executor},
    }  # fmt: skip
    write_manifest(out_dir, manifest)

    started = time.perf_counter()
    keys = [f"{kind.name}-{hashlib.sha1(''.join(ids[run] for run in group).encode()).hexdigest()[:16]}" for group in groups]
    worker_context = context if executor == "local" else RunContext(context.device, context.protocol_executor, context.protocol_scheduler, context.threads or 1)
    cost = lambda group: sum(kind.cost(run) for run in group)  # noqa: E731
    executed: list[int] = []  # runs of each group this process executed
    with RunProgress(study or kind.name, len(todo), sum(map(cost, groups)), len(groups), enabled=progress) as shown, ClaimKeeper(store) as claims:
        key_of = {id(group): key for group, key in zip(groups, keys)}

        def store_group(group: list, rows: list[dict]) -> None:
            key = key_of[id(group)]
            store.write(key, mark_failed_rows(kind.name, rows))
            claims.release(key)
            executed.append(len(group))
            shown.advance(len(group), cost(group))
            if on_group_done is not None:
                on_group_done(rows)

        pending = list(zip(groups, keys))
        while pending:
            held_elsewhere: list[tuple[list, str]] = []

            def ours(pairs=pending, held_elsewhere=held_elsewhere):
                """The pending groups this process claims: in this process one at a time as they are
                executed (so concurrent runs on the folder share the work); on Dask all at
                submission. Groups others hold are left to their owners."""
                for group, key in pairs:
                    if store.has_part(key):
                        shown.advance(len(group), cost(group), elsewhere=True)  # finished by another run meanwhile
                    elif not claims.claim(key):
                        held_elsewhere.append((group, key))
                    elif store.has_part(key):  # finished between the check and the claim
                        claims.release(key)
                        shown.advance(len(group), cost(group), elsewhere=True)
                    else:
                        yield group

            run_groups(
                ours(), _execute_group, lambda group: (kind.run_group, group, [ids[r] for r in group], worker_context), store_group,
                executor=executor, scheduler=scheduler, workers=workers,
            )  # fmt: skip
            pending = _wait_for_others(store, held_elsewhere, shown, cost)
    elapsed = time.perf_counter() - started
    results = store.load_runs(set(ids.values()))
    store.consolidate_frame(results, kind.sort_columns)
    write_manifest(out_dir, {**manifest, "timing": {"elapsed": elapsed, "executed": sum(executed), "groups": len(executed), "stored_by_others": len(todo) - sum(executed)}})
    return results
