"""Where latent spaces come from, and which of their samples serve as semantic pilots.

Sources (all return a :class:`LatentPair`):

* ``"digits"`` — :func:`digits_latents`: a zoo of encoders trained locally on scikit-learn's
  bundled digits (offline default, cached after the first call);
* ``"synthetic"`` — :func:`synthetic_latents`: class-structured agents of any size, with a
  semantic-proximity knob;
* ``"file"`` — :func:`file_latents`: a user's ``.npz`` / ``.safetensors`` / ``.pt`` latents;
* ``"timm"`` — :func:`timm_latents`: pretrained encoders' latents of a torchvision data set
  (CIFAR-10 as in the papers), read from the cache that :func:`extract_latents` (or
  ``semalign latents extract``) writes; :func:`encode_dataset` caches your own encoder's.

:func:`load_latents` dispatches on a source name (or a file path); :func:`select_pilots` picks
per-class pilot pairs as global indices into a split.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

from semalign.latents.cache import PAPER_RX, PAPER_TX, LatentsUnavailable, list_cached_latents, read_cached_latents
from semalign.latents.digits import DEFAULT_RX, DEFAULT_TX, DIGITS_ENCODERS, digits_latents, train_digits_zoo
from semalign.latents.extract import encode_dataset, extract_latents
from semalign.latents.files import SUFFIXES, file_latents, save_latents
from semalign.latents.pilots import pilot_groups, select_pilots
from semalign.latents.pretrained import timm_latents
from semalign.latents.synthetic import synthetic_latents
from semalign.latents.types import LatentPair, LatentSplit

__all__ = [
    "DEFAULT_RX",
    "DEFAULT_TX",
    "DIGITS_ENCODERS",
    "SOURCES",
    "PAPER_RX",
    "PAPER_TX",
    "LatentPair",
    "LatentSplit",
    "LatentsUnavailable",
    "digits_latents",
    "encode_dataset",
    "extract_latents",
    "file_latents",
    "list_cached_latents",
    "load_latents",
    "pilot_groups",
    "read_cached_latents",
    "save_latents",
    "select_pilots",
    "synthetic_latents",
    "timm_latents",
    "train_digits_zoo",
]

_LOADERS = {"digits": digits_latents, "synthetic": synthetic_latents, "file": file_latents, "timm": timm_latents}
#: Source names accepted by :func:`load_latents` (a path ending in a supported suffix works too).
SOURCES: tuple[str, ...] = tuple(_LOADERS)


def _parameters(func) -> tuple[str, ...]:
    return tuple(inspect.signature(func).parameters)


def load_latents(source: str | os.PathLike = "digits", **kwargs) -> LatentPair:
    """Load aligned latents from a named source.

    Args:
        source: ``"digits"`` (kwargs of :func:`digits_latents`: ``tx``, ``rx``, ``cache_dir``),
            ``"synthetic"`` (kwargs of :func:`synthetic_latents`), ``"file"`` (``path=...`` and
            the optional kwargs of :func:`file_latents`), ``"timm"`` (kwargs of
            :func:`timm_latents`: ``dataset``, ``tx``, ``rx``, ``cache_dir``, ``test_split``), or a
            path ending in ``.npz``, ``.safetensors`` or ``.pt`` (same as ``"file"`` with that path).
        **kwargs: passed to the source's loader.

    Raises:
        ValueError: unknown source, or keyword arguments the source does not take (named).
        LatentsUnavailable: ``"timm"`` latents that have not been extracted yet (the message gives
            the ``semalign latents extract`` command).
    """
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and source not in _LOADERS and Path(source).suffix.lower() in SUFFIXES
    ):
        if "path" in kwargs:
            raise ValueError(f"source is already a path ({str(source)!r}); do not pass path={kwargs['path']!r} too")
        source, kwargs = "file", {"path": source, **kwargs}
    if not isinstance(source, str) or source not in _LOADERS:
        raise ValueError(
            f"unknown latent source {source!r}; expected one of {', '.join(map(repr, SOURCES))} "
            f"or a path ending in {', '.join(SUFFIXES)}"
        )
    loader = _LOADERS[source]
    accepted = _parameters(loader)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown argument(s) {', '.join(map(repr, unknown))} for source {source!r}; "
            f"expected some of {', '.join(map(repr, accepted))}"
        )
    if source == "file" and "path" not in kwargs:
        raise ValueError("source 'file' needs path=... (a .npz, .safetensors or .pt file)")
    return loader(**kwargs)
