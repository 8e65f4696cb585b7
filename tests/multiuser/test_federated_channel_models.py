"""The ``channel_model`` setting of federated downlink runs, and the downlink schemes on a
frequency-selective (OFDM) link.

Checked: ``rayleigh`` draws today's channels bit for bit; a subcarrier link whose blocks are all one
channel is the flat link of T uses for the federated protocol and the First-K baseline (same
estimates, same accounting); runs on TDL/CDL models go through the engine with rows recording the
model and its options, the compression factor and channel-use counts of the flat model, and MSE
below the users' latent variance; unknown names and CSI errors on TDL/CDL are rejected.
"""

from __future__ import annotations

import polars as pl
import pytest
import torch

from semalign._seeds import stream_generator
from semalign.experiments.engine import execute_runs
from semalign.experiments.runs import get_run_kind
from semalign.experiments.runs.federated import FederatedRun, pool_of, user_channels
from semalign.link.channel import channel_for_seed, rayleigh_channel
from semalign.link.link import Link
from semalign.link.mimo import subcarrier_blocks
from semalign.multiuser.federated import FederatedDownlink
from semalign.multiuser.federated_baselines import FederatedFeatureBaseline

COMMON = dict(
    latents="synthetic", latents_options='{"n_train": 200, "n_test": 100, "d_tx": 16, "seed": 5}',
    user_pool="a:1.0:12,b:0.0:20", homogeneous_sets="a,b", heterogeneous_sets="a,b", rounds=6, seed=1, n_antennas=2, channel_uses=2,
    snr_db=20.0,
)  # fmt: skip
N, T, D_AP = 2, 2, 16


def _pilots(seed=0, n=200, dims=(10, 14)):
    """``(n, D_AP)`` AP pilots and one ``(n, d)`` per user: noisy nonlinear views of the same samples."""
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(n, D_AP, generator=g, dtype=torch.float64)
    users = [torch.tanh(s @ torch.randn(D_AP, d, generator=g, dtype=torch.float64) / 3) + 0.1 * torch.randn(n, d, generator=g, dtype=torch.float64) for d in dims]
    return s, users


# ------------------------------------------------------------------ channels of a run
def test_rayleigh_runs_draw_todays_channels_bit_for_bit():
    run = FederatedRun(**COMMON, channel_variance=0.5)
    names = pool_of(run).names
    today = rayleigh_channel(N, N, generator=stream_generator("channel", run.seed), batch=len(names), channel_variance=0.5)
    assert torch.equal(user_channels(run, ("b", "a")), today[[1, 0]])
    assert run.channel().name == "rayleigh" and run.channel().options() == {}


def test_frequency_selective_runs_draw_one_channel_per_subcarrier_and_user():
    run = FederatedRun(**COMMON, channel_model="tdl-a")
    h = user_channels(run, ("a", "b"))
    assert h.shape == (2, T, N, N) and h.is_complex()
    assert not torch.equal(h[0], h[1])  # each user its own draw
    assert torch.equal(user_channels(run, ("b",)), h[1:])  # a user keeps its channel in every set


def test_options_of_other_models_are_reset_and_the_settings_checked():
    assert FederatedRun(**COMMON, delay_spread_ns=300.0, tx_correlation=0.5) == FederatedRun(**COMMON)
    kept = FederatedRun(**COMMON, channel_model="cdl-c", delay_spread_ns=300.0, tx_correlation=0.5)
    assert (kept.delay_spread_ns, kept.tx_correlation) == (300.0, 0.0)
    assert FederatedRun(**COMMON, channel_model="kronecker", tx_correlation=0.5).channel().options() == {"tx_correlation": 0.5, "rx_correlation": 0.0}
    with pytest.raises(ValueError, match="unknown channel_model 'tdl'; expected one of rayleigh, kronecker, tdl-a, .*cdl-e"):
        FederatedRun(**COMMON, channel_model="tdl")
    assert FederatedRun(**COMMON, channel_model="tdl-a", csi_error=0.2).csi_error == 0.2  # estimated per subcarrier
    with pytest.raises(ValueError, match=r"channel_model='kronecker' has correlated antennas: csi_error=0.2 .*i.i.d. flat channels only"):
        FederatedRun(**COMMON, channel_model="kronecker", tx_correlation=0.5, csi_error=0.2)
    with pytest.raises(ValueError, match="tx_correlation must be"):
        FederatedRun(**COMMON, channel_model="kronecker", tx_correlation=1.5)
    with pytest.raises(ValueError, match="bandwidth_mhz must be"):
        FederatedRun(**COMMON, channel_model="cdl-a", bandwidth_mhz=0.0)


