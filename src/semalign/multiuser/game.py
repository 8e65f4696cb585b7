"""Semantic iterative water-filling: Nash equilibria of the interference game.

Two games, one solver:

* ``"full-mimo"``: a pair's strategy is its precoder F_q; every update is the closed-form
  semantic best response to the interference it measures, so its eigenmodes move with the others.
  There is no convergence proof; under strong interference it can cycle, which is reported.
* ``"fixed-eigenmode"``: directions frozen to the direct channel's SVD, strategies are power
  vectors; the game has an equilibrium, and the conditions of :mod:`semalign.multiuser.conditions`
  certify uniqueness and convergence.

Three update schedules: ``"jacobi"`` (every pair responds to the previous state at once),
``"gauss-seidel"`` (pairs respond in turn to the freshest state) and ``"async"`` (at each tick a
random subset of pairs wakes up and responds to interference measured up to ``max_delay`` ticks
ago, the totally asynchronous model of Bertsekas-Tsitsiklis). Convergence is judged the same way
for all three: the fixed-point residual max_q ||BR_q(Q) - Q_q||_F / max(1, ||Q_q||_F) at the
current state must fall below ``tolerance``; each instance stops on its own, and the batch stops
when all have converged or after ``max_iterations`` updates. Instances that did not converge are
flagged in the result and reported with a warning, never returned silently.

Primary users are protected by null shaping (a change of the pairs' transmit spaces), individual
budgets (inside each best response) or a global budget (prices set by bisection over whole game
solves).

On a network with channel-error variances (:mod:`semalign.multiuser.network`, robust designs) every
best response answers the expected interference E[R_{-q}] and the budgets bind the expected
primary-user interference; the equilibrium is then one of the game of these expectations (the
channels' estimates plus the error's second moments), not of any one channel realisation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import torch

from semalign._checks import check_choice, check_positive_int
from semalign._seeds import stream_generator
from semalign._vocabulary import SCHEDULES
from semalign.multiuser.best_response import (
    budgeted_best_response,
    concentrated_mse,
    priced_best_response,
    semantic_best_response,
    whitened_gram,
    wiener_decoder,
)
from semalign.multiuser.eigenmode_game import EigenmodeGame, eigenmode_response
from semalign.multiuser.network import DTYPE, InterferenceNetwork
from semalign.multiuser.prices import price_search

VARIANTS = ("fixed-eigenmode", "full-mimo")


@dataclass(frozen=True)
class Equilibrium:
    """The outcome of :func:`solve_game` for a batch of B networks with Q pairs.

    Attributes:
        precoders: ``(B, Q, n_T, d)`` F_q in antenna space (null-shaped ones mapped back).
        decoders: ``(B, Q, m, n_R)`` Wiener decoders for the actual interference at the end.
        covariances: ``(B, Q, n_T, n_T)`` F_q F_q^H.
        mse: ``(B, Q)`` each pair's complex MSE with its Wiener decoder, e^LS included.
        payoff: ``(B, Q)`` the game's own payoff (equal to ``mse`` for full-MIMO; the per-stream
            upper bound for fixed-eigenmode; interference prices included for a global budget).
        best_response_gap: ``(B, Q)`` how much each pair could still gain by deviating unilaterally
            within the variant's own strategy set (the Nash gap; ~0 at an equilibrium).
        full_mimo_gap: ``(B, Q)`` how much each pair could gain with the unrestricted (full-MIMO)
            best response under the same constraints; equals ``best_response_gap`` for full-MIMO
            and is a diagnostic of the restriction for fixed-eigenmode.
        pu_interference: ``(B, J, Q)`` tr(G_pq Q_q G_pq^H) at each primary receiver.
        prices: ``(B, J)`` interference prices of a global budget (zeros otherwise).
        converged: ``(B,)`` whether the residual fell below the tolerance.
        iterations: ``(B,)`` updates made before convergence (the cap if not converged); with a
            global budget, the total over every game solved during the price search (while
            ``residuals`` and ``gaps`` trace the last solve, before the final scaling onto the limit).
        residuals: ``(updates + 1, B)`` fixed-point residual before each update of the (last) solve.
        gaps: ``(iterations + 1, B)`` largest Nash gap over pairs before each update.
        variant, schedule: what was solved and how.
    """

    precoders: torch.Tensor
    decoders: torch.Tensor
    covariances: torch.Tensor
    mse: torch.Tensor
    payoff: torch.Tensor
    best_response_gap: torch.Tensor
    full_mimo_gap: torch.Tensor
    pu_interference: torch.Tensor
    prices: torch.Tensor
    converged: torch.Tensor
    iterations: torch.Tensor
    residuals: torch.Tensor
    gaps: torch.Tensor
    variant: str
    schedule: str


class GameDidNotConverge(RuntimeError):
    """Raised by :func:`solve_game` with ``require_convergence=True`` when an instance did not converge."""


# ---- the two games as state machines ----------------------------------------------------------


class _FullMimo:
    """State: precoders ``(B, Q, n_T, d)``."""

    def __init__(self, network: InterferenceNetwork, protection: str) -> None:
        self.network, self.protection = network, protection
        # (B, J, Q, n, n) E[G^H G]: with channel-error variances, the expected load (robust designs).
        self.pu_gram = None if network.pu_channels is None else network.pu_grams()

    def initial(self, generator: torch.Generator | None) -> torch.Tensor:
        net = self.network
        shape = (net.n_instances, net.n_pairs, net.n_tx, net.alignment.shape[-1])
        device = net.alignment.device
        if generator is None:
            return torch.zeros(shape, dtype=DTYPE, device=device)
        # Drawn on the CPU generator and moved: the same seed starts alike on every device.
        f = torch.randn(shape, dtype=DTYPE, generator=generator).to(device)
        scale = net.power * torch.rand(net.power.shape, generator=generator, dtype=torch.float64).to(device)
        f = f * (scale / f.abs().square().sum((-2, -1))).sqrt().to(DTYPE)[..., None, None]
        if self.protection == "individual":  # start feasible: scale into the budgets
            load = net.pu_interference(f @ f.mH)
            ratio = (net.pair_limits() / load.clamp_min(1e-300)).clamp(max=1.0).amin(1)
            f = f * ratio.sqrt().to(DTYPE)[..., None, None]
        return f

    def covariances(self, state: torch.Tensor) -> torch.Tensor:
        return state @ state.mH

    def respond(self, state, pairs, prices):
        net = self.network
        idx = torch.arange(net.n_pairs) if pairs is None else pairs
        r = net.interference(self.covariances(state), idx)
        a, h, p = net.alignment[:, idx], net.direct_channels[:, idx], net.power[:, idx]
        if self.protection == "individual":
            g = net.pu_channels[:, :, idx].transpose(1, 2)  # (B, S, J, N_p, n_T)
            limits = net.pair_limits()[:, :, idx].transpose(1, 2)
            errors = None if net.pu_channel_error is None else net.pu_error_load()[:, :, idx].transpose(1, 2)  # (B, S, J)
            response, _ = budgeted_best_response(a, h, r, p, g, limits, reference=state[:, idx], pu_error=errors)
        elif self.protection == "global" and prices is not None:
            gram = self.pu_gram[:, :, idx].transpose(1, 2)
            response = priced_best_response(a, h, r, p, gram, prices.unsqueeze(1).expand(-1, len(idx), -1))
        else:
            response = semantic_best_response(a, h, r, p, reference=state[:, idx])
        current = concentrated_mse(a, whitened_gram(h, r), state[:, idx])
        best, now = response.mse, current
        if self.protection == "global" and prices is not None:
            best = best + self._price_cost(response.covariance, idx, prices)
            now = now + self._price_cost(self.covariances(state[:, idx]), idx, prices)
        e_ls = net.residual_mse[:, idx]
        return response.precoder, e_ls + best, e_ls + now

    def _price_cost(self, covariance, idx, prices):
        load = torch.diagonal(self.pu_gram[:, :, idx] @ covariance.unsqueeze(1), dim1=-2, dim2=-1).sum(-1).real  # (B, J, S)
        return (prices.unsqueeze(-1) * load).sum(1)

    def distance(self, new, old):
        q_new, q_old = self.covariances(new), self.covariances(old)
        return torch.linalg.matrix_norm(q_new - q_old) / torch.linalg.matrix_norm(q_old).clamp_min(1.0)

    def precoders(self, state):
        return state


class _FixedEigenmode:
    """State: stream powers ``(B, Q, k)``."""

    def __init__(self, network: InterferenceNetwork, protection: str) -> None:
        self.network, self.protection = network, protection
        self.game = EigenmodeGame.from_network(network)

    def initial(self, generator):
        g = self.game
        if generator is None:
            return torch.zeros_like(g.weights)
        device = g.weights.device
        p = -torch.rand(g.weights.shape, generator=generator, dtype=torch.float64).log().to(device)
        p = p / p.sum(-1, keepdim=True) * g.power.unsqueeze(-1) * torch.rand(g.power.shape, generator=generator, dtype=torch.float64).to(device).unsqueeze(-1)
        if self.protection == "individual":
            load = (g.pu_leakage * p.unsqueeze(1)).sum(-1)
            p = p * (self.network.pair_limits() / load.clamp_min(1e-300)).clamp(max=1.0).amin(1).unsqueeze(-1)
        return p

    def covariances(self, state):
        f = self.game.precoders(state)
        return f @ f.mH

    def respond(self, state, pairs, prices):
        g = self.game
        idx = torch.arange(g.weights.shape[1]) if pairs is None else pairs
        gains = g.stream_gains(state, idx)
        limits = self.network.pair_limits()[:, :, idx] if self.protection == "individual" else None
        use_prices = prices if self.protection == "global" else None
        p = eigenmode_response(g, gains, idx, prices=use_prices, limits=limits)
        best, now = g.payoff(p, gains, idx), g.payoff(state[:, idx], gains, idx)
        if use_prices is not None:
            c = g.pu_leakage[:, :, idx]
            best = best + (use_prices[:, :, None] * (c * p.unsqueeze(1)).sum(-1)).sum(1)
            now = now + (use_prices[:, :, None] * (c * state[:, idx].unsqueeze(1)).sum(-1)).sum(1)
        return p, best, now

    def distance(self, new, old):
        # ||Q_new - Q_old||_F = ||p_new - p_old||_2 since the modes are fixed and orthonormal.
        return torch.linalg.vector_norm(new - old, dim=-1) / torch.linalg.vector_norm(old, dim=-1).clamp_min(1.0)

    def precoders(self, state):
        return self.game.precoders(state)


# ---- the iteration ------------------------------------------------------------------------------


def _iterate(game, state, schedule, tolerance, max_iterations, prices, generator, max_delay):
    b = state.shape[0]
    q = state.shape[1]
    converged = torch.zeros(b, dtype=torch.bool, device=state.device)
    iterations = torch.zeros(b, dtype=torch.long, device=state.device)
    residuals, gaps = [], []
    history = [state]
    for step in range(max_iterations + 1):
        response, best, now = game.respond(state, None, prices)
        residual = game.distance(response, state).amax(-1)
        residuals.append(residual)
        gaps.append((now - best).amax(-1))
        converged = converged | (residual < tolerance)
        if bool(converged.all()) or step == max_iterations:
            break
        if schedule == "jacobi":
            new = response
        elif schedule == "gauss-seidel":
            new = state.clone()
            for pair in range(q):
                idx = torch.tensor([pair])
                new[:, idx] = game.respond(new, idx, prices)[0]
        else:  # async: random wake-ups, each responding to a randomly stale measurement
            awake = torch.rand(b, q, generator=generator) < 0.5
            forced = torch.randint(q, (b,), generator=generator)
            awake[torch.arange(b), forced] = True
            delay = torch.randint(min(max_delay, len(history) - 1) + 1, (b, q), generator=generator)
            awake, delay = awake.to(state.device), delay.to(state.device)  # drawn on the CPU generator
            new = state.clone()
            for lag in range(int(delay.max()) + 1):
                stale = response if lag == 0 else game.respond(history[-1 - lag], None, prices)[0]
                pick = awake & (delay == lag)
                new = torch.where(pick.view(b, q, *[1] * (state.ndim - 2)), stale, new)
        active = ~converged
        state = torch.where(active.view(b, *[1] * (state.ndim - 1)), new, state)
        iterations += active.long()
        history = (history + [state])[-(max_delay + 1) :]
    return state, converged, iterations, torch.stack(residuals), torch.stack(gaps)


def solve_game(
    network: InterferenceNetwork,
    *,
    variant: str = "fixed-eigenmode",
    method: str = "gauss-seidel",
    tolerance: float = 1e-8,
    max_iterations: int = 500,
    start: str = "zero",
    seed: int = 0,
    max_delay: int = 2,
    require_convergence: bool = False,
    price_steps: int = 40,
) -> Equilibrium:
    """Solve a batch of semantic interference games for a Nash equilibrium.

    Args:
        network: the batch of networks, with its primary-user protection.
        variant: ``"fixed-eigenmode"`` or ``"full-mimo"``.
        method: update schedule ``"jacobi"``, ``"gauss-seidel"`` or ``"async"``.
        tolerance: stop when the relative fixed-point residual is below this.
        max_iterations: cap on updates per instance.
        start: ``"zero"`` (no one transmits) or ``"random"`` (feasible random strategies from ``seed``).
        seed: seeds the random start and the asynchronous wake-ups.
        max_delay: largest staleness (in ticks) of an asynchronous measurement.
        require_convergence: raise :class:`GameDidNotConverge` instead of warning.
        price_steps: bisection steps per price of a global budget.

    Returns:
        :class:`Equilibrium`.
    """
    check_choice("variant", variant, VARIANTS)
    check_choice("method", method, SCHEDULES)
    check_choice("start", start, ("zero", "random"))
    check_positive_int("max_iterations", max_iterations)
    if int(max_delay) < 0:
        raise ValueError(f"max_delay must be >= 0 ticks, got {max_delay!r}")
    if not tolerance > 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance!r}")
    protection = network.pu_protection
    shaped = network.null_shaped() if protection == "null" else network
    game = (_FixedEigenmode if variant == "fixed-eigenmode" else _FullMimo)(shaped, protection)
    generator = stream_generator("init", seed)
    state0 = game.initial(generator if start == "random" else None)
    run = dict(schedule=method, tolerance=tolerance, max_iterations=max_iterations, generator=generator, max_delay=max_delay)
    device = network.alignment.device
    prices = torch.zeros(network.n_instances, network.n_primary, dtype=torch.float64, device=device)
    if protection == "global":
        warm = {"state": state0, "updates": torch.zeros(network.n_instances, dtype=torch.long, device=device)}

        def evaluate(eta):
            outcome = _iterate(game, warm["state"], prices=eta, **run)
            warm["state"] = outcome[0]
            warm["updates"] += outcome[2]
            return outcome, network.pu_interference(game.covariances(outcome[0])).sum(-1)

        # Each price evaluation is a whole game solve, warm-started from the previous one; the
        # upper end of each bracket is feasible, and the last evaluation is at the returned prices.
        prices, outcome, _ = price_search(evaluate, network.pu_limits, steps=price_steps)
        # Report every update made over the price search, so the cost of the broker is visible.
        outcome = (*outcome[:2], warm["updates"], *outcome[3:])
        # The last solve stops at the game's tolerance, which can overshoot a limit by ~the tolerance:
        # scale every pair down by the same factor so the returned point is feasible.
        load = network.pu_interference(game.covariances(outcome[0])).sum(-1)
        factor = (network.pu_limits / load.clamp_min(1e-300)).clamp(max=1.0).amin(-1)
        state = outcome[0] * (factor if variant == "fixed-eigenmode" else factor.sqrt().to(DTYPE)).view(-1, *[1] * (outcome[0].ndim - 1))
        outcome = (state, *outcome[1:])
    else:
        outcome = _iterate(game, state0, prices=None, **run)
    state, converged, iterations, residuals, gaps = outcome
    result = _equilibrium(network, shaped, game, state, prices if protection == "global" else None)
    result = replace(result, converged=converged, iterations=iterations, residuals=residuals, gaps=gaps, variant=variant, schedule=method)
    if not bool(converged.all()):
        bad = torch.nonzero(~converged).flatten().tolist()
        message = (
            f"{variant} {method}: {len(bad)} of {len(converged)} instances did not converge within {max_iterations} updates "
            f"(instances {bad[:10]}{'...' if len(bad) > 10 else ''}; final residuals "
            f"{[float(f'{residuals[-1, i]:.2e}') for i in bad[:5]]}); their rows are flagged converged=False"
        )
        if require_convergence:
            raise GameDidNotConverge(message)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return result


def _equilibrium(network, shaped, game, state, prices) -> Equilibrium:
    """Evaluate a final state in the original network: decoders, MSEs and the two Nash gaps."""
    _, best, now = game.respond(state, None, prices)
    precoders = shaped.lift(game.precoders(state))
    covariances = precoders @ precoders.mH
    r = network.interference(covariances)
    a, h = network.alignment, network.direct_channels
    mse = network.residual_mse + concentrated_mse(a, whitened_gram(h, r), precoders)
    # The unrestricted best response under the same protection, for the restriction diagnostic.
    full = _FullMimo(shaped, network.pu_protection)
    _, full_best, full_now = full.respond(game.precoders(state), None, prices)
    return Equilibrium(
        precoders=precoders,
        decoders=wiener_decoder(a, h, precoders, r),
        covariances=covariances,
        mse=mse,
        payoff=now,
        best_response_gap=now - best,
        full_mimo_gap=full_now - full_best,
        pu_interference=network.pu_interference(covariances),
        prices=torch.zeros(network.n_instances, network.n_primary, dtype=torch.float64, device=network.alignment.device) if prices is None else prices,
        converged=torch.ones(network.n_instances, dtype=torch.bool, device=network.alignment.device),
        iterations=torch.zeros(network.n_instances, dtype=torch.long, device=network.alignment.device),
        residuals=torch.zeros(0, device=network.alignment.device),
        gaps=torch.zeros(0, device=network.alignment.device),
        variant="",
        schedule="",
    )
