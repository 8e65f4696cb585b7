"""A resumable Parquet result store: one part file per finished group of runs, merged into ``results.parquet``.

Each group's rows are written to ``parts/<key>.parquet`` through a temporary file and an atomic
rename as soon as the group finishes, so an interrupted run loses nothing finished and leaves nothing
half-written. Every row carries the ``run_id`` of its run; a rerun skips every run whose id is stored.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

#: The usual keys that order ``results.parquet`` when the run kind gives none.
DEFAULT_ORDER = ("experiment", "method", "awareness", "pu_protection", "pilots_per_class", "n_tx", "channel_uses", "cross_gain_db", "pu_limit_db", "snr_db", "seed", "draw", "pair", "user")


class ResultStore:
    """Result rows of one output folder.

    Args:
        out_dir: the run's output folder; parts go to ``out_dir/parts``.
    """

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.out_dir = Path(out_dir)
        self.parts_dir = self.out_dir / "parts"
        self.parts_dir.mkdir(parents=True, exist_ok=True)

    def _parts(self) -> list[Path]:
        return sorted(self.parts_dir.glob("*.parquet"))

    def write(self, key: str, rows: list[dict]) -> None:
        """Store ``rows`` of group ``key`` atomically."""
        final = self.parts_dir / f"{key}.parquet"
        tmp = final.with_suffix(".parquet.tmp")
        _write_atomically(pl.DataFrame(rows, infer_schema_length=None), tmp, final)

    def done_runs(self) -> set[str]:
        """``run_id`` of every stored row."""
        ids: set[str] = set()
        for part in self._parts():
            if "run_id" in pl.read_parquet_schema(part):
                ids.update(pl.read_parquet(part, columns=["run_id"])["run_id"].to_list())
        return ids

    def load_runs(self, run_ids: set[str] | None = None) -> pl.DataFrame:
        """Stored rows whose ``run_id`` is in ``run_ids`` (all if ``None``), concatenated diagonally
        (later settings may add columns). A run may have several rows (one per pair or user); if
        two parts hold the same run (overlapping runs executed at once), only the rows of the first
        part are kept, so no run is counted twice."""
        parts = [p for p in self._parts() if "run_id" in pl.read_parquet_schema(p)]
        if not parts:
            return pl.DataFrame()
        frame = pl.concat([pl.read_parquet(p).with_columns(pl.lit(p.stem).alias("_part")) for p in parts], how="diagonal_relaxed")
        if run_ids is not None:
            frame = frame.filter(pl.col("run_id").is_in(sorted(run_ids)))
        first = pl.col("_part") == pl.col("_part").min().over("run_id")
        return frame.filter(first).drop("_part")

    def consolidate_frame(self, frame: pl.DataFrame, order: tuple[str, ...] = DEFAULT_ORDER) -> Path:
        """Write ``frame`` (rows of this store) to ``out_dir/results.parquet``, sorted by the columns of
        ``order`` it has."""
        path = self.out_dir / "results.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        if frame.height:
            frame = frame.sort([c for c in order if c in frame.columns], nulls_last=True)
        _write_atomically(frame, tmp, path)
        return path


def _write_atomically(frame: pl.DataFrame, tmp: Path, final: Path) -> None:
    """Write ``frame`` to ``tmp`` and rename it to ``final``; on any failure remove ``tmp``."""
    try:
        frame.write_parquet(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
