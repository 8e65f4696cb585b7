"""Training throughput of the neural semantic transceiver: b configurations batched vs one by one.

The straightforward way to sweep b configurations (SNRs, channels, sparsity weights) is a Python
loop of b trainings; semalign trains them as one network with stacked weights. For each size this
script trains the same b configurations both ways, for the same epochs on the same pilots, and
prints the throughput in configuration-samples per second (b x training pilots x epochs / time)
and the ratio. No validation split (pure training time); fixed epochs (no early stopping).

Sizes: "digits" (64 -> 128 real dims, hidden 64/128 complex, N = 4, 1,000 pilots, b = 8) and
"paper" (384 -> 768, hidden 384/768 complex as published, N = 8, 4,200 pilots, b = 4).
Usage: python benchmarks/bench_neural.py [--device cuda] [--sizes digits paper] [--epochs E]
"""

from __future__ import annotations

import argparse
import time

import torch

from semalign import NeuralSemanticTransceiver, channel_for_seed
from semalign.latents import synthetic_latents

SIZES = {
    "digits": dict(d_tx=64, d_rx=128, n=1000, antennas=4, b=8),
    "paper": dict(d_tx=384, d_rx=768, n=4200, antennas=8, b=4),
}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def throughput(size: str, device: str, epochs: int) -> None:
    cfg = SIZES[size]
    pair = synthetic_latents(n_train=cfg["n"], n_test=10, d_tx=cfg["d_tx"], d_rx=cfg["d_rx"], seed=0, device=device)
    x, y = pair.train.tx, pair.train.rx
    b, n_ant = cfg["b"], cfg["antennas"]
    channels = torch.stack([channel_for_seed(seed, n_ant, n_ant, device=device) for seed in range(b)])
    snrs = torch.linspace(0.0, 30.0, b).tolist()
    common = dict(epochs=epochs, validation_fraction=0.0, device=device)
    # Warm-up (allocator, kernels) so neither timing pays for it.
    NeuralSemanticTransceiver(channels[:1], snr_db=snrs[0], **{**common, "epochs": 1}).fit(x, y)
    _sync(device)
    start = time.perf_counter()
    NeuralSemanticTransceiver(channels, snr_db=snrs, **common).fit(x, y)
    _sync(device)
    batched = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(b):
        NeuralSemanticTransceiver(channels[i], snr_db=snrs[i], **common).fit(x, y)
    _sync(device)
    looped = time.perf_counter() - start
    samples = b * cfg["n"] * epochs
    print(
        f"{size:6s} b={b} N={n_ant} {cfg['d_tx']}->{cfg['d_rx']} n={cfg['n']} epochs={epochs}: "
        f"batched {samples / batched:10.0f} samples/s ({batched:6.2f} s), "
        f"one by one {samples / looped:10.0f} samples/s ({looped:6.2f} s), ratio {looped / batched:5.2f}x",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}")
    for size in args.sizes:
        throughput(size, args.device, args.epochs)


if __name__ == "__main__":
    main()
