"""Imperfect channel knowledge in the semantic interference game: the estimates the designs see, the
true channels the symbols meet, the robust designs' expected interference and primary-user limits
in expectation, input checks, and a game run with a CSI error through the run engine."""

from __future__ import annotations

import functools
import warnings
from dataclasses import replace

import polars as pl
import pytest
import torch

from semalign.experiments.engine import execute_runs
from semalign.experiments.runs import get_run_kind
from semalign.experiments.runs.game import GameRun
from semalign.latents import load_latents
from semalign.link.csi import true_channel
from semalign.link.mimo import block_diagonal_channel, subcarrier_block_diagonal
from semalign.multiuser.eigenmode_game import EigenmodeGame
from semalign.multiuser.semantic_game import SemanticInterferenceGame

EPS = 0.2


@functools.lru_cache(maxsize=None)
def _pairs(seeds=(0, 1)):
    return tuple(load_latents("synthetic", n_train=300, n_test=50, d_tx=8, d_rx=6, seed=s, hidden_dim=8, semantic_dim=4) for s in seeds)


def _game(**options):
    settings = dict(n_antennas=2, channel_uses=2, pilots_per_class=20, seeds=(0, 1), max_iter=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # convergence is not the point of these tests
        return SemanticInterferenceGame(**{**settings, **options}).fit(list(_pairs()))


def _test_inputs(game):
    pairs = game.pairs_
    generators, orders = game.instance_orders(len(pairs[0].test))
    xs = [torch.stack([pair.test.tx[orders[b][q]] for b in range(len(orders))]) for q, pair in enumerate(pairs)]
    return xs, generators


def _pu_game(robust, method="game-fixed-eigenmode", limit_db=0.0, seeds=(0, 1)):
    return _game(primary_users=1, pu_limit_db=limit_db, pu_protection="individual", csi_error=EPS, robust=robust, method=method, seeds=seeds)


def _draws_around(estimate, variance, count, seed):
    """``count`` channels drawn around ``estimate`` by the error model: (count, *estimate.shape)."""
    generator = torch.Generator().manual_seed(seed)
    return true_channel(estimate.expand(count, *estimate.shape), EPS, variance, generator=generator)


# ---- perfect CSI changes nothing -------------------------------------------------------------------


@pytest.mark.parametrize("protection", ["none", "individual"])
def test_zero_csi_error_is_bit_for_bit_the_perfect_knowledge_game(protection):
    """csi_error = 0 (robust or not) designs and transmits exactly as a game without the keywords; the
    true and known channels are equal. (Against the code before CSI existed the same holds bit for
    bit for every method and protection: checked when the keywords were added.)"""
    extra = dict(primary_users=1, pu_limit_db=-10.0, pu_protection=protection) if protection != "none" else {}
    extra.update(channel_uses=1, max_iter=20, seeds=(0,) if protection == "individual" else (0, 1))  # determinism, not convergence, is checked
    plain, robust = _game(**extra), _game(**extra, csi_error=0, robust=True)
    assert torch.equal(plain.true_channels_per_use_, plain.channels_per_use_)
    assert torch.equal(plain.true_channel_, plain.link_.channel)
    for other in (robust,):
        assert other.network_.channel_error is None and other.network_.pu_channel_error is None
        for name in ("precoders", "decoders", "mse", "pu_interference"):
            assert torch.equal(getattr(plain.design_, name), getattr(other.design_, name)), name
        xs, generators = _test_inputs(plain)
        xs_o, generators_o = _test_inputs(other)
        for a, b in zip(plain.transmit(xs, generator=generators), other.transmit(xs_o, generator=generators_o, channel=other.true_channel_)):
            assert torch.equal(a, b)
    assert torch.equal(plain.true_mse(), plain.design_.mse) or torch.allclose(plain.true_mse(), plain.design_.mse, rtol=1e-9)


# ---- the estimate and the true channels -------------------------------------------------------------


def test_designs_see_estimates_of_every_channel_with_the_error_model_variance():
    game = _game(primary_users=1, csi_error=EPS, seeds=(0, 1, 2, 3), draws=2, cross_gain_db=-6.0, pu_gain_db=3.0)
    true, known = game.true_channels_per_use_, game.channels_per_use_
    assert known.shape == true.shape and not torch.allclose(known, true)
    error = true - known
    q = game.n_pairs
    eye = torch.eye(q, dtype=torch.bool)
    v, cross, pu = game.channel_variance, 10 ** (-6.0 / 10), 10 ** (3.0 / 10)
    direct_error = error[:, eye].abs().square().mean()
    cross_error = error[:, ~eye].abs().square().mean()
    pu_error = (game.true_pu_channels_per_use_ - game.pu_channels_per_use_).abs().square().mean()
    # 8 instances x 2 x 4 entries (direct), as many cross, 8 x 2 x 2 primary: loose statistical bounds.
    assert direct_error == pytest.approx(EPS * v, rel=0.35)
    assert cross_error == pytest.approx(EPS * v * cross, rel=0.35)
    assert pu_error == pytest.approx(EPS * v * pu, rel=0.5)
    # The true channels are the ones a perfect-knowledge game draws: the error leaves them alone.
    perfect = _game(primary_users=1, seeds=(0, 1, 2, 3), draws=2, cross_gain_db=-6.0, pu_gain_db=3.0)
    assert torch.equal(perfect.true_channels_per_use_, true)
    assert torch.equal(perfect.true_pu_channels_per_use_, game.true_pu_channels_per_use_)
    # An instance's estimate depends on its seed and draw, not on the batch.
    alone = _game(primary_users=1, csi_error=EPS, seeds=(2,), draws=1, cross_gain_db=-6.0, pu_gain_db=3.0)
    assert torch.equal(alone.channels_per_use_[0], known[4])
    # The design network is built on the estimate, the true network on the truth.
    torch.testing.assert_close(game.network_.channels, block_diagonal_channel(known, 2), rtol=0, atol=0)
    torch.testing.assert_close(game.true_network_.channels, block_diagonal_channel(true, 2), rtol=0, atol=0)


def test_transmit_defaults_to_the_known_channels_and_checks_the_channel_shape():
    game = _game(csi_error=EPS)
    xs, generators = _test_inputs(game)
    default = game.transmit(xs, generator=generators)
    xs, generators = _test_inputs(game)
    known = game.transmit(xs, generator=generators, channel=game.link_.channel.clone())
    for a, b in zip(default, known):
        assert torch.equal(a, b)
    xs, generators = _test_inputs(game)
    true = game.transmit(xs, generator=generators, channel=game.true_channel_)
    assert not all(torch.allclose(a, b) for a, b in zip(default, true))
    assert game.true_channel_.shape == game.link_.channel.shape == (2, 2, 2, 4)
    for bad in (game.true_channel_[0], game.true_channel_[..., :2], game.true_channels_per_use_, "H"):
        with pytest.raises(ValueError, match=r"channel must have the shape of the design channel \(2, 2, 2, 4\).*got"):
            game.transmit(xs, channel=bad)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (dict(csi_error=-0.1), "csi_error"),
        (dict(csi_error=1.5), "csi_error"),
        (dict(csi_error="0.1"), "csi_error"),
        (dict(csi_error=True), "csi_error"),
        (dict(robust="yes"), "robust"),
        (dict(robust=1), "robust"),
    ],
)
def test_bad_csi_settings_are_refused(options, match):
    with pytest.raises(ValueError, match=match):
        SemanticInterferenceGame(**options)
    with pytest.raises(ValueError, match=match):
        SemanticInterferenceGame().set_params(**options)
    with pytest.raises(ValueError, match=match):
        GameRun(**options)


