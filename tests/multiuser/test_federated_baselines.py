"""First-K / Top-K for the multi-user downlink: shapes, what a user is given (never the AP's latents),
the power constraint, the feature choices, the single-user equaliser and the accounting."""

import pytest
import torch

from semalign.link.channel import channel_for_seed
from semalign.link.packing import pack_complex
from semalign.link.whitening import fit_whitener
from semalign.multiuser import federated_baselines
from semalign.multiuser.federated_baselines import FederatedFeatureBaseline, select_features

N, D_AP = 400, 16
USER_DIMS = (10, 14, 22)
# AP coordinate scales: packed complex coordinate i holds real coordinates i and i + 8; the largest
# variances sit at complex coordinates 5, 2 and 7 (not the first ones).
SCALES = torch.tensor([1.0, 0.8, 3.0, 0.5, 0.6, 4.0, 0.7, 2.5] * 2, dtype=torch.float64)


def _data(seed=0, k=3, n_antennas=2):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(N, D_AP, generator=g, dtype=torch.float64) * SCALES + 0.3
    users = []
    for d in USER_DIMS[:k]:
        mix = torch.randn(D_AP, d, generator=g, dtype=torch.float64)
        users.append(torch.tanh(s @ mix / 6) + 0.1 * torch.randn(N, d, generator=g, dtype=torch.float64))
    channels = torch.stack([channel_for_seed(seed * 10 + i, n_antennas, n_antennas).to(torch.complex128) for i in range(k)])
    return s, users, channels


@pytest.mark.parametrize("method", ["first-k", "top-k"])
@pytest.mark.parametrize("processing", ["strictly-linear", "widely-linear"])
def test_shapes_and_every_user_gets_its_own_space(method, processing):
    s, users, channels = _data()
    model = FederatedFeatureBaseline(channels, method=method, processing=processing, snr_db=20.0, channel_uses=2).fit(s, users)
    assert model.n_features_ == 4 and model.features_.shape == (4,)
    estimates = model.transmit(s[:50], generator=torch.Generator().manual_seed(0))
    assert len(estimates) == 3
    for x, x_hat in zip(users, estimates):
        assert x_hat.shape == (50, x.shape[1]) and x_hat.dtype == s.dtype
    # Better than sending nothing (the user's mean) on fresh noise.
    for x, x_hat in zip(users, model.transmit(s, generator=torch.Generator().manual_seed(1))):
        assert (x_hat - x).square().mean() < 0.9 * (x - x.mean(0)).square().mean()


def test_first_k_sends_the_first_whitened_coordinates_and_top_k_the_largest_variances():
    s, users, channels = _data()
    assert select_features(s, 3, "first-k").tolist() == [0, 1, 2]
    assert select_features(s, 3, "top-k").tolist() == [2, 5, 7]
    # Top-K ranks by the raw pilot variance E|s_i - mu_i|^2 of the packed latent, computed here directly.
    packed = pack_complex(s)
    variance = packed.var(0)  # complex: E|.|^2 about the mean
    assert set(select_features(s, 5, "top-k").tolist()) == set(torch.argsort(variance, descending=True)[:5].tolist())
    # First-K's symbols are the first K coordinates of the whole whitened latent (triangular whitening).
    model = FederatedFeatureBaseline(channels, method="first-k", channel_uses=2).fit(s, users)
    white_all = fit_whitener(packed).whiten(packed)[:, :4]
    white_sent = model.feature_whitener_.whiten(packed[:, model.features_])
    torch.testing.assert_close(white_sent, white_all, rtol=1e-9, atol=1e-9)
    top = FederatedFeatureBaseline(channels, method="top-k", channel_uses=2).fit(s, users)
    assert top.features_.tolist() == [0, 2, 5, 7]


