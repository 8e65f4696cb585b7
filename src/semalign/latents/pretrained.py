"""Two cached encoders' latents of the same images as a :class:`LatentPair` (``load_latents("timm")``).

The cache is written by :func:`semalign.latents.extract.extract_latents` (timm models) or
:func:`semalign.latents.extract.encode_dataset` (your own encoders), e.g. with
``semalign latents extract --dataset cifar10 --model vit_small_patch16_224 --model vit_base_patch16_224``.
Reading needs neither timm, torchvision, the data set nor the network.
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch

from semalign.latents.cache import PAPER_RX, PAPER_TX, LatentsUnavailable, _missing_message, cached_metadata, dataset_key, latents_path, read_cached_latents
from semalign.latents.types import LatentPair, LatentSplit

#: Provenance keys copied from each file's metadata into ``LatentPair.metadata``.
_PROVENANCE = (
    "model", "encoder", "pretrained", "weights", "weights_file", "weights_sha256", "init_seed", "preprocessing",
    "dataset_class", "val_fraction", "split_seed", "device", "amp_dtype", "batch_size", "created",
    "torch_version", "timm_version", "torchvision_version", "semalign_version", "dim",
)  # fmt: skip


def _provenance(metadata: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _PROVENANCE:
        if key in metadata:
            value = metadata[key]
            if key == "preprocessing":
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    pass
            out[key] = value
    return out


def _check_aligned(split: str, tx_name: str, tx: dict, rx_name: str, rx: dict) -> None:
    """Both encoders must have seen the same images in the same order with the same labels."""
    if len(tx["indices"]) != len(rx["indices"]):
        raise ValueError(
            f"the {split} caches of {tx_name!r} ({len(tx['indices'])} samples) and {rx_name!r} "
            f"({len(rx['indices'])} samples) hold different sample counts; re-extract both with the same "
            "val_fraction/split_seed (--overwrite)"
        )
    for key in ("indices", "labels"):
        differ = torch.nonzero(tx[key] != rx[key]).flatten()
        if len(differ):
            i = int(differ[0])
            raise ValueError(
                f"the {split} caches of {tx_name!r} and {rx_name!r} do not describe the same samples: "
                f"{key} differ at {len(differ)} position(s), first at row {i} ({int(tx[key][i])} vs {int(rx[key][i])}); "
                "re-extract both with the same data set and val_fraction/split_seed (--overwrite)"
            )


def timm_latents(
    dataset: str = "cifar10",
    tx: str = PAPER_TX,
    rx: str = PAPER_RX,
    *,
    cache_dir: str | os.PathLike | None = None,
    test_split: str = "test",
) -> LatentPair:
    """Load two extracted encoders' latents of ``dataset`` as a :class:`LatentPair`.

    Args:
        dataset: data set name used at extraction (``"cifar10"``; case and punctuation ignored).
        tx: transmitter encoder (timm model name, or the name given to ``encode_dataset``);
            default the papers' ``vit_small_patch16_224`` (384-dim).
        rx: receiver encoder; default ``vit_base_patch16_224`` (768-dim).
        cache_dir: semalign cache root (default ``$SEMALIGN_CACHE`` or ``~/.cache/semalign``).
        test_split: ``"test"`` (the data set's test split, default) or ``"val"`` (the seeded
            hold-out of the training split, e.g. for tuning without touching the test set).

    Returns:
        ``LatentPair`` with ``train`` = the training split without the val hold-out and ``test``
        = ``test_split``; latents float32 ``(n, d_tx)``/``(n, d_rx)``, labels int64. ``dataset``,
        ``tx_encoder``, ``rx_encoder`` name the sources; ``metadata`` holds the provenance of both
        encoders (weights, preprocessing, versions...), the split settings, the sample counts
        (including the val split's, if cached) and the cache paths.

    Raises:
        LatentsUnavailable: a cache file is missing (the message gives the extraction command).
        ValueError: the two encoders' caches do not hold the same samples in the same order.
    """
    if test_split not in ("test", "val"):
        raise ValueError(f"test_split must be 'test' or 'val', got {test_split!r}")
    key = dataset_key(dataset)
    models = [tx, rx]
    splits = ["train", test_split]
    missing = [(m, s) for m in models for s in splits if not latents_path(key, m, s, cache_dir).is_file()]
    if missing:
        raise LatentsUnavailable(_missing_message(key, models, splits, cache_dir))

    data = {(m, s): read_cached_latents(key, m, s, cache_dir) for m in dict.fromkeys(models) for s in splits}
    result = {}
    for split in splits:
        (tx_t, tx_meta), (rx_t, rx_meta) = data[(tx, split)], data[(rx, split)]
        _check_aligned(split, tx, tx_t, rx, rx_t)
        result[split] = LatentSplit(tx_t["latents"], rx_t["latents"], tx_t["labels"])

    tx_meta, rx_meta = data[(tx, "train")][1], data[(rx, "train")][1]
    # Only the size of the held-out split is recorded: its metadata, not its tensors.
    val_counts = {m: int(meta["n"]) for m in dict.fromkeys(models) if "n" in (meta := cached_metadata(key, m, "val", cache_dir))}
    metadata = {
        "source": "timm",
        "dataset": key,
        "test_split": test_split,
        "val": {
            "fraction": float(tx_meta.get("val_fraction", "nan")),
            "seed": int(tx_meta.get("split_seed", -1)),
            "n": val_counts.get(tx),
            "use": "test" if test_split == "val" else "held out (not in train)",
        },
        "n_train": len(result["train"]),
        "n_test": len(result[test_split]),
        "tx": _provenance(tx_meta),
        "rx": _provenance(rx_meta),
        "paths": {
            f"{role}_{split}": str(latents_path(key, model, split, cache_dir))
            for role, model in (("tx", tx), ("rx", rx))
            for split in splits
        },
    }
    return LatentPair(result["train"], result[test_split], tx_encoder=tx, rx_encoder=rx, dataset=key, metadata=metadata)
