"""The single-link study end to end on small synthetic latents: rows, figures, resume, crashes,
determinism, shared channels and the command line.

Two full runs of a tiny grid are shared by the whole module (``study``: one clean run;
``crashed_study``: a run interrupted after a few groups of runs, then resumed in another folder).
"""

from __future__ import annotations

import math
import shutil

import polars as pl
import pytest
import torch
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

import semalign
from semalign.cli import app
from semalign.experiments.engine import group_runs, run_id
from semalign.experiments.runs import get_run_kind
from semalign.experiments.runs import link as link_runs
from semalign.experiments.store import ResultStore
from semalign.experiments.studies import mimo, run_study
from semalign.experiments.studies.mimo import mimo_runs, quick_grid
from semalign.link.channel import channel_for_seed

D_TX = 24  # ceil(D_TX / 2) = 12 complex symbols
LATENTS = dict(n_train=600, n_test=300, d_tx=D_TX, d_rx=40, seed=0)
GRID = dict(
    latents="synthetic",
    latents_options=LATENTS,
    seeds=(1, 2),
    compression_pilots=(30,),
    compression_antennas=(1, 4, 12),
    snr_values=(-10.0, 30.0),
    snr_antennas=4,
    snr_pilots=30,
    flops_pilots=30,
    flops_antennas=(1, 4),
    flops_lams=(0.0, 1e-3),
    neural_epochs=8,
)
REQUIRED_COLUMNS = (
    "experiment", "method", "seed", "snr_db", "snr_convention", "channel_uses", "n_tx", "n_rx",
    "compression_factor", "pilots_per_class", "awareness", "tx_encoder", "rx_encoder", "accuracy", "mse",
    "semalign_version", "dataset", "iterations", "rho", "power", "channel_variance",
)  # fmt: skip
ROW_KEY = ["run_id", "snr_db", "lam"]
VALUES = [*ROW_KEY, "experiment", "method", "awareness", "seed", "n_tx", "compression_factor", "accuracy", "mse", "noise_variance"]
CRASH_AFTER = 9  # groups of runs finished before the simulated crash (6 clean references, then 3 fits)
FIGURES = ("accuracy_vs_compression.png", "accuracy_vs_snr.png", "mse_vs_compression.png", "mse_vs_snr.png", "accuracy_vs_flops.png")


class SimulatedCrash(Exception):
    """Stands in for a kill or an out-of-memory error in the middle of a study."""


def _rows(frame: pl.DataFrame, columns=VALUES) -> pl.DataFrame:
    return frame.select(columns).sort(ROW_KEY, nulls_last=True)


def _expected_rows(runs) -> int:
    return len(runs)  # one row per run


def _ids(runs) -> dict:
    return {run: run_id("link", run) for run in runs}


def run_mimo(grid, out, progress=False, figures=True, on_group_done=None):
    if on_group_done is None:
        return run_study("mimo", grid, out, progress=progress, figures=figures)
    from semalign.experiments.engine import execute_runs

    return execute_runs(get_run_kind("link"), mimo_runs(grid), out, progress=progress, study="mimo", on_group_done=on_group_done)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """The study's matrices are tiny: one intra-op thread is as fast on an idle machine, and avoids
    a 10-20x slowdown from OpenMP spin-waiting when other processes share the cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def grid():
    return quick_grid(**GRID)


@pytest.fixture(scope="module")
def tasks(grid):
    """The study's runs (one row each)."""
    return mimo_runs(grid)


@pytest.fixture(scope="module")
def study(grid, tmp_path_factory):
    """One complete run: (folder, returned results)."""
    out = tmp_path_factory.mktemp("mimo-study")
    return out, run_mimo(grid, out, progress=False)


