"""Reference points for the interference game (the game study's baselines).

* :func:`ignore_interference`: every pair designs its precoder *and* decoder as if it were alone
  (R = R_q^0, the single-link optimum), under the same primary-user protection (a global budget is
  split evenly, since no pair knows the others), and is then evaluated in the real network.
* :func:`centralized`: a social planner minimising the sum of the pairs' MSEs by block-coordinate
  descent: Wiener decoders for fixed precoders, then the exact precoder minimisers for fixed
  decoders (the sum objective is then separable over pairs:
  F_r = (W_r + mu_r I)^{-1} H_rr^H G_r^H A_r with W_r = sum_q H_qr^H G_q^H G_q H_qr and mu_r >= 0
  set by the power budget). Every step lowers the sum, so started from an equilibrium it measures
  the price of anarchy. Power budgets and null shaping only. On a network with channel-error
  variances (robust designs) W_r gains the error's expected part sum_{q != r} s_qr B(G_q^H G_q) (x) I,
  so the descent lowers the sum of the expected MSEs of the network's model.

Orthogonal access needs the per-channel-use structure of the channels, so it lives in
:class:`~semalign.multiuser.semantic_game.SemanticInterferenceGame`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semalign._checks import check_positive_int
from semalign.link.csi import error_covariance
from semalign.multiuser.best_response import budgeted_best_response, pair_mse, semantic_best_response, wiener_decoder
from semalign.multiuser.network import DTYPE, InterferenceNetwork


@dataclass(frozen=True)
class Design:
    """Transceivers of every pair evaluated in the network.

    Attributes:
        precoders: ``(B, Q, n_T, d)``; decoders: ``(B, Q, m, n_R)``.
        mse: ``(B, Q)`` complex MSE of these decoders in the real network, e^LS included.
        pu_interference: ``(B, J, Q)``.
        iterations: ``(B,)`` descent steps (0 for a one-shot design); converged: ``(B,)``.
    """

    precoders: torch.Tensor
    decoders: torch.Tensor
    mse: torch.Tensor
    pu_interference: torch.Tensor
    iterations: torch.Tensor
    converged: torch.Tensor


def _evaluate(network: InterferenceNetwork, precoders, decoders, iterations, converged) -> Design:
    r = network.interference(precoders @ precoders.mH)
    mse = network.residual_mse + pair_mse(network.alignment, network.direct_channels, precoders, decoders, r)
    return Design(precoders, decoders, mse, network.pu_interference(precoders @ precoders.mH), iterations, converged)


def ignore_interference(network: InterferenceNetwork) -> Design:
    """Each pair's single-link optimum (designed for R_q^0 only), evaluated with the real interference."""
    shaped = network.null_shaped() if network.pu_protection == "null" else network
    a, h, r0, p = shaped.alignment, shaped.direct_channels, shaped.noise, shaped.power
    if network.pu_protection in ("individual", "global"):
        g = shaped.pu_channels.transpose(1, 2)  # (B, Q, J, N_p, n_T)
        errors = None if shaped.pu_channel_error is None else shaped.pu_error_load().transpose(1, 2)  # (B, Q, J)
        response, _ = budgeted_best_response(a, h, r0, p, g, network.pair_limits().transpose(1, 2), pu_error=errors)
    else:
        response = semantic_best_response(a, h, r0, p)
    precoders = shaped.lift(response.precoder)
    b = network.n_instances
    return _evaluate(network, precoders, response.decoder, torch.zeros(b, dtype=torch.long), torch.ones(b, dtype=torch.bool))


def _constrained_minimiser(w_mat, linear, power, steps: int = 100):
    """argmin tr(F^H W F) - 2 Re tr(F^H B) s.t. ||F||_F^2 <= P: F = (W + mu I)^{-1} B, mu >= 0 by bisection."""
    evals, evecs = torch.linalg.eigh((w_mat + w_mat.mH) / 2)
    evals = evals.clamp_min(0.0)
    coeff = evecs.mH @ linear  # rows along W's eigenvectors
    energy = coeff.abs().square().sum(-1)  # (..., n)

    def power_at(mu):
        return (energy / (evals + mu.unsqueeze(-1)).square().clamp_min(1e-300)).sum(-1)

    # mu = 0 is optimal if it is feasible (W nonsingular on B's range); otherwise bisect.
    low = torch.zeros_like(power)
    high = (energy.sum(-1) / power).sqrt() + 1.0  # ||F(mu)||^2 <= ||B||^2 / mu^2 <= P there
    slack = (evals.amin(-1) > 1e-12 * evals.amax(-1).clamp_min(1e-300)) & (power_at(low) <= power)
    for _ in range(int(steps)):
        mid = (low + high) / 2
        over = power_at(mid) > power
        low, high = torch.where(over, mid, low), torch.where(over, high, mid)
    mu = torch.where(slack, torch.zeros_like(high), high)
    return evecs @ (coeff / (evals + mu.unsqueeze(-1)).clamp_min(1e-300).unsqueeze(-1).to(DTYPE))


