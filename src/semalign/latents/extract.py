"""Encode an image data set with a frozen encoder and cache the latents (safetensors).

This is how real latent spaces enter semalign: the papers encode CIFAR-10 with two pretrained
timm vision transformers (``vit_small_patch16_224`` → 384-dim transmitter latents,
``vit_base_patch16_224`` → 768-dim receiver latents; ``specs/mimo.md`` §1.1). Extraction needs the
data set and the weights once; afterwards :func:`semalign.latents.timm_latents` (``load_latents("timm")``)
reads the cache offline.

Two entry points share one engine:

* :func:`extract_latents` — a timm model by name: ``timm.create_model(name, pretrained=...,
  num_classes=0)`` in eval mode returns the pooled pre-logit features; images are converted to RGB
  and preprocessed with timm's own evaluation transform for that model (its data config).
* :func:`encode_dataset` — your own ``torch.nn.Module`` and transform, cached under a name you give.

Data sets: any torchvision classification data set by name (case and punctuation ignored:
``"cifar10"``, ``"CIFAR-10"``), whether its constructor takes ``train=bool`` or ``split="train"``;
or, for :func:`encode_dataset`, your own ``{"train": Dataset, "test": Dataset}`` returning
``(image, int label)``.

Splits: ``test`` is the data set's test split. ``val`` is a fixed, seeded subset of the training
split (default 15 %, seed 42 — the published split's size and seed; the permutation is our own
``torch.randperm`` with a seeded ``torch.Generator``, so the indices differ from the published
Python ``random.shuffle``) and ``train`` is the rest. Each file stores the indices into the
torchvision data set, ascending, so the split is explicit and checkable.

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
import inspect
import json
import math
import os
import re
import shutil
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from semalign._cache import atomic_open, cache_root

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

#: The papers' transmitter and receiver encoders (specs/mimo.md §1.1).
PAPER_TX = "vit_small_patch16_224"
PAPER_RX = "vit_base_patch16_224"
#: Split names: ``val`` is carved from the training split, ``train`` is the rest of it.
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Samples per resumable chunk (about 3 to 6 MB of float32 latents at d = 384 to 768).
DEFAULT_CHUNK_SIZE = 2048
#: Version of the cache file layout; files of another version are not read.
FORMAT = "semalign-latents-v1"
#: Default network timeout (seconds) for dataset downloads and the reachability probe.
DEFAULT_TIMEOUT = 30.0

_VISION_HINT = "install the vision extra: pip install 'semalign[vision]' (timm and torchvision)"


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


def _torchvision():
    try:
        import torchvision.datasets as tvd
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise LatentsUnavailable(f"torchvision is needed to read image data sets ({err}); {_VISION_HINT}.") from None
    return tvd


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


# --------------------------------------------------------------------------------------------
# Encoders and weights
# --------------------------------------------------------------------------------------------


def _timm():
    try:
        import timm
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise LatentsUnavailable(f"timm is needed for pretrained encoders ({err}); {_VISION_HINT}.") from None
    return timm


def _offline(offline: bool) -> bool:
    """Offline if asked, or if the Hugging Face offline switch is set in the environment."""
    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return bool(offline) or env.strip().upper() in {"1", "ON", "YES", "TRUE"}


def _hf_endpoint() -> str:
    try:
        from huggingface_hub import constants

        return constants.ENDPOINT
    except ImportError:  # pragma: no cover
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def _hf_cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:  # pragma: no cover
        return "~/.cache/huggingface/hub"


def _unreachable(url: str, timeout: float) -> str | None:
    """Why ``url``'s host cannot be reached (None if it can, or if a proxy is configured).

    The Hugging Face client retries a dead network for about a minute per file; one TCP connect
    with a deadline tells in well under a second on a machine without network.
    """
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None  # the proxy decides; a direct connection tells nothing
    parsed = urlparse(url)
    host = parsed.hostname
    if not host:
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=min(timeout, 10.0)).close()
    except OSError as err:
        return f"{host} is unreachable: {err}"
    return None


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def state_sha256(module: nn.Module) -> str:
    """SHA-256 of a module's parameters and buffers (names, dtypes, shapes and bytes)."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        tensor = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@dataclass
