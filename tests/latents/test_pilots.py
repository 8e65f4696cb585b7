"""Pilot selection returns global indices: k per group, each in its group, no duplicates.

Regression for the published defect: group-local indices applied globally.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semalign.latents import LatentSplit, pilot_groups, select_pilots


@pytest.fixture(scope="module")
def sorted_split():
    """Unequal classes stored in label order, so local and global indices differ a lot."""
    gen = torch.Generator().manual_seed(0)
    sizes = [30, 45, 25, 60]
    labels = torch.cat([torch.full((s,), c) for c, s in enumerate(sizes)])
    tx = torch.randn(len(labels), 5, generator=gen) + 3 * labels[:, None].float()
    rx = torch.randn(len(labels), 7, generator=gen)
    return LatentSplit(tx, rx, labels)


def _check_global(split, indices, groups, k):
    assert indices.dtype == torch.int64
    assert torch.equal(indices, torch.sort(indices).values)
    assert len(torch.unique(indices)) == len(indices)  # no duplicates
    assert indices.min() >= 0 and indices.max() < len(split)
    for group in torch.unique(groups):
        assert int((groups[indices] == group).sum()) == k  # exactly k from every group


@pytest.mark.parametrize("method", ["random", "centroid"])
def test_label_grouping_gives_global_indices(sorted_split, method):
    k = 20
    indices = select_pilots(sorted_split, k, method=method)
    _check_global(sorted_split, indices, sorted_split.labels, k)
    # The defective version could only return indices below the largest group size (60).
    assert int(indices.max()) >= 100
    assert len(indices) == 4 * k


def test_random_is_seeded_and_varies_with_seed(sorted_split):
    a = select_pilots(sorted_split, 10, seed=5)
    assert torch.equal(a, select_pilots(sorted_split, 10, seed=5))
    assert not torch.equal(a, select_pilots(sorted_split, 10, seed=6))
    state = torch.random.get_rng_state()
    select_pilots(sorted_split, 10, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_centroid_picks_the_nearest_to_each_class_mean(sorted_split):
    k = 7
    indices = set(select_pilots(sorted_split, k, method="centroid").tolist())
    tx, labels = sorted_split.tx.numpy().astype(np.float64), sorted_split.labels.numpy()
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        dist = np.linalg.norm(tx[members] - tx[members].mean(axis=0), axis=1)
        expected = set(members[np.argsort(dist, kind="stable")[:k]].tolist())
        assert expected <= indices


def test_all_samples_when_per_class_is_none(sorted_split):
    assert torch.equal(select_pilots(sorted_split, None), torch.arange(len(sorted_split)))


def test_full_class_selection_takes_everything(sorted_split):
    indices = select_pilots(sorted_split, 25)  # the smallest class has exactly 25
    assert set(torch.nonzero(sorted_split.labels == 2).flatten().tolist()) <= set(indices.tolist())


def test_too_many_pilots_names_the_group(sorted_split):
    with pytest.raises(ValueError, match="per_class=26 exceeds the size of class 2, which has 25 samples"):
        select_pilots(sorted_split, 26)


def test_cluster_grouping_follows_tx_geometry():
    # Four well separated TX blobs whose labels are unrelated to the blobs.
    gen = torch.Generator().manual_seed(1)
    blob = torch.arange(200) % 4
    centres = 20 * torch.eye(4, 6)
    tx = centres[blob] + torch.randn(200, 6, generator=gen)
    labels = torch.randint(0, 4, (200,), generator=gen)
    split = LatentSplit(tx, torch.randn(200, 3, generator=gen), labels)

    groups = pilot_groups(split, "cluster", seed=0)
    assert len(torch.unique(groups)) == 4  # default: as many clusters as labels
    # Clusters recover the blobs exactly (up to renaming).
    pairs = set(zip(groups.tolist(), blob.tolist()))
    assert len(pairs) == 4
    assert torch.equal(groups, pilot_groups(split, "cluster", seed=0))

    indices = select_pilots(split, 10, grouping="cluster", method="random", seed=0)
    _check_global(split, indices, groups, 10)
    _check_global(split, indices, blob, 10)
    centroid = select_pilots(split, 10, grouping="cluster", method="centroid")
    _check_global(split, centroid, blob, 10)

    two = pilot_groups(split, "cluster", n_clusters=2)
    assert len(torch.unique(two)) == 2
    with pytest.raises(ValueError, match="per_class=150 exceeds the size of cluster"):
        select_pilots(split, 150, grouping="cluster")


def test_invalid_arguments(sorted_split):
    with pytest.raises(ValueError, match="unknown method 'nearest'; expected one of 'random', 'centroid'"):
        select_pilots(sorted_split, 5, method="nearest")
    with pytest.raises(ValueError, match="unknown grouping 'kmeans'"):
        select_pilots(sorted_split, 5, grouping="kmeans")
    with pytest.raises(ValueError, match="per_class must be a positive integer, got 0"):
        select_pilots(sorted_split, 0)
    with pytest.raises(ValueError, match="n_clusters=3 applies only to grouping='cluster'"):
        select_pilots(sorted_split, 5, n_clusters=3)
    with pytest.raises(ValueError, match="n_clusters=1000 exceeds the number of samples"):
        select_pilots(sorted_split, 5, grouping="cluster", n_clusters=1000)
