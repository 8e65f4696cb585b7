"""Neural semantic transceiver: layers, power, gradients through the channel, sparsity and FLOPs."""

import math

import pytest
import torch

from semalign import NeuralSemanticTransceiver, channel_for_seed
from semalign.latents import synthetic_latents
from semalign.link.channel import rayleigh_channel
from semalign.tasks import mse
from semalign.transceivers.baselines import least_squares_alignment
from semalign.transceivers.complex_layers import ComplexDenseStack, ComplexMLPStack, complex_to_split, modulus_gelu, split_to_complex
from semalign.transceivers.flops import ACTIVATION_FLOPS
from semalign.transceivers.proximal import proximal_l1_step, sparsity


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def pair():
    return synthetic_latents(n_train=800, n_test=300, d_tx=16, d_rx=12, seed=3)


def test_modulus_gelu_keeps_the_phase_and_applies_gelu_to_the_modulus():
    z = torch.complex(torch.randn(50, generator=gen(1)), torch.randn(50, generator=gen(2)))
    out = split_to_complex(modulus_gelu(complex_to_split(z)))
    expected = torch.nn.functional.gelu(z.abs()) * torch.exp(1j * z.angle())
    torch.testing.assert_close(out, expected.to(out.dtype), rtol=1e-5, atol=1e-6)


def test_dense_stack_is_a_complex_matrix_product_per_configuration():
    layer = ComplexDenseStack(3, 5, 4, generator=gen())
    with torch.no_grad():
        layer.bias_real.normal_(generator=gen(3))
        layer.bias_imag.normal_(generator=gen(4))
    x = torch.complex(torch.randn(3, 7, 5, generator=gen(5)), torch.randn(3, 7, 5, generator=gen(6)))
    bias = torch.complex(layer.bias_real, layer.bias_imag).detach()
    expected = x @ layer.weight.mT + bias.unsqueeze(-2)
    torch.testing.assert_close(split_to_complex(layer(complex_to_split(x))).detach(), expected, rtol=1e-5, atol=1e-5)
    # Initial weights: variance 1/(2 in) per part, the same draw for every configuration.
    assert torch.equal(layer.weight[0], layer.weight[2])
    big = ComplexDenseStack(1, 400, 300, generator=gen(7))
    assert big.weight_real.var().item() == pytest.approx(1 / 800, rel=0.05)


def test_power_constraint_holds_per_sample(pair):
    h = rayleigh_channel(3, 4, generator=gen(1), batch=2)
    model = NeuralSemanticTransceiver(h, snr_db=[0.0, 20.0], power=2.5, channel_uses=2, epochs=2).fit(pair.train.tx, pair.train.rx)
    s = model.symbols(pair.test.tx)  # (b, n, T N_t)
    assert s.shape == (2, pair.test.tx.shape[0], 8)
    energy = s.abs().square().sum(-1)
    torch.testing.assert_close(energy, torch.full_like(energy, 2.5), rtol=1e-5, atol=1e-5)


def test_gradient_flows_through_the_channel(pair):
    """The encoder learns from the loss behind the channel: its gradient scales with H, and a zero
    channel cuts it off."""
    h = channel_for_seed(0, 4, 4)
    model = NeuralSemanticTransceiver(h, snr_db=math.inf, epochs=1).fit(pair.train.tx[:100], pair.train.rx[:100])
    for p in model.encoder_.parameters():
        p.requires_grad_(True)
    xs = model._standardise_x(pair.train.tx[:64])
    ys = (pair.train.rx[:64] - model.y_mean_) / model.y_scale_
    from semalign.link.link import Link

    def encoder_grad(channel):
        model.encoder_.zero_grad()
        model._losses(xs, ys, Link(channel.unsqueeze(0), snr_db=math.inf), None).sum().backward()
        return torch.cat([p.grad.flatten() for p in model.encoder_.parameters()])

    assert encoder_grad(h).abs().max() > 1e-4
    assert encoder_grad(torch.zeros_like(h)).abs().max() == 0


def test_noiseless_identity_full_size_link_approaches_least_squares(pair):
    """With the whole latent sent (N_t = ceil(d_tx/2)) over a clean identity channel, the network
    comes close to the least-squares alignment MSE. Not below it here: the per-sample power
    normalisation puts every symbol vector on a sphere, so with N_t = ceil(d_tx/2) one real degree of
    freedom (the norm) must be folded into the direction (measured: 0.83 vs 0.74, the latents'
    variance being 1.0)."""
    m = math.ceil(pair.d_tx / 2)
    eye = torch.eye(m, dtype=torch.complex64)
    model = NeuralSemanticTransceiver(eye, snr_db=math.inf, epochs=150, patience=50, seed=1).fit(pair.train.tx, pair.train.rx)
    variance = pair.test.rx.var(0).mean().item()
    neural = mse(model.transmit(pair.test.tx, noise=False), pair.test.rx)
    x_mean, y_mean = pair.train.tx.mean(0), pair.train.rx.mean(0)
    a = least_squares_alignment(pair.train.tx - x_mean, pair.train.rx - y_mean)
    ls = mse(((pair.test.tx - x_mean).double() @ a + y_mean.double()).float(), pair.test.rx)
    assert neural < 1.2 * ls < variance, (neural, ls, variance)


