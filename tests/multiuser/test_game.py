"""Primary-user protection, the two games, their schedules and the condition checks, against generic
optimisers and finite differences (the checks re-derived independently)."""

import warnings

import numpy as np
import pytest
import scipy.optimize
import torch

from semalign.multiuser import GameDidNotConverge, check_conditions, solve_game
from semalign.multiuser.best_response import budgeted_best_response, concentrated_mse, whitened_gram
from semalign.multiuser.conditions import jacobi_jacobian, local_rate
from semalign.multiuser.eigenmode_game import EigenmodeGame, eigenmode_response, priced_water_filling
from semalign.multiuser.network import InterferenceNetwork


def _slsqp_precoder(a, gram, power, n_t, starts, rng, pu_gram=None, limit=None, null=None):
    """Best concentrated MSE SLSQP finds over F (n_T x d, complex) with explicit constraints."""
    d = a.shape[-1]

    def unpack(z):
        return torch.as_tensor(z[: n_t * d].reshape(n_t, d) + 1j * z[n_t * d :].reshape(n_t, d))

    def objective(z):
        return concentrated_mse(a, gram, unpack(z)).item()

    constraints = [{"type": "ineq", "fun": lambda z: power - z @ z}]
    if pu_gram is not None:
        # Relative to the limit, so the feasibility tolerance below means the same for tiny limits.
        constraints.append({"type": "ineq", "fun": lambda z: 1 - torch.diagonal(pu_gram @ unpack(z) @ unpack(z).mH).sum().real.item() / limit})
    if null is not None:
        constraints.append({"type": "eq", "fun": lambda z: torch.view_as_real(null @ unpack(z)).flatten().numpy()})
    best = np.inf
    for _ in range(starts):
        z0 = rng.standard_normal(2 * n_t * d)
        z0 *= np.sqrt(power) * rng.uniform(0.2, 1.0) / np.linalg.norm(z0)
        res = scipy.optimize.minimize(objective, z0, method="SLSQP", constraints=constraints, options={"maxiter": 500, "ftol": 1e-13})
        feasible = all(np.all(c["fun"](res.x) >= -1e-7) if c["type"] == "ineq" else np.all(np.abs(c["fun"](res.x)) < 1e-7) for c in constraints)
        if feasible:
            best = min(best, res.fun)
    return best


def test_interference_budget_best_response_matches_slsqp_and_is_feasible(network_factory):
    rng = np.random.default_rng(0)
    net = network_factory(seed=1, b=3, q=1, n=2, d=3, m=3, j=1)
    a, h, r = net.alignment[:, 0], net.direct_channels[:, 0], net.noise[:, 0] + 0.3 * torch.eye(2)
    g = net.pu_channels[:, :, 0]  # (B, J, N_p, n_T)
    free = budgeted_best_response(a, h, r, 1.0, g, torch.full((3, 1), 1e6))[0]
    load = torch.diagonal(g[:, 0] @ free.covariance @ g[:, 0].mH, dim1=-2, dim2=-1).sum(-1).real
    limits = (0.3 * load).unsqueeze(-1)  # binding
    response, prices = budgeted_best_response(a, h, r, 1.0, g, limits)
    gram = whitened_gram(h, r)
    for i in range(3):
        used = torch.diagonal(g[i, 0] @ response.covariance[i] @ g[i, 0].mH).sum().real
        assert used <= limits[i, 0] * (1 + 1e-9)
        assert used >= limits[i, 0] * (1 - 1e-6)  # tight, with a positive price
        assert prices[i, 0] > 0
        assert torch.linalg.matrix_norm(response.precoder[i]).square() <= 1 + 1e-9
        found = _slsqp_precoder(a[i], gram[i], 1.0, 2, 10, rng, g[i, 0].mH @ g[i, 0], limits[i, 0].item())
        assert response.mse[i].item() <= found + 1e-7, (i, response.mse[i].item(), found)
    # A slack budget leaves the plain best response untouched (price 0).
    assert torch.equal(budgeted_best_response(a, h, r, 1.0, g, torch.full((3, 1), 1e6))[1], torch.zeros(3, 1, dtype=torch.float64))


