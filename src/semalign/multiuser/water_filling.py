"""Semantic water-filling: the power allocation of the semantic best response.

For stream weights w_i >= 0 (semantic importance: squared singular values of the alignment map)
and eigenmode gains lambda_i >= 0 (interference-whitened channel), solve the convex problem

    min_p  sum_i w_i / (1 + lambda_i p_i)    s.t.  sum_i p_i <= P,  p >= 0.

The KKT conditions give p_i = [nu sqrt(w_i / lambda_i) - 1 / lambda_i]^+ with the water level nu set
by sum_i p_i = P: mode i is on iff w_i lambda_i > nu^{-2}, so semantic importance raises the water
level of a mode (weak but important modes still get power). With equal weights this is the MMSE
water-filling. Two solvers, batched over any leading axes: bisection on nu (``"bisection"``) and the
exact active-set formula (``"active-set"``: with modes sorted by w_i lambda_i, the level for n active
modes is nu_n = (P + sum_{i<=n} 1/lambda_i) / sum_{i<=n} sqrt(w_i/lambda_i), and n is the largest
count whose weakest mode still gets positive power).
"""

from __future__ import annotations

import torch

from semalign._checks import check_choice

WATER_FILLING_METHODS = ("active-set", "bisection")


def _validate(weights: torch.Tensor, gains: torch.Tensor, power) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    w = torch.as_tensor(weights, dtype=torch.float64)
    lam = torch.as_tensor(gains, dtype=torch.float64, device=w.device)
    if w.shape != lam.shape or w.ndim == 0:
        raise ValueError(f"weights and gains must have the same shape (..., k), got {tuple(w.shape)} and {tuple(lam.shape)}")
    if not (torch.isfinite(w).all() and torch.isfinite(lam).all()) or (w < 0).any() or (lam < -1e-12).any():
        raise ValueError("weights and gains must be finite and >= 0 (gains are eigenvalues of a PSD matrix)")
    p = torch.as_tensor(power, dtype=torch.float64, device=w.device).expand(w.shape[:-1])
    if not torch.isfinite(p).all() or (p <= 0).any():
        raise ValueError(f"power must be finite and > 0, got {power!r}")
    return w, lam.clamp_min(0.0), p


def _powers_at(level: torch.Tensor, w: torch.Tensor, lam: torch.Tensor, usable: torch.Tensor) -> torch.Tensor:
    safe = torch.where(usable, lam, torch.ones_like(lam))
    p = level.unsqueeze(-1) * torch.sqrt(w / safe) - 1.0 / safe
    return torch.where(usable, p.clamp_min(0.0), torch.zeros_like(p))


def semantic_water_filling(weights, gains, power, *, method: str = "active-set", iterations: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """Optimal powers for the semantic MSE sum_i w_i / (1 + lambda_i p_i) under sum_i p_i <= P.

    Args:
        weights: ``(..., k)`` w_i >= 0.
        gains: ``(..., k)`` lambda_i >= 0 (tiny negative rounding is clipped to 0).
        power: P > 0, a number or ``(...,)``.
        method: ``"active-set"`` (exact, default) or ``"bisection"`` on the water level.
        iterations: bisection steps (each halves the bracket; 200 reaches float64 resolution).

    Returns:
        ``(powers (..., k), level (...,))``: the powers sum to P exactly whenever some mode has
        w_i lambda_i > 0 (the constraint is then active); otherwise all powers and the level are 0.
    """
    check_choice("method", method, WATER_FILLING_METHODS)
    w, lam, p_total = _validate(weights, gains, power)
    usable = (w > 0) & (lam > 0)
    any_usable = usable.any(-1)
    safe_lam = torch.where(usable, lam, torch.ones_like(lam))
    root = torch.where(usable, torch.sqrt(w / safe_lam), torch.zeros_like(w))  # sqrt(w/lambda)
    inv = torch.where(usable, 1.0 / safe_lam, torch.zeros_like(w))  # 1/lambda
    if method == "bisection":
        # Above nu_hi every usable mode is on and the total already exceeds P.
        on_threshold = torch.where(usable, 1.0 / torch.sqrt(w * safe_lam), torch.zeros_like(w)).amax(-1)
        all_on = (p_total + inv.sum(-1)) / root.sum(-1).clamp_min(1e-300)
        low, high = torch.zeros_like(p_total), torch.maximum(on_threshold, all_on)
        for _ in range(int(iterations)):
            mid = (low + high) / 2
            over = _powers_at(mid, w, lam, usable).sum(-1) > p_total
            low, high = torch.where(over, low, mid), torch.where(over, mid, high)
        level = (low + high) / 2
    else:
        order = torch.argsort(torch.where(usable, w * lam, torch.full_like(w, -1.0)), dim=-1, descending=True)
        root_s, inv_s, usable_s = (torch.gather(t, -1, order) for t in (root, inv, usable))
        levels = (p_total.unsqueeze(-1) + inv_s.cumsum(-1)) / root_s.cumsum(-1).clamp_min(1e-300)  # nu_n for n = 1..k
        # n active modes are consistent iff the n-th (weakest) one is on at nu_n; take the largest such n.
        valid = (levels * root_s - inv_s > 0) & usable_s
        count = (valid.long() * torch.arange(1, w.shape[-1] + 1, device=w.device)).amax(-1).clamp_min(1)
        level = torch.gather(levels, -1, (count - 1).unsqueeze(-1)).squeeze(-1)
    powers = _powers_at(level, w, lam, usable)
    # Rescale away the bisection's last rounding so the budget is met exactly.
    total = powers.sum(-1, keepdim=True)
    powers = torch.where(total > 0, powers * (p_total.unsqueeze(-1) / total.clamp_min(1e-300)), powers)
    zero = torch.zeros_like(level)
    return torch.where(any_usable.unsqueeze(-1), powers, torch.zeros_like(powers)), torch.where(any_usable, level, zero)