@pytest.fixture(scope="module")
def crashed_study(grid, tasks, tmp_path_factory):
    """A run in a second folder that crashes after CRASH_AFTER groups of runs, then a resumed run.

    Records what the crash left behind, which runs the resumed run executed, and every channel
    handed to a transceiver in either run.
    """
    out = tmp_path_factory.mktemp("mimo-crashed")
    original_run, original_make = link_runs.run_link_group, link_runs._transceiver
    finished: list[str] = []
    channels: list[tuple] = []

    def crash_after_some(rows):
        finished.extend(dict.fromkeys(row["run_id"] for row in rows))
        if len(finished) >= CRASH_AFTER:
            raise SimulatedCrash(f"simulated crash after {len(finished)} runs")

    def spying_make(run, channel, snrs, lams, device, *csi):
        channels.append((run.method, run.awareness, run.seed, channel.shape[-1], channel.clone()))
        return original_make(run, channel, snrs, lams, device, *csi)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(link_runs, "_transceiver", spying_make)
        with pytest.raises(SimulatedCrash):
            run_mimo(grid, out, on_group_done=crash_after_some)
        after_crash = {
            "parts": sorted(p.stem for p in (out / "parts").glob("*.parquet")),
            "stored": sorted(ResultStore(out).done_runs()),
            "tmp": sorted(str(p) for p in out.rglob("*.tmp")),
            "results": (out / "results.parquet").exists(),
        }
        resumed: list[str] = []

        def counting_run(runs, run_ids, context):
            resumed.extend(run_ids)
            return original_run(runs, run_ids, context)

        patch.setattr(link_runs, "run_link_group", counting_run)
        results = run_mimo(grid, out, progress=False, figures=False)
    return {"out": out, "finished": finished, "after_crash": after_crash, "resumed": resumed, "results": results, "channels": channels}


# --------------------------------------------------------------------------------- the results
def test_results_file_has_the_contract_columns(study):
    out, results = study
    stored = pl.read_parquet(out / "results.parquet")
    missing = [c for c in REQUIRED_COLUMNS if c not in stored.columns]
    assert not missing, f"results.parquet lacks {missing}"
    assert set(stored.columns) == set(results.columns)
    assert_frame_equal(_rows(stored, list(stored.columns)), _rows(results, list(stored.columns)))


def test_one_row_per_planned_run(study, tasks):
    _, results = study
    # 6 clean references (3 experiments x 2 seeds); 2 seeds x 5 methods x 2 awareness x (3 compression
    # + 2 SNR rows); flops: 2 seeds x 2 antenna counts x (1 linear + 2 neural lam rows).
    assert results.height == _expected_rows(tasks) == 6 + 100 + 12
    assert results.select(ROW_KEY).is_duplicated().sum() == 0
    ids = _ids(tasks)
    assert set(results["run_id"].unique()) == set(ids.values())
    for task, identifier in ids.items():
        rows = results.filter(pl.col("run_id") == identifier)
        if task.method == "clean":
            assert rows.height == 1 and rows["snr_db"][0] is None
        else:
            assert rows["snr_db"].to_list() == [task.snr_db]
    # Runs that differ only in their SNR (and the neural lam) were fitted as one batched call; the
    # neural model trains its seeds and awarenesses together too (one loop per antenna count and
    # experiment): 6 clean, 2 seeds x 4 other methods x 2 awareness x (3 compression + 1 snr),
    # 2 seeds x 2 linear flops fits, neural 3 compression + 1 snr + 2 flops loops.
    groups = group_runs(get_run_kind("link"), tasks)
    assert len(groups) == 6 + 2 * 4 * 2 * (3 + 1) + 2 * 2 + (3 + 1) + 2


