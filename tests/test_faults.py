"""Nothing lost, nothing silent: bad input gets its clear message and exit code within seconds,
before anything is written; numerical breakdowns are flagged, never stored as results; edges
(interrupts, executors, devices) end with a message, not a traceback or a hang.

The store's own faults (damaged files, killed writers, concurrent runs) are in
``tests/experiments/test_store_faults.py``.
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from typer.testing import CliRunner

import semalign
from semalign.cli import app
from semalign.experiments.engine import RunKind, execute_runs
from semalign.experiments.progress import RunProgress

ROOT = Path(__file__).resolve().parents[1]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _bad_input(args: list[str], expected: str, out: Path | None = None) -> None:
    """``semalign ARGS`` exits 2 with ``expected`` on one error line, no traceback, within 5 s, and
    leaves no output folder behind."""
    started = time.perf_counter()
    result = CliRunner().invoke(app, args)
    seconds = time.perf_counter() - started
    assert result.exit_code == 2, result.output
    assert expected in _flat(result.output), result.output
    assert "Traceback" not in result.output
    assert seconds < 5, f"{args}: the error came after {seconds:.1f} s"
    if out is not None:
        assert not out.exists()


# ------------------------------------------------------------------ 3, 4: impossible settings
@pytest.mark.parametrize(
    "setting, expected",
    [
        (["link", "snr_db=-inf", "method=eigen-k"], "snr_db must be a number in [-100, 100] dB, or inf for no noise; got -inf"),
        (["link", "snr_db=-1000", "method=linear-admm"], "snr_db must be a number in [-100, 100] dB, or inf for no noise; got -1000.0"),
        (["link", "snr_db=nan"], "got nan"),
        (["link", "rho=-1"], "rho must be a finite positive number, got -1.0"),
        (["link", "iterations=0"], "iterations must be a positive integer, got 0"),
        (["link", "neural_validation_fraction=1"], "neural_validation_fraction must be in [0, 1)"),
        (["link", "pilots_per_class=100000"], "pilots_per_class=100000 does not fit the digits latents"),
        (["link", "n_antennas=100"], "n_antennas [100] exceed the complex latent size"),
        (["game", "n_antennas=100"], "channel_uses x n_antennas = 2 x 100 = 200 symbols exceed the complex latent size"),
        (["game", "cross_gain_db=nan"], "cross_gain_db must be a finite number, got nan"),
        (["game", "snr_db=inf"], "snr_db must be finite here"),
        (["game", "max_iterations=0"], "max_iterations must be a positive integer, got 0"),
        (["federated", "snr_db=-500"], "snr_db must be a number in [-100, 100] dB"),
        (["federated", "rho=0"], "rho must be a finite positive number, got 0.0"),
    ],
)
def test_impossible_run_settings_fail_at_once_and_write_nothing(tmp_path, setting, expected):
    out = tmp_path / "out"
    _bad_input(["run", *setting, "--out", str(out), "--no-progress"], expected, out)


def test_impossible_study_settings_fail_at_once(tmp_path):
    out = tmp_path / "out"
    _bad_input(["reproduce", "mimo", "--channel-variance", "0", "--out", str(out)], "channel_variance must be a finite positive number, got 0.0", out)
    _bad_input(["reproduce", "mimo", "--device", "tpu", "--out", str(out)], "--device 'tpu' is not a torch device semalign runs on; expected cpu or cuda", out)
    _bad_input(["run", "link", "--device", "tpu", "--out", str(out)], "expected cpu or cuda", out)


def test_output_folders_that_cannot_be_written_fail_at_once(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    _bad_input(["run", "link", "--out", str(blocker), "--no-progress"], f"output folder {blocker}: {blocker} is a file, not a folder")
    _bad_input(["reproduce", "game", "--out", str(blocker / "below")], f"{blocker} is a file, not a folder")
    assert blocker.read_text() == "not a folder"


def test_report_output_under_a_file_is_a_clear_error(tmp_path):
    out = tmp_path / "run"
    assert CliRunner().invoke(app, ["run", "link", "method=first-k", "--out", str(out), "--no-progress"]).exit_code == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    _bad_input(["report", str(out), "--output", str(blocker / "page.html")], f"{blocker} is a file, not a folder")
    _bad_input(["report", str(out), "--output", str(out)], "is a folder; expected the path of the HTML file")


def test_python_api_names_the_bad_argument():
    h = semalign.channel_for_seed(1, 2, 2)
    with pytest.raises(ValueError, match=r"snr_db must be a number in dB .*got '20'"):
        semalign.LinearSemanticTransceiver(channel=h, snr_db="20")
    for bad in (float("-inf"), -1000.0, float("nan"), 1000.0):
        with pytest.raises(ValueError, match=r"snr_db must be a number in \[-100, 100\] dB"):
            semalign.NeuralSemanticTransceiver(channel=h, snr_db=bad)
    with pytest.raises(ValueError, match="seed must be an integer"):
        semalign.channel_for_seed(seed="a", n_rx=2, n_tx=2)
    with pytest.raises(ValueError, match="cross_gain_db must be a finite number, got nan"):
        semalign.SemanticInterferenceGame(cross_gain_db=float("nan"))


def test_the_accepted_snr_range_gives_finite_estimates_at_its_ends():
    pair = semalign.load_latents("digits")
    x, y = pair.train.tx[:500], pair.train.rx[:500]
    for snr in (-100.0, 100.0):
        for cls in (semalign.LinearSemanticTransceiver, semalign.FirstKTransceiver, semalign.EigenKTransceiver, semalign.TopKTransceiver):
            model = cls(channel=semalign.channel_for_seed(1, 4, 4), snr_db=snr).fit(x, y)
            assert torch.isfinite(model.transmit(pair.test.tx[:100], generator=torch.Generator().manual_seed(0))).all(), (cls, snr)


def test_an_all_zero_channel_warns():
    pair = semalign.load_latents("digits")
    with pytest.warns(RuntimeWarning, match="channel is all zero in 1 of 1 configurations: nothing reaches the receiver"):
        model = semalign.FirstKTransceiver(channel=torch.zeros(2, 2, dtype=torch.complex64), snr_db=10.0).fit(pair.train.tx[:300], pair.train.rx[:300])
    estimate = model.transmit(pair.test.tx[:50], generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(estimate, pair.train.rx[:300].mean(0).expand_as(estimate), atol=1e-3, rtol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a live channel: no warning
        semalign.Link(semalign.channel_for_seed(1, 2, 2), snr_db=10.0)


@pytest.mark.parametrize("cls", [semalign.LinearSemanticTransceiver, semalign.FirstKTransceiver, semalign.EigenKTransceiver])
def test_float64_latents_see_the_same_noise_as_float32(cls):
    pair = semalign.load_latents("digits")
    model = cls(channel=semalign.channel_for_seed(3, 4, 4), snr_db=0.0).fit(pair.train.tx, pair.train.rx)
    single = model.transmit(pair.test.tx, generator=torch.Generator().manual_seed(5))
    double = model.transmit(pair.test.tx.double(), generator=torch.Generator().manual_seed(5))
    noiseless = model.transmit(pair.test.tx, noise=False)
    assert (single - noiseless).abs().mean() > 1e-2  # the noise matters at 0 dB
    torch.testing.assert_close(double.float(), single, atol=1e-4, rtol=1e-4)


# ------------------------------------------------------------------ 3: rows that broke down
@dataclass(frozen=True)
class _ToyRun:
    value: float = 0.0


def _toy_group(runs, run_ids, context):
    return [{"run_id": i, "value": r.value, "accuracy": 0.5, "mse": r.value * math.inf if r.value else 0.25} for r, i in zip(runs, run_ids)]


def test_rows_with_non_finite_metrics_are_flagged_failed_with_a_warning(tmp_path):
    kind = RunKind("toy", "toy", _ToyRun, _toy_group, lambda runs: None, lambda run: ())
    with pytest.warns(RuntimeWarning, match=r"1 toy result rows have non-finite metrics and are stored with failed=True.*\(mse\)"):
        rows = execute_runs(kind, [_ToyRun(0.0), _ToyRun(1.0)], tmp_path, progress=False)
    assert rows.sort("value")["failed"].to_list() == [False, True]
    stored = pl.read_parquet(tmp_path / "results.parquet")
    assert stored.filter(pl.col("failed"))["value"].to_list() == [1.0]
    from semalign.experiments.store import succeeded

    assert succeeded(stored)["value"].to_list() == [0.0]


# ------------------------------------------------------------------ 5: executors, interrupts
def test_dask_without_workers_is_refused_before_anything_runs(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", "link", "--executor", "dask", "--workers", "0", "--out", str(out)])
    assert result.exit_code == 2 and "--workers" in _flat(result.output) and not out.exists()
    with pytest.raises(ValueError, match="workers must be a positive integer, got 0"):
        execute_runs(engine_kind(), [engine_kind().config_type()], tmp_path / "api", executor="dask", workers=0, progress=False)


def engine_kind():
    from semalign.experiments.runs import get_run_kind

    return get_run_kind("link")


@pytest.mark.slow
def test_an_unreachable_scheduler_is_a_message_after_the_connection_timeout(tmp_path):
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["run", "link", "method=first-k", "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "could not connect to the Dask scheduler at 'tcp://127.0.0.1:1' within 10 s" in _flat(result.output)
    assert "Traceback" not in result.output and time.perf_counter() - started < 60
    assert list((tmp_path / "out").rglob("*.claim")) == []


@pytest.mark.slow
@pytest.mark.parametrize("command", [["reproduce", "game"], ["run", "link", "method=neural", "seed=1,2,3", "-m"]])
def test_ctrl_c_prints_the_resume_hint_and_leaves_no_claim(tmp_path, command):
    out = tmp_path / "out"
    semalign_cli = str(Path(sys.executable).with_name("semalign"))
    process = subprocess.Popen([semalign_cli, *command, "--out", str(out), "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "parts").glob("*.claim")):  # wait until it works
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 130, output
    assert "interrupted: finished runs are stored in" in _flat(output) and "rerun the same command to resume" in _flat(output)
    assert "Traceback" not in output
    assert list(out.rglob("*.claim")) == [] and list(out.rglob("*.tmp")) == []


# ------------------------------------------------------------------ 6: error text is not markup
def test_error_text_with_brackets_is_printed_as_written(tmp_path):
    path = tmp_path / "bad[bold].npz"
    np.savez(path, rx=np.zeros((4, 2)), tx=np.zeros((4, 2)))
    result = CliRunner().invoke(app, ["run", "link", "latents=file", f"path={path}", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    text = _flat(result.output)
    assert "[rx, tx]" in text and "bad[bold].npz" in text


# ------------------------------------------------------------------ 8: the centralized reference converges
def test_the_centralized_reference_converges_on_the_study_settings():
    from semalign.experiments.runs.game import GameRun, run_game_group

    runs = [GameRun(method="centralized", cross_gain_db=gain, seed=27, experiment="cross-gain") for gain in (0.0,)]
    rows = run_game_group(runs, ["a"])
    assert all(row["converged"] for row in rows), [(r["converged"], r["iterations"]) for r in rows]
    assert all(0 < row["iterations"] < 5000 for row in rows)


# ------------------------------------------------------------------ 9: figures and summaries
def _capture_figures(monkeypatch, module) -> list:
    captured = []

    def keep(fig, caption, path, description=None):
        captured.append((fig, caption, Path(path).name))
        return Path(path)

    monkeypatch.setattr(module, "save_figure", keep)
    return captured


def test_game_figures_draw_mse_on_a_log_axis_and_caption_their_own_snr(monkeypatch, tmp_path):
    from semalign.experiments.studies import game_figures
    from semalign.experiments.studies.game import game_runs, quick_grid
    from semalign.experiments.runs.game import run_game_group

    runs = [r for r in game_runs(quick_grid()) if r.experiment in ("compression", "convergence") and r.seed == 27]
    compression = [r for r in runs if r.experiment == "compression" and r.method == "game-fixed-eigenmode"][:2]
    convergence = [r for r in runs if r.experiment == "convergence"][:1]
    rows = pl.DataFrame([row for group in ([r] for r in compression + convergence) for row in run_game_group(group, ["x"])], infer_schema_length=None)
    captured = _capture_figures(monkeypatch, game_figures)
    game_figures.draw_game_figures(rows, tmp_path)
    by_name = {name: (fig, caption) for fig, caption, name in captured}
    fig, _ = by_name["game_mse_vs_compression.png"]
    assert all(ax.get_yscale() == "log" for ax in fig.axes if ax.get_visible())
    _, caption = by_name["game_convergence.png"]
    assert f"SNR {convergence[0].snr_db:g} dB" in caption
    assert convergence[0].snr_db != compression[0].snr_db  # the two captions really differ


def test_legends_sit_outside_the_plotting_area(monkeypatch, tmp_path):
    import matplotlib.pyplot as plt

    from semalign.experiments.plotting import legend_outside

    fig, axes = plt.subplots(1, 2)
    for ax in axes:
        ax.plot([0, 1], [0, 1], label="a line")
    legend_outside(axes[-1])
    fig.canvas.draw()
    legend = axes[-1].get_legend().get_window_extent()
    for ax in axes:
        assert not legend.overlaps(ax.get_window_extent())
    plt.close(fig)


def test_mimo_summary_compares_aware_and_unaware_on_the_same_settings():
    from semalign.experiments.studies.mimo import mimo_summary

    rows = pl.DataFrame({
        "experiment": ["snr"] * 4 + ["compression"] * 2,
        "method": ["linear-admm"] * 6,
        "awareness": ["aware", "unaware", "aware", "unaware", "aware", "unaware"],
        "snr_db": [-20.0, -20.0, 30.0, 30.0, 20.0, 20.0],
        "n_tx": [4, 4, 4, 4, 2, 2],
        "accuracy": [0.2, 0.1, 0.95, 0.3, 0.8, 0.2],
        "mse": [5.0, 9.0, 0.5, 4.0, 1.0, 6.0],
    })  # fmt: skip
    title, table = mimo_summary(rows)
    assert "Mean accuracy" in title
    assert table.columns == ["experiment", "at", "method", "acc aware", "acc unaware", "mse aware", "mse unaware"]
    assert table["at"].to_list() == ["N=2", "-20.0 dB", "30.0 dB"]
    assert (table["acc aware"] > table["acc unaware"]).all()  # per setting, not averaged across them


# ------------------------------------------------------------------ 10: progress
def test_progress_in_a_log_prints_a_line_per_call_with_time_left_weighted_by_cost(monkeypatch):
    from rich.console import Console

    clock = iter([0.0, 10.0, 12.0, 14.0])  # start, then three calls finishing
    monkeypatch.setattr("semalign.experiments.progress.time.perf_counter", lambda: next(clock))
    console = Console(record=True, force_terminal=False, width=200)
    with RunProgress("study", total_runs=3, total_cost=1.0 + 1.0 + 100.0, calls=3, console=console) as progress:
        progress.advance(1, 1.0)
        progress.advance(1, 1.0)  # 1 cost unit in 2 s since the first call
        text = console.export_text()
        assert "study: 3 runs in 3 batched calls" in text
        assert "2/3 runs, call 2/3 done; 0:00:12 elapsed, about 0:03:20 left" in text  # 100 units x 2 s
        progress.advance(1, 100.0, elsewhere=True)
    assert "(stored by another process)" in console.export_text()


# ------------------------------------------------------------------ 11: install advice
def test_readme_advises_the_virtual_environment_before_the_commands():
    lines = ROOT.joinpath("README.md").read_text().splitlines()
    first_command = next(i for i, line in enumerate(lines) if line.startswith("    pip install"))
    assert any("venv" in line for line in lines[:first_command])


def test_the_vision_hint_installs_from_the_checkout():
    from semalign.latents.datasets import _VISION_HINT

    assert 'pip install torch==2.14.1 torchvision==0.29.1 -e ".[vision]"' in _VISION_HINT and "semalign[vision]" not in _VISION_HINT
