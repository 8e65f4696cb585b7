"""Robust designs against the naive fits, timed in the same run.

The robust design (``csi_error > 0, robust=True``) minimises the training MSE averaged over the CSI
error in closed form: two extra small products per iteration, no loop over error draws. This script
times both single-link ADMM fits from the same Gram statistics (the pass over the pilots is shared
and excluded), at the papers' size (384 -> 768 latents, 42,000 pilots, N = 8, synthetic Gaussian
latents of that shape) and on the digits data, then the federated protocol (3 users, 30 rounds,
whole fits), and prints the ratio robust / naive (target: at most 1.5).

    python benchmarks/bench_robust.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import torch

import semalign
from semalign.transceivers.linear_admm import gram_statistics


def _best_of(fit, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fit()
        times.append(time.perf_counter() - start)
    return min(times)


def _case(name: str, x: torch.Tensor, y: torch.Tensor, n: int, repeats: int) -> None:
    channel = semalign.channel_for_seed(1, n, n)
    for processing in ("widely-linear", "strictly-linear"):
        naive = semalign.LinearSemanticTransceiver(channel=channel, snr_db=10.0, processing=processing)
        robust = semalign.LinearSemanticTransceiver(channel=channel, snr_db=10.0, processing=processing, csi_error=0.2, robust=True)
        stats = gram_statistics(x, y, naive.domain)
        t_naive = _best_of(lambda: naive.fit_statistics(stats), repeats)
        t_robust = _best_of(lambda: robust.fit_statistics(stats), repeats)
        print(f"| {name} | {processing} | {t_naive * 1e3:.1f} ms | {t_robust * 1e3:.1f} ms | {t_robust / t_naive:.2f}x |")


def _federated_case(name: str, x: torch.Tensor, ys: list[torch.Tensor], n: int, uses: int, repeats: int) -> None:
    channels = semalign.rayleigh_channel(n, n, generator=torch.Generator().manual_seed(1), batch=len(ys))
    for processing in ("strictly-linear", "widely-linear"):
        settings = dict(snr_db=10.0, channel_uses=uses, rounds=30, processing=processing)
        naive = semalign.FederatedDownlink(channels, **settings)
        robust = semalign.FederatedDownlink(channels, **settings, csi_error=0.2, robust=True)
        t_naive = _best_of(lambda: naive.fit(x, ys), repeats)
        t_robust = _best_of(lambda: robust.fit(x, ys), repeats)
        print(f"| {name} | {processing} | {t_naive * 1e3:.1f} ms | {t_robust * 1e3:.1f} ms | {t_robust / t_naive:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fits per timing (the best is reported)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| case | processing | naive fit | robust fit | robust / naive |")
    print("|---|---|---|---|---|")
    pair = semalign.load_latents("digits")
    _case("digits (64 -> 128, 1,350 pilots, N = 4)", pair.train.tx, pair.train.rx, 4, args.repeats)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(42_000, 384, generator=generator)
    y = x @ torch.randn(384, 768, generator=generator) / 20 + torch.randn(42_000, 768, generator=generator)
    _case("papers' size (384 -> 768, 42,000 pilots, N = 8)", x, y, 8, args.repeats)
    ys = [x[:8000] @ torch.randn(384, 384, generator=generator) / 20 + torch.randn(8000, 384, generator=generator) for _ in range(3)]
    _federated_case("federated (384 -> 3 x 384, 8,000 pilots, N = 4, T = 4)", x[:8000], ys, 4, 4, args.repeats)


if __name__ == "__main__":
    main()
