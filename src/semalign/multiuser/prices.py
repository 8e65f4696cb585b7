"""Interference prices: the multipliers that enforce primary-user interference limits.

Both the individual budgets of one pair (a dual problem per best response) and the coupled
global budget of the whole game (prices set by a spectrum broker) reduce to the same search:
find prices eta_p >= 0 such that the interference I_p(eta) caused at each primary receiver p is at
most its limit, with eta_p > 0 only where the limit is tight (complementary slackness). I_p is
non-increasing in its own price, so each price is found by bisection; several primary users are
handled by cyclic coordinate sweeps over the prices. Everything is batched: ``evaluate`` maps a
batch of price vectors to a batch of solutions, element by element.
"""

from __future__ import annotations

from typing import Callable

import torch

Evaluate = Callable[[torch.Tensor], tuple[object, torch.Tensor]]


def price_search(evaluate: Evaluate, limits: torch.Tensor, *, steps: int = 50, sweeps: int = 8) -> tuple[torch.Tensor, object, torch.Tensor]:
    """Prices meeting interference limits, by bisection per price and coordinate sweeps.

    Args:
        evaluate: ``eta (..., J) -> (solution, interference (..., J))``, element-wise over the batch;
            the interference at p must be non-increasing in eta_p.
        limits: ``(..., J)`` limits I_p^max > 0.
        steps: bisection steps per price (each halves the bracket).
        sweeps: coordinate sweeps when J > 1 (one sweep is exact for J = 1).

    Returns:
        ``(eta, solution, interference)`` at the final prices. Each price is the upper end of its
        bisection bracket, so with one primary user the limit holds at the returned point; with
        several, coordinate sweeps can leave a small violation, which callers remove by scaling.
    """
    limits = torch.as_tensor(limits, dtype=torch.float64)
    n_pu = limits.shape[-1]
    eta = torch.zeros_like(limits)
    for _ in range(1 if n_pu == 1 else sweeps):
        for p in range(n_pu):
            free = eta.clone()
            free[..., p] = 0.0
            _, interference = evaluate(free)
            violated = interference[..., p] > limits[..., p]
            if not bool(violated.any()):
                eta = free
                continue
            # Bracket: raise the price until the limit holds (prices scale like MSE per unit of interference).
            high = 1.0 / limits[..., p]
            for _ in range(80):
                trial = free.clone()
                trial[..., p] = high
                over = evaluate(trial)[1][..., p] > limits[..., p]
                if not bool(over.any()):
                    break
                high = torch.where(over, high * 4.0, high)
            low = torch.zeros_like(high)
            for _ in range(int(steps)):
                mid = (low + high) / 2
                trial = free.clone()
                trial[..., p] = mid
                over = evaluate(trial)[1][..., p] > limits[..., p]
                low, high = torch.where(over, mid, low), torch.where(over, high, mid)
            free[..., p] = torch.where(violated, high, torch.zeros_like(high))
            eta = free
    solution, interference = evaluate(eta)
    return eta, solution, interference
