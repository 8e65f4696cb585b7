"""The on-disk cache of extracted latents: its layout, its metadata and reading it back.

:func:`semalign.latents.extract.extract_latents` (timm models) and
:func:`semalign.latents.extract.encode_dataset` (your own encoders) write it;
:func:`semalign.latents.timm_latents` (``load_latents("timm")``) reads it offline, without timm,
torchvision, the data set or the network. :data:`PAPER_TX` and :data:`PAPER_RX` name the papers'
encoders (``vit_small_patch16_224`` → 384-dim transmitter latents, ``vit_base_patch16_224`` →
768-dim receiver latents).

Cache layout (root: :func:`semalign._cache.cache_root`)::

    <root>/latents/<dataset>/<model>/<split>.safetensors
        latents (n, d) float32, labels (n,) int64, indices (n,) int64 (into the torchvision split)
    <root>/latents/<dataset>/<model>/<split>.parts/   while an extraction is unfinished
        plan.json, chunk-00000.safetensors, ...

String metadata of each file (safetensors header): ``format``, ``model``, ``dataset``,
``dataset_class``, ``split``, ``source_split``, ``dataset_size``, ``n``, ``dim``, ``encoder``,
``pretrained``, ``weights`` (``hf-hub:<repo>``, ``file-sha256:<hash>`` with ``weights_file``,
``random-init:seed=<s>`` or ``custom:<class>:state-sha256:<hash>``), ``preprocessing`` (the timm
data config as JSON), ``transform`` (its repr), ``val_fraction``, ``split_seed``,
``indices_sha256``, ``device``, ``amp_dtype``, ``batch_size``, ``torch_version``, ``timm_version``,
``torchvision_version``, ``semalign_version``, ``created`` (UTC, ISO 8601) and ``identity`` (the
JSON that decides whether a finished file may be reused).

A missing cache raises :class:`LatentsUnavailable` with one paragraph naming the
``semalign latents extract`` command that makes it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from semalign._cache import cache_root

__all__ = [
    "FORMAT",
    "PAPER_RX",
    "PAPER_TX",
    "SPLITS",
    "LatentsUnavailable",
    "cached_metadata",
    "dataset_key",
    "latents_dir",
    "latents_path",
    "list_cached_latents",
    "read_cached_latents",
]

#: The papers' transmitter and receiver encoders.
PAPER_TX = "vit_small_patch16_224"
PAPER_RX = "vit_base_patch16_224"
#: Split names: ``val`` is carved from the training split, ``train`` is the rest of it.
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Version of the cache file layout; files of another version are not read.
FORMAT = "semalign-latents-v1"


class LatentsUnavailable(RuntimeError):
    """The data set, the encoder weights or the cached latents are not available here.

    Raised instead of hanging or half-working when something must be downloaded first; the
    message is one paragraph naming what is missing, what to download and where to put it.
    """


# --------------------------------------------------------------------------------------------
# Names and paths
# --------------------------------------------------------------------------------------------


def dataset_key(name: str) -> str:
    """Cache key of a data set name: lower case, letters and digits only (``"CIFAR-10"`` → ``"cifar10"``)."""
    if not isinstance(name, str) or not re.sub(r"[^a-z0-9]", "", name.lower()):
        raise ValueError(f"dataset must be a non-empty name such as 'cifar10', got {name!r}")
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _model_key(name: str) -> str:
    """A file-system-safe folder name for a model name (the real name is kept in the metadata)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
    return re.sub(r"[^\w.+-]", "_", name.strip())


def latents_dir(dataset: str, model: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder holding the cached splits of ``model`` on ``dataset``."""
    return cache_root(cache_dir) / "latents" / dataset_key(dataset) / _model_key(model)


def latents_path(dataset: str, model: str, split: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Path of one cached split: ``<cache>/latents/<dataset>/<model>/<split>.safetensors``."""
    _check_split(split)
    return latents_dir(dataset, model, cache_dir) / f"{split}.safetensors"


def _parts_dir(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".safetensors") + ".parts")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))}, got {split!r}")


def _read_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})


# --------------------------------------------------------------------------------------------
# Reading the cache
# --------------------------------------------------------------------------------------------


