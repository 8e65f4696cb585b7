"""Imperfect channel knowledge in the federated downlink: the design channels are estimates, the
users' true channels differ by an error of fraction ``csi_error`` (:mod:`semalign.link.csi`).

Checked: ε = 0 or ``robust=False`` is today's design bit for bit; ``transmit(channel=...)`` through
the design channels is ``transmit()``; argument errors; the robust closed form is the Monte-Carlo
average over the error and equals the robust single-link ADMM for one user; robust designs beat
naive ones on held-out latents over true channels drawn around the estimates; the run engine's
rows carry the CSI columns.
"""

import pytest
import torch

from semalign.link.channel import channel_for_seed, ofdm_channel
from semalign.link.csi import true_channel
from semalign.link.link import Link
from semalign.link.mimo import block_diagonal_channel, real_composite, subcarrier_block_diagonal
from semalign.link.packing import pack_complex, unpack_complex
from semalign.link.whitening import fit_whitener
from semalign.multiuser.federated import FederatedDownlink
from semalign.multiuser.federated_baselines import FederatedFeatureBaseline
from semalign.multiuser.federated_roles import _AccessPoint, _ChannelErrors, _StatisticsUserGroup, _UserGroup
from semalign.transceivers.linear_admm import LinearSemanticTransceiver, gram_statistics

N, D_AP = 300, 16
USER_DIMS = (10, 14, 22)


def _data(seed=0, k=3, n=N):
    """``2 n`` paired samples (the first n are pilots, the rest held out) and k 2x2 design channels."""
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(2 * n, D_AP, generator=g, dtype=torch.float64)
    users = []
    for d in USER_DIMS[:k]:
        mix = torch.randn(D_AP, d, generator=g, dtype=torch.float64)
        users.append(torch.tanh(s @ mix / 3) + 0.2 * torch.randn(2 * n, d, generator=g, dtype=torch.float64))
    channels = torch.stack([channel_for_seed(seed * 10 + i, 2, 2).to(torch.complex128) for i in range(k)])
    return (s[:n], [u[:n] for u in users]), (s[n:], [u[n:] for u in users]), channels


def _same_fit(a, b):
    assert torch.equal(a.precoder_, b.precoder_)
    for ua, ub in zip(a.users_, b.users_):
        assert torch.equal(ua.decoder, ub.decoder)
    assert a.history_ == b.history_ and a.training_objective_ == b.training_objective_


@pytest.mark.parametrize(
    "variant, processing", [("federated-admm", "strictly-linear"), ("federated-prox", "widely-linear"), ("multi-link", "strictly-linear")]
)
def test_no_error_or_not_robust_is_todays_fit_bit_for_bit(variant, processing):
    (s, users), _, channels = _data()
    options = dict(snr_db=10.0, rounds=6, variant=variant, processing=processing, channel_uses=2)
    today = FederatedDownlink(channels, **options).fit(s, users)
    _same_fit(FederatedDownlink(channels, csi_error=0.0, robust=True, **options).fit(s, users), today)
    _same_fit(FederatedDownlink(channels, csi_error=0.3, robust=False, **options).fit(s, users), today)
    for a, b in zip(FederatedDownlink(channels, csi_error=0.3, **options).fit(s, users).transmit(s), today.transmit(s)):
        assert torch.equal(a, b)


def test_baselines_without_error_or_not_robust_are_todays_fit_bit_for_bit():
    (s, users), _, channels = _data()
    for method in ("first-k", "top-k"):
        today = FederatedFeatureBaseline(channels, method=method, snr_db=10.0).fit(s, users).transmit(s)
        for options in ({"csi_error": 0.0, "robust": True}, {"csi_error": 0.3, "robust": False}):
            again = FederatedFeatureBaseline(channels, method=method, snr_db=10.0, **options).fit(s, users).transmit(s)
            for a, b in zip(again, today):
                assert torch.equal(a, b)


