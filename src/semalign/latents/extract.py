"""Encode an image data set with a frozen encoder and cache the latents (safetensors).

This is how real latent spaces enter semalign: the papers encode CIFAR-10 with two pretrained
timm vision transformers (``vit_small_patch16_224`` → 384-dim transmitter latents,
``vit_base_patch16_224`` → 768-dim receiver latents). Extraction needs the
data set and the weights once; afterwards :func:`semalign.latents.timm_latents` (``load_latents("timm")``)
reads the cache offline.

Two entry points share one engine:

* :func:`extract_latents` — a timm model by name: ``timm.create_model(name, pretrained=...,
  num_classes=0)`` in eval mode returns the pooled pre-logit features; images are converted to RGB
  and preprocessed with timm's own evaluation transform for that model (its data config).
* :func:`encode_dataset` — your own ``torch.nn.Module`` and transform, cached under a name you give.

Data sets and splits: :mod:`semalign.latents.datasets` (any torchvision classification data set
by name, or your own; ``val`` is a fixed, seeded subset of the training split). Weights:
:mod:`semalign.latents.encoders`. Cache layout, metadata and reading: :mod:`semalign.latents.cache`
(the names it defines are re-exported here).

Resume: the split is encoded in chunks of ``chunk_size`` samples (batches never straddle chunks),
each written atomically as soon as it is done. An interrupted run keeps its finished chunks; the
same call again encodes only the missing ones, then concatenates them into the final file and
removes the parts. A finished cache is reused without re-encoding unless ``overwrite=True``.

Offline: nothing here waits on a dead network. Missing data or weights raise
:class:`LatentsUnavailable` with one paragraph saying what to download and where to put it.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from semalign._cache import atomic_open, cache_root
from semalign.latents.cache import (
    FORMAT,
    PAPER_RX,
    PAPER_TX,
    SPLITS,
    LatentsUnavailable,
    _model_key,
    _parts_dir,
    _read_metadata,
    cached_metadata,  # noqa: F401 - not used here: re-exported for `from semalign.latents.extract import`
    dataset_key,
    latents_dir,
    latents_path,
    list_cached_latents,
    read_cached_latents,
)
from semalign.latents.datasets import _check_val_fraction, _open_dataset, _parse_splits, _Prepared, dataset_class, split_indices
from semalign.latents.encoders import _create_timm, _offline, _plan_timm, _timm, state_sha256

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "PAPER_RX",
    "PAPER_TX",
    "SPLITS",
    "LatentsUnavailable",
    "dataset_key",
    "encode_dataset",
    "extract_latents",
    "latents_dir",
    "latents_path",
    "list_cached_latents",
    "read_cached_latents",
]

#: Samples per resumable chunk (about 3 to 6 MB of float32 latents at d = 384 to 768).
DEFAULT_CHUNK_SIZE = 2048
#: Default network timeout (seconds) for dataset downloads and the reachability probe.
DEFAULT_TIMEOUT = 30.0


# --------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------


def _amp_dtype(amp, device: torch.device) -> torch.dtype | None:
    if amp is None or (isinstance(amp, str) and amp.lower() == "auto"):
        return torch.bfloat16 if device.type == "cuda" else None
    if amp is False or (isinstance(amp, str) and amp.lower() in {"none", "off", "false", "no", "fp32", "float32"}):
        return None
    if amp is True:
        return torch.bfloat16
    if isinstance(amp, torch.dtype) and amp in (torch.bfloat16, torch.float16):
        return amp
    names = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16, "half": torch.float16}
    if isinstance(amp, str) and amp.lower() in names:
        return names[amp.lower()]
    raise ValueError(f"amp must be None/'auto' (bf16 on CUDA, off on CPU), 'bf16', 'fp16' or 'off', got {amp!r}")


def _device(device: str | torch.device) -> torch.device:
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} was requested but CUDA is not available on this machine")
    return device


def _check_int(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


@dataclass
class _Job:
    """One split to encode into one file."""

    split: str
    path: Path
    identity: dict[str, Any]  # checked when a finished cache is reused
    source_split: str = "train"
    indices: torch.Tensor | None = None
    dataset_size: int = 0


def _identity_differences(stored: dict, wanted: dict) -> list[str]:
    keys = sorted(set(stored) | set(wanted))
    return [f"{k}: cached {stored.get(k)!r}, requested {wanted.get(k)!r}" for k in keys if stored.get(k) != wanted.get(k)]


def _reusable(job: _Job, overwrite: bool) -> bool:
    """True if the finished file matches ``job``; ValueError on a mismatch.

    With ``overwrite`` the split is re-encoded even if a finished file exists; the old file stays
    until the new one atomically replaces it (so a failed rerun loses nothing), and unfinished chunks
    are kept only if they belong to this same configuration (the chunk plan is checked when encoding),
    so an interrupted ``--overwrite`` run resumes too.
    """
    parts = _parts_dir(job.path)
    if overwrite:
        return False
    if not job.path.is_file():
        return False
    try:
        stored = json.loads(_read_metadata(job.path).get("identity", "{}"))
    except Exception as err:  # noqa: BLE001 - unreadable cache: say so and how to fix it
        raise ValueError(f"cached latents {str(job.path)!r} are unreadable ({err}); pass overwrite=True (--overwrite) to re-extract") from err
    differences = _identity_differences(stored, job.identity)
    if differences:
        raise ValueError(
            f"cached latents {str(job.path)!r} were made differently ({'; '.join(differences)}); "
            "pass overwrite=True (--overwrite) to replace them, or another cache_dir (--cache DIR)"
        )
    shutil.rmtree(parts, ignore_errors=True)  # leftovers of an older run are useless now
    return True


def _progress(enabled: bool):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class _Rate(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.1f} img/s" if speed else "- img/s", style="progress.data.speed")

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("images"),
        _Rate(),
        TimeElapsedColumn(),
        TextColumn("elapsed,"),
        TimeRemainingColumn(),
        TextColumn("left"),
        console=Console(stderr=True),
        disable=not enabled,
    )


def _safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in tensors.items()}, metadata=metadata)


def _load_chunk(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


@dataclass(frozen=True)
class _Encoding:
    """How the encoder runs: its device and mixed precision, images per forward pass, DataLoader
    worker processes and samples per resumable chunk."""

    device: torch.device
    amp: torch.dtype | None
    batch_size: int
    num_workers: int
    chunk_size: int


def _encode_chunks(job: _Job, encoder: nn.Module, data: torch.utils.data.Dataset, todo: list[int], done: set[int], starts: list[int],
                   chunk_files: list[Path], how: _Encoding, progress, description: str) -> None:  # fmt: skip
    """Encode the chunks ``todo`` of ``job``, writing each chunk file atomically once complete."""
    device, amp, batch_size, num_workers, chunk_size = how.device, how.amp, how.batch_size, how.num_workers, how.chunk_size
    indices = job.indices
    n = len(indices)
    task = progress.add_task(description, total=n, completed=sum(len(indices[starts[i] : starts[i] + chunk_size]) for i in done))
    if todo:
        # Batches never straddle a chunk, so a chunk's batches are the same in every run.
        batches, owner = [], []
        for i in todo:
            chunk = indices[starts[i] : starts[i] + chunk_size].tolist()
            for b in range(0, len(chunk), batch_size):
                batches.append(chunk[b : b + batch_size])
                owner.append(i)
        loader = torch.utils.data.DataLoader(
            data, batch_sampler=batches, num_workers=num_workers, pin_memory=device.type == "cuda"
        )
        encoder = encoder.to(device).eval()
        latents, labels, dim = [], [], None
        autocast = (
            torch.autocast(device_type=device.type, dtype=amp) if amp is not None else contextlib.nullcontext()
        )
        with torch.inference_mode():
            for k, (images, targets) in enumerate(loader):
                with autocast:
                    out = encoder(images.to(device, non_blocking=True))
                if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != len(targets):
                    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                    raise ValueError(
                        f"the encoder must return a (batch, dim) feature tensor, got {shape} for a batch of "
                        f"{len(targets)} images; add pooling/flattening to the encoder"
                    )
                if dim is not None and out.shape[1] != dim:
                    raise ValueError(f"the encoder returned {out.shape[1]} features after returning {dim}")
                dim = out.shape[1]
                latents.append(out.float().cpu())
                labels.append(torch.as_tensor(targets, dtype=torch.int64))
                progress.advance(task, len(targets))
                i = owner[k]
                if k + 1 == len(batches) or owner[k + 1] != i:  # chunk i is complete: store it now
                    chunk_latents = torch.cat(latents)
                    if not torch.isfinite(chunk_latents).all():
                        raise ValueError(
                            f"the encoder produced NaN/inf latents in samples {starts[i]}..{starts[i] + len(chunk_latents) - 1} "
                            f"of the {job.split} split; try amp='off' (--amp off)"
                        )
                    tensors = {
                        "latents": chunk_latents,
                        "labels": torch.cat(labels),
                        "indices": indices[starts[i] : starts[i] + chunk_size].clone(),
                    }
                    with atomic_open(chunk_files[i]) as handle:
                        handle.write(_safetensors_bytes(tensors, {"chunk": str(i)}))
                    latents, labels = [], []


def _encode_split(job: _Job, encoder: nn.Module, data: torch.utils.data.Dataset, *, plan: dict[str, Any], metadata: dict[str, str],
                  how: _Encoding, progress, description: str) -> Path:  # fmt: skip
    """Encode ``data[job.indices]`` chunk by chunk into ``job.path`` (resuming finished chunks)."""
    chunk_size = how.chunk_size
    indices = job.indices
    n = len(indices)
    parts = _parts_dir(job.path)
    plan_text = json.dumps(plan, sort_keys=True)
    plan_file = parts / "plan.json"
    if parts.is_dir() and (not plan_file.is_file() or plan_file.read_text() != plan_text):
        shutil.rmtree(parts)  # chunks of another configuration can never be part of this file
    with atomic_open(plan_file) as handle:
        handle.write(plan_text.encode())

    starts = list(range(0, n, chunk_size))
    chunk_files = [parts / f"chunk-{i:05d}.safetensors" for i in range(len(starts))]
    done: set[int] = set()
    for i, start in enumerate(starts):
        if chunk_files[i].is_file():
            try:
                stored = _load_chunk(chunk_files[i])["indices"]
            except Exception:  # noqa: BLE001 - a damaged chunk is simply encoded again
                stored = None
            if stored is not None and torch.equal(stored, indices[start : start + chunk_size]):
                done.add(i)
            else:
                chunk_files[i].unlink()

    todo = [i for i in range(len(starts)) if i not in done]
    try:
        _encode_chunks(job, encoder, data, todo, done, starts, chunk_files, how, progress, description)
    except BaseException:
        if not any(parts.glob("chunk-*.safetensors")):  # nothing worth resuming: leave no trace
            shutil.rmtree(parts, ignore_errors=True)
        raise

    chunks = [_load_chunk(f) for f in chunk_files]
    tensors = {key: torch.cat([c[key] for c in chunks]) for key in ("latents", "labels", "indices")}
    if not torch.equal(tensors["indices"], indices):  # defensive: never publish a misassembled file
        raise RuntimeError(f"chunks in {parts} do not add up to the {job.split} split; delete the folder and rerun")
    full_metadata = {
        **metadata,
        "n": str(n),
        "dim": str(tensors["latents"].shape[1]),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    with atomic_open(job.path) as handle:
        handle.write(_safetensors_bytes(tensors, full_metadata))
    shutil.rmtree(parts, ignore_errors=True)
    return job.path


def _versions() -> dict[str, str]:
    from semalign._version import __version__

    versions = {"torch_version": torch.__version__, "semalign_version": __version__}
    for module in ("timm", "torchvision"):
        try:
            versions[f"{module}_version"] = __import__(module).__version__
        except ImportError:  # pragma: no cover
            versions[f"{module}_version"] = "not installed"
    return versions


def _jobs(
    dataset_name: str,
    model_name: str,
    splits: tuple[str, ...],
    cache_dir,
    *,
    weights_source: str,
    val_fraction: float,
    split_seed: int,
    amp: torch.dtype | None,
) -> list[_Job]:
    key = dataset_key(dataset_name)
    jobs = []
    for split in splits:
        identity = {
            "format": FORMAT,
            "dataset": key,
            "split": split,
            "model": model_name,
            "weights": weights_source,
            # bf16 and float32 encodings differ: a cache made one way is not reused for the other.
            "amp_dtype": str(amp).removeprefix("torch.") if amp is not None else "none",
        }
        if split != "test":  # the train/val split depends on these; the test split does not
            identity.update(val_fraction=val_fraction, split_seed=split_seed)
        jobs.append(
            _Job(
                split=split,
                path=latents_path(key, model_name, split, cache_dir),
                identity=identity,
                source_split="test" if split == "test" else "train",
            )
        )
    return jobs


def _assign_indices(jobs: list[_Job], sources: Mapping[str, Any], val_fraction: float, split_seed: int) -> None:
    for job in jobs:
        size = len(sources[job.source_split])
        if size == 0:
            raise ValueError(f"the {job.source_split} split of the data set is empty")
        job.dataset_size = size
        if job.split == "test":
            job.indices = torch.arange(size, dtype=torch.int64)
        else:
            train, val = split_indices(size, val_fraction, split_seed)
            job.indices = train if job.split == "train" else val


def _unavailable(problems: list[str], cache_dir) -> LatentsUnavailable:
    root = cache_root(cache_dir) / "latents"
    return LatentsUnavailable(
        " ".join(problems) + f" Extracted latents are then cached in {root} (--cache DIR), so this is needed only once."
    )


def _run(
    jobs: list[_Job],
    encoder: nn.Module,
    sources: Mapping[str, Any],
    transform: Callable | None,
    *,
    convert_rgb: bool,
    metadata: dict[str, str],
    preprocessing: dict | None,
    how: _Encoding,
    progress: bool,
    label: str,
) -> None:
    device, amp, batch_size = how.device, how.amp, how.batch_size
    with _progress(progress) as bar:
        for job in jobs:
            data = _Prepared(sources[job.source_split], transform, convert_rgb)
            identity = {**job.identity, "indices_sha256": hashlib.sha256(job.indices.numpy().tobytes()).hexdigest()}
            plan = {
                "identity": identity,
                "preprocessing": preprocessing,
                "amp": str(amp),
                # Chunks of one file come from one device and batch size (their rounding differs).
                "device": device.type,
                "batch_size": batch_size,
                "chunk_size": how.chunk_size,
                "n": len(job.indices),
            }
            _encode_split(
                job,
                encoder,
                data,
                plan=plan,
                metadata={
                    **metadata,
                    "identity": json.dumps(job.identity, sort_keys=True),
                    "split": job.split,
                    "source_split": job.source_split,
                    "dataset_size": str(job.dataset_size),
                    "indices_sha256": identity["indices_sha256"],
                    "device": str(device),
                    "amp_dtype": str(amp).removeprefix("torch.") if amp is not None else "none",
                    "batch_size": str(batch_size),
                },
                how=how,
                progress=bar,
                description=f"{label} {job.split}",
            )


def _settings(splits, val_fraction, split_seed, batch_size, num_workers, chunk_size, timeout, device, amp):
    """The checked settings both entry points share: ``(val_fraction, split_seed, splits, batch_size,
    num_workers, chunk_size, timeout, device, amp dtype)``."""
    val_fraction = _check_val_fraction(val_fraction)
    wanted = _parse_splits(splits, val_fraction)
    batch_size, num_workers, chunk_size, timeout = _common_checks(batch_size, num_workers, chunk_size, timeout)
    device = _device(device)
    return val_fraction, int(split_seed), wanted, batch_size, num_workers, chunk_size, timeout, device, _amp_dtype(amp, device)


def _metadata(provenance: dict, preprocessing, transform, val_fraction: float, split_seed: int) -> dict[str, str]:
    """The string metadata of every cached split: ``provenance`` (model, data set, encoder,
    weights) plus the preprocessing, the val split and the library versions."""
    return {
        "format": FORMAT,
        **provenance,
        "preprocessing": json.dumps(preprocessing, sort_keys=True),
        "transform": repr(transform),
        "val_fraction": repr(val_fraction),
        "split_seed": str(split_seed),
        **_versions(),
    }


def _common_checks(batch_size, num_workers, chunk_size, timeout) -> tuple[int, int, int, float]:
    batch_size = _check_int("batch_size", batch_size, 1)
    num_workers = _check_int("num_workers", num_workers, 0)
    chunk_size = _check_int("chunk_size", chunk_size, 1)
    timeout = float(timeout)
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
    return batch_size, num_workers, chunk_size, timeout


def _json_ready(value):
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def extract_latents(
    dataset: str = "cifar10",
    model: str = PAPER_TX,
    *,
    splits: str | Sequence[str] | None = None,
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 64,
    pretrained: bool = True,
    weights: str | os.PathLike | None = None,
    init_seed: int = 0,
    num_workers: int = 0,
    val_fraction: float = 0.15,
    split_seed: int = 42,
    amp: str | bool | torch.dtype | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    offline: bool = False,
    download: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Path]:
    """Encode a torchvision data set with a timm model and cache the latents of each split.

    Args:
        dataset: torchvision data set class name, case and punctuation ignored (``"cifar10"``).
        model: timm model name (``"vit_small_patch16_224"``, ``"vit_base_patch16_224.augreg_in21k"``,
            ``"hf-hub:timm/..."``). The cache folder is named after it.
        splits: any of ``"train"``, ``"val"``, ``"test"`` (a list or a comma string); default all
            three (``train``/``test`` when ``val_fraction`` is 0).
        root: folder of the torchvision data set (default ``<cache>/datasets``); downloaded there if
            missing and allowed.
        cache_dir: semalign cache root (default: ``$SEMALIGN_CACHE`` or ``~/.cache/semalign``).
        device: torch device that runs the encoder.
        batch_size: images per forward pass.
        pretrained: load the model's pretrained weights (False: random weights seeded by ``init_seed``).
        weights: a local checkpoint file (``.safetensors``, ``.pth``, ``.bin``; ``.npz`` where timm
            supports it) loaded instead of downloading; implies ``pretrained``.
        init_seed: seed of the random initial weights (what a random-init run encodes with).
        num_workers: DataLoader worker processes for decoding and preprocessing.
        val_fraction: share of the training split held out as ``val`` (published: 0.15).
        split_seed: seed of that hold-out (published: 42).
        amp: autocast dtype: ``None``/``"auto"`` = bfloat16 on CUDA, off on CPU; ``"bf16"``,
            ``"fp16"`` or ``"off"``. Stored latents are float32 either way.
        chunk_size: samples per resumable chunk.
        offline: never download (also implied by ``HF_HUB_OFFLINE=1`` for the weights).
        download: allow downloading a missing data set.
        timeout: network timeout in seconds.
        overwrite: re-encode even if a finished cache exists.
        progress: show a Rich progress bar (images done, rate, time left) on stderr.

    Returns:
        ``{split: path}`` of the cache files, each holding ``latents`` ``(n, d)`` float32,
        ``labels`` ``(n,)`` int64 and ``indices`` ``(n,)`` int64 (into the torchvision split).

    Raises:
        LatentsUnavailable: the data set or the weights are not here and cannot be fetched.
        ValueError: bad arguments, an unknown data set or model, or a finished cache made
            differently (other weights or val split) without ``overwrite``.
    """
    val_fraction, split_seed, wanted, batch_size, num_workers, chunk_size, timeout, device, amp_dtype = _settings(
        splits, val_fraction, split_seed, batch_size, num_workers, chunk_size, timeout, device, amp
    )
    offline = _offline(offline)
    root = Path(root).expanduser() if root is not None else cache_root(cache_dir) / "datasets"
    dataset_class(dataset)  # unknown names fail before anything else

    plan = _plan_timm(model, pretrained, weights, init_seed)
    jobs = _jobs(dataset, model, wanted, cache_dir, weights_source=plan.source, val_fraction=val_fraction, split_seed=split_seed, amp=amp_dtype)
    todo = [job for job in jobs if not _reusable(job, overwrite)]
    paths = {job.split: job.path for job in jobs}
    if not todo:
        return paths

    # Local checks first, then downloads (weights before the data set, so that a model that cannot
    # be had does not cost a data set download); every missing piece goes into one message.
    source_splits = list(dict.fromkeys(job.source_split for job in todo))
    not_fetched = "was not downloaded (" + ("offline mode" if offline else "download disabled") + ")"
    sources, problems = _open_dataset(dataset, root, source_splits, fetch=False, why_not=not_fetched, timeout=timeout)
    encoder, weight_problems = _create_timm(plan, offline=offline, timeout=timeout)
    if problems and download and not offline:
        if weight_problems:
            sources, problems = _open_dataset(
                dataset, root, source_splits, fetch=False, why_not="was not downloaded (the weights are missing too)", timeout=timeout
            )
        else:
            sources, problems = _open_dataset(dataset, root, source_splits, fetch=True, why_not="", timeout=timeout)
    problems += weight_problems
    if problems:
        raise _unavailable(problems, cache_dir)

    timm = _timm()
    data_config = timm.data.resolve_model_data_config(encoder)
    transform = timm.data.create_transform(**data_config, is_training=False)
    preprocessing = _json_ready(data_config)
    _assign_indices(todo, sources, val_fraction, split_seed)
    provenance = {
        "model": model,
        "dataset": dataset_key(dataset),
        "dataset_class": f"torchvision.datasets.{dataset_class(dataset).__name__}",
        "encoder": "timm",
        "pretrained": str(plan.pretrained).lower(),
        "weights": plan.source,
        **plan.details,
    }
    _run(
        todo, encoder, sources, transform, convert_rgb=True, metadata=_metadata(provenance, preprocessing, transform, val_fraction, split_seed),
        preprocessing=preprocessing, how=_Encoding(device, amp_dtype, batch_size, num_workers, chunk_size), progress=progress, label=model,
    )  # fmt: skip
    return paths


def encode_dataset(
    encoder: nn.Module,
    dataset: str | Mapping[str, torch.utils.data.Dataset],
    transform: Callable | None,
    *,
    name: str,
    dataset_name: str | None = None,
    splits: str | Sequence[str] | None = None,
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 64,
    num_workers: int = 0,
    val_fraction: float = 0.15,
    split_seed: int = 42,
    amp: str | bool | torch.dtype | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    preprocessing: Mapping[str, Any] | None = None,
    convert_rgb: bool = True,
    offline: bool = False,
    download: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Path]:
    """Encode a data set with your own encoder and cache it like :func:`extract_latents`.

    Args:
        encoder: a module mapping a batch of transformed images ``(b, ...)`` to features
            ``(b, d)``. It is moved to ``device`` and put in eval mode.
        dataset: a torchvision data set name (as in :func:`extract_latents`), or your own
            ``{"train": Dataset, "test": Dataset}`` (either key may be absent if its splits are not
            requested) whose items are ``(image, integer label)``.
        transform: applied to each (RGB-converted, see ``convert_rgb``) image; must return a tensor.
        name: the encoder's name: the cache folder and the name :func:`timm_latents` takes.
        dataset_name: cache name of your own data sets (required with a mapping).
        preprocessing: a JSON-able description of ``transform`` to record (default: its ``repr``).
        convert_rgb: convert PIL images to RGB before ``transform``.
        Other arguments: as in :func:`extract_latents`.

    Returns:
        ``{split: path}`` of the cache files.

    The cache is reused only if the encoder's weights are the same: its identity is the SHA-256 of
    the encoder's state dict (parameters and buffers), recorded as ``weights``.
    """
    if not isinstance(encoder, nn.Module):
        raise ValueError(f"encoder must be a torch.nn.Module, got {type(encoder).__name__}")
    if transform is not None and not callable(transform):
        raise ValueError(f"transform must be callable or None, got {type(transform).__name__}")
    val_fraction, split_seed, wanted, batch_size, num_workers, chunk_size, timeout, device, amp_dtype = _settings(
        splits, val_fraction, split_seed, batch_size, num_workers, chunk_size, timeout, device, amp
    )
    _model_key(name)
    if isinstance(dataset, Mapping):
        if not dataset_name:
            raise ValueError("dataset_name is required when dataset is a mapping of your own data sets")
        unknown = sorted(set(dataset) - {"train", "test"})
        if unknown:
            raise ValueError(f"dataset mapping keys must be 'train' and/or 'test', got {unknown}")
        key_name = dataset_name
        dataset_kind = "custom"
    elif isinstance(dataset, str):
        key_name = dataset_name or dataset
        dataset_kind = f"torchvision.datasets.{dataset_class(dataset).__name__}"
    else:
        raise ValueError(f"dataset must be a torchvision data set name or a mapping of data sets, got {type(dataset).__name__}")

    source = f"custom:{type(encoder).__qualname__}:state-sha256:{state_sha256(encoder)}"
    jobs = _jobs(key_name, name, wanted, cache_dir, weights_source=source, val_fraction=val_fraction, split_seed=split_seed, amp=amp_dtype)
    todo = [job for job in jobs if not _reusable(job, overwrite)]
    paths = {job.split: job.path for job in jobs}
    if not todo:
        return paths
    source_splits = list(dict.fromkeys(job.source_split for job in todo))
    if isinstance(dataset, Mapping):
        missing = [s for s in source_splits if s not in dataset]
        if missing:
            raise ValueError(f"the requested splits need dataset[{missing[0]!r}], which the mapping lacks")
        sources = dict(dataset)
    else:
        root = Path(root).expanduser() if root is not None else cache_root(cache_dir) / "datasets"
        fetch = download and not _offline(offline)
        not_fetched = "was not downloaded (" + ("download disabled" if not download else "offline mode") + ")"
        sources, problems = _open_dataset(dataset, root, source_splits, fetch=fetch, why_not=not_fetched, timeout=timeout)
        if problems:
            raise _unavailable(problems, cache_dir)
    _assign_indices(todo, sources, val_fraction, split_seed)
    recorded = _json_ready(dict(preprocessing)) if preprocessing is not None else {"transform": repr(transform)}
    provenance = {
        "model": name,
        "dataset": dataset_key(key_name),
        "dataset_class": dataset_kind,
        "encoder": f"custom:{type(encoder).__module__}.{type(encoder).__qualname__}",
        "pretrained": "custom",
        "weights": source,
    }
    _run(
        todo, encoder, sources, transform, convert_rgb=convert_rgb, metadata=_metadata(provenance, recorded, transform, val_fraction, split_seed),
        preprocessing=recorded, how=_Encoding(device, amp_dtype, batch_size, num_workers, chunk_size), progress=progress, label=name,
    )  # fmt: skip
    return paths
