"""The CUDA paths give what the CPU paths give (skipped where no GPU is present, e.g. on CI)."""

import dataclasses

import pytest
import torch

from semalign import LinearSemanticTransceiver, channel_for_seed
from semalign.experiments.engine import RunContext, execute_runs
from semalign.experiments.runs import get_run_kind
from semalign.experiments.studies import run_study
from semalign.experiments.studies.mimo import quick_grid
from semalign.latents import synthetic_latents
from semalign.methods import get_method
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


@pytest.mark.parametrize("method", ["eigen-k", "first-k", "top-k"])
def test_baselines_on_cuda_equal_cpu(pair, method):
    h = channel_for_seed(0, 4, 2)
    baseline = get_method("single-link", method)
    cpu = baseline.create(channel=h, snr_db=10.0).fit(pair.train.tx, pair.train.rx)
    gpu = baseline.create(channel=h, snr_db=10.0, device="cuda").fit(pair.train.tx, pair.train.rx)
    torch.testing.assert_close(gpu.transmit(pair.test.tx, noise=False).cpu(), cpu.transmit(pair.test.tx, noise=False), rtol=1e-3, atol=1e-3)


def test_study_runs_on_cuda(tmp_path, digits_cache_env):
    grid = dataclasses.replace(quick_grid(), seeds=(27,), compression_antennas=(2, 8), snr_values=(10.0,))
    results = run_study("mimo", grid, tmp_path, context=RunContext(device="cuda"), progress=False, figures=False)
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


def _network(device: str, protection: str = "none"):
    """Two random 3-pair networks (N = 3) with one primary user, built on the CPU, moved to ``device``."""
    from semalign.multiuser.network import InterferenceNetwork

    g = torch.Generator().manual_seed(7)

    def crandn(*shape):
        return torch.complex(torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(shape, generator=g, dtype=torch.float64)) / 2**0.5

    b, q, n = 2, 3, 3
    a = crandn(b, q, 4, 5) * torch.as_tensor([0.6**k for k in range(5)], dtype=torch.float64)
    h = crandn(b, q, q, n, n)
    h = torch.where(torch.eye(q, dtype=torch.bool)[None, :, :, None, None], h, h * 0.2**0.5)
    r0 = 0.05 * torch.eye(n, dtype=torch.complex128).expand(b, q, n, n)
    extra = dict(pu_channels=crandn(b, 1, q, 1, n).to(device), pu_limits=torch.full((b, 1), 0.05, dtype=torch.float64).to(device), pu_protection=protection) if protection != "none" else {}
    return InterferenceNetwork(a.to(device), h.to(device), r0.to(device), torch.ones(b, q, dtype=torch.float64).to(device), **extra)


@pytest.mark.parametrize("variant, protection", [("fixed-eigenmode", "none"), ("full-mimo", "none"), ("full-mimo", "individual"), ("fixed-eigenmode", "null")])
def test_game_on_cuda_equals_cpu(variant, protection):
    from semalign.multiuser.game import solve_game

    cpu = solve_game(_network("cpu", protection), variant=variant)
    gpu = solve_game(_network("cuda", protection), variant=variant)
    assert gpu.precoders.device.type == "cuda"
    # Precoders are unique only up to the phase of each stream (eigenvectors from another
    # library); the transmit covariances F F^H and the MSEs are not.
    covariance = lambda f: f @ f.mH  # noqa: E731
    torch.testing.assert_close(covariance(gpu.precoders).cpu(), covariance(cpu.precoders), rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(gpu.mse.cpu(), cpu.mse, rtol=1e-6, atol=1e-9)


def test_sweep_on_cuda_matches_cpu(tmp_path, digits_cache_env):
    from semalign.experiments.runs.link import LinkRun

    def run_sweep(kind, runs, out, device="cpu", progress=False):
        return execute_runs(get_run_kind(kind), runs, out, context=RunContext(device=device), progress=progress)

    runs = [LinkRun(method=m, snr_db=s, seed=3, n_antennas=4) for m in ("linear-admm", "top-k", "eigen-k") for s in (0.0, 20.0)]
    cpu = run_sweep("link", runs, tmp_path / "cpu", progress=False).sort("run_id")
    gpu = run_sweep("link", runs, tmp_path / "gpu", device="cuda", progress=False).sort("run_id")
    assert set(gpu["device"]) == {"cuda"}
    # The test noise is the same on both devices (drawn from the seed's CPU generator); the fits
    # differ by float32 rounding, and the receiver's classifier is trained on each device.
    assert ((gpu["mse"] - cpu["mse"]).abs() / cpu["mse"]).max() <= 1e-4
    assert (gpu["accuracy"] - cpu["accuracy"]).abs().max() <= 0.05
