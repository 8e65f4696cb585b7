"""The robustness study: its grid, its rows (the CSI columns every row records), its figures, and
what it measures (robust designs lose less to CSI error than naive ones)."""

from __future__ import annotations

import polars as pl
import pytest
from typer.testing import CliRunner

from semalign.cli import app
from semalign.experiments.studies import get_study, run_study
from semalign.experiments.studies.robustness import quick_grid, robustness_runs

TINY = dict(seeds=(27,), methods=("linear-admm", "first-k"), csi_errors=(0.0, 0.3), pilot_snrs_db=(-10.0,), dopplers=(0.0, 0.01))


def test_grid_expands_into_each_experiment_naive_and_robust():
    runs = robustness_runs(quick_grid(**TINY))
    by_experiment = {exp: [r for r in runs if r.experiment == exp and r.method != "clean"] for exp in ("csi-error", "pilot-snr", "doppler")}
    # csi-error: error 0 is one run (robust has nothing to act on), 0.3 naive and robust, per method.
    assert len(by_experiment["csi-error"]) == 2 * 3
    assert {(r.csi_error, r.robust) for r in by_experiment["csi-error"]} == {(0.0, False), (0.3, False), (0.3, True)}
    assert len(by_experiment["pilot-snr"]) == 2 * 2 and all(r.pilot_snr_db == -10.0 for r in by_experiment["pilot-snr"])
    assert {r.doppler for r in by_experiment["doppler"]} == {0.0, 0.01} and not any(r.robust for r in by_experiment["doppler"])
    assert all(r.awareness == "aware" for r in runs if r.method != "clean")


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
