"""Sweeps: override parsing, grid expansion, batching, resume after a crash, Dask, the command line.

Runs are single-link fits on the digits zoo (linear ADMM and the baselines: well under a second
each), so the whole module takes seconds plus one Dask cluster start.
"""

from __future__ import annotations

import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from semalign.cli import app
from semalign.experiments.engine import RunContext, execute_runs, group_runs, run_id
from semalign.experiments.overrides import expand, parse_overrides, read_config_file
from semalign.experiments.runs import get_run_kind as get_experiment
from semalign.experiments.runs.link import LinkRun, run_link_group
from semalign.experiments.store import ResultStore


def run_sweep(kind, runs, out, *, device="cpu", threads=None, **options):
    kind = get_experiment(kind) if isinstance(kind, str) else kind
    return execute_runs(kind, runs, out, context=RunContext(device=device, threads=threads), **options)

SWEEP = ["method=linear-admm,first-k", "snr_db=-10,0,10", "seed=1,2", "n_antennas=2,4"]
N_RUNS = 2 * 3 * 2 * 2
VALUES = ["run_id", "method", "awareness", "snr_db", "seed", "n_tx", "accuracy", "mse", "noise_variance", "compression_factor"]


def _runs(tokens=SWEEP):
    return expand(LinkRun, parse_overrides(tokens, LinkRun, multirun=True))


def _sorted(frame: pl.DataFrame, columns=VALUES) -> pl.DataFrame:
    return frame.select(columns).sort("run_id")


# ---- overrides ----------------------------------------------------------------------------------


def test_overrides_parse_by_field_type_and_expand_to_the_product():
    sweep = parse_overrides([*SWEEP, "awareness=unaware", "pilots_per_class=20", "channel_variance=0.5", "tx=mlp64"], LinkRun, multirun=True)
    assert sweep["snr_db"] == [-10.0, 0.0, 10.0] and all(isinstance(v, float) for v in sweep["snr_db"])
    assert sweep["seed"] == [1, 2] and sweep["n_antennas"] == [2, 4] and sweep["channel_variance"] == [0.5]
    runs = expand(LinkRun, sweep)
    assert len(runs) == N_RUNS and len(set(runs)) == N_RUNS
    assert {(r.method, r.snr_db, r.seed, r.n_antennas) for r in runs} == {
        (m, s, seed, n) for m in ("linear-admm", "first-k") for s in (-10.0, 0.0, 10.0) for seed in (1, 2) for n in (2, 4)
    }
    assert all(r.awareness == "unaware" and r.pilots_per_class == 20 and r.tx == "mlp64" for r in runs)
    assert runs[0].method == "linear-admm" and runs[-1].method == "first-k"  # first key varies slowest


def test_overrides_ranges_none_and_last_wins():
    sweep = parse_overrides(["n_antennas=range(1,9,2)", "tx=none", "seed=3", "seed=4"], LinkRun, multirun=True)
    assert sweep["n_antennas"] == [1, 3, 5, 7] and sweep["tx"] == [None] and sweep["seed"] == [4]


