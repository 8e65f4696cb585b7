"""Speed of the linear ADMM fit at the papers' size, against the straightforward implementation.

Times, in one run on the same data:
  1. the published ADMM design as implemented in benchmarks/bench_published.py (full pilot
     products every iteration, SciPy Sylvester solver), once with every published defect fixed (the
     like-for-like speed peer, "reference (published-style)") and once as coded (its test MSE) —
     one fit each;
  2. semalign's LinearSemanticTransceiver, strictly linear (the same algorithm class) and widely
     linear (the default) — the median of three fits, each on fresh copies of the data;
and prints the speed-up ratios and every test MSE (same channel, same noise level, same test set).
Then times the whole compression grid at paper size: 9 antenna settings x 6 seeds x 3 pilot budgets
on synthetic 384 -> 768 latents, including evaluation on the test set.

Size: n = 42,000 pilots, 384 -> 768 real dims, N = 8, 20 iterations, per-antenna SNR convention,
20 dB. Usage: python benchmarks/bench_linear_admm.py [--skip-reference] [--skip-grid] [--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch

from semalign import LinearSemanticTransceiver, channel_for_seed, select_pilots
from semalign.latents import synthetic_latents
from semalign.tasks import mse
from semalign.transceivers.linear_admm import gram_statistics

from bench_published import LINK_FIXES, published_admm, published_link_transmit, unit_noise

SNR_DB, N, ITERATIONS = 20.0, 8, 20


def test_mse(y_hat, y) -> float:
    return mse(torch.as_tensor(y_hat), y)


def time_fit(make, x, y, repeats=3):
    times, model = [], None
    for k in range(repeats):
        xk, yk = x.clone(), y.clone()  # fresh tensors: nothing can be cached on the input
        start = time.perf_counter()
        model = make().fit(xk, yk)
        if x.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), model


def single_fit(pair, device, skip_reference):
    x, y = pair.train.tx[:42_000].to(device), pair.train.rx[:42_000].to(device)
    h = channel_for_seed(0, N, N, device=device)
    gen = lambda: torch.Generator(device=device).manual_seed(1)  # noqa: E731
    results = {}
    for processing in ("strictly-linear", "widely-linear"):
        make = lambda: LinearSemanticTransceiver(h, snr_db=SNR_DB, iterations=ITERATIONS, snr_convention="per-antenna", processing=processing, device=device)  # noqa: E731
        seconds, model = time_fit(make, x, y)
        results[processing] = (seconds, test_mse(model.transmit(pair.test.tx.to(device), generator=gen()).cpu(), pair.test.rx))
        print(f"semalign {processing:16s}: fit {seconds:7.3f} s (median of 3), test MSE {results[processing][1]:.5f}", flush=True)
    if not skip_reference:
        xc, yc, hc, test_x = x.cpu(), y.cpu(), h.cpu(), pair.test.tx
        noise = unit_noise(torch.Generator().manual_seed(1), test_x.shape[0], N)
        reference = {}
        for label, fixes in (("reference (published-style)", LINK_FIXES), ("published (as coded)", ())):
            start = time.perf_counter()
            model = published_admm(xc, yc, hc, SNR_DB, iterations=ITERATIONS, fixes=fixes)
            reference[label] = (time.perf_counter() - start, test_mse(published_link_transmit(model, test_x, noise), pair.test.rx))
            print(f"{label:30s}: fit {reference[label][0]:7.3f} s (one fit),      test MSE {reference[label][1]:.5f}", flush=True)
        ref_seconds, ref_mse = reference["reference (published-style)"]
        for processing, (seconds, mse) in results.items():
            print(f"speed-up {processing:16s}: {ref_seconds / seconds:6.1f}x   test MSE {mse:.5f} vs reference {ref_mse:.5f}")


def compression_grid(pair, device):
    """9 antenna settings x 6 seeds x 3 pilot budgets, fit and test evaluation."""
    antennas = (1, 2, 4, 8, 12, 24, 48, 96, 192)
    seeds = (27, 42, 100, 123, 144, 200)
    budgets = (4200, 420, 42)
    test_x = pair.test.tx.to(device)
    start = time.perf_counter()
    fits = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 42 pilots per class < 384 dims: shrunk whitening
        for seed in seeds:
            for budget in budgets:
                idx = select_pilots(pair.train, budget, seed=seed)
                stats = gram_statistics(pair.train.tx[idx].to(device), pair.train.rx[idx].to(device), "real")
                for n in antennas:
                    h = channel_for_seed(seed, n, n, device=device)
                    model = LinearSemanticTransceiver(h, snr_db=SNR_DB, iterations=ITERATIONS, snr_convention="per-antenna", device=device, seed=seed)
                    model.fit_statistics(stats)
                    test_mse(model.transmit(test_x, generator=torch.Generator(device=device).manual_seed(seed)).cpu(), pair.test.rx)
                    fits += 1
    seconds = time.perf_counter() - start
    print(f"compression grid at paper size: {fits} fits + test evaluations in {seconds:.1f} s ({fits / seconds:.1f} fits/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}")
    start = time.perf_counter()
    pair = synthetic_latents(n_train=42_000, n_test=10_000, d_tx=384, d_rx=768, seed=0)
    print(f"synthetic latents 384 -> 768, 42,000 + 10,000 samples: {time.perf_counter() - start:.1f} s")
    single_fit(pair, args.device, args.skip_reference)
    if not args.skip_grid:
        compression_grid(pair, args.device)


if __name__ == "__main__":
    main()
