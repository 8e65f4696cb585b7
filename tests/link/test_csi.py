"""Imperfect channel knowledge: the error model, estimation from pilots, channels that change, and
robust designs, each against an independent computation (Monte-Carlo averages, theory)."""

from __future__ import annotations

import math

import pytest
import torch

import semalign
from semalign.link import mimo
from semalign.link.csi import error_covariance, estimate_channel, estimate_of, gauss_markov_channels, jakes_correlation, true_channel
from semalign.transceivers.linear_admm import alignment_objective, noise_per_dimension


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _iid(shape, seed, variance=1.0) -> torch.Tensor:
    parts = torch.randn((2, *shape), generator=_gen(seed), dtype=torch.float64)
    return torch.complex(parts[0], parts[1]) * math.sqrt(variance / 2)


# ------------------------------------------------------------------ the error model
@pytest.mark.parametrize("eps", [0.1, 0.4])
def test_estimate_and_true_channel_follow_the_error_model(eps):
    v = 0.5
    h = _iid((20000, 2, 2), 0, v)
    estimate = estimate_of(h, eps, v, generator=_gen(1))
    error = h - estimate
    assert error.abs().square().mean().item() == pytest.approx(eps * v, rel=0.02)
    assert estimate.abs().square().mean().item() == pytest.approx((1 - eps) * v, rel=0.02)
    assert (error * estimate.conj()).mean().abs().item() < 0.01 * v  # independent of the estimate
    again = true_channel(estimate, eps, v, generator=_gen(2))
    assert (again - estimate).abs().square().mean().item() == pytest.approx(eps * v, rel=0.02)


def test_zero_error_is_the_channel_itself_and_bad_fractions_are_named():
    h = _iid((3, 2), 0)
    assert torch.equal(true_channel(h, 0.0, generator=_gen(0)), h) and torch.equal(estimate_of(h, 0.0, generator=_gen(0)), h)
    for bad in (-0.1, 1.5, float("nan"), "0.1"):
        with pytest.raises(ValueError, match="csi_error must be a fraction in"):
            true_channel(h, bad, generator=_gen(0))
    with pytest.raises(ValueError, match="csi_error must be a fraction in"):
        semalign.LinearSemanticTransceiver(channel=h, csi_error=2.0)


@pytest.mark.parametrize("method", ["ls", "lmmse"])
def test_estimated_channel_has_the_error_variance_of_theory(method):
    v, pilots, snr_db = 1.0, 4, 5.0
    h = _iid((20000, 2, 4), 3, v)
    result = estimate_channel(h, pilots=pilots, pilot_snr_db=snr_db, method=method, generator=_gen(4))
    ls_error = 1 / (pilots * 10 ** (snr_db / 10))
    theory = ls_error if method == "ls" else v * ls_error / (v + ls_error)
    assert result.error_variance == pytest.approx(theory)
    assert (result.estimate - h).abs().square().mean().item() == pytest.approx(theory, rel=0.02)
    # The design channel is in the error model's form: its error is uncorrelated with it.
    error = h - result.design_channel
    assert error.abs().square().mean().item() == pytest.approx(result.csi_error * v, rel=0.02)
    assert (error * result.design_channel.conj()).mean().abs().item() < 0.01


def test_estimation_rejects_too_few_pilots():
    with pytest.raises(ValueError, match="pilots=2 orthogonal pilot symbols cannot separate 4 transmit antennas"):
        estimate_channel(_iid((2, 4), 0), pilots=2, pilot_snr_db=10.0, generator=_gen(0))
    with pytest.raises(ValueError, match="pilots must be a positive integer"):
        estimate_channel(_iid((2, 4), 0), pilots=0, pilot_snr_db=10.0, generator=_gen(0))