@pytest.mark.parametrize(
    "token, multirun, message",
    [
        ("snr=10", True, "unknown key 'snr'; valid keys: latents, tx, rx"),
        ("snr_db", True, "not key=value"),
        ("snr_db=loud", True, "snr_db='loud': expected a number"),
        ("n_antennas=2.5", True, "n_antennas='2.5': expected an integer"),
        ("seed=", True, "seed='': a value is required"),
        ("snr_db=1,,2", True, "empty item"),
        ("snr_db=-10,0", False, "add -m (multirun)"),
        ("n_antennas=range(4,1)", True, "the range is empty"),
    ],
)
def test_bad_overrides_name_the_key_and_what_is_expected(token, multirun, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_overrides([token], LinkRun, multirun=multirun)


def test_runs_the_experiment_rejects_fail_at_expansion():
    with pytest.raises(ValueError, match="method"):
        expand(LinkRun, parse_overrides(["method=linear-admm,best"], LinkRun, multirun=True))
    with pytest.raises(ValueError, match="n_antennas must be a positive integer"):
        expand(LinkRun, parse_overrides(["n_antennas=0"], LinkRun, multirun=False))


def test_yaml_config_file(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("method: [linear-admm, top-k]\nsnr_db: [-10, 20]\nseed: 5\nawareness: unaware\n")
    sweep = read_config_file(path, LinkRun)
    assert sweep == {"method": ["linear-admm", "top-k"], "snr_db": [-10.0, 20.0], "seed": [5], "awareness": ["unaware"]}
    path.write_text("snr: 3\n")
    with pytest.raises(ValueError, match="unknown key 'snr'"):
        read_config_file(path, LinkRun)
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        read_config_file(path, LinkRun)
    with pytest.raises(ValueError, match="does not exist"):
        read_config_file(tmp_path / "missing.yaml", LinkRun)


# ---- grouping -----------------------------------------------------------------------------------


def test_groups_share_everything_but_the_batched_fields():
    link = get_experiment("link")
    runs = _runs([*SWEEP, "lam=0,0.001"])
    assert len(set(runs)) == N_RUNS  # lam is the neural model's: other methods' runs collapse
    groups = group_runs(link, runs + runs[:3])  # duplicates are run once
    assert sum(len(g) for g in groups) == N_RUNS
    assert len(groups) == 2 * 2 * 2  # method x seed x antennas; the SNRs batched
    for group in groups:
        assert len({(r.method, r.seed, r.n_antennas, r.awareness) for r in group}) == 1 and len(group) == 3
    neural = _runs(["method=neural", "snr_db=-10,0,10", "lam=0,0.001", "seed=1,2"])
    # SNR and lam batched per seed, and the seeds trained together (one loop): one group
    assert [len(g) for g in group_runs(link, neural)] == [12]
    assert [len(g) for g in group_runs(link, neural, max_batch=4)] == [4, 4, 4]
    assert [len(g) for g in group_runs(link, runs, batch=False)] == [1] * N_RUNS
    clean = _runs(["method=clean", "snr_db=-10,0,10", "n_antennas=2,4", "seed=1"])
    assert len(set(clean)) == 1  # the ceiling uses no link: one run per seed


def test_run_ids_are_stable_and_distinct():
    runs = _runs()
    assert len({run_id("link", r) for r in runs}) == len(runs)
    assert run_id("link", runs[0]) == run_id("link", LinkRun(**runs[0].__dict__))
    assert run_id("link", LinkRun(snr_db=10)) == run_id("link", LinkRun(snr_db=10.0))  # API int == CLI float


def test_none_words_are_values_of_plain_string_fields():
    from semalign.experiments.runs.game import GameRun

    sweep = parse_overrides(["pu_protection=null,none", "pu_limit_db=null"], GameRun, multirun=True)
    assert sweep == {"pu_protection": ["null", "none"], "pu_limit_db": [None]}
    assert {r.pu_protection for r in expand(GameRun, sweep)} == {"null", "none"}
    with pytest.raises(ValueError, match="expected one float or none value, not a dict"):
        from semalign.experiments.overrides import parse_value

        parse_value("pu_limit_db", {"a": 1}, float, True)


# ---- execution ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory, digits_cache):
    """The sweep run in one piece in this process (batched)."""
    import os

    os.environ["SEMALIGN_CACHE"] = str(digits_cache)
    out = tmp_path_factory.mktemp("sweep") / "reference"
    return out, run_sweep("link", _runs(), out, progress=False)


def test_rows_one_per_run_with_settings_and_conventions(reference):
    out, rows = reference
    assert rows.height == N_RUNS and rows["run_id"].n_unique() == N_RUNS
    for column in ("snr_convention", "channel_variance", "power", "seed", "n_antennas", "pilots_per_class", "semalign_version", "device", "dataset", "tx_encoder"):
        assert column in rows.columns and rows[column].null_count() == 0
    assert_frame_equal(_sorted(pl.read_parquet(out / "results.parquet")), _sorted(rows))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runs"] == N_RUNS and set(manifest["swept"]) == {"method", "snr_db", "seed", "n_antennas"}
    assert manifest["kind"] == "sweep" and manifest["run_kind"] == "link" and manifest["setting"] == "single-link"
    assert manifest["timing"]["groups"] == 8 and manifest["timing"]["executed"] == N_RUNS


def test_batched_rows_equal_one_by_one_and_the_study_runner(reference, tmp_path, digits_cache_env):
    _, rows = reference
    single = run_sweep("link", _runs(), tmp_path / "single", batch=False, progress=False)
    assert_frame_equal(_sorted(single), _sorted(rows), check_exact=False, rel_tol=1e-5, abs_tol=1e-7)
    # The same fit as the study's runs do it (one group of the study's SNR experiment).
    snr_runs = [LinkRun(experiment="snr", method="linear-admm", pilots_per_class=100, n_antennas=4, seed=2, snr_db=s) for s in (-10.0, 0.0, 10.0)]
    study = run_link_group(snr_runs, [run_id("link", r) for r in snr_runs])
    mine = rows.filter((pl.col("method") == "linear-admm") & (pl.col("seed") == 2) & (pl.col("n_tx") == 4)).sort("snr_db")
    assert mine["accuracy"].to_list() == [r["accuracy"] for r in study]
    assert mine["mse"].to_list() == pytest.approx([r["mse"] for r in study], rel=1e-12)


class SimulatedCrash(Exception):
    """Stands in for a kill in the middle of a sweep."""


def test_crash_mid_sweep_then_resume_loses_and_duplicates_nothing(reference, tmp_path, digits_cache_env):
    _, rows = reference
    out = tmp_path / "crashed"
    finished = []

    def crash_after_three(group_rows):
        finished.append(len(group_rows))
        if len(finished) == 3:
            raise SimulatedCrash

    with pytest.raises(SimulatedCrash):
        run_sweep("link", _runs(), out, progress=False, on_group_done=crash_after_three)
    stored = ResultStore(out).done_runs()
    assert len(stored) == sum(finished)  # the three finished groups are on disk
    resumed_groups = []
    resumed = run_sweep("link", _runs(), out, progress=False, on_group_done=resumed_groups.append)
    assert sum(len(g) for g in resumed_groups) == N_RUNS - len(stored)  # only the missing runs ran
    assert not {r["run_id"] for g in resumed_groups for r in g} & stored
    assert resumed.height == N_RUNS and resumed["run_id"].n_unique() == N_RUNS
    assert_frame_equal(_sorted(resumed), _sorted(rows))
    # An extended sweep in the same folder reuses every stored run.
    more = []
    extended = run_sweep("link", _runs([*SWEEP[:1], "snr_db=-10,0,10,20", *SWEEP[2:]]), out, progress=False, on_group_done=more.append)
    assert sum(len(g) for g in more) == 2 * 2 * 2 and extended.height == N_RUNS + 8


def test_dask_local_cluster_gives_the_same_rows(reference, tmp_path, digits_cache_env):
    pytest.importorskip("dask.distributed")
    _, rows = reference
    import torch

    # Every worker with this process's torch threads: float32 GEMMs round alike.
    distributed = run_sweep("link", _runs(), tmp_path / "dask", executor="dask", workers=2, threads=torch.get_num_threads(), progress=False)
    assert_frame_equal(_sorted(distributed, [c for c in VALUES]), _sorted(rows), check_exact=False, rel_tol=1e-6, abs_tol=1e-8)


def test_bad_sweeps_fail_before_anything_runs(tmp_path, digits_cache_env):
    with pytest.raises(ValueError, match=r"n_antennas \[64\] exceed the complex latent size ceil\(d_tx/2\) = 32"):
        run_sweep("link", [LinkRun(n_antennas=64)], tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match="unknown executor 'slurm'"):
        run_sweep("link", [LinkRun()], tmp_path / "bad", executor="slurm", progress=False)
    with pytest.raises(ValueError, match="unknown experiment 'links'; expected one of link"):
        get_experiment("links")


# ---- command line -------------------------------------------------------------------------------


def test_command_line_sweep_resume_and_errors(tmp_path, digits_cache_env):
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["run", "link", "method=linear-admm,clean", "snr_db=-10,10", "seed=1,2", "n_antennas=2", "-m", "--out", str(out), "--no-progress"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    rows = pl.read_parquet(out / "results.parquet")
    assert rows.height == 4 + 2 and "Mean over seeds" in done.output  # the clean ceiling once per seed
    assert (out / "figures" / "sweep_vs_snr_db.png").stat().st_size > 10_000
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and pl.read_parquet(out / "results.parquet").height == 6
    dry = runner.invoke(app, ["run", "link", "snr_db=-10,0,10", "seed=1,2", "-m", "--dry-run"])
    assert dry.exit_code == 0 and "6 runs in 2 batched calls" in dry.output
    config = tmp_path / "c.yaml"
    config.write_text("snr_db: [0, 10]\nmethod: top-k\n")
    from_file = runner.invoke(app, ["run", "link", "--config", str(config), "seed=3", "-m", "--dry-run"])
    assert from_file.exit_code == 0 and "2 runs in 1 batched calls" in from_file.output
    for bad, message in (
        (["run", "link", "snr=3"], "unknown key 'snr'; valid keys"),
        (["run", "link", "snr_db=0,10"], "add -m"),
        (["run", "nope"], "unknown experiment 'nope'"),
        (["run", "link", "--config", str(config)], "add -m"),
    ):
        result = runner.invoke(app, bad)
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


# ---- the game and federated experiments ----------------------------------------------------------


def test_game_sweep_batches_seeds_and_gives_one_row_per_pair(tmp_path, digits_cache_env):
    from semalign.experiments.runs.game import GameRun

    runs = expand(GameRun, parse_overrides(["method=game-fixed-eigenmode,orthogonal", "cross_gain_db=-20,0", "seed=1,2", "channel_uses=1"], GameRun, multirun=True))
    game = get_experiment("game")
    assert len(group_runs(game, runs)) == 4  # the two seeds of a setting are one batch of games
    batched = run_sweep(game, runs, tmp_path / "batched", progress=False)
    assert batched.height == len(runs) * 3 and batched["run_id"].n_unique() == len(runs)  # three pairs
    assert set(batched["experiment"]) == {"game"} and batched.group_by("run_id").len()["len"].to_list() == [3] * len(runs)
    single = run_sweep(game, runs, tmp_path / "single", batch=False, progress=False)
    key = ["run_id", "pair"]
    assert_frame_equal(single.select(*key, "accuracy", "mse").sort(key), batched.select(*key, "accuracy", "mse").sort(key), check_exact=False, rel_tol=1e-6)
    asynchronous = expand(GameRun, parse_overrides(["schedule=async", "seed=1,2,3"], GameRun, multirun=True))
    assert [len(g) for g in group_runs(game, asynchronous)] == [1, 1, 1]  # random wake-ups: never batched
    with pytest.raises(ValueError, match="needs pu_limit_db"):
        GameRun(pu_protection="individual")
    with pytest.raises(ValueError, match="does not support pu_protection='global'"):
        GameRun(method="centralized", pu_protection="global", pu_limit_db=0.0)
    with pytest.raises(ValueError, match="runs on cpu, not 'cuda'"):
        run_sweep(game, runs, tmp_path / "cuda", device="cuda", progress=False)


def test_federated_sweep_one_row_per_user_and_resume(tmp_path, digits_cache_env):
    from semalign.experiments.runs.federated import FederatedRun

    runs = expand(FederatedRun, parse_overrides(["method=federated-admm,first-k", "channel_uses=1", "seed=1", "rounds=5"], FederatedRun, multirun=True))
    out = tmp_path / "federated"
    rows = run_sweep("federated", runs, out, progress=False)
    assert rows.height == 2 * 4 and set(rows.group_by("run_id").len()["len"]) == {4}  # four users
    assert set(rows["rx_encoder"]) == {"mlp64", "cnn128", "cnn48-tanh", "mlp96-gelu"}
    executed = []
    again = run_sweep("federated", runs, out, progress=False, on_group_done=executed.append)
    assert not executed  # every run was stored: nothing reran
    assert_frame_equal(again.sort("run_id", "user"), rows.sort("run_id", "user"))
    with pytest.raises(ValueError, match=r"channel_uses x n_antennas \[\(16, 4\)\] exceed"):
        run_sweep("federated", [FederatedRun(channel_uses=16, n_antennas=4)], tmp_path / "big", progress=False)


def test_run_ids_follow_the_latents_a_run_reads(tmp_path, monkeypatch):
    """Re-extracted or edited latents are new data: the runs that read them get new ids."""
    import os

    monkeypatch.setenv("SEMALIGN_CACHE", str(tmp_path / "cache"))
    import numpy as np

    link = get_experiment("link")
    path = tmp_path / "latents.npz"
    np.savez(path, x=np.zeros((4, 2)))
    run = LinkRun(latents=str(path))
    first = run_id("link", run, link.data_version(run))
    os.utime(path, ns=(1, 1))
    assert run_id("link", run, link.data_version(run)) != first
    assert link.data_version(LinkRun()) == ""  # the digits zoo is versioned with the package
    timm = LinkRun(latents="timm", dataset="cifar10", tx="a", rx="b")
    assert link.data_version(timm) == "timm:missing,missing,missing,missing"