@pytest.mark.parametrize("processing", ["strictly-linear", "widely-linear"])
def test_transmit_through_the_design_channels_is_the_default(processing):
    (s, users), (held_out, _), channels = _data()
    for model in (
        FederatedDownlink(channels, snr_db=10.0, rounds=3, processing=processing, channel_uses=2, csi_error=0.2, robust=True),
        FederatedFeatureBaseline(channels, snr_db=10.0, processing=processing, channel_uses=2, csi_error=0.2, robust=True),
    ):
        model.fit(s, users)
        for a, b in zip(model.transmit(held_out, channel=channels), model.transmit(held_out)):
            assert torch.equal(a, b)
        # Another channel changes what arrives (the symbols really go through it).
        other = model.transmit(held_out, channel=channels.flip(0))
        assert not torch.equal(other[0], model.transmit(held_out)[0])


def test_wrong_true_channel_shape_names_channel_and_both_shapes():
    (s, users), _, channels = _data()
    for model in (FederatedDownlink(channels, rounds=2).fit(s, users), FederatedFeatureBaseline(channels).fit(s, users)):
        with pytest.raises(ValueError, match=r"channel.*\(3, 2, 2\).*\(2, 2\)"):
            model.transmit(s, channel=channels[0])
        with pytest.raises(ValueError, match=r"channel.*\(3, 2, 2\).*\(2, 2, 2\)"):
            model.transmit(s, channel=channels[:2])
        with pytest.raises(ValueError, match=r"channel.*\(3, 2, 2\).*list"):
            model.transmit(s, channel=[1, 2])


@pytest.mark.parametrize("estimator", [FederatedDownlink, FederatedFeatureBaseline])
def test_csi_error_and_robust_are_checked_hyper_parameters(estimator):
    _, _, channels = _data()
    for bad in (-0.1, 1.5, "0.2", True, None):
        with pytest.raises(ValueError, match="csi_error"):
            estimator(channels, csi_error=bad)
    for bad in ("yes", 1, None):
        with pytest.raises(ValueError, match="robust must be True or False"):
            estimator(channels, robust=bad)
    model = estimator(channels, csi_error=0.25, robust=True)
    assert model.get_params()["csi_error"] == 0.25 and model.get_params()["robust"] is True
    copy = type(model)(**model.get_params())  # a clone from the hyper-parameters
    assert copy.get_params()["csi_error"] == 0.25 and copy.robust is True
    model.set_params(csi_error=0.5)
    assert model.csi_error == 0.5 and model._current_link().csi_error == 0.5
    with pytest.raises(ValueError, match="csi_error"):
        model.set_params(csi_error=2.0)
    # A link= carries its own CSI error; a non-zero keyword replaces it.
    link = Link(channels, 10.0, csi_error=0.1)
    assert estimator(link=link)._current_link().csi_error == 0.1
    assert estimator(link=link, csi_error=0.3)._current_link().csi_error == 0.3


def _whitened_objective(model, s, users, lifted):
    """Per user the whitened training MSE per real entry (noise in closed form) of the fitted design
    through the solver channels ``lifted`` ``(draws, K, rows, cols)``: averaged over the draws."""
    coords = s if model.widely else pack_complex(s)
    s_white = model.ap_whitener_.whiten(coords).mT.to(model.precoder_.dtype)  # (m_0, n)
    n = s.shape[0]
    out = []
    for k, user in enumerate(model.users_):
        g = user.decoder
        precoder = model.precoder_[k] if model.variant == "multi-link" else model.precoder_
        received = lifted[:, k] @ (precoder @ s_white)  # (draws, rows, n)
        error = (user.x_white - g @ received).abs().square().sum((-2, -1)) / n
        value = error + user.sigma2 * g.abs().square().sum()
        out.append(float(value.mean()) / ((1 if model.widely else 2) * g.shape[0]))
    return out


