"""Federated latent-space alignment for a multi-user downlink (spec federated.md §1-§3).

An access point (AP) with its own encoder broadcasts to K users, each with its own encoder, latent
space and MIMO channel H_k (T channel uses lifted as I_T (x) H_k). The AP holds one shared semantic
pre-equaliser F (T N_t x m_0, complex, ||F||_F^2 <= P); user k holds a local equaliser G_k. They are
trained by ADMM on sum_k ||X_k,w - G_k H_k F S_w||^2 (+ noise) with the split F = Z, Z in the power
ball, as a sequence of explicit messages in which no latent leaves its owner:

1. downlink: the AP broadcasts its precoded whitened pilots F S_w; user k receives Y_k = H_k F S_w
   (n T channel uses);
2. user G step (MMSE, regulariser n sigma^2 I): G_k = X_k,w Y_k^H (Y_k Y_k^H + n sigma^2 I)^{-1};
3. uplink: with A_k = G_k H_k, user k sends M1_k = A_k^H A_k and M2_k = A_k^H X_k,w (never X_k, G_k);
4. AP F step, one of
   * ``"federated-admm"`` (exact consensus, spec §2.4): ((n-1) sum_k M1_k + n rho I) F =
     sum_k M2_k S_w^H + n rho (Z - U), the ADMM F update of the sum objective from the same messages;
   * ``"federated-prox"`` (the published variant): F_k = the same solve with user k's messages only,
     then F = mean_k F_k (a proximal average);
   * ``"multi-link"``: one precoder, split and dual per user (K single links, each with budget P);
5. power-ball projection Z = Pi_P(F + U) and dual update U += F - Z.

Corrections of the published code (spec §7): the MMSE regulariser is n sigma^2 I (published:
n sigma (1+j) added to every entry); transmission uses the feasible Z (published: F) with decoders
refitted to it; users de-whiten their estimates. With one user and the same start, rho and SNR
convention, ``federated-admm`` is exactly the single-link strictly linear ADMM
(:class:`~semalign.transceivers.LinearSemanticTransceiver`).

Every message is counted (bytes as complex64 entries, channel uses of the over-the-air broadcast) and,
with ``record_messages=True``, kept in ``messages_`` so what crosses the AP-user boundary can be
inspected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from semalign._checks import as_real_matrix, check_choice, check_positive, check_positive_int
from semalign.link.noise import check_snr_convention, complex_awgn, noise_variance
from semalign.link.packing import complex_dim, pack_complex, unpack_complex
from semalign.link.whitening import Whitener, fit_whitener
from semalign.transceivers.linear_admm import block_diagonal_channel, project_power_ball

VARIANTS = ("federated-admm", "federated-prox", "multi-link")
BYTES_PER_ENTRY = 8  # complex64


@dataclass(frozen=True)
class Message:
    """One message of the protocol: who sent it to whom, in which round, and its tensors."""

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
        return BYTES_PER_ENTRY * self.entries


class _User:
    """A user's private state: its whitened pilots, whitener, channel and equaliser."""

    def __init__(self, name: str, latents: torch.Tensor, channel: torch.Tensor, sigma2: float) -> None:
        self.name = name
        self.d = latents.shape[-1]
        packed = pack_complex(latents)
        self.whitener: Whitener = fit_whitener(packed, name=f"{name} pilots")
        self.x_white = self.whitener.whiten(packed).mT  # (m_k, n), column form
        self.channel = channel  # (T N_r, T N_t)
        self.sigma2 = sigma2
        self.decoder: torch.Tensor | None = None

    def g_step(self, received: torch.Tensor) -> None:
        """MMSE equaliser for the received pilots ``(T N_r, n)`` (spec §2.3 step 2, corrected)."""
        n = received.shape[-1]
        gram = received @ received.mH
        eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
        loading = n * self.sigma2 + 1e-12 * torch.diagonal(gram).real.mean()  # as the single-link G step
        rhs = received @ self.x_white.mH  # Y X^H
        self.decoder = torch.linalg.solve(gram + loading * eye, rhs).mH

    def uplink(self) -> dict[str, torch.Tensor]:
        a = self.decoder @ self.channel
        return {"m1": a.mH @ a, "m2": a.mH @ self.x_white}

    def estimate(self, received: torch.Tensor) -> torch.Tensor:
        """``(n, T N_r)`` received symbols -> ``(n, d_k)`` real latents (de-whitened)."""
        white = received @ self.decoder.mT
        return unpack_complex(self.whitener.colour(white), self.d)


