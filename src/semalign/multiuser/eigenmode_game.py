"""The fixed-eigenmode semantic power game, batched over instances.

Each pair's directions are frozen to the SVD of its direct channel H_qq = U_q S_q V_q^H; the i-th
strongest semantic direction (right singular vector of A_q) rides on the i-th strongest channel
mode, so a strategy is just a power vector p_q over k = min(n_T, n_R, d, m) streams:

    F_q = V_q[:, :k] diag(sqrt(p_q)) V_{A,q}[:, :k]^H.

Stream i of pair q is received along u_{q,i} with gain s_{q,i}^2; it sees the noise n_{q,i} =
u_{q,i}^H R_q^0 u_{q,i} and the leakage I_{q,i} = sum_{r != q} sum_j g_{qi,rj} p_{r,j}, with
g_{qi,rj} = |u_{q,i}^H H_qr v_{r,j}|^2. In gains lambda = s^2 / (n + I) (the inverse level 1/l of
the spec) the pair's per-stream payoff is

    f_q(p_q; p_-q) = e_q^LS + sum_{i<=k} w_{q,i} / (1 + lambda_{q,i} p_{q,i}) + sum_{i>k} w_{q,i},

strictly convex in p_q on a fixed convex set, so a Nash equilibrium exists. The best response is
semantic water-filling; interference prices make the water level mode dependent:
p_i = [sqrt(w_i / (lambda_i (mu + sum_p eta_p c_{p,i}))) - 1/lambda_i]^+ with c_{p,i} = ||G_p v_i||^2.

On a network with channel-error variances (robust designs, see :mod:`semalign.multiuser.network`)
the leakage and the primary-user coefficients are expectations over the error, still linear in the
powers: g_{qi,rj} += s_qr u_{q,i}^H (B(v_{r,j} v_{r,j}^H) (x) I_N) u_{q,i} and c_{p,i} += s_pq N_p
(v_{r,j} in antenna space, unit norm), so the game keeps its form and its conditions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semalign.multiuser.network import DTYPE, InterferenceNetwork
from semalign.multiuser.prices import price_search
from semalign.multiuser.water_filling import semantic_water_filling


@dataclass(frozen=True)
class EigenmodeGame:
    """The reduced game of a batch of networks (B instances, Q pairs, k streams, J primary users).

    Attributes:
        weights: ``(B, Q, k)`` semantic weights w_{q,i} of the streams (descending; 0 = padding).
        truncation: ``(B, Q)`` sum_{i>k} w_{q,i}, the compression loss no power can recover.
        direct_gains: ``(B, Q, k)`` s_{q,i}^2.
        leakage: ``(B, Q, Q, k, k)`` g_{qi,rj}; zero for r = q.
        noise: ``(B, Q, k)`` n_{q,i}.
        pu_leakage: ``(B, J, Q, k)`` c_{pq,i}, or ``(B, 0, Q, k)`` without primary users.
        power: ``(B, Q)`` budgets.
        tx_modes: ``(B, Q, n_T, k)`` V_q[:, :k].
        semantic_modes: ``(B, Q, k, d)`` V_{A,q}[:, :k]^H.
        residual_mse: ``(B, Q)`` e_q^LS.
    """

    weights: torch.Tensor
    truncation: torch.Tensor
    direct_gains: torch.Tensor
    leakage: torch.Tensor
    noise: torch.Tensor
    pu_leakage: torch.Tensor
    power: torch.Tensor
    tx_modes: torch.Tensor
    semantic_modes: torch.Tensor
    residual_mse: torch.Tensor

    @classmethod
    def from_network(cls, network: InterferenceNetwork) -> "EigenmodeGame":
        h_direct = network.direct_channels
        u, s, vh = torch.linalg.svd(h_direct, full_matrices=False)
        _, s_a, vh_a = torch.linalg.svd(network.alignment, full_matrices=False)
        k = min(s.shape[-1], s_a.shape[-1])
        u, v = u[..., :k], vh.mH[..., :k]
        w_all = s_a.square()
        # g_{qi,rj} = |u_{q,i}^H H_qr v_{r,j}|^2 for every (q, r); the diagonal blocks are the direct link.
        cross = u.unsqueeze(2).mH @ network.channels @ v.unsqueeze(1)
        eye = torch.eye(network.n_pairs, dtype=torch.bool, device=u.device)
        leakage = torch.where(eye[None, :, :, None, None], torch.zeros((), dtype=torch.float64), cross.abs().square())
        if network.channel_error is not None:
            leakage = leakage + _error_leakage(network, u, v)
        noise = torch.diagonal(u.mH @ network.noise @ u, dim1=-2, dim2=-1).real
        if network.pu_channels is not None:
            pu_leakage = (network.pu_channels @ v.unsqueeze(1)).abs().square().sum(-2)
            if network.pu_channel_error is not None:  # + s N_p ||U v||^2 (antenna space)
                pu_leakage = pu_leakage + network.pu_error_load().unsqueeze(-1) * network.lift(v).abs().square().sum(-2).unsqueeze(1)
        else:
            pu_leakage = torch.zeros(network.n_instances, 0, network.n_pairs, k, dtype=torch.float64, device=u.device)
        gains = s[..., :k].square()
        # Null-shaped channels have singular values at rounding level (~1e-33): those modes are absent.
        gains = torch.where(gains > 1e-24 * gains.amax(-1, keepdim=True), gains, torch.zeros_like(gains))
        return cls(
            weights=w_all[..., :k],
            truncation=w_all[..., k:].sum(-1),
            direct_gains=gains,
            leakage=leakage,
            noise=noise,
            pu_leakage=pu_leakage,
            power=network.power,
            tx_modes=v,
            semantic_modes=vh_a[..., :k, :],
            residual_mse=network.residual_mse,
        )

    @property
    def n_streams(self) -> int:
        return self.weights.shape[-1]

    def stream_gains(self, powers: torch.Tensor, pairs: torch.Tensor | None = None) -> torch.Tensor:
        """lambda_{q,i} = s_{q,i}^2 / (n_{q,i} + I_{q,i}(p_-q)) ``(B, S, k)`` for the pairs asked."""
        idx = slice(None) if pairs is None else pairs
        leak = (self.leakage[:, idx] @ powers.unsqueeze(1).unsqueeze(-1)).squeeze(-1).sum(2)  # (B, S, k)
        return self.direct_gains[:, idx] / (self.noise[:, idx] + leak)

    def payoff(self, powers: torch.Tensor, gains: torch.Tensor, pairs: torch.Tensor | None = None) -> torch.Tensor:
        """f_q ``(B, S)``: e^LS + sum_i w_i / (1 + lambda_i p_i) + truncation, for the pairs' own ``powers``."""
        idx = slice(None) if pairs is None else pairs
        return self.residual_mse[:, idx] + (self.weights[:, idx] / (1 + gains * powers)).sum(-1) + self.truncation[:, idx]

    def precoders(self, powers: torch.Tensor) -> torch.Tensor:
        """``(B, Q, n_T, d)`` F_q = V_q diag(sqrt p_q) V_{A,q}^H."""
        return (self.tx_modes * powers.sqrt().to(DTYPE).unsqueeze(-2)) @ self.semantic_modes