def test_flops_match_a_hand_count(pair):
    h = channel_for_seed(0, 3, 2)  # N_t = 2, N_r = 3
    model = NeuralSemanticTransceiver(h, hidden=(5, 7), epochs=1).fit(pair.train.tx, pair.train.rx)
    m, p = 8, 6  # complex widths of d_tx = 16 and d_rx = 12
    enc = 8 * (m * 5) + 2 * 5 + 8 * (5 * 2) + 2 * 2 + ACTIVATION_FLOPS * 5
    dec = 8 * (3 * 7) + 2 * 7 + 8 * (7 * p) + 2 * p + ACTIVATION_FLOPS * 7
    power = 4 * 2 + 2 + 2 * 2
    standardise = 2 * 16 + 2 * 12
    assert int(model.inference_flops()[0]) == enc + dec + power + standardise
    # Zeroed weights are not counted: 8 FLOPs per removed complex weight.
    with torch.no_grad():
        model.encoder_.layers[0].weight_real[0, :, :3] = 0
        model.encoder_.layers[0].weight_imag[0, :, :3] = 0
    assert int(model.inference_flops()[0]) == enc + dec + power + standardise - 8 * 5 * 3


def test_sparsity_rises_and_flops_fall_with_lam(pair):
    lams = [0.0, 3e-3, 1e-2]
    h = channel_for_seed(2, 4, 4).unsqueeze(0).expand(len(lams), 4, 4)
    model = NeuralSemanticTransceiver(h, snr_db=20.0, lam=lams, epochs=40, seed=2).fit(pair.train.tx, pair.train.rx)
    s, flops = model.sparsity_, model.inference_flops()
    assert s[0] == 0 and s[1] > 0.05 and s[2] > s[1]
    assert flops[0] > flops[1] > flops[2]
    # Sparsity is measured on the returned weights themselves.
    assert torch.equal(sparsity(model._weights()), s.to(sparsity(model._weights()).device))


def test_proximal_step_is_a_soft_threshold_in_adams_metric():
    layer = ComplexDenseStack(2, 6, 5, generator=gen(1))
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.05)
    x = torch.randn(40, 12, generator=gen(2))
    layer(x).square().mean().backward()
    optimizer.step()
    before_r, before_i = layer.weight_real.detach().clone(), layer.weight_imag.detach().clone()
    state = optimizer.state[layer.weight_parts]
    second_before = state["exp_avg_sq"].clone()
    lam = torch.tensor([0.0, 1.0])
    proximal_l1_step(optimizer, [layer.weight_parts], lam)
    # The real and imaginary parts' second moments, and their first moments after the step.
    state_r = {"exp_avg_sq": second_before[:, 0], "exp_avg": state["exp_avg"][:, 0], "step": state["step"]}
    state_i = {"exp_avg_sq": second_before[:, 1], "exp_avg": state["exp_avg"][:, 1]}
    v_hat = (state_r["exp_avg_sq"] + state_i["exp_avg_sq"]) / (2 * (1 - 0.999 ** float(state_r["step"])))
    tau = 0.05 * lam.view(-1, 1, 1) / (v_hat.sqrt() + 1e-8)
    modulus = torch.sqrt(before_r**2 + before_i**2)
    shrink = torch.clamp(1 - tau / modulus, min=0)
    torch.testing.assert_close(layer.weight_real.detach(), before_r * shrink)
    torch.testing.assert_close(layer.weight_imag.detach(), before_i * shrink)
    assert torch.equal(layer.weight_real[0], before_r[0])  # lam = 0: untouched
    pruned = shrink == 0
    assert pruned[1].any() and (state_r["exp_avg"][pruned] == 0).all() and (state_i["exp_avg"][pruned] == 0).all()