def test_null_shaping_is_exact_and_optimal(network_factory):
    rng = np.random.default_rng(1)
    net = network_factory(seed=2, b=2, q=1, n=3, d=3, m=3, j=1, n_p=1, protection="null")
    eq = solve_game(net, variant="full-mimo")
    g = net.pu_channels[:, 0, 0]  # (B, 1, n_T)
    assert (g @ eq.precoders[:, 0]).abs().max() < 1e-13
    assert eq.pu_interference.abs().max() < 1e-15  # machine precision relative to P = 1
    gram = whitened_gram(net.direct_channels[:, 0], net.noise[:, 0])
    for i in range(2):
        found = _slsqp_precoder(net.alignment[i, 0], gram[i], 1.0, 3, 8, rng, null=g[i])
        assert eq.mse[i, 0].item() <= found + 1e-7


def test_null_shaping_without_a_null_space_is_refused(network_factory):
    net = network_factory(b=1, q=2, n=2, j=2, n_p=1, protection="null")
    with pytest.raises(ValueError, match="null shaping needs n_T > rank"):
        solve_game(net)


def test_priced_water_filling_matches_slsqp():
    rng = np.random.default_rng(2)
    for _ in range(20):
        k = 4
        w, lam, cost = rng.exponential(size=k), rng.exponential(size=k) * 3, rng.exponential(size=k) * 0.3
        power = rng.uniform(0.5, 3)
        p = priced_water_filling(torch.as_tensor(w)[None], torch.as_tensor(lam)[None], torch.tensor([power], dtype=torch.float64), torch.as_tensor(cost)[None])[0].numpy()
        assert p.sum() <= power + 1e-9 and (p >= 0).all()

        def f(x):
            return np.sum(w / (1 + lam * x)) + cost @ x

        res = scipy.optimize.minimize(f, np.full(k, power / k / 2), bounds=[(0, None)] * k, method="SLSQP",
                                      constraints=[{"type": "ineq", "fun": lambda x: power - x.sum()}], options={"ftol": 1e-14, "maxiter": 500})  # fmt: skip
        assert f(p) <= res.fun + 1e-8
        # KKT with one multiplier mu >= 0: active modes have w lam/(1 + lam p)^2 = cost + mu, off ones <=.
        marginal = w * lam / (1 + lam * p) ** 2 - cost
        on = p > 1e-12
        mu = marginal[on].mean()
        assert np.allclose(marginal[on], mu, rtol=1e-7, atol=1e-9) and (marginal[~on] <= mu + 1e-9).all()
        assert mu >= -1e-9 and (mu < 1e-9 or abs(p.sum() - power) < 1e-9)


@pytest.mark.parametrize("variant", ["fixed-eigenmode", "full-mimo"])
def test_schedules_reach_the_same_equilibrium_with_no_unilateral_gain(network_factory, variant):
    net = network_factory(seed=3, b=3, alpha=0.2)
    results = {method: solve_game(net, variant=variant, method=method, tolerance=1e-11) for method in ("jacobi", "gauss-seidel", "async")}
    for eq in results.values():
        assert eq.converged.all()
        assert eq.best_response_gap.max() < 1e-9
        assert eq.residuals.shape[0] == int(eq.iterations.max()) + 1
        torch.testing.assert_close(eq.mse, results["jacobi"].mse, rtol=1e-7, atol=1e-9)
        torch.testing.assert_close(eq.covariances, results["jacobi"].covariances, rtol=1e-6, atol=1e-7)
    # Gauss-Seidel needs fewer updates than Jacobi here (fresher information).
    assert results["gauss-seidel"].iterations.sum() <= results["jacobi"].iterations.sum()


