"""Semantic water-filling and the closed-form best response against generic optimisers."""

import numpy as np
import pytest
import scipy.optimize
import torch

from semalign.multiuser import semantic_best_response, semantic_water_filling
from semalign.multiuser.best_response import pair_mse, wiener_decoder


def crandn(rng, *shape):
    return torch.as_tensor((rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2))


def slsqp_powers(w, lam, power):
    """Generic constrained optimiser on the convex power problem, several starts."""
    k = len(w)
    best = None
    for start in (np.full(k, power / k), np.eye(k)[0] * power, np.random.default_rng(0).dirichlet(np.ones(k)) * power):
        res = scipy.optimize.minimize(
            lambda p: np.sum(w / (1 + lam * p)), start, jac=lambda p: -w * lam / (1 + lam * p) ** 2,
            bounds=[(0, None)] * k, constraints=[{"type": "ineq", "fun": lambda p: power - p.sum(), "jac": lambda p: -np.ones(k)}],
            method="SLSQP", options={"ftol": 1e-14, "maxiter": 500},
        )  # fmt: skip
        if best is None or res.fun < best.fun:
            best = res
    return best.fun


def test_water_filling_solvers_agree_and_match_slsqp():
    rng = np.random.default_rng(1)
    w = rng.exponential(size=(40, 6)) * (rng.random((40, 6)) > 0.2)
    lam = rng.exponential(size=(40, 6)) * 3
    power = rng.uniform(0.1, 5, size=40)
    exact, level = semantic_water_filling(w, lam, power, method="active-set")
    bisect, _ = semantic_water_filling(w, lam, power, method="bisection")
    torch.testing.assert_close(exact, bisect, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(exact.sum(-1), torch.as_tensor(power), rtol=1e-12, atol=0)
    ours = (torch.as_tensor(w) / (1 + torch.as_tensor(lam) * exact)).sum(-1).numpy()
    for i in range(40):
        assert ours[i] <= slsqp_powers(w[i], lam[i], power[i]) + 1e-9
    # KKT: a mode is on iff w lambda > nu^-2.
    on = exact > 0
    assert torch.equal(on, torch.as_tensor(w * lam) > level.unsqueeze(-1) ** -2)


def test_equal_weights_reduce_to_mmse_water_filling():
    lam = torch.tensor([4.0, 1.0, 0.25], dtype=torch.float64)
    p, nu = semantic_water_filling(torch.ones(3), lam, 1.0)
    torch.testing.assert_close(p, (nu * lam ** -0.5 - 1 / lam).clamp_min(0), rtol=1e-12, atol=1e-12)


def test_water_filling_rejects_bad_input():
    with pytest.raises(ValueError, match="power must be finite and > 0"):
        semantic_water_filling([1.0], [1.0], 0.0)
    with pytest.raises(ValueError, match="same shape"):
        semantic_water_filling([1.0, 2.0], [1.0], 1.0)
    with pytest.raises(ValueError, match="finite and >= 0"):
        semantic_water_filling([-1.0], [1.0], 1.0)


def _instance(rng, m=4, d=5, n_r=3, n_t=3):
    a = crandn(rng, m, d) * torch.as_tensor(0.6 ** np.arange(d))
    h = crandn(rng, n_r, n_t)
    j = crandn(rng, n_r, 2)
    r = 0.1 * torch.eye(n_r, dtype=torch.complex128) + j @ j.mH
    return a, h, r


def test_best_response_power_mse_formula_and_wiener_decoder():
    rng = np.random.default_rng(2)
    a, h, r = _instance(rng)
    br = semantic_best_response(a, h, r, 2.0)
    assert torch.linalg.matrix_norm(br.precoder).square().item() == pytest.approx(2.0, rel=1e-12)
    explicit = pair_mse(a, h, br.precoder, br.decoder, r)
    assert explicit.item() == pytest.approx(br.mse.item(), rel=1e-10)
    torch.testing.assert_close(br.decoder, wiener_decoder(a, h, br.precoder, r))
    torch.testing.assert_close(br.covariance, br.precoder @ br.precoder.mH)


def test_no_feasible_precoder_beats_the_best_response():
    """SLSQP over F (real and imaginary parts, Wiener decoder) from many starts never does better."""
    rng = np.random.default_rng(3)
    for trial in range(3):
        a, h, r = _instance(rng, m=3, d=4, n_r=2, n_t=2)
        br = semantic_best_response(a, h, r, 1.0)
        shape = (2, 4)

        def objective(z):
            f = torch.as_tensor(z[:8].reshape(shape) + 1j * z[8:].reshape(shape))
            return pair_mse(a, h, f, wiener_decoder(a, h, f, r), r).item()

        for start in range(6):
            z0 = rng.standard_normal(16)
            z0 *= np.sqrt(1.0) / np.linalg.norm(z0)
            res = scipy.optimize.minimize(objective, z0, method="SLSQP", constraints=[{"type": "ineq", "fun": lambda z: 1.0 - z @ z}], options={"maxiter": 400, "ftol": 1e-12})
            assert res.fun >= br.mse.item() - 1e-7, (trial, start, res.fun, br.mse.item())


def test_batched_best_responses_equal_single_ones():
    rng = np.random.default_rng(4)
    items = [_instance(rng) for _ in range(3)]
    batch = semantic_best_response(torch.stack([i[0] for i in items]), torch.stack([i[1] for i in items]), torch.stack([i[2] for i in items]), 1.5)
    for b, (a, h, r) in enumerate(items):
        one = semantic_best_response(a, h, r, 1.5)
        torch.testing.assert_close(batch.mse[b], one.mse)
        torch.testing.assert_close(batch.covariance[b], one.covariance)


def test_best_response_rejects_a_singular_interference_covariance():
    rng = np.random.default_rng(5)
    a, h, _ = _instance(rng)
    with pytest.raises(ValueError, match="Hermitian positive definite"):
        semantic_best_response(a, h, torch.zeros(3, 3, dtype=torch.complex128), 1.0)


def test_degenerate_eigenspaces_follow_the_reference():
    """With a channel lifted over two channel uses every eigenvalue repeats; the reference picks,
    among the equally good best responses, the one closest to it, and the MSE does not change."""
    rng = np.random.default_rng(6)
    a = crandn(rng, 4, 4) * torch.as_tensor(0.7 ** np.arange(4))
    h1 = crandn(rng, 2, 2)
    h = torch.block_diag(h1, h1)
    r = 0.1 * torch.eye(4, dtype=torch.complex128)
    free = semantic_best_response(a, h, r, 1.0)
    # Another optimal answer: swap the two channel uses of the precoder (same MSE, different Q).
    swap = torch.tensor([2, 3, 0, 1])
    other = free.precoder[swap]
    assert pair_mse(a, h, other, wiener_decoder(a, h, other, r), r).item() == pytest.approx(free.mse.item(), rel=1e-10)
    follow = semantic_best_response(a, h, r, 1.0, reference=other)
    assert follow.mse.item() == pytest.approx(free.mse.item(), rel=1e-10)
    torch.testing.assert_close(follow.covariance, other @ other.mH, rtol=1e-7, atol=1e-8)
