"""The digits zoo: heterogeneous, accurate, deterministic encoders, cached once, RNG-neutral."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from sklearn.linear_model import LogisticRegression

from semalign._cache import cache_root
from semalign.latents import DEFAULT_RX, DEFAULT_TX, DIGITS_ENCODERS, digits_latents, load_latents
from semalign.latents import digits as digits_module
from semalign.latents.digits import ZOO_VERSION, encoder_spec


def _cached(root, name):
    path = root / ZOO_VERSION / f"{name}.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        return {k: handle.get_tensor(k) for k in handle.keys()}, handle.metadata()


def _linear_cka(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a.double() - a.double().mean(0)
    b = b.double() - b.double().mean(0)
    return float((a.T @ b).norm() ** 2 / ((a.T @ a).norm() * (b.T @ b).norm()))


def test_zoo_lists_heterogeneous_encoders():
    assert len(DIGITS_ENCODERS) >= 4
    specs = [encoder_spec(name) for name in DIGITS_ENCODERS]
    assert all(32 <= s.latent_dim <= 128 for s in specs)
    assert len({s.architecture for s in specs}) == len(specs)
    assert len({s.seed for s in specs}) == len(specs)
    assert encoder_spec(DEFAULT_TX).latent_dim == 64
    assert encoder_spec(DEFAULT_RX).latent_dim != 64
    assert encoder_spec(DEFAULT_RX).architecture.split()[0] != encoder_spec(DEFAULT_TX).architecture.split()[0]


def test_default_pair_shapes_and_split(digits_cache):
    pair = digits_latents(cache_dir=digits_cache)
    assert (pair.tx_encoder, pair.rx_encoder, pair.dataset) == (DEFAULT_TX, DEFAULT_RX, "sklearn-digits")
    assert pair.train.tx.shape == (1257, 64) and pair.test.tx.shape == (540, 64)
    assert pair.d_rx == encoder_spec(DEFAULT_RX).latent_dim
    assert pair.train.tx.dtype == torch.float32 and pair.train.labels.dtype == torch.int64
    assert pair.n_classes == 10
    # Stratified 70/30: every class is split in the same proportion (up to rounding).
    train_counts = torch.bincount(pair.train.labels, minlength=10)
    test_counts = torch.bincount(pair.test.labels, minlength=10)
    share = test_counts / (train_counts + test_counts)
    assert torch.all((share - 0.3).abs() < 0.02)
    assert pair.metadata["split"] == {"test_size": 0.3, "random_state": 0, "stratify": True}
    assert pair.metadata["tx"]["latent_dim"] == 64


@pytest.mark.parametrize("name", DIGITS_ENCODERS)
def test_encoders_are_accurate_and_full_rank(digits_cache, name):
    tensors, metadata = _cached(digits_cache, name)
    assert float(metadata["test_accuracy"]) > 0.9
    assert json.loads(metadata["recipe"])["seed"] == encoder_spec(name).seed
    assert metadata["torch_version"] == torch.__version__
    # Independent check that the latents carry the classes: a fresh linear probe on them.
    probe = LogisticRegression(max_iter=2000).fit(tensors["train_latents"].numpy(), tensors["train_labels"].numpy())
    assert probe.score(tensors["test_latents"].numpy(), tensors["test_labels"].numpy()) > 0.9
    # Downstream pre-whitening needs a non-singular latent covariance (no dead units).
    eig = torch.linalg.eigvalsh(torch.cov(tensors["train_latents"].double().T))
    assert eig[0] > 0 and eig[-1] / eig[0] < 1e7


def test_latent_spaces_differ_across_encoders(digits_cache):
    latents = {name: _cached(digits_cache, name)[0]["train_latents"] for name in DIGITS_ENCODERS}
    assert _linear_cka(latents[DEFAULT_TX], latents[DEFAULT_TX]) == pytest.approx(1.0)
    for a, b in itertools.combinations(DIGITS_ENCODERS, 2):
        cka = _linear_cka(latents[a], latents[b])
        assert 0.5 < cka < 0.98, (a, b, cka)  # related (same images, same classes) but not the same space


def test_cached_load_does_not_retrain_or_rewrite(digits_cache, monkeypatch):
    files = sorted((digits_cache / ZOO_VERSION).glob("*.safetensors"))
    assert [f.stem for f in files] == sorted(DIGITS_ENCODERS)
    before = {f: f.stat().st_mtime_ns for f in files}

    def fail(*args, **kwargs):
        raise AssertionError("retrained an encoder that was cached")

    class NoProgress:
        def __init__(self, *args, **kwargs):
            raise AssertionError("progress display shown while loading from cache")

    monkeypatch.setattr(digits_module, "_train_encoder", fail)
    monkeypatch.setattr("rich.progress.Progress", NoProgress)
    pair = digits_latents("cnn48-tanh", "mlp96-gelu", cache_dir=digits_cache)
    assert pair.d_tx == 48 and pair.d_rx == 96
    assert {f: f.stat().st_mtime_ns for f in files} == before
    assert not list((digits_cache / ZOO_VERSION).glob(".*.tmp"))


def test_env_var_selects_cache(digits_cache_env, monkeypatch):
    monkeypatch.setattr(digits_module, "_train_encoder", lambda *a, **k: pytest.fail("retrained"))
    pair = load_latents("digits", tx="mlp32-tanh")
    assert pair.metadata["cache_dir"] == str(digits_cache_env / ZOO_VERSION)
    assert pair.d_tx == 32


def test_cache_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("SEMALIGN_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert cache_root() == tmp_path / "a"
    monkeypatch.delenv("SEMALIGN_CACHE")
    assert cache_root() == tmp_path / "xdg" / "semalign"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "semalign"


def test_training_is_deterministic_and_leaves_global_rng_alone(digits_cache, tmp_path):
    # Train one (cheap) encoder twice in fresh caches; compare with the session zoo as well.
    torch.manual_seed(1234)
    state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    first = digits_latents("mlp64", "mlp64", cache_dir=tmp_path / "a")
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.get_num_threads() == threads  # training runs single-threaded, then restores
    second = digits_latents("mlp64", "mlp64", cache_dir=tmp_path / "b")
    assert torch.equal(torch.random.get_rng_state(), state)
    reference, _ = _cached(digits_cache, "mlp64")
    for pair in (first, second):
        assert torch.equal(pair.train.tx, reference["train_latents"])
        assert torch.equal(pair.test.tx, reference["test_latents"])
    # Only the requested encoder was trained.
    assert [f.name for f in (tmp_path / "a" / ZOO_VERSION).iterdir()] == ["mlp64.safetensors"]


def test_damaged_cache_is_rebuilt(digits_cache, tmp_path):
    target = tmp_path / ZOO_VERSION / "mlp64.safetensors"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not a safetensors file")
    pair = digits_latents("mlp64", "mlp64", cache_dir=tmp_path)
    reference, _ = _cached(digits_cache, "mlp64")
    assert torch.equal(pair.train.tx, reference["train_latents"])
    assert torch.equal(_cached(tmp_path, "mlp64")[0]["train_latents"], reference["train_latents"])


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(digits_module, "safetensors_save", boom)
    with pytest.raises(KeyboardInterrupt):
        digits_latents("mlp64", "mlp64", cache_dir=tmp_path)
    assert list((tmp_path / ZOO_VERSION).iterdir()) == []


def test_same_encoder_on_both_sides_gives_identical_latents(digits_cache):
    pair = digits_latents("mlp32-tanh", "mlp32-tanh", cache_dir=digits_cache)
    assert torch.equal(pair.train.tx, pair.train.rx)


def test_unknown_encoder_lists_valid_names(tmp_path):
    with pytest.raises(ValueError, match=r"unknown digits encoder 'vit'.*'mlp64'.*'cnn128'"):
        digits_latents(tx="vit", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown digits encoder 'resnet'"):
        digits_latents(rx="resnet", cache_dir=tmp_path)
    assert not (tmp_path / ZOO_VERSION).exists()


def test_inputs_scaled_to_unit_interval():
    x_train, x_test, y_train, y_test = digits_module._digits_split()
    assert x_train.shape == (1257, 64) and x_test.shape == (540, 64)
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert set(np.unique(y_train)) == set(range(10))