@pytest.mark.parametrize("variant, processing", [("federated-admm", "strictly-linear"), ("federated-admm", "widely-linear"), ("multi-link", "strictly-linear")])
def test_robust_objective_is_the_average_over_the_channel_error(variant, processing):
    """The closed form the G and F steps minimise, at the final design, is within 3 % of the
    Monte-Carlo average over 800 draws of the error (T = 2 uses share each draw)."""
    (s, users), _, channels = _data(k=2)
    eps, t = 0.3, 2
    model = FederatedDownlink(channels, snr_db=15.0, rounds=10, csi_error=eps, robust=True, variant=variant, processing=processing, channel_uses=t)
    model.fit(s, users)
    draws = true_channel(channels.expand(800, *channels.shape), eps, generator=torch.Generator().manual_seed(3))
    lifted = block_diagonal_channel(draws, t)
    lifted = real_composite(lifted) if model.widely else lifted
    monte_carlo = _whitened_objective(model, s, users, lifted)
    nominal = _whitened_objective(model, s, users, (real_composite(block_diagonal_channel(channels, t)) if model.widely else block_diagonal_channel(channels, t))[None])
    for closed, sampled, exact in zip(model.training_objective_, monte_carlo, nominal):
        assert abs(closed - sampled) <= 0.03 * sampled
        # The error's own share (closed - exact) is resolved, not lost in the 3 %: the check has teeth.
        assert abs(closed - sampled) <= 0.25 * (closed - exact)


@pytest.mark.parametrize("processing", ["strictly-linear", "widely-linear"])
def test_robust_objective_on_subcarriers_is_the_average_over_each_subcarriers_error(processing):
    """On a frequency-selective link (T = 2 TDL subcarriers) each subcarrier's channel has its own
    independent error: the closed form is within 3 % of the Monte-Carlo average over 800 draws of
    diag(D_1, D_2), and the shared-error form would not be."""
    (s, users), _, _ = _data(k=2)
    eps = 0.3
    per_subcarrier = ofdm_channel("tdl-a", 2, 2, 2, generator=torch.Generator().manual_seed(4), batch=2, delay_spread_ns=300, dtype=torch.complex128)
    link = Link.from_subcarriers(per_subcarrier, 15.0, csi_error=eps)
    model = FederatedDownlink(link=link, rounds=10, robust=True, processing=processing).fit(s, users)
    draws = subcarrier_block_diagonal(true_channel(per_subcarrier.expand(800, *per_subcarrier.shape), eps, generator=torch.Generator().manual_seed(3)))
    lifted = real_composite(draws) if model.widely else draws
    monte_carlo = _whitened_objective(model, s, users, lifted)
    exact_lifted = real_composite(link.channel) if model.widely else link.channel
    nominal = _whitened_objective(model, s, users, exact_lifted[None])
    for closed, sampled, exact in zip(model.training_objective_, monte_carlo, nominal):
        assert abs(closed - sampled) <= 0.03 * sampled
        assert abs(closed - sampled) <= 0.25 * (closed - exact)