def _error_weight(network: InterferenceNetwork, decoders: torch.Tensor) -> torch.Tensor:
    """``(B, Q_tx, n_T, n_T)`` sum_{q != r} E[Δ_qr^H G_q^H G_q Δ_qr]: the expected-interference part of
    W_r on a network with channel-error variances (the adjoint of :func:`~semalign.link.csi.error_covariance`:
    s_qr B(G_q^H G_q) (x) I_{N_t} in antenna space, its diagonal blocks only with the network's
    ``independent_errors``, mapped into a null-shaped network's coordinates)."""
    t = network.uses
    n_t = network.n_tx if network.null_basis is None else network.null_basis.shape[-2]  # antenna-space n_T
    unit = error_covariance(decoders.mH @ decoders, 1.0, uses=t, size=n_t // t, domain="complex", independent=network.independent_errors)  # (B, Q_rx, n_T_full, n_T_full)
    others = ~torch.eye(network.n_pairs, dtype=torch.bool, device=decoders.device)
    weights = torch.where(others, network.channel_error, torch.zeros((), dtype=torch.float64))  # (B, Q_rx, Q_tx)
    total = (weights.to(DTYPE)[..., None, None] * unit.unsqueeze(2)).sum(1)  # (B, Q_tx, n_T_full, n_T_full)
    basis = network.null_basis
    return total if basis is None else basis.mH @ total @ basis


def centralized(network: InterferenceNetwork, start: torch.Tensor | None = None, *, max_iterations: int = 500, tolerance: float = 1e-10) -> Design:
    """Minimise sum_q MSE_q over all precoders and decoders jointly (block-coordinate descent).

    Args:
        network: power budgets and optionally null shaping (interference budgets are refused).
        start: ``(B, Q, n_T, d)`` initial precoders in antenna space (e.g. an equilibrium); default:
            each pair's single-link optimum.
        max_iterations: cap on descent steps; tolerance: stop when the sum MSE improves by less
            than this fraction.
    """
    check_positive_int("max_iterations", max_iterations)
    if network.pu_protection in ("individual", "global"):
        raise ValueError("the centralized reference supports power budgets and null shaping only, got pu_protection=" + repr(network.pu_protection))
    shaped = network.null_shaped() if network.pu_protection == "null" else network
    if start is None:
        f = semantic_best_response(shaped.alignment, shaped.direct_channels, shaped.noise, shaped.power).precoder
    else:
        f = start.to(DTYPE) if shaped.null_basis is None else shaped.null_basis.mH @ start.to(DTYPE)
    a, h_all, h = shaped.alignment, shaped.channels, shaped.direct_channels
    b = shaped.n_instances
    iterations = torch.zeros(b, dtype=torch.long)
    converged = torch.zeros(b, dtype=torch.bool)
    previous = None
    for _ in range(max_iterations):
        r = shaped.interference(f @ f.mH)
        g = wiener_decoder(a, h, f, r)
        total = (shaped.residual_mse + pair_mse(a, h, f, g, r)).sum(-1)
        if previous is not None:
            converged = converged | ((previous - total) <= tolerance * previous.abs())
            if bool(converged.all()):
                break
        previous = total
        # W_r = sum_q H_qr^H G_q^H G_q H_qr (every receiver q that transmitter r reaches, itself included).
        gh = g.unsqueeze(2) @ h_all  # (B, Q_rx, Q_tx, m, n_T): G_q H_qr
        w_mat = (gh.mH @ gh).sum(1)  # (B, Q_tx, n_T, n_T)
        if shaped.channel_error is not None:
            w_mat = w_mat + _error_weight(shaped, g)
        linear = h.mH @ g.mH @ a  # H_rr^H G_r^H A_r
        new = _constrained_minimiser(w_mat, linear, shaped.power)
        f = torch.where(converged.view(b, 1, 1, 1), f, new)
        iterations += (~converged).long()
    precoders = shaped.lift(f)
    r = network.interference(precoders @ precoders.mH)
    decoders = wiener_decoder(network.alignment, network.direct_channels, precoders, r)
    return _evaluate(network, precoders, decoders, iterations, converged)