def test_full_mimo_equilibrium_survives_generic_unilateral_deviations(network_factory):
    rng = np.random.default_rng(4)
    net = network_factory(seed=4, b=1, q=3, n=2, d=3, m=3, alpha=0.3)
    eq = solve_game(net, variant="full-mimo", tolerance=1e-12)
    r = net.interference(eq.covariances)
    gram = whitened_gram(net.direct_channels, r)
    for q in range(3):
        found = _slsqp_precoder(net.alignment[0, q], gram[0, q], 1.0, 2, 6, rng)
        assert eq.mse[0, q].item() <= found + 1e-7, (q, eq.mse[0, q].item(), found)


def test_fixed_eigenmode_equilibrium_survives_deviations_in_its_strategy_set(network_factory):
    net = network_factory(seed=5, b=2, q=3, alpha=0.3)
    eq = solve_game(net, variant="fixed-eigenmode", tolerance=1e-12)
    game = EigenmodeGame.from_network(net)
    powers = (game.tx_modes.mH @ eq.precoders @ game.semantic_modes.mH).diagonal(dim1=-2, dim2=-1).abs().square()
    gains = game.stream_gains(powers)
    for b in range(2):
        for q in range(3):
            w, lam = game.weights[b, q].numpy(), gains[b, q].numpy()
            at_ne = np.sum(w / (1 + lam * powers[b, q].numpy()))
            res = scipy.optimize.minimize(lambda x: np.sum(w / (1 + lam * x)), np.full(len(w), 0.2), bounds=[(0, None)] * len(w), method="SLSQP",
                                          constraints=[{"type": "ineq", "fun": lambda x: 1.0 - x.sum()}], options={"ftol": 1e-14})  # fmt: skip
            assert at_ne <= res.fun + 1e-9
    # The restriction costs something against the unrestricted best response (a diagnostic, >= 0).
    assert (eq.full_mimo_gap >= -1e-10).all() and eq.full_mimo_gap.max() > 1e-4


def test_certified_instances_converge_from_random_starts_to_one_equilibrium(network_factory):
    net = network_factory(seed=6, b=30, q=3, alpha=0.02, sigma2=0.3)
    report = check_conditions(net)
    certified = report.holds
    assert certified.sum() >= 10, report.summary()
    reference = solve_game(net, variant="fixed-eigenmode", method="jacobi", tolerance=1e-11)
    assert reference.converged.all()
    for seed in range(3):
        for method in ("jacobi", "gauss-seidel", "async"):
            eq = solve_game(net, variant="fixed-eigenmode", method=method, start="random", seed=seed, tolerance=1e-11)
            assert eq.converged[certified].all()
            torch.testing.assert_close(eq.covariances[certified], reference.covariances[certified], rtol=1e-7, atol=1e-8)


def test_c2_factor_bounds_the_observed_contraction(network_factory):
    net = network_factory(seed=7, b=40, q=3, alpha=0.01, sigma2=0.1)
    report = check_conditions(net)
    game = EigenmodeGame.from_network(net)
    ok = report.c2 < 1
    assert ok.sum() >= 5
    # Log-level steps of Jacobi iterations shrink at least by the factor c.
    powers = torch.zeros_like(game.weights)
    prev_levels, prev_step = None, None
    for _ in range(6):
        gains = game.stream_gains(powers)
        levels = (1 / gains).log()
        if prev_levels is not None:
            step = (levels - prev_levels).abs().flatten(1).amax(-1)
            if prev_step is not None:
                shrink = step / prev_step.clamp_min(1e-300)
                assert (shrink[ok & (prev_step > 1e-12)] <= report.c2[ok & (prev_step > 1e-12)] + 1e-9).all()
            prev_step = step
        prev_levels = levels
        powers = eigenmode_response(game, gains)


