"""Semantic pilot selection: which training pairs the transmitter and receiver share to align.

Pilots are chosen per group (true class labels, or k-means clusters of the transmitter's latents),
``k`` per group, at random or nearest to the group's centroid in TX space.

Unlike the published code, which computed indices *within* each group's
subset and then applied them to the whole training set (so every "pilot" came from the first few
thousand rows, with duplicates), the indices here are mapped back to the split's own (global)
indices: every returned index belongs to its group, there are no duplicates, and each group
contributes exactly ``k``.
"""

from __future__ import annotations

import torch

from semalign._checks import check_choice, check_positive_int
from semalign._seeds import stream_generator
from semalign.latents.types import LatentSplit

PILOT_METHODS = ("random", "centroid")
PILOT_GROUPINGS = ("label", "cluster")
KMEANS_N_INIT = 10  # fixed (scikit-learn's default changed across versions); the published code used 10


def pilot_groups(
    split: LatentSplit, grouping: str = "label", *, n_clusters: int | None = None, seed: int = 0
) -> torch.Tensor:
    """Group id of every sample of ``split``: ``(n,)`` int64.

    Args:
        split: the training split.
        grouping: ``"label"`` (the class labels) or ``"cluster"`` (scikit-learn ``KMeans`` on the
            TX latents, ``n_init=10``, ``random_state=seed``).
        n_clusters: number of clusters for ``"cluster"`` (default: the number of distinct labels).
        seed: k-means seed.
    """
    check_choice("grouping", grouping, PILOT_GROUPINGS)
    if grouping == "label":
        if n_clusters is not None:
            raise ValueError(f"n_clusters={n_clusters!r} applies only to grouping='cluster', not grouping='label'")
        return split.labels.clone()
    if n_clusters is None:
        n_clusters = int(torch.unique(split.labels).numel())
    n_clusters = check_positive_int("n_clusters", n_clusters)
    if n_clusters > len(split):
        raise ValueError(f"n_clusters={n_clusters} exceeds the number of samples ({len(split)})")
    from sklearn.cluster import KMeans

    kmeans = KMeans(n_clusters=n_clusters, n_init=KMEANS_N_INIT, random_state=seed)
    assignment = kmeans.fit_predict(split.tx.detach().to("cpu", torch.float64).numpy())
    return torch.as_tensor(assignment, dtype=torch.int64, device=split.labels.device)


def select_pilots(
    split: LatentSplit,
    per_class: int | None,
    *,
    method: str = "random",
    grouping: str = "label",
    n_clusters: int | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Choose ``per_class`` pilot pairs from every group of ``split``.

    Args:
        split: the training split to draw pilots from.
        per_class: pilots per group ("semantic pilots per class"); ``None`` selects every sample.
        method: ``"random"`` — a uniformly random ``per_class``-subset of each group
            (``torch.Generator`` seeded with ``seed``, groups visited in increasing id order);
            ``"centroid"`` — the ``per_class`` samples closest (Euclidean, TX space) to the group's
            mean TX latent (ties broken by lower index).
        grouping: ``"label"`` or ``"cluster"``; see :func:`pilot_groups`.
        n_clusters: clusters for ``grouping="cluster"`` (default: number of distinct labels).
        seed: seed for random selection and k-means.

    Returns:
        ``(n_groups * per_class,)`` int64 **global** indices into ``split``, sorted ascending (use
        ``split.subset(indices)``); ``arange(len(split))`` when ``per_class`` is ``None``.

    Raises:
        ValueError: unknown method/grouping, or ``per_class`` larger than some group (the message
            names the group, its size and the request).
    """
    check_choice("method", method, PILOT_METHODS)
    check_choice("grouping", grouping, PILOT_GROUPINGS)
    device = split.labels.device
    if per_class is None:
        return torch.arange(len(split), device=device)
    k = check_positive_int("per_class", per_class)
    groups = pilot_groups(split, grouping, n_clusters=n_clusters, seed=seed).to("cpu")
    tx = split.tx.detach().to("cpu", torch.float64)
    gen = stream_generator("pilots", seed)
    what = "class" if grouping == "label" else "cluster"

    chosen = []
    for group in torch.unique(groups):  # sorted, so the random stream is used in a fixed order
        members = torch.nonzero(groups == group).flatten()  # global indices, ascending
        if k > len(members):
            raise ValueError(
                f"per_class={k} exceeds the size of {what} {int(group)}, which has {len(members)} samples; "
                f"expected per_class <= {len(members)}"
            )
        if method == "random":
            local = torch.randperm(len(members), generator=gen)[:k]
        else:
            distance = torch.linalg.vector_norm(tx[members] - tx[members].mean(dim=0), dim=1)
            local = torch.sort(distance, stable=True).indices[:k]
        # The fix for the published defect: map positions within the group back to global indices.
        chosen.append(members[local])
    return torch.sort(torch.cat(chosen)).values.to(device)
