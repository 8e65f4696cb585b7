"""The result store under faults: damaged parts and results files, killed writers, concurrent runs.

Every damage is followed by a rerun that must end with the clean run's rows (timings aside), the
damaged file named in a warning and moved aside, and nothing half-written left behind.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from semalign.cli import app
from semalign.experiments import store as store_module
from semalign.experiments.engine import execute_runs
from semalign.experiments.overrides import expand, parse_overrides
from semalign.experiments.runs import get_run_kind
from semalign.experiments.runs.link import LinkRun
from semalign.experiments.store import ResultStore, claim_is_stale, read_results

SWEEP = ["method=first-k,eigen-k", "n_antennas=1,2,4", "snr_db=0,10"]
N_RUNS = 2 * 3 * 2
TIMINGS = ("fit_seconds",)


def _runs():
    return expand(LinkRun, parse_overrides(SWEEP, LinkRun, multirun=True))


def _run(out: Path) -> pl.DataFrame:
    return execute_runs(get_run_kind("link"), _runs(), out, progress=False)


def _comparable(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop([c for c in TIMINGS if c in frame.columns]).sort("run_id")


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "sweep"
    rows = _run(out)
    assert rows.height == N_RUNS
    return out, rows


def _copy(clean, tmp_path) -> Path:
    out = tmp_path / "damaged"
    shutil.copytree(clean[0], out)
    return out


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "corrupt":  # the footer intact, the data pages overwritten
        middle = len(data) // 2
        path.write_bytes(data[:8] + b"\xff" * (middle - 8) + data[middle:])
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["empty", "truncated", "corrupt"])
def test_damaged_part_is_quarantined_named_and_rerun(clean, tmp_path, how):
    out = _copy(clean, tmp_path)
    victim = sorted((out / "parts").glob("*.parquet"))[1]
    victim_runs = set(pl.read_parquet(victim)["run_id"])
    _damage(victim, how)
    with pytest.warns(RuntimeWarning, match=rf"{victim.name}.*cannot be read.*moved it to .*quarantine.*run again"):
        rows = _run(out)
    assert_frame_equal(_comparable(rows), _comparable(clean[1]))
    assert_frame_equal(_comparable(pl.read_parquet(out / "results.parquet")), _comparable(clean[1]))
    assert len(list((out / "parts" / "quarantine").iterdir())) == 1
    assert victim_runs <= ResultStore(out).done_runs()
    assert list(out.rglob("*.tmp")) == [] and list(out.rglob("*.claim")) == []


@pytest.mark.parametrize("how", ["empty", "truncated", "corrupt", "missing"])
def test_damaged_results_file_is_rebuilt_from_the_parts(clean, tmp_path, how):
    out = _copy(clean, tmp_path)
    results = out / "results.parquet"
    if how == "missing":
        results.unlink()
    else:
        _damage(results, how)
    with pytest.warns(RuntimeWarning, match="results.parquet could not be read.*rebuilt it from the 12 runs"):
        rows = read_results(out)
    assert_frame_equal(_comparable(rows), _comparable(clean[1]))
    assert_frame_equal(_comparable(pl.read_parquet(results)), _comparable(clean[1]))


def test_figures_and_report_rebuild_a_damaged_results_file(clean, tmp_path):
    out = _copy(clean, tmp_path)
    _damage(out / "results.parquet", "truncated")
    drawn = CliRunner().invoke(app, ["figures", str(out)])
    assert drawn.exit_code == 0, drawn.output
    assert "rebuilt it from the 12 runs" in " ".join(drawn.output.split())
    _damage(out / "results.parquet", "empty")
    report = CliRunner().invoke(app, ["report", str(out), "--no-redraw"])
    assert report.exit_code == 0, report.output
    assert "rebuilt it from" in (out / "report.html").read_text()


def test_damaged_results_file_without_parts_is_a_clear_error(tmp_path):
    (tmp_path / "parts").mkdir()
    (tmp_path / "results.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match="results.parquet cannot be read .* no readable part to rebuild it from"):
        read_results(tmp_path)


def test_writer_killed_mid_write_leaves_a_temporary_file_that_a_rerun_removes(clean, tmp_path):
    """A kill while a part is written (a SIGKILL'd process cleans nothing up) leaves only its
    temporary file, which never counts as a part; the next run removes it once it is old."""
    out = _copy(clean, tmp_path)
    victim = sorted((out / "parts").glob("*.parquet"))[0]
    orphan = victim.with_name(f".{victim.name}.4242-deadbeef.tmp")
    orphan.write_bytes(victim.read_bytes()[:100])
    victim.unlink()
    old = time.time() - 2 * store_module.ORPHAN_AGE
    os.utime(orphan, (old, old))
    rows = _run(out)
    assert not orphan.exists()
    assert_frame_equal(_comparable(rows), _comparable(clean[1]))
    assert list(out.rglob("*.tmp")) == []


def test_output_folder_that_is_a_file_or_under_a_file_fails_before_anything_runs(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out in (blocker, blocker / "below"):
        started = time.perf_counter()
        with pytest.raises(ValueError, match=rf"output folder {out}: {blocker} is a file"):
            _run(out)
        assert time.perf_counter() - started < 5


def test_claims_are_exclusive_and_stale_ones_are_taken_over(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    assert store.claim("g1")
    assert not store.claim("g1")  # held by a live process (this one)
    assert store.claim_held("g1")
    store.release("g1")
    assert not store.claim_held("g1") and store.claim("g1")
    # An owner on this host that has exited: stale at once.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    claim = tmp_path / "parts" / "g2.claim"
    claim.write_text(f'{{"host": "{os.uname().nodename}", "pid": {dead}, "since": 0}}')
    assert claim_is_stale(claim) and store.claim("g2")
    # An owner elsewhere: stale only once nobody refreshed the claim for CLAIM_TIMEOUT seconds.
    other = tmp_path / "parts" / "g3.claim"
    other.write_text('{"host": "another-host", "pid": 1, "since": 0}')
    assert not claim_is_stale(other) and not store.claim("g3")
    old = time.time() - 2 * store_module.CLAIM_TIMEOUT
    os.utime(other, (old, old))
    assert claim_is_stale(other) and store.claim("g3")


@pytest.mark.slow
def test_three_instances_of_one_sweep_share_the_work(clean, tmp_path):
    """Three ``semalign run`` processes on one folder: all succeed, the groups are split between
    them (no group runs twice), and results.parquet holds every run exactly once, equal to a clean
    run's."""
    out = tmp_path / "shared"
    semalign = str(Path(sys.executable).with_name("semalign"))
    command = [semalign, "--threads", "1", "run", "link", *SWEEP, "-m", "--out", str(out)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output
    # Output to a pipe: one progress line per call; calls another process stored say so.
    calls = [re.findall(r"call \d+/(\d+) done(.*?);", output) for output in outputs]
    planned = max(int(total) for lines in calls for total, _ in lines)  # a late starter plans only what is left
    executed_here = [sum(1 for _, elsewhere in lines if not elsewhere) for lines in calls]
    assert sum(executed_here) == planned, outputs  # every call executed by exactly one process
    parts = sorted((out / "parts").glob("*.parquet"))
    stored = pl.concat([pl.read_parquet(p) for p in parts], how="diagonal_relaxed")
    assert stored["run_id"].n_unique() == stored.height == N_RUNS  # no run computed twice
    results = pl.read_parquet(out / "results.parquet")
    assert results["run_id"].n_unique() == results.height == N_RUNS
    assert_frame_equal(_comparable(results), _comparable(clean[1]))
    assert list(out.rglob("*.tmp")) == [] and list(out.rglob("*.claim")) == []
