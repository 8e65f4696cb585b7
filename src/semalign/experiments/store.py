"""A resumable Parquet result store: one part file per finished task, merged into ``results.parquet``.

Each task's rows are written to ``parts/<key>.parquet`` through a temporary file and an atomic
rename as soon as the task finishes, so an interrupted run loses nothing finished and leaves nothing
half-written; a rerun skips every key that already has a part.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import polars as pl


class ResultStore:
    """Result rows of one output folder.

    Args:
        out_dir: the run's output folder; parts go to ``out_dir/parts``.
    """

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.out_dir = Path(out_dir)
        self.parts_dir = self.out_dir / "parts"
        self.parts_dir.mkdir(parents=True, exist_ok=True)

    def done(self) -> set[str]:
        """Keys of the tasks whose rows are stored."""
        return {p.stem for p in self.parts_dir.glob("*.parquet")}

    def write(self, key: str, rows: list[dict]) -> None:
        """Store ``rows`` of task ``key`` atomically."""
        final = self.parts_dir / f"{key}.parquet"
        tmp = final.with_suffix(".parquet.tmp")
        _write_atomically(pl.DataFrame(rows, infer_schema_length=None), tmp, final)

    def load(self, keys: set[str] | None = None) -> pl.DataFrame:
        """Stored rows of ``keys`` (all parts if ``None``), concatenated diagonally (later settings
        may add columns)."""
        parts = sorted(p for p in self.parts_dir.glob("*.parquet") if keys is None or p.stem in keys)
        if not parts:
            return pl.DataFrame()
        return pl.concat([pl.read_parquet(p) for p in parts], how="diagonal_relaxed")

    def done_runs(self) -> set[str]:
        """``run_id`` of every stored row (sweeps identify rows by run; studies' parts have none)."""
        ids: set[str] = set()
        for part in self.parts_dir.glob("*.parquet"):
            if "run_id" in pl.read_parquet_schema(part):
                ids.update(pl.read_parquet(part, columns=["run_id"])["run_id"].to_list())
        return ids

    def load_runs(self, run_ids: set[str]) -> pl.DataFrame:
        """Stored rows whose ``run_id`` is in ``run_ids``. A run may have several rows (one per
        pair or user); if two parts hold the same run (overlapping sweeps run at once), only the
        rows of the first part are kept, so no run is counted twice."""
        parts = [p for p in sorted(self.parts_dir.glob("*.parquet")) if "run_id" in pl.read_parquet_schema(p)]
        if not parts:
            return pl.DataFrame()
        frame = pl.concat([pl.read_parquet(p).with_columns(pl.lit(p.stem).alias("_part")) for p in parts], how="diagonal_relaxed")
        frame = frame.filter(pl.col("run_id").is_in(sorted(run_ids)))
        first = pl.col("_part") == pl.col("_part").min().over("run_id")
        return frame.filter(first).drop("_part")

    def consolidate(self, keys: set[str] | None = None) -> Path:
        """Write the stored rows of ``keys`` (all if ``None``) to ``out_dir/results.parquet``."""
        return self.consolidate_frame(self.load(keys))

    def consolidate_frame(self, frame: pl.DataFrame) -> Path:
        """Write ``frame`` (rows of this store) to ``out_dir/results.parquet``, sorted."""
        path = self.out_dir / "results.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        if frame.height:
            # A stable order for readers: by whichever of the usual keys the study has.
            order = [c for c in ("experiment", "method", "awareness", "pu_protection", "pilots_per_class", "n_tx", "channel_uses", "cross_gain_db", "pu_limit_db", "snr_db", "seed", "draw", "pair") if c in frame.columns]
            frame = frame.sort(order, nulls_last=True)
        _write_atomically(frame, tmp, path)
        return path


def run_tasks(store: ResultStore, tasks: Sequence, run: Callable[[object], list[dict]], *, label: str, describe: Callable[[object], str], progress: bool = True) -> pl.DataFrame:
    """Run the tasks not stored yet, writing each task's rows as soon as it finishes, with a progress
    bar (tasks done, elapsed, time left); then merge every task's rows into ``results.parquet``.

    Args:
        store: the output folder's store; tasks are identified by their ``key``.
        tasks: every task of the study (stored ones are skipped, so a rerun resumes).
        run: task -> its result rows.
        label: the bar's name; describe: task -> a short description shown beside the bar.

    Returns:
        the rows of ``tasks``.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    done = store.done()
    todo = [t for t in tasks if t.key not in done]
    columns = (TextColumn(f"[bold]{label}[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.description}"))
    with Progress(*columns, disable=not progress, transient=False) as bar:
        job = bar.add_task("", total=len(todo))
        for task in todo:
            bar.update(job, description=describe(task))
            store.write(task.key, run(task))
            bar.advance(job)
    keys = {t.key for t in tasks}
    store.consolidate(keys)
    return store.load(keys)


def _write_atomically(frame: pl.DataFrame, tmp: Path, final: Path) -> None:
    """Write ``frame`` to ``tmp`` and rename it to ``final``; on any failure remove ``tmp``."""
    try:
        frame.write_parquet(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
