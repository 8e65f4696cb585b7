"""Packing, channels, noise conventions and whitening against independent computations."""

import math

import numpy as np
import pytest
import torch

from semalign.link.channel import channel_for_seed, rayleigh_channel
from semalign.link.noise import complex_awgn, noise_variance
from semalign.link.packing import complex_dim, pack_complex, unpack_complex
from semalign.link.whitening import fit_whitener
from semalign.transceivers.baselines import EigenKTransceiver
from semalign.transceivers.linear_admm import LinearSemanticTransceiver


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("d", [1, 2, 7, 64, 385])
def test_packing_round_trip_and_layout(d):
    x = torch.randn(5, d, generator=gen(), dtype=torch.float64)
    z = pack_complex(x)
    assert z.shape == (5, complex_dim(d)) == (5, math.ceil(d / 2))
    h = complex_dim(d)
    padded = np.pad(x.numpy(), ((0, 0), (0, 2 * h - d)))
    np.testing.assert_array_equal(z.numpy(), padded[:, :h] + 1j * padded[:, h:])  # first half real, second imaginary
    assert torch.equal(unpack_complex(z, d), x)


def test_channel_variance_correlation_and_seed():
    before = torch.random.get_rng_state()
    h = rayleigh_channel(3, 4, generator=gen(1), batch=40_000, channel_variance=0.5)
    assert h.shape == (40_000, 3, 4) and h.dtype == torch.complex64
    assert abs(h.abs().square().mean().item() - 0.5) < 0.01
    assert abs(h.real.var().item() - 0.25) < 0.01  # circular: half the variance per real part
    hc = rayleigh_channel(4, 4, generator=gen(2), batch=40_000, tx_correlation=0.6)
    corr = (hc[:, :, 0] * hc[:, :, 1].conj()).mean().real.item()
    assert abs(corr - 0.6) < 0.02 and abs(hc.abs().square().mean().item() - 1.0) < 0.02
    assert torch.equal(channel_for_seed(7, 4, 2), channel_for_seed(7, 4, 2))
    assert not torch.equal(channel_for_seed(7, 4, 2), channel_for_seed(8, 4, 2))
    assert torch.equal(torch.random.get_rng_state(), before)  # library draws never touch global RNG


def test_noise_variance_formulas():
    assert noise_variance(10.0, power=2.0, n_tx=4, channel_uses=2, channel_variance=0.5, convention="total").item() == pytest.approx(0.5 * 2 / (2 * 10))
    assert noise_variance(10.0, power=2.0, n_tx=4, channel_uses=2, convention="per-antenna").item() == pytest.approx(2 / (2 * 4 * 10))
    # The published federated code: sigma = (1/T) sqrt((1/N_r) / SNR); T = 1, N_r = 4, 20 dB gives
    # sigma = 0.05 and T = 4 gives 0.0125.
    for t, sigma in ((1, 0.05), (4, 0.0125)):
        sigma2 = noise_variance(20.0, power=1.0, n_tx=2, n_rx=4, channel_uses=t, channel_variance=0.5, convention="published-federated")
        assert sigma2.item() == pytest.approx(sigma**2)
    with pytest.raises(ValueError, match="needs n_rx"):
        noise_variance(20.0, power=1.0, n_tx=2, convention="published-federated")
    with pytest.raises(ValueError, match="'total', 'per-antenna', 'published-federated'"):
        noise_variance(20.0, power=1.0, n_tx=2, convention="per-rx")
    assert noise_variance(0.0, power=1.0, n_tx=1).item() == pytest.approx(1.0)  # 0 dB has noise
    assert noise_variance(float("inf"), power=1.0, n_tx=1).item() == 0.0
    w = complex_awgn((200_000,), 0.3, generator=gen())
    assert abs(w.abs().square().mean().item() - 0.3) < 0.005
    assert abs(w.real.var().item() - 0.15) < 0.003


