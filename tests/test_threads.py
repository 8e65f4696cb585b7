"""Thread counts: capped at the usable cores, overridable, and never a bad value silently."""

import os
import subprocess
import sys

import pytest
import torch

from semalign import _threads


def test_usable_cores_is_within_the_affinity(monkeypatch):
    cores = _threads.usable_cores()
    assert 1 <= cores <= (os.cpu_count() or 1)
    monkeypatch.setattr(_threads, "_cgroup_quota", lambda: 1)
    assert _threads.usable_cores() == 1  # a container's quota caps it


def test_configure_threads_takes_the_argument_then_the_environment(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert _threads.configure_threads(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("SEMALIGN_THREADS", "2")
        assert _threads.configure_threads() == 2 and torch.get_num_threads() == 2
        monkeypatch.delenv("SEMALIGN_THREADS")
        assert _threads.configure_threads() <= _threads.usable_cores()
        for bad in ("0", "-1", "two"):
            monkeypatch.setenv("SEMALIGN_THREADS", bad)
            with pytest.raises(ValueError, match="SEMALIGN_THREADS must be a positive integer"):
                _threads.configure_threads()
        with pytest.raises(ValueError, match="threads must be a positive integer"):
            _threads.configure_threads(0)
    finally:
        torch.set_num_threads(before)


def test_importing_semalign_makes_openmp_threads_sleep_unless_told_otherwise():
    code = "import os, semalign, torch; print(os.environ['OMP_WAIT_POLICY'], torch.get_num_threads())"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "SEMALIGN_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "PASSIVE" and 1 <= int(out[1]) <= _threads.usable_cores()
    out = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "ACTIVE", "SEMALIGN_THREADS": "1"}, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["ACTIVE", "1"]


def test_cli_threads_option_and_bad_environment():
    from typer.testing import CliRunner

    from semalign.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["--threads", "0", "reproduce", "--help"]).exit_code == 2
    result = runner.invoke(app, ["reproduce", "--help"], env={"SEMALIGN_THREADS": "many"})
    assert result.exit_code == 2 and "SEMALIGN_THREADS must be a positive integer" in result.output


def test_a_local_dask_cluster_leaves_this_process_environment_as_it_was():
    """distributed caps worker threads through the parent's environment; semalign puts it back, so
    later subprocesses (a README job started by the tests, a user's next command) are not capped."""
    import os

    from semalign._dask import local_cluster

    before = dict(os.environ)
    with local_cluster(1):
        pass
    assert dict(os.environ) == before
