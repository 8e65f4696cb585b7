"""Complex-valued layers for b configurations trained at once (stacked weights, one batched GEMM).

Two layouts carry complex vectors as real tensors:

* the *split layout* ``(..., 2w)`` = ``[Re z | Im z]``: exactly the layout of
  :func:`~semalign.link.packing.pack_complex` (packing a real latent is then only padding it to
  even length) and of the link's real composite channel;
* the *stacked layout* ``(b, 2, n, w)``: real and imaginary parts on axis 1. The layers compute in
  it: both parts of n samples go through one GEMM with the weights' real and imaginary parts
  stacked, ``(b, 2n, in) @ (b, in, 2 out)``, and the four partial products combine into
  Re = Re x Re W - Im x Im W and Im = Re x Im W + Im x Re W. That is the arithmetic of complex
  matrices, without complex autograd's per-operation overhead on CPU and without building a
  ``(2 out, 2 in)`` real composite of every weight at every step.

A :class:`ComplexDenseStack` holds b independent complex dense layers, weights ``(b, 2, out, in)``
(real and imaginary parts) and biases ``(b, 2, 1, out)``. Training b configurations (SNRs,
channels, sparsity weights, seeds) is then one network with a leading configuration axis, not a
Python loop of tiny trainings; configurations do not interact because the loss is a sum of
per-configuration losses and Adam is element-wise.
"""

from __future__ import annotations

import math

import torch
from torch import nn

_EPS = 1e-30  # inside |z| = sqrt(Re^2 + Im^2 + eps): defined, and differentiable, at z = 0
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def split_to_complex(z: torch.Tensor) -> torch.Tensor:
    """``(..., 2w)`` split layout -> ``(..., w)`` complex."""
    w = z.shape[-1] // 2
    return torch.complex(z[..., :w], z[..., w:])


def complex_to_split(z: torch.Tensor) -> torch.Tensor:
    """``(..., w)`` complex -> ``(..., 2w)`` split layout ``[Re z | Im z]``."""
    return torch.cat([z.real, z.imag], dim=-1)


