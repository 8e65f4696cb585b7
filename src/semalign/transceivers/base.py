"""What every single-link semantic transceiver shares: the link it is fitted for and transmission.

A transceiver maps a transmitter latent x (real, d_tx) to T x N_t complex channel symbols (the
precoder), sends them over T uses of the quasi-static channel H with AWGN, and maps the T x N_r
received symbols to an estimate of the receiver latent y (real, d_rx) (the decoder). Subclasses fit
the precoder and decoder; this base class validates the link, draws noise and runs the channel.

Conventions (DESIGN.md): channels ``(n_rx, n_tx)`` or a batch ``(b, n_rx, n_tx)`` of b configurations
fitted at once; latents batch first; the noise variance follows the named SNR convention of
:mod:`semalign.link.noise`; ``awareness="unaware"`` fits on an identity channel without noise and
transmits over the real one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from semalign._checks import as_real_matrix, check_choice, check_finite, check_positive, check_positive_int
from semalign.link.noise import check_snr_convention, complex_awgn, noise_variance
from semalign.link.packing import complex_dim

AWARENESS = ("aware", "unaware")


class NotFittedError(RuntimeError):
    """Raised when ``transmit`` is called before ``fit``."""


class SemanticTransceiver:
    """Base class: link parameters, validation and the noisy channel.

    Args:
        channel: complex ``(n_rx, n_tx)`` channel matrix, or ``(b, n_rx, n_tx)`` to fit b configurations.
        snr_db: SNR in dB under ``snr_convention``; a scalar or one value per configuration ``(b,)``;
            ``inf`` means noiseless.
        power: energy P per latent vector, spread over ``channel_uses`` x n_tx symbols.
        snr_convention: ``"total"`` (default) or ``"per-antenna"`` (see :mod:`semalign.link.noise`).
        channel_variance: variance v of the channel entries (enters the ``"total"`` noise level).
        channel_uses: channel uses T per latent vector.
        awareness: ``"aware"`` (fit with the true channel and noise) or ``"unaware"`` (fit on an
            identity channel without noise, transmit over the true one).
        seed: seeds the initialisation and the default transmit-noise generator.
        device: where tensors live (``"cpu"`` or ``"cuda"``); defaults to the channel's device.
    """

    method: str = "base"

    def __init__(
        self,
        channel: torch.Tensor,
        snr_db: float | Sequence[float] | torch.Tensor = 20.0,
        power: float = 1.0,
        *,
        snr_convention: str = "total",
        channel_variance: float = 1.0,
        channel_uses: int = 1,
        awareness: str = "aware",
        seed: int = 0,
        device: str | torch.device | None = None,
    ) -> None:
        self.channel = channel
        self.snr_db = snr_db
        self.power = power
        self.snr_convention = snr_convention
        self.channel_variance = channel_variance
        self.channel_uses = channel_uses
        self.awareness = awareness
        self.seed = seed
        self.device = device
        self._validate_link()

    # ------------------------------------------------------------------ link
    def _validate_link(self) -> None:
        h = torch.as_tensor(self.channel)
        if h.ndim not in (2, 3):
            raise ValueError(f"channel must have shape (n_rx, n_tx) or (b, n_rx, n_tx), got shape {tuple(h.shape)}")
        if not (h.is_complex() or h.is_floating_point()):
            raise ValueError(f"channel must be a complex (or real floating) tensor, got dtype {h.dtype}")
        check_finite("channel", h)
        self._batched = h.ndim == 3
        self.device_ = torch.device(self.device) if self.device is not None else h.device
        self._h = (h if self._batched else h.unsqueeze(0)).to(device=self.device_, dtype=torch.complex128)
        b = self._h.shape[0]
        snr = torch.as_tensor(self.snr_db, dtype=torch.float64).flatten()
        if snr.numel() == 1:
            snr = snr.expand(b)
        if snr.numel() != b or torch.isnan(snr).any():
            raise ValueError(f"snr_db must be a number or one value per channel configuration ({b}), got {self.snr_db!r}")
        self._snr_db = snr.to(self.device_)
        check_positive("power", self.power)
        check_positive("channel_variance", self.channel_variance)
        check_positive_int("channel_uses", self.channel_uses)
        check_snr_convention(self.snr_convention)
        check_choice("awareness", self.awareness, AWARENESS)

    @property
    def n_rx(self) -> int:
        return self._h.shape[-2]

    @property
    def n_tx(self) -> int:
        return self._h.shape[-1]

    @property
    def n_configurations(self) -> int:
        """Number b of configurations fitted at once (1 for an unbatched channel)."""
        return self._h.shape[0]

    def noise_variance(self) -> torch.Tensor:
        """``(b,)`` complex noise variance sigma^2 per receive antenna per channel use on the true link."""
        return noise_variance(
            self._snr_db,
            power=float(self.power),
            n_tx=self.n_tx,
            channel_uses=int(self.channel_uses),
            channel_variance=float(self.channel_variance),
            convention=self.snr_convention,
        )

    def _training_link(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Channel ``(b, n_rx, n_tx)`` and noise variance ``(b,)`` seen while fitting."""
        if self.awareness == "aware":
            return self._h, self.noise_variance()
        eye = torch.eye(self.n_rx, self.n_tx, dtype=self._h.dtype, device=self.device_)
        return eye.expand_as(self._h), torch.zeros(self.n_configurations, dtype=torch.float64, device=self.device_)

    def check_antennas(self, d_tx: int) -> None:
        """Raise ``ValueError`` if T x N_t exceeds the complex latent size ceil(d_tx / 2)."""
        m = complex_dim(d_tx)
        if int(self.channel_uses) * self.n_tx > m:
            raise ValueError(
                f"channel_uses x n_tx = {self.channel_uses} x {self.n_tx} = {int(self.channel_uses) * self.n_tx} symbols "
                f"exceeds the complex latent size ceil(d_tx/2) = {m} (d_tx = {d_tx}); use fewer antennas or channel uses"
            )

    def compression_factor(self, d_tx: int) -> float:
        """Percent of transmitted complex symbols per complex latent entry: 100 T N_t / ceil(d_tx/2)."""
        return 100.0 * int(self.channel_uses) * self.n_tx / complex_dim(d_tx)

    # --------------------------------------------------------------- fitting
    def _check_fit_inputs(self, x, y) -> tuple[torch.Tensor, torch.Tensor]:
        x = as_real_matrix("x", x, allow_batch=True).to(self.device_)
        y = as_real_matrix("y", y, allow_batch=True).to(self.device_)
        if x.shape[-2] != y.shape[-2]:
            raise ValueError(f"x and y must have the same number of samples: got x shape {tuple(x.shape)}, y shape {tuple(y.shape)}")
        if x.shape[-2] < 2:
            raise ValueError(
                f"x and y hold {x.shape[-2]} pilot(s); expected at least 2 to estimate the latent means and covariances"
            )
        for name, t in (("x", x), ("y", y)):
            if t.ndim == 3 and t.shape[0] != self.n_configurations:
                raise ValueError(
                    f"batched {name} has {t.shape[0]} pilot sets but the channel has {self.n_configurations} configurations"
                )
        self.check_antennas(x.shape[-1])
        self.d_tx_, self.d_rx_ = x.shape[-1], y.shape[-1]
        return x, y

    def _check_fitted(self) -> None:
        if not hasattr(self, "d_rx_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(x, y) before transmit(x)")

    # ------------------------------------------------------------ transmit
    def _precode(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, d_tx)`` latents -> ``(b, n, T * n_tx)`` complex channel symbols."""
        raise NotImplementedError

    def _decode(self, r: torch.Tensor) -> torch.Tensor:
        """``(b, n, T * n_rx)`` received symbols -> ``(b, n, d_rx)`` receiver latents."""
        raise NotImplementedError

    def _noise_generator(self) -> torch.Generator:
        # A fixed stream per transceiver: repeated calls see the same noise, so results are reproducible.
        return torch.Generator(device=self.device_).manual_seed(int(self.seed) + 1_000_003)

    def symbols(self, x) -> torch.Tensor:
        """Channel symbols ``(n, T * n_tx)`` (or ``(b, n, T * n_tx)``) sent for latents ``x`` ``(n, d_tx)``."""
        self._check_fitted()
        x = self._check_transmit_input(x)
        s = self._precode(x)
        return s if self._batched else s[0]

    def _check_transmit_input(self, x) -> torch.Tensor:
        x = as_real_matrix("x", x).to(self.device_)
        if x.shape[-1] != self.d_tx_:
            raise ValueError(f"x has {x.shape[-1]} features but the transceiver was fitted on d_tx = {self.d_tx_}")
        return x

    def received(self, x, *, noise: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
        """Receiver-side channel output r = H s + w for latents ``x`` ``(n, d_tx)``.

        Returns:
            ``(b, n, T * n_rx)`` complex symbols (complex64 for float32 latents, complex128 for float64),
            T channel uses of n_rx antennas each (always with the configuration axis b).
        """
        self._check_fitted()
        x = self._check_transmit_input(x)
        s = self._precode(x)  # (b, n, T * n_tx)
        b, n = s.shape[0], s.shape[1]
        t = int(self.channel_uses)
        # The symbols' precision is kept (complex64 for float32 latents): the per-sample pass is the cost.
        s = s.reshape(b, n, t, self.n_tx)
        s = s if s.dtype in (torch.complex64, torch.complex128) else s.to(self._h.dtype)
        r = s @ self._h.to(s.dtype).mT.unsqueeze(1)  # (b, n, T, n_rx): r = H s for each channel use
        if noise:
            gen = generator if generator is not None else self._noise_generator()
            # One unit-variance draw shared by every configuration, scaled by each one's sigma
            # (common random numbers): a configuration sees the same noise alone or in any batch.
            unit = complex_awgn(tuple(r.shape[1:]), 1.0, generator=gen, dtype=r.dtype, device=gen.device).to(r.device)
            std = self.noise_variance().sqrt().view(b, 1, 1, 1).to(device=r.device, dtype=unit.real.dtype)
            r = r + unit.unsqueeze(0) * std
        return r.reshape(b, n, t * self.n_rx)

    def transmit(self, x, *, noise: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
        """Send transmitter latents over the link and return the receiver-space estimate.

        Args:
            x: ``(n, d_tx)`` real transmitter latents.
            noise: add AWGN at the configured SNR (``False`` gives the noiseless output).
            generator: noise source; by default a fixed generator seeded from ``seed``.

        Returns:
            ``(n, d_rx)`` float32 estimates ŷ, or ``(b, n, d_rx)`` for a batch of configurations.
        """
        y_hat = self._decode(self.received(x, noise=noise, generator=generator)).to(torch.float32)
        return y_hat if self._batched else y_hat[0]
