"""Closed-form semantic best response of one secondary pair (spec game.md §4).

Given the others' interference plus noise covariance R, a pair's MSE after its Wiener decoder is

    MSE(F) = e_LS + tr(A (I + F^H K F)^{-1} A^H),   K = H^H R^{-1} H,

with A = E[y x~^H] the alignment matrix of whitened inputs x~ (m x d, complex) and e_LS the part no
transceiver can remove. The optimum pairs the i-th strongest semantic direction (right singular
vector of A, weight w_i = s_i^2) with the i-th strongest interference-whitened eigenmode of K (gain
lambda_i), with powers from semantic water-filling:

    F* = V_K[:, :k] diag(sqrt(p)) V_A[:, :k]^H,   MSE = e_LS + sum_{i<=k} w_i/(1 + lambda_i p_i) + sum_{i>k} w_i.

The three terms are the semantic mismatch, the channel and interference error, and the truncation
(compression) loss. The decoder is the Wiener filter G* = A F^H H^H (H F F^H H^H + R)^{-1}.
Everything is batched over leading axes and computed in complex128.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semalign.multiuser.water_filling import semantic_water_filling

_DTYPE = torch.complex128


@dataclass(frozen=True)
class BestResponse:
    """A pair's best response.

    Attributes:
        precoder: ``(..., n_T, d)`` F*, with ||F*||_F^2 = P.
        decoder: ``(..., m, n_R)`` Wiener G* for F*.
        powers: ``(..., k)`` stream powers p_i (sum P).
        gains: ``(..., k)`` whitened eigenmode gains lambda_i paired with the streams.
        weights: ``(..., k)`` semantic weights w_i of the streams sent.
        mse: ``(...,)`` MSE above e_LS: sum_{i<=k} w_i/(1 + lambda_i p_i) + sum_{i>k} w_i.
        covariance: ``(..., n_T, n_T)`` Q = F* F*^H, all that other pairs see of this one.
    """

    precoder: torch.Tensor
    decoder: torch.Tensor
    powers: torch.Tensor
    gains: torch.Tensor
    weights: torch.Tensor
    mse: torch.Tensor
    covariance: torch.Tensor


def wiener_decoder(alignment: torch.Tensor, channel: torch.Tensor, precoder: torch.Tensor, interference: torch.Tensor) -> torch.Tensor:
    """G = A F^H H^H (H F F^H H^H + R)^{-1}: the MMSE decoder ``(..., m, n_R)``."""
    hf = channel @ precoder
    system = hf @ hf.mH + interference
    return torch.linalg.solve(system, hf @ alignment.mH).mH  # system is Hermitian


def pair_mse(alignment: torch.Tensor, channel: torch.Tensor, precoder: torch.Tensor, decoder: torch.Tensor, interference: torch.Tensor) -> torch.Tensor:
    """MSE above e_LS of any (F, G): ||A||^2 - 2 Re tr(G H F A^H) + tr(G (H F F^H H^H + R) G^H) (spec §3)."""
    hf = channel @ precoder
    cross = torch.diagonal(decoder @ hf @ alignment.mH, dim1=-2, dim2=-1).sum(-1).real
    covariance = hf @ hf.mH + interference
    quadratic = torch.diagonal(decoder @ covariance @ decoder.mH, dim1=-2, dim2=-1).sum(-1).real
    return alignment.abs().square().sum((-2, -1)) - 2 * cross + quadratic


def semantic_best_response(alignment, channel, interference, power, *, method: str = "active-set") -> BestResponse:
    """Best response of one pair to the interference-plus-noise covariance ``interference``.

    Args:
        alignment: ``(..., m, d)`` complex alignment matrix A (receiver latent vs whitened transmitter latent).
        channel: ``(..., n_R, n_T)`` the pair's direct channel H.
        interference: ``(..., n_R, n_R)`` Hermitian positive definite R (noise plus the others' interference).
        power: P > 0.
        method: water-filling solver, see :func:`~semalign.multiuser.water_filling.semantic_water_filling`.
    """
    a = torch.as_tensor(alignment).to(_DTYPE)
    h = torch.as_tensor(channel).to(_DTYPE)
    r = torch.as_tensor(interference).to(_DTYPE)
    if h.shape[-2] != r.shape[-1] or r.shape[-1] != r.shape[-2]:
        raise ValueError(f"interference must be (n_R, n_R) = ({h.shape[-2]}, {h.shape[-2]}), got {tuple(r.shape[-2:])}")
    r = (r + r.mH) / 2
    chol, info = torch.linalg.cholesky_ex(r)
    if bool((info != 0).any()):
        raise ValueError("interference must be Hermitian positive definite (it includes the noise covariance)")
    h_white = torch.linalg.solve_triangular(chol, h, upper=False)  # R^{-1/2} H (Cholesky form)
    k_mat = h_white.mH @ h_white
    lam, v_k = torch.linalg.eigh((k_mat + k_mat.mH) / 2)
    lam, v_k = lam.flip(-1).clamp_min(0.0), v_k.flip(-1)  # strongest first
    _, s, vh_a = torch.linalg.svd(a, full_matrices=False)
    w_all = s.square()
    k = min(h.shape[-1], a.shape[-1], w_all.shape[-1])
    weights, gains = w_all[..., :k], lam[..., :k]
    powers, _ = semantic_water_filling(weights, gains, power, method=method)
    precoder = (v_k[..., :, :k] * powers.sqrt().to(_DTYPE).unsqueeze(-2)) @ vh_a[..., :k, :]
    decoder = wiener_decoder(a, h, precoder, r)
    mse = (weights / (1 + gains * powers)).sum(-1) + w_all[..., k:].sum(-1)
    return BestResponse(precoder, decoder, powers, gains, weights, mse, precoder @ precoder.mH)
