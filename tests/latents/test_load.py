"""load_latents dispatch and its argument checks."""

from __future__ import annotations

import pytest
import torch

from semalign.latents import SOURCES, load_latents, synthetic_latents


def test_sources():
    assert SOURCES == ("digits", "synthetic", "file", "timm")


def test_synthetic_dispatch_passes_kwargs():
    pair = load_latents("synthetic", n_train=40, n_test=20, d_tx=6, d_rx=8, seed=2)
    direct = synthetic_latents(n_train=40, n_test=20, d_tx=6, d_rx=8, seed=2)
    assert torch.equal(pair.train.rx, direct.train.rx)


def test_default_source_is_digits(digits_cache_env):
    pair = load_latents()
    assert pair.dataset == "sklearn-digits" and pair.d_tx == 64


def test_unknown_source_lists_valid_ones():
    expected = r"unknown latent source 'cifar'; expected one of 'digits', 'synthetic', 'file'"
    with pytest.raises(ValueError, match=expected):
        load_latents("cifar")


def test_unknown_kwargs_are_named():
    with pytest.raises(ValueError, match=r"unknown argument\(s\) 'dim', 'size' for source 'synthetic'"):
        load_latents("synthetic", size=3, dim=4)
    with pytest.raises(ValueError, match=r"unknown argument\(s\) 'n_train' for source 'digits'"):
        load_latents("digits", n_train=3)


def test_file_source_needs_a_path(tmp_path):
    with pytest.raises(ValueError, match=r"source 'file' needs path="):
        load_latents("file")
    with pytest.raises(ValueError, match="do not pass path="):
        load_latents(str(tmp_path / "a.npz"), path="b.npz")