def cached_metadata(dataset: str, model: str, split: str, cache_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """The string metadata of one finished cached split (``{}`` if there is none), without loading
    its tensors."""
    path = latents_path(dataset, model, split, cache_dir)
    return _read_metadata(path) if path.is_file() else {}


def read_cached_latents(
    dataset: str, model: str, split: str, cache_dir: str | os.PathLike | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors (``latents`` (n, d) float32, ``labels`` (n,) int64, ``indices`` (n,) int64) and string metadata of one cached split.

    Raises:
        LatentsUnavailable: no finished cache file (names the extraction command).
        ValueError: the file is not a semalign latent cache of this format.
    """
    path = latents_path(dataset, model, split, cache_dir)
    if not path.is_file():
        raise LatentsUnavailable(_missing_message(dataset, [model], [split], cache_dir))
    from safetensors.torch import load_file

    try:
        metadata = _read_metadata(path)
        tensors = load_file(str(path))
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"cached latents {str(path)!r} are unreadable: {err}; re-extract them with --overwrite") from err
    if metadata.get("format") != FORMAT or set(tensors) != {"latents", "labels", "indices"}:
        raise ValueError(
            f"{str(path)!r} is not a {FORMAT} cache (format {metadata.get('format')!r}, arrays {sorted(tensors)}); "
            "re-extract it with --overwrite"
        )
    return tensors, metadata


def _missing_message(dataset: str, models: Sequence[str], splits: Sequence[str], cache_dir) -> str:
    key = dataset_key(dataset)
    models = list(dict.fromkeys(models))
    lines = []
    for model in models:
        for split in splits:
            path = latents_path(key, model, split, cache_dir)
            if path.is_file():
                continue
            parts = _parts_dir(path)
            note = ""
            if parts.is_dir():
                done = len(list(parts.glob("chunk-*.safetensors")))
                note = f" (an interrupted extraction left {done} finished chunk(s); the same command resumes it)"
            lines.append(f"{path}{note}")
    command = f"semalign latents extract --dataset {key}" + "".join(f" --model {m}" for m in models)
    if cache_dir is not None:
        command += f" --cache {cache_dir}"
    return (
        f"No cached latents of {', '.join(map(repr, models))} on {key} for the {'/'.join(splits)} split(s): "
        f"missing {', '.join(lines) or 'files'}. Extract them first with `{command}` (it needs the data set and the "
        "model weights once, see `semalign latents extract --help`; your own encoders: semalign.latents.encode_dataset)."
    )


def list_cached_latents(cache_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Everything under ``<cache>/latents``: one dict per split file or unfinished extraction.

    Keys: ``dataset``, ``model``, ``split``, ``status`` (``"complete"`` or ``"partial"``), ``n``,
    ``dim``, ``weights``, ``path`` and ``bytes``. Sorted by dataset, model, split.
    """
    base = cache_root(cache_dir) / "latents"
    rows: list[dict[str, Any]] = []
    if not base.is_dir():
        return rows
    for folder in sorted(p for p in base.glob("*/*") if p.is_dir()):
        for file in sorted(folder.glob("*.safetensors")):
            try:
                meta = _read_metadata(file)
            except Exception:  # noqa: BLE001 - list what is there, even if damaged
                meta = {"format": "unreadable"}
            rows.append(
                {
                    "dataset": meta.get("dataset", folder.parent.name),
                    "model": meta.get("model", folder.name),
                    "split": meta.get("split", file.stem),
                    "status": "complete" if meta.get("format") == FORMAT else meta.get("format", "unknown"),
                    "n": int(meta["n"]) if "n" in meta else None,
                    "dim": int(meta["dim"]) if "dim" in meta else None,
                    "weights": meta.get("weights", ""),
                    "path": str(file),
                    "bytes": file.stat().st_size,
                }
            )
        for parts in sorted(folder.glob("*.parts")):
            chunks = sorted(parts.glob("chunk-*.safetensors"))
            rows.append(
                {
                    "dataset": folder.parent.name,
                    "model": folder.name,
                    "split": parts.name.removesuffix(".parts"),
                    "status": f"partial ({len(chunks)} chunk(s))",
                    "n": None,
                    "dim": None,
                    "weights": "",
                    "path": str(parts),
                    "bytes": sum(c.stat().st_size for c in chunks),
                }
            )
    order = {s: i for i, s in enumerate(SPLITS)}
    rows.sort(key=lambda r: (r["dataset"], r["model"], order.get(r["split"], 9), r["status"]))
    return rows
