"""Latent extraction with real (randomly initialised) timm encoders on a small CIFAR-10 folder.

Everything runs offline: the tests write a few images in CIFAR-10's real on-disk format
(``cifar-10-batches-py/``: pickled dicts of uint8 ``(n, 3072)`` rows and label lists) and use timm's
tiny test architectures with seeded random weights (``pretrained=False``), which take milliseconds
per image on a CPU.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

timm = pytest.importorskip("timm")
torchvision = pytest.importorskip("torchvision")

from PIL import Image  # noqa: E402  (torchvision depends on pillow)
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from semalign.cli import app  # noqa: E402
from semalign.latents import (  # noqa: E402
    LatentPair,
    LatentsUnavailable,
    encode_dataset,
    extract_latents,
    list_cached_latents,
    load_latents,
    read_cached_latents,
)
from semalign.latents import extract as extract_module  # noqa: E402

TX, RX = "test_vit", "test_convnext"  # timm's tiny test models: 64-dim features at 160 px
N_PER_BATCH, N_TEST = 4, 8  # 5 x 4 = 20 training images, 8 test images
N_TRAIN = 5 * N_PER_BATCH
FAST = {"pretrained": False, "batch_size": 3, "chunk_size": 5, "progress": False}
SRC = str(Path(__file__).resolve().parents[2] / "src")
if not all(timm.models.is_model(name) for name in (TX, RX)):  # timm's test architectures (timm 1.0.x)
    pytest.skip(f"this timm ({timm.__version__}) lacks the tiny test models {TX}, {RX}", allow_module_level=True)


# ------------------------------------------------------------------------------- fixtures


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)


def write_mini_cifar10(root: Path) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Write CIFAR-10's on-disk layout with a few images; returns the rows and labels per split.

    The files are Python pickles of ``{"data": uint8 (n, 3072), "labels": [int]}`` as in the
    official archive (whose Python 2 ``str`` keys torchvision reads back as ``str``); rows are
    channel-major 32 x 32 images (1024 red, 1024 green, 1024 blue values).
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    train_rows, train_labels = [], []
    for b in range(1, 6):
        rows = _images(N_PER_BATCH, seed=b)
        labels = [(3 * b + i) % 10 for i in range(N_PER_BATCH)]
        with open(folder / f"data_batch_{b}", "wb") as handle:
            pickle.dump({"data": rows, "labels": labels, "batch_label": f"training batch {b} of 5"}, handle, protocol=2)
        train_rows.append(rows)
        train_labels += labels
    test_rows, test_labels = _images(N_TEST, seed=99), [i % 10 for i in range(N_TEST)]
    with open(folder / "test_batch", "wb") as handle:
        pickle.dump({"data": test_rows, "labels": test_labels, "batch_label": "testing batch 1 of 1"}, handle, protocol=2)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)], "num_cases_per_batch": N_PER_BATCH}, handle, protocol=2)
    return {"train": (np.concatenate(train_rows), train_labels), "test": (test_rows, test_labels)}


def _accept_fixture_files(monkeypatch) -> None:
    # torchvision checks the official files' MD5 sums (in CIFAR10._check_integrity and when reading
    # batches.meta); our small fixture files cannot match them. Accept any file that exists, so a
    # missing data set is still detected as missing.
    import torchvision.datasets.cifar as cifar

    monkeypatch.setattr(cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar-root")
    return root, write_mini_cifar10(root)


@pytest.fixture(autouse=True)
def fixture_files_accepted(monkeypatch):
    _accept_fixture_files(monkeypatch)


@pytest.fixture(scope="module")
def extracted(cifar, tmp_path_factory):
    """A cache with TX and RX extracted (all three splits, several chunks each)."""
    root, _ = cifar
    cache = tmp_path_factory.mktemp("latent-cache")
    with pytest.MonkeyPatch.context() as mp:
        _accept_fixture_files(mp)
        paths = {m: extract_latents("cifar10", m, root=root, cache_dir=cache, **FAST) for m in (TX, RX)}
    return cache, paths


@pytest.fixture
def cache_copy(extracted, tmp_path):
    """A private copy of the extracted cache, for tests that modify it."""
    cache, _ = extracted
    shutil.copytree(cache, tmp_path / "cache")
    return tmp_path / "cache"


def _reference_model(name: str, seed: int = 0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return timm.create_model(name, pretrained=False, num_classes=0).eval()


def _pil(row: np.ndarray) -> Image.Image:
    return Image.fromarray(row.reshape(3, 32, 32).transpose(1, 2, 0), mode="RGB")


def _direct_latents(model, transform, rows: np.ndarray) -> torch.Tensor:
    batch = torch.stack([transform(_pil(row)) for row in rows])
    with torch.inference_mode():
        return model(batch)


# ------------------------------------------------------------------------------- extraction


@pytest.mark.parametrize("name", [TX, RX])
def test_latents_equal_a_direct_forward_pass_in_order_with_labels(extracted, cifar, name):
    cache, _ = extracted
    _, raw = cifar
    model = _reference_model(name)
    transform = timm.data.create_transform(**timm.data.resolve_model_data_config(model), is_training=False)
    for split in ("train", "val", "test"):
        tensors, _ = read_cached_latents("cifar10", name, split, cache)
        rows, labels = raw["test" if split == "test" else "train"]
        idx = tensors["indices"].numpy()
        expected = _direct_latents(model, transform, rows[idx])
        assert tensors["latents"].dtype == torch.float32 and tensors["latents"].shape == (len(idx), 64)
        torch.testing.assert_close(tensors["latents"], expected, rtol=1e-4, atol=1e-5)
        assert tensors["labels"].tolist() == [labels[i] for i in idx]
        assert tensors["labels"].dtype == torch.int64 and tensors["indices"].dtype == torch.int64


def test_metadata_records_provenance(extracted):
    cache, paths = extracted
    with safe_open(str(paths[TX]["train"]), framework="pt") as handle:
        meta = handle.metadata()
    assert meta["format"] == "semalign-latents-v1"
    assert (meta["model"], meta["dataset"], meta["split"]) == (TX, "cifar10", "train")
    assert (meta["n"], meta["dim"], meta["dataset_size"]) == ("17", "64", str(N_TRAIN))
    assert meta["dataset_class"] == "torchvision.datasets.CIFAR10"
    assert meta["pretrained"] == "false" and meta["weights"] == "random-init:seed=0"
    model = _reference_model(TX)
    assert json.loads(meta["preprocessing"]) == json.loads(json.dumps(timm.data.resolve_model_data_config(model)))
    assert (meta["val_fraction"], meta["split_seed"]) == ("0.15", "42")
    assert meta["torch_version"] == torch.__version__ and meta["timm_version"] == timm.__version__
    assert meta["torchvision_version"] == torchvision.__version__ and meta["semalign_version"]
    assert (meta["device"], meta["amp_dtype"], meta["batch_size"]) == ("cpu", "none", "3")
    assert meta["created"].endswith("+00:00")
    assert not list(Path(paths[TX]["train"]).parent.glob("*.parts"))  # chunks were removed


def test_val_split_is_seeded_disjoint_and_recorded(extracted):
    cache, _ = extracted
    train = read_cached_latents("cifar10", TX, "train", cache)[0]["indices"]
    val = read_cached_latents("cifar10", TX, "val", cache)[0]["indices"]
    test = read_cached_latents("cifar10", TX, "test", cache)[0]["indices"]
    assert len(val) == 3 and len(train) == N_TRAIN - 3  # floor(0.15 * 20 + 0.5) = 3
    assert set(train.tolist()).isdisjoint(val.tolist())
    assert sorted(train.tolist() + val.tolist()) == list(range(N_TRAIN))
    assert torch.equal(train, train.sort().values) and torch.equal(val, val.sort().values)
    perm = torch.randperm(N_TRAIN, generator=torch.Generator().manual_seed(42))
    assert torch.equal(val, perm[N_TRAIN - 3 :].sort().values)  # the documented recipe
    assert torch.equal(test, torch.arange(N_TEST))
    # Same for every encoder, and independent of the global RNG state.
    torch.manual_seed(123)
    assert torch.equal(extract_module.split_indices(N_TRAIN, 0.15, 42)[1], val)
    assert torch.equal(read_cached_latents("cifar10", RX, "val", cache)[0]["indices"], val)
    assert not torch.equal(extract_module.split_indices(N_TRAIN, 0.15, 7)[1], val)


def test_finished_cache_is_reused_without_building_the_model(extracted, cifar, monkeypatch):
    cache, paths = extracted
    root, _ = cifar
    stamps = {split: path.stat().st_mtime_ns for split, path in paths[TX].items()}

    def refuse(*args, **kwargs):
        raise AssertionError("the model must not be built for a finished cache")

    monkeypatch.setattr(timm, "create_model", refuse)
    again = extract_latents("cifar10", TX, root=root, cache_dir=cache, **FAST)
    assert again == paths[TX]
    assert {split: path.stat().st_mtime_ns for split, path in again.items()} == stamps


def test_cache_made_differently_needs_overwrite(cache_copy, cifar):
    root, _ = cifar
    with pytest.raises(ValueError, match=r"made differently \(.*val_fraction: cached 0.15, requested 0.25.*overwrite=True"):
        extract_latents("cifar10", TX, root=root, cache_dir=cache_copy, val_fraction=0.25, **FAST)
    with pytest.raises(ValueError, match=r"weights: cached 'random-init:seed=0', requested 'random-init:seed=1'"):
        extract_latents("cifar10", TX, root=root, cache_dir=cache_copy, splits="test", init_seed=1, **FAST)
    paths = extract_latents("cifar10", TX, root=root, cache_dir=cache_copy, splits="val", val_fraction=0.25, overwrite=True, **FAST)
    assert read_cached_latents("cifar10", TX, "val", cache_copy)[0]["indices"].numel() == 5
    assert list(paths) == ["val"]


def test_weights_file_is_loaded_offline(cifar, tmp_path, monkeypatch):
    """``weights=FILE`` (--weights): an offline user's downloaded checkpoint, here a random one."""
    root, raw = cifar
    model = _reference_model(TX, seed=7)
    checkpoint = tmp_path / "test_vit.safetensors"
    save_file(model.state_dict(), str(checkpoint))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    paths = extract_latents("cifar10", TX, root=root, cache_dir=tmp_path, weights=checkpoint, splits="test", **{**FAST, "pretrained": True})
    tensors, meta = read_cached_latents("cifar10", TX, "test", tmp_path)
    transform = timm.data.create_transform(**timm.data.resolve_model_data_config(model), is_training=False)
    torch.testing.assert_close(tensors["latents"], _direct_latents(model, transform, raw["test"][0]), rtol=1e-4, atol=1e-5)
    assert meta["pretrained"] == "true" and meta["weights"].startswith("file-sha256:")
    assert meta["weights_file"] == str(checkpoint.resolve()) and meta["weights"].endswith(meta["weights_sha256"])
    assert list(paths) == ["test"]