# ------------------------------------------------------------------ changing channels
def test_gauss_markov_channels_have_the_jakes_correlation():
    doppler, coherence = 0.01, 5
    rho = jakes_correlation(doppler, coherence)
    assert rho == pytest.approx(0.9755, abs=1e-3)  # J0(2 pi 0.05)
    chain = gauss_markov_channels(_iid((20000, 1, 1), 5), 4, doppler=doppler, coherence=coherence, generator=_gen(6))
    for lag in (1, 3):
        measured = (chain[lag] * chain[0].conj()).mean().real.item()
        assert measured == pytest.approx(rho**lag, abs=0.02)
    assert chain[-1].abs().square().mean().item() == pytest.approx(1.0, rel=0.03)  # stationary
    with pytest.raises(ValueError, match="doppler must be a finite normalised Doppler"):
        gauss_markov_channels(_iid((1, 1), 0), 2, doppler=-0.1, generator=_gen(0))


# ------------------------------------------------------------------ robust designs
@pytest.mark.parametrize("domain", ["complex", "real"])
def test_error_covariance_matches_a_monte_carlo_average(domain):
    uses, n_rx, n_tx, s, draws = 2, 3, 2, 0.3, 4000
    size = (2 if domain == "real" else 1) * uses * n_tx
    a = torch.randn(size, size, dtype=torch.float64, generator=_gen(7))
    m = a @ a.T if domain == "real" else (a + 1j * torch.randn(size, size, dtype=torch.float64, generator=_gen(8))) @ (a + 1j * 0).mT.conj()
    m = (m + m.mH) / 2
    acc = 0
    for k in range(draws):
        lifted = mimo.block_diagonal_channel(_iid((1, n_rx, n_tx), 100 + k, s), uses)
        delta = (mimo.real_composite(lifted) if domain == "real" else lifted)[0]
        acc = acc + delta @ m @ delta.mH
    expected = error_covariance(m, s, uses=uses, size=n_rx, domain=domain)
    assert ((acc / draws - expected).abs().max() / expected.abs().max()).item() < 0.05
    w = torch.randn(expected.shape, dtype=m.dtype, generator=_gen(9)) if domain == "real" else _iid(expected.shape, 9)
    adjoint = error_covariance(w, s, uses=uses, size=n_tx, domain=domain)
    assert torch.trace(w @ expected).item() == pytest.approx(torch.trace(adjoint @ m).item(), rel=1e-10)


@pytest.fixture(scope="module")
def digits():
    return semalign.load_latents("digits")


@pytest.mark.parametrize("processing, uses", [("widely-linear", 1), ("strictly-linear", 2)])
def test_robust_admm_objective_is_the_average_over_error_draws(digits, processing, uses):
    """The closed form of the robust objective against the training MSE averaged over 600 draws of D."""
    h, eps = semalign.channel_for_seed(3, 4, 4), 0.3
    model = semalign.LinearSemanticTransceiver(channel=h, snr_db=10.0, csi_error=eps, robust=True, processing=processing, channel_uses=uses)
    model.fit(digits.train.tx[:1500], digits.train.rx[:1500])
    stats, sigma2 = model.statistics_, noise_per_dimension(model.statistics_, model.noise_variance())
    values = []
    generator = _gen(0)
    for _ in range(600):
        lifted = mimo.block_diagonal_channel(true_channel(h.to(torch.complex128), eps, generator=generator).unsqueeze(0), uses)
        lifted = (mimo.real_composite(lifted) if stats.domain == "real" else lifted).to(model.precoder_.dtype)
        values.append(alignment_objective(stats, lifted @ model.precoder_, model.decoder_, sigma2) / stats.d_rx)
    monte_carlo = torch.stack(values).mean().item()
    assert model.training_objective_.item() == pytest.approx(monte_carlo, rel=0.03)


def test_zero_csi_error_gives_todays_estimates_bit_for_bit(digits):
    h = semalign.channel_for_seed(2, 4, 4)
    x, y = digits.train.tx[:800], digits.train.rx[:800]
    for cls, options in ((semalign.LinearSemanticTransceiver, {}), (semalign.EigenKTransceiver, {}), (semalign.NeuralSemanticTransceiver, {"epochs": 3})):
        plain = cls(channel=h, snr_db=10.0, **options).fit(x, y)
        robust = cls(channel=h, snr_db=10.0, csi_error=0.0, robust=True, **options).fit(x, y)
        a = plain.transmit(digits.test.tx[:200], generator=_gen(1))
        assert torch.equal(a, robust.transmit(digits.test.tx[:200], generator=_gen(1))), cls
        assert torch.equal(a, plain.transmit(digits.test.tx[:200], generator=_gen(1), channel=h)), cls


