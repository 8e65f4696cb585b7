"""Ridge regression whose penalty is chosen by generalised cross-validation, from sufficient statistics.

Receivers that learn a linear map from what they received (noisy, equalised pilot features) to
their own latents face inputs of very uneven strength: a Top-K input coordinate that few pilots
ever carried has a tiny Gram diagonal, and a fixed tiny ridge gives it a huge coefficient that
test samples then amplify. Generalised cross-validation (Golub, Heath and Wahba, 1979) picks the
penalty per fit without held-out data:

    GCV(r) = RSS(r) / (n (1 - df(r) / n)^2),   df(r) = sum_j e_j / (e_j + r),

with e_j the eigenvalues of the Gram matrix Z^H Z. Both RSS(r) and df(r) follow from the Gram
matrix, Z^H Y and ||Y||^2, so every candidate costs O(p q) after one eigendecomposition.
"""

from __future__ import annotations

import torch

#: Candidate penalties, relative to the mean diagonal of the Gram matrix (so they are unit-free).
RELATIVE_RIDGES: tuple[float, ...] = tuple(10.0**k for k in range(-8, 1))


def ridge_regression(inputs: torch.Tensor, targets: torch.Tensor, *, relative_ridges=RELATIVE_RIDGES) -> tuple[torch.Tensor, torch.Tensor]:
    """Map W minimising ||inputs W - targets||^2 + r ||W||^2, with r chosen by GCV per configuration.

    Args:
        inputs: centred ``(..., n, p)`` inputs Z (real or complex; float64 advised).
        targets: centred ``(..., n, q)`` targets Y, the same dtype kind as ``inputs``.
        relative_ridges: candidate penalties, as multiples of the mean diagonal of Z^H Z.

    Returns:
        ``W`` ``(..., p, q)`` and the chosen penalty ``r`` ``(...,)`` (absolute, float64).
    """
    n = inputs.shape[-2]
    gram = inputs.mH @ inputs  # (..., p, p)
    cross = inputs.mH @ targets  # (..., p, q)
    total = targets.abs().square().sum((-2, -1))  # (...,) ||Y||^2
    eigenvalues, vectors = torch.linalg.eigh(gram)
    eigenvalues = eigenvalues.clamp_min(0.0)  # (..., p), real
    projected = (vectors.mH @ cross).abs().square().sum(-1)  # (..., p): ||V_j^H Z^H Y||^2
    scale = eigenvalues.mean(-1, keepdim=True).clamp_min(1e-300)  # mean diagonal of the Gram matrix
    ridges = scale * torch.tensor(relative_ridges, dtype=eigenvalues.dtype, device=eigenvalues.device)  # (..., R)
    e, r = eigenvalues.unsqueeze(-2), ridges.unsqueeze(-1)  # (..., 1, p), (..., R, 1)
    # RSS(r) = ||Y||^2 - sum_j (2 / (e_j + r) - e_j / (e_j + r)^2) ||V_j^H Z^H Y||^2
    shrink = 2.0 / (e + r) - e / (e + r).square()
    rss = (total.unsqueeze(-1) - (shrink * projected.unsqueeze(-2)).sum(-1)).clamp_min(0.0)  # (..., R)
    dof = (e / (e + r)).sum(-1)  # (..., R)
    gcv = rss / (1.0 - dof / n).clamp_min(1e-12).square()
    best = torch.gather(ridges, -1, gcv.argmin(-1, keepdim=True)).squeeze(-1)  # (...,)
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    weights = torch.linalg.solve(gram + best[..., None, None].to(gram.dtype) * eye, cross)
    return weights, best