def test_jacobian_matches_finite_differences_and_gives_the_local_rate(network_factory):
    net = network_factory(seed=8, b=2, alpha=0.1)
    eq = solve_game(net, variant="fixed-eigenmode", method="jacobi", tolerance=1e-13)
    game = EigenmodeGame.from_network(net)
    powers = (game.tx_modes.mH @ eq.precoders @ game.semantic_modes.mH).diagonal(dim1=-2, dim2=-1).abs().square()
    jac = jacobi_jacobian(game, powers)[0]
    q, k = powers.shape[1:]
    active = (powers[0] > 1e-12).flatten()
    numeric = torch.zeros(q * k, q * k, dtype=torch.float64)
    for col in range(q * k):
        step = torch.zeros(2, q * k, dtype=torch.float64)
        step[0, col] = 1e-6
        plus = eigenmode_response(game, game.stream_gains(powers + step.view(2, q, k)))[0].flatten()
        minus = eigenmode_response(game, game.stream_gains(powers - step.view(2, q, k)))[0].flatten()
        numeric[:, col] = (plus - minus) / 2e-6
    torch.testing.assert_close(jac[:, active], numeric[:, active], rtol=1e-4, atol=1e-6)
    assert (local_rate(game, powers) < 1).all()


@pytest.mark.parametrize("variant", ["fixed-eigenmode", "full-mimo"])
def test_individual_budgets_hold_at_the_equilibrium(network_factory, variant):
    net = network_factory(seed=9, b=2, q=2, n=2, d=3, m=3, j=1, protection="individual", limit=0.02)
    eq = solve_game(net, variant=variant, method="jacobi", tolerance=1e-9)
    assert eq.converged.all()
    assert (eq.pu_interference <= net.pair_limits() * (1 + 1e-9)).all()
    assert eq.best_response_gap.max() < 1e-7
    assert (torch.linalg.matrix_norm(eq.precoders).square() <= 1 + 1e-9).all()


def test_global_budget_prices_meet_the_limit_with_complementarity(network_factory):
    net = network_factory(seed=10, b=3, q=3, j=1, protection="global", limit=0.05)
    eq = solve_game(net, variant="fixed-eigenmode", method="gauss-seidel", tolerance=1e-10)
    total = eq.pu_interference.sum(-1)
    assert (total <= net.pu_limits * (1 + 1e-9)).all()
    assert (eq.prices > 0).all()  # binding here: the unprotected game exceeds the limit
    assert ((total - net.pu_limits).abs() / net.pu_limits < 1e-6).all()  # tight where priced
    free = solve_game(InterferenceNetwork(net.alignment, net.channels, net.noise, net.power), variant="fixed-eigenmode")
    assert (net.pu_interference(free.covariances).sum(-1) > net.pu_limits).all()  # so the limit binds
    assert (eq.mse.sum(-1) >= free.mse.sum(-1) - 1e-9).all()  # protection costs the SUs something


def test_non_convergence_is_reported_not_hidden(network_factory):
    net = network_factory(seed=11, b=2, q=3, alpha=10.0, sigma2=0.01)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        eq = solve_game(net, variant="full-mimo", method="jacobi", max_iterations=2)
    assert not eq.converged.all()
    with pytest.raises(GameDidNotConverge, match="did not converge"):
        solve_game(net, variant="full-mimo", method="jacobi", max_iterations=2, require_convergence=True)


def test_bad_input_is_named(network_factory):
    net = network_factory(b=1)
    with pytest.raises(ValueError, match="variant"):
        solve_game(net, variant="mimo")
    with pytest.raises(ValueError, match="method"):
        solve_game(net, method="newton")
    with pytest.raises(ValueError, match="channels must be"):
        InterferenceNetwork(net.alignment, net.channels[:, :2], net.noise, net.power)
    with pytest.raises(ValueError, match="positive definite"):
        InterferenceNetwork(net.alignment, net.channels, torch.zeros_like(net.noise), net.power)
    with pytest.raises(ValueError, match="needs pu_limits"):
        InterferenceNetwork(net.alignment, net.channels, net.noise, net.power, pu_channels=torch.ones(1, 1, 3, 1, 3), pu_protection="global")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        solve_game(net)  # converges quietly


