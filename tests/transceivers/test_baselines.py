"""Baselines: SVD-MMSE stream gains, power, feature selection, non-square channels."""

import pytest
import torch

from semalign.link.channel import rayleigh_channel
from semalign.transceivers.baselines import EigenKTransceiver, FirstKTransceiver, TopKTransceiver, least_squares_alignment

ALL = [FirstKTransceiver, TopKTransceiver, EigenKTransceiver]


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def latents(n=800, d_tx=10, d_rx=7):
    g = gen(1)
    x = torch.randn(n, d_tx, generator=g, dtype=torch.float64) @ torch.randn(d_tx, d_tx, generator=g, dtype=torch.float64) + 3.0
    y = x @ torch.randn(d_tx, d_rx, generator=g, dtype=torch.float64) + 0.01 * torch.randn(n, d_rx, generator=g, dtype=torch.float64) - 2.0
    return x, y


@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (5, 2)])
def test_svd_mmse_per_stream_gain(shape):
    """diag(g) U^H H (a V) = diag(a^2 s^2 / (a^2 s^2 + sigma^2)), the per-stream linear MMSE gain."""
    x, y = latents()
    h = rayleigh_channel(*shape, generator=gen(2), dtype=torch.complex128)
    model = FirstKTransceiver(h, snr_db=7.0, power=1.3).fit(x, y)
    s = torch.linalg.svdvals(h)
    a2 = 1.3 / model.n_symbols_
    sigma2 = model.noise_variance().item()
    effective = model.combiner_[0] @ h @ model.precoder_[0]
    torch.testing.assert_close(effective, torch.diag(a2 * s**2 / (a2 * s**2 + sigma2)).to(effective.dtype), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (4, 2)])
def test_power_and_feature_count(cls, shape):
    x, y = latents()
    h = rayleigh_channel(*shape, generator=gen(3))
    model = cls(h, snr_db=10.0, power=2.0, channel_uses=1).fit(x, y)
    assert model.n_features_ == min(2 * min(shape), 10, 7 if cls is EigenKTransceiver else 10)
    energy = model.symbols(x).abs().square().sum(-1).mean().item()
    assert energy == pytest.approx(2.0 * 799 / 800, rel=1e-6)  # energy P per latent on whitened symbols
    out = model.transmit(x)
    assert out.shape == (800, 7) and torch.isfinite(out).all()


def test_all_features_noiseless_recover_the_least_squares_prediction():
    """With K = d_tx features over a noiseless channel, every baseline reproduces the LS alignment."""
    x, y = latents(d_tx=6, d_rx=6)
    h = rayleigh_channel(3, 3, generator=gen(4), dtype=torch.complex128)
    xc = x - x.mean(0)
    ls = xc @ least_squares_alignment(xc, y - y.mean(0)) + y.mean(0)
    for cls in ALL:
        out = cls(h, snr_db=float("inf")).fit(x, y).transmit(x, noise=False)
        torch.testing.assert_close(out.double(), ls, rtol=1e-4, atol=1e-4)


def test_top_k_sends_the_largest_deviations_and_first_k_the_first_coordinates():
    x, y = latents()
    h = torch.eye(2, dtype=torch.complex128)
    top = TopKTransceiver(h, snr_db=float("inf")).fit(x, y)
    xc = x - x.mean(0)
    feats = top._features(xc)
    assert torch.equal(feats.abs(), torch.sort(xc.abs(), dim=-1, descending=True).values[:, :4])
    first = FirstKTransceiver(h, snr_db=float("inf")).fit(x, y)
    assert torch.equal(first._features(xc), xc[:, :4])


def test_more_streams_and_snr_lower_the_error():
    x, y = latents()
    errors = {}
    for n in (1, 3):
        for snr in (0.0, 30.0):
            h = rayleigh_channel(n, n, generator=gen(5))
            out = EigenKTransceiver(h, snr_db=snr).fit(x, y).transmit(x, generator=gen(6))
            errors[n, snr] = ((out.double() - y) ** 2).mean().item()
    assert errors[3, 30.0] < errors[1, 30.0] and errors[3, 30.0] < errors[3, 0.0]


@pytest.mark.parametrize("cls", [FirstKTransceiver, TopKTransceiver, EigenKTransceiver])
def test_noisy_output_does_not_depend_on_the_svd_phase_convention(cls, monkeypatch):
    """CPU and CUDA return singular vectors with different phases (signs); the baselines fix them,
    so the same seed gives the same noisy estimates on every backend. Here the backend's convention
    is changed by rotating every singular pair by a different phase."""
    x, y = latents()
    h = rayleigh_channel(4, 4, generator=gen(3))

    def run():
        model = cls(h, snr_db=0.0, seed=1).fit(x, y)
        return model.transmit(x[:50], generator=gen(9))

    reference = run()
    svd = torch.linalg.svd

    def rotated_svd(a, full_matrices=True):
        u, s, vh = svd(a, full_matrices=full_matrices)
        k = torch.arange(1, s.shape[-1] + 1, dtype=torch.float64)
        phase = torch.polar(torch.ones_like(k), k) if a.is_complex() else (-1.0) ** k
        phase = phase.to(u.dtype)
        return u * phase, s, vh * phase.conj().unsqueeze(-1)

    monkeypatch.setattr(torch.linalg, "svd", rotated_svd)
    torch.testing.assert_close(run(), reference, rtol=1e-6, atol=1e-6)


def test_top_k_side_information_is_the_fixed_length_code_of_the_ordered_indices():
    x, y = latents(d_tx=10)
    model = TopKTransceiver(torch.eye(2, dtype=torch.complex128), snr_db=10.0).fit(x, y)
    assert model.n_features_ == 4
    assert model.side_information_bits() == 13.0  # 10 * 9 * 8 * 7 = 5040 ordered choices, 2^12 < 5040 <= 2^13
    assert FirstKTransceiver(torch.eye(2), snr_db=10.0).fit(x, y).side_information_bits() == 0.0
    full = TopKTransceiver(torch.eye(5, dtype=torch.complex128), snr_db=10.0).fit(x, y)
    assert full.side_information_bits() == 22.0  # 10! = 3628800 orders, 2^21 < 10! <= 2^22


def test_unknown_receiver_lists_the_valid_ones():
    with pytest.raises(ValueError, match="receiver.*'received'.*'published'"):
        FirstKTransceiver(torch.eye(2), receiver="genie")


@pytest.mark.parametrize("cls", ALL)
def test_received_receiver_learns_from_the_pilots_as_received(cls):
    """The default map is the GCV ridge regression of the centred pilots on the equalised features
    received over the design link with the ``pilot-broadcast`` noise (recomputed here by hand)."""
    from semalign._regression import ridge_regression
    from semalign._seeds import stream_generator

    x, y = latents()
    h = rayleigh_channel(3, 3, generator=gen(2), dtype=torch.complex128)
    model = cls(h, snr_db=5.0, seed=4).fit(x, y)
    xc = x - x.mean(0)
    received = model.link_.send(model._symbols(xc), generator=stream_generator("pilot-broadcast", 4))
    inputs = model._receiver_input(model._equalised_features(received))[0]
    weights, _ = ridge_regression(inputs - inputs.mean(0), y - y.mean(0))
    torch.testing.assert_close(model.receiver_map_[0], weights)
    # and the map does better on these noisy pilots than the published receiver
    published = cls(h, snr_db=5.0, seed=4, receiver="published").fit(x, y)
    error = {name: ((m.transmit(x, generator=gen(9)).double() - y) ** 2).mean() for name, m in (("received", model), ("published", published))}
    assert error["received"] <= error["published"] * 1.0001