class _TimmPlan:
    """Where a timm model's weights come from (decided without touching the network)."""

    model: str
    pretrained: bool
    init_seed: int
    weights: Path | None = None  # a user file
    cached: str | None = None  # a file already in the HF / torch hub cache
    source: str = ""  # identity string recorded in the cache
    details: dict[str, str] = field(default_factory=dict)
    hub_id: str | None = None
    url: str | None = None
    custom_load: Any = False


def _plan_timm(model: str, pretrained: bool, weights: str | os.PathLike | None, init_seed: int) -> _TimmPlan:
    timm = _timm()
    from timm.models import get_pretrained_cfg, is_model, split_model_name_tag

    plan = _TimmPlan(model=model, pretrained=bool(pretrained) or weights is not None, init_seed=int(init_seed))
    hub_name = model.startswith(("hf-hub:", "hf_hub:", "local-dir:"))
    if not hub_name and not is_model(split_model_name_tag(model)[0]):
        import difflib

        close = difflib.get_close_matches(model, timm.list_models(), n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else "; see timm.list_models()"
        raise ValueError(f"unknown timm model {model!r}{hint}")
    if weights is not None:
        if not pretrained:
            raise ValueError("weights=FILE loads pretrained weights; do not combine it with pretrained=False (--no-pretrained)")
        path = Path(weights).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"weights file {str(path)!r} does not exist (or is not a file)")
        plan.weights = path
        sha = _sha256_file(path)
        plan.source = f"file-sha256:{sha}"
        plan.details = {"weights_file": str(path), "weights_sha256": sha}
        return plan
    if not plan.pretrained:
        plan.source = f"random-init:seed={plan.init_seed}"
        plan.details = {"init_seed": str(plan.init_seed)}
        return plan
    if hub_name:
        plan.source = model
        plan.details = {"weights_source": model}
        return plan
    cfg = get_pretrained_cfg(model)
    if cfg is None or not (cfg.hf_hub_id or cfg.url or cfg.file):
        raise ValueError(
            f"timm model {model!r} has no pretrained weights registered in timm; pass pretrained=False "
            "(--no-pretrained) for random weights or weights=FILE (--weights FILE) for your own checkpoint"
        )
    plan.hub_id, plan.url, plan.custom_load = cfg.hf_hub_id, cfg.url, cfg.custom_load
    plan.source = f"hf-hub:{cfg.hf_hub_id}" if cfg.hf_hub_id else f"url:{cfg.url or cfg.file}"
    plan.details = {"weights_source": plan.source}
    plan.cached = _cached_weights(cfg)
    return plan


def _cached_weights(cfg) -> str | None:
    """Path of this pretrained config's weights if already downloaded (HF hub or torch hub cache)."""
    if cfg.file and Path(cfg.file).is_file():
        return str(cfg.file)
    if cfg.hf_hub_id and cfg.custom_load != "hf":
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover
            try_to_load_from_cache = None
        if try_to_load_from_cache is not None:
            repo, _, revision = cfg.hf_hub_id.partition("@")
            names = [cfg.hf_hub_filename] if cfg.hf_hub_filename else ["model.safetensors", "pytorch_model.bin"]
            for name in names:
                found = try_to_load_from_cache(repo, name, revision=revision or None)
                if isinstance(found, str) and Path(found).is_file():
                    return found
        return None  # timm prefers the hub when it has an id; do not mix in other sources
    if cfg.url:
        path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(cfg.url).path)
        if path.is_file():
            return str(path)
    return None


def _weights_problem(plan: _TimmPlan, reason: str) -> str:
    model = plan.model
    if plan.hub_id:
        repo = plan.hub_id.partition("@")[0]
        where = f"Hugging Face repository {repo}"
        direct = f"{_hf_endpoint().rstrip('/')}/{repo}/resolve/main/model.safetensors"
    else:
        where, direct = (plan.url or model), (plan.url or "the checkpoint file")
    return (
        f"The pretrained weights of timm model {model!r} ({where}) are not in the Hugging Face cache "
        f"({_hf_cache_dir()}) and {reason}. On a machine with network run "
        f"`python -c \"import timm; timm.create_model('{model}', pretrained=True)\"` and copy its Hugging Face "
        f"cache folder to {_hf_cache_dir()} (or point HF_HOME at it), or download {direct} and pass "
        f"--weights FILE (weights=FILE in Python); --no-pretrained uses random weights instead."
    )


@contextlib.contextmanager
def _hf_offline(enabled: bool):
    """Hugging Face offline mode for the duration of the block (read at call time by the hub client)."""
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover
        yield
        return
    old = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = old or enabled
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = old


