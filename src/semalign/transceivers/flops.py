"""Inference FLOPs per latent vector (transmitter + receiver), one formula for every method.

Counted in real floating-point operations on the actual widths of each map (complex widths for
complex maps; the published code counted them twice):

- a complex multiply-accumulate is 8 FLOPs (4 multiplications, 2 additions for the product, 2 for
  the accumulation); a dense complex map with ``nnz`` non-zero weights costs 8 nnz, plus 2 per
  output for a complex bias or offset;
- a real multiply-accumulate is 2 FLOPs; a real map costs 2 nnz, plus 1 per output for an offset;
- the modulus GELU costs :data:`ACTIVATION_FLOPS` per complex unit: |z| (3 + 1 for the square
  root), Phi(|z|) (scaling 1, erf counted as 10, 1 + and x 0.5: 2) and z x Phi (2);
- the neural transmitter's per-sample power normalisation costs 4 per symbol for the squared norm,
  2 for the square root and scale, and 2 per symbol for the scaling;
- standardising an input or output feature costs 2 (subtract, multiply).

Whitening is folded into the linear precoder, so it is counted inside the precoder's dense map.
Packing real latents into complex symbols and unpacking are free (a reinterpretation).
"""

from __future__ import annotations

import torch

ACTIVATION_FLOPS = 20


def nonzeros(weight: torch.Tensor) -> torch.Tensor:
    """Non-zero entries of each configuration's ``(b, out, in)`` weight, ``(b,)`` int64."""
    return (weight != 0).flatten(-2).sum(-1)


def complex_dense_flops(weight: torch.Tensor, *, offset: bool = True) -> torch.Tensor:
    """FLOPs ``(b,)`` of y = W x (+ c) for complex ``(b, out, in)`` weights, counting only non-zeros."""
    return 8 * nonzeros(weight) + (2 * weight.shape[-2] if offset else 0)


def real_dense_flops(weight: torch.Tensor, *, offset: bool = True) -> torch.Tensor:
    """FLOPs ``(b,)`` of y = W x (+ c) for real ``(b, out, in)`` weights, counting only non-zeros."""
    return 2 * nonzeros(weight) + (weight.shape[-2] if offset else 0)


def power_normalisation_flops(n_symbols: int) -> int:
    """FLOPs of scaling ``n_symbols`` complex symbols to a fixed energy per sample."""
    return 4 * n_symbols + 2 + 2 * n_symbols
