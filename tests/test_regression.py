"""Ridge regression with a GCV-chosen penalty, checked against the criterion computed by brute force."""

import pytest
import torch

from semalign._regression import RELATIVE_RIDGES, ridge_regression


def _brute_force_gcv(z, y, ridge):
    """GCV(r) = RSS / (n (1 - tr(H)/n)^2) from explicit residuals and the explicit hat matrix."""
    n, p = z.shape
    inverse = torch.linalg.inv(z.mH @ z + ridge * torch.eye(p, dtype=z.dtype))
    hat = z @ inverse @ z.mH
    residual = y - hat @ y
    dof = torch.diagonal(hat).real.sum()
    return residual.abs().square().sum() / n / (1 - dof / n) ** 2


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_chosen_penalty_minimises_the_brute_force_criterion_per_configuration(dtype):
    g = torch.Generator().manual_seed(0)
    b, n, p, q = 3, 60, 12, 5
    z = torch.randn(b, n, p, generator=g, dtype=dtype)
    z[1, :, 3] *= 1e-4  # a nearly unused input
    z[2] = z[2] @ torch.randn(p, p, generator=g, dtype=dtype).triu()  # correlated inputs
    truth = torch.randn(b, p, q, generator=g, dtype=dtype)
    y = z @ truth + torch.tensor([0.01, 0.5, 3.0], dtype=torch.float64).view(b, 1, 1) * torch.randn(b, n, q, generator=g, dtype=dtype)
    z, y = z - z.mean(-2, keepdim=True), y - y.mean(-2, keepdim=True)
    weights, chosen = ridge_regression(z, y)
    for i in range(b):
        scale = torch.diagonal(z[i].mH @ z[i]).real.mean()
        scores = torch.stack([_brute_force_gcv(z[i], y[i], r * scale) for r in RELATIVE_RIDGES])
        best = RELATIVE_RIDGES[int(scores.argmin())] * scale
        assert chosen[i].item() == pytest.approx(best.item(), rel=1e-9)
        expected = torch.linalg.solve(z[i].mH @ z[i] + best * torch.eye(p, dtype=dtype), z[i].mH @ y[i])
        torch.testing.assert_close(weights[i], expected)


def test_noise_raises_the_penalty_and_a_clean_fit_keeps_it_small():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(40, 30, generator=g, dtype=torch.float64)
    y = z @ torch.randn(30, 2, generator=g, dtype=torch.float64)
    _, clean = ridge_regression(z, y)
    _, noisy = ridge_regression(z, y + 5 * torch.randn(40, 2, generator=g, dtype=torch.float64))
    scale = torch.diagonal(z.mT @ z).mean()
    assert clean.item() == pytest.approx(RELATIVE_RIDGES[0] * scale.item())
    assert noisy.item() > 100 * clean.item()