def test_proximal_adam_reaches_the_l1_optimality_conditions():
    """On a convex problem (complex least squares + lam ||W||_1), Adam + prox ends where the L1
    stationarity conditions hold: |grad| <= lam on zero weights, grad = -lam w/|w| elsewhere."""
    torch.manual_seed(0)
    layer = ComplexMLPStack(1, (6, 3), generator=gen(4))  # one dense layer: a linear model
    x = complex_to_split(torch.complex(torch.randn(200, 6, generator=gen(5)), torch.randn(200, 6, generator=gen(6))))
    w_true = torch.complex(torch.randn(3, 6, generator=gen(7)), torch.randn(3, 6, generator=gen(8))) * (torch.rand(3, 6, generator=gen(9)) > 0.5)
    y = complex_to_split(split_to_complex(x) @ w_true.T)
    lam = torch.tensor([0.05])
    optimizer = torch.optim.Adam(layer.parameters(), lr=3e-3)
    for _ in range(4000):
        optimizer.zero_grad()
        layer(x).sub(y).square().sum(-1).mean().backward()
        optimizer.step()
        proximal_l1_step(optimizer, layer.weight_parameters(), lam)
    optimizer.zero_grad()
    layer(x).sub(y).square().sum(-1).mean().backward()
    lin = layer.layers[0]
    grad = torch.complex(lin.weight_parts.grad[:, 0], lin.weight_parts.grad[:, 1])[0] / 2  # d/d conj(w) of the real loss
    w = lin.weight[0]
    zero = w == 0
    assert zero.any() and (~zero).any()
    assert (grad[zero].abs() <= 0.05 * 1.1).all()
    direction = -0.05 * w[~zero] / w[~zero].abs() / 2
    torch.testing.assert_close(grad[~zero], direction, rtol=0.01, atol=1e-3)


def test_batched_configurations_train_like_separate_ones(pair):
    """Without noise, b configurations trained together equal b separate trainings."""
    h = rayleigh_channel(4, 4, generator=gen(11), batch=2)
    kwargs = dict(awareness="unaware", epochs=6, seed=4)
    together = NeuralSemanticTransceiver(h, **kwargs).fit(pair.train.tx, pair.train.rx)
    alone = NeuralSemanticTransceiver(h[1], **kwargs).fit(pair.train.tx, pair.train.rx)
    torch.testing.assert_close(together.transmit(pair.test.tx, noise=False)[1], alone.transmit(pair.test.tx, noise=False), rtol=1e-3, atol=1e-3)


def test_a_configuration_trains_alike_alone_or_batched_with_noise_and_early_stopping(pair):
    """With training noise, test noise and configurations that stop at different epochs, each
    configuration of a batch equals its training alone (noise is drawn once per batch and scaled;
    a configuration that has stopped keeps its best weights while the batch trains on)."""
    h = channel_for_seed(2, 2, 2).expand(3, 2, 2)
    kwargs = dict(epochs=40, patience=2, lr=0.05, seed=6)
    snrs, lams = [-10.0, 5.0, 30.0], [0.0, 1e-3, 0.0]
    x, y = pair.train.tx[:300], pair.train.rx[:300]
    together = NeuralSemanticTransceiver(h, snr_db=snrs, lam=lams, **kwargs).fit(x, y)
    assert len(set(together.best_epoch_.tolist())) > 1  # they do stop at different epochs
    batched = together.transmit(pair.test.tx, generator=gen(8))
    for i in range(3):
        alone = NeuralSemanticTransceiver(h[i], snr_db=snrs[i], lam=lams[i], **kwargs).fit(x, y)
        assert int(alone.best_epoch_[0]) == int(together.best_epoch_[i])
        torch.testing.assert_close(batched[i], alone.transmit(pair.test.tx, generator=gen(8)), rtol=1e-4, atol=1e-4)


