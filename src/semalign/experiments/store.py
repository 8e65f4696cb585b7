"""A resumable Parquet result store: one part file per finished task, merged into ``results.parquet``.

Each task's rows are written to ``parts/<key>.parquet`` through a temporary file and an atomic
rename as soon as the task finishes, so an interrupted run loses nothing finished and leaves nothing
half-written; a rerun skips every key that already has a part.
"""

from __future__ import annotations

import os
from pathlib import Path

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

    def consolidate(self, keys: set[str] | None = None) -> Path:
        """Write the stored rows of ``keys`` (all if ``None``) to ``out_dir/results.parquet``."""
        path = self.out_dir / "results.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        frame = self.load(keys)
        if frame.height:
            # A stable order for readers: by whichever of the usual keys the study has.
            order = [c for c in ("experiment", "method", "awareness", "pu_protection", "pilots_per_class", "n_tx", "channel_uses", "cross_gain_db", "pu_limit_db", "snr_db", "seed", "draw", "pair") if c in frame.columns]
            frame = frame.sort(order, nulls_last=True)
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
