"""The receiver's downstream task: a classifier trained on clean receiver latents, and the metrics.

The head follows the published one in spirit: the latent is L2-normalised, so
accuracy does not depend on the scale of ŷ, then LayerNorm -> Linear -> GELU -> Linear. It is
trained once per (receiver encoder, seed) on the clean training latents and then judges every
method's estimates ŷ of the test latents.
"""

from __future__ import annotations

import torch
from torch import nn

from semalign._checks import as_real_matrix
from semalign._seeds import stream_generator


class ClassifierHead(nn.Module):
    """``(n, d)`` latents -> ``(n, n_classes)`` logits."""

    def __init__(self, d: int, n_classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, n_classes))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(nn.functional.normalize(z, dim=-1))


def train_classifier(
    latents: torch.Tensor,
    labels: torch.Tensor,
    *,
    seed: int,
    epochs: int = 200,
    batch_size: int = 512,
    lr: float = 3e-3,
    hidden: int = 64,
    device: str | torch.device = "cpu",
) -> ClassifierHead:
    """Train the receiver's classifier on clean latents ``(n, d)`` with labels ``(n,)``.

    Deterministic for a given ``seed``: initialisation and shuffling use a forked RNG, so the
    caller's global RNG state is left untouched. ``epochs`` full passes of Adam with mini-batches.
    """
    latents = as_real_matrix("latents", latents).to(device=device, dtype=torch.float32)
    labels = torch.as_tensor(labels, dtype=torch.int64, device=device)
    n_classes = int(labels.max()) + 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        head = ClassifierHead(latents.shape[1], n_classes, hidden).to(device)
    gen = stream_generator("classifier", seed)
    optimiser = torch.optim.Adam(head.parameters(), lr=lr)
    n = latents.shape[0]
    # Fewer epochs for large sets: the number of optimisation steps, not passes, is what matters.
    epochs = max(5, min(epochs, (epochs * 4 * batch_size) // max(n, 1)))
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).to(device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(head(latents[idx]), labels[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return head.eval()


@torch.no_grad()
def accuracy(head: ClassifierHead, latents: torch.Tensor, labels: torch.Tensor) -> float:
    """Plain (micro) accuracy of ``head`` on ``(n, d)`` latents: the fraction of correct labels.

    Raises:
        ValueError: ``latents`` is not ``(n, d)`` with one row per label (a batch of configurations
            ``(b, n, d)`` must be scored one configuration at a time).
    """
    labels = torch.as_tensor(labels)
    if latents.ndim != 2 or labels.ndim != 1 or latents.shape[0] != labels.shape[0]:
        raise ValueError(
            f"accuracy needs (n, d) latents and (n,) labels, got latents of shape {tuple(latents.shape)} and labels of shape {tuple(labels.shape)}"
        )
    param = next(head.parameters())
    logits = head(latents.to(device=param.device, dtype=torch.float32))
    return float((logits.argmax(-1).cpu() == labels.cpu()).float().mean())


def mse(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """Mean squared error per latent entry, averaged over samples and dimensions."""
    # In the inputs' precision on their device (torch's cascade summation keeps float32 means accurate).
    dtype = torch.promote_types(y_hat.dtype, y.dtype)
    return float(torch.nn.functional.mse_loss(y_hat.to(dtype), y.to(device=y_hat.device, dtype=dtype)))
