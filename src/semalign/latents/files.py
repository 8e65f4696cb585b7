"""A user's own latents from ``.npz``, ``.safetensors`` or ``.pt`` files.

Two layouts are accepted (arrays named by key; ``tx``/``rx`` are ``(n, d)`` real, labels ``(n,)``
integer class ids >= 0):

* **split**: ``train_tx, train_rx, train_labels, test_tx, test_rx, test_labels``;
* **joint**: ``tx, rx, labels`` — split here into train/test by a seeded, stratified 80/20 split
  (per class, a ``torch.Generator`` permutation; recorded in the pair's metadata).

Optional string entries ``tx_encoder``, ``rx_encoder``, ``dataset`` and ``metadata_json`` name the
encoders and carry provenance (``.safetensors`` keeps them in its string header). ``.pt`` files are
read with ``torch.load(weights_only=True)``: only tensors and plain Python values, no code.
:func:`save_latents` writes the split layout, so ``file_latents(save_latents(pair, p))`` round-trips.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semalign._cache import atomic_open
from semalign._checks import as_real_matrix
from semalign.latents.types import LatentPair, LatentSplit

SUFFIXES = (".npz", ".safetensors", ".pt")
SPLIT_KEYS = ("train_tx", "train_rx", "train_labels", "test_tx", "test_rx", "test_labels")
JOINT_KEYS = ("tx", "rx", "labels")
NAME_KEYS = ("tx_encoder", "rx_encoder", "dataset", "metadata_json")


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(
            f"path {str(path)!r} has unsupported suffix {path.suffix!r}; expected one of {', '.join(SUFFIXES)}"
        )
    return suffix


def _read(path: Path, suffix: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Arrays (as CPU tensors) and string entries of one file."""
    arrays: dict[str, torch.Tensor] = {}
    strings: dict[str, str] = {}
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                for key in data.files:
                    value = data[key]
                    if value.dtype.kind == "U":
                        strings[key] = str(value)
                    else:
                        arrays[key] = torch.from_numpy(np.ascontiguousarray(value))
        elif suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                strings.update(handle.metadata() or {})
                arrays.update({key: handle.get_tensor(key) for key in handle.keys()})
        else:
            content = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(content, Mapping):
                raise ValueError(f"{str(path)!r} holds a {type(content).__name__}; expected a dict of named tensors")
            for key, value in content.items():
                if isinstance(value, str):
                    strings[str(key)] = value
                else:
                    arrays[str(key)] = torch.as_tensor(value)
    except ValueError:
        raise
    except Exception as err:  # noqa: BLE001 - any reader failure becomes one clear message
        raise ValueError(f"could not read latents from {str(path)!r} as {suffix}: {err}") from err
    return arrays, strings


def _labels(name: str, value: torch.Tensor) -> torch.Tensor:
    if value.ndim != 1 or value.is_complex():
        raise ValueError(
            f"{name} must be a 1-D array of integer class ids, got dtype {value.dtype} shape {tuple(value.shape)}"
        )
    if value.is_floating_point():
        if not torch.isfinite(value).all() or not torch.equal(value, value.round()):
            raise ValueError(f"{name} must hold integer class ids, got non-integer floating values")
    if value.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class ids, got booleans")
    value = value.to(torch.int64)
    if len(value) and int(value.min()) < 0:
        raise ValueError(f"{name} must hold class ids >= 0, got minimum {int(value.min())}")
    return value


def _split(arrays: dict[str, torch.Tensor], prefix: str) -> LatentSplit:
    """Validate ``{prefix}tx``, ``{prefix}rx``, ``{prefix}labels`` and build a split."""
    names = [f"{prefix}{key}" for key in JOINT_KEYS]
    tx = as_real_matrix(names[0], arrays[names[0]])
    rx = as_real_matrix(names[1], arrays[names[1]])
    labels = _labels(names[2], arrays[names[2]])
    counts = {names[0]: tx.shape[0], names[1]: rx.shape[0], names[2]: labels.shape[0]}
    if len(set(counts.values())) != 1:
        listing = ", ".join(f"{key} has {count}" for key, count in counts.items())
        raise ValueError(f"sample counts differ: {listing}; expected equal counts")
    return LatentSplit(tx, rx, labels)


