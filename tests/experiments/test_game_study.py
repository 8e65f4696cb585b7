"""The interference-game study end to end on small synthetic pairs: rows, columns, figures, resume
after a crash, and the command line."""

from __future__ import annotations

import polars as pl
import pytest
from typer.testing import CliRunner

from semalign.cli import app
from semalign.experiments.engine import run_id
from semalign.experiments.runs import game as game_runs
from semalign.experiments.studies import game as game_study
from semalign.experiments.studies import run_study
from semalign.experiments.studies.game import GameGrid, game_runs as plan_runs


def run_game(grid, out, progress=False, figures=True):
    return run_study("game", grid, out, progress=progress, figures=figures)

GRID = dict(
    latents="synthetic",
    pairs=(("a", "b"), ("c", "d")),
    synthetic_options={"n_train": 400, "n_test": 200, "d_tx": 12, "d_rx": 16},
    seeds=(1, 2),
    pilots_per_class=20,
    compression_channel_uses=(1, 2),
    cross_gains_db=(-20.0, 0.0),
    cross_channel_uses=2,
    pu_limits_db=(0.0,),
    pu_channel_uses=2,
    convergence_cross_gains_db=(-20.0,),
    convergence_draws=3,
    max_iterations=60,
)
REQUIRED = (
    "experiment", "method", "pair", "seed", "converged", "iterations", "condition_holds", "pu_interference", "pu_limit",
    "accuracy", "mse", "snr_db", "snr_convention", "channel_uses", "compression_factor", "channel_variance", "power",
    "tx_encoder", "rx_encoder", "n_pairs", "cross_gain_db", "pu_protection", "semalign_version",
)  # fmt: skip


class SimulatedCrash(Exception):
    pass


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("game")
    return out, run_game(GameGrid(**GRID), out, progress=False)


def test_rows_cover_every_task_with_the_issue_columns(study):
    out, results = study
    grid = GameGrid(**GRID)
    assert set(results["run_id"].unique()) == {run_id("game", run) for run in plan_runs(grid)}
    for column in REQUIRED:
        assert column in results.columns, column
    accuracy_rows = results.filter(pl.col("experiment") != "convergence")
    assert accuracy_rows["accuracy"].is_between(0, 1).all()
    assert set(accuracy_rows["pair"].unique()) == {0, 1}
    assert set(results["method"].unique()) == {"game-fixed-eigenmode", "game-full-mimo", "ignore-interference", "centralized", "orthogonal"}
    # Convergence rows: one per instance, every schedule.
    conv = results.filter(pl.col("experiment") == "convergence")
    assert conv.height == 2 * 3 * len(grid.seeds) * grid.convergence_draws
    assert set(conv["schedule"].unique()) == {"jacobi", "gauss-seidel", "async"}
    # Primary-user limits hold wherever there is one.
    limited = results.filter(pl.col("pu_limit").is_not_null() & (pl.col("pu_protection") != "null"))
    assert limited.height and (limited["pu_interference"] <= limited["pu_limit"] * (1 + 1e-9)).all()
    nulled = results.filter(pl.col("pu_protection") == "null")
    assert nulled.height and (nulled["pu_interference"].abs() < 1e-12).all()
    for name in ("game_accuracy_vs_compression.png", "game_accuracy_vs_cross_gain.png", "game_accuracy_vs_pu_limit.png", "game_convergence.png"):
        assert (out / "figures" / name).stat().st_size > 10_000


def test_fixed_eigenmode_converges_and_certified_instances_converge(study):
    _, results = study
    fixed = results.filter(pl.col("method") == "game-fixed-eigenmode")
    assert fixed["converged"].all()
    certified = results.filter((pl.col("experiment") == "convergence") & pl.col("condition_holds"))
    assert certified["converged"].all()


def test_interrupted_study_resumes_without_duplicates(tmp_path, monkeypatch):
    grid = GameGrid(**{**GRID, "experiments": ("compression",), "methods": ("game-fixed-eigenmode", "orthogonal")})
    runs = plan_runs(grid)  # one per setting, method and seed; a setting's seeds form one group
    original = game_runs.run_game_group
    calls = {"n": 0}

    def crashing(runs_, run_ids, context):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SimulatedCrash
        return original(runs_, run_ids, context)

    monkeypatch.setattr(game_runs, "run_game_group", crashing)
    with pytest.raises(SimulatedCrash):
        run_game(grid, tmp_path, progress=False, figures=False)
    assert len(list((tmp_path / "parts").glob("*.parquet"))) == 2
    monkeypatch.setattr(game_runs, "run_game_group", original)
    results = run_game(grid, tmp_path, progress=False, figures=False)
    assert results.height == len(runs) * 2
    assert results.select(["run_id", "seed", "pair"]).is_duplicated().sum() == 0


def test_command_line_runs_a_seed_and_redraws(tmp_path, monkeypatch):
    monkeypatch.setattr(game_study, "quick_grid", lambda **kw: GameGrid(**{**GRID, **kw, "experiments": ("cross-gain",)}))
    runner = CliRunner()
    result = runner.invoke(app, ["reproduce", "game", "--out", str(tmp_path), "--seeds", "3", "--latents", "synthetic", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "cross-gain" in result.output
    frame = pl.read_parquet(tmp_path / "results.parquet")
    assert set(frame["seed"].unique()) == {3}
    redraw = runner.invoke(app, ["figures", str(tmp_path)])
    assert redraw.exit_code == 0 and "wrote" in redraw.output
    assert (tmp_path / "figures" / "game_accuracy_vs_cross_gain.png").exists()
    bad = runner.invoke(app, ["reproduce", "game", "--out", str(tmp_path / "x"), "--schedule", "newton"])
    assert bad.exit_code == 2 and "schedule" in bad.output
