"""The Link: y = H s + w per channel use against explicit products, measured noise power per
convention and per configuration, common random numbers, independent receivers, the split layout,
design views, transmitter groups and a changed channel."""

from __future__ import annotations

import math

import pytest
import torch

from semalign.link import Link, block_diagonal_channel, real_composite
from semalign.link.channel import rayleigh_channel
from semalign.link.noise import noise_variance


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_noiseless_send_is_the_channel_applied_at_every_use():
    h = rayleigh_channel(3, 2, generator=gen(1), batch=4, dtype=torch.complex128)
    link = Link(h, snr_db=10.0, channel_uses=3)
    s = torch.randn(4, 5, 6, generator=gen(2), dtype=torch.complex128)  # (b, n, T n_tx)
    received = link.send(s, noise=False)
    assert received.shape == (4, 5, 9)
    for t in range(3):  # use t: antennas t n_tx ... (t + 1) n_tx - 1 in, t n_rx ... out
        expected = s[..., 2 * t : 2 * t + 2] @ h.mT
        torch.testing.assert_close(received[..., 3 * t : 3 * t + 3], expected, rtol=1e-12, atol=1e-12)
    # The same as the block-diagonal lifted channel I_T (x) H.
    torch.testing.assert_close(received, s @ link.lifted().mT, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("convention", ["total", "per-antenna", "published-federated"])
def test_measured_noise_power_per_configuration(convention):
    h = torch.zeros(3, 2, 4, dtype=torch.complex128)  # no signal: what arrives is the noise
    snr = torch.tensor([0.0, 10.0, 20.0])
    link = Link(h, snr_db=snr, power=2.0, snr_convention=convention, channel_variance=0.5, channel_uses=2)
    expected = noise_variance(snr, power=2.0, n_tx=4, n_rx=2, channel_uses=2, channel_variance=0.5, convention=convention)
    torch.testing.assert_close(link.noise_variance(), expected)
    w = link.send(torch.zeros(1, 20_000, 8, dtype=torch.complex64), generator=gen(3))
    measured = w.abs().square().mean((-2, -1)).double()
    torch.testing.assert_close(measured, expected, rtol=0.03, atol=0)
    assert (w.real.var((-2, -1)) / w.imag.var((-2, -1)) - 1).abs().max() < 0.05  # circular


def test_configurations_share_one_noise_draw_and_receivers_do_not():
    h = rayleigh_channel(2, 2, generator=gen(4), batch=3)
    link = Link(h, snr_db=[5.0, 5.0, 15.0])
    s = torch.randn(10, 2, generator=gen(5)).to(torch.complex64)
    w = link.send(s, generator=gen(6)) - link.send(s, noise=False)
    alone = Link(h[2], snr_db=15.0)
    w_alone = alone.send(s, generator=gen(6)) - alone.send(s, noise=False)
    torch.testing.assert_close(w[2], w_alone)  # a configuration sees the same noise alone or batched
    torch.testing.assert_close(w[0], w[1])
    scale = (link.noise_variance()[2] / link.noise_variance()[0]).sqrt().float()
    torch.testing.assert_close(w[2], w[0] * scale, rtol=1e-5, atol=1e-6)  # one unit draw, scaled
    independent = link.send(s, generator=gen(6), independent_noise=True) - link.send(s, noise=False)
    assert not torch.allclose(independent[0], independent[1])


def test_split_layout_is_the_real_composite_of_the_complex_send():
    h = rayleigh_channel(2, 3, generator=gen(7), batch=2, dtype=torch.complex128)
    link = Link(h, snr_db=math.inf, channel_uses=2)
    s = torch.randn(2, 4, 6, generator=gen(8), dtype=torch.complex128)
    complex_out = link.send(s, noise=False)
    split = torch.cat([s.real, s.imag], dim=-1)
    split_out = link.send(split, split=True, noise=False)
    torch.testing.assert_close(split_out, torch.cat([complex_out.real, complex_out.imag], dim=-1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(link.lifted(real=True), real_composite(block_diagonal_channel(h, 2)))
    noisy = Link(h, snr_db=0.0).send(torch.zeros(1, 50_000, 6, dtype=torch.float64), split=True, generator=gen(9))
    sigma2 = Link(h, snr_db=0.0).noise_variance()
    assert noisy.var((-2, -1)).sub(sigma2 / 2).abs().max() < 0.02  # sigma^2 / 2 per real component


def test_design_views_and_a_changed_channel():
    h = rayleigh_channel(2, 2, generator=gen(10))
    estimate = h + 0.1 * rayleigh_channel(2, 2, generator=gen(11))
    link = Link(h, snr_db=10.0, design_channel=estimate)
    aware = link.design_view("aware")
    torch.testing.assert_close(aware.channel, estimate.to(torch.complex128))
    torch.testing.assert_close(aware.noise_variance(), link.noise_variance())
    unaware = link.design_view("unaware")
    torch.testing.assert_close(unaware.channel, torch.eye(2, dtype=torch.complex128))
    assert unaware.noise_variance().item() == 0.0
    s = torch.randn(3, 2, generator=gen(12), dtype=torch.float64).to(torch.complex128)
    torch.testing.assert_close(link.send(s, noise=False, channel=estimate), aware.send(s, noise=False))
    with pytest.raises(ValueError, match="antennas"):
        link.send(s, noise=False, channel=torch.ones(3, 2, dtype=torch.complex64))
    with pytest.raises(ValueError, match="design_channel must have the shape"):
        Link(h, design_channel=torch.ones(3, 2, dtype=torch.complex64))
    plain = Link(h)
    selected = plain.select(...)
    assert plain.design_view("aware") is plain and selected.design_channel is selected.channel  # perfect CSI stays so


def test_a_receiver_hearing_several_transmitters():
    h = rayleigh_channel(2, 6, generator=gen(13), dtype=torch.complex128)  # three transmitters of two antennas
    link = Link(h, snr_db=10.0, power=2.0, snr_convention="per-antenna", channel_uses=2, transmitters=3)
    assert link.n_tx == 2 and link.symbols_per_latent == 4
    torch.testing.assert_close(link.noise_variance(), noise_variance(10.0, power=2.0, n_tx=2, channel_uses=2, convention="per-antenna"))
    parts = torch.randn(3, 5, 2, 2, generator=gen(14), dtype=torch.complex128)  # (transmitter, n, T, antennas)
    stacked = parts.permute(1, 2, 0, 3).reshape(5, 12)  # per use, every transmitter side by side
    expected = sum((parts[r] @ h[:, 2 * r : 2 * r + 2].mT).reshape(5, 4) for r in range(3))
    torch.testing.assert_close(link.send(stacked, noise=False), expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="do not split into 4 transmitters"):
        Link(h, transmitters=4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(snr_db="20"), "snr_db must be a number"),
        (dict(snr_db=float("nan")), "snr_db must be a number"),
        (dict(snr_db=[1.0, 2.0, 3.0]), "does not match the channel's configurations"),
        (dict(power=0.0), "power must be a finite positive number"),
        (dict(channel_uses=0), "channel_uses must be a positive integer"),
        (dict(snr_convention="peak"), "unknown snr_convention 'peak'"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    h = rayleigh_channel(2, 2, generator=gen(15), batch=2)
    with pytest.raises(ValueError, match=message):
        Link(h, **kwargs)
    with pytest.raises(ValueError, match="needs a generator"):
        Link(h).send(torch.zeros(2, 1, 2, dtype=torch.complex64))