@pytest.mark.parametrize("convention", ["total", "per-antenna", "published-federated"])
def test_measured_noise_and_snr_match_convention(convention):
    """Simulate the link and measure the noise power and the received SNR per receive antenna."""
    n_rx, n_tx, t, power, v, snr_db = 3, 2, 2, 1.7, 0.5, 6.0
    x = torch.randn(4000, 16, generator=gen(3))
    y = torch.randn(4000, 10, generator=gen(4))
    # Average over many channel draws so the received signal power approaches its expectation v P / T.
    h = rayleigh_channel(n_rx, n_tx, generator=gen(5), batch=64, channel_variance=v)
    model = LinearSemanticTransceiver(h, snr_db=snr_db, power=power, snr_convention=convention, channel_variance=v, channel_uses=t, iterations=3).fit(x, y)
    clean = model.received(x, noise=False)
    noisy = model.received(x, noise=True, generator=gen(6))
    measured_noise = (noisy - clean).abs().square().mean().item()
    sigma2 = noise_variance(snr_db, power=power, n_tx=n_tx, n_rx=n_rx, channel_uses=t, channel_variance=v, convention=convention).item()
    assert measured_noise == pytest.approx(sigma2, rel=0.01)
    energy = model.symbols(x).abs().square().sum(-1).mean().item()
    assert energy == pytest.approx(power, rel=0.01)  # energy per latent vector is P
    signal = clean.abs().square().mean().item()  # per receive antenna per channel use
    assert signal == pytest.approx(v * power / t, rel=0.15)
    expected_snr = {
        "total": snr_db,
        "per-antenna": snr_db + 10 * math.log10(v * n_tx),
        "published-federated": snr_db + 10 * math.log10(v * n_rx * t),  # grows with N_r and T
    }[convention]
    assert 10 * math.log10(signal / measured_noise) == pytest.approx(expected_snr, abs=0.6)


def test_whitening_identity_and_round_trip():
    s = torch.complex(torch.randn(500, 6, generator=gen(1)), torch.randn(500, 6, generator=gen(2))).to(torch.complex128)
    s = s @ torch.randn(6, 6, generator=gen(3), dtype=torch.float64).to(torch.complex128) + 2.0
    w = fit_whitener(s)
    xw = w.whiten(s)
    gram = xw.mT @ xw.conj()  # column-form X X^H
    np.testing.assert_allclose(gram.numpy(), 499 * np.eye(6), atol=1e-9)
    np.testing.assert_allclose(w.colour(xw).numpy(), s.numpy(), atol=1e-10)


def test_whitening_with_too_few_pilots_warns_and_regularises():
    s = torch.randn(4, 6, generator=gen(), dtype=torch.float64).to(torch.complex128)
    with pytest.warns(RuntimeWarning, match="4 pilots for 6 complex dimensions"):
        w = fit_whitener(s)
    assert w.shrinkage > 0 and torch.isfinite(w.whiten(s)).all()


def test_batched_baseline_channels_are_independent_configurations():
    x = torch.randn(300, 12, generator=gen(1))
    y = x @ torch.randn(12, 8, generator=gen(2))
    h = rayleigh_channel(2, 3, generator=gen(3), batch=2)
    both = EigenKTransceiver(h, snr_db=[10.0, 30.0]).fit(x, y).transmit(x, noise=False)
    for i, snr in enumerate([10.0, 30.0]):
        single = EigenKTransceiver(h[i], snr_db=snr).fit(x, y).transmit(x, noise=False)
        torch.testing.assert_close(both[i], single, rtol=1e-5, atol=1e-5)


def test_complex_moment_of_packed_vectors_from_the_real_moment():
    from semalign.link.packing import pack_complex, pack_complex_moment

    x = torch.randn(50, 7, generator=gen(1), dtype=torch.float64)
    y = torch.randn(50, 4, generator=gen(2), dtype=torch.float64)
    direct = pack_complex(x).mT @ pack_complex(y).conj()  # sum_i pack(x_i) pack(y_i)^H
    torch.testing.assert_close(pack_complex_moment(x.mT @ y), direct)
    torch.testing.assert_close(pack_complex_moment(x.mT @ x), pack_complex(x).mT @ pack_complex(x).conj())
    with pytest.raises(ValueError, match="real moment"):
        pack_complex_moment(direct)