def test_methods_and_settings(study, grid):
    _, results = study
    assert set(results["method"].unique()) == {"linear-admm", "neural", "first-k", "top-k", "eigen-k", "clean"}
    assert set(results["experiment"].unique()) == {"compression", "snr", "flops"}
    assert set(results["seed"].unique()) == {1, 2}
    fitted = results.filter(pl.col("method") != "clean")
    assert set(fitted["awareness"].unique()) == {"aware", "unaware"}
    assert set(results.filter(pl.col("method") == "clean")["awareness"].unique()) == {"none"}
    assert set(fitted.filter(pl.col("experiment") == "compression")["snr_db"].unique()) == {grid.compression_snr_db}
    assert set(fitted.filter(pl.col("experiment") == "snr")["snr_db"].unique()) == {-10.0, 30.0}
    assert set(fitted.filter(pl.col("experiment") == "snr")["n_tx"].unique()) == {4}
    assert (fitted["n_tx"] == fitted["n_rx"]).all() and (fitted["channel_uses"] == 1).all()
    assert set(fitted["pilots_per_class"].unique()) == {30}
    # Constant metadata recorded in every row.
    assert set(results["snr_convention"].unique()) == {"total"}
    assert set(results["channel_variance"].unique()) == {1.0}
    assert set(results["power"].unique()) == {1.0}
    assert set(results["semalign_version"].unique()) == {semalign.__version__}
    assert set(results["dataset"].unique()) == {"synthetic"}
    assert set(results["tx_encoder"].unique()) == {"synthetic-tx-d24-s0"}
    assert results["rx_encoder"].unique().to_list()[0].startswith("synthetic-rx-d40")
    linear = fitted.filter(pl.col("method") == "linear-admm")
    assert set(linear["iterations"].unique()) == {grid.iterations} and set(linear["rho"].unique()) == {grid.rho}
    baselines = fitted.filter(pl.col("method") != "linear-admm")
    assert baselines["iterations"].is_null().all() and baselines["rho"].is_null().all()


def test_compression_factor_is_symbols_per_complex_latent_entry(study):
    _, results = study
    fitted = results.filter(pl.col("method") != "clean")
    m = math.ceil(D_TX / 2)
    for n, factor in fitted.select("n_tx", "compression_factor").unique().iter_rows():
        assert factor == pytest.approx(100.0 * n / m)
    compression = fitted.filter(pl.col("experiment") == "compression")
    assert sorted(compression["compression_factor"].unique().to_list()) == pytest.approx([100 / 12, 400 / 12, 100.0])


def test_metrics_are_valid(study):
    _, results = study
    assert results["accuracy"].null_count() == 0 and results["mse"].null_count() == 0
    assert results["accuracy"].is_between(0.0, 1.0).all()
    assert results["mse"].is_finite().all() and (results["mse"] >= 0).all()
    clean = results.filter(pl.col("method") == "clean")
    assert (clean["mse"] == 0.0).all()
    # The same classifier per seed: the clean reference does not depend on the experiment.
    per_seed = clean.group_by("seed").agg(pl.col("accuracy").n_unique().alias("distinct"))
    assert (per_seed["distinct"] == 1).all()
    # A sanity check of the whole pipeline, not of the method: the full-size aware link at
    # 30 dB carries much of the information (10 classes: chance is 0.1).
    best = results.filter((pl.col("method") == "linear-admm") & (pl.col("awareness") == "aware") & (pl.col("snr_db") == 30.0))
    assert best["accuracy"].mean() > 0.3


def test_figures_are_drawn(study):
    out, _ = study
    for name in FIGURES:
        path = out / "figures" / name
        assert path.exists(), f"missing {name}"
        data = path.read_bytes()
        assert len(data) > 1000 and data.startswith(b"\x89PNG\r\n\x1a\n")
    assert (out / "manifest.json").exists()


# ------------------------------------------------------------------------------------------ resume
def test_second_run_runs_nothing(study, grid, monkeypatch):
    out, first = study

    def must_not_run(runs, run_ids, context):
        raise AssertionError(f"runs {run_ids} were rerun although their part is stored")

    monkeypatch.setattr(link_runs, "run_link_group", must_not_run)
    again = run_mimo(grid, out, progress=False)
    assert_frame_equal(_rows(again, list(first.columns)), _rows(first, list(first.columns)))
    assert_frame_equal(_rows(pl.read_parquet(out / "results.parquet"), list(first.columns)), _rows(first, list(first.columns)))


