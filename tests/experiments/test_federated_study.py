"""The federated downlink study end to end on small synthetic users: rows, columns, figures,
resume after a crash, the command line, and the synthetic users seeing the same samples."""

from __future__ import annotations

import polars as pl
import pytest
from typer.testing import CliRunner

from semalign.cli import app
from semalign.experiments.engine import RunContext, run_id
from semalign.experiments.runs import federated as federated_runs
from semalign.experiments.runs.federated import synthetic_pool
from semalign.experiments.studies import federated as federated_study
from semalign.experiments.studies import run_study
from semalign.experiments.studies.federated import FederatedGrid, federated_runs as plan_runs


def run_federated(grid, out, progress=False, figures=True, executor="local"):
    return run_study("federated", grid, out, progress=progress, figures=figures, context=RunContext(protocol_executor=executor))

GRID = dict(
    latents="synthetic",
    heterogeneity_sources=("synthetic",),
    synthetic_options={"n_train": 300, "n_test": 200, "d_tx": 16, "seed": 5},
    synthetic_users=(("a", 1.0, 12), ("b", 1.0, 20), ("c", 0.0, 12), ("d", 0.0, 20)),
    synthetic_homogeneous_sets=(("a", "b"), ("c", "d")),
    synthetic_heterogeneous_sets=(("a", "c"), ("b", "d")),
    seeds=(1, 2),
    rounds=8,
    compression_antennas=(1, 2),
    compression_channel_uses=(2, 8),  # N = 2, T = 8 is 200 % of the 8 complex AP entries: dropped
    snr_values=(0.0, 20.0),
    snr_channel_uses=(1,),
    heterogeneity_channel_uses=(1, 2),
    pilot_fractions=(0.2, 1.0),
)
REQUIRED = (
    "experiment", "method", "user", "n_users", "user_set", "seed", "accuracy", "mse", "clean_accuracy", "snr_db",
    "snr_convention", "channel_uses", "n_tx", "n_rx", "compression_factor", "channel_variance", "power", "pilot_fraction",
    "n_pilots", "bytes_uplink", "bytes_downlink", "training_channel_uses", "total_channel_uses", "precoder_power", "tx_encoder",
    "rx_encoder", "processing", "semalign_version", "run_id", "setting",
)  # fmt: skip


class SimulatedCrash(Exception):
    pass


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("federated")
    return out, run_federated(FederatedGrid(**GRID), out, progress=False)


def test_rows_cover_every_task_with_the_issue_columns(study):
    out, results = study
    grid = FederatedGrid(**GRID)
    tasks = plan_runs(grid)
    assert set(results["run_id"].unique()) == {run_id("federated", t) for t in tasks}
    assert not any(t.experiment == "compression" and t.n_antennas * t.channel_uses > 8 for t in tasks)
    for column in REQUIRED:
        assert column in results.columns, column
    assert set(results["method"].unique()) == {"federated-admm", "federated-prox", "multi-link", "first-k", "top-k"}
    assert set(results["experiment"].unique()) == {"compression", "snr", "heterogeneity", "pilots"}
    assert results["accuracy"].is_between(0, 1).all() and (results["mse"] > 0).all()
    # One row per user: four users in the main experiments, sets of two (or one) in the heterogeneity study.
    main = results.filter(pl.col("experiment") != "heterogeneity")
    assert main.height == len([t for t in tasks if t.experiment != "heterogeneity"]) * 4
    assert set(main["n_users"].unique()) == {4} and set(main["user"].unique()) == {0, 1, 2, 3}
    hetero = results.filter(pl.col("experiment") == "heterogeneity")
    assert set(hetero["user_set"].unique()) == {"homogeneous", "heterogeneous", "single"}
    assert set(hetero.filter(pl.col("user_set") == "single")["n_users"].unique()) == {1}
    # Accounting: the baselines send nothing up; the federated variants do; multi-link is K links.
    assert (results.filter(pl.col("method").is_in(["first-k", "top-k"]))["bytes_uplink"] == 0).all()
    assert (results.filter(pl.col("method").is_in(["federated-admm", "multi-link"]))["bytes_uplink"] > 0).all()
    multi = main.filter(pl.col("method") == "multi-link")
    assert (multi["total_channel_uses"] == 4 * multi["channel_uses"]).all()
    shared = main.filter(pl.col("method") == "federated-admm")
    assert (shared["total_channel_uses"] == shared["channel_uses"]).all() and (results["precoder_power"] <= 1 + 1e-6).all()
    # Pilots: the fraction is recorded with the count; every row records the link conventions.
    pilots = results.filter(pl.col("experiment") == "pilots")
    assert pilots.filter(pl.col("pilot_fraction") == 0.2)["n_pilots"].max() < pilots.filter(pl.col("pilot_fraction") == 1.0)["n_pilots"].min() == 300
    assert results.select(["snr_convention", "channel_variance", "power", "seed", "n_pilots", "channel_uses"]).null_count().sum_horizontal()[0] == 0
    # Each user's classifier is trained once per seed: one clean ceiling per user and seed.
    assert results.group_by(["rx_encoder", "seed"]).agg(pl.col("clean_accuracy").n_unique())["clean_accuracy"].max() == 1
    for name in (
        "federated_accuracy_vs_compression.png", "federated_mse_vs_compression.png", "federated_accuracy_vs_snr.png",
        "federated_accuracy_heterogeneous_vs_homogeneous.png", "federated_accuracy_vs_pilots.png", "federated_accuracy_per_user.png",
    ):  # fmt: skip
        assert (out / "figures" / name).stat().st_size > 10_000, name


