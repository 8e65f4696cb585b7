"""Compare two output folders of the same study row by row: do the results agree?

Used to check that a redesign keeps the behaviour: run a study before and after the change into
two folders, then

    python benchmarks/compare_results.py BEFORE_DIR AFTER_DIR [--study mimo|game|federated]

joins the rows of both ``results.parquet`` on the settings that identify a row (method, experiment,
seed, antennas, SNR, ... per study) and reports, per study and method, how many rows matched, the
largest accuracy difference and the largest relative MSE difference. Rows agree "to float32
rounding" when the accuracy is equal (or differs by at most one test sample in 10^5) and the MSE
differs by less than 1e-5 relative. Exit code 0 when every row of one side has a partner and agrees,
1 otherwise (the differing rows are printed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

#: Settings that identify a row of each study (present in rows written before and after 0.2.0).
KEYS = {
    "mimo": ["experiment", "method", "awareness", "pilots_per_class", "n_tx", "snr_db", "seed", "lam"],
    "game": ["experiment", "method", "seed", "draw", "pair", "channel_uses", "cross_gain_db", "pu_protection", "pu_limit_db", "schedule"],
    "federated": ["experiment", "method", "latents", "user_set", "user_group", "user", "n_tx", "channel_uses", "snr_db", "pilot_fraction", "seed"],
}
METRICS = ("accuracy", "mse")
ACCURACY_TOLERANCE = 1e-5
MSE_RELATIVE_TOLERANCE = 1e-5


def study_of(frame: pl.DataFrame) -> str:
    """The study of a results table: its ``setting`` column (0.2.0 and later) or its columns."""
    if "setting" in frame.columns:
        return {"single-link": "mimo", "federated": "federated", "game": "game"}[frame["setting"][0]]
    if "n_users" in frame.columns:
        return "federated"
    return "game" if "n_pairs" in frame.columns else "mimo"


def normalised(frame: pl.DataFrame, study: str) -> pl.DataFrame:
    """The key columns (missing ones as null, nulls made comparable) and the metrics."""
    keys = KEYS[study]
    for key in keys:
        if key not in frame.columns:
            frame = frame.with_columns(pl.lit(None).alias(key))
    if study == "game":  # the schedule identifies convergence rows only; other rows record the study's schedule or none
        frame = frame.with_columns(pl.when(pl.col("experiment") == "convergence").then(pl.col("schedule")).otherwise(None).alias("schedule"))
    if study == "mimo":  # lam is the neural model's setting only
        frame = frame.with_columns(pl.when(pl.col("method") == "neural").then(pl.col("lam")).otherwise(None).alias("lam"))
    columns = [pl.col(k).cast(pl.Utf8).fill_null("∅").alias(k) for k in keys]
    metrics = [pl.col(m).cast(pl.Float64) for m in METRICS if m in frame.columns]
    return frame.select(*columns, *metrics)


def compare(before: pl.DataFrame, after: pl.DataFrame, study: str) -> tuple[pl.DataFrame, pl.DataFrame, int, int]:
    """``(summary per method, differing rows, rows only before, rows only after)``."""
    keys = KEYS[study]
    a, b = normalised(before, study), normalised(after, study)
    duplicates = [name for name, frame in (("before", a), ("after", b)) if frame.select(keys).is_duplicated().any()]
    if duplicates:
        raise SystemExit(f"rows are not unique on {keys} in {', '.join(duplicates)}; the key needs another column")
    joined = a.join(b, on=keys, how="inner", suffix="_after")
    only_before = a.join(b, on=keys, how="anti").height
    only_after = b.join(a, on=keys, how="anti").height
    joined = joined.with_columns(
        (pl.col("accuracy_after") - pl.col("accuracy")).abs().alias("accuracy_diff"),
        ((pl.col("mse_after") - pl.col("mse")).abs() / pl.col("mse").abs().clip(lower_bound=1e-12)).alias("mse_rel_diff"),
    )
    differs = joined.filter(
        (pl.col("accuracy_diff").fill_null(0) > ACCURACY_TOLERANCE) | (pl.col("mse_rel_diff").fill_null(0) > MSE_RELATIVE_TOLERANCE)
    )
    summary = (
        joined.group_by("method")
        .agg(
            pl.len().alias("rows"),
            pl.col("accuracy_diff").max().alias("max |Δ accuracy|"),
            pl.col("mse_rel_diff").max().alias("max rel Δ mse"),
            ((pl.col("accuracy_diff").fill_null(0) > ACCURACY_TOLERANCE) | (pl.col("mse_rel_diff").fill_null(0) > MSE_RELATIVE_TOLERANCE)).sum().alias("differ"),
        )
        .sort("method")
    )
    return summary, differs, only_before, only_after


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--study", choices=sorted(KEYS), default=None, help="default: detected from the rows")
    args = parser.parse_args()
    before = pl.read_parquet(args.before / "results.parquet")
    after = pl.read_parquet(args.after / "results.parquet")
    study = args.study or study_of(after)
    summary, differs, only_before, only_after = compare(before, after, study)
    with pl.Config(tbl_rows=100, tbl_cols=20, tbl_width_chars=160):
        print(f"study {study}: {before.height} rows before, {after.height} after, {summary['rows'].sum()} matched, "
              f"{only_before} only before, {only_after} only after")  # fmt: skip
        print(summary)
        if differs.height:
            print(f"{differs.height} rows differ beyond float32 rounding:")
            print(differs)
    return 0 if not differs.height and not only_before and not only_after else 1


if __name__ == "__main__":
    sys.exit(main())