def test_deleted_part_reruns_exactly_that_task(study, grid, tasks, monkeypatch, tmp_path):
    source, first = study
    out = tmp_path / "copy"
    shutil.copytree(source, out)
    # A linear ADMM run: its Gram statistics were shared with other runs in the first run.
    victim = next(t for t in tasks if t.method == "linear-admm" and t.experiment == "compression" and t.n_antennas == 4)
    victim_id = run_id("link", victim)
    part = next(p for p in (out / "parts").glob("*.parquet") if victim_id in pl.read_parquet(p)["run_id"].to_list())
    part.unlink()
    original, calls = link_runs.run_link_group, []

    def counting_run(runs, run_ids, context):
        calls.extend(run_ids)
        return original(runs, run_ids, context)

    monkeypatch.setattr(link_runs, "run_link_group", counting_run)
    again = run_mimo(grid, out, progress=False, figures=False)
    assert calls == [victim_id]
    assert victim_id in ResultStore(out).done_runs()
    assert_frame_equal(_rows(again), _rows(first))  # same accuracy and mse: everything is seeded
    assert_frame_equal(_rows(pl.read_parquet(out / "results.parquet")), _rows(first))


def test_crash_leaves_only_finished_parts(crashed_study, tasks):
    after = crashed_study["after_crash"]
    assert after["stored"] == sorted(crashed_study["finished"])
    assert len(after["parts"]) == CRASH_AFTER
    assert after["tmp"] == []
    assert not after["results"]  # nothing consolidated from a partial run


def test_resume_after_crash_completes_without_duplicates(crashed_study, tasks):
    out, results = crashed_study["out"], crashed_study["results"]
    planned = set(_ids(tasks).values())
    # The resumed run executes exactly the runs the crash did not finish.
    assert sorted(crashed_study["resumed"]) == sorted(planned - set(crashed_study["finished"]))
    assert len(crashed_study["resumed"]) == len(tasks) - len(crashed_study["finished"])
    assert results.height == _expected_rows(tasks)
    assert results.select(ROW_KEY).is_duplicated().sum() == 0
    assert set(results["run_id"].unique()) == planned
    assert ResultStore(out).done_runs() == planned
    assert list(out.rglob("*.tmp")) == []
    stored = pl.read_parquet(out / "results.parquet")
    assert stored.height == results.height and stored.select(ROW_KEY).is_duplicated().sum() == 0


def test_crash_while_writing_leaves_nothing_half_written(tmp_path, monkeypatch):
    """A failure inside the part writer leaves neither the part nor its temporary file."""
    store = ResultStore(tmp_path)

    def failing_write(self, file, *args, **kwargs):
        with open(file, "wb") as handle:
            handle.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", failing_write)
    with pytest.raises(OSError, match="disk full"):
        store.write("task-a", [{"accuracy": 0.5, "mse": 0.1}])
    assert store.done_runs() == set()
    assert list(tmp_path.rglob("*.tmp")) == []
    assert list(tmp_path.rglob("*.parquet")) == []


# -------------------------------------------------------------------------- determinism, channels
def test_same_grid_in_two_folders_gives_identical_results(study, crashed_study):
    _, first = study
    second = crashed_study["results"]
    assert_frame_equal(_rows(second), _rows(first))
    assert (first["accuracy"].n_unique() > 5) and (first["mse"].n_unique() > 5)  # not trivially equal


def test_channel_for_seed_is_reproducible():
    for n in (1, 4, 12):
        h = channel_for_seed(1, n, n)
        assert h.shape == (n, n) and h.dtype == torch.complex64
        assert torch.equal(h, channel_for_seed(1, n, n))
        assert not torch.equal(h, channel_for_seed(2, n, n))


def test_every_method_of_a_seed_sees_the_same_channel(crashed_study, grid):
    channels = crashed_study["channels"]
    assert {m for m, *_ in channels} == set(grid.methods)
    for method, awareness, seed, n, channel in channels:
        expected = channel_for_seed(seed, n, n, channel_variance=grid.channel_variance)
        assert torch.equal(channel, expected.expand_as(channel)), (method, awareness, seed, n)


