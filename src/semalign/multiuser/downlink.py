"""What every multi-user downlink scheme shares: K users' link, paired pilots, the message log.

An access point (AP) broadcasts to K users; user k has its own MIMO channel H_k. The schemes
(:class:`~semalign.multiuser.federated.FederatedDownlink` and
:class:`~semalign.multiuser.federated_baselines.FederatedFeatureBaseline`) hold one
:class:`~semalign.link.Link` whose leading axis is the users (channels ``(K, N_r, N_t)``, one SNR),
check the AP's and the users' pilots the same way, and count every message that crosses the
AP-user boundary.

Frequency-selective links. A link of S subcarriers (:meth:`~semalign.link.Link.from_subcarriers`,
e.g. the 3GPP TDL/CDL models with a latent's T uses on T subcarriers) holds each user's
block-diagonal diag(H_k,1, ..., H_k,S) ``(K, S N_r, S N_t)`` and one channel use per latent: the
schemes design for the whole band at once. Such a use is counted as S channel uses
(:func:`uses_per_latent`), so a scheme's ``channel_uses_`` and compression factor are those of T = S
uses of a flat channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from semalign._checks import as_real_matrix
from semalign._estimator import Estimator
from semalign._seeds import check_seed
from semalign.link.csi import check_csi_error
from semalign.link.link import LINK_DEFAULTS, Link, as_snr_db, as_true_channel, same_setting


def uses_per_latent(link: Link) -> int:
    """Channel uses one latent occupies on ``link``: its ``channel_uses`` T, times the subcarriers S
    of a frequency-selective link (one OFDM symbol of S subcarriers counts as S uses, as it does in
    the link's noise level and compression factor)."""
    return link.channel_uses * link.subcarriers


def _entry_bytes(tensor: torch.Tensor) -> int:
    """Bytes on the wire per entry, in single precision: complex64 (8) or float32 (4)."""
    return 8 if tensor.is_complex() else 4


@dataclass(frozen=True)
class Message:
    """One message of a protocol: who sent it to whom, in which round, and its tensors."""

    round: int
    sender: str
    receiver: str
    kind: str
    payload: dict[str, torch.Tensor] = field(repr=False)

    @property
    def entries(self) -> int:
        return sum(t.numel() for t in self.payload.values())

    @property
    def bytes(self) -> int:
        return sum(t.numel() * _entry_bytes(t) for t in self.payload.values())


class DownlinkEstimator(Estimator):
    """Base of the downlink schemes: the users' link, input checks, message accounting.

    Subclasses store the link keywords (``channels``, ``snr_db``, ``power``, ``snr_convention``,
    ``channel_variance``, ``channel_uses``, ``link``), ``csi_error``, ``robust``, ``seed`` and
    ``record_messages`` as hyper-parameters and call :meth:`_validate_link` from their checks.
    ``link=`` may be a frequency-selective link (module docstring; ``csi_error`` must then be 0).

    Channel knowledge. The ``(K, N_r, N_t)`` channels a scheme is given are what its designers know
    (the estimates Ĥ_k); with ``csi_error`` = ε > 0 each user's true channel is H_k = Ĥ_k + D_k,
    D_k of i.i.d. entries CN(0, ε v) independent of Ĥ_k (:mod:`semalign.link.csi`), and
    ``transmit(..., channel=H)`` sends through the true channels. ``robust=True`` designs for that
    error (each scheme says how); ``robust=False`` or ε = 0 designs as if the estimates were exact.
    """

    fit_marker = "users_"
    _fit_call, _transmit_call = "fit(ap_latents, user_latents)", "transmit(ap_latents)"

    def _validate_link(self) -> None:
        check_seed("seed", self.seed)
        self.csi_error = check_csi_error(self.csi_error)
        if not isinstance(self.robust, (bool, np.bool_)):
            raise ValueError(f"robust must be True or False, got {self.robust!r}")
        self.robust = bool(self.robust)
        if not isinstance(self.record_messages, bool):
            raise ValueError(f"record_messages must be True or False, got {self.record_messages!r}")
        if self.link is not None:
            if not isinstance(self.link, Link):
                raise ValueError(f"link must be a semalign.link.Link, got {type(self.link).__name__}")
            changed = [k for k, v in LINK_DEFAULTS.items() if not same_setting(getattr(self, k), v)]
            if self.channels is not None or changed:
                raise ValueError("give either link= or channels and the link keywords, not both")
            link = self.link
        else:
            h = torch.as_tensor(self.channels) if isinstance(self.channels, np.ndarray) else self.channels
            if not isinstance(h, torch.Tensor) or h.ndim != 3 or not h.is_complex():
                got = f"shape {tuple(h.shape)} dtype {h.dtype}" if isinstance(h, torch.Tensor) else repr(h) if h is None or isinstance(h, str) else type(h).__name__
                raise ValueError(f"channels must be a complex (K, N_r, N_t) tensor, one channel per user; got {got}")
            snr = as_snr_db(self.snr_db)
            if snr.ndim:
                raise ValueError(f"snr_db must be one number in dB for every user, got {self.snr_db!r}")
            link = Link(
                h, snr, self.power, snr_convention=self.snr_convention, channel_variance=self.channel_variance,
                channel_uses=self.channel_uses, csi_error=self.csi_error,
            )  # fmt: skip
        if self.csi_error != link.csi_error and self.csi_error != 0.0:  # a non-zero keyword replaces a link='s own
            link = link.replace(csi_error=self.csi_error)
        if link.channel.ndim != 3:
            raise ValueError(f"the link's channels must be (K, N_r, N_t), one per user; got shape {tuple(link.channel.shape)}")
        self._link = link

    def _current_link(self) -> Link:
        return self.link_ if hasattr(self, "link_") else self._link

    @property
    def robust_design(self) -> bool:
        """Whether the design averages over the CSI error (``robust`` and ε > 0); otherwise it is
        exactly the design for exact channels."""
        return self.robust and self._current_link().csi_error > 0

    def _true_channels(self, channel) -> torch.Tensor | None:
        """``channel``, the ``(K, N_r, N_t)`` true channels of :meth:`transmit`, as complex128 on the
        link's device (``None`` stays: the design channels), or ``ValueError`` naming ``channel``
        unless it has the design channels' shape."""
        if channel is None:
            return None
        return as_true_channel(channel, self.link_.channel.shape, "K, N_r, N_t: one true channel per user", self.link_.device)

    def _start_fit(self) -> None:
        """Check the hyper-parameters again (a setting changed since construction takes effect) and
        forget the last fit until this one succeeds."""
        self._validate()
        for name in (self.fit_marker, "link_"):
            self.__dict__.pop(name, None)

    @property
    def n_users(self) -> int:
        return self._current_link().channel.shape[0]

    def noise_variance(self) -> float:
        """sigma^2 per receive antenna per channel use (every user's)."""
        return float(self._current_link().noise_variance())

    def compression_factor(self, ap_dim: int) -> float:
        """Percent of channel symbols per complex AP latent entry: 100 T N_t / ceil(d_0/2) (on a
        link of S subcarriers, 100 S N_t / ceil(d_0/2), the same as S uses of a flat channel)."""
        return self._current_link().compression_factor(ap_dim)

    # ------------------------------------------------------------ inputs
    def _check_pilots(self, ap_latents, user_latents: Sequence) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The AP's ``(n, d_0)`` pilots and one ``(n, d_k)`` per user, paired (same n), checked."""
        s = as_real_matrix("ap_latents", ap_latents)
        if isinstance(user_latents, torch.Tensor) or not isinstance(user_latents, Sequence):
            raise ValueError(f"user_latents must be a sequence of one (n, d_k) matrix per user ({self.n_users}), got {type(user_latents).__name__}")
        if len(user_latents) != self.n_users:
            raise ValueError(f"user_latents must hold one (n, d_k) matrix per user ({self.n_users}), got {len(user_latents)}")
        xs = [as_real_matrix(f"user_latents[{k}]", x) for k, x in enumerate(user_latents)]
        for k, x in enumerate(xs):
            if x.shape[0] != s.shape[0]:
                raise ValueError(f"user_latents[{k}] has {x.shape[0]} pilots but ap_latents has {s.shape[0]}; the pilots must be paired")
        if s.shape[0] < 2:
            raise ValueError(f"ap_latents holds {s.shape[0]} pilot(s); expected at least 2 to estimate the latent means and covariances")
        return s, xs

    def _check_transmit_input(self, ap_latents) -> torch.Tensor:
        self._check_fitted()
        s = as_real_matrix("ap_latents", ap_latents)
        if s.shape[1] != self.d_ap_:
            raise ValueError(f"ap_latents has {s.shape[1]} features but the scheme was fitted on d_0 = {self.d_ap_}")
        return s

    # ------------------------------------------------------------ messages
    def _start_log(self) -> None:
        self.messages_: list[Message] = []
        self.bytes_uplink_ = self.bytes_downlink_ = 0

    def _log(self, message: Message) -> None:
        """Count a message's bytes in its direction (and keep it with ``record_messages``)."""
        if message.sender == "ap":
            self.bytes_downlink_ += message.bytes
        else:
            self.bytes_uplink_ += message.bytes
        if self.record_messages:
            self.messages_.append(message)
