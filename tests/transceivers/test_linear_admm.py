"""Linear ADMM: each step against an independent computation on the explicit pilot matrices."""

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from semalign.link.channel import rayleigh_channel
from semalign.link.mimo import project_power_ball, real_composite
from semalign.transceivers.linear_admm import (
    LinearSemanticTransceiver,
    alignment_objective,
    decoder_products,
    gram_statistics,
    mmse_decoder,
    objective_from_products,
    precoder_step,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def latents(n=400, d_tx=12, d_rx=9, seed=0):
    g = gen(seed)
    z = torch.randn(n, 5, generator=g)
    x = torch.tanh(z @ torch.randn(5, d_tx, generator=g)) + 0.1 * torch.randn(n, d_tx, generator=g) + 0.5
    y = z @ torch.randn(5, d_rx, generator=g) + 0.1 * torch.randn(n, d_rx, generator=g) - 1.0
    return x.double(), y.double()


def explicit_matrices(x, y, stats):
    """Column-form whitened X (m x n) and centred Y (p x n) built directly from the pilots."""
    from semalign.link.packing import pack_complex

    xs, ys = (pack_complex(x), pack_complex(y)) if stats.domain == "complex" else (x, y)
    xw = stats.whitener.whiten(xs.to(stats.sxx.dtype)).T.resolve_conj().numpy()
    yc = (ys - ys.mean(0)).T.resolve_conj().numpy()
    return xw, yc


@pytest.mark.parametrize("domain", ["complex", "real"])
def test_gram_statistics_match_explicit_products(domain):
    x, y = latents()
    stats = gram_statistics(x, y, domain)
    xw, yc = explicit_matrices(x, y, stats)
    n = x.shape[0]
    np.testing.assert_allclose(xw @ xw.conj().T, (n - 1) * np.eye(xw.shape[0]), atol=1e-9 * n)  # X X^H = (n-1) I
    np.testing.assert_allclose(stats.sxx.numpy(), xw @ xw.conj().T, atol=1e-9 * n)
    np.testing.assert_allclose(stats.cyx.numpy(), yc @ xw.conj().T, rtol=1e-9, atol=1e-9)
    assert stats.tr_yy.item() == pytest.approx(np.sum(np.abs(yc) ** 2), rel=1e-9)


@pytest.mark.parametrize("domain", ["complex", "real"])
def test_g_step_is_stationary_for_the_mmse_objective(domain):
    x, y = latents()
    stats = gram_statistics(x, y, domain)
    xw, yc = explicit_matrices(x, y, stats)
    h = rayleigh_channel(3, 2, generator=gen(1), batch=1, dtype=torch.complex128)
    h = real_composite(h) if domain == "real" else h
    f = torch.randn(1, h.shape[-1], xw.shape[0], generator=gen(2), dtype=torch.float64).to(stats.sxx.dtype)
    sigma2 = torch.tensor([0.3], dtype=torch.float64)
    g = mmse_decoder(stats, h @ f, sigma2)[0].resolve_conj().numpy()
    a = (h @ f)[0].resolve_conj().numpy() @ xw
    n = xw.shape[1]
    # Gradient of ||Y - G A||^2 + n sigma^2 ||G||^2 with respect to conj(G) vanishes.
    grad = -(yc - g @ a) @ a.conj().T + n * 0.3 * g
    assert np.abs(grad).max() < 1e-8 * np.abs(yc @ a.conj().T).max()


@pytest.mark.parametrize("isotropic", [True, False])
@pytest.mark.parametrize("domain", ["complex", "real"])
def test_decoder_products_equal_the_explicit_decoder(domain, isotropic):
    """The iteration's G^H G, G^H C and objective equal those of the explicitly formed MMSE G."""
    x, y = latents(n=400 if isotropic else 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 5 pilots: shrunk whitening, S not (n - 1) I
        stats = gram_statistics(x, y, domain)
    assert stats.isotropic == isotropic
    h = rayleigh_channel(3, 2, generator=gen(1), batch=2, dtype=torch.complex128)
    h = real_composite(h) if domain == "real" else h
    f = torch.randn(2, h.shape[-1], stats.sxx.shape[-1], generator=gen(2), dtype=torch.float64).to(stats.sxx.dtype)
    sigma2 = torch.tensor([0.3, 0.01], dtype=torch.float64)
    hf = h @ f
    g = mmse_decoder(stats, hf, sigma2)
    products = decoder_products(stats, hf, sigma2, stats.cyx.mH @ stats.cyx)
    torch.testing.assert_close(products.g_h_g, g.mH @ g, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(products.g_h_c, g.mH @ stats.cyx, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(objective_from_products(stats, hf, products, sigma2), alignment_objective(stats, hf, g, sigma2), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("domain", ["complex", "real"])
def test_f_step_solves_the_sylvester_equation(domain):
    x, y = latents(n=60, d_tx=30)  # few pilots: the whitening is shrunk, so S is not a multiple of I
    with pytest.warns(RuntimeWarning):
        stats = gram_statistics(x[:12], y[:12], domain)
    xw, yc = explicit_matrices(x[:12], y[:12], stats)
    m, n, rho = xw.shape[0], xw.shape[1], 7.0
    p = yc.shape[0]
    dtype = stats.sxx.dtype
    m_mat = torch.randn(1, p, 4, generator=gen(3), dtype=torch.float64).to(dtype)
    zu = torch.randn(1, 4, m, generator=gen(4), dtype=torch.float64).to(dtype)
    f = precoder_step(stats, m_mat.mH @ m_mat, m_mat.mH @ stats.cyx, zu, rho, torch.linalg.eigh(stats.sxx))[0].numpy()
    mm, target = m_mat[0].resolve_conj().numpy(), zu[0].resolve_conj().numpy()
    # Independent: the Kronecker form (S^T (x) M^H M + n rho I) vec F = vec R, one dense solve.
    # (S is singular here, so the published route through S^{-1} and a Sylvester solver cannot be used.)
    s = xw @ xw.conj().T
    rhs = mm.conj().T @ yc @ xw.conj().T + n * rho * target
    system = np.kron(s.T, mm.conj().T @ mm) + n * rho * np.eye(4 * m)
    reference = np.linalg.solve(system, rhs.reshape(-1, order="F")).reshape(4, m, order="F")
    np.testing.assert_allclose(f, reference, rtol=1e-8, atol=1e-10)
    # Stationarity of (1/n)||Y - M F X||^2 + rho ||F - (Z - U)||^2.
    grad = -(mm.conj().T @ (yc - mm @ f @ xw) @ xw.conj().T) / n + rho * (f - target)
    assert np.abs(grad).max() < 1e-8


@pytest.mark.parametrize("domain", ["complex", "real"])
def test_f_step_with_exact_whitening_equals_the_diagonalised_solution(domain):
    x, y = latents()  # enough pilots: S = (n - 1) I and the F step takes the plain linear solve
    stats = gram_statistics(x, y, domain)
    assert stats.isotropic
    dtype = stats.sxx.dtype
    m_mat = torch.randn(2, stats.cyx.shape[-2], 3, generator=gen(3), dtype=torch.float64).to(dtype)
    zu = torch.randn(2, 3, stats.sxx.shape[-1], generator=gen(4), dtype=torch.float64).to(dtype)
    normal = (m_mat.mH @ m_mat, m_mat.mH @ stats.cyx)
    fast = precoder_step(stats, *normal, zu, 7.0, None)
    general = precoder_step(stats, *normal, zu, 7.0, torch.linalg.eigh(stats.sxx))
    torch.testing.assert_close(fast, general, rtol=1e-9, atol=1e-12)
    with pytest.warns(RuntimeWarning):
        assert not gram_statistics(x[:5], y[:5], domain).isotropic  # shrunk whitening


def test_projection_on_the_power_ball():
    c = torch.randn(3, 4, 5, generator=gen(), dtype=torch.float64) * torch.tensor([0.01, 1.0, 10.0]).view(3, 1, 1)
    z = project_power_ball(c, 2.0)
    norms = torch.linalg.matrix_norm(z)
    assert torch.equal(z[0], c[0])  # inside: unchanged
    torch.testing.assert_close(norms[1:], torch.full((2,), 2.0**0.5, dtype=torch.float64))
    # The projection is the closest feasible point: no random feasible point is closer.
    for i in (1, 2):
        candidates = torch.randn(2000, 4, 5, generator=gen(i), dtype=torch.float64)
        candidates = candidates * (2.0**0.5 * torch.rand(2000, 1, 1, generator=gen(i + 10), dtype=torch.float64) / torch.linalg.matrix_norm(candidates).view(-1, 1, 1))
        assert torch.linalg.matrix_norm(candidates - c[i]).min() >= torch.linalg.matrix_norm(z[i] - c[i])


@pytest.mark.parametrize("processing", ["widely-linear", "strictly-linear"])
def test_one_admm_iteration_equals_the_explicit_pilot_computation(processing):
    """The Gram-statistics iteration equals the published-style iteration on full pilot matrices."""
    x, y = latents()
    h = rayleigh_channel(2, 3, generator=gen(5), dtype=torch.complex128)
    model = LinearSemanticTransceiver(h, snr_db=5.0, power=1.5, rho=10.0, iterations=1, processing=processing, init="random", seed=3).fit(x, y)
    stats = model.statistics_
    xw, yc = explicit_matrices(x, y, stats)
    h_eff = model._solver_channel(model._training_link()[0])[0].resolve_conj().numpy()
    sigma2 = model.noise_variance().item() / (2 if processing == "widely-linear" else 1)
    f = model.initial_precoder(stats)[0].resolve_conj().numpy()
    z, u, n = f.copy(), np.zeros_like(f), xw.shape[1]
    a = h_eff @ f @ xw
    g = yc @ a.conj().T @ np.linalg.inv(a @ a.conj().T + n * sigma2 * np.eye(a.shape[0]))
    mm = g @ h_eff
    b_inv = np.linalg.inv(xw @ xw.conj().T)
    f = scipy.linalg.solve_sylvester(mm.conj().T @ mm, n * 10.0 * b_inv, (10.0 * n * (z - u) + mm.conj().T @ yc @ xw.conj().T) @ b_inv)
    c = f + u
    z = c * min(1.0, np.sqrt(1.5) / np.linalg.norm(c))
    np.testing.assert_allclose(model.precoder_[0].resolve_conj().numpy(), z, rtol=1e-6, atol=1e-9)
    a = h_eff @ z @ xw
    g = yc @ a.conj().T @ np.linalg.inv(a @ a.conj().T + n * sigma2 * np.eye(a.shape[0]))
    np.testing.assert_allclose(model.decoder_[0].resolve_conj().numpy(), g, rtol=1e-6, atol=1e-9)


def test_power_constraint_and_training_objective_match_simulation():
    x, y = latents(n=3000)
    h = rayleigh_channel(3, 3, generator=gen(6))
    model = LinearSemanticTransceiver(h, snr_db=3.0, power=2.0, iterations=15).fit(x, y)
    assert torch.linalg.matrix_norm(model.precoder_).item() ** 2 <= 2.0 + 1e-9
    assert model.symbols(x).abs().square().sum(-1).mean().item() == pytest.approx(2.0 * 2999 / 3000, rel=1e-4)
    # The objective is the expected per-entry squared error of the noisy link on the pilots.
    sims = [((model.transmit(x, generator=gen(100 + k)).double() - y) ** 2).mean().item() for k in range(20)]
    assert np.mean(sims) == pytest.approx(model.training_objective_.item(), rel=0.01)


def test_batched_fit_equals_one_by_one_fits():
    x, y = latents()
    h = rayleigh_channel(3, 2, generator=gen(7), batch=3)
    snrs = [-5.0, 10.0, 25.0]
    batched = LinearSemanticTransceiver(h, snr_db=snrs, iterations=10).fit(x, y)
    out = batched.transmit(x, noise=False)
    for i in range(3):
        single = LinearSemanticTransceiver(h[i], snr_db=snrs[i], iterations=10).fit(x, y)
        torch.testing.assert_close(batched.precoder_[i], single.precoder_[0], rtol=1e-8, atol=1e-10)
        torch.testing.assert_close(out[i], single.transmit(x, noise=False), rtol=1e-5, atol=1e-5)
    # One pilot set per configuration, (b, n, d), equals separate fits too.
    xs = torch.stack([x, x.flip(0), x * 2])
    ys = torch.stack([y, y.flip(0), y])
    per_config = LinearSemanticTransceiver(h, snr_db=snrs, iterations=10).fit(xs, ys)
    single = LinearSemanticTransceiver(h[2], snr_db=snrs[2], iterations=10).fit(xs[2], ys[2])
    torch.testing.assert_close(per_config.precoder_[2], single.precoder_[0], rtol=1e-8, atol=1e-10)


def test_widely_linear_contains_strictly_linear_and_does_better():
    x, y = latents(n=2000, d_tx=16, d_rx=12)
    h = rayleigh_channel(2, 2, generator=gen(8))
    wl = LinearSemanticTransceiver(h, snr_db=15.0, iterations=50, processing="widely-linear").fit(x, y)
    sl = LinearSemanticTransceiver(h, snr_db=15.0, iterations=50, processing="strictly-linear").fit(x, y)
    assert wl.training_objective_.item() < sl.training_objective_.item()


def test_residuals_vanish_and_tolerance_stops_early():
    x, y = latents(n=1000)
    h = rayleigh_channel(2, 2, generator=gen(9))
    model = LinearSemanticTransceiver(h, snr_db=10.0, rho=10.0, iterations=3000, tol=1e-5).fit(x, y)
    assert model.n_iter_ < 3000
    primal, dual = model.history_["primal_residual"], model.history_["dual_residual"]
    assert primal[-1].item() < 1e-3 * primal[0].item() and dual[-1].item() < 1e-4 * dual[0].item()
    # Converged points of different penalties agree: the objective does not depend on rho.
    other = LinearSemanticTransceiver(h, snr_db=10.0, rho=1.0, iterations=3000, tol=1e-5).fit(x, y)
    assert other.training_objective_.item() == pytest.approx(model.training_objective_.item(), rel=1e-6)


def test_unaware_fits_the_identity_channel_and_transmits_over_the_real_one():
    x, y = latents()
    h = rayleigh_channel(3, 3, generator=gen(10))
    unaware = LinearSemanticTransceiver(h, snr_db=30.0, awareness="unaware").fit(x, y)
    identity = LinearSemanticTransceiver(torch.eye(3, dtype=torch.complex64), snr_db=float("inf")).fit(x, y)
    torch.testing.assert_close(unaware.precoder_, identity.precoder_)
    aware = LinearSemanticTransceiver(h, snr_db=30.0).fit(x, y)
    mse = lambda m: ((m.transmit(x) - y) ** 2).mean().item()  # noqa: E731
    assert mse(aware) < mse(unaware)


def test_noiseless_full_size_link_approaches_least_squares():
    """With N at the full latent size, an identity channel and no noise, ADMM reaches the LS fit."""
    x, y = latents(n=2000, d_tx=8, d_rx=6)
    model = LinearSemanticTransceiver(torch.eye(4, dtype=torch.complex64), snr_db=float("inf"), power=100.0, iterations=300).fit(x, y)
    xc = x - x.mean(0)
    coef = torch.linalg.lstsq(xc, y - y.mean(0)).solution
    ls_mse = ((xc @ coef + y.mean(0) - y) ** 2).mean().item()
    assert ((model.transmit(x).double() - y) ** 2).mean().item() == pytest.approx(ls_mse, rel=1e-3)
    assert alignment_objective is not None


@pytest.mark.parametrize("processing", ["widely-linear", "strictly-linear"])
@pytest.mark.parametrize("channel_uses", [1, 2])
def test_spectral_start_uses_the_solver_channels_singular_vectors(processing, channel_uses):
    """The directions built from H's SVD are orthonormal right singular vectors of I_T (x) H (or its
    real composite), strongest first, even though those singular values repeat."""
    h = rayleigh_channel(3, 2, generator=gen(8), batch=2, dtype=torch.complex128)
    model = LinearSemanticTransceiver(h, processing=processing, channel_uses=channel_uses)
    v = model._channel_directions(model.domain)
    h_eff = model._solver_channel(model._training_link()[0])
    eye = torch.eye(v.shape[-1], dtype=v.dtype)
    torch.testing.assert_close(v.mH @ v, eye.expand_as(v), rtol=0, atol=1e-12)
    hv = h_eff @ v
    gains = torch.linalg.vector_norm(hv, dim=-2)
    expected = torch.linalg.svdvals(h_eff)
    expected = torch.nn.functional.pad(expected, (0, v.shape[-1] - expected.shape[-1]))  # null directions
    torch.testing.assert_close(gains, expected, rtol=1e-10, atol=1e-10)
    gram = hv.mH @ hv  # images of distinct right singular vectors are orthogonal
    torch.testing.assert_close(gram, torch.diag_embed(gains**2).to(gram.dtype), rtol=0, atol=1e-10)