def test_csi_keywords_are_parameters():
    game = SemanticInterferenceGame(csi_error=0.3, robust=True)
    assert game.get_params()["csi_error"] == 0.3 and game.get_params()["robust"] is True
    clone = SemanticInterferenceGame(**game.get_params())
    assert clone.csi_error == 0.3 and clone.robust is True
    assert game.set_params(csi_error=0.0).csi_error == 0.0


# ---- robust designs: expectations over the error ------------------------------------------------------


def test_expected_interference_matches_a_monte_carlo_average_over_error_draws():
    """E[R_q] = R_q^0 + sum_{r != q} Ĥ_qr Q_r Ĥ_qr^H + ε v_qr B(Q_r) (x) I (robust network, own-error
    bound removed) against 8000 draws H = Ĥ + D around the estimate, D shared by the T = 2 uses."""
    game = _game(csi_error=EPS, robust=True, method="game-full-mimo", cross_gain_db=0.0)
    net, design = game.network_, game.design_
    covariances = design.precoders @ design.precoders.mH
    own_bound = EPS * game.channel_variance * game.power
    expected = net.interference(covariances) - own_bound * torch.eye(net.n_rx, dtype=torch.complex128)
    count = 8000
    cross = 10 ** (game.cross_gain_db / 10)
    # Every block drawn with the cross channels' variance (cross_gain 0 dB: the same as the direct ones).
    drawn = _draws_around(game.channels_per_use_, game.channel_variance * cross, count, seed=11)  # (M, B, Q, Q, N, N)
    lifted = block_diagonal_channel(drawn, game.channel_uses)
    received = lifted @ covariances[None, :, None] @ lifted.mH  # (M, B, Q_rx, Q_tx, n, n)
    others = ~torch.eye(game.n_pairs, dtype=torch.bool)
    measured = game.noise_variance_ * torch.eye(net.n_rx, dtype=torch.complex128) + (received * others[None, None, :, :, None, None]).sum(3).mean(0)
    naive = game.noise_variance_ * torch.eye(net.n_rx, dtype=torch.complex128) + (
        (block_diagonal_channel(game.channels_per_use_, 2) @ covariances[:, None] @ block_diagonal_channel(game.channels_per_use_, 2).mH) * others[None, :, :, None, None]
    ).sum(2)
    error = torch.linalg.matrix_norm(measured - expected) / torch.linalg.matrix_norm(expected)
    assert error.max() < 0.03, error
    # The error's part is not negligible: ignoring it would be caught.
    assert (torch.linalg.matrix_norm(measured - naive) / torch.linalg.matrix_norm(expected)).min() > 0.05


