"""Dask clusters: the one place semalign starts a local cluster or connects to a running one.

Work runs on worker *processes* with one thread each (torch's own threads are set per worker by
the caller): several processes on few cores must not thrash.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int = 2) -> Iterator[object]:
    """A ``dask.distributed.Client``: on the cluster at ``scheduler`` (e.g. ``tcp://HOST:8786``), or on
    a ``LocalCluster`` of ``workers`` single-threaded worker processes started here and closed on exit.
    """
    from dask.distributed import Client

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with local_cluster(workers) as cluster, Client(cluster) as client:
        yield client


def local_cluster(workers: int = 2):
    """A ``LocalCluster`` of ``workers`` single-threaded processes (the caller closes it)."""
    from dask.distributed import LocalCluster

    return LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True, dashboard_address=None)
