"""The interference network of the semantic game, batched over instances.

Q secondary pairs share a MIMO interference channel with J primary receivers. Everything is column
form and complex128, with a leading batch axis B of independent instances (seeds, channel draws),
so a study solves many games in one call:

* ``alignment`` ``(B, Q, m, d)``: A_q = E[ybar_q x~_q^H], the pair's alignment matrix between its
  whitened transmitter latent x~_q and centred receiver latent ybar_q (pairs with smaller latents
  are zero-padded, which changes nothing: padded directions have weight 0);
* ``channels`` ``(B, Q, Q, n_R, n_T)``: ``channels[:, q, r]`` = H_qr, from SU transmitter r to SU
  receiver q (receive before transmit, as everywhere in semalign); any matrices: lifted over a
  latent's T channel uses they are I_T (x) H for a flat channel and diag(H^(1), ..., H^(T)) for one
  that differs per use (OFDM subcarriers), and nothing here assumes the uses identical except the
  channel-error terms below (a D shared by the uses, or one independent D_t per subcarrier);
* ``noise`` ``(B, Q, n_R, n_R)``: R_q^0, thermal noise plus the primary transmitters' interference;
* ``power`` ``(B, Q)``: budgets P_q (energy per latent, spread over the n_T dimensions);
* ``pu_channels`` ``(B, J, Q, N_p, n_T)``: G_pq, from SU transmitter q to primary receiver p, and
  ``pu_limits`` ``(B, J)``: the interference limits I_p^max, with ``pu_protection`` one of
  ``"none"``, ``"null"`` (null shaping: G_pq F_q = 0), ``"individual"`` (tr(G_pq Q_q G_pq^H) <=
  I_p^max / Q for every pair) or ``"global"`` (sum_q tr(G_pq Q_q G_pq^H) <= I_p^max, handled with
  prices).

Pair q's interference-plus-noise covariance is R_{-q} = R_q^0 + sum_{r != q} H_qr Q_r H_qr^H with
Q_r = F_r F_r^H: the others affect a pair only through their transmit covariances.

**Imperfect channel knowledge** (robust designs, the error model of :mod:`semalign.link.csi`). The
channels above may be estimates Ĥ of channels H = Ĥ + Δ with Δ = I_T (x) D lifted over the T channel
uses of a latent (flat channels: the uses share D) or, with ``independent_errors`` (frequency-selective
channels, the uses are OFDM subcarriers each estimated on its own), Δ = diag(D_1, ..., D_T) with
independent D_t; every D (D_t) independent of Ĥ with i.i.d. CN(0, s) entries. Given
``channel_error`` ``(B, Q, Q)`` (s_qr = ε v_qr per entry of the per-use error of H_qr), ``pu_channel_error``
``(B, J, Q)`` (s_pq of G_pq's) and ``uses`` = T, the network describes the *expected* second moments
over the error:

* E[H_qr Q_r H_qr^H] = Ĥ_qr Q_r Ĥ_qr^H + s_qr B(Q_r) (x) I_N, with B(Q) the T x T matrix of the traces
  of Q's N_t x N_t blocks (:func:`semalign.link.csi.error_covariance`); with ``independent_errors``
  the cross-use blocks vanish in expectation and B(Q) is replaced by its diagonal diag_t tr(Q_r,tt).
  Either way, per channel use t the added term is s_qr tr(Q_r,tt) I, and its trace is s_qr N tr(Q_r);
* E[tr(G_pq Q_q G_pq^H)] = tr(Ĝ_pq Q_q Ĝ_pq^H) + s_pq N_p tr(Q_q) (N_p receive antennas per use; the
  same for shared and independent errors, as only the diagonal blocks of Q enter the trace).

Every design computed on such a network (games, baselines) optimises these expectations; the pair's
*own* channel error is not part of it (a design's owner supplies a bound of it in ``noise``, see
:class:`~semalign.multiuser.semantic_game.SemanticInterferenceGame`). Without error variances (the
default) nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from semalign._checks import check_choice
from semalign.link.csi import error_covariance

DTYPE = torch.complex128
PU_PROTECTIONS = ("none", "null", "individual", "global")


def _complex(name: str, value, ndim: int) -> torch.Tensor:
    tensor = torch.as_tensor(value)
    if not (tensor.is_complex() or tensor.is_floating_point()):
        raise ValueError(f"{name} must be a real or complex tensor, got dtype {tensor.dtype}")
    tensor = tensor.to(DTYPE)
    if tensor.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(tensor.shape)}")
    if not torch.isfinite(torch.view_as_real(tensor)).all():
        raise ValueError(f"{name} contains NaN or inf")
    return tensor


def _variances(name: str, value, shape: tuple[int, ...], device) -> torch.Tensor:
    """``value`` as finite, non-negative float64 variances of ``shape`` (numbers broadcast)."""
    tensor = torch.as_tensor(value, dtype=torch.float64, device=device)
    try:
        tensor = tensor.expand(shape).clone()
    except RuntimeError:
        raise ValueError(f"{name} must be a number or {shape} error variances, got shape {tuple(tensor.shape)}") from None
    if not (torch.isfinite(tensor).all() and (tensor >= 0).all()):
        raise ValueError(f"{name} must be finite error variances >= 0, got {value!r}")
    return tensor


@dataclass(frozen=True)
class InterferenceNetwork:
    """A batch of B interference networks (shapes in the module docstring).

    Attributes beyond the inputs:
        residual_mse: ``(B, Q)`` e_q^LS, the linear mismatch no transceiver removes (added to every MSE).
        null_basis: ``(B, Q, n_T_full, n_T)`` orthonormal basis U_q^perp of the PUs' null space
            (zero columns where it is smaller than n_T) when the network was produced by
            :meth:`null_shaped`, else ``None``; precoders of the shaped network map back as U F.
        channel_error: optional ``(B, Q, Q)`` float64 s_qr >= 0, the variance of each entry of the
            per-use error of ``channels[:, q, r]`` (the diagonal, the pairs' own channels, is not
            used here); with it, :meth:`interference` is the expected covariance over the error.
        pu_channel_error: optional ``(B, J, Q)`` float64 s_pq >= 0, the same for the PU channels;
            with it, :meth:`pu_interference` and :meth:`pu_grams` are expectations over the error.
        uses: T, the channel uses the channels are lifted over (I_T (x) per-use channel, or
            diag(H^(1), ..., H^(T)) per subcarrier); needed to shape the error terms, ignored
            without error variances.
        independent_errors: ``False`` (flat channels): the T uses share one error D, Δ = I_T (x) D;
            ``True`` (frequency-selective TDL/CDL channels): each use is a subcarrier estimated with
            its own independent error D_t, Δ = diag(D_1, ..., D_T), so the expected interference
            keeps only the diagonal blocks of B(Q). Ignored without error variances.
    """

    alignment: torch.Tensor
    channels: torch.Tensor
    noise: torch.Tensor
    power: torch.Tensor
    residual_mse: torch.Tensor | None = None
    pu_channels: torch.Tensor | None = None
    pu_limits: torch.Tensor | None = None
    pu_protection: str = "none"
    null_basis: torch.Tensor | None = None
    channel_error: torch.Tensor | None = None
    pu_channel_error: torch.Tensor | None = None
    uses: int = 1
    independent_errors: bool = False

    def __post_init__(self) -> None:
        check_choice("pu_protection", self.pu_protection, PU_PROTECTIONS)
        a = _complex("alignment", self.alignment, 4)
        h = _complex("channels", self.channels, 5)
        r0 = _complex("noise", self.noise, 4)
        b, q = a.shape[:2]
        if h.shape[:3] != (b, q, q):
            raise ValueError(f"channels must be (B, Q, Q, n_R, n_T) = ({b}, {q}, {q}, ...), got {tuple(h.shape)}")
        n_r = h.shape[-2]
        if r0.shape != (b, q, n_r, n_r):
            raise ValueError(f"noise must be (B, Q, n_R, n_R) = ({b}, {q}, {n_r}, {n_r}), got {tuple(r0.shape)}")
        if not bool((torch.linalg.eigvalsh((r0 + r0.mH) / 2) > 0).all()):
            raise ValueError("noise covariances R_q^0 must be Hermitian positive definite (include the thermal noise)")
        p = torch.as_tensor(self.power, dtype=torch.float64, device=a.device)
        if p.ndim not in (0, 2) or (p.ndim == 2 and p.shape[1] != q):
            raise ValueError(f"power must be a number or (B, Q) = ({b}, {q}) budgets, got shape {tuple(p.shape)}")
        p = p.expand(b, q).clone()
        if not (torch.isfinite(p).all() and (p > 0).all()):
            raise ValueError(f"power must be finite and > 0, got {self.power!r}")
        e_ls = torch.zeros(b, q, dtype=torch.float64, device=a.device) if self.residual_mse is None else torch.as_tensor(self.residual_mse, dtype=torch.float64, device=a.device)
        if e_ls.shape != (b, q) or not torch.isfinite(e_ls).all() or (e_ls < 0).any():
            raise ValueError(f"residual_mse must be finite, >= 0 and (B, Q) = ({b}, {q}), got shape {tuple(e_ls.shape)}")
        object.__setattr__(self, "alignment", a)
        object.__setattr__(self, "channels", h)
        object.__setattr__(self, "noise", (r0 + r0.mH) / 2)
        object.__setattr__(self, "power", p)
        object.__setattr__(self, "residual_mse", e_ls)
        if isinstance(self.uses, bool) or int(self.uses) != self.uses or self.uses < 1 or h.shape[-1] % int(self.uses) or n_r % int(self.uses):
            raise ValueError(f"uses must be a positive integer dividing n_T = {h.shape[-1]} and n_R = {n_r} (the channel uses the channels are lifted over), got {self.uses!r}")
        object.__setattr__(self, "uses", int(self.uses))
        if not isinstance(self.independent_errors, bool):
            raise ValueError(f"independent_errors must be True or False (an independent channel error per use), got {self.independent_errors!r}")
        if self.channel_error is not None:
            object.__setattr__(self, "channel_error", _variances("channel_error", self.channel_error, (b, q, q), a.device))
        if self.pu_channel_error is not None:
            if self.pu_channels is None:
                raise ValueError("pu_channel_error needs pu_channels (B, J, Q, N_p, n_T)")
            j = torch.as_tensor(self.pu_channels).shape[1]
            object.__setattr__(self, "pu_channel_error", _variances("pu_channel_error", self.pu_channel_error, (b, j, q), a.device))
        if self.pu_protection == "none":
            return
        if self.pu_channels is None:
            raise ValueError(f"pu_protection={self.pu_protection!r} needs pu_channels (B, J, Q, N_p, n_T)")
        g = _complex("pu_channels", self.pu_channels, 5)
        if g.shape[0] != b or g.shape[2] != q or g.shape[-1] != h.shape[-1]:
            raise ValueError(f"pu_channels must be (B, J, Q, N_p, n_T) = ({b}, J, {q}, N_p, {h.shape[-1]}), got {tuple(g.shape)}")
        object.__setattr__(self, "pu_channels", g)
        if self.pu_protection in ("individual", "global"):
            if self.pu_limits is None:
                raise ValueError(f"pu_protection={self.pu_protection!r} needs pu_limits (B, J)")
            limits = torch.as_tensor(self.pu_limits, dtype=torch.float64, device=a.device).expand(b, g.shape[1]).clone()
            if not (torch.isfinite(limits).all() and (limits > 0).all()):
                raise ValueError(f"pu_limits must be finite and > 0, got {self.pu_limits!r}")
            object.__setattr__(self, "pu_limits", limits)

    # ---- sizes -----------------------------------------------------------------------------

    @property
    def n_instances(self) -> int:
        return self.alignment.shape[0]

    @property
    def n_pairs(self) -> int:
        return self.alignment.shape[1]

    @property
    def n_tx(self) -> int:
        return self.channels.shape[-1]

    @property
    def n_rx(self) -> int:
        return self.channels.shape[-2]

    @property
    def n_primary(self) -> int:
        return 0 if self.pu_channels is None else self.pu_channels.shape[1]

    @property
    def direct_channels(self) -> torch.Tensor:
        """``(B, Q, n_R, n_T)`` H_qq."""
        return torch.diagonal(self.channels, dim1=1, dim2=2).permute(0, 3, 1, 2)

    def pair_limits(self) -> torch.Tensor:
        """``(B, J, Q)`` each pair's own interference budget: I_p^max / Q for individual budgets."""
        if self.pu_limits is None:
            raise ValueError("this network has no interference limits")
        return (self.pu_limits / self.n_pairs).unsqueeze(-1).expand(-1, -1, self.n_pairs)

    # ---- covariances ------------------------------------------------------------------------

    def interference(self, covariances: torch.Tensor, pairs: torch.Tensor | None = None) -> torch.Tensor:
        """R_{-q} = R_q^0 + sum_{r != q} H_qr Q_r H_qr^H.

        Args:
            covariances: ``(B, Q, n_T, n_T)`` transmit covariances Q_r.
            pairs: optional index tensor of the receivers wanted (default: all).

        Returns:
            ``(B, len(pairs), n_R, n_R)``.
        """
        idx = torch.arange(self.n_pairs, device=covariances.device) if pairs is None else torch.as_tensor(pairs, device=covariances.device)
        h = self.channels[:, idx]  # (B, S, Q, n_R, n_T)
        received = h @ covariances.unsqueeze(1) @ h.mH  # (B, S, Q, n_R, n_R)
        others = (idx.unsqueeze(-1) != torch.arange(self.n_pairs, device=idx.device)).to(received.dtype)
        total = self.noise[:, idx] + (received * others[None, :, :, None, None]).sum(2)
        if self.channel_error is None:
            return total
        # + sum_{r != q} s_qr B(Q_r) (x) I_N (diag(B(Q_r)) (x) I_N with independent per-use errors),
        # with Q_r in antenna space (the error acts there).
        unit = error_covariance(
            self.lift_covariance(covariances), 1.0, uses=self.uses, size=self.n_rx // self.uses, domain="complex", independent=self.independent_errors
        )  # (B, Q, n_R, n_R)
        weights = self.channel_error[:, idx] * (idx.unsqueeze(-1) != torch.arange(self.n_pairs, device=idx.device))  # (B, S, Q), r != q
        return total + (weights.to(DTYPE)[..., None, None] * unit.unsqueeze(1)).sum(2)

    def lift_covariance(self, covariances: torch.Tensor) -> torch.Tensor:
        """``(B, Q, n_T_full, n_T_full)`` U Q U^H: transmit covariances of a null-shaped network in
        antenna space (unchanged otherwise)."""
        return covariances if self.null_basis is None else self.null_basis @ covariances @ self.null_basis.mH

    def pu_error_load(self) -> torch.Tensor:
        """``(B, J, Q)`` s_pq N_p: the expected interference at primary p per unit of pair q's transmit
        energy tr(Q_q) that the estimate misses (zeros without ``pu_channel_error``)."""
        if self.pu_channels is None:
            return torch.zeros(self.n_instances, 0, self.n_pairs, dtype=torch.float64, device=self.alignment.device)
        if self.pu_channel_error is None:
            return torch.zeros(self.pu_channels.shape[:3], dtype=torch.float64, device=self.alignment.device)
        return self.pu_channel_error * (self.pu_channels.shape[-2] // self.uses)

    def pu_grams(self) -> torch.Tensor:
        """``(B, J, Q, n_T, n_T)`` C_pq = E[G_pq^H G_pq] = Ĝ_pq^H Ĝ_pq + s_pq N_p I (tr(C_pq Q_q) is the
        expected interference pair q causes at primary p)."""
        g = self.pu_channels
        gram = g.mH @ g
        if self.pu_channel_error is None:
            return gram
        eye = torch.eye(g.shape[-1], dtype=DTYPE, device=g.device)
        return gram + self.pu_error_load().to(DTYPE)[..., None, None] * eye

    def pu_interference(self, covariances: torch.Tensor) -> torch.Tensor:
        """``(B, J, Q)`` I_pq = tr(G_pq Q_q G_pq^H), the interference pair q causes at primary p (with
        ``pu_channel_error``: its expectation over the error, + s_pq N_p tr(Q_q) in antenna space)."""
        if self.pu_channels is None:
            return torch.zeros(self.n_instances, 0, self.n_pairs, dtype=torch.float64, device=covariances.device)
        g = self.pu_channels
        load = torch.diagonal(g @ covariances.unsqueeze(1) @ g.mH, dim1=-2, dim2=-1).sum(-1).real
        if self.pu_channel_error is None:
            return load
        energy = torch.diagonal(self.lift_covariance(covariances), dim1=-2, dim2=-1).sum(-1).real  # (B, Q) tr(Q_q)
        return load + self.pu_error_load() * energy.unsqueeze(1)

    # ---- null shaping ------------------------------------------------------------------------

    def null_shaped(self, tolerance: float = 1e-10) -> "InterferenceNetwork":
        """The equivalent network in which every transmitter is confined to the null space of its
        stacked PU channels [G_1q; ...; G_Jq]: H_qr -> H_qr U_r, G_pq -> G_pq U_q = 0.

        Raises ``ValueError`` when some transmitter has no null space (n_T <= rank of its PU channels).
        """
        if self.pu_channels is None:
            raise ValueError("null shaping needs pu_channels")
        b, j, q, n_p, n_t = self.pu_channels.shape
        stacked = self.pu_channels.permute(0, 2, 1, 3, 4).reshape(b, q, j * n_p, n_t)
        _, s, vh = torch.linalg.svd(stacked, full_matrices=True)
        rank = torch.zeros(b, q, dtype=torch.long)
        if s.shape[-1]:
            rank = (s > tolerance * s[..., :1].clamp_min(1e-300)).sum(-1)
        if bool((rank >= n_t).any()):
            raise ValueError(
                f"null shaping needs n_T > rank of the stacked PU channels; n_T = {n_t} but the rank reaches {int(rank.max())}: "
                "use more transmit dimensions (antennas or channel uses) or fewer primary-receiver antennas"
            )
        # Right singular vectors beyond the rank span the null space; zero the others.
        keep = (torch.arange(n_t, device=rank.device) >= rank.unsqueeze(-1)).to(DTYPE)
        basis = vh.mH * keep.unsqueeze(-2)  # (B, Q, n_T, n_T), zero columns outside the null space
        channels = self.channels @ basis.unsqueeze(1)  # H_qr U_r
        return replace(
            self,
            channels=channels,
            pu_channels=self.pu_channels @ basis.unsqueeze(1),
            pu_protection="none",
            pu_limits=None,
            null_basis=basis,
        )

    def lift(self, precoders: torch.Tensor) -> torch.Tensor:
        """Map ``(B, Q, n_T, d)`` precoders of a null-shaped network back to antenna space."""
        return precoders if self.null_basis is None else self.null_basis @ precoders
