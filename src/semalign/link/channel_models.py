"""Named channel models: what a run's ``channel_model`` setting means, and the link channel it draws.

========================  =====================================================================
``channel_model``         channel of one latent's T channel uses
========================  =====================================================================
``rayleigh`` (default)    one i.i.d. CN(0, v) matrix shared by the T uses (flat, quasi-static)
``kronecker``             the same with exponential transmit/receive correlation
                          (``tx_correlation``, ``rx_correlation`` in [0, 1))
``tdl-a`` ... ``tdl-e``   3GPP TR 38.901 tapped-delay-line model through OFDM: the T uses go out on
                          T subcarriers spread over ``bandwidth_mhz``, each its own MIMO channel
``cdl-a`` ... ``cdl-e``   3GPP TR 38.901 clustered-delay-line model, likewise (uniform linear arrays)
========================  =====================================================================

TDL and CDL are drawn by Sionna (:func:`~semalign.link.channel.ofdm_channel`) with the RMS delay
spread ``delay_spread_ns`` (default 100 ns, TR 38.901's "nominal"), carrier ``carrier_frequency_ghz``
(default 3.5 GHz) and band ``bandwidth_mhz`` (default 20 MHz). Their link is frequency selective:
one use of diag(H_1, ..., H_T) (:meth:`~semalign.link.Link.from_subcarriers`). Models D and E have
a line-of-sight component. Every model keeps E|H_ij|^2 = v.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semalign._checks import check_positive, check_positive_int
from semalign._seeds import stream_generator
from semalign.link.channel import TR38901_MODELS, ofdm_channel, rayleigh_channel
from semalign.link.mimo import subcarrier_block_diagonal

#: Every name ``channel_model`` accepts.
CHANNEL_MODELS = ("rayleigh", "kronecker", *TR38901_MODELS)
#: Every model option (:class:`ChannelModel`'s fields besides the name); runs carry them as settings.
CHANNEL_OPTIONS = ("tx_correlation", "rx_correlation", "delay_spread_ns", "carrier_frequency_ghz", "bandwidth_mhz")


def check_channel_model(name) -> str:
    """``name`` if it is a channel model, else ``ValueError`` listing the valid names."""
    if name not in CHANNEL_MODELS:
        raise ValueError(f"unknown channel_model {name!r}; expected one of {', '.join(CHANNEL_MODELS)}")
    return name


def options_of(name: str) -> tuple[str, ...]:
    """The options that apply to the channel model ``name`` (the others are ignored by it)."""
    check_channel_model(name)
    if name == "kronecker":
        return ("tx_correlation", "rx_correlation")
    if name in TR38901_MODELS:
        return ("delay_spread_ns", "carrier_frequency_ghz", "bandwidth_mhz")
    return ()


@dataclass(frozen=True)
class ChannelModel:
    """A channel model and its options (module table); checked when made.

    Attributes:
        name: one of :data:`CHANNEL_MODELS`.
        tx_correlation, rx_correlation: exponential correlation coefficients of ``kronecker``.
        delay_spread_ns, carrier_frequency_ghz, bandwidth_mhz: options of the TDL/CDL models.
    """

    name: str = "rayleigh"
    tx_correlation: float = 0.0
    rx_correlation: float = 0.0
    delay_spread_ns: float = 100.0
    carrier_frequency_ghz: float = 3.5
    bandwidth_mhz: float = 20.0

    def __post_init__(self) -> None:
        used = options_of(self.name)  # checks the name
        for name in CHANNEL_OPTIONS:
            value, default = getattr(self, name), ChannelModel.__dataclass_fields__[name].default
            if name not in used and value != default:
                owner = "channel_model='kronecker'" if name.endswith("_correlation") else "the TDL/CDL models"
                raise ValueError(f"{name}={value!r} is a setting of {owner}, not of channel_model={self.name!r}; leave it at its default {default!r}")
        for name in ("tx_correlation", "rx_correlation"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be an exponential correlation coefficient in [0, 1), got {value!r}")
        for name in ("delay_spread_ns", "carrier_frequency_ghz", "bandwidth_mhz"):
            check_positive(name, getattr(self, name))

    @property
    def frequency_selective(self) -> bool:
        """Whether the T uses of a latent see different channels (TDL/CDL through OFDM)."""
        return self.name in TR38901_MODELS

    def check_csi_model_for(self, *, per_subcarrier: tuple[str, ...] = (), **settings) -> None:
        """``ValueError`` if any of the imperfect-CSI ``settings`` (name=value) is in use (not
        ``None``, 0 or ``False``) on a channel the CSI error model (:mod:`semalign.link.csi`) does
        not describe: correlated antennas (the estimate's error would be correlated with the
        estimate; the estimators, the error draws and the robust designs assume i.i.d. entries), or
        a frequency-selective model, unless the setting is one of ``per_subcarrier``, those the
        caller models per subcarrier (an estimate of each subcarrier's channel with its own
        independent error)."""
        used = {name: value for name, value in settings.items() if value is not None and value is not False and value != 0}
        if self.tx_correlation or self.rx_correlation:
            why, refused = "has correlated antennas", list(used)
        elif self.frequency_selective:
            why, refused = "is frequency selective", [name for name in used if name not in per_subcarrier]
        else:
            return
        if refused:
            where = "i.i.d. flat channels only (rayleigh, or kronecker without correlation)"
            if per_subcarrier and self.frequency_selective:
                where += f"; on TDL/CDL channels {', '.join(per_subcarrier)} only"
            raise ValueError(f"channel_model={self.name!r} {why}: {', '.join(f'{n}={used[n]!r}' for n in refused)} (imperfect or outdated CSI) is modelled on {where}")

    def options(self) -> dict:
        """The options that apply to this model (what a result row records besides the name)."""
        return {name: getattr(self, name) for name in options_of(self.name)}

    def draw(
        self,
        n_rx: int,
        n_tx: int,
        channel_uses: int = 1,
        *,
        generator: torch.Generator,
        batch: int | None = None,
        channel_variance: float = 1.0,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.complex64,
    ) -> torch.Tensor:
        """Draw channels for latents of ``channel_uses`` uses.

        Returns:
            flat models: ``(n_rx, n_tx)`` (or ``(batch, n_rx, n_tx)``), shared by the T uses;
            TDL/CDL: ``(T, n_rx, n_tx)`` (or ``(batch, T, n_rx, n_tx)``), one matrix per subcarrier.
        """
        channel_uses = check_positive_int("channel_uses", channel_uses)
        if self.frequency_selective:
            return ofdm_channel(
                self.name, n_rx, n_tx, channel_uses, generator=generator, batch=batch, channel_variance=channel_variance,
                delay_spread_ns=self.delay_spread_ns, carrier_frequency_ghz=self.carrier_frequency_ghz, bandwidth_mhz=self.bandwidth_mhz,
                device=device, dtype=dtype,
            )  # fmt: skip
        return rayleigh_channel(
            n_rx, n_tx, generator=generator, batch=batch, channel_variance=channel_variance,
            tx_correlation=self.tx_correlation, rx_correlation=self.rx_correlation, device=device, dtype=dtype,
        )  # fmt: skip

    def for_seed(self, seed: int, n_rx: int, n_tx: int, channel_uses: int = 1, *, channel_variance: float = 1.0, device="cpu") -> torch.Tensor:
        """The scenario channel of ``seed`` (first draw of its ``channel`` stream, on the CPU, so
        every method and device of a seed sees the same one), complex64 in the layout of
        :meth:`draw`; for ``rayleigh`` exactly :func:`~semalign.link.channel.channel_for_seed`."""
        generator = stream_generator("channel", seed)
        return self.draw(n_rx, n_tx, channel_uses, generator=generator, channel_variance=channel_variance, device=device)

    def link_channel(self, channels: torch.Tensor) -> torch.Tensor:
        """Channels of :meth:`draw` in a link's layout: flat ones unchanged, per-subcarrier ones
        ``(..., T, n_rx, n_tx)`` as diag(H_1, ..., H_T) ``(..., T n_rx, T n_tx)``."""
        return subcarrier_block_diagonal(channels) if self.frequency_selective else channels

    def link_settings(self, channel_uses: int) -> dict:
        """The :class:`~semalign.link.Link` keywords of a latent of ``channel_uses`` uses on this
        model: T uses of one channel, or one use of T subcarriers."""
        return {"channel_uses": 1, "subcarriers": channel_uses} if self.frequency_selective else {"channel_uses": channel_uses}