def test_synthetic_users_are_views_of_the_same_samples():
    grid = FederatedGrid(**GRID)
    pool = synthetic_pool(grid.synthetic_options, grid.synthetic_users)
    assert pool.names == ("a", "b", "c", "d") and pool.d_ap == 16
    assert [pool.users[u][0].shape[1] for u in pool.names] == [12, 20, 12, 20]
    # Users at proximity 1 share the AP agent's hidden features: they align with it better than users at 0.
    from semalign.experiments.runs.federated import _linear_cka

    near, far = _linear_cka(pool.ap_train, pool.users["a"][0]), _linear_cka(pool.ap_train, pool.users["c"][0])
    assert near > far
    with pytest.raises(ValueError, match="same samples"):  # more samples than one generation chunk
        synthetic_pool({**grid.synthetic_options, "n_train": 9000}, (("a", 1.0, 12), ("b", 1.0, 40)))


def test_interrupted_study_resumes_without_duplicates(tmp_path, monkeypatch):
    grid = FederatedGrid(**{**GRID, "experiments": ("compression",), "methods": ("federated-admm", "first-k"), "compression_antennas": (2,)})
    tasks = plan_runs(grid)
    original = federated_runs.run_federated_group
    calls = {"n": 0}

    def crashing(runs, run_ids, context):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SimulatedCrash
        return original(runs, run_ids, context)

    monkeypatch.setattr(federated_runs, "run_federated_group", crashing)
    with pytest.raises(SimulatedCrash):
        run_federated(grid, tmp_path, progress=False, figures=False)
    assert len(list((tmp_path / "parts").glob("*.parquet"))) == 2
    monkeypatch.setattr(federated_runs, "run_federated_group", original)
    results = run_federated(grid, tmp_path, progress=False, figures=False)
    assert results.height == len(tasks) * 4
    assert results.select(["run_id", "seed", "user"]).is_duplicated().sum() == 0


def test_command_line_runs_a_seed_and_redraws(tmp_path, monkeypatch):
    small = {**GRID, "experiments": ("snr", "heterogeneity"), "methods": ("federated-admm", "top-k"), "heterogeneity_channel_uses": (1,)}
    monkeypatch.setattr(federated_study, "quick_grid", lambda **kw: FederatedGrid(**{**small, **kw}))
    runner = CliRunner()
    result = runner.invoke(app, ["reproduce", "federated", "--out", str(tmp_path), "--seeds", "3", "--latents", "synthetic", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "heterogeneity" in result.output and "federated-admm" in result.output
    frame = pl.read_parquet(tmp_path / "results.parquet")
    assert set(frame["seed"].unique()) == {3} and "n_users" in frame.columns
    (tmp_path / "figures" / "federated_accuracy_vs_snr.png").unlink()
    redraw = runner.invoke(app, ["figures", str(tmp_path)])
    assert redraw.exit_code == 0 and "wrote" in redraw.output
    assert (tmp_path / "figures" / "federated_accuracy_vs_snr.png").stat().st_size > 10_000
    widely = runner.invoke(app, ["reproduce", "federated", "--out", str(tmp_path / "wl"), "--seeds", "3", "--latents", "synthetic", "--no-progress", "--processing", "widely-linear"])
    assert widely.exit_code == 0, widely.output
    rows = pl.read_parquet(tmp_path / "wl" / "results.parquet").filter(pl.col("method") == "federated-admm")
    assert rows.height and set(rows["processing"].unique()) == {"widely-linear"}
    for bad, word in ((["--latents", "cifar"], "latents"), (["--snr-convention", "peak"], "snr_convention"), (["--baseline-processing", "cubic"], "processing"), (["--processing", "cubic"], "processing"), (["--seeds", "x"], "seeds")):
        outcome = runner.invoke(app, ["reproduce", "federated", "--out", str(tmp_path / "bad"), "--no-progress", *bad])
        assert outcome.exit_code == 2 and word in outcome.output, (bad, outcome.output)
    assert not (tmp_path / "bad" / "results.parquet").exists()


def test_grid_rejects_unknown_users_and_methods():
    with pytest.raises(ValueError, match="method"):
        FederatedGrid(methods=("eigen-k",))
    with pytest.raises(ValueError, match="not one of users"):
        FederatedGrid(homogeneous_sets=(("mlp64", "vit"),))
    with pytest.raises(ValueError, match="pilot_fractions"):
        FederatedGrid(pilot_fractions=(0.0,))


def test_dask_executor_gives_the_local_rows(tmp_path):
    """The same tiny study with the AP and users as Dask actors on a local cluster: identical results."""
    pytest.importorskip("dask.distributed")
    grid = FederatedGrid(**{**GRID, "seeds": (1,), "experiments": ("snr",), "methods": ("federated-admm",), "snr_values": (20.0,)})
    local = run_federated(grid, tmp_path / "local", progress=False, figures=False)
    remote = run_federated(grid, tmp_path / "dask", progress=False, figures=False, executor="dask")
    columns = ["run_id", "user", "accuracy", "mse", "bytes_uplink", "bytes_downlink"]
    key = ["run_id", "user"]
    left, right = local.select(columns).sort(key), remote.select(columns).sort(key)
    assert left.height == right.height > 0
    # Float32 latents: the batched in-process G steps and the one-user ones on workers round differently.
    assert (left["accuracy"] - right["accuracy"]).abs().max() <= 1 / 200
    assert ((left["mse"] - right["mse"]).abs() / left["mse"]).max() < 1e-5
    assert left["bytes_uplink"].to_list() == right["bytes_uplink"].to_list()
