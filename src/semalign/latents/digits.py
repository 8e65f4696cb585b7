"""The default offline latent source: a zoo of encoders trained locally on scikit-learn's digits.

scikit-learn ships the UCI handwritten digits (1,797 grey 8x8 images, 10 classes) with the
package, so this source needs no network. Several small encoders with different architectures,
widths, activations and seeds are trained on the same fixed split; their penultimate activations
are genuinely different latent spaces of the same images — the situation semantic alignment is
about (the papers use two pretrained ViTs on CIFAR-10 instead).

Training is supervised (a linear classification head on top of the latent layer, cross-entropy,
Adam, mini-batches), deterministic (seeded inside ``torch.random.fork_rng`` so the caller's global
RNG state is untouched, shuffles from a ``torch.Generator``), takes a few seconds on two CPU cores,
and is done once: latents are cached as safetensors under
``<cache root>/digits-zoo-v1/<encoder>.safetensors`` (see :func:`semalign._cache.cache_root`).

Cached file layout (tensors):
    ``train_latents`` ``(1257, d)`` float32, ``test_latents`` ``(540, d)`` float32,
    ``train_labels`` ``(1257,)`` int64, ``test_labels`` ``(540,)`` int64.
String metadata: encoder, architecture, latent_dim, seed, epochs, batch_size, lr, train_accuracy,
test_accuracy, torch_version, split (JSON), recipe (JSON, used to detect a stale cache).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_save
from torch import nn

from semalign._cache import atomic_open, cache_root
from semalign.latents.types import LatentPair, LatentSplit

#: Bump when the split, the architectures or the training recipe change: old caches are ignored.
ZOO_VERSION = "digits-zoo-v1"
DATASET = "sklearn-digits"
#: Fixed stratified split of the 1,797 images (recorded in every LatentPair's metadata).
SPLIT = {"test_size": 0.3, "random_state": 0, "stratify": True}


# --------------------------------------------------------------------------------------------
# Architectures. Each builder returns the feature extractor ending at the latent layer; a linear
# head (latent_dim -> 10) is added on top for training and discarded afterwards.
# Latent layers use activations without dead zones (leaky ReLU rather than ReLU, no saturating
# units at the latent of the wide CNN), because downstream pre-whitening needs a full-rank latent
# covariance; the tests check it.
# --------------------------------------------------------------------------------------------


def _mlp64() -> nn.Module:
    # A plain ReLU latent layer left ~1/6 of its units dead (constant 0) -> singular covariance.
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.LeakyReLU(0.01))


def _mlp96_gelu() -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 256), nn.GELU(), nn.Linear(256, 96), nn.GELU()
    )


def _mlp32_tanh() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 48), nn.Tanh(), nn.Linear(48, 32), nn.Tanh())


def _cnn128() -> nn.Module:
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2),  # (32, 4, 4)
        # ELU, GELU and tanh here left some latent units almost constant (ill-conditioned covariance).
        nn.Flatten(), nn.Linear(512, 128), nn.LeakyReLU(0.1),
    )  # fmt: skip


def _cnn48_tanh() -> nn.Module:
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 8, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),  # (8, 4, 4)
        nn.Conv2d(8, 16, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2),  # (16, 2, 2)
        nn.Flatten(), nn.Linear(64, 48), nn.Tanh(),
    )  # fmt: skip


@dataclass(frozen=True)
class EncoderSpec:
    """How one zoo encoder is built and trained (everything that determines its latents)."""

    name: str
    architecture: str
    latent_dim: int
    seed: int
    epochs: int
    batch_size: int
    lr: float
    build: Callable[[], nn.Module]

    def recipe(self) -> dict:
        """JSON-able description of the spec (the builder is identified by ``architecture``)."""
        data = asdict(self)
        data.pop("build")
        return data


_SPECS: dict[str, EncoderSpec] = {
    spec.name: spec
    for spec in (
        EncoderSpec("mlp64", "MLP 64-128-64, ReLU hidden, LeakyReLU(0.01) latent", 64, seed=101, epochs=40, batch_size=64, lr=1e-3, build=_mlp64),
        EncoderSpec("mlp96-gelu", "MLP 64-256-256-96, GELU", 96, seed=202, epochs=30, batch_size=64, lr=1e-3, build=_mlp96_gelu),
        EncoderSpec("cnn128", "CNN conv3x3(16)-BN-ReLU, conv3x3(32)-BN-ReLU, maxpool2, linear 512-128, LeakyReLU(0.1)", 128, seed=303, epochs=20, batch_size=64, lr=2e-3, build=_cnn128),
        EncoderSpec("cnn48-tanh", "CNN conv5x5(8)-tanh-avgpool2, conv3x3(16)-tanh-avgpool2, linear 64-48, tanh", 48, seed=404, epochs=40, batch_size=32, lr=3e-3, build=_cnn48_tanh),
        EncoderSpec("mlp32-tanh", "MLP 64-48-32, tanh", 32, seed=505, epochs=60, batch_size=32, lr=3e-3, build=_mlp32_tanh),
    )
}  # fmt: skip

#: Names of the encoders in the digits zoo.
DIGITS_ENCODERS: tuple[str, ...] = tuple(_SPECS)
#: Default transmitter: a 64-dim ReLU MLP.
DEFAULT_TX = "mlp64"
#: Default receiver: a 128-dim CNN (different architecture and dimension from the transmitter).
DEFAULT_RX = "cnn128"


def encoder_spec(name: str) -> EncoderSpec:
    """Return the :class:`EncoderSpec` of zoo encoder ``name``; ``ValueError`` for unknown names."""
    if name not in _SPECS:
        raise ValueError(f"unknown digits encoder {name!r}; expected one of {', '.join(map(repr, DIGITS_ENCODERS))}")
    return _SPECS[name]


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fixed split: ``x_train (1257, 64)``, ``x_test (540, 64)`` float32 in [0, 1], labels int64."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    images = (data.data / 16.0).astype(np.float32)  # pixel intensities are 0..16
    labels = data.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=SPLIT["test_size"], random_state=SPLIT["random_state"], stratify=labels
    )
    for array in (x_train, x_test, y_train, y_test):
        array.setflags(write=False)  # shared through lru_cache: keep it immutable
    return x_train, x_test, y_train, y_test


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(dim=1) == labels).to(torch.float64).mean())


def _train_encoder(spec: EncoderSpec, progress=None) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Train one encoder and return its cached tensors and metadata (see module docstring).

    Deterministic given ``spec`` (on a given machine and torch build); leaves global RNG untouched.
    """
    x_train_np, x_test_np, y_train_np, y_test_np = _digits_split()
    x_train, x_test = torch.from_numpy(x_train_np.copy()), torch.from_numpy(x_test_np.copy())
    y_train, y_test = torch.from_numpy(y_train_np.copy()), torch.from_numpy(y_test_np.copy())
    n_classes = int(y_train.max()) + 1
    task = progress.add_task(f"training {spec.name}", total=spec.epochs) if progress is not None else None

    # Parameter initialisation draws from the global generator: fork it so the caller's state is
    # restored afterwards, and seed inside so the weights depend on the spec alone.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        features = spec.build()
        head = nn.Linear(spec.latent_dim, n_classes)
        model = nn.Sequential(features, head)
        optimiser = torch.optim.Adam(model.parameters(), lr=spec.lr)
        shuffle = torch.Generator().manual_seed(spec.seed)
        loss_fn = nn.CrossEntropyLoss()
        model.train()
        for _ in range(spec.epochs):
            order = torch.randperm(len(x_train), generator=shuffle)
            for start in range(0, len(order), spec.batch_size):
                batch = order[start : start + spec.batch_size]
                optimiser.zero_grad(set_to_none=True)
                loss = loss_fn(model(x_train[batch]), y_train[batch])
                loss.backward()
                optimiser.step()
            if progress is not None:
                progress.advance(task)

        model.eval()
        with torch.no_grad():
            z_train, z_test = features(x_train), features(x_test)
            train_acc, test_acc = _accuracy(head(z_train), y_train), _accuracy(head(z_test), y_test)

    tensors = {
        "train_latents": z_train.to(torch.float32).contiguous(),
        "test_latents": z_test.to(torch.float32).contiguous(),
        "train_labels": y_train.contiguous(),
        "test_labels": y_test.contiguous(),
    }
    metadata = {
        "encoder": spec.name,
        "architecture": spec.architecture,
        "latent_dim": str(spec.latent_dim),
        "seed": str(spec.seed),
        "epochs": str(spec.epochs),
        "batch_size": str(spec.batch_size),
        "lr": repr(spec.lr),
        "train_accuracy": f"{train_acc:.6f}",
        "test_accuracy": f"{test_acc:.6f}",
        "torch_version": torch.__version__,
        "zoo_version": ZOO_VERSION,
        "split": json.dumps(SPLIT, sort_keys=True),
        "recipe": json.dumps(spec.recipe(), sort_keys=True),
    }
    return tensors, metadata


