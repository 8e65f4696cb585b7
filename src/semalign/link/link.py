"""The physical layer of every setting: one :class:`Link` and the one place where y = H s + w is computed.

A link holds the channel(s), the SNR and its convention, the channel variance, the power budget and
the channel uses per latent. Every method of every setting sends its symbols through
:meth:`Link.send`, during training (neural models, pilot broadcasts) and at test time.

Two channels, one link. The channel a design *sees* (:attr:`Link.design_channel`, what the
transmitter and receiver were fitted for) may differ from the channel the symbols *go through*
(:attr:`Link.channel`): :meth:`Link.design_view` is the link a design is fitted on (``aware``: the
design channel with the link's noise; ``unaware``: an identity channel without noise), and
:meth:`Link.send` always uses the true channel unless another one is passed.

Shapes (Sionna's conventions, batch first):

* channels ``(..., n_rx, n_tx)``, one matrix per channel use (the same for all T uses of a latent:
  quasi-static); the leading axes index configurations (e.g. SNRs fitted at once) or receivers;
* a frequency-selective (OFDM) link whose S subcarriers each see their own H_s is one use of the
  block-diagonal channel diag(H_1, ..., H_S) ``(..., S n_rx, S n_tx)`` with ``subcarriers=S``
  (:meth:`Link.from_subcarriers`): every method then designs for the whole band at once;
* symbols ``(..., n, T * n_tx)`` complex, use-major (symbols ``t n_tx ... (t + 1) n_tx - 1`` go out at
  use t), or, in the real *split* layout of widely linear maps, ``(..., n, 2 T n_tx)`` real
  ``[Re s | Im s]``;
* received symbols ``(..., n, T * n_rx)`` (split: ``(..., n, 2 T n_rx)``).

Noise (per receive antenna per channel use, w ~ CN(0, sigma^2), sigma^2 from
:func:`~semalign.link.noise.noise_variance`): one unit-variance draw from the caller's generator,
scaled by each configuration's sigma. By default the draw is shared by every leading configuration
(common random numbers: a configuration sees the same noise alone or in any batch);
``independent_noise=True`` draws separately for every leading index (independent receivers). A link
whose noise is zero everywhere draws nothing.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch

from semalign._checks import check_finite, check_positive, check_positive_int
from semalign.link.csi import check_csi_error
from semalign.link.mimo import block_diagonal_channel, real_composite, subcarrier_block_diagonal
from semalign.link.noise import check_snr_convention, complex_awgn, noise_variance
from semalign.link.packing import complex_dim

_CHANNEL_DTYPE = torch.complex128  # channels are stored in double precision; sends run in the symbols' precision
#: The link keywords of every estimator and their defaults (an estimator given ``link=`` leaves them so).
LINK_DEFAULTS = {"snr_db": 20.0, "power": 1.0, "snr_convention": "total", "channel_variance": 1.0, "channel_uses": 1}


def same_setting(value, default) -> bool:
    """Whether a setting still has its default (a tensor never counts as the default)."""
    if isinstance(value, torch.Tensor):
        return False
    try:
        return bool(value == default)
    except (TypeError, RuntimeError, ValueError):
        return False


def as_channel(name: str, value, device) -> torch.Tensor:
    """``value`` as a complex128 ``(..., n_rx, n_tx)`` channel tensor on ``device`` (default: its own),
    or ``ValueError`` naming ``name`` (wrong type or rank, no antennas, NaN or infinite entries)."""
    if isinstance(value, (str, bytes)) or value is None:
        raise ValueError(f"{name} must be a complex tensor of shape (n_rx, n_tx) or (..., n_rx, n_tx), got {value!r}")
    try:
        h = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be a complex tensor of shape (n_rx, n_tx) or (..., n_rx, n_tx), got {type(value).__name__}") from None
    if h.ndim < 2:
        raise ValueError(f"{name} must have shape (n_rx, n_tx) or (..., n_rx, n_tx), got shape {tuple(h.shape)}")
    if not (h.is_complex() or h.is_floating_point()):
        raise ValueError(f"{name} must be a complex (or real floating) tensor, got dtype {h.dtype}")
    if h.shape[-1] == 0 or h.shape[-2] == 0:
        raise ValueError(f"{name} has no antennas (shape {tuple(h.shape)}); expected n_rx >= 1 and n_tx >= 1")
    check_finite(name, h)
    return h.to(device=device if device is not None else h.device, dtype=_CHANNEL_DTYPE)


def as_true_channel(value, design_shape, layout: str, device) -> torch.Tensor:
    """``value``, the channel symbols go through instead of the one a design knows (every
    estimator's ``transmit(..., channel=...)``), as complex128 on ``device``; ``ValueError`` naming
    ``channel`` unless it has the design channel's shape ``design_shape`` (``layout`` names its axes)."""
    expected, shape = tuple(design_shape), tuple(getattr(value, "shape", ()))
    if shape != expected:
        got = f"shape {shape}" if hasattr(value, "shape") else type(value).__name__
        raise ValueError(f"channel must have the shape of the design channel {expected} ({layout}), got {got}")
    return as_channel("channel", torch.as_tensor(value), device)


#: The SNRs (dB) a link accepts, besides ``inf`` (noiseless). Beyond them nothing meaningful is
#: left to compute: at -100 dB the noise is 10^10 times the signal (every method returns the
#: training mean), and noise variances far outside this range overflow float32 in the designs
#: (NaN estimates at -1000 dB).
SNR_DB_RANGE = (-100.0, 100.0)


def as_snr_db(value) -> torch.Tensor:
    """SNR in dB as a float64 tensor; numbers, sequences and tensors of numbers in
    :data:`SNR_DB_RANGE` only (``inf``: noiseless).

    Raises:
        ValueError: a string, a NaN, ``-inf`` or a value outside :data:`SNR_DB_RANGE`.
    """
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise ValueError(f"snr_db must be a number in dB (or inf for no noise), or one number per configuration; got {value!r}")
    if isinstance(value, Sequence) and any(isinstance(v, (str, bytes, bool)) or v is None for v in value):
        raise ValueError(f"snr_db must hold numbers in dB, got {value!r}")
    try:
        snr = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"snr_db must be a number in dB or one number per configuration, got {value!r}") from None
    low, high = SNR_DB_RANGE
    if torch.isnan(snr).any() or (snr < low).any() or ((snr > high) & ~torch.isinf(snr)).any():
        shown = snr.flatten().tolist() if snr.ndim else snr.item()
        raise ValueError(f"snr_db must be a number in [{low:g}, {high:g}] dB, or inf for no noise; got {shown}")
    return snr.cpu()