def split_to_stacked(z: torch.Tensor) -> torch.Tensor:
    """``(b, n, 2w)`` split layout -> ``(b, 2, n, w)`` stacked layout (a view when possible)."""
    b, n, width = z.shape
    return z.view(b, n, 2, width // 2).transpose(1, 2)


def stacked_to_split(z: torch.Tensor) -> torch.Tensor:
    """``(b, 2, n, w)`` stacked layout -> ``(b, n, 2w)`` split layout."""
    b, _, n, w = z.shape
    return z.transpose(1, 2).reshape(b, n, 2 * w)


class _ModulusGelu(torch.autograd.Function):
    """z Phi(|z|) on the stacked layout, with its gradient in closed form: for r = |z| and
    s = Re(conj(z) g) (the incoming gradient g),

        d/dz [z Phi(r)]^T g = Phi(r) g + (phi(r) / r) s z,

    phi the standard normal density. Three saved tensors and a few fused passes, instead of the
    dozen intermediate tensors autograd keeps for the composed expression."""

    @staticmethod
    def forward(ctx, z: torch.Tensor) -> torch.Tensor:
        r = (z.square().sum(1, keepdim=True) + _EPS).sqrt()  # (b, 1, n, w)
        phi = torch.special.ndtr(r)
        ctx.save_for_backward(z, r, phi)
        return z * phi

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        z, r, phi = ctx.saved_tensors
        density_over_r = torch.exp(-0.5 * r.square()) * _INV_SQRT_2PI / r
        s = (z * grad).sum(1, keepdim=True)
        return grad * phi + z * (s * density_over_r)


class _ComplexDense(torch.autograd.Function):
    """Y = X W^T + c on the stacked layout, with hand-written backward passes: one GEMM forward
    and one per gradient, and no full-size zero tensors for the gradients of strided views (what
    autograd would build for the four partial products).

    Shapes: x ``(b | 1, 2, n, in)``, weight ``(b, 2, out, in)``, bias ``(b, 2, 1, out)``.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, _, n_out, n_in = weight.shape
        n = x.shape[-2]
        rows = x.reshape(x.shape[0], 2 * n, n_in)  # Re x then Im x: one GEMM for both
        products = (rows @ weight.reshape(b, 2 * n_out, n_in).mT).view(b, 2, n, 2, n_out)
        out = torch.empty((b, 2, n, n_out), dtype=products.dtype, device=products.device)
        torch.sub(products[:, 0, :, 0], products[:, 1, :, 1], out=out[:, 0])  # Re x Re W - Im x Im W
        torch.add(products[:, 0, :, 1], products[:, 1, :, 0], out=out[:, 1])  # Re x Im W + Im x Re W
        out += bias
        ctx.save_for_backward(rows, weight)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        rows, weight = ctx.saved_tensors
        b, _, n_out, n_in = weight.shape
        n = grad.shape[-2]
        # Rows (input part a, sample) x columns (weight part c, output): the gradient's pairing
        # [[g_re, g_im], [g_im, -g_re]] serves both the input and the weight gradient.
        paired = torch.empty((b, 2, n, 2, n_out), dtype=grad.dtype, device=grad.device)
        paired[:, 0, :, 0] = grad[:, 0]
        paired[:, 0, :, 1] = grad[:, 1]
        paired[:, 1, :, 0] = grad[:, 1]
        torch.neg(grad[:, 0], out=paired[:, 1, :, 1])
        paired = paired.view(b, 2 * n, 2 * n_out)
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = (paired @ weight.reshape(b, 2 * n_out, n_in)).view(b, 2, n, n_in)
            if rows.shape[0] != b:  # an input shared by every configuration
                grad_x = grad_x.sum(0, keepdim=True)
        if ctx.needs_input_grad[1]:
            grad_weight = (paired.mT @ rows).view(b, 2, n_out, n_in)
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum(2, keepdim=True)
        return grad_x, grad_weight, grad_bias


def modulus_gelu_stacked(z: torch.Tensor) -> torch.Tensor:
    """GELU(|z|) e^{j arg z} = z Phi(|z|) in the stacked layout ``(b, 2, n, w)``."""
    return _ModulusGelu.apply(z)


def modulus_gelu(z: torch.Tensor) -> torch.Tensor:
    """Complex GELU on the modulus keeping the phase, GELU(|z|) e^{j arg z}, in the split layout
    ``(..., 2w)``.

    Since GELU(r) = r Phi(r) with Phi the standard normal CDF, this is z Phi(|z|): smooth, and
    defined at z = 0 without dividing by |z|.
    """
    flat = z.reshape(1, -1, z.shape[-1])
    return stacked_to_split(modulus_gelu_stacked(split_to_stacked(flat))).reshape(z.shape)


class ComplexDenseStack(nn.Module):
    """b complex dense layers y = W x + c: W ``(b, out, in)`` stored as ``weight_parts``
    ``(b, 2, out, in)`` (real, imaginary), c ``(b, out)`` as ``bias_parts`` ``(b, 2, 1, out)``.

    Initialisation (seeded by ``generator``): real and imaginary parts i.i.d. uniform with variance
    1/(2 in) each, so E|(W x)_k|^2 = ||x||^2 / in (Glorot/He-style scaling for complex layers);
    biases start at zero. Every configuration starts from the same draw, so a configuration's start
    does not depend on how many are trained together.
    """

    def __init__(self, b: int, n_in: int, n_out: int, *, generator: torch.Generator, device=None) -> None:
        super().__init__()
        bound = math.sqrt(3.0 / (2.0 * n_in))  # uniform(-a, a) has variance a^2 / 3
        parts = ((torch.rand((2, n_out, n_in), generator=generator, dtype=torch.float32) * 2 - 1) * bound).to(device)
        self.weight_parts = nn.Parameter(parts.unsqueeze(0).repeat(b, 1, 1, 1))
        self.bias_parts = nn.Parameter(torch.zeros((b, 2, 1, n_out), device=device))

    @property
    def n_in(self) -> int:
        return self.weight_parts.shape[-1]

    @property
    def n_out(self) -> int:
        return self.weight_parts.shape[-2]

    @property
    def weight_real(self) -> torch.Tensor:
        """Real parts ``(b, out, in)`` of the weights (a view: writing to it changes the layer)."""
        return self.weight_parts[:, 0]

    @property
    def weight_imag(self) -> torch.Tensor:
        """Imaginary parts ``(b, out, in)`` of the weights (a view)."""
        return self.weight_parts[:, 1]

    @property
    def bias_real(self) -> torch.Tensor:
        """Real parts ``(b, out)`` of the biases (a view)."""
        return self.bias_parts[:, 0, 0]

    @property
    def bias_imag(self) -> torch.Tensor:
        """Imaginary parts ``(b, out)`` of the biases (a view)."""
        return self.bias_parts[:, 1, 0]

    @property
    def weight(self) -> torch.Tensor:
        """The complex weights ``(b, out, in)`` (a detached copy, for counting and inspection)."""
        return torch.complex(self.weight_parts[:, 0].detach(), self.weight_parts[:, 1].detach())

    def forward_stacked(self, x: torch.Tensor) -> torch.Tensor:
        """``(b, 2, n, in)`` (or ``(1, 2, n, in)`` shared by every configuration) -> ``(b, 2, n, out)``."""
        return _ComplexDense.apply(x, self.weight_parts, self.bias_parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(b, n, 2 in)`` or shared ``(n, 2 in)`` split layout -> ``(b, n, 2 out)``."""
        return stacked_to_split(self.forward_stacked(split_to_stacked(x if x.ndim == 3 else x.unsqueeze(0))))


class ComplexMLPStack(nn.Module):
    """Dense -> modulus GELU -> [dense -> modulus GELU] x hidden_layers -> dense, for b configurations.

    Args:
        b: configurations trained at once.
        widths: ``(in, hidden, ..., out)`` complex widths; ``len(widths) - 1`` dense layers.
    """

    def __init__(self, b: int, widths: tuple[int, ...], *, generator: torch.Generator, device=None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(ComplexDenseStack(b, w_in, w_out, generator=generator, device=device) for w_in, w_out in zip(widths[:-1], widths[1:]))

    def forward_stacked(self, x: torch.Tensor) -> torch.Tensor:
        """``(b, 2, n, in)`` (or shared ``(1, 2, n, in)``) stacked layout -> ``(b, 2, n, out)``."""
        for i, layer in enumerate(self.layers):
            x = layer.forward_stacked(x)
            if i < len(self.layers) - 1:
                x = modulus_gelu_stacked(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(b, n, 2 in)`` (or shared ``(n, 2 in)``) split layout -> ``(b, n, 2 out)``."""
        return stacked_to_split(self.forward_stacked(split_to_stacked(x if x.ndim == 3 else x.unsqueeze(0))))

    @property
    def widths(self) -> tuple[int, ...]:
        """Complex widths ``(in, hidden, ..., out)``."""
        return (self.layers[0].n_in, *(layer.n_out for layer in self.layers))

    @classmethod
    def from_state(cls, widths: tuple[int, ...], state: dict[str, torch.Tensor]) -> ComplexMLPStack:
        """A stack rebuilt from its widths and ``state_dict()`` (the configuration count comes from
        it). State dicts of semalign 0.2.0 development builds, with separate real and imaginary
        parameters, are read too."""
        state = _stacked_state(state)
        b = state["layers.0.weight_parts"].shape[0]
        stack = cls(b, tuple(widths), generator=torch.Generator().manual_seed(0), device=state["layers.0.weight_parts"].device)
        stack.load_state_dict(state)
        for p in stack.parameters():
            p.requires_grad_(False)
        return stack

    @classmethod
    def concatenate(cls, stacks: list[ComplexMLPStack]) -> ComplexMLPStack:
        """One stack holding the configurations of ``stacks`` (equal widths) one after another."""
        merged = {key: torch.cat([s.state_dict()[key] for s in stacks]) for key in stacks[0].state_dict()}
        stack = cls.from_state(stacks[0].widths, merged)
        for p in stack.parameters():
            p.requires_grad_(True)
        return stack

    def select(self, start: int, stop: int) -> ComplexMLPStack:
        """The configurations ``start:stop`` as a stack of their own (copied, not trainable)."""
        return ComplexMLPStack.from_state(self.widths, {k: v[start:stop].detach().clone() for k, v in self.state_dict().items()})

    @property
    def hidden_units(self) -> int:
        """Complex units that go through an activation (every layer's output but the last)."""
        return sum(layer.n_out for layer in self.layers[:-1])

    def weight_parameters(self) -> list[nn.Parameter]:
        """The ``(b, 2, out, in)`` weight parameters of every layer (what the L1 term penalises)."""
        return [layer.weight_parts for layer in self.layers]


def _stacked_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict with ``weight_parts``/``bias_parts``, converted from separate real and imaginary
    parameters if need be."""
    if not any(key.endswith("weight_real") for key in state):
        return state
    out = {}
    for key in state:
        if key.endswith("weight_real"):
            prefix = key[: -len("weight_real")]
            out[prefix + "weight_parts"] = torch.stack([state[key], state[prefix + "weight_imag"]], dim=1)
            out[prefix + "bias_parts"] = torch.stack([state[prefix + "bias_real"], state[prefix + "bias_imag"]], dim=1).unsqueeze(2)
    return out
