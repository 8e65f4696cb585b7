"""Channel models: the 3GPP TDL/CDL frequency responses against Sionna's impulse responses and their
power, the frequency-selective link's noise and sends against independent computations, and the
``channel_model`` setting of single-link runs."""

from __future__ import annotations

import math

import polars as pl
import pytest
import torch

from semalign.experiments.engine import execute_runs
from semalign.experiments.runs import get_run_kind
from semalign.experiments.runs.link import LinkRun
from semalign.link import Link
from semalign.link.channel import TR38901_MODELS, _draw_from, _sionna_tr38901, channel_for_seed, ofdm_channel
from semalign.link.channel_models import CHANNEL_MODELS, ChannelModel, check_channel_model
from semalign.link.mimo import subcarrier_block_diagonal
from semalign.link.noise import SNR_CONVENTIONS
from semalign.tasks import mse


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("model", ["tdl-a", "tdl-d", "cdl-b", "cdl-e"])
def test_frequency_responses_are_sionnas_impulse_responses_at_the_subcarriers(model):
    """H_s = sqrt(v) sum_m a_m exp(-j 2 pi f_s tau_m), computed here from the impulse response Sionna
    draws from the same generator state, at the S frequencies spread evenly over the band."""
    n_rx, n_tx, s, v, bandwidth, spread = 2, 3, 4, 0.5, 20e6, 300e-9
    h = ofdm_channel(model, n_rx, n_tx, s, generator=_gen(5), batch=3, channel_variance=v, delay_spread_ns=300, bandwidth_mhz=20, dtype=torch.complex128)
    assert h.shape == (3, s, n_rx, n_tx)
    TDL, CDL, AntennaArray, _, _ = _sionna_tr38901()
    where = {"precision": "double", "device": "cpu"}
    family, letter = model.split("-")
    if family == "tdl":
        source = TDL(letter.upper(), delay_spread=spread, carrier_frequency=3.5e9, num_rx_ant=n_rx, num_tx_ant=n_tx, **where)
    else:

        def array(n):
            return AntennaArray(num_rows=1, num_cols=n, polarization="single", polarization_type="V", antenna_pattern="omni", carrier_frequency=3.5e9, **where)

        source = CDL(letter.upper(), spread, 3.5e9, ut_array=array(n_rx), bs_array=array(n_tx), direction="downlink", **where)
    a, tau = _draw_from(source, _gen(5))(3, 1, 1.0)
    a = a[:, 0, :, 0, :, :, 0]  # (batch, n_rx, n_tx, paths)
    tau = tau[:, 0, 0, :] if tau.ndim == 4 else tau[:, 0, :, 0, :, :]
    spacing = bandwidth / s
    frequencies = (torch.arange(s, dtype=torch.float64) - s // 2) * spacing  # Sionna's centred subcarrier grid (even S)
    if tau.ndim == 2:
        tau = tau[:, None, None, :]
    phase = torch.exp(-2j * math.pi * frequencies[:, None, None, None, None] * tau.unsqueeze(0))  # (S, batch, rx, tx, paths)
    expected = math.sqrt(v) * (a.unsqueeze(0) * phase).sum(-1).permute(1, 0, 2, 3)
    torch.testing.assert_close(h, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("model", TR38901_MODELS)
def test_every_model_keeps_the_channel_power(model):
    """E|H_ij(f)|^2 = v: the models' path powers sum to one (Monte-Carlo over 600 draws)."""
    v = 2.0
    h = ofdm_channel(model, 2, 2, 2, generator=_gen(1), batch=600, channel_variance=v)
    assert h.abs().square().mean().item() == pytest.approx(v, rel=0.12)


@pytest.mark.parametrize("spread_ns", [10.0, 100.0, 1000.0])
def test_subcarrier_correlation_is_the_power_delay_profiles_fourier_transform(spread_ns):
    """For a TDL channel without line of sight, E[H(f) H(f + df)^*] / v = sum_m p_m exp(j 2 pi df tau_m)
    (taps independent); Monte-Carlo over 4000 draws against the profile's (powers, delays)."""
    TDL, *_ = _sionna_tr38901()
    profile = TDL("A", delay_spread=spread_ns * 1e-9, carrier_frequency=3.5e9, precision="double", device="cpu")
    powers, delays = profile.mean_powers, profile.delays  # delays in seconds
    df = 10e6  # two subcarriers over 20 MHz sit 10 MHz apart
    theory = (powers * torch.exp(2j * math.pi * df * delays)).sum()
    h = ofdm_channel("tdl-a", 1, 1, 2, generator=_gen(2), batch=4000, delay_spread_ns=spread_ns, bandwidth_mhz=20, dtype=torch.complex128)[:, :, 0, 0]
    measured = (h[:, 0] * h[:, 1].conj()).mean()
    assert abs(measured - theory) < 0.05
    assert abs(theory) > 0.8 if spread_ns == 10.0 else abs(theory) < 0.6  # nearly flat at 10 ns, selective beyond


def test_draws_follow_the_generator_and_leave_global_random_state_alone():
    before = torch.random.get_rng_state()
    first = ofdm_channel("cdl-a", 2, 2, 2, generator=_gen(3))
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(first, ofdm_channel("cdl-a", 2, 2, 2, generator=_gen(3)))
    assert not torch.equal(first, ofdm_channel("cdl-a", 2, 2, 2, generator=_gen(4)))


# ------------------------------------------------------------------ the frequency-selective link
@pytest.mark.parametrize("convention", SNR_CONVENTIONS)
def test_a_subcarrier_link_has_the_noise_of_the_same_uses_on_a_flat_link(convention):
    """S subcarriers carry a latent like S channel uses: the same sigma^2 under every convention,
    and the received noise power measured on zero symbols is that sigma^2."""
    s, n = 4, 2
    per_subcarrier = ofdm_channel("tdl-c", n, n, s, generator=_gen(6), batch=2)
    link = Link.from_subcarriers(per_subcarrier, [0.0, 10.0], power=2.0, snr_convention=convention, channel_variance=0.5)
    flat = Link(per_subcarrier[:, 0], [0.0, 10.0], 2.0, snr_convention=convention, channel_variance=0.5, channel_uses=s)
    torch.testing.assert_close(link.noise_variance(), flat.noise_variance())
    received = link.send(torch.zeros(2, 20000, s * n, dtype=torch.complex128), generator=_gen(7), independent_noise=True)
    measured = received.abs().square().mean(dim=(-2, -1))
    torch.testing.assert_close(measured, link.noise_variance(), rtol=0.03, atol=0.0)


def test_a_subcarrier_link_sends_each_block_through_its_own_channel():
    s, n = 3, 2
    per_subcarrier = ofdm_channel("cdl-d", n, n, s, generator=_gen(8), dtype=torch.complex128)
    link = Link.from_subcarriers(per_subcarrier, float("inf"))
    symbols = torch.randn(5, s * n, dtype=torch.complex128, generator=_gen(9))
    expected = torch.cat([symbols[:, k * n : (k + 1) * n] @ per_subcarrier[k].T for k in range(s)], dim=-1)
    torch.testing.assert_close(link.send(symbols, noise=False), expected)
    assert link.compression_factor(24) == 100.0 * s * n / 12


def test_a_receiver_hearing_several_transmitters_over_subcarriers():
    """An interference view: each transmitter's columns are its own diag(H_1, ..., H_S); the received
    signal is the sum over transmitters of each subcarrier's H_s s_s, with the noise of S uses."""
    s, n, q = 2, 2, 3
    per_tx = [ofdm_channel("tdl-b", n, n, s, generator=_gen(20 + r), dtype=torch.complex128) for r in range(q)]
    view = torch.cat([subcarrier_block_diagonal(h) for h in per_tx], dim=-1)  # (S N, Q S N)
    link = Link(view, 10.0, transmitters=q, subcarriers=s)
    flat = Link(torch.cat([h[0] for h in per_tx], -1), 10.0, transmitters=q, channel_uses=s)
    torch.testing.assert_close(link.noise_variance(), flat.noise_variance())
    assert link.n_tx == s * n
    symbols = torch.randn(4, q * s * n, dtype=torch.complex128, generator=_gen(30))  # transmitter by transmitter
    expected = sum(
        torch.cat([symbols[:, r * s * n + k * n : r * s * n + (k + 1) * n] @ per_tx[r][k].T for k in range(s)], dim=-1) for r in range(q)
    )
    torch.testing.assert_close(link.send(symbols, noise=False), expected)


def test_subcarrier_links_reject_what_they_do_not_model():
    blocks = subcarrier_block_diagonal(ofdm_channel("tdl-a", 2, 2, 2, generator=_gen(0)))
    with pytest.raises(ValueError, match="does not split into 3 subcarrier blocks"):
        Link(blocks, 10.0, subcarriers=3)
    with pytest.raises(ValueError, match=r"channels must have shape \(S, n_rx, n_tx\)"):
        Link.from_subcarriers(torch.ones(2, 2, dtype=torch.complex64))
    with pytest.raises(ValueError, match="makes a one-transmitter link"):
        Link.from_subcarriers(torch.ones(2, 2, 2, dtype=torch.complex64), transmitters=2)


def test_channel_model_names_and_options_are_checked():
    with pytest.raises(ValueError, match="unknown channel_model 'tdl-f'; expected one of rayleigh, kronecker, tdl-a"):
        check_channel_model("tdl-f")
    with pytest.raises(ValueError, match="unknown TR 38.901 model"):
        ofdm_channel("rayleigh", 2, 2, 2, generator=_gen(0))
    with pytest.raises(ValueError, match="tx_correlation=0.5 is a setting of channel_model='kronecker'"):
        ChannelModel("tdl-a", tx_correlation=0.5)
    with pytest.raises(ValueError, match="delay_spread_ns=300.0 is a setting of the TDL/CDL models, not of channel_model='rayleigh'"):
        ChannelModel("rayleigh", delay_spread_ns=300.0)
    with pytest.raises(ValueError, match="delay_spread_ns must be"):
        ChannelModel("tdl-a", delay_spread_ns=-1.0)
    with pytest.raises(ValueError, match="bandwidth_mhz must be"):
        ChannelModel("cdl-a", bandwidth_mhz=0.0)
    assert set(CHANNEL_MODELS) == {"rayleigh", "kronecker", *TR38901_MODELS}


def test_the_flat_models_keep_todays_channels():
    assert torch.equal(ChannelModel().for_seed(11, 3, 3), channel_for_seed(11, 3, 3))
    assert torch.equal(ChannelModel("kronecker", tx_correlation=0.6).for_seed(11, 3, 3), channel_for_seed(11, 3, 3, tx_correlation=0.6))
    assert ChannelModel("tdl-b").for_seed(11, 3, 3, 2).shape == (2, 3, 3)


# ------------------------------------------------------------------ runs
def test_link_runs_on_every_family_record_the_model_and_its_options(tmp_path):
    base = dict(method="linear-admm", n_antennas=2, channel_uses=2, snr_db=10.0, pilots_per_class=30)
    runs = [
        LinkRun(**base, channel_model="rayleigh", delay_spread_ns=300.0),  # an option of another model is ignored
        LinkRun(**base, channel_model="kronecker", tx_correlation=0.7),
        LinkRun(**base, channel_model="tdl-c", delay_spread_ns=300.0),
        LinkRun(**base, channel_model="cdl-a"),
    ]
    frame = execute_runs(get_run_kind("link"), runs, tmp_path, progress=False).sort("channel_model")
    assert frame["channel_model"].to_list() == ["cdl-a", "kronecker", "rayleigh", "tdl-c"]
    assert frame["channel_uses"].to_list() == [2, 2, 2, 2]
    assert frame["compression_factor"].to_list() == [100.0 * 4 / 32] * 4
    assert frame.filter(pl.col("channel_model") == "tdl-c")["delay_spread_ns"].item() == 300.0
    assert frame.filter(pl.col("channel_model") == "rayleigh")["delay_spread_ns"].item() is None
    assert frame.filter(pl.col("channel_model") == "kronecker")["tx_correlation"].item() == 0.7
    # Every model's design beats predicting the mean by far at 10 dB.
    assert (frame["mse"] < 0.8 * frame["mean_predictor_mse"]).all()


def test_link_runs_reset_what_they_ignore_before_refusing_csi_settings():
    # Correlated antennas: the CSI error model (i.i.d. error independent of the estimate) does not hold.
    with pytest.raises(ValueError, match="channel_model='kronecker' has correlated antennas: csi_error=0.1"):
        LinkRun(channel_model="kronecker", tx_correlation=0.5, csi_error=0.1)
    assert LinkRun(channel_model="kronecker", csi_error=0.1).csi_error == 0.1  # kronecker without correlation is i.i.d.
    # Settings a run ignores are reset first: the clean ceiling and unaware designs know no channel.
    assert LinkRun(method="clean", channel_model="tdl-a", csi_error=0.1).csi_error == 0.0
    assert LinkRun(awareness="unaware", channel_model="tdl-a", csi_error=0.1).csi_error == 0.0


def test_link_runs_reject_csi_settings_on_frequency_selective_models_and_unknown_names():
    with pytest.raises(ValueError, match=r"channel_model='cdl-b' is frequency selective: doppler=0.01 \(imperfect or outdated CSI\)"):
        LinkRun(channel_model="cdl-b", doppler=0.01)
    assert LinkRun(channel_model="cdl-b", csi_error=0.1).csi_error == 0.1  # estimated per subcarrier
    with pytest.raises(ValueError, match="unknown channel_model 'tdl'"):
        LinkRun(channel_model="tdl")


# ------------------------------------------------------------------ imperfect CSI per subcarrier
def _iid(shape, seed, variance=1.0) -> torch.Tensor:
    parts = torch.randn((2, *shape), generator=_gen(seed), dtype=torch.float64)
    return torch.complex(parts[0], parts[1]) * math.sqrt(variance / 2)


@pytest.mark.parametrize("domain", ["complex", "real"])
def test_independent_subcarrier_errors_keep_only_the_diagonal_blocks(domain):
    """E[Δ M Δ^H] for Δ = diag(D_1, ..., D_S) with independent D_s, against a Monte-Carlo average."""
    from semalign.link.csi import error_covariance
    from semalign.link.mimo import real_composite

    s, n_rx, n_tx, var, draws = 3, 2, 2, 0.3, 4000
    size = (2 if domain == "real" else 1) * s * n_tx
    a = torch.randn(size, size, dtype=torch.float64, generator=_gen(7))
    m = a @ a.T if domain == "real" else (a + 1j * torch.randn(size, size, dtype=torch.float64, generator=_gen(8))) @ a.T.to(torch.complex128)
    m = (m + m.mH) / 2
    acc = 0
    for k in range(draws):
        delta = subcarrier_block_diagonal(_iid((s, n_rx, n_tx), 100 + k, var))
        delta = real_composite(delta) if domain == "real" else delta
        acc = acc + delta @ m @ delta.mH
    expected = error_covariance(m, var, uses=s, size=n_rx, domain=domain, independent=True)
    assert ((acc / draws - expected).abs().max() / expected.abs().max()).item() < 0.05
    shared = error_covariance(m, var, uses=s, size=n_rx, domain=domain)
    assert (shared - expected).abs().max() > 0.1 * expected.abs().max()  # the shared-error form differs


def test_a_subcarrier_link_draws_each_subcarriers_own_error():
    s, n = 2, 2
    link = Link.from_subcarriers(ofdm_channel("tdl-a", n, n, s, generator=_gen(1), dtype=torch.complex128), float("inf"), csi_error=0.4)
    assert link.error_blocks() == (s, True)
    symbols = torch.zeros(20000, s * n, dtype=torch.complex128)
    symbols[:, 0] = 1.0  # only the first antenna of subcarrier 1 transmits
    errors = link.send(symbols, noise=False, channel_errors=True, generator=_gen(2)) - link.send(symbols, noise=False)
    power = errors.abs().square().mean(0)  # per receive row
    torch.testing.assert_close(power[:n], torch.full((n,), 0.4, dtype=torch.float64), rtol=0.05, atol=0.0)
    assert power[n:].max().item() == 0.0  # no error leaks into the other subcarrier's rows
    with pytest.raises(ValueError, match="needs channel_uses=1"):
        Link(link.channel, 10.0, subcarriers=s, csi_error=0.1, channel_uses=2)


def test_robust_admm_on_a_subcarrier_link_averages_over_each_subcarriers_error():
    """The robust objective on diag(H_1, H_2) against the training MSE averaged over 500 draws of
    independent per-subcarrier errors, and robust beats naive there."""
    from semalign import LinearSemanticTransceiver, load_latents
    from semalign.link.csi import true_channel
    from semalign.link.mimo import real_composite
    from semalign.transceivers.linear_admm import alignment_objective, noise_per_dimension

    pair = load_latents("digits")
    x, y = pair.train.tx[:1500], pair.train.rx[:1500]
    per_subcarrier, eps = ofdm_channel("tdl-c", 4, 4, 2, generator=_gen(3), delay_spread_ns=300, dtype=torch.complex128), 0.3
    link = Link.from_subcarriers(per_subcarrier.unsqueeze(0), [10.0], csi_error=eps)
    robust = LinearSemanticTransceiver(link=link, robust=True).fit(x, y)
    stats, sigma2 = robust.statistics_, noise_per_dimension(robust.statistics_, robust.noise_variance())
    values, generator = [], _gen(4)
    for _ in range(500):
        lifted = real_composite(subcarrier_block_diagonal(true_channel(per_subcarrier, eps, generator=generator)).unsqueeze(0))
        values.append(alignment_objective(stats, lifted.to(robust.precoder_.dtype) @ robust.precoder_, robust.decoder_, sigma2) / stats.d_rx)
    assert robust.training_objective_.item() == pytest.approx(torch.stack(values).mean().item(), rel=0.03)
    naive = LinearSemanticTransceiver(link=link).fit(x, y)
    test_errors = {"naive": 0.0, "robust": 0.0}
    for k in range(10):
        true = subcarrier_block_diagonal(true_channel(per_subcarrier, eps, generator=_gen(50 + k))).unsqueeze(0)
        for name, model in (("naive", naive), ("robust", robust)):
            test_errors[name] += mse(model.transmit(pair.test.tx, channel=true, generator=_gen(k))[0], pair.test.rx)
    assert test_errors["robust"] < test_errors["naive"]


def test_link_runs_estimate_tdl_channels_per_subcarrier(tmp_path):
    base = dict(method="linear-admm", n_antennas=2, channel_uses=2, snr_db=20.0, pilots_per_class=30, channel_model="tdl-a")
    runs = [LinkRun(**base), LinkRun(**base, csi_error=0.3), LinkRun(**base, csi_error=0.3, robust=True), LinkRun(**base, pilot_snr_db=-5.0, csi_pilots=4)]
    frame = execute_runs(get_run_kind("link"), runs, tmp_path, progress=False)
    by_csi = {(row["csi"], row["robust"]): row for row in frame.iter_rows(named=True)}
    perfect, naive, robust = by_csi[("perfect", None)], by_csi[("error-model", False)], by_csi[("error-model", True)]
    assert naive["mse"] > perfect["mse"] and robust["mse"] < naive["mse"]
    assert by_csi[("estimated", False)]["csi_error_known"] > 0.1
    with pytest.raises(ValueError, match=r"channel_model='tdl-a' is frequency selective: doppler=0.01 .*on TDL/CDL channels csi_error, pilot_snr_db only"):
        LinkRun(**base, doppler=0.01)
