"""Image data sets to extract latents from: torchvision data sets by name, and their splits.

Data sets: any torchvision classification data set by name (case and punctuation ignored:
``"cifar10"``, ``"CIFAR-10"``), whether its constructor takes ``train=bool`` or ``split="train"``;
or, for :func:`~semalign.latents.extract.encode_dataset`, your own
``{"train": Dataset, "test": Dataset}`` returning ``(image, int label)``.

Splits: ``test`` is the data set's test split. ``val`` is a fixed, seeded subset of the training
split (default 15 %, seed 42 — the published split's size and seed; the permutation is our own
``torch.randperm`` with a seeded ``torch.Generator``, so the indices differ from the published
Python ``random.shuffle``) and ``train`` is the rest. Each file stores the indices into the
torchvision data set, ascending, so the split is explicit and checkable.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import math
import socket
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from semalign.latents.cache import SPLITS, LatentsUnavailable, _check_split, dataset_key

__all__ = ["SPLITS", "dataset_class", "split_indices"]

_VISION_HINT = (
    "install the vision extra (timm and torchvision) from the semalign checkout, with the torchvision "
    'release that matches your torch: pip install torch==2.14.1 torchvision==0.29.1 -e ".[vision]"'
)


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------


def _parse_splits(splits: str | Sequence[str] | None, val_fraction: float) -> tuple[str, ...]:
    if splits is None:
        return SPLITS if val_fraction > 0 else ("train", "test")
    items = [s.strip() for s in splits.split(",")] if isinstance(splits, str) else [str(s).strip() for s in splits]
    items = [s for s in items if s]
    if not items:
        raise ValueError(f"splits must name at least one of {', '.join(map(repr, SPLITS))}, got {splits!r}")
    for split in items:
        _check_split(split)
    if "val" in items and val_fraction == 0:
        raise ValueError("splits includes 'val' but val_fraction is 0; give val_fraction > 0 or drop 'val'")
    return tuple(dict.fromkeys(s for s in SPLITS if s in items))


def _check_val_fraction(val_fraction: float) -> float:
    val_fraction = float(val_fraction)
    if not (0.0 <= val_fraction < 1.0) or math.isnan(val_fraction):
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    return val_fraction


# --------------------------------------------------------------------------------------------
# Split indices
# --------------------------------------------------------------------------------------------


def split_indices(n_train: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded train/val split of a training set of ``n_train`` samples.

    ``n_val = floor(val_fraction * n_train + 0.5)`` samples, the last ``n_val`` entries of
    ``torch.randperm(n_train)`` drawn from a ``torch.Generator`` seeded with ``seed``, form the
    validation split; the rest form the training split. Both are returned sorted ascending (int64),
    so files store the samples in data set order.
    """
    n_val = math.floor(val_fraction * n_train + 0.5)
    if val_fraction > 0 and not 1 <= n_val < n_train:
        raise ValueError(
            f"val_fraction={val_fraction} of {n_train} training samples leaves {n_val} for val and "
            f"{n_train - n_val} for train; expected at least one in each"
        )
    perm = torch.randperm(n_train, generator=torch.Generator().manual_seed(int(seed)))
    train, val = perm[: n_train - n_val], perm[n_train - n_val :]
    return torch.sort(train).values, torch.sort(val).values


# --------------------------------------------------------------------------------------------
# Data sets
# --------------------------------------------------------------------------------------------


