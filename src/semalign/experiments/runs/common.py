"""What the run kinds share: provenance columns, the caches that let groups reuse each other's work,
and the receiver classifiers.

A process keeps small caches keyed by what determines their content: latents by source and options,
classifiers by (latents, receiver, seed), so groups that run one after another (or on the same Dask
worker) load data and train classifiers once.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import torch

from semalign._checks import check_positive
from semalign._version import __version__
from semalign.link.link import as_snr_db
from semalign.link.noise import check_snr_convention
from semalign.tasks import train_classifier


@dataclass(frozen=True)
class LinkConventions:
    """The link conventions every run and every study grid records.

    Attributes:
        snr_convention: ``total`` (sigma^2 = v P / (T SNR)), ``per-antenna`` (sigma^2 = P / (T N_t SNR))
            or, for compatibility only, ``published-federated`` (sigma^2 = P / (T^2 N_r SNR)).
        channel_variance: variance v of each channel entry.
        power: energy P per latent vector, spread over T channel uses x N_t antennas.
    """

    snr_convention: str = "total"
    channel_variance: float = 1.0
    power: float = 1.0

    def __post_init__(self) -> None:
        check_snr_convention(self.snr_convention)
        check_positive("channel_variance", self.channel_variance)
        check_positive("power", self.power)


def check_snr_db(value: float, *, name: str = "snr_db", finite: bool = False) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an SNR a link accepts
    (:data:`~semalign.link.link.SNR_DB_RANGE`, or ``inf`` unless ``finite``)."""
    try:
        as_snr_db(value)
    except ValueError as error:
        raise ValueError(str(error).replace("snr_db", name, 1)) from None
    if finite and value == float("inf"):
        raise ValueError(f"{name} must be finite here (the setting needs noise), got inf")


def provenance(setting: str, device: str) -> dict[str, Any]:
    """Columns every result row records besides its settings: the setting, versions and device."""
    return {
        "setting": setting,
        "semalign_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "device": str(device),
    }


class LastUsed:
    """A cache of the ``size`` most recently made values (older ones are dropped first)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.values: dict[Hashable, Any] = {}

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        if key in self.values:
            self.values[key] = self.values.pop(key)  # most recent last
            return self.values[key]
        while len(self.values) >= self.size:
            self.values.pop(next(iter(self.values)))
        self.values[key] = make()
        return self.values[key]


# Latent sets are large: keep two. Classifiers are small and cost a training each: keep many.
_LATENTS = LastUsed(2)
_CLASSIFIERS = LastUsed(256)


def cached_latents(key: Hashable, load: Callable[[], Any]) -> Any:
    """The latents of ``key`` (e.g. source and options), loaded once per process."""
    return _LATENTS.get(key, load)


def classifier(key: Hashable, latents: torch.Tensor, labels: torch.Tensor, seed: int, device: str = "cpu") -> torch.nn.Module:
    """The receiver's classifier trained on clean ``latents`` for ``seed``; ``key`` names the latents
    (e.g. source, options and receiver), so it is trained once per process."""
    return _CLASSIFIERS.get((key, int(seed), str(device)), lambda: train_classifier(latents, labels, seed=seed, device=device))


def canonical_options(options: str | dict) -> str:
    """A loader's keyword arguments as a canonical JSON object (sorted keys), for ``latents_options``."""
    if isinstance(options, str):
        try:
            options = json.loads(options)
        except json.JSONDecodeError as error:
            raise ValueError(f"latents_options must be a JSON object such as {{\"n_train\": 600}}, got {options!r} ({error})") from None
    if not isinstance(options, dict):
        raise ValueError(f"latents_options must be a JSON object of the loader's keyword arguments, got {options!r}")
    return json.dumps(options, sort_keys=True)
