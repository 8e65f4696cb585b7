"""Dask clusters: the one place semalign starts a local cluster or connects to a running one.

Work runs on worker *processes* with one thread each (torch's own threads are set per worker by
the caller): several processes on few cores must not thrash.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from semalign._checks import check_positive_int

#: Seconds to wait for a remote scheduler before giving up with a message.
CONNECT_TIMEOUT = 10


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int = 2) -> Iterator[object]:
    """A ``dask.distributed.Client``: on the cluster at ``scheduler`` (e.g. ``tcp://HOST:8786``), or on
    a ``LocalCluster`` of ``workers`` single-threaded worker processes started here and closed on exit.

    Raises:
        ValueError: ``workers`` below 1, or no scheduler answered at ``scheduler`` within
            :data:`CONNECT_TIMEOUT` seconds (the message names the address).
    """
    from dask.distributed import Client

    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT}s")
        except (OSError, TimeoutError, ValueError) as error:
            reason = " ".join(str(error).split())[:200]
            raise ValueError(
                f"could not connect to the Dask scheduler at {scheduler!r} within {CONNECT_TIMEOUT} s ({reason}); "
                "start one (dask scheduler) or check the address, e.g. tcp://HOST:8786"
            ) from None
        with client:
            yield client
        return
    with local_cluster(workers) as cluster, Client(cluster) as client:
        yield client


def local_cluster(workers: int = 2):
    """A ``LocalCluster`` of ``workers`` single-threaded processes (the caller closes it).

    Raises:
        ValueError: ``workers`` is not an integer of at least 1.
    """
    from dask.distributed import LocalCluster

    check_positive_int("workers", workers)
    # Starting workers, distributed sets thread caps (OMP_NUM_THREADS=1, ...) in this process's own
    # environment and leaves them there; every later subprocess would inherit them. Restore it.
    saved = dict(os.environ)
    try:
        return LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True, dashboard_address=None)
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        os.environ.update(saved)