def test_robust_eigenmode_game_leakage_is_the_expected_interference():
    """The fixed-eigenmode game's leakage with error terms reproduces u^H E[R] u of the network."""
    game = _game(csi_error=EPS, robust=True, cross_gain_db=0.0)
    net = game.network_
    reduced = EigenmodeGame.from_network(net)
    powers = torch.rand(reduced.weights.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    f = reduced.precoders(powers)
    r = net.interference(f @ f.mH)
    u = torch.linalg.svd(net.direct_channels)[0][..., : reduced.n_streams]
    from_network = torch.diagonal(u.mH @ r @ u, dim1=-2, dim2=-1).real
    from_game = reduced.noise + (reduced.leakage @ powers.unsqueeze(1).unsqueeze(-1)).squeeze(-1).sum(2)
    torch.testing.assert_close(from_game, from_network, rtol=1e-10, atol=1e-12)


def _monte_carlo_pu_loads(game, robust: bool, lift, count: int = 40_000) -> tuple[torch.Tensor, float]:
    """The PU interference of every pair ``(B, J, Q)`` averaged over ``count`` true primary-user
    channels drawn around the estimate (pu_gain 0 dB; ``lift`` turns the per-use draws into the
    lifted channels), and each pair's share of the limit; checks the design's belief meets the
    limit on the estimate and, for a robust design, equals the Monte-Carlo mean (3 %)."""
    drawn = _draws_around(game.pu_channels_per_use_, 1.0, count, seed=3)  # (M, B, J, Q, [T,] N_p, N)
    g = lift(drawn)
    covariances = game.design_.precoders @ game.design_.precoders.mH
    means = torch.diagonal(g @ covariances[None, :, None] @ g.mH, dim1=-2, dim2=-1).sum(-1).real.mean(0)  # (B, J, Q)
    share = game.pu_limit() / game.n_pairs
    believed = game.primary_interference().believed
    assert (believed <= share * (1 + 1e-9)).all()
    if robust:  # the design's belief is the expectation: the Monte-Carlo mean agrees with it
        torch.testing.assert_close(means, believed, rtol=0.03, atol=1e-3 * share)
    return means, share


@pytest.mark.parametrize("method", ["game-fixed-eigenmode", "ignore-interference", "orthogonal"])
def test_robust_limits_hold_in_expectation_and_naive_ones_are_violated(method):
    """Per instance and pair, the Monte-Carlo mean over 40000 error draws around the estimate of the
    true PU interference stays below the pair's share of the limit (+3 % for the sampling error, about
    1 % standard deviation here) for robust designs, while naive designs (limits met on the estimate
    only) exceed it on average."""
    means = {}
    for robust in (False, True):
        game = _pu_game(robust, method, seeds=(1,) if method.startswith("game-") else (0, 1))  # one instance keeps the game < 10 s
        means[robust], share = _monte_carlo_pu_loads(game, robust, lambda drawn: block_diagonal_channel(drawn, game.channel_uses))
    active = means[True] > 0
    if method == "orthogonal":  # T = 2 uses: both pairs get one
        assert active.all()
    assert (means[True] <= share * 1.03).all(), means[True] / share
    assert (means[False] > share * 1.03).any(), means[False] / share


def test_primary_interference_is_measured_on_the_true_channels():
    game = _pu_game(True)
    measured = game.primary_interference()
    assert measured.per_pair.shape == (2, 1, 2) and measured.total.shape == (2, 1)
    assert measured.limit == game.pu_limit()
    g = block_diagonal_channel(game.true_pu_channels_per_use_, game.channel_uses)
    cov = game.design_.precoders @ game.design_.precoders.mH
    direct = torch.diagonal(g @ cov.unsqueeze(1) @ g.mH, dim1=-2, dim2=-1).sum(-1).real
    torch.testing.assert_close(measured.per_pair, direct, rtol=1e-12, atol=0)
    torch.testing.assert_close(measured.total, direct.sum(-1), rtol=1e-12, atol=0)
    on_estimate = game.primary_interference(channel=game.pu_channels_per_use_).per_pair
    assert not torch.allclose(on_estimate, measured.per_pair)
    with pytest.raises(ValueError, match=r"channel must have the shape of the design channel \(2, 1, 2, 1, 2\).*got"):
        game.primary_interference(channel=game.pu_channels_per_use_[0])
    with pytest.raises(ValueError, match="primary_users"):
        _game(csi_error=EPS).primary_interference()


def test_robust_centralized_and_full_mimo_designs_run():
    for method in ("centralized", "game-full-mimo"):
        naive, robust = _game(csi_error=EPS, method=method), _game(csi_error=EPS, robust=True, method=method)
        assert torch.isfinite(robust.design_.mse).all()
        # The robust model is pessimistic about the estimate: it expects a larger MSE than the naive one.
        assert (robust.design_.mse.sum(-1) > naive.design_.mse.sum(-1)).all()
        assert (robust.design_.precoders.abs().square().sum((-2, -1)) <= robust.power * (1 + 1e-9)).all()


# ---- a run through the engine -------------------------------------------------------------------------


def test_game_run_with_csi_error_runs_through_the_engine_and_records_the_csi_columns(tmp_path):
    options = dict(
        latents="synthetic", pairs="a:b,c:d", latents_options='{"n_train": 200, "n_test": 40, "d_tx": 12, "d_rx": 16}',
        pilots_per_class=10, channel_uses=2, pu_protection="individual", pu_limit_db=0.0, max_iterations=60,
        method="ignore-interference",
    )  # fmt: skip
    runs = [GameRun(**options, csi_error=EPS, robust=robust) for robust in (False, True)] + [GameRun(**options)]
    # robust is reset without an error: one run, not two.
    assert GameRun(**options, robust=True) == GameRun(**options)
    frame = execute_runs(get_run_kind("game"), runs, tmp_path, progress=False)
    assert frame.height == 3 * 2
    for column in ("csi", "csi_error", "robust", "channel_model", "pu_interference", "pu_interference_model", "pu_limit", "true_model_mse"):
        assert column in frame.columns, column
    assert set(frame["channel_model"].unique()) == {"rayleigh"}
    perfect = frame.filter(pl.col("csi_error") == 0)
    assert set(perfect["csi"]) == {"perfect"} and not perfect["robust"].any()
    torch.testing.assert_close(torch.tensor(perfect["pu_interference"].to_list()), torch.tensor(perfect["pu_interference_model"].to_list()), rtol=1e-9, atol=0)
    erred = frame.filter(pl.col("csi_error") == EPS)
    assert set(erred["csi"]) == {"error-model"} and set(erred["robust"]) == {False, True}
    assert erred["accuracy"].is_between(0, 1).all()
    # The designs' own belief meets the limit; the true interference is what it is, measured.
    assert (erred["pu_interference_model"] <= erred["pu_limit"] * (1 + 1e-9)).all()
    assert (erred["pu_interference"] != erred["pu_interference_model"]).all()


# ---- frequency-selective (TDL/CDL) models: one independent error per subcarrier ------------------------


def test_tdl_estimates_are_per_subcarrier_with_the_error_model_variance():
    """On a TDL model every subcarrier's channel is estimated on its own: the designs see per-subcarrier
    estimates, the robust network marks the uses' errors independent, a flat one shares them."""
    game = _game(channel_model="tdl-a", csi_error=EPS, robust=True, primary_users=1, pu_protection="null")
    assert game.channels_per_use_.shape == game.true_channels_per_use_.shape == (2, 2, 2, 2, 2, 2)  # (B, Q, Q, T, N, N)
    assert game.pu_channels_per_use_.shape == game.true_pu_channels_per_use_.shape == (2, 1, 2, 2, 1, 2)  # (B, J, Q, T, N_p, N)
    assert not torch.equal(game.channels_per_use_, game.true_channels_per_use_)
    assert game.network_.independent_errors and not game.true_network_.independent_errors
    assert not _game(csi_error=EPS, robust=True).network_.independent_errors  # flat: one D shared by the uses
    # H - Ĥ has the error model's variance ε v on every subcarrier, entry by entry (direct channels, v = 1).
    eye = torch.eye(2, dtype=torch.bool)
    error = (game.true_channels_per_use_ - game.channels_per_use_)[:, eye]  # (B, Q, T, N, N)
    assert 0.5 * EPS < error.abs().square().mean() < 2 * EPS


def test_tdl_expected_interference_matches_a_monte_carlo_average_over_per_subcarrier_errors():
    """E[R_q] = R_q^0 + sum_{r != q} Ĥ_qr Q_r Ĥ_qr^H + ε v_qr diag(B(Q_r)) (x) I (robust network on
    tdl-a, own-error bound removed) against 8000 draws H^(t) = Ĥ^(t) + D_t with independent D_t. The
    designs' covariances are block diagonal over the subcarriers (where both forms agree), so the
    check uses full covariances of the same energy that mix the subcarriers: there the shared-error
    form s B(Q_r) (x) I is off by more than the tolerance."""
    game = _game(channel_model="tdl-a", csi_error=EPS, robust=True, method="game-full-mimo", cross_gain_db=0.0)
    net = game.network_
    x = torch.randn(net.n_instances, net.n_pairs, net.n_tx, net.n_tx, generator=torch.Generator().manual_seed(5), dtype=torch.complex128)
    x = x + 1.5 * torch.roll(x, net.n_tx // 2, dims=-2)  # strong cross-subcarrier blocks
    covariances = x @ x.mH
    covariances = covariances * game.power / torch.diagonal(covariances, dim1=-2, dim2=-1).sum(-1).real[..., None, None]
    own_bound = EPS * game.channel_variance * game.power * torch.eye(net.n_rx, dtype=torch.complex128)
    expected = net.interference(covariances) - own_bound
    shared = replace(net, independent_errors=False).interference(covariances) - own_bound
    drawn = _draws_around(game.channels_per_use_, game.channel_variance, 8000, seed=11)  # (M, B, Q, Q, T, N, N): D_t independent
    lifted = subcarrier_block_diagonal(drawn)
    received = lifted @ covariances[None, :, None] @ lifted.mH  # (M, B, Q_rx, Q_tx, T N, T N)
    others = ~torch.eye(game.n_pairs, dtype=torch.bool)
    measured = game.noise_variance_ * torch.eye(net.n_rx, dtype=torch.complex128) + (received * others[None, None, :, :, None, None]).sum(3).mean(0)
    error = torch.linalg.matrix_norm(measured - expected) / torch.linalg.matrix_norm(expected)
    off = torch.linalg.matrix_norm(measured - shared) / torch.linalg.matrix_norm(expected)
    print("TDL expected interference: MC vs independent form", error.flatten().tolist(), "MC vs shared form", off.flatten().tolist())
    assert error.max() < 0.03, error
    assert off.min() > 0.06, off
    # On the design's own (block-diagonal) covariances the two forms agree.
    q_design = game.design_.precoders @ game.design_.precoders.mH
    torch.testing.assert_close(net.interference(q_design), replace(net, independent_errors=False).interference(q_design), rtol=1e-9, atol=1e-12)


def test_tdl_eigenmode_leakage_and_centralized_weight_use_the_per_subcarrier_form():
    """The fixed-eigenmode game's leakage reproduces u^H E[R] u of the TDL network, and the
    centralized descent's error weight is the adjoint of the network's expected interference:
    sum_r tr(W_r^err Q_r) = sum_q tr(G_q (E[R_q] - R_q(Ĥ)) G_q^H)."""
    from semalign.multiuser.baselines import _error_weight

    game = _game(channel_model="tdl-a", csi_error=EPS, robust=True, cross_gain_db=0.0)
    net = game.network_
    assert net.independent_errors
    generator = torch.Generator().manual_seed(1)
    # Block-diagonal channels have per-subcarrier eigenmodes (both forms agree on them): also check
    # the leakage on channels that mix the subcarriers, where only the per-subcarrier form matches.
    mixing = replace(net, channels=torch.randn(net.channels.shape, generator=generator, dtype=torch.complex128))
    for network in (net, mixing):
        reduced = EigenmodeGame.from_network(network)
        powers = torch.rand(reduced.weights.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        f = reduced.precoders(powers)
        r = network.interference(f @ f.mH)
        u = torch.linalg.svd(network.direct_channels)[0][..., : reduced.n_streams]
        from_network = torch.diagonal(u.mH @ r @ u, dim1=-2, dim2=-1).real
        from_game = reduced.noise + (reduced.leakage @ powers.unsqueeze(1).unsqueeze(-1)).squeeze(-1).sum(2)
        torch.testing.assert_close(from_game, from_network, rtol=1e-10, atol=1e-12)
    shared_leakage = EigenmodeGame.from_network(replace(mixing, independent_errors=False)).leakage
    assert not torch.allclose(shared_leakage, reduced.leakage, rtol=1e-3)
    shape = (net.n_instances, net.n_pairs, net.n_tx, net.n_tx)
    x = torch.randn(shape, generator=generator, dtype=torch.complex128)
    covariances = x @ x.mH  # full (subcarrier-mixing) covariances
    g = torch.randn(net.n_instances, net.n_pairs, 3, net.n_rx, generator=generator, dtype=torch.complex128)
    error_part = net.interference(covariances) - replace(net, channel_error=None).interference(covariances)
    lhs = torch.diagonal(_error_weight(net, g) @ covariances, dim1=-2, dim2=-1).sum((-1, -2)).real
    rhs = torch.diagonal(g @ error_part @ g.mH, dim1=-2, dim2=-1).sum((-1, -2)).real
    torch.testing.assert_close(lhs, rhs, rtol=1e-10, atol=1e-10)
    shared = replace(net, independent_errors=False)
    assert not torch.allclose(torch.diagonal(_error_weight(shared, g) @ covariances, dim1=-2, dim2=-1).sum((-1, -2)).real, rhs, rtol=1e-3)


@pytest.mark.parametrize("method", ["game-fixed-eigenmode", "ignore-interference"])
def test_tdl_robust_limits_hold_in_expectation_over_per_subcarrier_errors(method):
    """As above on tdl-a: the Monte-Carlo mean over 40000 per-subcarrier error draws around the
    estimate of the PU interference stays below the pair's share (+3 %) for robust designs and
    matches what they believe."""
    means = {}
    for robust in (False, True):
        game = _game(
            channel_model="tdl-a", primary_users=1, pu_limit_db=0.0, pu_protection="individual", csi_error=EPS, robust=robust, method=method,
            seeds=(1,) if method.startswith("game-") else (0, 1),
        )  # fmt: skip
        means[robust], share = _monte_carlo_pu_loads(game, robust, subcarrier_block_diagonal)
    assert (means[True] <= share * 1.03).all(), means[True] / share
    assert (means[False] > share * 1.03).any(), means[False] / share


def test_game_run_with_a_tdl_model_and_csi_error_runs_through_the_engine(tmp_path):
    options = dict(
        latents="synthetic", pairs="a:b,c:d", latents_options='{"n_train": 200, "n_test": 40, "d_tx": 12, "d_rx": 16}',
        pilots_per_class=10, channel_uses=2, pu_protection="individual", pu_limit_db=0.0, max_iterations=60,
        method="ignore-interference", channel_model="tdl-a",
    )  # fmt: skip
    runs = [GameRun(**options, csi_error=EPS, robust=robust) for robust in (False, True)]
    frame = execute_runs(get_run_kind("game"), runs, tmp_path, progress=False)
    assert frame.height == 2 * 2
    for column in ("csi", "csi_error", "robust", "channel_model", "delay_spread_ns", "pu_interference", "pu_interference_model", "pu_limit", "true_model_mse"):
        assert column in frame.columns, column
    assert set(frame["channel_model"]) == {"tdl-a"} and set(frame["csi"]) == {"error-model"}
    assert set(frame["csi_error"]) == {EPS} and set(frame["robust"]) == {False, True}
    assert frame["accuracy"].is_between(0, 1).all()
    assert (frame["pu_interference_model"] <= frame["pu_limit"] * (1 + 1e-9)).all()
    assert (frame["pu_interference"] != frame["pu_interference_model"]).all()