def _expected_mse(model, pair, estimate, eps, draws=20) -> float:
    generator, total = _gen(11), 0.0
    for k in range(draws):
        estimates = model.transmit(pair.test.tx, channel=true_channel(estimate, eps, generator=generator), generator=_gen(k))
        total += (estimates - pair.test.rx).square().sum(-1).mean().item()
    return total / draws


def test_robust_admm_beats_the_naive_design_on_a_held_out_pair():
    pair = semalign.load_latents("digits", tx="cnn48-tanh", rx="mlp96-gelu")
    estimate = semalign.channel_for_seed(5, 4, 4)
    naive = semalign.LinearSemanticTransceiver(channel=estimate, snr_db=10.0).fit(pair.train.tx, pair.train.rx)
    for eps in (0.05, 0.2, 0.5):
        robust = semalign.LinearSemanticTransceiver(channel=estimate, snr_db=10.0, csi_error=eps, robust=True).fit(pair.train.tx, pair.train.rx)
        assert _expected_mse(robust, pair, estimate, eps) < _expected_mse(naive, pair, estimate, eps), eps


@pytest.mark.parametrize("cls", [semalign.FirstKTransceiver, semalign.EigenKTransceiver])
def test_robust_baselines_learn_their_receiver_over_drawn_channels(digits, cls):
    estimate, eps = semalign.channel_for_seed(3, 4, 4), 0.3
    naive = cls(channel=estimate, snr_db=10.0).fit(digits.train.tx, digits.train.rx)
    robust = cls(channel=estimate, snr_db=10.0, csi_error=eps, robust=True).fit(digits.train.tx, digits.train.rx)
    assert _expected_mse(robust, digits, estimate, eps) < _expected_mse(naive, digits, estimate, eps)
    with pytest.raises(ValueError, match="robust=True needs receiver='received'"):
        cls(channel=estimate, robust=True, receiver="published")


def test_transmit_through_another_channel_checks_its_shape(digits):
    model = semalign.FirstKTransceiver(channel=semalign.channel_for_seed(1, 2, 2), snr_db=10.0).fit(digits.train.tx[:300], digits.train.rx[:300])
    with pytest.raises(ValueError, match=r"channel must have the shape of the design channel \(2, 2\)"):
        model.transmit(digits.test.tx[:10], channel=torch.zeros(2, 3, dtype=torch.complex64))


def test_a_robust_fit_does_not_depend_on_its_batch(digits):
    """Channel-error draws are shared per generator like the noise: a configuration fitted alone
    or beside others gives the same estimates."""
    h = semalign.channel_for_seed(3, 4, 4)
    x, y = digits.train.tx[:600], digits.train.rx[:600]
    alone = semalign.FirstKTransceiver(channel=h, snr_db=10.0, csi_error=0.3, robust=True).fit(x, y)
    batched = semalign.FirstKTransceiver(channel=h.expand(3, 4, 4), snr_db=[0.0, 10.0, 20.0], csi_error=0.3, robust=True).fit(x, y)
    assert torch.equal(alone.transmit(digits.test.tx[:50], generator=_gen(0)), batched.transmit(digits.test.tx[:50], generator=_gen(0))[1])


def test_unaware_runs_ignore_what_the_design_would_know():
    from semalign.experiments.runs.link import LinkRun

    assert LinkRun(awareness="unaware", csi_error=0.1) == LinkRun(awareness="unaware", csi_error=0.2)
    with pytest.raises(ValueError, match="pilot_snr_db must be a number in"):
        LinkRun(pilot_snr_db=500.0)
    with pytest.raises(ValueError, match="robust=True needs baseline_receiver='received'"):
        LinkRun(method="top-k", baseline_receiver="published", robust=True, csi_error=0.1)
