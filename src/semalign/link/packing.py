"""Real <-> complex packing of latent vectors.

A real d-vector becomes ceil(d/2) complex symbols: the first half of the coordinates is the real
part, the second half the imaginary part (an odd d is zero-padded with one coordinate first). This
is the packing of the published code, written batch first.
"""

from __future__ import annotations

import torch


def complex_dim(d: int) -> int:
    """Number of complex symbols that carry a real ``d``-vector: ``ceil(d / 2)``."""
    return (int(d) + 1) // 2


def pack_complex(x: torch.Tensor) -> torch.Tensor:
    """Pack real latents into complex symbols.

    Args:
        x: ``(..., d)`` real tensor.

    Returns:
        ``(..., ceil(d/2))`` complex tensor ``x[..., :h] + 1j * x[..., h:]`` after zero-padding to even
        ``d`` (complex64 for float32 input, complex128 for float64).
    """
    if x.is_complex():
        raise ValueError(f"pack_complex expects real input, got dtype {x.dtype}")
    d = x.shape[-1]
    if d % 2:
        x = torch.nn.functional.pad(x, (0, 1))
    half = x.shape[-1] // 2
    return torch.complex(x[..., :half], x[..., half:])


def unpack_complex(z: torch.Tensor, d: int) -> torch.Tensor:
    """Inverse of :func:`pack_complex`.

    Args:
        z: ``(..., ceil(d/2))`` complex tensor.
        d: the real dimension to return (drops the zero pad of an odd ``d``).

    Returns:
        ``(..., d)`` real tensor ``[Re z, Im z][..., :d]``.
    """
    if z.shape[-1] != complex_dim(d):
        raise ValueError(f"unpack_complex: z has {z.shape[-1]} complex entries, expected ceil({d}/2) = {complex_dim(d)}")
    return torch.cat([z.real, z.imag], dim=-1)[..., :d]


def pack_complex_moment(moment: torch.Tensor) -> torch.Tensor:
    """The complex moment of packed vectors from the real moment of the latents.

    For real latents x_i ``(d_1)`` and y_i ``(d_2)`` with real moment M = sum_i x_i y_i^T ``(..., d_1,
    d_2)``, returns sum_i pack(x_i) pack(y_i)^H ``(..., ceil(d_1/2), ceil(d_2/2))``: with x = [a; b]
    and y = [p; q] split in halves, it is (a p^T + b q^T) + j (b p^T - a q^T) summed. One real GEMM
    over the samples then gives a complex covariance or cross-covariance, without forming the
    complex latents.
    """
    if moment.is_complex():
        raise ValueError(f"pack_complex_moment expects a real moment, got dtype {moment.dtype}")
    rows, cols = moment.shape[-2], moment.shape[-1]
    moment = torch.nn.functional.pad(moment, (0, cols % 2, 0, rows % 2))
    a, b = complex_dim(rows), complex_dim(cols)
    real = moment[..., :a, :b] + moment[..., a:, b:]
    imag = moment[..., a:, :b] - moment[..., :a, b:]
    return torch.complex(real, imag)
