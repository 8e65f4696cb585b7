"""Synthetic agents: shapes, determinism, class structure and the semantic-proximity knob."""

from __future__ import annotations

import math

import pytest
import torch
from sklearn.linear_model import LogisticRegression

from semalign.latents import synthetic_latents


def _alignment_r2(pair) -> float:
    """Test-set R^2 of the least-squares affine map from TX to RX latents fitted on train."""
    x, y = pair.train.tx.double(), pair.train.rx.double()
    x_mean, y_mean = x.mean(0), y.mean(0)
    coef = torch.linalg.lstsq(x - x_mean, y - y_mean).solution
    y_test = pair.test.rx.double() - y_mean
    residual = (pair.test.tx.double() - x_mean) @ coef - y_test
    return float(1 - residual.pow(2).sum() / (y_test - y_test.mean(0)).pow(2).sum())


def test_paper_dimensions_and_metadata():
    pair = synthetic_latents(n_train=300, n_test=100, seed=7)
    assert pair.train.tx.shape == (300, 384) and pair.train.rx.shape == (300, 768)
    assert pair.test.tx.shape == (100, 384) and pair.test.rx.shape == (100, 768)
    assert pair.train.tx.dtype == torch.float32 and pair.test.labels.dtype == torch.int64
    assert pair.tx_encoder == "synthetic-tx-d384-s7" and pair.rx_encoder.startswith("synthetic-rx-d768")
    assert pair.dataset == "synthetic"
    for key in ("n_train", "n_test", "d_tx", "d_rx", "n_classes", "semantic_dim", "proximity", "noise", "seed",
                "hidden_dim", "class_spread", "gain"):  # fmt: skip
        assert key in pair.metadata
    # Class-balanced splits.
    assert torch.equal(torch.bincount(pair.train.labels), torch.full((10,), 30))
    assert torch.equal(torch.bincount(pair.test.labels), torch.full((10,), 10))


def test_seeded_and_global_rng_untouched():
    torch.manual_seed(0)
    state = torch.random.get_rng_state()
    a = synthetic_latents(n_train=200, n_test=50, d_tx=16, d_rx=24, seed=3)
    b = synthetic_latents(n_train=200, n_test=50, d_tx=16, d_rx=24, seed=3)
    c = synthetic_latents(n_train=200, n_test=50, d_tx=16, d_rx=24, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a.train.tx, b.train.tx) and torch.equal(a.test.rx, b.test.rx)
    assert not torch.equal(a.train.tx, c.train.tx)
    # The test split is its own stream: it does not move when n_train changes.
    d = synthetic_latents(n_train=500, n_test=50, d_tx=16, d_rx=24, seed=3)
    assert torch.equal(a.test.tx, d.test.tx) and torch.equal(a.test.labels, d.test.labels)


def test_unit_signal_scale_and_noise_level():
    clean = synthetic_latents(n_train=4000, n_test=10, d_tx=64, d_rx=96, noise=0.0)
    noisy = synthetic_latents(n_train=4000, n_test=10, d_tx=64, d_rx=96, noise=0.5)
    assert clean.train.tx.var(0).mean() == pytest.approx(1.0, abs=0.1)
    assert clean.train.rx.var(0).mean() == pytest.approx(1.0, abs=0.1)
    # Same draws, plus independent noise of std 0.5 per coordinate.
    assert (noisy.train.tx - clean.train.tx).std() == pytest.approx(0.5, rel=0.05)


def test_latents_carry_the_classes():
    pair = synthetic_latents(n_train=2000, n_test=500, d_tx=64, d_rx=96)
    for side in ("tx", "rx"):
        probe = LogisticRegression(max_iter=2000).fit(getattr(pair.train, side).numpy(), pair.train.labels.numpy())
        assert probe.score(getattr(pair.test, side).numpy(), pair.test.labels.numpy()) > 0.8


def test_proximity_makes_agents_easier_to_align():
    r2 = {p: _alignment_r2(synthetic_latents(n_train=2000, n_test=500, d_tx=384, d_rx=768, proximity=p))
          for p in (0.0, 0.95)}  # fmt: skip
    assert r2[0.95] > r2[0.0] + 0.05


def test_full_proximity_without_noise_is_exactly_linear():
    # Shared hidden features, d_tx >= hidden_dim: RX is a linear function of TX.
    pair = synthetic_latents(n_train=600, n_test=200, d_tx=48, d_rx=80, hidden_dim=32, proximity=1.0, noise=0.0)
    assert _alignment_r2(pair) > 0.9999
    unrelated = synthetic_latents(n_train=600, n_test=200, d_tx=48, d_rx=80, hidden_dim=32, proximity=0.0, noise=0.0)
    assert _alignment_r2(unrelated) < 0.99


def test_generates_across_chunks():
    pair = synthetic_latents(n_train=9000, n_test=20, d_tx=3, d_rx=5)  # > one 8192-sample chunk
    assert pair.train.tx.shape == (9000, 3)
    assert torch.unique(pair.train.tx, dim=0).shape[0] == 9000


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_train": 0}, "n_train must be a positive integer, got 0"),
        ({"d_tx": 2.5}, "d_tx must be a positive integer, got 2.5"),
        ({"proximity": 1.5}, r"proximity must be a number in \[0, 1\], got 1.5"),
        ({"proximity": math.nan}, r"proximity must be a number in \[0, 1\]"),
        ({"noise": -0.1}, "noise must be a finite number >= 0, got -0.1"),
        ({"seed": -1}, "seed must be a non-negative integer, got -1"),
        ({"n_classes": 20, "n_test": 10}, "n_classes=20 exceeds the smallest split"),
        ({"gain": 0.0}, "gain must be > 0"),
        ({"device": "nonsense"}, "device 'nonsense' is not usable"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        synthetic_latents(**{"n_train": 50, "n_test": 20, "d_tx": 4, "d_rx": 4, **kwargs})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    cpu = synthetic_latents(n_train=100, n_test=20, d_tx=8, d_rx=12)
    gpu = synthetic_latents(n_train=100, n_test=20, d_tx=8, d_rx=12, device="cuda")
    assert gpu.train.tx.device.type == "cuda"
    torch.testing.assert_close(gpu.train.rx.cpu(), cpu.train.rx, rtol=1e-4, atol=1e-4)
