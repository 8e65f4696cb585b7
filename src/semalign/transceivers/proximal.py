"""Sparsity by proximal gradient: the L1 prox step after each Adam step, and sparsity measurement.

The neural transceiver minimises  MSE + lam * sum_i |w_i|  over its complex weights (biases are not
penalised). Adam takes the gradient step on the MSE; :func:`proximal_l1_step` then applies the prox
of the L1 term in Adam's own diagonal metric: each complex weight is soft-thresholded on its modulus,

    w <- w * max(0, 1 - tau_i / |w|),   tau_i = lr * lam / (sqrt(v_i) + eps),

with v_i Adam's bias-corrected second moment. The modulus prox needs one scale per complex weight,
so the step first shares Adam's second moment between each weight's real and imaginary parts (their
mean: Adam's metric becomes isotropic per complex weight, as in complex-valued Adam). In this metric
the fixed points of "Adam step then prox" are the stationary points of MSE + lam ||W||_1: a weight
stays non-zero only where the MSE gradient reaches lam in size, and then points against it. That makes ``lam`` an
interpretable weight in loss units, unlike a threshold fixed at lr * lam (which, against Adam's
normalised steps, prunes everything once lam > 1).

Pruned weights are kept at zero through the optimiser state: their first moment is reset, so stale
momentum cannot move them; a weight re-enters only if its gradient alone is large enough, which is
how proximal gradient works (the published code masked gradients, which Adam's momentum
bypassed).
"""

from __future__ import annotations

import torch


@torch.no_grad()
def proximal_l1_step(optimizer: torch.optim.Adam, weights: list[torch.Tensor], lam: torch.Tensor) -> None:
    """Soft-threshold complex weights, given as ``(b, 2, out, in)`` parameters (real and imaginary
    parts on axis 1), in place after an Adam step.

    Args:
        optimizer: the Adam optimiser that has just stepped (its state gives the metric).
        weights: the penalised parameters.
        lam: ``(b,)`` L1 weight per configuration (0 leaves that configuration untouched).
    """
    group = optimizer.param_groups[0]
    lr, (_, beta2), eps = group["lr"], group["betas"], group["eps"]
    penalised = bool((lam > 0).any())
    for weight in weights:
        state = optimizer.state[weight]
        second = state["exp_avg_sq"]
        second.copy_(second.mean(1, keepdim=True).expand_as(second))  # one scale per complex weight
        if not penalised:
            continue
        v_hat = second[:, :1] / (1.0 - beta2 ** float(state["step"]))  # (b, 1, out, in)
        tau = lr * lam.view(-1, 1, 1, 1).to(v_hat.dtype) / (v_hat.sqrt() + eps)
        modulus = weight.square().sum(1, keepdim=True).sqrt()
        shrink = torch.clamp(1.0 - tau / modulus.clamp_min(1e-30), min=0.0)
        weight.mul_(shrink)
        state["exp_avg"].masked_fill_((shrink == 0).expand_as(weight), 0)


def sparsity(weights: list[torch.Tensor]) -> torch.Tensor:
    """Fraction of zero entries over all ``(b, out, in)`` (complex) weights, per configuration ``(b,)``."""
    zeros = sum((w == 0).flatten(-2).sum(-1) for w in weights)
    total = sum(w.shape[-2] * w.shape[-1] for w in weights)
    return zeros.to(torch.float64) / total
