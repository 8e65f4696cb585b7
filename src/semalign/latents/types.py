"""Containers for aligned latent spaces: what a latent source returns and a transceiver consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from semalign._checks import as_real_matrix, check_same_samples


@dataclass(frozen=True)
class LatentSplit:
    """Aligned latents of one data split, seen by both agents.

    Attributes:
        tx: ``(n, d_tx)`` float32, the transmitter agent's latents.
        rx: ``(n, d_rx)`` float32, the receiver agent's latents of the same samples, same order.
        labels: ``(n,)`` int64 class labels (used for pilot selection and the receiver's task).
    """

    tx: torch.Tensor
    rx: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        tx = as_real_matrix("tx", self.tx).to(torch.float32)
        rx = as_real_matrix("rx", self.rx).to(torch.float32)
        labels = torch.as_tensor(self.labels)
        if labels.ndim != 1 or labels.is_floating_point() or labels.is_complex():
            raise ValueError(f"labels must be a 1-D integer tensor, got dtype {labels.dtype} shape {tuple(labels.shape)}")
        check_same_samples("tx", tx, "rx", rx)
        if labels.shape[0] != tx.shape[0]:
            raise ValueError(f"labels has {labels.shape[0]} entries but tx/rx have {tx.shape[0]} samples")
        object.__setattr__(self, "tx", tx)
        object.__setattr__(self, "rx", rx)
        object.__setattr__(self, "labels", labels.to(torch.int64))

    def __len__(self) -> int:
        return self.tx.shape[0]

    def subset(self, indices: torch.Tensor) -> "LatentSplit":
        """Rows ``indices`` (global indices into this split) as a new split."""
        indices = torch.as_tensor(indices, dtype=torch.int64)
        return LatentSplit(self.tx[indices], self.rx[indices], self.labels[indices])


@dataclass(frozen=True)
class LatentPair:
    """Train and test splits of two agents' latent spaces, with provenance.

    Attributes:
        train, test: :class:`LatentSplit` with identical ``d_tx`` and ``d_rx``.
        tx_encoder, rx_encoder: names of the encoders that produced the latents (recorded in results).
        dataset: name of the source data set (recorded in results).
        metadata: free-form provenance (seeds, generator settings, file path...).
    """

    train: LatentSplit
    test: LatentSplit
    tx_encoder: str
    rx_encoder: str
    dataset: str
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.train.tx.shape[1] != self.test.tx.shape[1] or self.train.rx.shape[1] != self.test.rx.shape[1]:
            raise ValueError(
                "train and test latents must have the same dimensions: "
                f"train tx/rx dims {self.train.tx.shape[1]}/{self.train.rx.shape[1]}, "
                f"test tx/rx dims {self.test.tx.shape[1]}/{self.test.rx.shape[1]}"
            )

    @property
    def d_tx(self) -> int:
        return self.train.tx.shape[1]

    @property
    def d_rx(self) -> int:
        return self.train.rx.shape[1]

    @property
    def n_classes(self) -> int:
        return int(max(self.train.labels.max(), self.test.labels.max())) + 1
