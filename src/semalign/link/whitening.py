"""Whitening of complex symbols and the Gram statistics the linear solvers need.

Column-form maths (as in the papers): for n pilot symbol vectors s_i in C^m stacked as columns of
S (m x n), the whitener is (mu, L) with mu the sample mean and L the lower Cholesky factor of the
sample covariance C = (S - mu 1^T)(S - mu 1^T)^H / (n - 1). The whitened pilots
X = L^{-1}(S - mu 1^T) satisfy X X^H = (n - 1) I. The public API is batch first: symbols are rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

# Relative diagonal loading used only when the covariance is numerically singular (constant
# features, e.g. dead ReLU units): small enough not to change a full-rank whitening.
_JITTER = 1e-6
# Shrinkage towards a scaled identity when there are fewer pilots than symbol dimensions.
_SHRINKAGE = 0.1


@dataclass(frozen=True)
class Whitener:
    """Affine whitening s -> L^{-1}(s - mu) of complex symbol vectors.

    Attributes:
        mean: ``(..., m)`` complex mean mu.
        chol: ``(..., m, m)`` lower-triangular L with L L^H the (regularised) covariance.
        shrinkage: the shrinkage weight used (0 for a plain sample covariance).
    """

    mean: torch.Tensor
    chol: torch.Tensor
    shrinkage: float = 0.0

    def whiten(self, s: torch.Tensor) -> torch.Tensor:
        """``(..., n, m)`` symbols -> ``(..., n, m)`` whitened symbols (row form of L^{-1}(s - mu))."""
        centred = (s - self.mean.unsqueeze(-2)).to(self.chol.dtype)
        return torch.linalg.solve_triangular(self.chol, centred.mT, upper=False).mT

    def colour(self, w: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`whiten`: ``(..., n, m)`` whitened -> symbols L w + mu."""
        return (w.to(self.chol.dtype) @ self.chol.mT) + self.mean.unsqueeze(-2)


def fit_whitener(s: torch.Tensor, *, name: str = "symbols") -> Whitener:
    """Fit a :class:`Whitener` on ``(..., n, m)`` complex symbols (rows are samples).

    With fewer pilots than dimensions (n - 1 < m) the sample covariance is singular: it is shrunk
    towards a scaled identity, (1 - a) C + a tr(C)/m I with a = 0.1, and a warning says so.
    """
    n = s.shape[-2]
    if n < 2:
        raise ValueError(f"{name}: at least 2 samples are needed to estimate a covariance, got n = {n}")
    mean = s.mean(dim=-2)
    centred = s - mean.unsqueeze(-2)
    cov = centred.mT @ centred.conj() / (n - 1)  # column-form S S^H / (n - 1)
    return whitener_from_covariance(mean, cov, n=n, name=name)


def whitener_from_covariance(mean: torch.Tensor, cov: torch.Tensor, *, n: int, name: str = "symbols") -> Whitener:
    """Whitener from a mean ``(..., m)`` and covariance ``(..., m, m)`` estimated on ``n`` samples."""
    m = cov.shape[-1]
    eye = torch.eye(m, dtype=cov.dtype, device=cov.device)
    scale = (torch.diagonal(cov, dim1=-2, dim2=-1).real.mean(-1).clamp_min(1e-30))[..., None, None]
    shrinkage = 0.0
    if n - 1 < m:
        shrinkage = _SHRINKAGE
        warnings.warn(
            f"{name}: {n} pilots for {m} complex dimensions (need more than {m}); the covariance is singular, "
            f"so it is shrunk towards a scaled identity (weight {shrinkage}). Use more pilots for an exact whitening.",
            RuntimeWarning,
            stacklevel=3,
        )
        cov = (1 - shrinkage) * cov + shrinkage * scale * eye
    chol, info = torch.linalg.cholesky_ex(cov)
    if bool((info != 0).any()):
        # Numerically singular (constant features): load the diagonal slightly.
        chol, info = torch.linalg.cholesky_ex(cov + _JITTER * scale * eye)
        if bool((info != 0).any()):
            raise ValueError(f"{name}: covariance is not positive definite even after diagonal loading; check for NaN or duplicated features")
    return Whitener(mean=mean, chol=chol, shrinkage=shrinkage)
