"""The ``channel_model`` setting of the semantic interference game: Rayleigh stays bit for bit the
draws it always was, the 3GPP TDL/CDL models give every channel one matrix per subcarrier (the T
uses of a latent), lifted as diag(H^(1), ..., H^(T)) for every design and for the transmission,
orthogonal access becomes OFDMA, primary-user limits still hold, and a game run records the model
and its options."""

from __future__ import annotations

import functools
import warnings

import polars as pl
import pytest
import torch

from semalign._seeds import stream_generator
from semalign.experiments.engine import execute_runs
from semalign.experiments.runs import get_run_kind
from semalign.experiments.runs.game import GameRun
from semalign.latents import load_latents
from semalign.link.channel import rayleigh_channel
from semalign.link.channel_models import ChannelModel
from semalign.link.mimo import subcarrier_block_diagonal
from semalign.link.packing import pack_complex, unpack_complex
from semalign.multiuser.semantic_game import SemanticInterferenceGame

T, N, Q = 2, 2, 2


@functools.lru_cache(maxsize=None)
def _pairs(seeds=(0, 1)):
    return tuple(load_latents("synthetic", n_train=300, n_test=50, d_tx=8, d_rx=6, seed=s, hidden_dim=8, semantic_dim=4) for s in seeds)


def _game(**options):
    settings = dict(n_antennas=N, channel_uses=T, pilots_per_class=20, seeds=(0, 1), max_iter=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # convergence is checked where it matters
        return SemanticInterferenceGame(**{**settings, **options}).fit(list(_pairs()))


def _test_inputs(game):
    pairs = game.pairs_
    generators, orders = game.instance_orders(len(pairs[0].test))
    xs = [torch.stack([pair.test.tx[orders[b][q]] for b in range(len(orders))]) for q, pair in enumerate(pairs)]
    return xs, generators, orders


# ---- rayleigh: bit for bit --------------------------------------------------------------------------


def test_rayleigh_draws_are_bit_for_bit_those_of_rayleigh_channel():
    """The default model draws exactly what the game drew before channel models: direct and cross
    channels, then the primary channels, from each instance's ``game-channels`` stream."""
    game = _game(draws=2, primary_users=1, pu_protection="null")
    explicit = _game(draws=2, primary_users=1, pu_protection="null", channel_model="rayleigh")
    cross = 10 ** (-10.0 / 20)
    for b, (seed, draw) in enumerate(game.instances()):
        generator = stream_generator("game-channels", seed, draw=draw)
        h = rayleigh_channel(N, N, generator=generator, batch=Q * Q, channel_variance=1.0, dtype=torch.complex128).view(Q, Q, N, N)
        g = rayleigh_channel(1, N, generator=generator, batch=Q, channel_variance=1.0, dtype=torch.complex128).view(1, Q, 1, N)
        eye = torch.eye(Q, dtype=torch.bool)[:, :, None, None]
        assert torch.equal(game.true_channels_per_use_[b], torch.where(eye, h, h * cross))
        assert torch.equal(game.true_pu_channels_per_use_[b], g)
    assert torch.equal(game.link_.channel, explicit.link_.channel)
    assert game.link_.channel.shape == (4, Q, N, Q * N)
    assert torch.equal(game.design_.precoders, explicit.design_.precoders)
    xs, generators, _ = _test_inputs(game)
    for a, b in zip(game.transmit(xs, generator=generators), explicit.transmit(xs, generator=_test_inputs(explicit)[1]), strict=True):
        assert torch.equal(a, b)


# ---- TDL / CDL: per-subcarrier channels ---------------------------------------------------------------


@pytest.mark.parametrize("model", ["tdl-a", "cdl-d"])
def test_frequency_selective_games_fit_converge_and_beat_the_mean(model):
    game = _game(channel_model=model)
    assert game.frequency_selective and game.link_.channel.shape == (2, Q, T * N, Q * T * N)
    assert game.link_.subcarriers == T and game.link_.channel_uses == 1 and game.link_.transmitters == Q
    assert game.design_.converged.all()
    report = game.check_conditions()
    assert torch.isfinite(report.c1).all() and torch.isfinite(report.c2).all()
    assert torch.isfinite(game.design_.mse).all()
    # The noise level is that of T uses (a subcarrier is a use): the flat game's.
    assert game.noise_variance_ == _game().noise_variance_ == float(game.link_.noise_variance())
    xs, generators, orders = _test_inputs(game)
    estimates = game.transmit(xs, generator=generators)
    for q, pair in enumerate(game.pairs_):
        variance = pair.test.rx.double().var(0).sum()
        for b in range(2):
            error = (estimates[q][b].double() - pair.test.rx[orders[b][q]].double()).square().sum(-1).mean()
            assert error < variance, (model, q, b, float(error), float(variance))


def test_lifted_channels_are_block_diagonal_over_the_drawn_subcarriers():
    game = _game(channel_model="tdl-a", draws=2, primary_users=1, pu_protection="null")
    model = ChannelModel("tdl-a")
    cross = 10 ** (-10.0 / 20)
    assert game.true_channels_per_use_.shape == (4, Q, Q, T, N, N)
    assert game.true_pu_channels_per_use_.shape == (4, 1, Q, T, 1, N)
    net = game.true_network_
    for b, (seed, draw) in enumerate(game.instances()):
        generator = stream_generator("game-channels", seed, draw=draw)
        h = model.draw(N, N, T, generator=generator, batch=Q * Q, dtype=torch.complex128).view(Q, Q, T, N, N)
        g = model.draw(1, N, T, generator=generator, batch=Q, dtype=torch.complex128).view(1, Q, T, 1, N)
        for q in range(Q):
            for r in range(Q):
                expected = h[q, r] * (1.0 if q == r else cross)
                torch.testing.assert_close(game.true_channels_per_use_[b, q, r], expected, rtol=0, atol=0)
                lifted = net.channels[b, q, r]  # (T N, T N)
                for t in range(T):
                    for u in range(T):
                        block = lifted[t * N : (t + 1) * N, u * N : (u + 1) * N]
                        assert torch.equal(block, expected[t] if t == u else torch.zeros_like(block))
        assert torch.equal(game.true_pu_channels_per_use_[b], g)
        assert torch.equal(net.pu_channels[b], subcarrier_block_diagonal(g))
        # The subcarriers of one channel differ (frequency selective), so this is not I_T (x) H.
        assert not torch.allclose(h[0, 0, 0], h[0, 0, 1])
    assert torch.equal(net.direct_channels[:, 0], subcarrier_block_diagonal(game.true_channels_per_use_[:, 0, 0]))
    # Receiver q hears [diag_t(H_q1^(t)) ... diag_t(H_qQ^(t))]: one use of the band.
    expected = torch.cat([subcarrier_block_diagonal(game.true_channels_per_use_[1, 0, r]) for r in range(Q)], -1)
    assert torch.equal(game.true_channel_[1, 0], expected)


@pytest.mark.parametrize("method", ["game-fixed-eigenmode", "game-full-mimo", "centralized"])
def test_noiseless_transmission_is_the_lifted_model(method):
    """Every use t goes through its own subcarrier's channels: the noiseless estimate is
    G_q sum_r H_qr F_r x~_r + mean with the lifted H_qr = diag(H_qr^(1), ..., H_qr^(T))."""
    game = _game(channel_model="cdl-b", method=method)
    xs, _, _ = _test_inputs(game)
    estimates = game.transmit(xs, noise=False)
    design, net = game.design_, game.network_
    for b, (seed, _) in enumerate(game.instances()):
        white = []
        for q in range(Q):
            pilots = game.pilots_[seed][q]
            w = pilots.whitener.whiten(pack_complex(xs[q][b].double())).to(torch.complex128)
            white.append(torch.nn.functional.pad(w, (0, net.alignment.shape[-1] - w.shape[1])))
        for q in range(Q):
            pilots = game.pilots_[seed][q]
            received = sum(white[r] @ (net.channels[b, q, r] @ design.precoders[b, r]).mT for r in range(Q))
            estimate = received @ design.decoders[b, q].mT
            m_q = pilots.rx_mean.shape[0]
            expected = unpack_complex(estimate[:, :m_q] + pilots.rx_mean, game.d_rx_[q]).float()
            torch.testing.assert_close(estimates[q][b], expected, rtol=1e-5, atol=1e-5)


def test_orthogonal_is_ofdma_over_the_subcarriers():
    """Pair q gets subcarrier q alone: its precoder lives on that subcarrier's symbols, nobody
    interferes, so its MSE in the whole network is the one it designed for alone."""
    game = _game(channel_model="tdl-c", method="orthogonal")
    precoders = game.design_.precoders  # (B, Q, T N, d)
    for q in range(Q):
        others = [t for t in range(T) if t != q]
        rows = torch.cat([torch.arange(t * N, (t + 1) * N) for t in others])
        assert precoders[:, q, rows].abs().max() == 0
        assert precoders[:, q, q * N : (q + 1) * N].abs().max() > 0
    torch.testing.assert_close(game.true_mse(), game.design_.mse, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("method", ["game-fixed-eigenmode", "game-full-mimo", "ignore-interference", "orthogonal"])
def test_individual_primary_limits_hold_on_a_tdl_model(method):
    game = _game(channel_model="tdl-a", method=method, primary_users=1, pu_limit_db=-3.0, pu_protection="individual")
    measured = game.primary_interference()
    assert measured.limit == pytest.approx(10 ** (-0.3) * game.noise_variance_ * T * 1)
    assert (measured.per_pair <= measured.limit / Q * (1 + 1e-6)).all(), (measured.per_pair, measured.limit)
    torch.testing.assert_close(measured.per_pair, measured.believed, rtol=1e-9, atol=1e-12)


def test_null_shaping_nulls_every_subcarrier():
    game = _game(channel_model="tdl-b", primary_users=1, pu_protection="null")
    assert game.primary_interference().total.max() < 1e-20


# ---- settings ------------------------------------------------------------------------------------------


def test_channel_model_settings_are_checked():
    with pytest.raises(ValueError, match="unknown channel_model 'tdl-z'"):
        SemanticInterferenceGame(channel_model="tdl-z")
    # A CSI error on a TDL/CDL model is one independent error per subcarrier (tests/multiuser/test_game_csi.py).
    assert SemanticInterferenceGame(channel_model="tdl-a", csi_error=0.1, robust=True).csi_error == 0.1
    with pytest.raises(ValueError, match=r"tx_correlation=0.5 is a setting of channel_model='kronecker'"):
        SemanticInterferenceGame(channel_model="tdl-a", tx_correlation=0.5)
    with pytest.raises(ValueError, match=r"delay_spread_ns=300.0 is a setting of the TDL/CDL"):
        SemanticInterferenceGame(delay_spread_ns=300.0)
    with pytest.raises(ValueError, match="rx_correlation"):
        SemanticInterferenceGame(channel_model="kronecker", rx_correlation=1.0)
    game = SemanticInterferenceGame(channel_model="cdl-d", delay_spread_ns=300.0)
    assert game.get_params()["channel_model"] == "cdl-d" and game.channel() == ChannelModel("cdl-d", delay_spread_ns=300.0)
    game.set_params(channel_model="kronecker", delay_spread_ns=100.0, tx_correlation=0.5)
    assert game.channel() == ChannelModel("kronecker", tx_correlation=0.5) and not game.frequency_selective
    # A flat model keeps the flat layout; the CSI error model needs i.i.d. antennas.
    kron = _game(channel_model="kronecker", tx_correlation=0.5, rx_correlation=0.3)
    assert kron.link_.channel.shape == (2, Q, N, Q * N)
    with pytest.raises(ValueError, match=r"channel_model='kronecker' has correlated antennas: csi_error=0.1"):
        SemanticInterferenceGame(channel_model="kronecker", tx_correlation=0.5, csi_error=0.1)


def test_transmit_and_primary_interference_name_the_per_use_layouts():
    game = _game(channel_model="tdl-a", primary_users=1, pu_protection="null")
    xs, generators, _ = _test_inputs(game)
    flat = game.true_channel_[:, :, :N, :N]
    with pytest.raises(ValueError, match=r"design channel \(2, 2, 4, 8\) \(B, Q, T N, Q T N: the receivers' view"):
        game.transmit(xs, generator=generators, channel=flat)
    with pytest.raises(ValueError, match=r"\(B, J, Q, T, N_p, N: per-use primary-user channels"):
        game.primary_interference(channel=game.true_pu_channels_per_use_[:, :, :, 0])
    # The true channels are the known ones (perfect CSI): sending through them changes nothing.
    for a, b in zip(game.transmit(xs, generator=generators, channel=game.true_channel_), game.transmit(xs, generator=_test_inputs(game)[1]), strict=True):
        assert torch.equal(a, b)


def test_game_run_settings_reset_and_reject():
    base = dict(latents="synthetic", pairs="a:b,c:d")
    assert GameRun(**base, channel_model="tdl-a", tx_correlation=0.5) == GameRun(**base, channel_model="tdl-a")
    assert GameRun(**base, delay_spread_ns=300.0) == GameRun(**base)
    with pytest.raises(ValueError, match="unknown channel_model 'rician'"):
        GameRun(**base, channel_model="rician")
    assert GameRun(**base, channel_model="cdl-c", csi_error=0.1).csi() == "error-model"  # per subcarrier
    with pytest.raises(ValueError, match=r"channel_model='kronecker' has correlated antennas: csi_error=0.1"):
        GameRun(**base, channel_model="kronecker", tx_correlation=0.5, csi_error=0.1)
    with pytest.raises(ValueError, match="delay_spread_ns"):
        GameRun(**base, channel_model="tdl-a", delay_spread_ns=-1.0)


def test_game_run_with_a_tdl_model_records_the_model_and_its_options(tmp_path):
    options = dict(
        latents="synthetic", pairs="a:b,c:d", latents_options='{"n_train": 200, "n_test": 40, "d_tx": 12, "d_rx": 16}',
        pilots_per_class=10, channel_uses=2, max_iterations=60, method="game-fixed-eigenmode",
    )  # fmt: skip
    runs = [GameRun(**options, channel_model="tdl-a", delay_spread_ns=300.0), GameRun(**options)]
    frame = execute_runs(get_run_kind("game"), runs, tmp_path, progress=False)
    assert frame.height == 2 * 2
    assert set(frame["channel_model"]) == {"tdl-a", "rayleigh"}
    tdl = frame.filter(pl.col("channel_model") == "tdl-a")
    assert tdl["delay_spread_ns"].to_list() == [300.0, 300.0]
    assert tdl["carrier_frequency_ghz"].to_list() == [3.5, 3.5] and tdl["bandwidth_mhz"].to_list() == [20.0, 20.0]
    assert "tx_correlation" not in frame.columns and "rx_correlation" not in frame.columns
    rayleigh = frame.filter(pl.col("channel_model") == "rayleigh")
    assert rayleigh["delay_spread_ns"].is_null().all()
    assert frame["accuracy"].is_between(0, 1).all() and frame["converged"].all()
    assert tdl["noise_variance"].to_list() == rayleigh["noise_variance"].to_list()


def test_a_saved_tdl_game_keeps_its_model_and_transmits_the_same(tmp_path):
    from semalign._estimator import load

    game = _game(channel_model="tdl-a", delay_spread_ns=300.0)
    game.save(tmp_path / "game")
    loaded = load(tmp_path / "game")
    assert loaded.channel() == ChannelModel("tdl-a", delay_spread_ns=300.0) and loaded.link_.channel.shape == (2, Q, T * N, Q * T * N)
    xs, generators, _ = _test_inputs(game)
    again, _ = loaded.instance_orders(len(game.pairs_[0].test))
    for a, b in zip(game.transmit(xs, generator=generators), loaded.transmit(xs, generator=again), strict=True):
        assert torch.equal(a, b)