def _error_leakage(network: InterferenceNetwork, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``(B, Q, Q, k, k)`` s_qr u_{q,i}^H (B(v v^H) (x) I_N) u_{q,i} for v = v_{r,j} in antenna space
    (zero for r = q). With v and u reshaped per use (T, N): B(v v^H)_{ts} = v_s^H v_t and
    u^H (B (x) I) u = sum_{t,s} B_ts u_t^H u_s. With ``independent_errors`` (one error per
    subcarrier) only the diagonal of B remains: sum_t ||v_t||^2 ||u_t||^2."""
    t = network.uses
    v_full = network.lift(v)  # (B, Q, n_T_full, k)
    b, q, _, k = v_full.shape
    v_use = v_full.transpose(-2, -1).reshape(b, q, k, t, -1)  # (B, Q, k, T, N_t)
    u_use = u.transpose(-2, -1).reshape(b, q, k, t, -1)  # (B, Q, k, T, N)
    block = torch.einsum("brjta,brjsa->brjts", v_use, v_use.conj())  # B(v v^H)
    if network.independent_errors:  # independent per-use errors: E[Δ] cross blocks vanish
        block = block * torch.eye(t, dtype=block.dtype, device=block.device)
    gram = torch.einsum("bqita,bqisa->bqits", u_use.conj(), u_use)  # u_t^H u_s
    leak = torch.einsum("bqits,brjts->bqrij", gram, block).real
    eye = torch.eye(q, dtype=torch.bool, device=u.device)
    weights = torch.where(eye, torch.zeros((), dtype=torch.float64), network.channel_error)
    return weights[..., None, None] * leak


def priced_water_filling(weights, gains, power, cost, *, steps: int = 100) -> torch.Tensor:
    """Semantic water-filling with mode-dependent levels: minimise sum_i w_i/(1 + lambda_i p_i) +
    sum_i cost_i p_i subject to sum_i p_i <= P, p >= 0. ``(..., k)`` arrays, ``power``
    ``(...,)``. Exact (active set) when every cost is 0; otherwise bisection on the power multiplier.
    """
    w, lam, cost = (torch.as_tensor(t, dtype=torch.float64) for t in (weights, gains, cost))
    p_total = torch.as_tensor(power, dtype=torch.float64).expand(w.shape[:-1])
    if not bool((cost > 0).any()):
        return semantic_water_filling(w, lam, p_total)[0]
    usable = (w > 0) & (lam > 0)
    safe_lam = torch.where(usable, lam, torch.ones_like(lam))

    def powers_at(mu):
        level = (mu.unsqueeze(-1) + cost).clamp_min(1e-300)
        p = torch.sqrt(w / (safe_lam * level)) - 1 / safe_lam
        return torch.where(usable, p.clamp_min(0.0), torch.zeros_like(p))

    # At mu >= max w*lambda every mode is off, so the budget holds there.
    low = torch.zeros_like(p_total)
    high = torch.where(usable, w * lam, torch.zeros_like(w)).amax(-1).clamp_min(1e-300)
    slack = powers_at(low).sum(-1) <= p_total
    for _ in range(int(steps)):
        mid = (low + high) / 2
        over = powers_at(mid).sum(-1) > p_total
        low, high = torch.where(over, mid, low), torch.where(over, high, mid)
    return powers_at(torch.where(slack, torch.zeros_like(high), high))


def eigenmode_response(
    game: EigenmodeGame,
    gains: torch.Tensor,
    pairs: torch.Tensor | None = None,
    *,
    prices: torch.Tensor | None = None,
    limits: torch.Tensor | None = None,
) -> torch.Tensor:
    """Best-response powers ``(B, S, k)`` of the pairs asked, given their stream gains ``(B, S, k)``.

    Args:
        prices: ``(B, J)`` fixed interference prices (global budget handled by a broker), or
        limits: ``(B, J, S)`` individual budgets c_pq^T p_q <= limit (the prices are then found per pair).
    """
    idx = slice(None) if pairs is None else pairs
    w, p_total = game.weights[:, idx], game.power[:, idx]
    c = game.pu_leakage[:, :, idx]  # (B, J, S, k)
    if limits is not None:
        # With price ratios t_p = eta_p / mu the levels are mu (1 + sum_p t_p c_{p,i}): for fixed t this
        # is plain semantic water-filling with weights w_i / (1 + sum_p t_p c_{p,i}), exact.
        def evaluate(ratios):  # (B, S, J)
            scaled = w / (1 + (ratios.transpose(1, 2).unsqueeze(-1) * c).sum(1))
            p = semantic_water_filling(scaled, gains, p_total)[0]
            return p, (c * p.unsqueeze(1)).sum(-1).transpose(1, 2)

        caps = limits.transpose(1, 2)
        _, p, load = price_search(evaluate, caps)
        unreachable = (load > caps * (1 + 1e-9)).any(-1)  # (B, S)
        if bool(unreachable.any()):
            # The limit binds so hard that the budget P is not used (mu = 0): search the absolute
            # prices with the power multiplier free (exact, slower; only where needed).
            def evaluate_prices(eta):
                q = priced_water_filling(w, gains, p_total, (eta.transpose(1, 2).unsqueeze(-1) * c).sum(1))
                return q, (c * q.unsqueeze(1)).sum(-1).transpose(1, 2)

            _, exact, exact_load = price_search(evaluate_prices, caps)
            p = torch.where(unreachable.unsqueeze(-1), exact, p)
            load = torch.where(unreachable.unsqueeze(-1), exact_load, load)
        # A residual from coordinate sweeps (several primary users): scale to feasibility.
        scale = (caps / load.clamp_min(1e-300)).clamp(max=1.0).amin(-1, keepdim=True)
        return p * scale
    if prices is not None and c.shape[1]:
        return priced_water_filling(w, gains, p_total, (prices[:, :, None, None] * c).sum(1))
    return semantic_water_filling(w, gains, p_total)[0]