def test_flops_experiment_rows(study, grid):
    _, results = study
    flops = results.filter((pl.col("experiment") == "flops") & (pl.col("method") != "clean"))
    assert set(flops["method"].unique()) == {"linear-admm", "neural"}
    assert set(flops["awareness"].unique()) == {"aware"} and set(flops["n_tx"].unique()) == set(grid.flops_antennas)
    neural = flops.filter(pl.col("method") == "neural")
    assert sorted(neural["lam"].unique().to_list()) == sorted(grid.flops_lams)
    assert neural["sparsity"].is_between(0.0, 1.0).all() and (neural["flops"] > 0).all()
    dense = neural.filter(pl.col("lam") == 0.0)
    assert (dense["sparsity"] == 0.0).all()
    # Every linear and neural row carries its FLOPs; baselines carry none.
    fitted = results.filter(pl.col("method").is_in(["linear-admm", "neural"]))
    assert fitted["flops"].is_not_null().all()
    assert results.filter(pl.col("method").is_in(["first-k", "top-k", "eigen-k"]))["flops"].is_null().all()
    # At the same antenna count the linear maps cost far less than the dense networks.
    for n in grid.flops_antennas:
        lin = flops.filter((pl.col("method") == "linear-admm") & (pl.col("n_tx") == n))["flops"].max()
        assert lin < dense.filter(pl.col("n_tx") == n)["flops"].min()


def test_noise_variance_is_shared_across_methods(study):
    _, results = study
    fitted = results.filter(pl.col("method") != "clean")
    groups = fitted.group_by(["seed", "snr_db", "n_tx"]).agg(
        pl.col("noise_variance").n_unique().alias("distinct"), pl.col("method").n_unique().alias("methods")
    )
    assert (groups["distinct"] == 1).all()
    assert (groups["methods"] == len(mimo.METHODS)).all()
    # The "total" convention with P = v = T = 1: sigma^2 = 1 / SNR_lin.
    for snr, sigma2 in fitted.select("snr_db", "noise_variance").unique().iter_rows():
        assert sigma2 == pytest.approx(10 ** (-snr / 10))


# ---------------------------------------------------------------------------------- command line
def _flat(text: str) -> str:
    return " ".join(text.split())


def test_cli_rejects_bad_seeds(tmp_path):
    out = tmp_path / "never"
    for seeds, message in (("x,y", "--seeds must be comma-separated integers"), (",", "--seeds must list at least one integer")):
        result = CliRunner().invoke(app, ["reproduce", "mimo", "--seeds", seeds, "--out", str(out), "--no-progress"])
        assert result.exit_code == 2, result.output
        assert message in _flat(result.output)
        assert "Traceback" not in result.output
        assert isinstance(result.exception, SystemExit)
    assert not out.exists()


def test_cli_rejects_unknown_snr_convention(tmp_path):
    out = tmp_path / "never"
    result = CliRunner().invoke(app, ["reproduce", "mimo", "--snr-convention", "peak", "--out", str(out), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "unknown snr_convention 'peak'" in _flat(result.output)
    assert "Traceback" not in result.output
    assert not out.exists()


def test_cli_figures_without_results(tmp_path):
    result = CliRunner().invoke(app, ["figures", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "does not exist" in _flat(result.output)
    assert "semalign reproduce mimo" in _flat(result.output)
    assert "Traceback" not in result.output
    assert not (tmp_path / "figures").exists()


def test_cli_redraws_figures_from_stored_results(study, tmp_path):
    source, _ = study
    for name in ("results.parquet", "manifest.json"):  # results and what they are: no rerun possible
        shutil.copy(source / name, tmp_path / name)
    result = CliRunner().invoke(app, ["figures", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in FIGURES:
        path = tmp_path / "figures" / name
        assert path.exists() and path.stat().st_size > 1000
        assert name in _flat(result.output).replace(" ", "")
