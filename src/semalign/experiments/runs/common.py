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

from semalign._checks import check_positive, check_positive_int
from semalign._version import __version__
from semalign.link.channel_models import CHANNEL_OPTIONS, ChannelModel, options_of
from semalign.link.link import as_snr_db
from semalign.link.noise import check_snr_convention
from semalign.tasks import train_classifier


@dataclass(frozen=True)
class LinkConventions:
    """The link conventions and the channel model every run and every study grid records.

    Attributes:
        snr_convention: ``total`` (sigma^2 = v P / (T SNR)), ``per-antenna`` (sigma^2 = P / (T N_t SNR))
            or, for compatibility only, ``published-federated`` (sigma^2 = P / (T^2 N_r SNR)).
        channel_variance: variance v of each channel entry.
        power: energy P per latent vector, spread over T channel uses x N_t antennas.
        channel_model: ``rayleigh`` (default), ``kronecker`` (with ``tx_correlation`` and
            ``rx_correlation``), or a 3GPP TR 38.901 model ``tdl-a`` ... ``tdl-e``, ``cdl-a`` ...
            ``cdl-e`` through OFDM (the T uses of a latent on T subcarriers spread over
            ``bandwidth_mhz``, with ``delay_spread_ns`` and ``carrier_frequency_ghz``); see
            :mod:`semalign.link.channel_models`. A run resets the options its model does not use.
    """

    snr_convention: str = "total"
    channel_variance: float = 1.0
    power: float = 1.0
    # The channel model's defaults are ChannelModel's own (one place states them).
    channel_model: str = ChannelModel.name
    tx_correlation: float = ChannelModel.tx_correlation
    rx_correlation: float = ChannelModel.rx_correlation
    delay_spread_ns: float = ChannelModel.delay_spread_ns
    carrier_frequency_ghz: float = ChannelModel.carrier_frequency_ghz
    bandwidth_mhz: float = ChannelModel.bandwidth_mhz

    def __post_init__(self) -> None:
        check_snr_convention(self.snr_convention)
        check_positive("channel_variance", self.channel_variance)
        check_positive("power", self.power)
        self.channel()  # the model's name and the options it uses

    def channel(self) -> ChannelModel:
        """The channel model with the options it uses (checked; ``ValueError`` listing the valid
        names for an unknown model)."""
        return ChannelModel(self.channel_model, **{name: getattr(self, name) for name in options_of(self.channel_model)})

    def unused_channel_options(self) -> tuple[str, ...]:
        """The channel-model options the model does not use (a run resets them, so a sweep over
        them does not store one run several times)."""
        used = options_of(self.channel_model)
        return tuple(name for name in CHANNEL_OPTIONS if name not in used)

    def check_csi_model_for(self, *, per_subcarrier: tuple[str, ...] = (), **settings) -> None:
        """``ValueError`` if an imperfect-CSI setting is in use on a channel model the CSI error
        model does not describe (:meth:`~semalign.link.channel_models.ChannelModel.check_csi_model_for`)."""
        self.channel().check_csi_model_for(per_subcarrier=per_subcarrier, **settings)


def check_pilot_estimation(*, pilot_snr_db: float | None, csi_pilots: int, csi_error: float, n_antennas: int) -> None:
    """Raise ``ValueError`` naming the setting unless a run's channel estimation from pilots is
    well posed: ``csi_pilots`` a positive count, and with a ``pilot_snr_db`` (finite) no
    ``csi_error`` beside it and at least one orthogonal pilot per transmit antenna."""
    check_positive_int("csi_pilots", csi_pilots)
    if pilot_snr_db is None:
        return
    check_snr_db(pilot_snr_db, name="pilot_snr_db", finite=True)
    if csi_error:
        raise ValueError("give either csi_error (the error model) or pilot_snr_db (estimate the channel from pilots), not both")
    if csi_pilots < n_antennas:
        raise ValueError(f"csi_pilots={csi_pilots} orthogonal pilots cannot separate {n_antennas} transmit antennas; expected csi_pilots >= n_antennas")


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