def test_one_user_robust_equals_the_robust_single_link_admm():
    (s, users), _, channels = _data(k=1)
    x = users[0]
    target = unpack_complex(fit_whitener(pack_complex(x)).whiten(pack_complex(x)), x.shape[1])
    options = dict(snr_db=10.0, rho=1.0, csi_error=0.3, robust=True)
    single = LinearSemanticTransceiver(channels[0], iterations=12, processing="strictly-linear", **options)
    start = single.initial_precoder(gram_statistics(s, target, "complex"))[0]
    single.fit(s, target)
    fed = FederatedDownlink(channels, rounds=12, initial_precoder=start, **options).fit(s, [x])
    torch.testing.assert_close(fed.precoder_, single.precoder_[0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fed.users_[0].decoder, single.decoder_[0], rtol=1e-9, atol=1e-11)
    assert fed.training_objective_[0] == pytest.approx(float(single.training_objective_[0]), rel=1e-9)


@pytest.mark.parametrize("widely", [False, True])
def test_users_on_their_own_pilots_take_the_same_robust_steps(widely):
    """The users of the Dask executor (:class:`_UserGroup`, on the pilots) and the in-process ones
    (:class:`_StatisticsUserGroup`, on statistics) fit the same robust equalisers and send the same M1."""
    (s, users), _, channels = _data(k=2)
    t = 2
    link = Link(channels, 10.0, channel_uses=t, csi_error=0.3)
    lifted = link.lifted(real=True) if widely else link.lifted()
    sigma2 = float(link.noise_variance()) / (2 if widely else 1)
    errors = _ChannelErrors(link.error_variance(), t, 2, 2, "real" if widely else "complex")
    m0 = D_AP if widely else D_AP // 2
    start = torch.randn(lifted.shape[-1], m0, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    start = start if widely else start.to(torch.complex128)
    ap = _AccessPoint(s, start, variant="federated-admm", rho=1.0, power=1.0, n_users=2, widely=widely, statistics=True)
    statistics = _StatisticsUserGroup(["u0", "u1"], users, link, lifted, sigma2, ap, widely, errors)
    pilots = _UserGroup(["u0", "u1"], users, link, lifted, sigma2, widely, errors=errors)
    values = statistics.receive(start)
    torch.testing.assert_close(torch.tensor(pilots.receive(ap.symbols(start))), torch.tensor(values), rtol=1e-9, atol=0)
    for a, b in zip(pilots.users, statistics.users):
        torch.testing.assert_close(a.decoder, b.decoder, rtol=1e-8, atol=1e-10)
    for a, b in zip(pilots.uplink(), statistics.uplink()):
        torch.testing.assert_close(a["m1"], b["m1"], rtol=1e-8, atol=1e-10)


def _held_out_mse(model, held_out, truth, design, eps, draws=40):
    """Mean over ``draws`` true channels drawn around ``design`` of the users' mean held-out MSE."""
    g = torch.Generator().manual_seed(11)
    total = 0.0
    for _ in range(draws):
        estimates = model.transmit(held_out, channel=true_channel(design, eps, generator=g), generator=g)
        total += sum(float((e - y).square().mean()) for e, y in zip(estimates, truth)) / len(truth)
    return total / draws


@pytest.mark.parametrize("eps", [0.2, 0.4])
@pytest.mark.parametrize("processing", ["strictly-linear", "widely-linear"])
def test_robust_design_beats_the_naive_one_on_held_out_latents(eps, processing):
    (s, users), (held_out, truth), channels = _data()
    design = channels * (1 - eps) ** 0.5  # estimates carry (1 - ε) of the channel power
    options = dict(snr_db=20.0, rounds=20, csi_error=eps, processing=processing, channel_uses=2)
    naive = FederatedDownlink(design, **options).fit(s, users)
    robust = FederatedDownlink(design, robust=True, **options).fit(s, users)
    naive_mse, robust_mse = _held_out_mse(naive, held_out, truth, design, eps), _held_out_mse(robust, held_out, truth, design, eps)
    assert robust_mse < 0.9 * naive_mse, (naive_mse, robust_mse)


@pytest.mark.parametrize("eps", [0.2, 0.4])
def test_robust_baseline_users_learn_from_pilots_through_error_draws(eps):
    (s, users), (held_out, truth), channels = _data()
    design = channels * (1 - eps) ** 0.5
    naive = FederatedFeatureBaseline(design, snr_db=20.0, csi_error=eps, channel_uses=2).fit(s, users)
    robust = FederatedFeatureBaseline(design, snr_db=20.0, csi_error=eps, channel_uses=2, robust=True).fit(s, users)
    assert not torch.equal(robust.users_[0].map_, naive.users_[0].map_)
    assert _held_out_mse(robust, held_out, truth, design, eps) < _held_out_mse(naive, held_out, truth, design, eps)


def test_a_federated_run_with_csi_error_runs_through_the_engine(tmp_path):
    from semalign.experiments.engine import execute_runs
    from semalign.experiments.runs import get_run_kind
    from semalign.experiments.runs.federated import FederatedRun

    common = dict(
        latents="synthetic", latents_options='{"n_train": 200, "n_test": 100, "d_tx": 16, "seed": 5}',
        user_pool="a:1.0:12,b:0.0:20", homogeneous_sets="a,b", heterogeneous_sets="a,b", rounds=4, seed=1, n_antennas=2, channel_uses=2,
    )  # fmt: skip
    assert FederatedRun(**common, robust=True).robust is False  # nothing to be robust to: the default
    with pytest.raises(ValueError, match="csi_error"):
        FederatedRun(**common, csi_error=1.5)
    with pytest.raises(ValueError, match="robust"):
        FederatedRun(**common, csi_error=0.2, robust="yes")
    runs = [
        FederatedRun(**common, method=method, csi_error=eps, robust=robust)
        for method in ("federated-admm", "first-k")
        for eps, robust in ((0.0, False), (0.3, False), (0.3, True))
    ]
    rows = execute_runs(get_run_kind("federated"), runs, tmp_path, progress=False)
    assert rows.height == len(runs) * 2
    for column in ("csi", "csi_error", "robust", "channel_model"):
        assert column in rows.columns
    perfect, known = rows.filter(rows["csi_error"] == 0.0), rows.filter(rows["csi_error"] == 0.3)
    assert set(perfect["csi"]) == {"perfect"} and set(known["csi"]) == {"error-model"}
    assert set(rows["channel_model"]) == {"rayleigh"} and set(known["robust"]) == {False, True}
    assert (rows["mse"] > 0).all() and not rows["mse"].is_nan().any()
    # The CSI error costs MSE against perfect knowledge of the same channels (same seed, pilots, noise).
    admm = rows.filter(rows["method"] == "federated-admm")
    assert admm.filter(admm["csi_error"] == 0.3)["mse"].mean() > admm.filter(admm["csi_error"] == 0.0)["mse"].mean()


def test_federated_runs_estimate_the_users_channels_from_pilots(tmp_path):
    """pilot_snr_db: LMMSE estimates from csi_pilots pilots per antenna (per subcarrier on TDL), with
    the ε they imply recorded; a low pilot SNR costs MSE, and a robust design loses less."""
    from semalign.experiments.engine import execute_runs
    from semalign.experiments.runs import get_run_kind
    from semalign.experiments.runs.federated import FederatedRun

    common = dict(
        latents="synthetic", latents_options='{"n_train": 200, "n_test": 100, "d_tx": 16, "seed": 5}',
        user_pool="a:1.0:12,b:0.0:20", homogeneous_sets="a,b", heterogeneous_sets="a,b", rounds=4, seed=1, n_antennas=2, channel_uses=2,
    )  # fmt: skip
    with pytest.raises(ValueError, match="give either csi_error .* or pilot_snr_db"):
        FederatedRun(**common, csi_error=0.1, pilot_snr_db=0.0)
    with pytest.raises(ValueError, match="csi_pilots=1 orthogonal pilots cannot separate 2 transmit antennas"):
        FederatedRun(**common, pilot_snr_db=0.0, csi_pilots=1)
    assert FederatedRun(**common, csi_pilots=3).csi_pilots == 8  # unused without a pilot SNR: the default
    runs = [FederatedRun(**common, pilot_snr_db=-10.0, robust=robust) for robust in (False, True)]
    runs += [FederatedRun(**common), FederatedRun(**common, channel_model="tdl-a", pilot_snr_db=-10.0, csi_pilots=4)]
    rows = execute_runs(get_run_kind("federated"), runs, tmp_path, progress=False)
    estimated = rows.filter(rows["csi"] == "estimated")
    # 8 pilots at -10 dB: e = 1 / (8 * 0.1) = 1.25, so ε = e / (1 + e) = 0.556 (4 pilots: 0.714).
    assert sorted(set(estimated["csi_error_known"].round(3))) == [0.556, 0.714]
    perfect = rows.filter(rows["csi"] == "perfect")["mse"].mean()
    rayleigh = estimated.filter(estimated["channel_model"] == "rayleigh")
    naive, robust = (rayleigh.filter(rayleigh["robust"] == flag)["mse"].mean() for flag in (False, True))
    assert naive > perfect and robust < naive
