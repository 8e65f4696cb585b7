"""MIMO maths shared by every setting: lifting a channel over T uses, the real composite of a complex
map, canonical phases of singular vectors and the power-ball projection.

Shapes follow Sionna's convention: channels ``(..., n_rx, n_tx)``, receive before transmit.
"""

from __future__ import annotations

import torch


def block_diagonal_channel(h: torch.Tensor, channel_uses: int) -> torch.Tensor:
    """``(..., n_rx, n_tx)`` -> ``(..., T n_rx, T n_tx)``: I_T (x) H, the channel seen by T symbol blocks
    (use-major: rows ``t n_rx ... (t + 1) n_rx - 1`` are the receive antennas at use t)."""
    if channel_uses == 1:
        return h
    eye = torch.eye(channel_uses, dtype=h.dtype, device=h.device)
    lifted = torch.einsum("tu,...ij->...tiuj", eye, h)  # exact: products with 1 and 0
    return lifted.reshape(*h.shape[:-2], channel_uses * h.shape[-2], channel_uses * h.shape[-1])


def subcarrier_block_diagonal(h: torch.Tensor) -> torch.Tensor:
    """``(..., S, n_rx, n_tx)`` -> ``(..., S n_rx, S n_tx)``: diag(H_1, ..., H_S), the channel of an OFDM
    link whose S subcarriers each carry n_tx symbols (subcarrier-major, like the channel uses)."""
    s = h.shape[-3]
    eye = torch.eye(s, dtype=h.dtype, device=h.device)
    lifted = torch.einsum("su,...sij->...siuj", eye, h)  # exact: products with 1 and 0
    return lifted.reshape(*h.shape[:-3], s * h.shape[-2], s * h.shape[-1])


def subcarrier_blocks(channel: torch.Tensor, subcarriers: int) -> torch.Tensor:
    """The diagonal blocks of block-diagonal channels: ``(..., S n_rx, S n_tx)`` diag(H_1, ..., H_S)
    -> ``(..., S, n_rx, n_tx)`` (the inverse of :func:`subcarrier_block_diagonal`; ``S = 1`` gives
    ``(..., 1, n_rx, n_tx)``)."""
    *batch, rows, cols = channel.shape
    r, c = rows // subcarriers, cols // subcarriers
    grid = channel.reshape(*batch, subcarriers, r, subcarriers, c)
    return torch.diagonal(grid, dim1=-4, dim2=-2).permute(*range(len(batch)), -1, -3, -2)  # (..., S, r, c)


def real_composite(h: torch.Tensor) -> torch.Tensor:
    """``(..., r, t)`` complex H -> ``(..., 2r, 2t)`` real [[Re H, -Im H], [Im H, Re H]].

    It maps [Re s; Im s] to [Re(H s); Im(H s)]: a real matrix acting on it is a widely linear map.
    """
    top = torch.cat([h.real, -h.imag], dim=-1)
    bottom = torch.cat([h.imag, h.real], dim=-1)
    return torch.cat([top, bottom], dim=-2)


def column_phases(vectors: torch.Tensor) -> torch.Tensor:
    """``(..., 1, k)`` unit-modulus factors that make each column's largest-modulus entry of
    ``(..., d, k)`` real and positive (see :func:`canonical_phase`)."""
    pivot = torch.gather(vectors, -2, vectors.abs().argmax(-2, keepdim=True))  # (..., 1, k)
    return (pivot / pivot.abs().clamp_min(1e-300)).conj()


def canonical_phase(vectors: torch.Tensor) -> torch.Tensor:
    """Fix the arbitrary sign (phase) of each column of ``(..., d, k)`` singular/eigen vectors.

    Each column is rotated so that its largest-modulus entry is real and positive, so results do not
    depend on the linear algebra backend (CPU and CUDA return different signs).
    """
    return vectors * column_phases(vectors)


def project_power_ball(c: torch.Tensor, power: float) -> torch.Tensor:
    """Euclidean projection of each ``(b, rows, cols)`` matrix on {||Z||_F^2 <= P} (the ADMM Z step)."""
    norm = torch.linalg.matrix_norm(c).view(-1, 1, 1)
    return c * torch.clamp(power**0.5 / norm.clamp_min(1e-300), max=1.0)
