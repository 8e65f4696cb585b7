"""Sufficient conditions for a unique equilibrium and convergent iterative water-filling.

All three are computed per instance of a batch of networks:

* ``classical`` (Scutari-Palomar-Barbarossa for the MIMO *rate* game): rho(S) < 1 with
  [S]_qr = rho(H_qr^H H_qq^{+H} H_qq^{+} H_qr) for r != q. It is reported for comparison: it
  certifies the rate game, not the semantic one.
* ``C1`` (derived for the semantic game): rho(Gamma) < 1 with Gamma_qr = max_j sum_i max(1/s_{q,i}^2, P_q/n_{q,i})
  g_{qi,rj}; bounds the Lipschitz constant of the semantic water-filling in a weighted block 1-norm.
* ``C2`` (derived for the semantic game): c < 1, a sup-norm contraction of the Jacobi map in log-level coordinates,
  with semantic pruning (modes that can never be active do not count) and the cap w/mu_min.

C1 and C2 certify the fixed-eigenmode game with power constraints or null shaping (null shaping only
changes the channels); if either holds, the equilibrium is unique and Jacobi, Gauss-Seidel and
asynchronous updates converge linearly. With interference budgets they do not apply
(``applicable`` is then False). :func:`local_rate` gives rho(J) of the Jacobi map at a computed
equilibrium, the observed linear rate.

On a network with channel-error variances (robust designs under imperfect CSI) the reduced game's
leakage and noise are expectations over the error (:class:`~semalign.multiuser.eigenmode_game.EigenmodeGame`),
so C1 and C2 certify the game of those expectations, the one a robust design solves; they say
nothing about the game on any one true channel realisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semalign.multiuser.eigenmode_game import EigenmodeGame
from semalign.multiuser.network import InterferenceNetwork


@dataclass(frozen=True)
class ConditionReport:
    """Per-instance condition values ``(B,)`` (a value below 1 certifies uniqueness and convergence).

    Attributes:
        classical: rho(S) of the MIMO rate-game condition (reference only).
        c1: rho(Gamma) of condition C1.
        c2: the log-level contraction factor c of condition C2.
        applicable: False where the network has interference budgets (C1/C2 then do not apply).
    """

    classical: torch.Tensor
    c1: torch.Tensor
    c2: torch.Tensor
    applicable: bool

    @property
    def holds(self) -> torch.Tensor:
        """``(B,)`` whether C1 or C2 certifies the instance (False where not applicable)."""
        ok = (self.c1 < 1) | (self.c2 < 1)
        return ok & self.applicable

    def summary(self) -> str:
        """One line per instance, naming each condition, its value and whether it holds."""
        lines = []
        for i in range(len(self.c1)):
            parts = [f"{name} = {float(v[i]):.3g} ({'holds' if v[i] < 1 else 'fails'})" for name, v in (("C1 rho(Gamma)", self.c1), ("C2 c", self.c2), ("classical rho(S)", self.classical))]
            verdict = "certified unique and convergent" if bool(self.holds[i]) else ("not certified" if self.applicable else "C1/C2 do not apply with interference budgets")
            lines.append(f"instance {i}: " + ", ".join(parts) + f" -> {verdict}")
        return "\n".join(lines)


def _spectral_radius(matrix: torch.Tensor) -> torch.Tensor:
    return torch.linalg.eigvals(matrix).abs().amax(-1)


def _usable(game: EigenmodeGame) -> torch.Tensor:
    """``(B, Q, k)`` modes that can ever carry power: positive semantic weight and direct gain."""
    return (game.weights > 0) & (game.direct_gains > 0)


def classical_condition(network: InterferenceNetwork) -> torch.Tensor:
    """rho(S) ``(B,)`` with [S]_qr = rho(H_qr^H H_qq^{+H} H_qq^{+} H_qr) (pseudo-inverse for non-square H_qq)."""
    pinv = torch.linalg.pinv(network.direct_channels)  # (B, Q, n_T, n_R)
    x = pinv.unsqueeze(2) @ network.channels  # H_qq^+ H_qr: (B, Q, Q, n_T, n_T)
    s = torch.linalg.eigvalsh((x.mH @ x + (x.mH @ x).mH) / 2).amax(-1)  # (B, Q, Q)
    s = s * (1 - torch.eye(network.n_pairs, dtype=s.dtype))
    return _spectral_radius(s.to(torch.complex128))


def condition_c1(game: EigenmodeGame) -> torch.Tensor:
    """rho(Gamma) ``(B,)`` of condition C1."""
    usable = _usable(game)
    safe_s = torch.where(usable, game.direct_gains, torch.ones_like(game.direct_gains))
    safe_n = game.noise.clamp_min(1e-300)
    factor = torch.maximum(1 / safe_s, game.power.unsqueeze(-1) / safe_n) * usable  # (B, Q, k)
    weighted = (factor[:, :, None, :, None] * game.leakage).sum(-2)  # sum over i: (B, Q, Q, k_r)
    gamma = (weighted * usable[:, None, :, :]).amax(-1)  # max over usable j of r
    return _spectral_radius(gamma.to(torch.complex128))


def condition_c2(game: EigenmodeGame) -> torch.Tensor:
    """The contraction factor c ``(B,)`` of condition C2."""
    usable = _usable(game)
    s2, n, w = game.direct_gains, game.noise.clamp_min(1e-300), game.weights
    p_r = game.power  # (B, Q)
    g = game.leakage * usable[:, None, :, None, :]  # only modes of r that can be active leak
    i_max = (p_r[:, None, :, None] * g.amax(-1)).sum(2)  # (B, Q, k): sum_r P_r max_j g
    level_bar = (n + i_max) / torch.where(usable, s2, torch.ones_like(s2))
    lam_hi, lam_lo = s2 / n, s2 / (n + i_max)

    def h(lam):
        return w * lam / (1 + lam * p_r.unsqueeze(-1)) ** 2

    mu_min = torch.where(usable, torch.minimum(h(lam_lo), h(lam_hi)), torch.zeros_like(s2)).amax(-1, keepdim=True)
    prunable = w * lam_hi <= mu_min
    capped = torch.minimum(level_bar, w / mu_min.clamp_min(1e-300))
    level_tilde = torch.where(usable & ~prunable, capped, torch.zeros_like(capped))  # (B, Q, k)
    leak = (game.leakage @ level_tilde.unsqueeze(1).unsqueeze(-1)).squeeze(-1).sum(2)  # L_{q,i}
    c = torch.maximum(leak / n, (i_max + leak) / (n + i_max))
    return torch.where(usable, c, torch.zeros_like(c)).flatten(1).amax(-1)


def check_conditions(network: InterferenceNetwork) -> ConditionReport:
    """Evaluate the classical condition, C1 and C2 for every instance of ``network``."""
    shaped = network.null_shaped() if network.pu_protection == "null" else network
    game = EigenmodeGame.from_network(shaped)
    return ConditionReport(
        classical=classical_condition(shaped),
        c1=condition_c1(game),
        c2=condition_c2(game),
        applicable=network.pu_protection in ("none", "null"),
    )


def jacobi_jacobian(game: EigenmodeGame, powers: torch.Tensor) -> torch.Tensor:
    """``(B, Q k, Q k)`` Jacobian of the fixed-eigenmode Jacobi map at ``powers`` ``(B, Q, k)``.

    Block (q, r) is (I - pi_q 1^T) diag(beta_q / s_q^2) g_qr on the active modes, with
    beta_i = (p_i - l_i)/(2 l_i) and pi_i = (p_i + l_i)/sum_active(p + l), l = 1/lambda the levels.
    Rows and columns of inactive modes are zero.
    """
    lam = game.stream_gains(powers)
    # Powers below 1e-12 of the pair's total are rounding, not active modes.
    active = (powers > 1e-12 * powers.sum(-1, keepdim=True)) & (lam > 0)
    level = 1 / torch.where(active, lam, torch.ones_like(lam))
    beta = torch.where(active, (powers - level) / (2 * level), torch.zeros_like(level))
    mass = torch.where(active, powers + level, torch.zeros_like(level))
    pi = mass / mass.sum(-1, keepdim=True).clamp_min(1e-300)
    k = powers.shape[-1]
    projector = torch.eye(k, dtype=torch.float64) - pi.unsqueeze(-1) * active.unsqueeze(-2)  # (I - pi 1_A^T)
    projector = projector * active.unsqueeze(-1)
    scale = beta / torch.where(active, game.direct_gains, torch.ones_like(level))
    blocks = (projector * scale.unsqueeze(-2)).unsqueeze(2) @ (game.leakage * active[:, None, :, None, :])  # (B, Q, Q, k, k)
    b, q = powers.shape[:2]
    return blocks.permute(0, 1, 3, 2, 4).reshape(b, q * k, q * k)


def local_rate(game: EigenmodeGame, powers: torch.Tensor) -> torch.Tensor:
    """rho(J) ``(B,)`` of :func:`jacobi_jacobian`: the asymptotic linear rate of Jacobi updates."""
    return _spectral_radius(jacobi_jacobian(game, powers).to(torch.complex128))
