"""Complex-valued layers for b configurations trained at once (stacked weights, one batched GEMM).

Complex vectors travel in the *split layout*: a real tensor ``(..., 2w)`` holding ``[Re z | Im z]``
for w complex entries. It is exactly the layout of :func:`~semalign.link.packing.pack_complex`
(packing a real latent is then only padding it to even length), and it lets a complex dense layer
run as one real GEMM with the real composite [[Re W, -Im W], [Im W, Re W]]: the same arithmetic as
complex matrices, without the per-operation overhead of complex tensors and complex autograd on CPU.

A :class:`ComplexDenseStack` holds b independent complex dense layers, weights ``(b, out, in)``
(stored as real and imaginary parts) and biases ``(b, out)``, applied to ``(b, n, 2 in)`` inputs
(or ``(n, 2 in)`` inputs shared by every configuration). Training b configurations (SNRs, channels,
sparsity weights) is then one network with a leading configuration axis, not a Python loop of tiny
trainings; configurations do not interact because the loss is a sum of per-configuration losses
and Adam is element-wise.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def split_to_complex(z: torch.Tensor) -> torch.Tensor:
    """``(..., 2w)`` split layout -> ``(..., w)`` complex."""
    w = z.shape[-1] // 2
    return torch.complex(z[..., :w], z[..., w:])


def complex_to_split(z: torch.Tensor) -> torch.Tensor:
    """``(..., w)`` complex -> ``(..., 2w)`` split layout ``[Re z | Im z]``."""
    return torch.cat([z.real, z.imag], dim=-1)


def modulus_gelu(z: torch.Tensor) -> torch.Tensor:
    """Complex GELU on the modulus keeping the phase, GELU(|z|) e^{j arg z} (spec mimo.md §3.1), in
    the split layout ``(..., 2w)``.

    Since GELU(r) = r Phi(r) with Phi the standard normal CDF, this is z Phi(|z|): smooth, and
    defined at z = 0 without dividing by |z|.
    """
    w = z.shape[-1] // 2
    modulus = torch.sqrt(z[..., :w].square() + z[..., w:].square() + 1e-30)
    phi = 0.5 * (1.0 + torch.erf(modulus / math.sqrt(2.0)))
    return z * torch.cat([phi, phi], dim=-1)


class ComplexDenseStack(nn.Module):
    """b complex dense layers y = W x + c, W ``(b, out, in)`` stored as real parts ``weight_real``,
    ``weight_imag``; c ``(b, out)`` as ``bias_real``, ``bias_imag``.

    Initialisation (seeded by ``generator``): real and imaginary parts i.i.d. uniform with variance
    1/(2 in) each, so E|(W x)_k|^2 = ||x||^2 / in (Glorot/He-style scaling for complex layers);
    biases start at zero. Every configuration starts from the same draw, so a configuration's start
    does not depend on how many are trained together.
    """

    def __init__(self, b: int, n_in: int, n_out: int, *, generator: torch.Generator, device=None) -> None:
        super().__init__()
        bound = math.sqrt(3.0 / (2.0 * n_in))  # uniform(-a, a) has variance a^2 / 3
        parts = ((torch.rand((2, n_out, n_in), generator=generator, dtype=torch.float32) * 2 - 1) * bound).to(device)
        self.weight_real = nn.Parameter(parts[0].unsqueeze(0).repeat(b, 1, 1))
        self.weight_imag = nn.Parameter(parts[1].unsqueeze(0).repeat(b, 1, 1))
        self.bias_real = nn.Parameter(torch.zeros((b, n_out), device=device))
        self.bias_imag = nn.Parameter(torch.zeros((b, n_out), device=device))

    @property
    def n_in(self) -> int:
        return self.weight_real.shape[-1]

    @property
    def n_out(self) -> int:
        return self.weight_real.shape[-2]

    @property
    def weight(self) -> torch.Tensor:
        """The complex weights ``(b, out, in)`` (a detached copy, for counting and inspection)."""
        return torch.complex(self.weight_real.detach(), self.weight_imag.detach())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(b, n, 2 in)`` or shared ``(n, 2 in)`` split layout -> ``(b, n, 2 out)``."""
        wr, wi = self.weight_real, self.weight_imag
        composite = torch.cat([torch.cat([wr, -wi], dim=-1), torch.cat([wi, wr], dim=-1)], dim=-2)  # (b, 2out, 2in)
        bias = torch.cat([self.bias_real, self.bias_imag], dim=-1).unsqueeze(-2)
        return torch.matmul(x, composite.mT) + bias


class ComplexMLPStack(nn.Module):
    """Dense -> modulus GELU -> [dense -> modulus GELU] x hidden_layers -> dense, for b configurations.

    Args:
        b: configurations trained at once.
        widths: ``(in, hidden, ..., out)`` complex widths; ``len(widths) - 1`` dense layers.
    """

    def __init__(self, b: int, widths: tuple[int, ...], *, generator: torch.Generator, device=None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(ComplexDenseStack(b, w_in, w_out, generator=generator, device=device) for w_in, w_out in zip(widths[:-1], widths[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(b, n, 2 in)`` (or shared ``(n, 2 in)``) split layout -> ``(b, n, 2 out)``."""
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = modulus_gelu(x)
        return x

    @property
    def widths(self) -> tuple[int, ...]:
        """Complex widths ``(in, hidden, ..., out)``."""
        return (self.layers[0].n_in, *(layer.n_out for layer in self.layers))

    @classmethod
    def from_state(cls, widths: tuple[int, ...], state: dict[str, torch.Tensor]) -> "ComplexMLPStack":
        """A stack rebuilt from its widths and ``state_dict()`` (the configuration count comes from it)."""
        b = state["layers.0.weight_real"].shape[0]
        stack = cls(b, tuple(widths), generator=torch.Generator().manual_seed(0), device=state["layers.0.weight_real"].device)
        stack.load_state_dict(state)
        for p in stack.parameters():
            p.requires_grad_(False)
        return stack

    @property
    def hidden_units(self) -> int:
        """Complex units that go through an activation (every layer's output but the last)."""
        return sum(layer.n_out for layer in self.layers[:-1])

    def weight_pairs(self) -> list[tuple[nn.Parameter, nn.Parameter]]:
        """``(real, imaginary)`` weight parameters of every layer (what the L1 term penalises)."""
        return [(layer.weight_real, layer.weight_imag) for layer in self.layers]
