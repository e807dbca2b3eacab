"""Where simulation-heavy work runs: a Dask cluster (a local one by default).

Every simulation is one Dask task whose result depends only on its arguments (its data and its
seed, spawned from one ``SeedSequence``), so results do not depend on how many workers there
are or which one ran a task.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import numpy as np

from analyses.progress import Progress


def task_seeds(seed: int, count: int) -> list[int]:
    """``count`` independent seeds from one ``SeedSequence``: task i always gets seed i."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(count)]


@contextmanager
def dask_client(address: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A Dask client: to the cluster at ``address``, else a LocalCluster on this machine.

    The local cluster runs one single-threaded worker process per core (nutpie brings its own
    threads; numba and nutpie do not survive sharing a process between tasks running at once).
    Its dashboard takes a free port, so two clusters on one machine never collide.
    """
    import logging

    from distributed import Client, LocalCluster

    # A worker still busy in nutpie's threads at shutdown is killed with a warning; the tasks
    # are done by then, so that warning is noise on the user's terminal. Restored afterwards.
    nanny = logging.getLogger("distributed.nanny")
    level = nanny.level
    nanny.setLevel(logging.ERROR)
    try:
        if address:
            with _connect(Client, address) as client:
                yield client
            return
        n = workers or max(1, min(2, os.cpu_count() or 1))
        with (
            LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
            with suppress(Exception):  # best effort: a worker lost now must not fail the work
                quiet_workers(client)
    finally:
        nanny.setLevel(level)


def quiet_workers(client) -> list[int]:
    """Silence the local workers' own log before the cluster closes; their new log levels.

    The scheduler closes first, and a worker whose heartbeat is under way then logs the lost
    connection as an error with a traceback (seen once in `make bench`, 2026-12-03). The tasks
    are done by then, so it is noise on the user's terminal; a task's own error reaches the
    client as an exception, not through this log.
    """
    return list(client.run(_silence_worker_log).values())


def _silence_worker_log() -> int:
    import logging

    log = logging.getLogger("distributed.worker")
    log.setLevel(logging.CRITICAL)
    return log.level


# How long to wait for a scheduler given by address: long enough for a busy one on a network,
# short enough that a mistyped address is said within seconds (Dask's default is 30 s).
CONNECT_TIMEOUT_S = 10


def _connect(client_type, address: str):
    """A client of the scheduler at ``address``; a bad or silent address is bad input."""
    from models.evidence.problems import InputError, Problem

    try:
        return client_type(address, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        reason = " ".join(str(err).split())[:200] or type(err).__name__
        found = f"no Dask scheduler answered there ({reason})"
        expected = "the address of a running Dask scheduler (tcp://host:8786), or no --scheduler"
        raise InputError([Problem(address, "-", "--scheduler", found, expected)]) from None


def map_tasks(
    fn: Callable, args: Sequence[tuple], client, say: Callable[[str], None] = print, label=str
) -> list:
    """Run ``fn(*a)`` for each ``a`` on the cluster; results in input order, with progress."""
    from distributed import as_completed

    futures = [client.submit(fn, *a, pure=False) for a in args]
    order = {f.key: i for i, f in enumerate(futures)}
    progress = Progress(len(futures), say)
    results: list = [None] * len(futures)
    for future in as_completed(futures):
        i = order[future.key]
        results[i] = future.result()
        progress.step(label(i))
    return results
