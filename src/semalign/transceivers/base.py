"""What every single-link semantic transceiver shares: its link, input checks and transmission.

A transceiver maps a transmitter latent x (real, d_tx) to T x N_t complex channel symbols (the
precoder), sends them through its :class:`~semalign.link.Link` (T uses of the quasi-static channel
H with AWGN) and maps the T x N_r received symbols to an estimate of the receiver latent y (real,
d_rx) (the decoder). Subclasses fit the precoder and decoder; this base class builds the link from
the hyper-parameters at ``fit``, checks inputs and transmits.

Conventions: channels ``(n_rx, n_tx)`` or a batch ``(b, n_rx, n_tx)`` of b configurations
fitted at once; latents batch first; the noise variance follows the named SNR convention of
:mod:`semalign.link.noise`; ``awareness="unaware"`` fits on an identity channel without noise and
transmits over the real one (:meth:`~semalign.link.Link.design_view`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from semalign._checks import as_real_matrix, check_choice
from semalign._estimator import Estimator, NotFittedError
from semalign._seeds import check_seed
from semalign._vocabulary import AWARENESS
from semalign.link.csi import check_csi_error
from semalign.link.link import LINK_DEFAULTS, Link, as_snr_db, as_true_channel, same_setting

__all__ = ["AWARENESS", "NotFittedError", "SemanticTransceiver"]


class SemanticTransceiver(Estimator):
    """Base class: the link, validation and the noisy channel.

    Args:
        channel: complex ``(n_rx, n_tx)`` channel matrix, or ``(b, n_rx, n_tx)`` to fit b configurations.
        snr_db: SNR in dB under ``snr_convention``; a scalar or one value per configuration ``(b,)``;
            ``inf`` means noiseless.
        power: energy P per latent vector, spread over ``channel_uses`` x n_tx symbols.
        snr_convention: ``"total"`` (default) or ``"per-antenna"`` (see :mod:`semalign.link.noise`).
        channel_variance: variance v of the channel entries (enters the ``"total"`` noise level).
        channel_uses: channel uses T per latent vector.
        awareness: ``"aware"`` (fit with the link's design channel and noise) or ``"unaware"`` (fit on
            an identity channel without noise, transmit over the true one).
        csi_error: the fraction ε in [0, 1] of the channel's power that ``channel`` (the estimate the
            design knows) misses; the true channel is ``channel`` plus an error of entries CN(0, ε v)
            (:mod:`semalign.link.csi`). Only robust designs use it.
        robust: design for the channels the estimate stands for, averaging over the CSI error
            (linear ADMM: in closed form; the neural model and the baselines: by training on
            pilots that each cross their own channel drawn around the estimate). ``False``: design
            for the estimate as if it were exact.
        seed: seeds the initialisation and the default transmit-noise generator.
        device: where tensors live (``"cpu"`` or ``"cuda"``); defaults to the channel's device.
        link: a :class:`~semalign.link.Link` to use instead of ``channel`` and the link keywords
            (``channel`` must then be ``None`` and the keywords left at their defaults).

    Attributes (after ``fit``):
        link_: the :class:`~semalign.link.Link` the transceiver was fitted for and transmits through
            (its channel always has a configuration axis b).
        d_tx_, d_rx_: latent dimensions.
    """

    method: str = "base"
    fit_marker = "link_"  # set when a fit succeeds
    _fit_call, _transmit_call = "fit(x, y)", "transmit(x)"
    _private_state = ("_batched",)

    def __init__(
        self,
        channel: torch.Tensor | None = None,
        snr_db: float | Sequence[float] | torch.Tensor = 20.0,
        power: float = 1.0,
        *,
        snr_convention: str = "total", channel_variance: float = 1.0, channel_uses: int = 1,  # the link
        awareness: str = "aware",
        csi_error: float = 0.0,
        robust: bool = False,
        seed: int = 0,
        device: str | torch.device | None = None,
        link: Link | None = None,
    ) -> None:
        self._set_params(locals())
        self._validate()  # every setting is checked now, and again at fit

    def _validate(self) -> None:
        """Check every hyper-parameter (subclasses add theirs) and rebuild the link from them."""
        self._link, self._pending_batched = self._make_link()

    # ------------------------------------------------------------------ link
    def _make_link(self) -> tuple[Link, bool]:
        """The link of the current hyper-parameters, with a configuration axis b, and whether the
        channel was given with that axis (transmit then keeps it)."""
        check_choice("awareness", self.awareness, AWARENESS)
        check_seed("seed", self.seed)
        self.csi_error = check_csi_error(self.csi_error)
        if not isinstance(self.robust, (bool, np.bool_)):
            raise ValueError(f"robust must be True or False, got {self.robust!r}")
        self.robust = bool(self.robust)
        device = _device(self.device)
        if self.link is not None:
            if not isinstance(self.link, Link):
                raise ValueError(f"link must be a semalign.link.Link, got {type(self.link).__name__}")
            changed = [k for k, v in LINK_DEFAULTS.items() if not same_setting(getattr(self, k), v)]
            if self.channel is not None or changed:
                raise ValueError(f"give either link= or channel and the link keywords, not both (got link and {', '.join(['channel'] * (self.channel is not None) + changed)})")
            link = self.link
            h = link.channel
            if device is not None and link.device != device:
                link = link.map_channels(lambda h: h.to(device))
        else:
            if self.channel is None:
                raise ValueError("channel is required: a complex (n_rx, n_tx) or (b, n_rx, n_tx) tensor (or give link=)")
            try:
                h = self.channel if isinstance(self.channel, torch.Tensor) else torch.as_tensor(self.channel)
            except (TypeError, ValueError, RuntimeError):
                raise ValueError(f"channel must be a complex (n_rx, n_tx) or (b, n_rx, n_tx) tensor, got {type(self.channel).__name__}") from None
            link = None
        if h.ndim not in (2, 3):
            raise ValueError(f"channel must have shape (n_rx, n_tx) or (b, n_rx, n_tx), got shape {tuple(h.shape)}")
        batched = h.ndim == 3
        b = h.shape[0] if batched else 1
        if link is None:
            link = Link(
                h if batched else h.unsqueeze(0), _per_configuration(self.snr_db, b), self.power,
                snr_convention=self.snr_convention, channel_variance=self.channel_variance,
                channel_uses=self.channel_uses, device=device,
            )  # fmt: skip
        else:
            if not batched:
                link = link.map_channels(lambda h: h.unsqueeze(0))
            if link.snr_db.shape != (b,):
                link = link.replace(snr_db=_per_configuration(link.snr_db, b))
        if self.csi_error != link.csi_error and self.csi_error != 0.0:  # a non-zero keyword replaces a link='s own
            link = link.replace(csi_error=self.csi_error)
        return link, batched

    @property
    def device_(self) -> torch.device:
        return self._current_link().device

    def _current_link(self) -> Link:
        return self.link_ if hasattr(self, "link_") else self._link

    @property
    def n_rx(self) -> int:
        return self._current_link().n_rx

    @property
    def n_tx(self) -> int:
        return self._current_link().n_tx

    @property
    def n_configurations(self) -> int:
        """Number b of configurations fitted at once (1 for an unbatched channel)."""
        return self._current_link().channel.shape[0]

    def noise_variance(self) -> torch.Tensor:
        """``(b,)`` complex noise variance sigma^2 per receive antenna per channel use on the true link."""
        return self._current_link().noise_variance()

    def _design_link(self) -> Link:
        """The link the transceiver is fitted on (:meth:`~semalign.link.Link.design_view`)."""
        return self._current_link().design_view(self.awareness)

    def _training_link(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Channel ``(b, n_rx, n_tx)`` and noise variance ``(b,)`` seen while fitting."""
        design = self._design_link()
        return design.channel, design.noise_variance()

    def check_antennas(self, d_tx: int) -> None:
        """Raise ``ValueError`` if T x N_t exceeds the complex latent size ceil(d_tx / 2)."""
        self._current_link().check_latent_size(d_tx)

    def compression_factor(self, d_tx: int) -> float:
        """Percent of transmitted complex symbols per complex latent entry: 100 T N_t / ceil(d_tx/2)."""
        return self._current_link().compression_factor(d_tx)

    # --------------------------------------------------------------- fitting
    def _start_fit(self) -> None:
        """Check the hyper-parameters again and rebuild the link from them, so a changed ``snr_db``
        (or any other setting) takes effect at this fit; until the fit succeeds the estimator is
        not fitted (a failed refit leaves no mix of old and new state in use)."""
        self._validate()
        self.__dict__.pop(self.fit_marker, None)

    def _finish_fit(self) -> "SemanticTransceiver":
        """Mark the fit done: the link it was fitted for is the one it transmits through."""
        self.link_, self._batched = self._link, self._pending_batched
        return self

    def _check_fit_inputs(self, x, y) -> tuple[torch.Tensor, torch.Tensor]:
        self._start_fit()
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

    # ------------------------------------------------------------ transmit
    def _precode(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, d_tx)`` latents -> ``(b, n, T * n_tx)`` complex channel symbols."""
        raise NotImplementedError

    def _decode(self, r: torch.Tensor) -> torch.Tensor:
        """``(b, n, T * n_rx)`` received symbols -> ``(b, n, d_rx)`` receiver latents."""
        raise NotImplementedError

    def symbols(self, x) -> torch.Tensor:
        """Channel symbols ``(n, T * n_tx)`` (or ``(b, n, T * n_tx)``) sent for latents ``x`` ``(n, d_tx)``."""
        self._check_fitted()
        s = self._precode(self._check_transmit_input(x))
        return s if self._batched else s[0]

    def _check_transmit_input(self, x) -> torch.Tensor:
        x = as_real_matrix("x", x).to(self.device_)
        if x.shape[-1] != self.d_tx_:
            raise ValueError(f"x has {x.shape[-1]} features but the transceiver was fitted on d_tx = {self.d_tx_}")
        return x

    def received(self, x, *, noise: bool = True, generator: torch.Generator | None = None, channel=None) -> torch.Tensor:
        """Receiver-side channel output r = H s + w for latents ``x`` ``(n, d_tx)``, through the
        design's channel or ``channel`` (the true one, when the design knew an estimate).

        Returns:
            ``(b, n, T * n_rx)`` complex symbols (complex64 for float32 latents, complex128 for float64),
            T channel uses of n_rx antennas each (always with the configuration axis b).
        """
        self._check_fitted()
        s = self._precode(self._check_transmit_input(x))  # (b, n, T * n_tx)
        # The symbols' precision is kept (complex64 for float32 latents): the per-sample pass is the cost.
        s = s if s.dtype in (torch.complex64, torch.complex128) else s.to(torch.complex128)
        gen = generator if generator is not None else self._default_generator(self.device_)
        # Noise drawn in single precision whatever the latents' precision: the same generator gives
        # the same noise to float32 and float64 latents.
        return self.link_.send(s, generator=gen, noise=noise, noise_precision=torch.float32, channel=self._true_channel(channel))

    def _true_channel(self, channel) -> torch.Tensor | None:
        """``channel`` in the link's ``(b, n_rx, n_tx)`` layout, or ``ValueError`` unless it has the
        shape of the channel the transceiver was designed for."""
        if channel is None:
            return None
        expected = self.link_.channel.shape if self._batched else self.link_.channel.shape[1:]
        h = as_true_channel(channel, expected, "n_rx, n_tx per configuration", self.link_.device)
        return h if self._batched else h.unsqueeze(0)

    def transmit(self, x, *, noise: bool = True, generator: torch.Generator | None = None, channel=None) -> torch.Tensor:
        """Send transmitter latents over the link and return the receiver-space estimate.

        Args:
            x: ``(n, d_tx)`` real transmitter latents.
            noise: add AWGN at the configured SNR (``False`` gives the noiseless output).
            generator: noise source; by default a fresh generator seeded from ``seed`` (repeated calls
                give the same estimates).
            channel: the channel the symbols go through, of the design channel's shape ``(n_rx,
                n_tx)`` (or ``(b, n_rx, n_tx)``); default: the design channel (perfect knowledge).
                The noise level stays the link's.

        Returns:
            ``(n, d_rx)`` float32 estimates ŷ, or ``(b, n, d_rx)`` for a batch of configurations.
        """
        y_hat = self._decode(self.received(x, noise=noise, generator=generator, channel=channel)).to(torch.float32)
        return y_hat if self._batched else y_hat[0]


def _device(device) -> torch.device | None:
    """``device`` as a ``torch.device`` (``None`` stays), or ``ValueError`` naming it."""
    if device is None:
        return None
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}") from None




def _per_configuration(snr_db, b: int):
    """``snr_db`` as one value per configuration ``(b,)`` (a number is repeated)."""
    snr = as_snr_db(snr_db).flatten()
    if snr.numel() == 1:
        return snr.expand(b).clone()
    if snr.numel() != b:
        raise ValueError(f"snr_db must be a number or one value per channel configuration ({b}), got {snr_db!r}")
    return snr
