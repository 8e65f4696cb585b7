"""Where groups of runs execute: in this process, or as tasks on a Dask cluster.

The run engine hands an executor its batched calls (groups) and a callback; each group's rows reach
the callback as soon as the group finishes (so they are stored at once), in this process in order,
on Dask in order of completion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from semalign._checks import check_choice
from semalign._dask import dask_client
from semalign._vocabulary import EXECUTORS


def run_groups(
    groups: Sequence,
    call: Callable,
    arguments: Callable[[object], tuple],
    on_done: Callable[[object, list[dict]], None],
    *,
    executor: str = "local",
    scheduler: str | None = None,
    workers: int = 2,
) -> None:
    """Run ``call(*arguments(group))`` for every group and pass each group's result to
    ``on_done(group, rows)``.

    Args:
        groups: the batched calls to make.
        call: a module-level function (Dask workers import it by name).
        arguments: group -> the positional arguments of ``call``.
        on_done: called in this process with each finished group and its rows.
        executor: ``"local"`` or ``"dask"`` (a ``LocalCluster`` of ``workers`` single-threaded
            processes, or the running cluster at ``scheduler``).
    """
    check_choice("executor", executor, EXECUTORS)
    if executor == "local":
        for group in groups:
            on_done(group, call(*arguments(group)))
        return
    from dask.distributed import as_completed

    with dask_client(scheduler, workers) as client:
        futures = {client.submit(call, *arguments(group), pure=False): group for group in groups}
        for future in as_completed(futures):
            on_done(futures[future], future.result())
