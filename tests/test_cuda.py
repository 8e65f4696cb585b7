"""The CUDA paths give what the CPU paths give (skipped where no GPU is present, e.g. on CI)."""

import dataclasses

import pytest
import torch

from semalign import LinearSemanticTransceiver, channel_for_seed
from semalign.experiments.mimo import quick_grid, run_mimo
from semalign.latents import synthetic_latents
from semalign.transceivers.baselines import BASELINES
from semalign.transceivers.linear_admm import gram_statistics

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(scope="module")
def pair():
    return synthetic_latents(n_train=3000, n_test=500, d_tx=64, d_rx=96, seed=1)


def test_channel_on_cuda_equals_channel_on_cpu():
    torch.testing.assert_close(channel_for_seed(3, 4, 6, device="cuda").cpu(), channel_for_seed(3, 4, 6))


@pytest.mark.parametrize("domain", ["real", "complex"])
def test_gram_statistics_on_cuda(pair, domain):
    cpu = gram_statistics(pair.train.tx, pair.train.rx, domain)
    gpu = gram_statistics(pair.train.tx.cuda(), pair.train.rx.cuda(), domain)
    torch.testing.assert_close(gpu.cyx.cpu(), cpu.cyx, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(gpu.sxx.cpu(), cpu.sxx, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("processing", ["widely-linear", "strictly-linear"])
def test_linear_admm_on_cuda_equals_cpu(pair, processing):
    h = torch.stack([channel_for_seed(s, 4, 4) for s in range(3)])
    kwargs = dict(snr_db=[0.0, 10.0, 20.0], processing=processing, seed=5)
    cpu = LinearSemanticTransceiver(h, **kwargs).fit(pair.train.tx, pair.train.rx)
    gpu = LinearSemanticTransceiver(h.cuda(), **kwargs).fit(pair.train.tx.cuda(), pair.train.rx.cuda())
    assert gpu.precoder_.device.type == "cuda"
    torch.testing.assert_close(gpu.precoder_.cpu(), cpu.precoder_, rtol=1e-3, atol=1e-4)
    clean_cpu = cpu.transmit(pair.test.tx, noise=False)
    clean_gpu = gpu.transmit(pair.test.tx.cuda(), noise=False)
    torch.testing.assert_close(clean_gpu.cpu(), clean_cpu, rtol=1e-3, atol=1e-3)
    noisy = gpu.transmit(pair.test.tx.cuda())
    assert noisy.device.type == "cuda" and torch.isfinite(noisy).all()


@pytest.mark.parametrize("method", sorted(BASELINES))
def test_baselines_on_cuda_equal_cpu(pair, method):
    h = channel_for_seed(0, 4, 2)
    cpu = BASELINES[method](h, snr_db=10.0).fit(pair.train.tx, pair.train.rx)
    gpu = BASELINES[method](h, snr_db=10.0, device="cuda").fit(pair.train.tx, pair.train.rx)
    torch.testing.assert_close(gpu.transmit(pair.test.tx, noise=False).cpu(), cpu.transmit(pair.test.tx, noise=False), rtol=1e-3, atol=1e-3)


def test_study_runs_on_cuda(tmp_path, digits_cache_env):
    grid = dataclasses.replace(quick_grid(), seeds=(27,), compression_antennas=(2, 8), snr_values=(10.0,))
    results = run_mimo(grid, tmp_path, device="cuda", progress=False, figures=False)
    assert results.height > 0 and results["accuracy"].is_finite().all()


def test_neural_on_cuda_trains_like_cpu(pair):
    """Noiseless (unaware) training is deterministic up to float rounding on either device."""
    from semalign import NeuralSemanticTransceiver

    h = torch.stack([channel_for_seed(s, 4, 4) for s in range(2)])
    kwargs = dict(awareness="unaware", epochs=3, seed=2, lam=[0.0, 1e-3])
    cpu = NeuralSemanticTransceiver(h, **kwargs).fit(pair.train.tx, pair.train.rx)
    gpu = NeuralSemanticTransceiver(h, device="cuda", **kwargs).fit(pair.train.tx, pair.train.rx)
    assert gpu.encoder_.layers[0].weight_real.device.type == "cuda"
    torch.testing.assert_close(gpu.transmit(pair.test.tx, noise=False).cpu(), cpu.transmit(pair.test.tx, noise=False), rtol=1e-2, atol=1e-2)
    noisy = NeuralSemanticTransceiver(h, snr_db=10.0, device="cuda", epochs=2).fit(pair.train.tx, pair.train.rx)
    assert torch.isfinite(noisy.transmit(pair.test.tx)).all() and noisy.sparsity_.shape == (2,)