def _cache_file(spec: EncoderSpec, cache_dir: str | os.PathLike | None) -> Path:
    return cache_root(cache_dir) / ZOO_VERSION / f"{spec.name}.safetensors"


def _read_cache(spec: EncoderSpec, path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]] | None:
    """Cached tensors and metadata, or ``None`` if the file is missing, unreadable or stale."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception:  # noqa: BLE001 - a damaged cache file is simply rebuilt
        return None
    _, _, y_train, y_test = _digits_split()
    valid = (
        metadata.get("recipe") == json.dumps(spec.recipe(), sort_keys=True)
        and metadata.get("split") == json.dumps(SPLIT, sort_keys=True)
        and set(tensors) == {"train_latents", "test_latents", "train_labels", "test_labels"}
        and tuple(tensors["train_latents"].shape) == (len(y_train), spec.latent_dim)
        and tuple(tensors["test_latents"].shape) == (len(y_test), spec.latent_dim)
        and np.array_equal(tensors["train_labels"].numpy(), y_train)
        and np.array_equal(tensors["test_labels"].numpy(), y_test)
    )
    return (tensors, metadata) if valid else None


def _ensure(names: list[str], cache_dir: str | os.PathLike | None) -> dict[str, tuple[dict, dict]]:
    """Load encoders ``names`` from the cache, training (with a progress display) those missing."""
    specs = [encoder_spec(name) for name in dict.fromkeys(names)]
    loaded = {spec.name: _read_cache(spec, _cache_file(spec, cache_dir)) for spec in specs}
    missing = [spec for spec in specs if loaded[spec.name] is None]
    if missing:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        # Progress goes to stderr so piped stdout stays clean; rich is silent off a terminal.
        console = Console(stderr=True)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"),
                   TimeElapsedColumn())  # fmt: skip
        # One intra-op thread: these models are too small to gain from more, a single thread is
        # robust to a busy machine, and the float reduction order (hence the cached latents) then
        # does not depend on the machine's core count. The caller's setting is restored.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
                for spec in missing:
                    tensors, metadata = _train_encoder(spec, progress)
                    with atomic_open(_cache_file(spec, cache_dir)) as handle:
                        handle.write(safetensors_save(tensors, metadata=metadata))
                    loaded[spec.name] = (tensors, metadata)
        finally:
            torch.set_num_threads(threads)
    return loaded


def train_digits_zoo(cache_dir: str | os.PathLike | None = None) -> dict[str, dict[str, str]]:
    """Make sure every encoder of the digits zoo is trained and cached.

    Args:
        cache_dir: cache root (default: ``$SEMALIGN_CACHE``, ``$XDG_CACHE_HOME/semalign`` or
            ``~/.cache/semalign``); files go to ``<cache_dir>/digits-zoo-v1/``.

    Returns:
        ``{encoder name: metadata}`` with architecture, seed, epochs and train/test accuracy
        (strings, as stored in the safetensors header).
    """
    loaded = _ensure(list(DIGITS_ENCODERS), cache_dir)
    return {name: dict(loaded[name][1]) for name in DIGITS_ENCODERS}


def _meta_summary(metadata: dict[str, str]) -> dict:
    return {
        "architecture": metadata["architecture"],
        "latent_dim": int(metadata["latent_dim"]),
        "seed": int(metadata["seed"]),
        "epochs": int(metadata["epochs"]),
        "train_accuracy": float(metadata["train_accuracy"]),
        "test_accuracy": float(metadata["test_accuracy"]),
        "torch_version": metadata["torch_version"],
    }


def digits_latents(
    tx: str = DEFAULT_TX, rx: str = DEFAULT_RX, *, cache_dir: str | os.PathLike | None = None
) -> LatentPair:
    """Aligned latents of the digits images seen by two zoo encoders.

    Trains (once, a few seconds) and caches the two encoders if needed; later calls read the cache.

    Args:
        tx: transmitter encoder, one of :data:`DIGITS_ENCODERS` (default ``"mlp64"``, 64 dims).
        rx: receiver encoder, one of :data:`DIGITS_ENCODERS` (default ``"cnn128"``, 128 dims).
        cache_dir: cache root (see :func:`train_digits_zoo`).

    Returns:
        :class:`LatentPair` with train ``(1257, d)`` and test ``(540, d)`` float32 latents, int64
        labels in 0..9, ``dataset="sklearn-digits"`` and metadata recording the split, the cache
        directory and each encoder's architecture, seed, epochs and accuracies.
    """
    tx_spec, rx_spec = encoder_spec(tx), encoder_spec(rx)
    loaded = _ensure([tx_spec.name, rx_spec.name], cache_dir)
    (tx_t, tx_meta), (rx_t, rx_meta) = loaded[tx_spec.name], loaded[rx_spec.name]
    # Both files hold the labels of the same fixed split; _read_cache/_train_encoder guarantee it.
    train = LatentSplit(tx_t["train_latents"], rx_t["train_latents"], tx_t["train_labels"])
    test = LatentSplit(tx_t["test_latents"], rx_t["test_latents"], tx_t["test_labels"])
    metadata = {
        "source": "digits",
        "zoo_version": ZOO_VERSION,
        "split": dict(SPLIT),
        "cache_dir": str(cache_root(cache_dir) / ZOO_VERSION),
        "tx": _meta_summary(tx_meta),
        "rx": _meta_summary(rx_meta),
    }
    return LatentPair(train, test, tx_encoder=tx, rx_encoder=rx, dataset=DATASET, metadata=metadata)