def test_fixed_eigenmode_response_with_an_interference_budget_matches_slsqp(network_factory):
    """Spec T6: the reduced best response under sum p <= P and c^T p <= I, against SLSQP."""
    net = network_factory(seed=12, b=6, q=2, j=1, protection="individual", limit=0.01)
    game = EigenmodeGame.from_network(net)
    gains = game.stream_gains(torch.zeros_like(game.weights))
    limits = net.pair_limits()
    p = eigenmode_response(game, gains, limits=limits)
    for b in range(6):
        for q in range(2):
            w, lam, c = game.weights[b, q].numpy(), gains[b, q].numpy(), game.pu_leakage[b, 0, q].numpy()
            ours = p[b, q].numpy()
            cap = limits[b, 0, q].item()
            assert ours.sum() <= 1 + 1e-9 and c @ ours <= cap * (1 + 1e-9)
            best = np.inf
            for start in (np.full(len(w), 1e-3), np.eye(len(w))[0] * 1e-3):
                res = scipy.optimize.minimize(lambda x: np.sum(w / (1 + lam * x)), start, bounds=[(0, None)] * len(w), method="SLSQP",
                                              constraints=[{"type": "ineq", "fun": lambda x: 1.0 - x.sum()}, {"type": "ineq", "fun": lambda x: cap - c @ x}],
                                              options={"ftol": 1e-15, "maxiter": 1000})  # fmt: skip
                if res.x.sum() <= 1 + 1e-7 and c @ res.x <= cap * (1 + 1e-7):
                    best = min(best, res.fun)
            assert np.sum(w / (1 + lam * ours)) <= best + 1e-8


def test_a_limit_too_tight_for_full_power_leaves_power_unused_optimally(network_factory):
    """When the primary receiver sees every transmit direction (N_p = n_T) and the limit is tiny, the
    optimum uses less than P (power multiplier 0); the best response still matches SLSQP."""
    rng = np.random.default_rng(13)
    net = network_factory(seed=13, b=2, q=1, n=2, d=3, m=3, j=1, n_p=2)
    a, h, r = net.alignment[:, 0], net.direct_channels[:, 0], net.noise[:, 0]
    g = net.pu_channels[:, :, 0]
    limits = torch.full((2, 1), 1e-3, dtype=torch.float64)
    response, _ = budgeted_best_response(a, h, r, 1.0, g, limits)
    gram = whitened_gram(h, r)
    for i in range(2):
        used = torch.diagonal(g[i, 0] @ response.covariance[i] @ g[i, 0].mH).sum().real
        assert used <= 1e-3 * (1 + 1e-9)
        assert torch.linalg.matrix_norm(response.precoder[i]).square() < 0.9  # the budget is not used
        found = _slsqp_precoder(a[i], gram[i], 1.0, 2, 10, rng, g[i, 0].mH @ g[i, 0], 1e-3)
        assert response.mse[i].item() <= found + 1e-7, (i, response.mse[i].item(), found)


def test_null_shaped_conditions_equal_those_of_the_reduced_network(network_factory):
    """C1/C2 of a null-shaped network are those of the network built directly on the PU null
    spaces (rounding-level singular values of the shaped channels are not modes)."""
    net = network_factory(seed=14, b=3, q=3, n=4, j=1, n_p=1, protection="null")
    shaped = net.null_shaped()
    keep = shaped.null_basis.abs().sum(-2).amax(0).amax(0) > 0  # the n_T - 1 null-space columns
    reduced = InterferenceNetwork(net.alignment, shaped.channels[..., keep], net.noise, net.power)
    ours, direct = check_conditions(net), check_conditions(reduced)
    torch.testing.assert_close(ours.c1, direct.c1, rtol=1e-8, atol=0)
    torch.testing.assert_close(ours.c2, direct.c2, rtol=1e-8, atol=0)
    assert (ours.c1 < 1e6).all()
