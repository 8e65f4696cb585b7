"""
A sweep that survives an interruption
=====================================

``semalign run link key=value ... -m`` sweeps single-link runs; behind it is the run engine, which
the studies use too. Every run has an id (a hash of all its settings), runs that differ only in
what their method batches (here the SNR) are fitted as one batched call, and the rows of every
finished call are written at once to ``OUT/parts/``. An interrupted sweep therefore loses nothing
finished: running it again runs only what is missing, and so does running a *larger* sweep into the
same folder.

This example drives the engine from Python: it builds a small sweep, interrupts it after the first
batched call, resumes it, extends it, and plots the results from ``results.parquet``.
"""

# %%
# Build the sweep
# ---------------
# ``parse_overrides`` reads ``key=value`` tokens exactly as the command line does (with multirun, a
# comma list is a sweep dimension; values are parsed by each setting's type), and ``expand`` takes
# the Cartesian product: 2 methods x 3 antenna counts x 3 SNRs = 18 runs, in 6 batched calls (the
# SNRs of one method and antenna count are one call). The same sweep on the command line:
# ``semalign run link method=linear-admm,eigen-k n_antennas=1,2,4 snr_db=0,10,20 seed=27
# pilots_per_class=20 -m --out OUT``.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import polars as pl

from semalign.experiments.engine import execute_runs, group_runs
from semalign.experiments.overrides import expand, parse_overrides
from semalign.experiments.runs import get_run_kind

kind = get_run_kind("link")
tokens = [
    "method=linear-admm,eigen-k",
    "n_antennas=1,2,4",
    "snr_db=0,10,20",
    "seed=27",
    "pilots_per_class=20",
]
runs = expand(kind.config_type, parse_overrides(tokens, kind.config_type, multirun=True))
print(f"{len(runs)} runs in {len(group_runs(kind, runs))} batched calls")
first = runs[0]
print(f"the first: {first.method}, N = {first.n_antennas}, {first.snr_db:g} dB, seed {first.seed}")

workdir = tempfile.TemporaryDirectory(prefix="semalign-sweep-")
out = Path(workdir.name) / "sweep"

# %%
# Interrupt it after the first batched call
# -----------------------------------------
# ``on_group_done`` is called with each call's rows after they are stored; raising there stands in
# for Ctrl-C, a crash or a lost machine.


class Interrupted(Exception):
    pass


def stop(rows):
    raise Interrupted(f"stopped after a call of {len(rows)} runs")


try:
    execute_runs(kind, runs, out, progress=False, on_group_done=stop)
except Interrupted as error:
    print(error)
parts = sorted((out / "parts").glob("*.parquet"))
stored = pl.concat([pl.read_parquet(part) for part in parts])
print(f"stored so far: {len(parts)} part file(s) with {stored.height} runs")
print("their ids:", ", ".join(sorted(stored["run_id"])))

# %%
# Resume: only the missing runs run
# ---------------------------------
# The same call again. The engine drops every run whose id is already stored, so it executes the
# remaining 15 runs; we count them as they finish.
executed = []
results = execute_runs(
    kind, runs, out, progress=False, on_group_done=lambda rows: executed.extend(rows)
)
print(f"resumed: executed {len(executed)} runs; results.parquet now holds {results.height} rows")
assert len(executed) == len(runs) - stored.height
assert not set(stored["run_id"]) & {row["run_id"] for row in executed}  # nothing ran twice

# %%
# Extend the sweep into the same folder
# -------------------------------------
# Adding N = 8 antennas (a key given twice keeps its last value, as on the command line): only the
# 6 new runs execute; the 18 stored ones are reused.
larger_tokens = [*tokens, "n_antennas=1,2,4,8"]
larger = expand(kind.config_type, parse_overrides(larger_tokens, kind.config_type, multirun=True))
executed = []
results = execute_runs(
    kind, larger, out, progress=False, on_group_done=lambda rows: executed.extend(rows)
)
print(f"extended: {len(larger)} runs, executed {len(executed)}")

# %%
# Plot from results.parquet
# -------------------------
# ``results.parquet`` holds one tidy row per run: the measured columns (accuracy, MSE, compression
# factor, FLOPs, fit time, versions, ...) and every setting of the run.
table = pl.read_parquet(out / "results.parquet")
print(
    table.select("method", "n_antennas", "snr_db", "compression_factor", "accuracy", "mse").sort(
        "method", "n_antennas", "snr_db"
    )
)

fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained", sharey=True)
for ax, method in zip(axes, ("linear-admm", "eigen-k")):
    for snr in sorted(set(table["snr_db"])):
        rows = table.filter((pl.col("method") == method) & (pl.col("snr_db") == snr)).sort(
            "n_antennas"
        )
        ax.plot(rows["n_antennas"], rows["accuracy"], marker="o", label=f"{snr:g} dB")
    ax.set(xlabel="antennas N", title=method, xticks=[1, 2, 4, 8])
    ax.legend(title="SNR")
axes[0].set_ylabel("receiver accuracy")
plt.show()

workdir.cleanup()