# ------------------------------------------------------------------ schemes on a subcarrier link
def _flat_and_subcarrier_links(seed=3, k=2):
    """Flat channels ``(K, N, N)`` with T uses, and the subcarrier link whose T blocks are each
    user's flat channel: the same channel seen two ways."""
    flat = torch.stack([channel_for_seed(seed + i, N, N).to(torch.complex128) for i in range(k)])
    per_subcarrier = flat.unsqueeze(1).expand(k, T, N, N)
    options = dict(snr_convention="total", channel_variance=1.0)
    return Link(flat, 10.0, 1.0, channel_uses=T, **options), Link.from_subcarriers(per_subcarrier, 10.0, 1.0, **options)


@pytest.mark.parametrize(
    "make",
    [
        lambda link: FederatedDownlink(link=link, rounds=5, variant="federated-admm"),
        lambda link: FederatedDownlink(link=link, rounds=5, variant="multi-link", processing="widely-linear"),
        lambda link: FederatedFeatureBaseline(link=link, method="first-k"),
        lambda link: FederatedFeatureBaseline(link=link, method="top-k", processing="widely-linear"),
    ],
    ids=["federated-admm", "multi-link-widely", "first-k", "top-k-widely"],
)
def test_equal_subcarriers_are_the_flat_link_of_as_many_uses(make):
    """diag(H, ..., H) over T subcarriers is I_T (x) H: same estimates (to rounding), noise level,
    compression factor, message bytes and channel uses as the flat link of T uses."""
    flat_link, ofdm_link = _flat_and_subcarrier_links()
    s, users = _pilots()
    flat, ofdm = make(flat_link).fit(s, users), make(ofdm_link).fit(s, users)
    assert ofdm.link_.subcarriers == T and ofdm.link_.channel_uses == 1 and ofdm.link_.channel.shape == (2, T * N, T * N)
    assert ofdm.noise_variance() == pytest.approx(flat.noise_variance(), rel=1e-12)
    assert ofdm.compression_factor(D_AP) == flat.compression_factor(D_AP) == 100.0 * T * N / (D_AP // 2)
    assert ofdm.channel_uses_ == flat.channel_uses_ and ofdm.bytes_uplink_ == flat.bytes_uplink_
    if isinstance(ofdm, FederatedFeatureBaseline):
        # The control message: one N x N block per subcarrier instead of one for every use.
        assert ofdm.bytes_downlink_ - flat.bytes_downlink_ == 8 * (T - 1) * N * N
        assert ofdm.n_features_ == flat.n_features_ == T * N
        assert torch.allclose(subcarrier_blocks(ofdm.precoder_, T), flat.precoder_.expand(T, N, N), atol=1e-12)
    else:
        assert ofdm.bytes_downlink_ == flat.bytes_downlink_
    held_out, _ = _pilots(seed=1)
    for a, b in zip(ofdm.transmit(held_out, generator=torch.Generator().manual_seed(4)), flat.transmit(held_out, generator=torch.Generator().manual_seed(4))):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_baseline_precoder_is_block_diagonal_with_the_power_budget_on_distinct_subcarriers():
    g = torch.Generator().manual_seed(9)
    per_subcarrier = torch.complex(torch.randn(2, T, N, N, generator=g, dtype=torch.float64), torch.randn(2, T, N, N, generator=g, dtype=torch.float64))
    link = Link.from_subcarriers(per_subcarrier, 15.0, 2.0)
    s, users = _pilots()
    model = FederatedFeatureBaseline(link=link).fit(s, users)
    blocks = subcarrier_blocks(model.precoder_, T)
    assert torch.equal(torch.block_diag(*blocks), model.precoder_)  # nothing between the subcarriers
    # Each block: orthogonal streams of sum_k H_k,s^H H_k,s with amplitude a = sqrt(P / K_features).
    gram = blocks.mH @ blocks
    torch.testing.assert_close(gram, (2.0 / model.n_features_) * torch.eye(N, dtype=gram.dtype).expand(T, N, N))
    assert model.channel_uses_ == 200 * T and model.bytes_uplink_ == 0
    estimates = model.transmit(s, generator=torch.Generator().manual_seed(0))
    assert all(torch.isfinite(e).all() for e in estimates)


def test_csi_error_on_a_subcarrier_link_is_each_subcarriers_own():
    _, ofdm_link = _flat_and_subcarrier_links()
    model = FederatedDownlink(link=ofdm_link, csi_error=0.1)
    assert model._current_link().csi_error == 0.1 and model._current_link().error_blocks() == (T, True)


# ------------------------------------------------------------------ runs through the engine
def test_federated_runs_on_tdl_and_cdl_models_record_the_model_and_keep_the_flat_accounting(tmp_path):
    models = ("rayleigh", "tdl-a", "cdl-c")
    runs = [
        FederatedRun(**COMMON, method=method, channel_model=model, delay_spread_ns=300.0 if model == "tdl-a" else 100.0)
        for method in ("federated-admm", "first-k")
        for model in models
    ]
    rows = execute_runs(get_run_kind("federated"), runs, tmp_path, progress=False)
    assert rows.height == len(runs) * 2
    assert set(rows["channel_model"]) == set(models)
    assert rows.filter(pl.col("channel_model") == "tdl-a")["delay_spread_ns"].to_list() == [300.0] * 4
    assert rows.filter(pl.col("channel_model") == "cdl-c")["bandwidth_mhz"].to_list() == [20.0] * 4
    assert rows.filter(pl.col("channel_model") == "rayleigh")["delay_spread_ns"].to_list() == [None] * 4  # not its option
    assert "tx_correlation" not in rows.columns  # no run here uses it
    # Same compression factor and channel-use counts as the flat model: T uses per latent.
    assert set(rows["compression_factor"]) == {100.0 * T * N / (D_AP // 2)}
    assert set(rows["channel_uses"]) == {T} and set(rows["total_channel_uses"]) == {T}
    for method in ("federated-admm", "first-k"):
        part = rows.filter(pl.col("method") == method)
        assert part["training_channel_uses"].n_unique() == 1 and part["bytes_uplink"].n_unique() == 1
    admm = rows.filter(pl.col("method") == "federated-admm")
    assert admm["training_channel_uses"][0] == (6 + 1) * 200 * T  # rounds + final broadcast, n pilots, T uses
    # Finite MSE below the variance of the users' latents (nmse = mse / that variance).
    assert rows["mse"].is_finite().all() and (rows["mse"] > 0).all()
    assert (rows["nmse"] < 1.0).all()
    # The synthetic users' own floor dominates (nmse about 0.8-0.95 on every model): the OFDM
    # channels cost little against Rayleigh at 20 dB.
    by_model = rows.group_by("method", "channel_model").agg(pl.col("mse").mean())
    for method in ("federated-admm", "first-k"):
        part = by_model.filter(pl.col("method") == method)
        reference = part.filter(pl.col("channel_model") == "rayleigh")["mse"].item()
        assert (part["mse"] < 1.1 * reference).all()
    assert (rows["precoder_power"] - 1.0).abs().max() < 1e-6
