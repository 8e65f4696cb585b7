"""How many CPU threads semalign's torch work uses, and why it never spins on a taken core.

torch's intra-op thread pool defaults to every core of the machine, and its OpenMP threads
busy-wait (spin) between parallel regions. On a machine where another process holds a core, a
spinning thread waits for a partner the scheduler cannot run: one paper-size ADMM fit beside one
busy process took 17x longer with two threads than with one. semalign therefore

- never uses more intra-op threads than the cores this process may actually run on (its CPU
  affinity, and the container's CPU quota where cgroups set one): :func:`usable_cores`;
- asks OpenMP to sleep instead of spin while waiting (``OMP_WAIT_POLICY=PASSIVE``, set at import
  when the environment does not set it; it only takes effect if semalign is imported before torch
  starts its thread pool, which the command line always does);
- lets the user choose: ``SEMALIGN_THREADS=N`` in the environment or ``semalign --threads N``
  (:func:`configure_threads`); Dask workers and the interference game use one thread each, since
  their work is small or already spread over processes.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

#: Environment variable overriding semalign's intra-op thread count.
THREADS_VARIABLE = "SEMALIGN_THREADS"


def prefer_sleeping_threads() -> None:
    """Make OpenMP threads sleep rather than spin while they wait, unless the environment says
    otherwise. Must run before torch starts its thread pool (semalign's package import does it)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota (containers)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cores, quota) if quota else cores)


def _cgroup_quota() -> int | None:
    """The CPU quota of cgroup v2 (``cpu.max``) or v1 (``cpu.cfs_quota_us``) in whole cores, if set."""
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            return math.ceil(int(text[0]) / int(text[1]))
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return math.ceil(quota / period)
    except (OSError, ValueError):
        pass
    return None


def requested_threads() -> int | None:
    """The thread count of ``$SEMALIGN_THREADS``, or ``None`` when it is unset.

    Raises:
        ValueError: the variable is set to something other than a positive integer.
    """
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if not value:
        return None
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"{THREADS_VARIABLE} must be a positive integer (torch intra-op threads), got {value!r}")
    return threads


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads and return the count.

    Args:
        threads: the count; ``None`` takes ``$SEMALIGN_THREADS``, else torch's current count capped at
            :func:`usable_cores`.

    Raises:
        ValueError: ``threads`` (or the environment variable) is not a positive integer.
    """
    import torch

    if threads is None:
        threads = requested_threads()
    if threads is None:
        threads = min(torch.get_num_threads(), usable_cores())
    elif isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