class FederatedDownlink:
    """A shared semantic pre-equaliser at the AP and local equalisers at K users, trained federatedly.

    Args:
        channels: ``(K, N_r, N_t)`` complex per-use channels H_k (one per user).
        snr_db, power, snr_convention, channel_variance, channel_uses: the link (DESIGN.md
            conventions; sigma^2 per receive antenna per channel use).
        variant: ``"federated-admm"``, ``"federated-prox"`` or ``"multi-link"`` (module docstring).
        rho: ADMM penalty (per-sample scaling, n rho in the F step).
        rounds: protocol rounds.
        initial_precoder: ``(T N_t, m_0)`` start F_0 (default: the AP's own spectral start: the
            strongest right singular vectors of sum_k H_k^H H_k on the first whitened AP dimensions,
            equal power); scaled to ||F_0||^2 = P.
        record_messages: keep every message in ``messages_``.

    Attributes after :meth:`fit`:
        precoder_: ``(T N_t, m_0)`` the feasible Z (``(K, T N_t, m_0)`` for multi-link).
        history_: per round ``objective`` (sum over users of the whitened training MSE per real
            entry, noise included, before the round's F step),
            ``primal_residual``, ``dual_residual``, ``power`` (||F||^2).
        bytes_uplink_, bytes_downlink_: totals over the protocol; channel_uses_: over-the-air uses
            spent on pilot broadcasts (n T per round).
    """

    def __init__(
        self,
        channels,
        *,
        snr_db: float = 20.0,
        power: float = 1.0,
        snr_convention: str = "total",
        channel_variance: float = 1.0,
        channel_uses: int = 1,
        variant: str = "federated-admm",
        rho: float = 1.0,
        rounds: int = 30,
        initial_precoder: torch.Tensor | None = None,
        record_messages: bool = False,
    ) -> None:
        h = torch.as_tensor(channels)
        if h.ndim != 3 or not h.is_complex():
            raise ValueError(f"channels must be a complex (K, N_r, N_t) tensor, one channel per user; got shape {tuple(h.shape)} dtype {h.dtype}")
        self.channels = h
        self.snr_db = float(snr_db)
        self.power = check_positive("power", power)
        self.snr_convention = check_snr_convention(snr_convention)
        self.channel_variance = check_positive("channel_variance", channel_variance)
        self.channel_uses = check_positive_int("channel_uses", channel_uses)
        self.variant = check_choice("variant", variant, VARIANTS)
        self.rho = check_positive("rho", rho)
        self.rounds = check_positive_int("rounds", rounds)
        self.initial_precoder = initial_precoder
        self.record_messages = bool(record_messages)

    @property
    def n_users(self) -> int:
        return self.channels.shape[0]

    def noise_variance(self) -> float:
        return float(
            noise_variance(self.snr_db, power=self.power, n_tx=self.channels.shape[-1], channel_uses=self.channel_uses,
                           channel_variance=self.channel_variance, convention=self.snr_convention)
        )  # fmt: skip

    def _log(self, message: Message) -> None:
        if message.sender == "ap":
            self.bytes_downlink_ += message.bytes
        else:
            self.bytes_uplink_ += message.bytes
        if self.record_messages:
            self.messages_.append(message)

    def _start(self, m0: int, dtype) -> torch.Tensor:
        width = self.channel_uses * self.channels.shape[-1]
        if self.initial_precoder is not None:
            f0 = torch.as_tensor(self.initial_precoder).to(dtype)
            if f0.shape != (width, m0):
                raise ValueError(f"initial_precoder must be (T N_t, m_0) = ({width}, {m0}), got {tuple(f0.shape)}")
        else:
            lifted = block_diagonal_channel(self.channels.to(dtype), self.channel_uses)
            _, vecs = torch.linalg.eigh((lifted.mH @ lifted).sum(0))
            k = min(width, m0)
            f0 = vecs.flip(-1)[:, :k] @ torch.eye(k, m0, dtype=dtype)
        return f0 * (self.power**0.5 / torch.linalg.matrix_norm(f0).clamp_min(1e-300))

    def fit(self, ap_latents, user_latents: Sequence) -> "FederatedDownlink":
        """Run the protocol on paired pilots: ``ap_latents`` ``(n, d_0)`` and one ``(n, d_k)`` per user."""
        s = as_real_matrix("ap_latents", ap_latents)
        if len(user_latents) != self.n_users:
            raise ValueError(f"user_latents must hold one (n, d_k) matrix per user ({self.n_users}), got {len(user_latents)}")
        xs = [as_real_matrix(f"user_latents[{k}]", x) for k, x in enumerate(user_latents)]
        for k, x in enumerate(xs):
            if x.shape[0] != s.shape[0]:
                raise ValueError(f"user_latents[{k}] has {x.shape[0]} pilots but ap_latents has {s.shape[0]}; the pilots must be paired")
        sigma2 = self.noise_variance()
        real = torch.promote_types(s.dtype, torch.float32)
        cdtype = torch.complex128 if real == torch.float64 else torch.complex64
        # AP side: its whitened pilots (it never sees a user latent).
        self.ap_whitener_ = fit_whitener(pack_complex(s.to(real)), name="AP pilots")
        s_white = self.ap_whitener_.whiten(pack_complex(s.to(real))).mT.to(cdtype)  # (m_0, n)
        n, m0 = s_white.shape[1], s_white.shape[0]
        lifted = block_diagonal_channel(self.channels.to(cdtype), self.channel_uses)  # (K, T N_r, T N_t)
        self.users_ = [_User(f"user{k}", x.to(real), lifted[k], sigma2) for k, x in enumerate(xs)]
        self.messages_: list[Message] = []
        self.bytes_uplink_ = self.bytes_downlink_ = 0
        f0 = self._start(m0, cdtype)
        shape = (self.n_users, *f0.shape) if self.variant == "multi-link" else f0.shape
        f = f0.expand(shape).clone()
        z, u = f.clone(), torch.zeros_like(f)
        n_rho = n * self.rho
        eye = torch.eye(f0.shape[0], dtype=cdtype)
        history = {"objective": [], "primal_residual": [], "dual_residual": [], "power": []}
        for t in range(self.rounds):
            self._downlink(t, f, s_white)
            messages = [self._uplink(t, user) for user in self.users_]
            history["objective"].append(sum(self._user_objective(user, f, s_white, k) for k, user in enumerate(self.users_)))
            anchor = z - u
            sw_h = s_white.mH
            if self.variant == "federated-admm":
                m1 = sum(msg["m1"] for msg in messages)
                rhs = sum(msg["m2"] for msg in messages) @ sw_h + n_rho * anchor
                f = torch.linalg.solve((n - 1) * m1 + n_rho * eye, rhs)
            else:
                local = torch.stack(
                    [torch.linalg.solve((n - 1) * msg["m1"] + n_rho * eye, msg["m2"] @ sw_h + n_rho * (anchor if self.variant == "federated-prox" else anchor[k]))
                     for k, msg in enumerate(messages)]
                )  # fmt: skip
                f = local.mean(0) if self.variant == "federated-prox" else local
            z_prev = z
            z = project_power_ball((f + u).reshape(-1, *f0.shape), self.power).reshape(shape)
            u = u + f - z
            history["primal_residual"].append(float(torch.linalg.vector_norm(f - z)))
            history["dual_residual"].append(float(self.rho * torch.linalg.vector_norm(z - z_prev)))
            history["power"].append(float(f.abs().square().sum() / (self.n_users if self.variant == "multi-link" else 1)))
        # Transmit with the feasible precoder; users refit their equalisers to it.
        self.precoder_ = z
        self._downlink(self.rounds, z, s_white)
        self.channel_uses_ = (self.rounds + 1) * n * self.channel_uses
        self.history_ = history
        self.n_pilots_ = n
        return self

    def _precoder_of(self, f: torch.Tensor, k: int) -> torch.Tensor:
        return f[k] if self.variant == "multi-link" else f

    def _downlink(self, t: int, f: torch.Tensor, s_white: torch.Tensor) -> None:
        """Broadcast F S_w over the air; each user sees H_k F S_w and refits its equaliser."""
        if self.variant == "multi-link":
            for k, user in enumerate(self.users_):
                symbols = f[k] @ s_white
                self._log(Message(t, "ap", user.name, "pilots", {"symbols": symbols}))
                user.g_step(user.channel @ symbols)
            return
        symbols = f @ s_white  # one broadcast: T N_t x n symbols
        self._log(Message(t, "ap", "all users", "pilots", {"symbols": symbols}))
        for user in self.users_:
            user.g_step(user.channel @ symbols)

    def _uplink(self, t: int, user: _User) -> dict[str, torch.Tensor]:
        payload = user.uplink()
        self._log(Message(t, user.name, "ap", "normal equations", payload))
        return payload

    def _user_objective(self, user: _User, f: torch.Tensor, s_white: torch.Tensor, k: int) -> float:
        """Whitened training MSE per entry of user k (evaluated in the simulation, not a message)."""
        hf = user.channel @ self._precoder_of(f, k)
        n = s_white.shape[1]
        error = user.x_white - user.decoder @ hf @ s_white
        # Per real latent entry (2 m_k of them), as the single-link objective.
        return float((error.abs().square().sum() / n + user.sigma2 * user.decoder.abs().square().sum()) / (2 * user.x_white.shape[0]))

    @torch.no_grad()
    def transmit(self, ap_latents, *, generator: torch.Generator | None = None, noise: bool = True) -> list[torch.Tensor]:
        """Send the AP's latents ``(n, d_0)`` to every user; returns one ``(n, d_k)`` estimate per user."""
        if not hasattr(self, "precoder_"):
            raise RuntimeError("FederatedDownlink is not fitted yet; call fit() first")
        s = as_real_matrix("ap_latents", ap_latents)
        white = self.ap_whitener_.whiten(pack_complex(s.to(self.ap_whitener_.mean.real.dtype)))
        out = []
        for k, user in enumerate(self.users_):
            symbols = white.to(self.precoder_.dtype) @ self._precoder_of(self.precoder_, k).mT  # (n, T N_t)
            received = symbols @ user.channel.mT
            if noise:
                received = received + complex_awgn(tuple(received.shape), user.sigma2, generator=generator, dtype=received.dtype)
            out.append(user.estimate(received).to(s.dtype))
        return out

    def compression_factor(self, ap_dim: int) -> float:
        """Percent of channel symbols per complex AP latent entry: 100 T N_t / ceil(d_0/2)."""
        return 100.0 * self.channel_uses * self.channels.shape[-1] / complex_dim(ap_dim)
