"""The papers' presets: grids, encoders and noise level as the specs give them, and clear errors."""

import pytest
from typer.testing import CliRunner

from semalign.cli import app
from semalign._vocabulary import PAPER_SEEDS
from semalign.experiments.studies import federated, mimo
from semalign.experiments.studies.presets import PRESETS, extract_command, get_preset, preset_grid


def plan_mimo(grid, d_tx):
    """The study's runs on latents of ``d_tx`` features (none are loaded)."""
    import types

    fake = types.SimpleNamespace(d_tx=d_tx)
    original = mimo.latents_of
    mimo.latents_of = lambda run: fake
    try:
        return mimo.mimo_runs(grid)
    finally:
        mimo.latents_of = original


def plan_federated(grid, ap_dims):
    """The study's runs with AP latents of ``ap_dims`` features per source (none are loaded)."""
    import types

    original = federated.pool_of
    federated.pool_of = lambda run: types.SimpleNamespace(d_ap=ap_dims[run.latents])
    try:
        return federated.federated_runs(grid)
    finally:
        federated.pool_of = original


def test_paper_mimo_grid_is_the_published_one():
    grid = preset_grid("paper-mimo", "mimo")
    assert grid.latents == "timm" and grid.latents_options == {"dataset": "cifar10", "tx": "vit_small_patch16_224", "rx": "vit_base_patch16_224"}
    assert (grid.snr_convention, grid.channel_variance) == ("per-antenna", 0.5)
    assert grid.seeds == PAPER_SEEDS == (27, 42, 100, 123, 144, 200)
    assert grid.compression_antennas == (1, 2, 4, 8, 12, 24, 48, 96, 192) and grid.compression_pilots == (4200, 420, 42)
    assert grid.snr_values == (-20.0, -10.0, 10.0, 20.0, 30.0) and grid.snr_antennas == 8 and grid.flops_antennas == (6, 10)
    tasks = plan_mimo(grid, d_tx=384)  # ViT-S/16: 384 features, 192 complex symbols
    assert max(t.n_antennas or 0 for t in tasks) == 192


def test_paper_federated_grid_is_the_published_one():
    grid = preset_grid("paper-federated", "federated")
    assert grid.latents == "timm" and grid.dataset == "cifar10" and grid.ap_encoder == "vit_tiny_patch16_224"
    assert len(grid.users) == 10 and grid.heterogeneity_sources == ("timm",)
    assert grid.homogeneous_sets == (("rexnet_100", "mobilenetv3_small_075", "mobilenetv3_large_100", "mobilenetv3_small_100"),)
    assert grid.heterogeneous_sets == (("vit_small_patch16_224", "vit_base_patch16_224", "mobilenetv3_small_075", "levit_128s.fb_dist_in1k"),)
    assert (grid.snr_convention, grid.channel_variance) == ("per-antenna", 0.5)
    assert grid.compression_channel_uses == (1, 2, 4, 6, 8, 10, 20) and grid.compression_antennas == (1, 2, 4)
    tasks = plan_federated(grid, {"timm": 192})  # ViT-Tiny: 192 features
    assert {t.experiment for t in tasks} == {"compression", "snr", "heterogeneity", "pilots"}
    assert {t.latents for t in tasks} == {"timm"}


def test_timm_users_cannot_mix_with_digits_names():
    with pytest.raises(ValueError, match="not both"):
        preset_grid("paper-federated", "federated").__class__(latents="timm", heterogeneity_sources=("digits",))


def test_extract_command_names_every_model():
    command = extract_command(get_preset("paper-federated", "federated"))
    for model in PRESETS["paper-federated"].models:
        assert f"--model {model}" in command


@pytest.mark.parametrize("study, preset", [("mimo", "paper-federated"), ("federated", "paper-mimo"), ("mimo", "paper")])
def test_unknown_presets_are_named(study, preset, tmp_path):
    result = CliRunner().invoke(app, ["reproduce", study, "--preset", preset, "--out", str(tmp_path), "--no-progress"])
    assert result.exit_code == 2 and "unknown preset" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("study, preset", [("mimo", "paper-mimo"), ("federated", "paper-federated")])
def test_presets_without_extracted_latents_say_what_to_extract(study, preset, tmp_path, monkeypatch):
    monkeypatch.setenv("SEMALIGN_CACHE", str(tmp_path / "empty-cache"))
    result = CliRunner().invoke(app, ["reproduce", study, "--preset", preset, "--out", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 3 and "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert extract_command(get_preset(preset, study)) in message
    assert not (tmp_path / "out" / "results.parquet").exists()