def test_the_user_never_receives_the_ap_latents(monkeypatch):
    """Everything handed to a user is captured: noisy received symbols of shape (n, T N_r), its
    effective channel and its own latents. The AP's raw latents are not among them, and the
    received pilots are not even a noiseless linear image of them."""
    s, users, channels = _data()
    given = []
    original = federated_baselines._BaselineUser.fit

    def spy(self, *args):
        given.append(args)
        return original(self, *args)

    monkeypatch.setattr(federated_baselines._BaselineUser, "fit", spy)
    model = FederatedFeatureBaseline(channels, method="top-k", snr_db=10.0, channel_uses=2, record_messages=True).fit(s, users)
    assert len(given) == 3
    for k, (received, effective, latents, n_features, uses) in enumerate(given):
        assert received.shape == (N, 2 * channels.shape[1]) and received.is_complex()
        assert effective.shape == (2, 2)
        assert latents is users[k] or torch.equal(latents, users[k])
        for tensor in (received, effective):
            assert D_AP not in tensor.shape and (D_AP + 1) // 2 not in tensor.shape
        # The received pilots hold noise: the best linear fit of them from the AP's latents leaves
        # a residual at the noise level (a noiseless image would leave none).
        design = torch.cat([pack_complex(s), torch.ones(N, 1, dtype=torch.complex128)], dim=1)
        fit = torch.linalg.lstsq(design, received).solution
        residual = (received - design @ fit).abs().square().mean()
        assert residual > 0.5 * model.noise_variance()
    # The user's stored state (received pilots, equaliser, map, means) holds no AP latent either.
    for user in model.users_:
        for value in vars(user).values():
            if isinstance(value, torch.Tensor):
                assert value.shape[-1] not in (D_AP, (D_AP + 1) // 2)
    # Messages: a control message (the precoder) and one pilot broadcast, both from the AP.
    assert [(m.sender, m.kind) for m in model.messages_] == [("ap", "precoder"), ("ap", "pilots")]
    assert model.bytes_uplink_ == 0


@pytest.mark.parametrize("n_antennas,uses", [(2, 1), (2, 3), (4, 2)])
def test_power_constraint_and_accounting(n_antennas, uses):
    s, users, channels = _data(n_antennas=n_antennas)
    model = FederatedFeatureBaseline(channels, method="first-k", power=2.5, channel_uses=uses, record_messages=True).fit(s, users)
    symbols = model.messages_[1].payload["symbols"]
    assert symbols.shape == (N, uses * n_antennas)
    # Energy per latent (sum over T channel uses and N_t antennas): P on the whitened pilots.
    energy = symbols.abs().square().sum(1).sum() / (N - 1)
    torch.testing.assert_close(energy, torch.tensor(2.5, dtype=energy.dtype), rtol=1e-9, atol=0)
    precoder = model.precoder_
    assert precoder.shape == (n_antennas, n_antennas)
    torch.testing.assert_close(precoder.mH @ precoder, (2.5 / model.n_features_) * torch.eye(n_antennas, dtype=precoder.dtype))
    assert model.channel_uses_ == N * uses
    assert model.bytes_downlink_ == 8 * (N * uses * n_antennas + n_antennas * n_antennas)
    assert model.compression_factor(D_AP) == 100 * uses * n_antennas / 8


def test_one_user_gets_the_per_stream_svd_mmse_equaliser():
    """With one user the common precoder is the channel's right singular vectors and the LMMSE
    equaliser is diag(a s_i / (a^2 s_i^2 + sigma^2)) U^H, the single-link baselines' receiver."""
    s, users, channels = _data(k=1, n_antennas=3)
    model = FederatedFeatureBaseline(channels, snr_db=5.0, channel_uses=1).fit(s, users)
    u, sv, _ = torch.linalg.svd(channels[0])
    a, sigma2 = (1.0 / model.n_features_) ** 0.5, model.noise_variance()
    expected = (a * sv / (a**2 * sv**2 + sigma2)).unsqueeze(-1) * u.mH
    # Singular vectors are defined up to a phase per stream: compare |entries| and the effective gain.
    g = model.users_[0].equaliser_
    torch.testing.assert_close(g.abs(), expected.abs(), rtol=1e-9, atol=1e-12)
    gain = g @ channels[0] @ model.precoder_
    torch.testing.assert_close(gain, torch.diag(a**2 * sv**2 / (a**2 * sv**2 + sigma2)).to(gain.dtype), rtol=1e-9, atol=1e-12)


def test_fewer_streams_than_features_and_bad_input():
    s, users, channels = _data()
    many = FederatedFeatureBaseline(channels, channel_uses=20).fit(s, users)  # T S = 40 > m_0 = 8: idle streams
    assert many.n_features_ == 8
    assert [x.shape for x in many.transmit(s[:5], noise=False)] == [(5, d) for d in USER_DIMS]
    with pytest.raises(ValueError, match="method"):
        FederatedFeatureBaseline(channels, method="eigen-k")
    with pytest.raises(ValueError, match="processing"):
        FederatedFeatureBaseline(channels, processing="nonlinear")
    with pytest.raises(ValueError, match="channels must be a complex"):
        FederatedFeatureBaseline(channels.real)
    with pytest.raises(ValueError, match="paired"):
        FederatedFeatureBaseline(channels).fit(s, [users[0][:10], *users[1:]])
    with pytest.raises(ValueError, match="one \\(n, d_k\\) matrix per user"):
        FederatedFeatureBaseline(channels).fit(s, users[:2])
    with pytest.raises(RuntimeError, match="not fitted"):
        FederatedFeatureBaseline(channels).transmit(s)