def _create_timm(plan: _TimmPlan, *, offline: bool, timeout: float) -> tuple[nn.Module | None, list[str]]:
    """Build the model in eval mode, or return why its weights are unavailable (one paragraph)."""
    timm = _timm()
    kwargs: dict[str, Any] = {"num_classes": 0}  # no classifier: the model returns pooled pre-logit features
    downloads = False
    if plan.weights is not None or plan.cached is not None:
        file = str(plan.weights or plan.cached)
        # A .npz checkpoint needs the model's own loader; anything else is a state dict file.
        custom = bool(plan.custom_load) and file.endswith(".npz")
        kwargs.update(pretrained=True, pretrained_cfg_overlay={"file": file, "custom_load": custom})
    elif plan.pretrained:
        hub_name = plan.model.startswith(("hf-hub:", "hf_hub:", "local-dir:"))
        if offline and not hub_name:  # we know it is not cached: say so now rather than ask the hub
            return None, [_weights_problem(plan, "offline mode forbids downloading them")]
        if not offline:
            url = _hf_endpoint() if plan.hub_id or hub_name else (plan.url or "")
            why = _unreachable(url, timeout)
            if why:
                return None, [_weights_problem(plan, f"could not be downloaded ({why})")]
        kwargs.update(pretrained=True)
        downloads = True
    else:
        kwargs.update(pretrained=False)
    # Model construction draws random initial weights: seed them (reproducible random-init runs,
    # resumable extraction) without touching the caller's global RNG state.
    try:
        with torch.random.fork_rng(devices=[]), _socket_timeout(timeout), _hf_offline(offline):
            torch.manual_seed(plan.init_seed)
            model = timm.create_model(plan.model, **kwargs)
    except Exception as err:  # noqa: BLE001
        if downloads:
            reason = "offline mode forbids downloading them" if offline else "could not be downloaded"
            return None, [_weights_problem(plan, f"{reason} ({type(err).__name__}: {str(err).strip()})")]
        if plan.weights is not None:
            raise ValueError(f"could not load weights file {str(plan.weights)!r} into timm model {plan.model!r}: {err}") from err
        raise
    return model.eval(), []


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


def _read_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})


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


def _encode_chunks(
    job: _Job,
    encoder: nn.Module,
    data: torch.utils.data.Dataset,
    todo: list[int],
    done: set[int],
    starts: list[int],
    chunk_files: list[Path],
    *,
    device: torch.device,
    amp: torch.dtype | None,
    batch_size: int,
    num_workers: int,
    chunk_size: int,
    progress,
    description: str,
) -> None:
    """Encode the chunks ``todo`` of ``job``, writing each chunk file atomically once complete."""
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


def _encode_split(
    job: _Job,
    encoder: nn.Module,
    data: torch.utils.data.Dataset,
    *,
    plan: dict[str, Any],
    metadata: dict[str, str],
    device: torch.device,
    amp: torch.dtype | None,
    batch_size: int,
    num_workers: int,
    chunk_size: int,
    progress,
    description: str,
) -> Path:
    """Encode ``data[job.indices]`` chunk by chunk into ``job.path`` (resuming finished chunks)."""
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
        _encode_chunks(job, encoder, data, todo, done, starts, chunk_files, device=device, amp=amp, batch_size=batch_size,
                       num_workers=num_workers, chunk_size=chunk_size, progress=progress, description=description)  # fmt: skip
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
    import semalign

    versions = {"torch_version": torch.__version__, "semalign_version": semalign.__version__}
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
    device: torch.device,
    amp: torch.dtype | None,
    batch_size: int,
    num_workers: int,
    chunk_size: int,
    progress: bool,
    label: str,
) -> None:
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
                "chunk_size": chunk_size,
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
                device=device,
                amp=amp,
                batch_size=batch_size,
                num_workers=num_workers,
                chunk_size=chunk_size,
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
        preprocessing=preprocessing, device=device, amp=amp_dtype, batch_size=batch_size, num_workers=num_workers,
        chunk_size=chunk_size, progress=progress, label=model,
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
        preprocessing=recorded, device=device, amp=amp_dtype, batch_size=batch_size, num_workers=num_workers,
        chunk_size=chunk_size, progress=progress, label=name,
    )  # fmt: skip
    return paths


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
