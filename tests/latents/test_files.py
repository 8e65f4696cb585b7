"""User latent files: round trips in every format, the joint layout's split, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from semalign.latents import file_latents, load_latents, save_latents, synthetic_latents
from semalign.latents import files as files_module

FORMATS = (".npz", ".safetensors", ".pt")


def _write(path, arrays: dict[str, np.ndarray]):
    """Write plain arrays in the format given by ``path``'s suffix (as a user would)."""
    if path.suffix == ".npz":
        np.savez(path, **arrays)
    elif path.suffix == ".safetensors":
        save_file({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}, str(path))
    else:
        torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, path)


def _joint_arrays(n=103, n_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    rng.shuffle(labels)
    tx = rng.normal(size=(n, 6)).astype(np.float32)
    tx[:, 0] = np.arange(n)  # row id, to check that rows stay aligned through the split
    rx = rng.normal(size=(n, 9)).astype(np.float32)
    rx[:, 0] = np.arange(n)
    return {"tx": tx, "rx": rx, "labels": labels.astype(np.int64)}


@pytest.fixture(scope="module")
def small_pair():
    return synthetic_latents(n_train=60, n_test=30, d_tx=5, d_rx=7, seed=1)


@pytest.mark.parametrize("suffix", FORMATS)
def test_round_trip(small_pair, tmp_path, suffix):
    path = save_latents(small_pair, tmp_path / f"pair{suffix}")
    loaded = file_latents(path)
    for split in ("train", "test"):
        for key in ("tx", "rx", "labels"):
            assert torch.equal(getattr(getattr(loaded, split), key), getattr(getattr(small_pair, split), key))
    assert (loaded.tx_encoder, loaded.rx_encoder, loaded.dataset) == (
        small_pair.tx_encoder, small_pair.rx_encoder, small_pair.dataset,
    )  # fmt: skip
    assert loaded.metadata["layout"] == "split" and loaded.metadata["format"] == suffix[1:]
    assert loaded.metadata["stored_metadata"]["proximity"] == small_pair.metadata["proximity"]
    assert [p.name for p in tmp_path.iterdir()] == [f"pair{suffix}"]  # no temporary files left


@pytest.mark.parametrize("suffix", FORMATS)
def test_joint_layout_is_split_stratified_and_aligned(tmp_path, suffix):
    arrays = _joint_arrays()
    path = tmp_path / f"joint{suffix}"
    _write(path, arrays)
    pair = file_latents(path)
    assert pair.metadata["layout"] == "joint"
    assert pair.metadata["split"] == {"test_fraction": 0.2, "seed": 0, "stratified": True}
    assert (pair.tx_encoder, pair.dataset) == ("joint-tx", "joint")
    train_ids, test_ids = pair.train.tx[:, 0].long(), pair.test.tx[:, 0].long()
    # A partition of the rows, rows kept aligned across tx, rx and labels.
    assert sorted(torch.cat([train_ids, test_ids]).tolist()) == list(range(103))
    for split, ids in ((pair.train, train_ids), (pair.test, test_ids)):
        assert torch.equal(split.rx[:, 0].long(), ids)
        assert torch.equal(split.labels, torch.from_numpy(arrays["labels"])[ids])
    # Stratified: about 20 % of every class in test.
    class_sizes = np.bincount(arrays["labels"])
    test_counts = torch.bincount(pair.test.labels, minlength=4).numpy()
    assert np.array_equal(test_counts, np.floor(0.2 * class_sizes + 0.5).astype(int))
    # Deterministic, and the seed matters.
    assert torch.equal(file_latents(path).test.tx, pair.test.tx)
    assert not torch.equal(file_latents(path, split_seed=1).test.tx, pair.test.tx)


def test_load_latents_accepts_paths(small_pair, tmp_path):
    path = save_latents(small_pair, tmp_path / "pair.npz")
    for source in (path, str(path)):
        assert torch.equal(load_latents(source).train.tx, small_pair.train.tx)
    assert torch.equal(load_latents("file", path=path).test.rx, small_pair.test.rx)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        file_latents(tmp_path / "nothing.npz")


def test_unknown_suffix(tmp_path):
    (tmp_path / "latents.csv").write_text("1,2\n")
    with pytest.raises(ValueError, match=r"unsupported suffix '.csv'; expected one of .npz, .safetensors, .pt"):
        file_latents(tmp_path / "latents.csv")


@pytest.mark.parametrize("suffix", FORMATS)
def test_missing_keys_name_found_and_expected(tmp_path, suffix):
    arrays = _joint_arrays()
    path = tmp_path / f"partial{suffix}"
    _write(path, {"tx": arrays["tx"], "y": arrays["rx"]})
    with pytest.raises(ValueError, match=r"found keys \[tx, y\]; expected either \[train_tx.*\] or \[tx, rx, labels\]"):
        file_latents(path)


def test_mismatched_counts(tmp_path):
    arrays = _joint_arrays()
    arrays["rx"] = arrays["rx"][:-3]
    _write(tmp_path / "bad.npz", arrays)
    with pytest.raises(ValueError, match="sample counts differ: tx has 103, rx has 100, labels has 103"):
        file_latents(tmp_path / "bad.npz")


def test_nan_latents_named(tmp_path):
    arrays = _joint_arrays()
    arrays["rx"][5, 2] = np.nan
    _write(tmp_path / "nan.safetensors", arrays)
    with pytest.raises(ValueError, match="rx contains 1 NaN or infinite entries"):
        file_latents(tmp_path / "nan.safetensors")


def test_bad_labels(tmp_path):
    arrays = _joint_arrays()
    arrays["labels"] = arrays["labels"] + 0.5
    _write(tmp_path / "labels.npz", arrays)
    with pytest.raises(ValueError, match="labels must hold integer class ids"):
        file_latents(tmp_path / "labels.npz")
    arrays["labels"] = -np.ones(103, dtype=np.int64)
    _write(tmp_path / "labels.npz", arrays)
    with pytest.raises(ValueError, match="class ids >= 0"):
        file_latents(tmp_path / "labels.npz")


def test_both_layouts_is_ambiguous(small_pair, tmp_path):
    path = save_latents(small_pair, tmp_path / "both.pt")
    content = torch.load(path, weights_only=True)
    content.update({"tx": content["train_tx"], "rx": content["train_rx"], "labels": content["train_labels"]})
    torch.save(content, path)
    with pytest.raises(ValueError, match="holds both layouts"):
        file_latents(path)


def test_pt_must_hold_a_dict(tmp_path):
    torch.save(torch.zeros(3, 3), tmp_path / "tensor.pt")
    with pytest.raises(ValueError, match="expected a dict of named tensors"):
        file_latents(tmp_path / "tensor.pt")


def test_unreadable_file(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="could not read latents from .*junk.safetensors"):
        file_latents(tmp_path / "junk.safetensors")


def test_failed_save_leaves_nothing(small_pair, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(files_module.np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        save_latents(small_pair, tmp_path / "pair.npz")
    assert list(tmp_path.iterdir()) == []
