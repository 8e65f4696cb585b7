"""The parties of the federated downlink protocol: the access point and the users.

Each role holds its own private pilots and runs its steps of the protocol
(:mod:`semalign.multiuser.federated`): the AP broadcasts its precoded pilots and updates F from
the users' normal equations; a user refits its MMSE equaliser to what it received and sends
A^H A and A^H X_w back (A = G H).

Two ways to simulate the users:

* :class:`_UserGroup` works on the pilots themselves, as a real party does: every round it forms
  the received pilots Y = H F S_w and their products (passes over all n pilots). It runs wherever
  the user lives, e.g. as a Dask actor on its own worker, and only messages leave it.
* :class:`_StatisticsUserGroup`, for simulation in one process, computes the same quantities from
  sufficient statistics formed once: the AP's pilot Gram S_w S_w^H and each user's cross product
  X_w S_w^H. Then Y Y^H = H F (S_w S_w^H) F^H H^H, Y X_w^H = H F (X_w S_w^H)^H, the objective and the
  uplink's A^H X_w S_w^H follow without touching the pilots again: the same equalisers, messages
  and precoder, to float rounding, at a cost independent of n after the first pass. The messages
  it would send are still counted (and formed, when they are recorded).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semalign.link.csi import error_covariance
from semalign.link.link import Link
from semalign.link.mimo import project_power_ball
from semalign.link.packing import pack_complex, pack_complex_moment, unpack_complex
from semalign.link.whitening import Whitener, fit_whitener, whitener_from_covariance


def _coordinates(latents: torch.Tensor, widely: bool) -> torch.Tensor:
    """The coordinates the linear maps act on: the real latent itself (widely linear) or its packed
    complex form (strictly linear; first half real part, second half imaginary part)."""
    return latents if widely else pack_complex(latents)


@dataclass(frozen=True)
class _ChannelErrors:
    """The users' channel error Δ_k = I_T (x) D_k (or its real composite) as a robust design sees it.

    D_k has i.i.d. entries CN(0, s), s = ε v, independent of the estimate; the T uses of a latent
    share it. For the training objective of user k,

        J_k(F, G_k) = (1/n) ||X_w - G_k (H_k + Δ_k) F S_w||^2 + sigma^2 ||G_k||^2,

    the cross terms in Δ_k vanish in expectation (E Δ_k = 0), so

        E_D J_k = J_k^nominal(F, G_k) + (1/n) tr(G_k Ω(F) G_k^H),   Ω(F) = E[Δ F (S_w S_w^H) F^H Δ^H],

    and, by the adjoint identity of :func:`~semalign.link.csi.error_covariance`,
    tr(G Ω(F) G^H) = tr(Ψ(G^H G) F (S_w S_w^H) F^H) with Ψ = the same map on the input side. In the
    complex domain Ω(F) = s B(F S_w S_w^H F^H) ⊗ I_{N_r} (B: the T x T matrix of block traces; for
    T = 1: s tr(F S_w S_w^H F^H) I) and Ψ(G^H G) = s B(G^H G) ⊗ I_{N_t}; in the real composite
    domain the same with the real/imaginary block combination of ``error_covariance`` (factor s/2).
    Hence the robust G step is the MMSE equaliser with Ω added to its normal matrix,
    G_k = X_w Y_k^H (Y_k Y_k^H + Ω(F) + n sigma^2 I)^{-1}, and the robust F step is the nominal one
    with each user's M1_k = A_k^H A_k replaced by A_k^H A_k + Ψ(G_k^H G_k).

    Attributes:
        variance: s = ε v, the complex variance of each entry of D.
        uses: T (or, on a frequency-selective link, the S subcarriers).
        n_rx, n_tx: antennas per use (subcarrier).
        domain: ``"complex"`` (strictly linear) or ``"real"`` (widely linear).
        independent: subcarriers with independent errors D_k,s (only the diagonal block traces
            remain in Ω and Ψ) instead of T uses sharing D_k.
    """

    variance: float
    uses: int
    n_rx: int
    n_tx: int
    domain: str
    independent: bool = False

    @classmethod
    def of(cls, link, domain: str) -> "_ChannelErrors":
        """The error structure of ``link`` (:meth:`~semalign.link.Link.error_blocks`): T uses
        sharing D_k, or S subcarriers each with its own D_k,s."""
        blocks, independent = link.error_blocks()
        t = link.channel_uses
        return cls(link.error_variance(), blocks, t * link.n_rx // blocks, t * link.n_tx // blocks, domain, independent)

    def covariance(self, fsf: torch.Tensor) -> torch.Tensor:
        """Ω ``(..., T N_r, T N_r)`` (real: ``2 T N_r``) for F S_w S_w^H F^H ``fsf``."""
        return error_covariance(fsf, self.variance, uses=self.uses, size=self.n_rx, domain=self.domain, independent=self.independent)

    def adjoint(self, g_h_g: torch.Tensor) -> torch.Tensor:
        """Ψ ``(..., T N_t, T N_t)`` (real: ``2 T N_t``) for G^H G ``g_h_g``."""
        return error_covariance(g_h_g, self.variance, uses=self.uses, size=self.n_tx, domain=self.domain, independent=self.independent)


class _User:
    """A user's private state: whitened pilots, whitener, channel and equaliser.

    It lives where the user lives (in this process, or on a Dask worker), inside a
    :class:`_UserGroup` that runs its protocol steps.
    """

    def __init__(self, name: str, latents: torch.Tensor, channel: torch.Tensor, sigma2: float, widely: bool = False, whitener: Whitener | None = None) -> None:
        self.name = name
        self.d = latents.shape[-1]
        self.widely = widely
        self.latents = latents  # the private pilots (n, d_k)
        self.whitener: Whitener = whitener if whitener is not None else fit_whitener(_coordinates(latents, widely), name=f"{name} pilots")
        self.channel = channel  # (T N_r, T N_t): I_T (x) H, or diag(H_1, ..., H_T) on a frequency-selective link
        self.sigma2 = sigma2
        self.decoder: torch.Tensor | None = None
        self._x_white = None

    @property
    def x_white(self) -> torch.Tensor | None:
        """The whitened pilots ``(m_k, n)``, column form (formed on first use; ``None`` once the
        private pilots are left behind)."""
        if self._x_white is None and self.latents is not None:
            self._x_white = self.whitener.whiten(_coordinates(self.latents, self.widely)).mT.to(self.channel.dtype)
        return self._x_white

    def snapshot(self, keep_private: bool = True) -> "_User":
        """The user after training, to simulate transmission. Across a process boundary
        (``keep_private=False``) the private pilots stay behind: only the equaliser, whitener,
        channel and noise level are returned."""
        if keep_private:
            return self
        copy = object.__new__(_User)
        copy.__dict__.update({**self.__dict__, "latents": None, "_x_white": None})
        return copy

    def estimate(self, received: torch.Tensor) -> torch.Tensor:
        """``(n, T N_r)`` received symbols (``(n, 2 T N_r)`` [Re; Im] when widely linear) -> ``(n, d_k)``
        real latents (de-whitened)."""
        coloured = self.whitener.colour(received @ self.decoder.mT)
        return coloured if self.widely else unpack_complex(coloured, self.d)


class _UserGroup:
    """Users simulated together on one machine: their protocol steps run as one batch.

    Each user keeps its own whitener and equaliser (a :class:`_User`); the G steps and uplink
    products of all users run as batched solves over latents zero-padded to the largest m_k (the
    padded rows of an equaliser stay zero, so every message equals the user's own). In process all
    users form one group; on Dask each user is a group of one on its own worker.
    """

    def __init__(
        self, names: list[str], latents: list[torch.Tensor], link: Link, channels: torch.Tensor, sigma2: float, widely: bool = False,
        threads: int | None = None, errors: _ChannelErrors | None = None,
    ) -> None:  # fmt: skip
        if threads:
            torch.set_num_threads(threads)
        self.errors = errors  # robust designs: the channel error's second moments (else None)
        self.users = [_User(name, x, h, sigma2, widely) for name, x, h in zip(names, latents, channels)]
        self.entries_per_row = 1 if widely else 2  # real latent entries per row of x_white
        self.link = link  # the group's users' link: the pilots go over the air through it
        self.channels, self.sigma2, self.widely = channels, sigma2, widely
        sizes = [u.x_white.shape[0] for u in self.users]
        n = self.users[0].x_white.shape[1]
        self.x_white = torch.zeros(len(self.users), max(sizes), n, dtype=channels.dtype)
        for k, user in enumerate(self.users):
            self.x_white[k, : sizes[k]] = user.x_white
        self.sizes = sizes

    def receive(self, symbols: torch.Tensor) -> list[float]:
        """Every user receives its pilots (``(T N_t, n)`` broadcast to all, or ``(K, T N_t, n)`` one
        per user), refits its MMSE equaliser (regulariser n sigma^2 I) and reports its training
        objective per real latent entry (a diagnostic for the log). The training broadcasts are
        noiseless, as published (the noise enters through the MMSE regulariser). A robust design
        adds the channel error's Ω = E[Δ F S_w S_w^H F^H Δ^H] to the normal matrix and its share
        (1/n) tr(G Ω G^H) to the objective (:class:`_ChannelErrors`)."""
        received = self.link.send(symbols.mT, noise=False, split=self.widely).mT  # (K, T N_r, n)
        n = received.shape[-1]
        gram = received @ received.mH
        eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
        loading = n * self.sigma2 + 1e-12 * torch.diagonal(gram, dim1=-2, dim2=-1).real.mean(-1)  # as the single-link G step
        system = gram + loading[:, None, None] * eye
        if self.errors is not None:
            omega = self.errors.covariance(symbols @ symbols.mH)  # F S_w (F S_w)^H: the broadcast's own Gram
            system = system + omega
        decoders = torch.linalg.solve(system, received @ self.x_white.mH).mH  # X Y^H (Y Y^H [+ Ω] + n s2 I)^-1
        error = (self.x_white - decoders @ received).abs().square().sum((-2, -1)) / n
        if self.errors is not None:
            error = error + ((decoders @ omega) * decoders.conj()).sum((-2, -1)).real / n  # (1/n) tr(G Ω G^H)
        values = error + self.sigma2 * decoders.abs().square().sum((-2, -1))
        for k, user in enumerate(self.users):
            user.decoder = decoders[k, : self.sizes[k]].resolve_conj().contiguous()  # its own memory: a saved copy transmits alike
        return [float(values[k] / (self.entries_per_row * self.sizes[k])) for k in range(len(self.users))]

    def uplink(self) -> list[dict[str, torch.Tensor]]:
        """Each user's message: M1 = A^H A (robust: + Ψ(G^H G)) and M2 = A^H X_w with A = G H
        (never X or G)."""
        out = []
        for user in self.users:
            a = user.decoder @ user.channel
            m1 = a.mH @ a
            if self.errors is not None:
                m1 = m1 + self.errors.adjoint(user.decoder.mH @ user.decoder)
            out.append({"m1": m1, "m2": a.mH @ user.x_white})
        return out

    def snapshot(self, keep_private: bool = True) -> list["_User"]:
        return [user.snapshot(keep_private) for user in self.users]


class _AccessPoint:
    """The AP's private state (whitened pilots, F, Z, U) and its protocol steps."""

    def __init__(
        self, latents: torch.Tensor, start: torch.Tensor, *, variant: str, rho: float, power: float, n_users: int,
        widely: bool = False, threads: int | None = None, statistics: bool = False,
    ) -> None:  # fmt: skip
        if threads:
            torch.set_num_threads(threads)
        self.n = latents.shape[0]
        self.statistics, self.widely = statistics, widely
        if statistics:
            # Moments only, from one real GEMM: the centred pilots stay here (the in-process
            # users' cross products use them); S_w is formed only if a message needs it.
            self.centred, mean, covariance = coordinate_moments(latents, widely)
            self.whitener = whitener_from_covariance(mean, covariance, n=self.n, name="AP pilots")
            self.gram = (self.n - 1) * whitened_covariance(self.whitener, covariance).to(start.dtype)  # S_w S_w^H
            self._s_white = None
        else:
            coords = _coordinates(latents, widely)
            self.whitener = fit_whitener(coords, name="AP pilots")
            self._s_white = self.whitener.whiten(coords).mT.to(start.dtype)  # (m_0, n)
            self.gram = self._s_white @ self._s_white.mH
        self.dtype = start.dtype
        # S_w S_w^H = (n - 1) I unless the whitening was shrunk (fewer pilots than AP dimensions).
        self.isotropic = self.whitener.shrinkage == 0.0
        if not self.isotropic:
            values, self.sxx_vectors = torch.linalg.eigh((self.gram + self.gram.mH) / 2)
            self.sxx_values = values.to(start.dtype)
        self.variant, self.rho, self.power, self.n_users = variant, rho, power, n_users
        shape = (n_users, *start.shape) if variant == "multi-link" else start.shape
        self.f = start.expand(shape).clone()
        self.z, self.u = self.f.clone(), torch.zeros_like(self.f)

    @property
    def s_white(self) -> torch.Tensor:
        """The whitened AP pilots ``(m_0, n)``, column form (formed on first use in statistics mode)."""
        if self._s_white is None:
            centred = _coordinates(self.centred, self.widely).to(self.whitener.chol.dtype)
            self._s_white = torch.linalg.solve_triangular(self.whitener.chol, centred.mT, upper=False).to(self.dtype)
        return self._s_white

    def symbols(self, precoder: torch.Tensor) -> torch.Tensor:
        """The pilot symbols F S_w ``(T N_t, n)`` (or ``(K, T N_t, n)``) a precoder broadcasts."""
        return precoder @ self.s_white

    def broadcast(self, final: bool = False) -> list[tuple[str | int, torch.Tensor]]:
        """The pilot symbols to send: F S_w to all (one broadcast), or F_k S_w to user k (multi-link).
        ``final`` sends the feasible Z, to which the users fit the equalisers they keep. In
        statistics mode the items carry the precoders F (the in-process users derive what they
        receive from them; :meth:`symbols` forms the broadcast itself)."""
        f = self.z if final else self.f
        send = (lambda precoder: precoder) if self.statistics else self.symbols
        if self.variant == "multi-link":
            return [(k, send(f[k])) for k in range(self.n_users)]
        return [("all", send(f))]

    def update(self, uplinks: list[dict[str, torch.Tensor]]) -> dict[str, float]:
        """F step from the users' messages, power-ball projection, dual step."""
        n_rho = self.n * self.rho
        anchor = self.z - self.u
        # M2 S_w^H of each user (the in-process users send it formed from their statistics).
        projected = [msg["m2_sh"] if "m2_sh" in msg else msg["m2"] @ self.s_white.mH for msg in uplinks]
        if self.variant == "federated-admm":  # exact consensus ADMM: the summed normal equations
            rhs = sum(projected) + n_rho * anchor
            f = self._solve(sum(msg["m1"] for msg in uplinks), rhs, n_rho)
        else:
            local = torch.stack(
                [self._solve(msg["m1"], projected[k] + n_rho * (anchor[k] if self.variant == "multi-link" else anchor), n_rho)
                 for k, msg in enumerate(uplinks)]
            )  # fmt: skip
            f = local if self.variant == "multi-link" else local.mean(0)
        z_prev = self.z
        flat = (f + self.u).reshape(-1, *f.shape[-2:])
        self.f, self.z = f, project_power_ball(flat, self.power).reshape(f.shape)
        self.u = self.u + self.f - self.z
        return {
            "primal_residual": float(torch.linalg.vector_norm(self.f - self.z)),
            "dual_residual": float(self.rho * torch.linalg.vector_norm(self.z - z_prev)),
            "power": float(self.f.abs().square().sum() / (self.n_users if self.variant == "multi-link" else 1)),
        }

    def _solve(self, m1: torch.Tensor, rhs: torch.Tensor, n_rho: float) -> torch.Tensor:
        """F with M1 F (S_w S_w^H) + n rho F = rhs. With exactly white pilots S_w S_w^H = (n - 1) I and
        this is one linear solve; with fewer pilots than AP dimensions the whitening is shrunk, so
        the Sylvester equation is solved exactly by diagonalising both sides."""
        if self.isotropic:
            eye = torch.eye(m1.shape[-1], dtype=m1.dtype)
            return torch.linalg.solve((self.n - 1) * m1 + n_rho * eye, rhs)
        lam_m, q_m = torch.linalg.eigh((m1 + m1.mH) / 2)
        rotated = q_m.mH @ rhs @ self.sxx_vectors
        rotated = rotated / (lam_m.unsqueeze(-1) * self.sxx_values.unsqueeze(-2) + n_rho)
        return q_m @ rotated @ self.sxx_vectors.mH

    def snapshot(self) -> dict:
        return {"precoder": self.z, "whitener": self.whitener, "n_pilots": self.n}




class _StatisticsUserGroup(_UserGroup):
    """Every user simulated in this process from sufficient statistics (module docstring).

    Formed once per user: its whitener (from the pilots' covariance), the cross product
    C_k = X_w S_w^H ``(m_k, m_0)`` with the AP's centred pilots, and ||X_w||^2. Each round then costs
    O(K T N (T N + m_0 + m_k)) products of small matrices, whatever n.
    """

    def __init__(
        self, names: list[str], latents: list[torch.Tensor], link: Link, channels: torch.Tensor, sigma2: float, ap: _AccessPoint,
        widely: bool = False, errors: _ChannelErrors | None = None,
    ) -> None:  # fmt: skip
        self.errors = errors
        self.entries_per_row = 1 if widely else 2
        self.link, self.channels, self.sigma2, self.widely = link, channels, sigma2, widely
        self.ap_gram = ap.gram
        self.n = ap.n
        self.users, crosses, energies = [], [], []
        for name, x, h in zip(names, latents, channels):
            centred, mean, covariance = coordinate_moments(x, widely)
            whitener = whitener_from_covariance(mean, covariance, n=self.n, name=f"{name} pilots")
            self.users.append(_User(name, x, h, sigma2, widely, whitener=whitener))
            real_cross = centred.mT @ ap.centred  # one real GEMM over the pilots, (d_k, d_0)
            raw = (real_cross if widely else pack_complex_moment(real_cross)).to(whitener.chol.dtype)  # X_c S_c^H, (m_k, m_0)
            left = torch.linalg.solve_triangular(whitener.chol, raw, upper=False)
            crosses.append(torch.linalg.solve_triangular(ap.whitener.chol.conj(), left.mT, upper=False).mT)  # L_x^-1 X_c S_c^H L_s^-H
            energies.append((self.n - 1) * torch.diagonal(whitened_covariance(whitener, covariance)).real.sum())
        self.sizes = [c.shape[0] for c in crosses]
        self.cross = torch.zeros(len(crosses), max(self.sizes), crosses[0].shape[1], dtype=channels.dtype)
        for k, c in enumerate(crosses):
            self.cross[k, : self.sizes[k]] = c.to(channels.dtype)
        self.energy = torch.stack(energies).to(self.ap_gram.real.dtype if self.ap_gram.is_complex() else self.ap_gram.dtype)

    def receive(self, precoder: torch.Tensor) -> list[float]:
        """Every user refits its MMSE equaliser to the broadcast of ``precoder`` (``(T N_t, m_0)``,
        or ``(K, T N_t, m_0)`` one per user) and reports its objective, from the statistics."""
        hf = self.channels @ precoder.to(self.channels.dtype)  # (K, T N_r, m_0): H F
        gram = hf @ self.ap_gram @ hf.mH  # Y Y^H = H F S_w S_w^H F^H H^H
        cross = hf @ self.cross.mH  # Y X_w^H = H F (X_w S_w^H)^H, (K, T N_r, m_k)
        eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
        loading = self.n * self.sigma2 + 1e-12 * torch.diagonal(gram, dim1=-2, dim2=-1).real.mean(-1)  # as the single-link G step
        if self.errors is not None:  # robust: Y Y^H + Ω, Ω = E[Δ F S_w S_w^H F^H Δ^H] (:class:`_ChannelErrors`)
            p = precoder.to(self.channels.dtype)
            gram = gram + self.errors.covariance(p @ self.ap_gram @ p.mH)
        decoders = torch.linalg.solve(gram + loading[:, None, None] * eye, cross).mH  # X Y^H (Y Y^H [+ Ω] + n s2 I)^-1, (K, m_k, T N_r)
        # ||X_w - G Y||^2 = ||X_w||^2 - 2 Re tr(G Y X_w^H) + tr(G Y Y^H G^H) (robust: + tr(G Ω G^H))
        fitted = (decoders * cross.mT).sum((-2, -1)).real
        spread = ((decoders @ gram) * decoders.conj()).sum((-2, -1)).real
        error = (self.energy - 2 * fitted + spread) / self.n
        values = error + self.sigma2 * decoders.abs().square().sum((-2, -1))
        for k, user in enumerate(self.users):
            user.decoder = decoders[k, : self.sizes[k]].resolve_conj().contiguous()
        self.decoders = decoders
        return [float(values[k] / (self.entries_per_row * self.sizes[k])) for k in range(len(self.users))]

    def uplink(self) -> list[dict[str, torch.Tensor]]:
        """Each user's M1 = A^H A, and M2 S_w^H = A^H X_w S_w^H formed from its cross product (the
        AP's next step needs only that product of the message M2 = A^H X_w)."""
        a = self.decoders @ self.channels  # (K, m_k, T N_t), zero rows where padded
        m1, m2_sh = a.mH @ a, a.mH @ self.cross
        if self.errors is not None:  # robust: + Ψ(G^H G) (zero padded rows add nothing)
            m1 = m1 + self.errors.adjoint(self.decoders.mH @ self.decoders)
        return [{"m1": m1[k], "m2_sh": m2_sh[k]} for k in range(len(self.users))]

    def message(self, k: int) -> torch.Tensor:
        """User k's M2 = A^H X_w ``(T N_t, n)`` itself, formed from its pilots (for the record)."""
        user = self.users[k]
        a = user.decoder @ user.channel
        return a.mH @ user.x_white


def coordinate_moments(latents: torch.Tensor, widely: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Real ``(n, d)`` pilots -> their centred copy ``(n, d)`` (real), and the mean and sample
    covariance (column form C = X_c X_c^H / (n - 1)) of the coordinates the maps act on: the real
    latents, or their packed complex form, whose covariance comes from the real one
    (:func:`~semalign.link.packing.pack_complex_moment`). One real GEMM over the pilots."""
    mean = latents.mean(0)
    centred = latents - mean
    covariance = centred.mT @ centred / (latents.shape[0] - 1)
    if widely:
        return centred, mean, covariance
    return centred, pack_complex(mean), pack_complex_moment(covariance)


def whitened_covariance(whitener: Whitener, covariance: torch.Tensor) -> torch.Tensor:
    """L^-1 C L^-H: the covariance of the whitened pilots (the identity, unless the whitening was
    shrunk or loaded)."""
    left = torch.linalg.solve_triangular(whitener.chol, covariance.to(whitener.chol.dtype), upper=False)
    return torch.linalg.solve_triangular(whitener.chol.conj(), left.mT, upper=False).mT