def test_pretrained_weights_from_the_hugging_face_cache_offline(cifar, tmp_path, monkeypatch):
    """Weights already in the Hugging Face cache load with no network (here: a fake cache entry)."""
    from huggingface_hub import constants

    root, raw = cifar
    model = _reference_model(TX, seed=11)
    repo = timm.models.get_pretrained_cfg(TX).hf_hub_id  # timm/test_vit.r160_in1k
    entry = tmp_path / "hub" / f"models--{repo.replace('/', '--')}"
    revision = "0" * 40
    (entry / "refs").mkdir(parents=True)
    (entry / "refs" / "main").write_text(revision)
    (entry / "snapshots" / revision).mkdir(parents=True)
    save_file(model.state_dict(), str(entry / "snapshots" / revision / "model.safetensors"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    extract_latents("cifar10", TX, root=root, cache_dir=tmp_path, splits="test", offline=True, **{**FAST, "pretrained": True})
    tensors, meta = read_cached_latents("cifar10", TX, "test", tmp_path)
    transform = timm.data.create_transform(**timm.data.resolve_model_data_config(model), is_training=False)
    torch.testing.assert_close(tensors["latents"], _direct_latents(model, transform, raw["test"][0]), rtol=1e-4, atol=1e-5)
    assert meta["pretrained"] == "true" and meta["weights"] == f"hf-hub:{repo}"


def test_missing_weights_offline_raise_one_paragraph(cifar, tmp_path, monkeypatch):
    from huggingface_hub import constants

    root, _ = cifar
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-empty"))  # nothing cached
    with pytest.raises(LatentsUnavailable) as caught:
        extract_latents("cifar10", TX, root=root, cache_dir=tmp_path, offline=True, progress=False)
    message = str(caught.value)
    assert "\n" not in message
    assert f"timm model '{TX}'" in message and "timm/test_vit" in message and "offline mode" in message
    assert str(tmp_path / "hf-empty") in message and "--weights FILE" in message
    assert str(tmp_path / "latents") in message  # where the latents will be cached
    assert "data set" not in message  # the data set is there: only the weights are reported
    assert not (tmp_path / "latents").exists() or not list((tmp_path / "latents").rglob("*.safetensors"))


def test_missing_dataset_offline_names_root_and_download(tmp_path):
    with pytest.raises(LatentsUnavailable) as caught:
        extract_latents("CIFAR-10", TX, root=tmp_path / "empty", cache_dir=tmp_path, offline=True, **FAST)
    message = str(caught.value)
    assert "The CIFAR-10 data set" in message and "torchvision.datasets.CIFAR10" in message
    assert "cifar-10-python.tar.gz" in message and "DIR/cifar-10-batches-py/" in message
    assert "--root DIR" in message and str(tmp_path / "empty") in message


def test_unknown_names_and_bad_arguments_are_value_errors(cifar, tmp_path):
    root, _ = cifar
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar11'.*CIFAR10"):
        extract_latents("cifar11", TX, root=root, cache_dir=tmp_path, **FAST)
    with pytest.raises(ValueError, match=r"unknown timm model 'test_vitt'; did you mean 'test_vit'"):
        extract_latents("cifar10", "test_vitt", root=root, cache_dir=tmp_path, **FAST)
    with pytest.raises(ValueError, match=r"split must be one of 'train', 'val', 'test', got 'valid'"):
        extract_latents("cifar10", TX, root=root, cache_dir=tmp_path, splits="train,valid", **FAST)
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\)"):
        extract_latents("cifar10", TX, root=root, cache_dir=tmp_path, val_fraction=1.0, **FAST)
    with pytest.raises(ValueError, match=r"amp must be"):
        extract_latents("cifar10", TX, root=root, cache_dir=tmp_path, amp="fp8", **FAST)
    with pytest.raises(ValueError, match=r"weights file .* does not exist"):
        extract_latents("cifar10", TX, root=root, cache_dir=tmp_path, weights=tmp_path / "nope.pth")
    assert not (tmp_path / "latents").exists()  # nothing half-written


def test_mixed_precision_stores_float32_close_to_full_precision(extracted, cifar, tmp_path):
    """``amp="bf16"`` runs the encoder under autocast (CPU here; the default on CUDA)."""
    cache, _ = extracted
    root, _ = cifar
    extract_latents("cifar10", TX, root=root, cache_dir=tmp_path, splits="test", amp="bf16", **FAST)
    tensors, meta = read_cached_latents("cifar10", TX, "test", tmp_path)
    full = read_cached_latents("cifar10", TX, "test", cache)[0]["latents"]
    assert meta["amp_dtype"] == "bfloat16" and tensors["latents"].dtype == torch.float32
    assert not torch.equal(tensors["latents"], full)  # bf16 arithmetic did happen
    torch.testing.assert_close(tensors["latents"], full, rtol=0.1, atol=0.1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_extraction_defaults_to_bf16_and_matches_cpu(extracted, cifar, tmp_path):
    cache, _ = extracted
    root, _ = cifar
    extract_latents("cifar10", TX, root=root, cache_dir=tmp_path, splits="test", device="cuda", **FAST)
    tensors, meta = read_cached_latents("cifar10", TX, "test", tmp_path)
    assert (meta["device"], meta["amp_dtype"]) == ("cuda", "bfloat16") and tensors["latents"].device.type == "cpu"
    full = read_cached_latents("cifar10", TX, "test", cache)[0]["latents"]
    torch.testing.assert_close(tensors["latents"], full, rtol=0.1, atol=0.1)


# ------------------------------------------------------------------------------- resume


class Crashable(torch.nn.Module):
    """A small CNN that counts the images it encodes and can crash after some batches."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(5)
        self.conv = torch.nn.Conv2d(3, 8, 5, stride=2)
        self.proj = torch.nn.Linear(8, 12)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
        self.seen, self.fail_after = 0, None

    def forward(self, x):
        if self.fail_after is not None and self.seen >= self.fail_after:
            raise KeyboardInterrupt("simulated crash")
        self.seen += len(x)
        return self.proj(torch.tanh(self.conv(x)).mean(dim=(2, 3)))


def _to_tensor():
    from torchvision import transforms

    return transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.25,) * 3)])


def test_resume_after_a_crash_equals_an_uninterrupted_run(cifar, tmp_path):
    root, _ = cifar
    options = dict(name="crashable", root=root, splits="train", batch_size=2, chunk_size=4, progress=False)
    reference = Crashable()
    encode_dataset(reference, "cifar10", _to_tensor(), cache_dir=tmp_path / "ref", **options)

    encoder = Crashable()
    encoder.fail_after = 10  # 5 batches of 2: chunks 0 and 1 (4 images each) done, chunk 2 half done
    with pytest.raises(KeyboardInterrupt):
        encode_dataset(encoder, "cifar10", _to_tensor(), cache_dir=tmp_path / "run", **options)
    final = extract_module.latents_path("cifar10", "crashable", "train", tmp_path / "run")
    parts = final.with_name("train.parts")
    assert not final.exists()
    assert sorted(p.name for p in parts.glob("chunk-*")) == ["chunk-00000.safetensors", "chunk-00001.safetensors"]
    partial = [row for row in list_cached_latents(tmp_path / "run") if row["split"] == "train"]
    assert partial[0]["status"].startswith("partial (2 chunk")
    with pytest.raises(LatentsUnavailable, match=r"interrupted extraction left 2 finished chunk"):
        load_latents("timm", dataset="cifar10", tx="crashable", rx="crashable", cache_dir=tmp_path / "run")

    encoder.fail_after, encoder.seen = None, 0
    paths = encode_dataset(encoder, "cifar10", _to_tensor(), cache_dir=tmp_path / "run", **options)
    assert encoder.seen == 17 - 8  # the two finished chunks were not encoded again
    assert not parts.exists() and paths["train"] == final
    resumed, expected = load_file(str(final)), load_file(str(paths["train"]).replace("/run/", "/ref/"))
    for key in ("latents", "labels", "indices"):
        assert torch.equal(resumed[key], expected[key]), key


def test_an_interrupted_overwrite_resumes_and_precision_is_part_of_the_identity(cifar, tmp_path):
    root, _ = cifar
    options = dict(name="crashable", root=root, splits="train", batch_size=2, chunk_size=4, progress=False, cache_dir=tmp_path)
    encode_dataset(Crashable(), "cifar10", _to_tensor(), **options)
    with pytest.raises(ValueError, match="amp_dtype: cached 'none', requested 'bfloat16'"):
        encode_dataset(Crashable(), "cifar10", _to_tensor(), amp="bf16", **options)
    encoder = Crashable()
    encoder.fail_after = 10
    with pytest.raises(KeyboardInterrupt):
        encode_dataset(encoder, "cifar10", _to_tensor(), overwrite=True, **options)
    encoder.fail_after, encoder.seen = None, 0
    encode_dataset(encoder, "cifar10", _to_tensor(), overwrite=True, **options)
    assert encoder.seen == 17 - 8  # the rerun of --overwrite kept its two finished chunks


def test_chunks_of_another_configuration_are_discarded(cifar, tmp_path):
    root, _ = cifar
    options = dict(name="crashable", root=root, splits="test", batch_size=2, chunk_size=4, progress=False, cache_dir=tmp_path)
    encoder = Crashable()
    encoder.fail_after = 4
    with pytest.raises(KeyboardInterrupt):
        encode_dataset(encoder, "cifar10", _to_tensor(), **options)
    encoder.fail_after, encoder.seen = None, 0
    encode_dataset(encoder, "cifar10", _to_tensor(), **{**options, "chunk_size": 3})  # another chunking
    assert encoder.seen == N_TEST  # nothing reused


# ------------------------------------------------------------------------------- custom encoders


def test_custom_encoder_and_own_datasets(cifar, tmp_path, extracted):
    root, raw = cifar
    encoder = Crashable()
    paths = encode_dataset(encoder, "cifar10", _to_tensor(), name="tiny-cnn", root=root, cache_dir=tmp_path, progress=False)
    tensors, meta = read_cached_latents("cifar10", "tiny-cnn", "test", tmp_path)
    batch = torch.stack([_to_tensor()(_pil(row)) for row in raw["test"][0]])
    with torch.inference_mode():
        torch.testing.assert_close(tensors["latents"], Crashable()(batch), rtol=1e-5, atol=1e-6)
    assert meta["encoder"].endswith("Crashable") and meta["weights"].startswith("custom:Crashable:state-sha256:")
    assert set(paths) == {"train", "val", "test"}

    # Reused only with the same weights: a retrained encoder under the same name is refused.
    with torch.no_grad():
        encoder.proj.bias.add_(1.0)
    with pytest.raises(ValueError, match="made differently"):
        encode_dataset(encoder, "cifar10", _to_tensor(), name="tiny-cnn", root=root, cache_dir=tmp_path, progress=False)

    # An encoder must return (batch, dim) features; a failure before any chunk leaves nothing behind.
    with pytest.raises(ValueError, match=r"must return a \(batch, dim\) feature tensor, got \(3, 8, 14, 14\)"):
        encode_dataset(Crashable().conv, "cifar10", _to_tensor(), name="conv-only", root=root, cache_dir=tmp_path, batch_size=3, progress=False)
    leftovers = tmp_path / "latents" / "cifar10" / "conv-only"
    assert not leftovers.exists() or not any(leftovers.iterdir())

    # Your own data sets, no torchvision: items are (tensor image, label).
    images = torch.from_numpy(raw["train"][0].reshape(-1, 3, 32, 32)).float() / 255
    own = {"train": list(zip(images, raw["train"][1]))}
    encode_dataset(Crashable(), own, None, name="tiny-cnn", dataset_name="my-images", splits="train,val", val_fraction=0.25, cache_dir=tmp_path, progress=False)
    own_train = read_cached_latents("my-images", "tiny-cnn", "train", tmp_path)[0]
    assert own_train["latents"].shape == (15, 12)
    with torch.inference_mode():
        torch.testing.assert_close(own_train["latents"], Crashable()(images[own_train["indices"]]), rtol=1e-5, atol=1e-6)

    # A custom encoder pairs with a timm encoder's cache of the same images.
    shutil.copytree(extracted[0] / "latents" / "cifar10" / TX, tmp_path / "latents" / "cifar10" / TX)
    pair = load_latents("timm", dataset="cifar10", tx="tiny-cnn", rx=TX, cache_dir=tmp_path)
    assert (pair.d_tx, pair.d_rx, len(pair.train), len(pair.test)) == (12, 64, 17, N_TEST)


# ------------------------------------------------------------------------------- loading


def test_load_latents_timm_gives_a_usable_pair(extracted, cifar):
    from semalign import FirstKTransceiver, rayleigh_channel

    cache, _ = extracted
    _, raw = cifar
    pair = load_latents("timm", dataset="cifar10", tx=TX, rx=RX, cache_dir=cache)
    assert isinstance(pair, LatentPair)
    assert (pair.dataset, pair.tx_encoder, pair.rx_encoder) == ("cifar10", TX, RX)
    assert (len(pair.train), len(pair.test), pair.d_tx, pair.d_rx) == (17, N_TEST, 64, 64)
    assert pair.metadata["val"]["n"] == len(read_cached_latents("cifar10", TX, "val", cache)[0]["indices"])  # held out, recorded
    assert pair.test.labels.tolist() == raw["test"][1]
    tx_train = read_cached_latents("cifar10", TX, "train", cache)[0]
    assert torch.equal(pair.train.tx, tx_train["latents"])
    assert torch.equal(pair.train.rx, read_cached_latents("cifar10", RX, "train", cache)[0]["latents"])
    meta = pair.metadata
    assert meta["source"] == "timm" and meta["val"] == {"fraction": 0.15, "seed": 42, "n": 3, "use": "held out (not in train)"}
    assert meta["tx"]["model"] == TX and meta["rx"]["weights"] == "random-init:seed=0"
    assert meta["tx"]["preprocessing"]["input_size"] == [3, 160, 160]

    model = FirstKTransceiver(rayleigh_channel(2, 2, generator=torch.Generator().manual_seed(0)), snr_db=30.0)
    y_hat = model.fit(pair.train.tx, pair.train.rx).transmit(pair.test.tx, noise=False)
    assert y_hat.shape == pair.test.rx.shape and torch.isfinite(y_hat).all()

    on_val = load_latents("timm", dataset="CIFAR10", tx=TX, rx=RX, cache_dir=cache, test_split="val")
    assert len(on_val.test) == 3 and torch.equal(on_val.train.tx, pair.train.tx)


def test_load_latents_checks_that_both_caches_hold_the_same_samples(cache_copy, cifar):
    root, _ = cifar
    extract_latents("cifar10", RX, root=root, cache_dir=cache_copy, splits="train", split_seed=7, overwrite=True, **FAST)
    with pytest.raises(ValueError, match=r"train caches of 'test_vit' and 'test_convnext' do not describe the same samples: indices differ"):
        load_latents("timm", dataset="cifar10", tx=TX, rx=RX, cache_dir=cache_copy)
    extract_latents("cifar10", RX, root=root, cache_dir=cache_copy, splits="train", val_fraction=0.3, overwrite=True, **FAST)
    with pytest.raises(ValueError, match=r"17 samples.*14 samples"):
        load_latents("timm", dataset="cifar10", tx=TX, rx=RX, cache_dir=cache_copy)


def test_missing_cache_names_the_extraction_command(extracted):
    cache, _ = extracted
    with pytest.raises(LatentsUnavailable) as caught:
        load_latents("timm", dataset="cifar10", tx=TX, rx="resnet10t", cache_dir=cache)
    message = str(caught.value)
    assert f"`semalign latents extract --dataset cifar10 --model {TX} --model resnet10t --cache {cache}`" in message
    assert str(cache / "latents" / "cifar10" / "resnet10t" / "train.safetensors") in message
    assert str(cache / "latents" / "cifar10" / TX) not in message  # those files exist


# ------------------------------------------------------------------------------- CLI


def test_cli_help_lists_every_option_with_help_text():
    import typer.main

    command = typer.main.get_command(app).commands["latents"].commands["extract"]
    options = [opt for param in command.params for opt in param.opts + param.secondary_opts]
    expected = {
        "--dataset", "--model", "--root", "--cache", "--device", "--batch-size", "--splits", "--val-fraction",
        "--split-seed", "--pretrained", "--no-pretrained", "--weights", "--amp", "--chunk-size", "--num-workers",
        "--offline", "--overwrite", "--progress", "--no-progress",
    }  # fmt: skip
    assert expected <= set(options)
    assert all(param.help for param in command.params)
    result = CliRunner().invoke(app, ["latents", "extract", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in expected:
        assert option in result.output


def test_cli_extracts_lists_and_reuses(cifar, tmp_path):
    root, _ = cifar
    runner = CliRunner()
    args = ["latents", "extract", "--dataset", "cifar10", "--model", f"{TX},{RX}", "--root", str(root), "--cache", str(tmp_path),
            "--no-pretrained", "--batch-size", "4", "--splits", "train,test", "--no-progress"]  # fmt: skip
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "test_convnext" in result.output and "17" in result.output
    listing = runner.invoke(app, ["latents", "list", "--cache", str(tmp_path)], env={"COLUMNS": "200"})
    assert listing.exit_code == 0
    lines = [line for line in listing.output.splitlines() if "cifar10" in line]
    assert len(lines) == 4 and all("complete" in line and "64" in line for line in lines)
    pair = load_latents("timm", dataset="cifar10", tx=TX, rx=RX, cache_dir=tmp_path)
    assert len(pair.train) == 17


def test_cli_bad_input_exits_2_without_traceback(cifar, tmp_path):
    root, _ = cifar
    runner = CliRunner()
    base = ["latents", "extract", "--root", str(root), "--cache", str(tmp_path), "--no-pretrained", "--no-progress"]
    for extra, expected in (
        (["--model", TX, "--splits", "train,bogus"], "split must be one of"),
        (["--model", f"{TX},{RX}", "--weights", str(tmp_path / "w.pth")], "give exactly one --model"),
        (["--model", TX, "--dataset", "nosuchset"], "unknown dataset 'nosuchset'"),
    ):
        result = runner.invoke(app, base + extra, env={"COLUMNS": "300"})
        assert result.exit_code == 2, result.output
        assert expected in result.output and "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def _run_cli_script(script: str, env: dict, timeout: int = 90) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh interpreter (no network is needed: every download must fail fast)."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "COLUMNS": "100", **env}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout, env=env)


def test_cli_offline_without_data_or_weights_exits_3_with_one_paragraph(tmp_path):
    script = "from semalign.cli import app; app(['latents', 'extract', '--model', 'test_vit', '--root', %r, '--cache', %r])"
    done = _run_cli_script(
        script % (str(tmp_path / "empty"), str(tmp_path / "cache")),
        {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")},
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    message = done.stderr.strip()
    assert message.startswith("error:") and len(message.splitlines()) == 1  # one paragraph (soft-wrapped)
    for part in ("cifar10 data set", "--root DIR", "cifar-10-python.tar.gz", "'test_vit'", "--weights FILE",
                 str(tmp_path / "hf" / "hub"), str(tmp_path / "cache" / "latents")):  # fmt: skip
        assert part in message, part


def test_cli_failed_downloads_exit_3_fast(tmp_path):
    """Downloads are attempted (not offline) against a closed local port: they must fail at once."""
    script = textwrap.dedent(
        """
        import torchvision.datasets as tvd
        from semalign.latents import encoders
        from semalign.cli import app
        tvd.CIFAR10.url = "http://127.0.0.1:9/cifar-10-python.tar.gz"  # nothing listens on port 9
        encoders._hf_endpoint = lambda: "http://127.0.0.1:9"
        app(['latents', 'extract', '--model', 'test_vit', '--root', %r, '--cache', %r])
        """
    )
    done = _run_cli_script(script % (str(tmp_path / "empty"), str(tmp_path / "cache")), {"HF_HOME": str(tmp_path / "hf")})
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "127.0.0.1 is unreachable" in done.stderr  # the weights: a fast probe, no hub retries
    assert "cifar10 data set" in done.stderr and "was not downloaded (the weights are missing too)" in done.stderr



def test_cli_failed_dataset_download_exits_3(tmp_path, monkeypatch):
    """With random weights the data set download is attempted; against a closed port it fails at once."""
    import torchvision.datasets as tvd

    monkeypatch.setattr(tvd.CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")  # nothing listens on port 9
    args = ["latents", "extract", "--model", TX, "--no-pretrained", "--root", str(tmp_path / "empty"), "--cache", str(tmp_path)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 3, result.output
    assert "could not be downloaded (URLError" in result.output and "Traceback" not in result.output
    assert "127.0.0.1:9/cifar-10-python.tar.gz" in result.output
