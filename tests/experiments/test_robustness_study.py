"""The robustness study: its grid, its rows (the CSI columns every row records), its figures, and
what it measures (robust designs lose less to CSI error than naive ones)."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from semalign.cli import app
from semalign.experiments.studies import get_study, run_study
from semalign.experiments.runs.link import LinkRun
from semalign.experiments.studies.robustness import quick_grid, robustness_runs

TINY = dict(
    seeds=(27,), methods=("linear-admm", "first-k"), csi_errors=(0.0, 0.3), pilot_snrs_db=(-10.0,), dopplers=(0.0, 0.01),
    settings=("single-link",), channel_models=("rayleigh",), model_snrs_db=(10.0,),
)  # fmt: skip
#: The 3GPP models and the multi-user parts, small.
TINY_MODELS_AND_MULTIUSER = dict(
    seeds=(27,), methods=("linear-admm", "first-k"), csi_errors=(0.0,), pilot_snrs_db=(), dopplers=(0.0,),
    channel_models=("rayleigh", "tdl-a", "cdl-d"), model_snrs_db=(10.0,),
    federated_methods=("federated-admm",), federated_csi_errors=(0.0, 0.3), game_methods=("game-fixed-eigenmode",), game_csi_errors=(0.0, 0.3),
)  # fmt: skip


def test_grid_expands_into_each_experiment_naive_and_robust():
    runs = robustness_runs(quick_grid(**TINY))
    by_experiment = {exp: [r for r in runs if r.experiment == exp and r.method != "clean"] for exp in ("csi-error", "pilot-snr", "doppler", "channel-model")}
    # csi-error: error 0 is one run (robust has nothing to act on), 0.3 naive and robust, per method.
    assert len(by_experiment["csi-error"]) == 2 * 3
    assert {(r.csi_error, r.robust) for r in by_experiment["csi-error"]} == {(0.0, False), (0.3, False), (0.3, True)}
    assert len(by_experiment["pilot-snr"]) == 2 * 2 and all(r.pilot_snr_db == -10.0 for r in by_experiment["pilot-snr"])
    assert {r.doppler for r in by_experiment["doppler"]} == {0.0, 0.01} and not any(r.robust for r in by_experiment["doppler"])
    assert all(r.awareness == "aware" for r in runs if r.method != "clean")
    assert {(r.channel_model, r.snr_db, r.channel_uses) for r in by_experiment["channel-model"]} == {("rayleigh", 10.0, 2)}


def test_the_grid_spans_the_multi_user_settings_by_their_own_run_kinds():
    from semalign.experiments.runs.federated import FederatedRun
    from semalign.experiments.runs.game import GameRun

    runs = robustness_runs(quick_grid(**TINY_MODELS_AND_MULTIUSER))
    federated = [r for r in runs if isinstance(r, FederatedRun)]
    game = [r for r in runs if isinstance(r, GameRun)]
    # error 0 once (robust has nothing to act on), 0.3 naive and robust
    assert {(r.csi_error, r.robust) for r in federated} == {(0.0, False), (0.3, False), (0.3, True)} == {(r.csi_error, r.robust) for r in game}
    assert all(r.pu_protection == "individual" and r.pu_limit_db == 10.0 for r in game)
    models = {r.channel_model for r in runs if isinstance(r, LinkRun) and r.experiment == "channel-model"}
    assert models == {"rayleigh", "tdl-a", "cdl-d"}
    with pytest.raises(ValueError, match="settings must name at least one"):
        quick_grid(settings=())
    with pytest.raises(ValueError, match="unknown settings 'downlink'; expected one of 'single-link', 'federated', 'game'"):
        quick_grid(settings=("downlink",))
    with pytest.raises(ValueError, match="unknown channel_model 'tdl-z'"):
        quick_grid(channel_models=("tdl-z",))


def test_bad_grid_values_are_named():
    with pytest.raises(ValueError, match="csi_error must be a fraction in"):
        quick_grid(csi_errors=(1.5,))
    with pytest.raises(ValueError, match="dopplers must be finite normalised Doppler frequencies"):
        quick_grid(dopplers=(-1.0,))
    with pytest.raises(ValueError, match="csi_pilots=2 orthogonal pilots cannot separate 4 transmit antennas"):
        robustness_runs(quick_grid(**TINY, csi_pilots=2))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("robustness")
    rows = run_study(get_study("robustness"), quick_grid(**TINY), out, progress=False)
    return out, rows


def test_rows_record_what_the_design_knew(study):
    _, rows = study
    runs = rows.filter(pl.col("method") != "clean")
    for column in ("csi", "csi_error", "csi_error_known", "pilot_snr_db", "doppler", "robust", "channel_model"):
        assert column in rows.columns, column
    assert set(runs["channel_model"]) == {"rayleigh"}
    assert set(runs["csi"]) == {"perfect", "error-model", "estimated", "outdated"}
    estimated = runs.filter(pl.col("csi") == "estimated")
    assert (estimated["csi_error_known"] > 0.5).all()  # 8 pilots at -10 dB miss most of the channel


def test_robust_designs_lose_less_to_csi_error(study):
    _, rows = study
    at = rows.filter((pl.col("experiment") == "csi-error") & (pl.col("csi_error") == 0.3))
    for method in ("linear-admm", "first-k"):
        naive = at.filter((pl.col("method") == method) & ~pl.col("robust"))["mse"].item()
        robust = at.filter((pl.col("method") == method) & pl.col("robust"))["mse"].item()
        assert robust < naive, method
    perfect = rows.filter((pl.col("experiment") == "csi-error") & (pl.col("csi_error") == 0.0) & (pl.col("method") == "linear-admm"))["mse"].item()
    outdated = rows.filter((pl.col("experiment") == "doppler") & (pl.col("doppler") == 0.01) & (pl.col("method") == "linear-admm"))["mse"].item()
    assert outdated > perfect  # the channel moved away from what the design knew


def test_figures_are_drawn(study):
    out, _ = study
    for name in ("robustness_vs_csi_error.png", "robustness_vs_pilot_snr.png", "robustness_vs_doppler.png"):
        assert (out / "figures" / name).stat().st_size > 10_000


def test_cli_rejects_bad_input_before_running(tmp_path):
    result = CliRunner().invoke(app, ["reproduce", "robustness", "--seeds", "x", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
    result = CliRunner().invoke(app, ["run", "link", "csi_error=2", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "csi_error must be a fraction in [0, 1]" in " ".join(result.output.split())


def test_the_grid_csi_pilots_reach_the_pilot_snr_runs():
    runs = robustness_runs(quick_grid(**TINY, csi_pilots=16))
    assert {r.csi_pilots for r in runs if r.experiment == "pilot-snr" and r.method != "clean"} == {16}


@pytest.fixture(scope="module")
def models_and_multiuser(tmp_path_factory):
    out = tmp_path_factory.mktemp("robustness-multiuser")
    rows = run_study(get_study("robustness"), quick_grid(**TINY_MODELS_AND_MULTIUSER), out, progress=False)
    return out, rows


def test_one_results_table_holds_every_settings_rows(models_and_multiuser):
    out, rows = models_and_multiuser
    stored = pl.read_parquet(out / "results.parquet")
    assert stored.height == rows.height
    assert set(stored["setting"]) == {"single-link", "federated", "game"}
    assert "robust" in stored.columns  # null where the run had no CSI error to be robust to
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run_kind"] == "link+federated+game" and manifest["setting"] == ["single-link", "federated", "game"]
    assert set(manifest["kinds"]) == {"link", "federated", "game"}
    assert manifest["runs"] == sum(part["runs"] for part in manifest["kinds"].values()) == len(set(stored["run_id"]))
    assert "csi_error" in manifest["kinds"]["game"]["swept"] and manifest["kinds"]["link"]["timing"]["executed"] > 0
    for column in ("csi", "csi_error", "channel_model"):
        assert stored.filter(pl.col("method") != "clean")[column].null_count() == 0, column


def test_every_channel_model_beats_the_mean_predictor(models_and_multiuser):
    _, rows = models_and_multiuser
    runs = rows.filter((pl.col("experiment") == "channel-model") & (pl.col("method") != "clean"))
    assert set(runs["channel_model"]) == {"rayleigh", "tdl-a", "cdl-d"}
    assert (runs["mse"] < runs["mean_predictor_mse"]).all()


def test_multi_user_rows_compare_naive_and_robust_under_error(models_and_multiuser):
    _, rows = models_and_multiuser
    federated = rows.filter((pl.col("setting") == "federated") & (pl.col("csi_error") == 0.3))
    naive, robust = (federated.filter(pl.col("robust") == flag)["mse"].mean() for flag in (False, True))
    assert robust < naive
    game = rows.filter(pl.col("setting") == "game")
    assert set(game["csi"]) == {"perfect", "error-model"}
    assert game["pu_interference"].null_count() == 0 and (game["pu_limit"] > 0).all()


def test_figures_of_the_models_and_the_multi_user_settings_are_drawn(models_and_multiuser):
    out, _ = models_and_multiuser
    for name in ("robustness_channel_models_vs_snr.png", "robustness_federated_vs_csi_error.png", "robustness_game_vs_csi_error.png"):
        assert (out / "figures" / name).stat().st_size > 10_000
