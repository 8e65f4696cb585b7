"""The paper's full single-link grid as one sweep, end to end: batched vs one run per call.

The grid is the study's ``full_grid()`` written as :class:`~semalign.experiments.runs.link.LinkRun`
sweeps (every method, aware and unaware, six seeds; runs shared by two parts are run once):

* compression: N = 1, 2, 4, ... , ceil(d_tx/2) x pilots 100, 50, 20, 10 per class, at 20 dB;
* snr: SNR -20 ... 30 dB at N = 4, 100 pilots per class;
* flops: linear ADMM and neural (sparsity weights 0 ... 3e-3), aware, N = 2 and 4.

``--mode batched`` runs it as ``semalign run`` does (runs that differ only in SNR or lam fitted as
one batched call); ``--mode single`` fits one run per call; ``both`` runs both and prints the
speed-up. Each mode starts from an empty output folder (no resume) after the latents and the
encoders are cached, so the time is fits + evaluations + writing the rows.

    python benchmarks/bench_sweep.py --device cpu --threads 2 --mode both
    python benchmarks/bench_sweep.py --device cuda --mode both --parts snr,flops
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import torch

from semalign.experiments.engine import RunContext, execute_runs, group_runs
from semalign.experiments.runs import get_run_kind
from semalign.experiments.runs.link import LinkRun
from semalign.experiments.studies.mimo import FLOPS_METHODS, METHODS, full_grid
from semalign.latents import load_latents


def run_sweep(runs: list[LinkRun], out: str, *, device: str, batch: bool = True):
    return execute_runs(get_run_kind("link"), runs, out, context=RunContext(device=device), batch=batch, progress=False)


def paper_grid(parts: list[str], seeds: tuple[int, ...], latents: str = "digits") -> list[LinkRun]:
    """Every run of the full single-link study (``parts`` of compression, snr, flops)."""
    grid = full_grid()
    d_tx = load_latents(latents).d_tx
    base = LinkRun(latents=latents)
    runs = [replace(base, method="clean", seed=s) for s in seeds]
    for seed in seeds:
        for method in METHODS:
            for awareness in grid.awareness:
                common = replace(base, method=method, awareness=awareness, seed=seed)
                if "compression" in parts:
                    for pilots in grid.compression_pilots:
                        for n in grid.antennas_for(d_tx):
                            runs.append(replace(common, pilots_per_class=pilots, n_antennas=n, snr_db=grid.compression_snr_db))
                if "snr" in parts:
                    for snr in grid.snr_values:
                        runs.append(replace(common, pilots_per_class=grid.snr_pilots, n_antennas=grid.snr_antennas, snr_db=snr))
        if "flops" in parts:
            for method in FLOPS_METHODS:
                for n in grid.flops_antennas:
                    lams = grid.flops_lams if method == "neural" else (0.0,)
                    for lam in lams:
                        runs.append(replace(base, method=method, awareness="aware", seed=seed, pilots_per_class=grid.flops_pilots, n_antennas=n, snr_db=grid.compression_snr_db, lam=lam))
    return runs


def time_sweep(runs: list[LinkRun], *, batch: bool, device: str) -> tuple[float, int]:
    """Seconds to run the sweep into a fresh folder, and the number of solver calls."""
    calls = len(group_runs(get_run_kind("link"), runs, batch=batch))
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        rows = run_sweep(runs, out, device=device, batch=batch)
        seconds = time.perf_counter() - start
    assert rows.height == len(set(runs))
    return seconds, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--mode", choices=("batched", "single", "both"), default="both")
    parser.add_argument("--parts", default="compression,snr,flops")
    parser.add_argument("--seeds", default="27,42,100,123,144,200")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    parts = args.parts.split(",")
    seeds = tuple(int(s) for s in args.seeds.split(","))
    runs = paper_grid(parts, seeds)
    # Warm the caches (encoders, latents) and the device before timing.
    run_sweep(runs[:1], tempfile.mkdtemp(), device=args.device)
    methods = {m: sum(r.method == m for r in runs) for m in (*METHODS, "clean")}
    print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads; parts {parts}; {len(seeds)} seeds")
    print(f"{len(runs)} runs: " + ", ".join(f"{m} {k}" for m, k in methods.items()))
    timings = {}
    for mode in ("batched", "single") if args.mode == "both" else (args.mode,):
        seconds, calls = time_sweep(runs, batch=mode == "batched", device=args.device)
        timings[mode] = seconds
        print(f"{mode:8s}: {seconds:8.1f} s, {calls:5d} solver calls, {len(runs) / seconds:7.2f} runs/s")
    if len(timings) == 2:
        print(f"speed-up of batched over one run per call: {timings['single'] / timings['batched']:.2f}x")


if __name__ == "__main__":
    main()
