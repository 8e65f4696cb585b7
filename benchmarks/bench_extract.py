"""Latent extraction throughput (images/s) of timm encoders, end to end and encoder only.

The images are a CIFAR-10-format data set written here (random pixels, the real on-disk format:
``cifar-10-batches-py`` pickles), so it runs offline; the encoders have random weights
(``pretrained=False``): throughput does not depend on the weights' values.

* end to end: ``semalign.latents.extract_latents`` (torchvision data set, timm's own eval
  transform to 224 x 224 in DataLoader workers, the encoder under autocast on CUDA, chunked safetensors
  cache writes);
* encoder only: the same model on a ready ``(batch, 3, 224, 224)`` tensor already on the device,
  i.e. the ceiling the data pipeline is measured against.

    python benchmarks/bench_extract.py --device cuda --images 10000 --batch-size 256 --workers 12
    python benchmarks/bench_extract.py --device cpu --images 256 --batch-size 64
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def write_cifar10(root: Path, n_train: int, n_test: int, seed: int = 0) -> None:
    """A CIFAR-10-format folder: five train batches, one test batch, the label names."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per_batch = [len(part) for part in np.array_split(np.arange(n_train), 5)]
    for index, count in enumerate(per_batch, start=1):
        batch = {"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8), "labels": rng.integers(0, 10, count).tolist()}
        (folder / f"data_batch_{index}").write_bytes(pickle.dumps(batch, protocol=2))
    test = {"data": rng.integers(0, 256, (n_test, 3072), dtype=np.uint8), "labels": rng.integers(0, 10, n_test).tolist()}
    (folder / "test_batch").write_bytes(pickle.dumps(test, protocol=2))
    names = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}
    (folder / "batches.meta").write_bytes(pickle.dumps(names, protocol=2))


def encoder_only(model_name: str, device: str, batch_size: int, batches: int, amp: bool) -> float:
    """Images/s of the encoder alone on a ready batch on ``device``."""
    import timm

    model = timm.create_model(model_name, pretrained=False, num_classes=0).eval().to(device)
    x = torch.randn(batch_size, 3, 224, 224, device=device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if amp else torch.autocast("cpu", enabled=False)
    with torch.inference_mode(), autocast:
        model(x)  # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(batches):
            model(x)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return batches * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", default="vit_small_patch16_224,vit_base_patch16_224")
    parser.add_argument("--images", type=int, default=512, help="training images encoded end to end")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import torchvision

    from semalign.latents.extract import extract_latents

    # The files are not the official ones, so their md5 sums differ: torchvision's check becomes
    # "the file exists" (it runs in CIFAR10._check_integrity and when reading batches.meta).
    import os

    import torchvision.datasets.cifar as cifar

    cifar.check_integrity = lambda fpath, md5=None: os.path.isfile(fpath)
    cuda = args.device.startswith("cuda")
    print(f"device {args.device}" + (f" ({torch.cuda.get_device_name()})" if cuda else "") + f", torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {args.workers} loader workers, batch {args.batch_size}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        write_cifar10(root, args.images, 10)
        # One-time costs (CUDA context, kernel selection, worker start-up) out of the timings.
        warm = Path(tmp) / "warm-data"
        write_cifar10(warm, min(args.images, 2 * args.batch_size), 10)
        for name in args.models.split(","):
            extract_latents("cifar10", name, splits="train", root=warm, cache_dir=Path(tmp) / "warm-cache", device=args.device,
                            batch_size=args.batch_size, pretrained=False, num_workers=args.workers, val_fraction=0.0, progress=False)  # fmt: skip
        for name in args.models.split(","):
            cache = Path(tmp) / f"cache-{name}"
            start = time.perf_counter()
            extract_latents("cifar10", name, splits="train", root=root, cache_dir=cache, device=args.device, batch_size=args.batch_size,
                            pretrained=False, num_workers=args.workers, val_fraction=0.0, progress=False)  # fmt: skip
            end_to_end = args.images / (time.perf_counter() - start)
            ceiling = encoder_only(name, args.device, args.batch_size, batches=max(3, min(20, args.images // args.batch_size)), amp=cuda)
            print(f"{name:28s} end to end {end_to_end:9.1f} images/s   encoder only {ceiling:9.1f} images/s" + ("   (bf16 autocast)" if cuda else "   (float32)"))


if __name__ == "__main__":
    main()