def _warn_if_silent(channel: torch.Tensor, name: str) -> None:
    """Warn about configurations whose channel is all zero: nothing reaches the receiver, so every
    method can only return its training mean (allowed, e.g. to measure that floor, but rarely meant)."""
    silent = (channel.abs().flatten(-2).amax(-1) == 0).reshape(-1)
    if bool(silent.any()):
        warnings.warn(
            f"{name} is all zero in {int(silent.sum())} of {silent.numel()} configurations: nothing reaches the receiver, "
            "so the estimates there will be the training mean",
            RuntimeWarning, stacklevel=3,
        )  # fmt: skip


class Link:
    """Channel(s), SNR, power and channel uses of a MIMO link, and the one way symbols cross it.

    Args:
        channel: complex ``(n_rx, n_tx)`` or ``(..., n_rx, n_tx)`` per-use channel(s) H the symbols go
            through; stored as complex128.
        snr_db: SNR in dB under ``snr_convention``: a number, or a tensor that broadcasts against the
            channel's leading shape (e.g. ``(b,)`` for b configurations); ``inf`` means noiseless.
        power: energy P per latent vector, spread over ``channel_uses`` x ``n_tx`` symbols.
        snr_convention: ``"total"`` (default) or ``"per-antenna"`` (:mod:`semalign.link.noise`).
        channel_variance: variance v of each channel entry (enters the ``"total"`` noise level).
        channel_uses: T channel uses per latent vector.
        design_channel: the channel a design sees (same shape as ``channel``); default: ``channel``
            itself (perfect channel knowledge).
        csi_error: the fraction ε in [0, 1] of the channel's power the design channel misses: the
            true channel is the design channel plus an error of entries CN(0, ε v) (the error model of
            :mod:`semalign.link.csi`). Robust designs average over that error; others ignore it.
        subcarriers: S > 1 for a frequency-selective link whose channel is block diagonal over S
            subcarriers (:meth:`from_subcarriers`): each block row hears only its subcarrier's share of
            a latent's energy, so the noise level is that of S x ``channel_uses`` uses of an
            ``(n_rx / S, n_tx / S)`` channel (every SNR convention means what it means on a flat
            link). With several ``transmitters``, each transmitter's column block is its own
            diag(H_1, ..., H_S). Its CSI error is diag(D_1, ..., D_S), independent per subcarrier
            (per-subcarrier estimates), with ``channel_uses=1``.
        transmitters: transmitters sharing the ``n_tx`` columns (1 for a point-to-point link; Q for the
            view of a receiver of an interference network, whose columns are every transmitter's
            antennas side by side). Each transmitter has ``n_tx / transmitters`` antennas and the
            budget ``power``; the per-antenna convention counts one transmitter's antennas.
        device: where the channels live (default: the channel's device).

    A link does not change once made (:meth:`replace` makes another).

    Attributes:
        channel: ``(..., n_rx, n_tx)`` complex128, the true channel.
        design_channel: ``(..., n_rx, n_tx)`` complex128, what a design is fitted for.
        snr_db: float64 tensor (the given shape), on the CPU.
    """

    #: Caches that are rebuilt on demand and never saved.
    _transient = ("_real_lifted", "_noise")
    #: Links saved before frequency-selective links existed are flat.
    subcarriers = 1

    def __init__(
        self,
        channel,
        snr_db: float | Sequence[float] | torch.Tensor = 20.0,
        power: float = 1.0,
        *,
        snr_convention: str = "total",
        channel_variance: float = 1.0,
        channel_uses: int = 1,
        design_channel=None,
        csi_error: float = 0.0,
        subcarriers: int = 1,
        transmitters: int = 1,
        device: str | torch.device | None = None,
    ) -> None:
        self.channel = as_channel("channel", channel, device)
        self.design_channel = self.channel if design_channel is None else as_channel("design_channel", design_channel, self.channel.device)
        if self.design_channel.shape != self.channel.shape:
            raise ValueError(
                f"design_channel must have the shape of channel {tuple(self.channel.shape)}, got {tuple(self.design_channel.shape)}"
            )
        _warn_if_silent(self.channel, "channel")
        if design_channel is not None:
            _warn_if_silent(self.design_channel, "design_channel")
        self.snr_db = as_snr_db(snr_db)
        try:
            torch.broadcast_shapes(self.snr_db.shape, self.batch_shape)
        except RuntimeError:
            raise ValueError(
                f"snr_db of shape {tuple(self.snr_db.shape)} does not match the channel's configurations {tuple(self.batch_shape)}; "
                "give one number, or one per configuration"
            ) from None
        self.power = check_positive("power", power)
        self.snr_convention = check_snr_convention(snr_convention)
        self.channel_variance = check_positive("channel_variance", channel_variance)
        self.channel_uses = check_positive_int("channel_uses", channel_uses)
        self.transmitters = check_positive_int("transmitters", transmitters)
        self.csi_error = check_csi_error(csi_error)
        if self.channel.shape[-1] % self.transmitters:
            raise ValueError(f"the channel's {self.channel.shape[-1]} transmit columns do not split into {self.transmitters} transmitters")
        self.subcarriers = check_positive_int("subcarriers", subcarriers)
        if self.subcarriers > 1:
            if self.channel.shape[-2] % self.subcarriers or self.channel.shape[-1] % self.subcarriers:
                raise ValueError(f"a channel of shape {tuple(self.channel.shape)} does not split into {self.subcarriers} subcarrier blocks")
            if self.csi_error > 0 and self.channel_uses > 1:
                raise ValueError("csi_error on a frequency-selective link needs channel_uses=1 (one use of its subcarriers, each with its own error)")

    @classmethod
    def from_subcarriers(cls, channels, snr_db=20.0, power: float = 1.0, **settings) -> Link:
        """The link of an OFDM channel given per subcarrier.

        Args:
            channels: complex ``(S, n_rx, n_tx)`` or ``(..., S, n_rx, n_tx)``: H_s on each of the S
                subcarriers a latent's symbols use (e.g. :func:`~semalign.link.channel.ofdm_channel`).
            snr_db, power, settings: as for :class:`Link` (``channel_uses`` repeats the S
                subcarriers over time; ``design_channel`` is given per subcarrier too).

        Returns:
            a link with channel diag(H_1, ..., H_S) ``(..., S n_rx, S n_tx)`` and ``subcarriers=S``.
        """
        if settings.get("transmitters", 1) != 1:
            raise ValueError("Link.from_subcarriers makes a one-transmitter link; for several, give Link each transmitter's diag(H_1, ..., H_S) side by side with subcarriers=S")
        h = as_channel("channels", channels, settings.get("device"))
        if h.ndim < 3:
            raise ValueError(f"channels must have shape (S, n_rx, n_tx) or (..., S, n_rx, n_tx), got shape {tuple(h.shape)}")
        if settings.get("design_channel") is not None:
            settings["design_channel"] = subcarrier_block_diagonal(as_channel("design_channel", settings["design_channel"], h.device))
        return cls(subcarrier_block_diagonal(h), snr_db, power, subcarriers=h.shape[-3], **settings)

    # ---------------------------------------------------------------- sizes
    @property
    def device(self) -> torch.device:
        return self.channel.device

    @property
    def batch_shape(self) -> torch.Size:
        """Leading shape of the channel (configurations or receivers); ``()`` for one matrix."""
        return self.channel.shape[:-2]

    @property
    def n_rx(self) -> int:
        """Receive antennas."""
        return self.channel.shape[-2]

    @property
    def n_tx(self) -> int:
        """Transmit antennas of one transmitter (times the subcarriers on a frequency-selective
        link: the channel matrix's inputs per use)."""
        return self.channel.shape[-1] // self.transmitters

    @property
    def symbols_per_latent(self) -> int:
        """Complex symbols one transmitter sends per latent: T x n_tx."""
        return self.channel_uses * self.n_tx

    def compression_factor(self, d_tx: int) -> float:
        """Percent of transmitted complex symbols per complex latent entry: 100 T N_t / ceil(d_tx/2)."""
        return 100.0 * self.symbols_per_latent / complex_dim(d_tx)

    def check_latent_size(self, d_tx: int) -> None:
        """Raise ``ValueError`` if T x N_t exceeds the complex latent size ceil(d_tx / 2)."""
        m = complex_dim(d_tx)
        if self.symbols_per_latent > m:
            raise ValueError(
                f"channel_uses x n_tx = {self.channel_uses} x {self.n_tx} = {self.symbols_per_latent} symbols "
                f"exceeds the complex latent size ceil(d_tx/2) = {m} (d_tx = {d_tx}); use fewer antennas or channel uses"
            )

    # ---------------------------------------------------------------- noise
    def error_variance(self) -> float:
        """Variance ε v of each entry of the channel error a robust design averages over."""
        return self.csi_error * self.channel_variance

    def error_blocks(self) -> tuple[int, bool]:
        """How the channel error repeats over a latent's lifted channel, as
        :func:`~semalign.link.csi.error_covariance` takes it: ``(T, False)``, the T uses share one
        error D; on a frequency-selective link ``(S, True)``, each subcarrier has its own D_s."""
        return (self.subcarriers, True) if self.subcarriers > 1 else (self.channel_uses, False)

    def noise_variance(self) -> torch.Tensor:
        """Complex noise variance sigma^2 per receive antenna per channel use: float64, the shape of
        ``snr_db`` (on the link's device)."""
        return self._noise_level()[0].clone()

    def _noise_level(self) -> tuple[torch.Tensor, bool]:
        """``(sigma^2, any sigma^2 > 0)``, computed once (a link's settings do not change; neural
        training sends every minibatch through it)."""
        if "_noise" not in self.__dict__:
            s = self.subcarriers  # S subcarriers count as S uses of the per-subcarrier channel
            sigma2 = noise_variance(
                self.snr_db, power=self.power, n_tx=self.n_tx // s, channel_uses=self.channel_uses * s,
                channel_variance=self.channel_variance, convention=self.snr_convention, n_rx=self.n_rx // s,
            ).to(self.device)  # fmt: skip
            self._noise = (sigma2, bool((sigma2 > 0).any()))
        return self._noise

    # ---------------------------------------------------------------- views
    def replace(self, **changes) -> Link:
        """A copy with some constructor arguments changed (e.g. ``snr_db``, ``channel``)."""
        settings = dict(
            channel=self.channel, snr_db=self.snr_db, power=self.power, snr_convention=self.snr_convention,
            channel_variance=self.channel_variance, channel_uses=self.channel_uses, transmitters=self.transmitters,
            design_channel=None if self.design_channel is self.channel else self.design_channel,
            csi_error=self.csi_error, subcarriers=self.subcarriers,
        )  # fmt: skip
        if "channel" in changes and "design_channel" not in changes:
            settings["design_channel"] = None
        settings.update(changes)
        return Link(**settings)

    def design_view(self, awareness: str = "aware") -> Link:
        """The link a design is fitted on: ``"aware"``: the design channel, with this link's noise;
        ``"unaware"``: an identity channel without noise (the design then meets the real channel only
        when it transmits)."""
        if awareness == "aware":
            if self.design_channel is self.channel:
                return self
            return self.replace(channel=self.design_channel)
        if awareness != "unaware":
            raise ValueError(f"unknown awareness {awareness!r}; expected 'aware' or 'unaware'")
        eye = torch.eye(self.n_rx, self.channel.shape[-1], dtype=self.channel.dtype, device=self.device)
        return self.replace(channel=eye.expand_as(self.channel), snr_db=torch.full(self.snr_db.shape, math.inf, dtype=torch.float64))

    def map_channels(self, function, **changes) -> Link:
        """A copy whose channel and design channel are ``function(channel)`` (e.g. moved to a device,
        indexed); a design channel that *is* the channel stays so."""
        design = None if self.design_channel is self.channel else function(self.design_channel)
        return self.replace(channel=function(self.channel), design_channel=design, **changes)

    def select(self, index) -> Link:
        """The link of one leading index (e.g. one user of a downlink), or of several (a list)."""
        snr = self.snr_db if self.snr_db.ndim == 0 else self.snr_db.expand(self.batch_shape)[index]
        return self.map_channels(lambda h: h[index], snr_db=snr)

    def lifted(self, *, real: bool = False, dtype: torch.dtype | None = None) -> torch.Tensor:
        """I_T (x) H ``(..., T n_rx, T n_tx)`` of the channel (``real``: its real composite
        ``(..., 2 T n_rx, 2 T n_tx)``), in ``dtype`` (complex, or the real dtype of the composite;
        default double precision). A design's lifted channel is its view's: ``design_view().lifted()``."""
        if not real:
            return block_diagonal_channel(self.channel.to(dtype or _CHANNEL_DTYPE), self.channel_uses)
        cache = self.__dict__.setdefault("_real_lifted", {})  # neural training reuses it every batch
        key = dtype or torch.float64
        if key not in cache:
            cache[key] = real_composite(block_diagonal_channel(self.channel, self.channel_uses)).to(key)
        return cache[key]

    # ---------------------------------------------------------------- send
    def send(
        self,
        symbols: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        noise: bool = True,
        channel: torch.Tensor | None = None,
        split: bool = False,
        independent_noise: bool = False,
        generator_of: torch.Tensor | None = None,
        noise_precision: torch.dtype | None = None,
        channel_errors: bool = False,
    ) -> torch.Tensor:
        """y = H s + w over the T channel uses of each latent.

        Args:
            symbols: complex ``(..., n, T * n_tx_total)`` channel symbols (``split``: real
                ``(..., n, 2 T n_tx_total)`` ``[Re s | Im s]``); the leading axes broadcast against the
                channel's.
            generator: the noise source (required when noise is added; never the global one).
            noise: add AWGN at the link's noise level (``False``: the noiseless H s).
            channel: send through this ``(..., n_rx, n_tx)`` channel instead of :attr:`channel`
                (e.g. the design channel, or a changed one); the link's noise level is kept.
            split: symbols and output in the real split layout, through the real composite of
                I_T (x) H (the layout of widely linear maps and neural training); noise sigma^2/2 per
                real component.
            independent_noise: draw noise separately for every leading index (independent receivers)
                instead of one draw shared by every configuration.
            generator_of: with a list of generators, the generator ``(b,)`` of each configuration
                (leading index): each generator draws once and its configurations share that draw
                (fits of different seeds trained as one batch, each with its own noise stream).
            noise_precision: real dtype the unit noise is drawn in, then cast to the symbols'
                precision (default: the symbols' own). A fixed one makes the draw independent of
                the symbols' precision: the single-link estimators draw in float32, so float32 and
                float64 latents see the same noise.
            channel_errors: send every latent through its own channel drawn around the one used:
                H + D with D of entries CN(0, ``csi_error`` v), drawn for each latent (shared by its
                T uses; on a frequency-selective link only in each subcarrier's block, each
                subcarrier with its own) from ``generator`` before the noise. Robust training uses it to see the
                channels the design channel stands for; without ``csi_error`` it changes nothing.

        Returns:
            received symbols ``(..., n, T * n_rx)`` in the symbols' precision (``split``: real
            ``(..., n, 2 T n_rx)``).
        """
        t = self.channel_uses
        if channel is not None:
            channel = as_channel("channel", channel, self.device)
            if channel.shape[-2:] != self.channel.shape[-2:]:
                raise ValueError(f"channel must have {tuple(self.channel.shape[-2:])} antennas (n_rx, n_tx) like the link's, got shape {tuple(channel.shape)}")
        if split:
            h = self.lifted(real=True, dtype=symbols.dtype) if channel is None else real_composite(
                block_diagonal_channel(channel.to(self.channel.dtype), t)).to(symbols.dtype)  # fmt: skip
            received = symbols @ h.to(symbols.device).mT
        else:
            h = self.channel if channel is None else channel
            cdtype = symbols.dtype if symbols.is_complex() else h.dtype
            per_use = symbols.to(cdtype).reshape(*symbols.shape[:-1], t, h.shape[-1])  # (..., n, T, n_tx)
            received = (per_use @ h.to(device=symbols.device, dtype=cdtype).mT.unsqueeze(-3))  # (..., n, T, n_rx)
            received = received.reshape(*received.shape[:-2], t * h.shape[-2])
        if channel_errors and self.csi_error > 0:
            if generator is None:
                raise ValueError("Link.send needs a generator to draw channel errors (semalign never draws from the global RNG)")
            received = received + self._channel_error_term(symbols, split, generator, generator_of)
        if not noise:
            return received
        sigma2, noisy = self._noise_level()
        if not noisy:
            return received
        if generator is None:
            raise ValueError("Link.send needs a generator for the noise (semalign never draws from the global RNG)")
        real_dtype = received.real.dtype if received.is_complex() else received.dtype
        draw_real = noise_precision or real_dtype
        draw_complex = torch.complex128 if draw_real == torch.float64 else torch.complex64
        if isinstance(generator, (list, tuple)):
            return self._add_grouped_noise(received, sigma2, generator, generator_of, split, draw_real, draw_complex)
        shape = received.shape if independent_noise else received.shape[-2:]
        sigma2 = sigma2.reshape(*sigma2.shape, 1, 1) if sigma2.ndim else sigma2  # over (n, symbols)
        if split:
            # Real and imaginary parts each N(0, sigma^2 / 2).
            std = (sigma2.to(device=received.device, dtype=real_dtype) / 2).sqrt()
            unit = torch.randn(tuple(shape), generator=generator, device=generator.device, dtype=draw_real)
            return received + std * unit.to(received.device, real_dtype)
        # One complex unit draw (real and imaginary parts N(0, 1/2)), use-major like the symbols.
        std = sigma2.sqrt().to(device=received.device, dtype=real_dtype)
        unit = complex_awgn(tuple(shape), 1.0, generator=generator, dtype=draw_complex, device=generator.device)
        return received + unit.to(received.device, received.dtype) * std

    def _channel_error_term(self, symbols: torch.Tensor, split: bool, generator, generator_of) -> torch.Tensor:
        """D s per latent and use: D ``(n, n_rx, n_tx)`` of entries CN(0, ε v), one per latent (its
        T uses share it), in the layout of the received symbols. Like the noise, one draw per
        generator, shared by the configurations that use it (so a configuration's draws do not
        depend on what else is in its batch)."""
        t = self.channel_uses
        if split:
            half = symbols.shape[-1] // 2
            symbols = torch.complex(symbols[..., :half], symbols[..., half:])
        per_use = symbols.reshape(*symbols.shape[:-1], t, -1)  # (..., n, T, n_tx)
        shape = (symbols.shape[-2], self.n_rx, per_use.shape[-1])  # (n, n_rx, n_tx)
        cdtype = torch.complex128 if symbols.real.dtype == torch.float64 else torch.complex64

        mask = self._subcarrier_mask(cdtype, symbols.device)

        def draw(g: torch.Generator) -> torch.Tensor:
            error = complex_awgn(shape, self.error_variance(), generator=g, dtype=cdtype, device=g.device).to(symbols.device)
            return error if mask is None else error * mask  # each subcarrier's own error, none across them

        if isinstance(generator, (list, tuple)):
            if generator_of is None or generator_of.shape != symbols.shape[:1]:
                raise ValueError("a list of generators needs generator_of: one generator index per configuration (b,) of (b, n, m) symbols")
            errors = torch.stack([draw(g) for g in generator])[generator_of.to(symbols.device)]  # (b, n, n_rx, n_tx)
        else:
            errors = draw(generator)
        term = (per_use @ errors.mT).reshape(*symbols.shape[:-1], t * self.n_rx)  # (..., n, T n_rx)
        return torch.cat([term.real, term.imag], dim=-1) if split else term.to(symbols.dtype)

    def _subcarrier_mask(self, dtype: torch.dtype, device) -> torch.Tensor | None:
        """``(n_rx, n_tx)`` ones on each transmitter's subcarrier blocks, zeros elsewhere (``None`` on
        a flat link): where a frequency-selective channel, and so its error, can be non-zero."""
        s = self.subcarriers
        if s == 1:
            return None
        blocks = torch.ones(s, self.n_rx // s, self.n_tx // s, dtype=dtype, device=device)
        return subcarrier_block_diagonal(blocks).repeat(1, self.transmitters)

    def _add_grouped_noise(self, received, sigma2, generators, generator_of, split: bool, draw_real, draw_complex) -> torch.Tensor:
        """``received`` ``(b, n, m)`` plus noise: one unit draw per generator, configuration i taking
        the draw of ``generators[generator_of[i]]``, scaled by its noise level."""
        if generator_of is None or generator_of.shape != received.shape[:1] or len(received.shape) != 3:
            raise ValueError("a list of generators needs generator_of: one generator index per configuration (b,) of (b, n, m) symbols")
        real_dtype = received.real.dtype if received.is_complex() else received.dtype
        if split:
            units = [torch.randn(tuple(received.shape[-2:]), generator=g, device=g.device, dtype=draw_real) for g in generators]
            std = (sigma2.to(device=received.device, dtype=real_dtype) / 2).sqrt()
        else:
            units = [complex_awgn(tuple(received.shape[-2:]), 1.0, generator=g, dtype=draw_complex, device=g.device) for g in generators]
            std = sigma2.sqrt().to(device=received.device, dtype=real_dtype)
        unit = torch.stack(units).to(received.device, received.dtype)[generator_of.to(received.device)]
        return received + unit * std.reshape(-1, 1, 1)