def vision_module(name: str, purpose: str):
    """Import ``name`` from the vision extra (timm, torchvision), or raise :class:`LatentsUnavailable`
    saying it is needed for ``purpose`` and how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise LatentsUnavailable(f"{name.split('.')[0]} is needed {purpose} ({err}); {_VISION_HINT}.") from None


def _torchvision():
    return vision_module("torchvision.datasets", "to read image data sets")


def dataset_class(name: str) -> type:
    """The ``torchvision.datasets`` class called ``name`` (case and punctuation ignored)."""
    tvd = _torchvision()
    classes = {}
    for attr in getattr(tvd, "__all__", dir(tvd)):
        obj = getattr(tvd, attr, None)
        if isinstance(obj, type) and issubclass(obj, torch.utils.data.Dataset):
            classes[dataset_key(attr)] = obj
    key = dataset_key(name)
    if key not in classes:
        known = ", ".join(sorted(c.__name__ for c in classes.values())[:60])
        raise ValueError(f"unknown dataset {name!r}: no torchvision.datasets class of that name; expected one of {known}")
    return classes[key]


def _open_torchvision(cls: type, root: Path, source_split: str, download: bool):
    """Instantiate ``cls`` for ``source_split`` ('train' or 'test'), whichever argument style it has."""
    params = inspect.signature(cls.__init__).parameters
    kwargs: dict[str, Any] = {}
    if "download" in params:
        kwargs["download"] = download
    if "train" in params:
        return cls(str(root), train=source_split == "train", **kwargs)
    if "split" in params:
        names = ("train",) if source_split == "train" else ("test", "val")
        for i, split_name in enumerate(names):
            try:
                return cls(str(root), split=split_name, **kwargs)
            except ValueError:  # torchvision's verify_str_arg: this data set has no such split name
                if i == len(names) - 1:
                    raise
    raise ValueError(
        f"torchvision.datasets.{cls.__name__} takes neither train= nor split=, so it has no train/test splits "
        "to extract; pass your own data sets to encode_dataset(..., dataset={'train': ..., 'test': ...})"
    )


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    """Give sockets opened without an explicit timeout (urllib downloads) a deadline, then restore."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _dataset_help(cls: type, root: Path) -> str:
    name = cls.__name__
    sentences = [f"Download the {name} data set on a machine with network"]
    url = getattr(cls, "url", None)
    folder = getattr(cls, "base_folder", None)
    if isinstance(url, str) and url.startswith("http"):
        sentences[0] += f" ({url}"
        if url.endswith((".tar.gz", ".tgz", ".zip", ".tar")) and isinstance(folder, str):
            sentences[0] += f", extracted so that DIR/{folder}/ exists"
        sentences[0] += ")"
    sentences[0] += f", e.g. with torchvision.datasets.{name}(DIR, download=True)"
    return f"{sentences[0]}, then pass --root DIR (root=DIR in Python) or put the files in {root}."


def _open_dataset(
    name: str, root: Path, source_splits: Iterable[str], *, fetch: bool, why_not: str, timeout: float
) -> tuple[dict[str, Any], list[str]]:
    """Open the needed torchvision splits, downloading missing ones if ``fetch``.

    Returns ``(datasets, problems)``: ``problems`` is empty or holds one readable paragraph
    (``why_not`` says why nothing was downloaded when ``fetch`` is False).
    """
    cls = dataset_class(name)
    opened: dict[str, Any] = {}
    missing: list[str] = []
    for source_split in source_splits:
        try:
            opened[source_split] = _open_torchvision(cls, root, source_split, download=False)
        except (RuntimeError, OSError):  # torchvision: "Dataset not found or corrupted"
            missing.append(source_split)
    if not missing:
        return opened, []
    why = why_not
    if fetch:
        reasons = []
        for source_split in list(missing):
            try:
                with _socket_timeout(timeout):
                    opened[source_split] = _open_torchvision(cls, root, source_split, download=True)
                missing.remove(source_split)
            except ValueError:
                raise
            except Exception as err:  # noqa: BLE001 - any download failure becomes one readable sentence
                reasons.append(f"{type(err).__name__}: {str(err).strip()}".rstrip(": "))
                break  # the splits usually share one archive: do not wait for the same failure twice
        if not missing:
            return opened, []
        why = f"could not be downloaded ({'; '.join(dict.fromkeys(reasons))})"
    which = " and ".join(f"{s} split" for s in missing)
    return opened, [
        f"The {name} data set ({which}; torchvision.datasets.{cls.__name__}) is not in {root} and {why}. "
        + _dataset_help(cls, root)
    ]


class _Prepared(torch.utils.data.Dataset):
    """``(transform(rgb image), int label)`` for each sample of ``base`` (picklable for workers)."""

    def __init__(self, base, transform: Callable | None, convert_rgb: bool) -> None:
        self.base, self.transform, self.convert_rgb = base, transform, convert_rgb

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int):
        image, target = self.base[index]
        if self.convert_rgb and hasattr(image, "convert"):
            image = image.convert("RGB")  # grey or palette images -> the 3 channels encoders expect
        if self.transform is not None:
            image = self.transform(image)
        try:
            label = int(target)
        except (TypeError, ValueError):
            raise ValueError(
                f"sample {index} has target {target!r}; expected an integer class label (a classification data set)"
            ) from None
        return image, label