def test_early_stopping_keeps_the_best_validation_weights(pair):
    h = channel_for_seed(5, 4, 4)
    model = NeuralSemanticTransceiver(h, epochs=30, patience=3, lr=0.05, seed=5).fit(pair.train.tx[:200], pair.train.rx[:200])
    val = torch.stack(model.history_["validation_loss"])[:, 0]
    assert len(val) == model.n_epochs_
    assert int(model.best_epoch_[0]) == int(val.argmin()) + 1
    no_val = NeuralSemanticTransceiver(h, epochs=4, validation_fraction=0.0).fit(pair.train.tx[:200], pair.train.rx[:200])
    assert no_val.history_["validation_loss"] == [] and int(no_val.best_epoch_[0]) == 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lam": -1.0}, "lam must be a number >= 0"),
        ({"lam": [0.0, 1.0, 2.0]}, r"lam must be a number >= 0 or one per channel configuration \(1\)"),
        ({"hidden": (4,)}, "hidden must be a pair"),
        ({"hidden": (4, 0)}, "hidden\\[1\\] must be a positive integer"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"lr": -0.1}, "lr must be a finite positive number"),
        ({"validation_fraction": 1.0}, r"validation_fraction must be in \[0, 1\)"),
        ({"hidden_layers": -1}, "hidden_layers must be an integer >= 0"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NeuralSemanticTransceiver(channel_for_seed(0, 2, 2), **kwargs)


def test_dense_and_activation_gradients_match_autograd_of_the_complex_expressions():
    """The layers' hand-written backward passes against torch's complex autograd (float64)."""
    from semalign.transceivers.complex_layers import modulus_gelu_stacked, split_to_stacked, stacked_to_split

    layer = ComplexDenseStack(3, 5, 4, generator=gen(1)).double()
    with torch.no_grad():
        layer.bias_parts.normal_(generator=gen(2))
    for shared in (False, True):
        x = torch.randn(1 if shared else 3, 2, 7, 5, generator=gen(3), dtype=torch.float64, requires_grad=True)
        target = torch.randn(3, 2, 7, 4, generator=gen(4), dtype=torch.float64)
        loss = (modulus_gelu_stacked(layer.forward_stacked(x)) * target).sum()
        grads = torch.autograd.grad(loss, [x, layer.weight_parts, layer.bias_parts])
        # The same function on complex tensors.
        xc = torch.complex(x[:, 0], x[:, 1]).detach().requires_grad_(True)
        w = torch.complex(layer.weight_parts[:, 0], layer.weight_parts[:, 1]).detach().requires_grad_(True)
        c = torch.complex(layer.bias_parts[:, 0], layer.bias_parts[:, 1]).detach().requires_grad_(True)
        z = xc @ w.mT + c
        out = z * torch.special.ndtr((z.abs().square() + 1e-30).sqrt())
        reference = (out.real * target[:, 0] + out.imag * target[:, 1]).sum()
        gx, gw, gc = torch.autograd.grad(reference, [xc, w, c])
        torch.testing.assert_close(grads[0], torch.stack([gx.real, gx.imag], 1))
        torch.testing.assert_close(grads[1], torch.stack([gw.real, gw.imag], 1))
        torch.testing.assert_close(grads[2], torch.stack([gc.real, gc.imag], 1))
    assert torch.equal(stacked_to_split(split_to_stacked(target.transpose(1, 2).reshape(3, 7, 8))), target.transpose(1, 2).reshape(3, 7, 8))


def test_fits_of_other_seeds_and_awareness_train_together_as_they_train_alone(pair):
    """fit_together: each model (own seed, channel, awareness, SNRs, pilots) ends where its own fit
    ends, to float rounding: same stopping epochs, same estimates; stopped configurations leave the
    batch without changing the others."""
    from semalign.transceivers.neural import fit_together

    x, y = pair.train.tx[:300], pair.train.rx[:300]
    specs = [
        dict(channel=channel_for_seed(1, 2, 2).expand(2, 2, 2), snr_db=[0.0, 20.0], seed=1),
        dict(channel=channel_for_seed(2, 2, 2), snr_db=10.0, seed=2, awareness="unaware"),
        dict(channel=channel_for_seed(3, 2, 2), snr_db=5.0, seed=3, lam=1e-3),
    ]
    common = dict(epochs=60, patience=3, lr=0.05)
    pilots = [(x, y), (x.flip(0), y.flip(0)), (x, y)]
    together = [NeuralSemanticTransceiver(**spec, **common) for spec in specs]
    fit_together(together, pilots)
    assert len({int(e) for m in together for e in m.best_epoch_}) > 1
    for spec, (px, py), model in zip(specs, pilots, together):
        alone = NeuralSemanticTransceiver(**spec, **common).fit(px, py)
        assert alone.n_epochs_ == model.n_epochs_ and torch.equal(alone.best_epoch_, model.best_epoch_)
        torch.testing.assert_close(model.transmit(pair.test.tx, generator=gen(8)), alone.transmit(pair.test.tx, generator=gen(8)), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(model.sparsity_, alone.sparsity_)


def test_fit_together_names_what_differs(pair):
    from semalign.transceivers.neural import fit_together

    x, y = pair.train.tx[:100], pair.train.rx[:100]
    models = [NeuralSemanticTransceiver(channel_for_seed(1, 2, 2), epochs=2), NeuralSemanticTransceiver(channel_for_seed(1, 3, 3), epochs=2)]
    with pytest.raises(ValueError, match=r"antennas \(n_rx, n_tx\) \(\(2, 2\) vs \(3, 3\)\)"):
        fit_together(models, [(x, y), (x, y)])
    with pytest.raises(ValueError, match="training settings differ"):
        fit_together([NeuralSemanticTransceiver(channel_for_seed(1, 2, 2), epochs=2), NeuralSemanticTransceiver(channel_for_seed(1, 2, 2), epochs=3)], [(x, y), (x, y)])
    with pytest.raises(ValueError, match="one \\(x, y\\) pilot pair per model"):
        fit_together(models, [(x, y)])
