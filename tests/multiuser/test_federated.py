"""The federated downlink protocol: single-link equivalence, stationarity of every update, descent,
residuals, power, what crosses the AP-user boundary, and the variants."""

import pytest
import torch

from semalign.link.channel import channel_for_seed
from semalign.link.packing import pack_complex, unpack_complex
from semalign.link.whitening import fit_whitener
from semalign.multiuser.federated import FederatedDownlink
from semalign.transceivers.linear_admm import LinearSemanticTransceiver, gram_statistics

N, D_AP = 300, 16
USER_DIMS = (10, 14, 22)  # distinct from every other size, so a leaked latent would show in a shape


def _data(seed=0, k=3):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(N, D_AP, generator=g, dtype=torch.float64)
    users = []
    for d in USER_DIMS[:k]:
        mix = torch.randn(D_AP, d, generator=g, dtype=torch.float64)
        users.append(torch.tanh(s @ mix / 3) + 0.2 * torch.randn(N, d, generator=g, dtype=torch.float64))
    channels = torch.stack([channel_for_seed(seed * 10 + i, 2, 2).to(torch.complex128) for i in range(k)])
    return s, users, channels


def test_one_user_equals_single_link_admm():
    s, users, channels = _data(k=1)
    x = users[0]
    target = unpack_complex(fit_whitener(pack_complex(x)).whiten(pack_complex(x)), x.shape[1])  # the user's whitened latents
    single = LinearSemanticTransceiver(channels[0], snr_db=10.0, rho=1.0, iterations=12, processing="strictly-linear")
    start = single.initial_precoder(gram_statistics(s, target, "complex"))[0]
    single.fit(s, target)
    fed = FederatedDownlink(channels, snr_db=10.0, rho=1.0, rounds=12, initial_precoder=start).fit(s, [x])
    torch.testing.assert_close(fed.precoder_, single.precoder_[0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fed.users_[0].decoder, single.decoder_[0], rtol=1e-9, atol=1e-11)
    single_objective = torch.stack(single.history_["objective"]).flatten().double()
    torch.testing.assert_close(torch.tensor(fed.history_["objective"], dtype=torch.float64), single_objective, rtol=1e-6, atol=0)


def test_g_step_is_the_mmse_stationary_point_and_never_increases_the_objective():
    s, users, channels = _data()
    fed = FederatedDownlink(channels, snr_db=5.0, rounds=3).fit(s, users)
    user = fed.users_[0]
    received = user.channel @ fed.precoder_ @ fed.ap_whitener_.whiten(pack_complex(s)).mT
    n = received.shape[1]
    g = user.decoder
    # d/dG [||X - G Y||^2 + n sigma^2 ||G||^2] = 0  <=>  G (Y Y^H + n sigma^2 I) = X Y^H
    residual = g @ (received @ received.mH + n * user.sigma2 * torch.eye(received.shape[0])) - user.x_white @ received.mH
    assert residual.abs().max() < 1e-8 * (user.x_white @ received.mH).abs().max()

    def objective(decoder):
        return (user.x_white - decoder @ received).abs().square().sum() + n * user.sigma2 * decoder.abs().square().sum()

    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        step = torch.complex(torch.randn(g.shape, generator=gen, dtype=torch.float64), torch.randn(g.shape, generator=gen, dtype=torch.float64))
        assert objective(g + 1e-3 * step) >= objective(g)


def test_exact_f_step_solves_the_consensus_admm_update_from_raw_data(monkeypatch):
    """The AP's F from the users' messages equals the minimiser of the sum objective plus the
    ADMM penalty, computed here from the raw (private) latents instead."""
    s, users, channels = _data()
    fed = FederatedDownlink(channels, snr_db=5.0, rounds=1, rho=0.5)
    captured = {}
    original = torch.linalg.solve

    def spy(a, b, *args, **kwargs):
        out = original(a, b, *args, **kwargs)
        if a.shape[-1] == fed.channels.shape[-1] and b.shape[-1] == (D_AP + 1) // 2:
            captured["f"] = out
        return out

    monkeypatch.setattr(torch.linalg, "solve", spy)
    fed.fit(s, users)
    monkeypatch.undo()
    f = captured["f"]
    s_white = fed.ap_whitener_.whiten(pack_complex(s)).mT
    z0 = fed._start(s_white.shape[0], s_white.dtype)
    # Gradient of sum_k 1/2 ||X_k,w - A_k F S_w||^2 + (n rho / 2) ||F - Z0||^2 (U = 0), with the
    # equalisers of round 0 (refitted by the final downlink, so recompute them for F0).
    grad = N * 0.5 * (f - z0)
    for user in fed.users_:
        y = user.channel @ z0 @ s_white
        g0 = torch.linalg.solve(y @ y.mH + (N * user.sigma2 + 1e-12 * torch.diagonal(y @ y.mH).real.mean()) * torch.eye(y.shape[0]), y @ user.x_white.mH).mH
        a = g0 @ user.channel
        grad = grad + a.mH @ (a @ f @ s_white - user.x_white) @ s_white.mH
    assert grad.abs().max() < 1e-8 * N


@pytest.mark.parametrize("variant", ["federated-admm", "federated-prox", "multi-link"])
def test_residuals_vanish_and_the_power_constraint_holds(variant):
    s, users, channels = _data()
    fed = FederatedDownlink(channels, snr_db=10.0, rounds=100, variant=variant).fit(s, users)
    primal, dual = fed.history_["primal_residual"], fed.history_["dual_residual"]
    # The proximal average is not an exact ADMM step and settles more slowly.
    factor = 5e-2 if variant == "federated-prox" else 1e-2
    assert primal[-1] < factor * max(primal) and dual[-1] < factor * max(dual)
    norms = torch.linalg.matrix_norm(fed.precoder_.reshape(-1, *fed.precoder_.shape[-2:])).square()
    assert (norms <= 1.0 + 1e-9).all()
    objective = fed.history_["objective"]
    assert objective[-1] < objective[0]


def test_messages_carry_no_raw_latents_and_are_counted():
    s, users, channels = _data()
    fed = FederatedDownlink(channels, snr_db=10.0, rounds=4, record_messages=True).fit(s, users)
    n_t = fed.channels.shape[-1]
    for message in fed.messages_:
        shapes = {tuple(t.shape) for t in message.payload.values()}
        if message.sender == "ap":
            assert message.kind == "pilots" and shapes == {(n_t, N)}  # F S_w: precoded, whitened AP pilots
        else:
            assert message.receiver == "ap" and set(message.payload) == {"m1", "m2"}
            assert shapes == {(n_t, n_t), (n_t, N)}  # A^H A and A^H X_w: never a user latent dimension
        for shape in shapes:
            assert not set(shape) & {D_AP, *[(d + 1) // 2 for d in USER_DIMS], *USER_DIMS}
    # Bytes: complex64 entries; 4 rounds of uplink from 3 users, 5 broadcasts (the last refits the decoders).
    assert fed.bytes_uplink_ == 4 * 3 * 8 * (n_t * n_t + n_t * N)
    assert fed.bytes_downlink_ == 5 * 8 * n_t * N
    assert fed.channel_uses_ == 5 * N


def test_multi_link_is_independent_single_links_and_prox_differs_from_exact():
    s, users, channels = _data()
    multi = FederatedDownlink(channels, snr_db=10.0, rounds=10, variant="multi-link").fit(s, users)
    for k in range(3):
        alone = FederatedDownlink(channels[k : k + 1], snr_db=10.0, rounds=10, initial_precoder=multi._start(8, torch.complex128)).fit(s, [users[k]])
        torch.testing.assert_close(multi.precoder_[k], alone.precoder_, rtol=1e-10, atol=1e-12)
    exact = FederatedDownlink(channels, snr_db=10.0, rounds=10).fit(s, users)
    prox = FederatedDownlink(channels, snr_db=10.0, rounds=10, variant="federated-prox").fit(s, users)
    assert (exact.precoder_ - prox.precoder_).abs().max() > 1e-4


def test_transmit_delivers_every_user_its_own_space_and_beats_sending_nothing():
    s, users, channels = _data()
    fed = FederatedDownlink(channels, snr_db=20.0, rounds=30).fit(s, users)
    estimates = fed.transmit(s, generator=torch.Generator().manual_seed(0))
    for x, x_hat in zip(users, estimates):
        assert x_hat.shape == x.shape
        assert (x_hat - x).square().mean() < (x - x.mean(0)).square().mean()


def test_bad_input_is_named():
    s, users, channels = _data()
    with pytest.raises(ValueError, match="channels must be a complex"):
        FederatedDownlink(channels.real)
    with pytest.raises(ValueError, match="variant"):
        FederatedDownlink(channels, variant="fedavg")
    with pytest.raises(ValueError, match="one \\(n, d_k\\) matrix per user"):
        FederatedDownlink(channels).fit(s, users[:2])
    with pytest.raises(ValueError, match="paired"):
        FederatedDownlink(channels).fit(s, [users[0][:10], *users[1:]])
    with pytest.raises(RuntimeError, match="not fitted"):
        FederatedDownlink(channels).transmit(s)


def test_dask_workers_give_the_in_process_result():
    """The AP and each user as Dask actors on separate worker processes (a LocalCluster on
    loopback) exchange only the protocol's messages and reach the same precoder and equalisers."""
    pytest.importorskip("dask.distributed")
    s, users, channels = _data(k=2)
    local = FederatedDownlink(channels, snr_db=10.0, rounds=5, record_messages=True).fit(s, users)
    remote = FederatedDownlink(channels, snr_db=10.0, rounds=5, record_messages=True, executor="dask", workers=2).fit(s, users)
    torch.testing.assert_close(remote.precoder_, local.precoder_, rtol=1e-10, atol=1e-12)
    for a, b in zip(remote.users_, local.users_):
        torch.testing.assert_close(a.decoder, b.decoder, rtol=1e-9, atol=1e-11)
    assert remote.bytes_uplink_ == local.bytes_uplink_ and remote.bytes_downlink_ == local.bytes_downlink_
    assert [(m.sender, m.receiver, m.kind) for m in remote.messages_] == [(m.sender, m.receiver, m.kind) for m in local.messages_]
    estimates = remote.transmit(s, noise=False)
    for x_hat, y_hat in zip(estimates, local.transmit(s, noise=False)):
        torch.testing.assert_close(x_hat, y_hat, rtol=1e-9, atol=1e-9)


def test_f_step_is_exact_with_fewer_pilots_than_ap_dimensions():
    """With n - 1 < m_0 the AP's whitening is shrunk (S_w S_w^H != (n - 1) I); the F step then solves
    the general Sylvester equation, still the exact minimiser of the round's ADMM subproblem."""
    g = torch.Generator().manual_seed(7)
    n = 6
    s = torch.randn(n, D_AP, generator=g, dtype=torch.float64)  # m_0 = 8 > n - 1
    users = [torch.tanh(s @ torch.randn(D_AP, 10, generator=g, dtype=torch.float64))]
    channels = channel_for_seed(70, 2, 2).to(torch.complex128)[None]
    with pytest.warns(RuntimeWarning, match="shrunk"):
        fed = FederatedDownlink(channels, snr_db=5.0, rounds=1, rho=0.5).fit(s, users)
        start = fed._start(8, torch.complex128)
    s_white = fed.ap_whitener_.whiten(pack_complex(s)).mT
    assert (s_white @ s_white.mH - (n - 1) * torch.eye(8)).abs().max() > 1e-3  # not isotropic
    user = fed.users_[0]
    y = user.channel @ start @ s_white
    g0 = torch.linalg.solve(y @ y.mH + (n * user.sigma2 + 1e-12 * torch.diagonal(y @ y.mH).real.mean()) * torch.eye(2), y @ user.x_white.mH).mH
    a = g0 @ user.channel
    # One round from Z = F0, U = 0: F1 = argmin 1/2 ||X_w - A F S_w||^2 + (n rho / 2)||F - F0||^2; then Z1 = Pi(F1).
    m1, rhs = a.mH @ a, a.mH @ user.x_white @ s_white.mH + n * 0.5 * start
    sxx = s_white @ s_white.mH
    f1 = torch.linalg.solve(torch.kron(sxx.mT.contiguous(), m1) + n * 0.5 * torch.eye(16), rhs.mT.reshape(-1)).reshape(8, 2).mT  # vec(M1 F S) = (S^T kron M1) vec F
    expected = f1 * min(1.0, 1.0 / float(torch.linalg.matrix_norm(f1)))
    torch.testing.assert_close(fed.precoder_, expected, rtol=1e-8, atol=1e-10)


def test_widely_linear_one_user_equals_single_link_widely_linear_admm():
    """processing="widely-linear": real maps on real latents over the real composite channel; with one
    user it is the single-link widely linear ADMM (the single-link default)."""
    s, users, channels = _data(k=1)
    x = users[0]
    target = fit_whitener(x).whiten(x)  # the user's whitened real latents
    single = LinearSemanticTransceiver(channels[0], snr_db=10.0, rho=1.0, iterations=12, processing="widely-linear")
    start = single.initial_precoder(gram_statistics(s, target, "real"))[0]
    single.fit(s, target)
    fed = FederatedDownlink(channels, snr_db=10.0, rho=1.0, rounds=12, initial_precoder=start, processing="widely-linear", record_messages=True).fit(s, [x])
    torch.testing.assert_close(fed.precoder_, single.precoder_[0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fed.users_[0].decoder, single.decoder_[0], rtol=1e-9, atol=1e-11)
    single_objective = torch.stack(single.history_["objective"]).flatten().double()
    torch.testing.assert_close(torch.tensor(fed.history_["objective"], dtype=torch.float64), single_objective, rtol=1e-6, atol=0)
    assert all(not t.is_complex() for m in fed.messages_ for t in m.payload.values())
    assert fed.bytes_uplink_ == 12 * 4 * (4 * 4 + 4 * N)  # float32 entries: (2 T N_t)^2 + 2 T N_t n per round
    # End to end without noise: the same estimates (the user de-whitens; the single link's target was whitened).
    ours = fit_whitener(x).whiten(fed.transmit(s, noise=False)[0])
    theirs = single.transmit(s, noise=False).reshape(ours.shape).to(torch.float64)
    torch.testing.assert_close(ours, theirs, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("variant", ["federated-admm", "multi-link"])
def test_unrecorded_messages_are_counted_alike_and_recorded_ones_are_the_real_products(variant):
    """In process the users work from sufficient statistics: the messages they would send are
    counted without being formed, and formed exactly when recorded (A^H X_w from the pilots)."""
    s, users, channels = _data()
    quiet = FederatedDownlink(channels, snr_db=10.0, rounds=3, variant=variant).fit(s, users)
    loud = FederatedDownlink(channels, snr_db=10.0, rounds=3, variant=variant, record_messages=True).fit(s, users)
    assert (quiet.bytes_uplink_, quiet.bytes_downlink_) == (loud.bytes_uplink_, loud.bytes_downlink_)
    torch.testing.assert_close(quiet.precoder_, loud.precoder_)
    # Recompute the last round's uplink of the last user from that round's recorded broadcast:
    # Y = H F S_w, G = X_w Y^H (Y Y^H + n sigma^2 I)^-1, A = G H; the message is (A^H A, A^H X_w).
    rounds = max(m.round for m in loud.messages_ if m.sender != "ap")
    broadcasts = [m for m in loud.messages_ if m.sender == "ap" and m.round == rounds]
    user = loud.users_[-1]
    symbols = broadcasts[-1 if variant == "multi-link" else 0].payload["symbols"]
    y = user.channel @ symbols
    gram = y @ y.mH
    loading = N * user.sigma2 + 1e-12 * torch.diagonal(gram).real.mean()
    g = torch.linalg.solve(gram + loading * torch.eye(gram.shape[0], dtype=gram.dtype), y @ user.x_white.mH).mH
    a = g @ user.channel
    message = [m for m in loud.messages_ if m.sender == "user2" and m.round == rounds][0]
    torch.testing.assert_close(message.payload["m1"], a.mH @ a)
    torch.testing.assert_close(message.payload["m2"], a.mH @ user.x_white)
