"""Random interference networks for the game tests."""

import numpy as np
import pytest
import torch

from semalign.multiuser.network import InterferenceNetwork


def crandn(generator, *shape):
    real = torch.randn(shape, generator=generator, dtype=torch.float64)
    imag = torch.randn(shape, generator=generator, dtype=torch.float64)
    return torch.complex(real, imag) / 2**0.5


def make_network(seed=0, b=4, q=3, n=3, d=5, m=4, alpha=0.2, sigma2=0.05, j=0, n_p=1, protection="none", limit=None):
    """B random networks: decaying alignment spectra, cross gains alpha, white noise sigma2, unit power."""
    g = torch.Generator().manual_seed(seed)
    a = crandn(g, b, q, m, d) * torch.as_tensor(0.6 ** np.arange(d))
    h = crandn(g, b, q, q, n, n)
    eye = torch.eye(q, dtype=torch.bool)[None, :, :, None, None]
    h = torch.where(eye, h, h * alpha**0.5)
    r0 = sigma2 * torch.eye(n, dtype=torch.complex128).expand(b, q, n, n)
    extra = {}
    if j:
        extra = dict(pu_channels=crandn(g, b, j, q, n_p, n), pu_limits=limit, pu_protection=protection)
    return InterferenceNetwork(a, h, r0, torch.ones(b, q), **extra)


@pytest.fixture
def network_factory():
    return make_network