def stratified_split(labels: torch.Tensor, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded stratified split: ``(train_idx, test_idx)``, each sorted ascending, int64.

    Each class with ``n_c`` samples puts ``floor(test_fraction * n_c + 0.5)`` randomly chosen ones
    in the test split (classes are visited in increasing id order with one ``torch.Generator``).
    """
    gen = torch.Generator().manual_seed(seed)
    test_parts = []
    for cls in torch.unique(labels):  # sorted
        members = torch.nonzero(labels == cls).flatten()
        n_test = math.floor(test_fraction * len(members) + 0.5)
        test_parts.append(members[torch.randperm(len(members), generator=gen)[:n_test]])
    test_mask = torch.zeros(len(labels), dtype=torch.bool)
    test_mask[torch.cat(test_parts)] = True
    return torch.nonzero(~test_mask).flatten(), torch.nonzero(test_mask).flatten()


def file_latents(path: str | os.PathLike, *, test_fraction: float = 0.2, split_seed: int = 0) -> LatentPair:
    """Read two agents' aligned latents from a user file (layouts: module docstring).

    Args:
        path: a ``.npz``, ``.safetensors`` or ``.pt`` file.
        test_fraction: test share for the joint layout's stratified split (ignored for the split layout).
        split_seed: seed of that split.

    Returns:
        :class:`LatentPair` (float32 latents, int64 labels); encoder names from the file or
        ``"{stem}-tx"``/``"{stem}-rx"``; metadata records the path, format, layout and split.
    """
    path = Path(path).expanduser()
    suffix = _suffix(path)
    if not path.is_file():
        raise ValueError(f"latent file {str(path)!r} does not exist (or is not a file)")
    test_fraction = float(test_fraction)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    arrays, strings = _read(path, suffix)

    has_split, has_joint = all(k in arrays for k in SPLIT_KEYS), all(k in arrays for k in JOINT_KEYS)
    found = ", ".join(sorted(arrays)) or "none"
    if has_split and has_joint:
        raise ValueError(
            f"{str(path)!r} holds both layouts ({', '.join(SPLIT_KEYS)} and {', '.join(JOINT_KEYS)}); keep only one"
        )
    if not (has_split or has_joint):
        raise ValueError(
            f"{str(path)!r} is missing latent arrays: found keys [{found}]; expected either "
            f"[{', '.join(SPLIT_KEYS)}] or [{', '.join(JOINT_KEYS)}]"
        )

    metadata: dict[str, Any] = {"source": "file", "path": str(path.resolve()), "format": suffix.lstrip(".")}
    if has_split:
        train, test = _split(arrays, "train_"), _split(arrays, "test_")
        metadata["layout"] = "split"
    else:
        full = _split(arrays, "")
        train_idx, test_idx = stratified_split(full.labels, test_fraction, int(split_seed))
        if len(test_idx) == 0 or len(train_idx) == 0:
            raise ValueError(
                f"{str(path)!r} has too few samples ({len(full)}) for a {test_fraction:.0%} test split; "
                "store explicit train_*/test_* arrays instead"
            )
        train, test = full.subset(train_idx), full.subset(test_idx)
        metadata["layout"] = "joint"
        metadata["split"] = {"test_fraction": test_fraction, "seed": int(split_seed), "stratified": True}
    if "metadata_json" in strings:
        try:
            metadata["stored_metadata"] = json.loads(strings["metadata_json"])
        except json.JSONDecodeError:
            metadata["stored_metadata"] = strings["metadata_json"]
    return LatentPair(
        train,
        test,
        tx_encoder=strings.get("tx_encoder", f"{path.stem}-tx"),
        rx_encoder=strings.get("rx_encoder", f"{path.stem}-rx"),
        dataset=strings.get("dataset", path.stem),
        metadata=metadata,
    )


def save_latents(pair: LatentPair, path: str | os.PathLike) -> Path:
    """Write ``pair`` in the split layout to ``path`` (``.npz``, ``.safetensors`` or ``.pt``).

    Encoder names, data set name and ``pair.metadata`` (as JSON; non-JSON values via ``str``) are
    stored too. The file is written atomically: it appears complete or not at all.

    Returns:
        the path written.
    """
    path = Path(path).expanduser()
    suffix = _suffix(path)
    tensors = {}
    for split_name, split in (("train", pair.train), ("test", pair.test)):
        for key in JOINT_KEYS:
            tensors[f"{split_name}_{key}"] = getattr(split, key).detach().to("cpu").contiguous()
    strings = {
        "tx_encoder": pair.tx_encoder,
        "rx_encoder": pair.rx_encoder,
        "dataset": pair.dataset,
        "metadata_json": json.dumps(pair.metadata, sort_keys=True, default=str),
    }
    with atomic_open(path) as handle:
        if suffix == ".npz":
            arrays = {key: value.numpy() for key, value in tensors.items()}
            np.savez(handle, **arrays, **{key: np.str_(value) for key, value in strings.items()})
        elif suffix == ".safetensors":
            from safetensors.torch import save

            handle.write(save(tensors, metadata=strings))
        else:
            torch.save({**tensors, **strings}, handle)
    return path
