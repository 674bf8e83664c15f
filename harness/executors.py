"""Executors: where cells run. All yield results as they complete.

- ``serial``: in this process, one after another.
- ``process``: a local pool of worker processes (joblib's loky backend), ``jobs`` wide.
- ``dask``: a ``dask.distributed`` cluster; an existing scheduler (``scheduler`` address)
  or a ``LocalCluster`` of ``jobs`` single-threaded worker processes.

The function sent to workers must be importable there (``runner.execute_cell``); it
pins its own threads and loads each task once per worker process. Results are identical
on every executor because a cell's randomness comes from the cell alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from nasbench_harness.errors import ConfigError, HarnessError, did_you_mean
from nasbench_harness.threads import thread_env

EXECUTORS = ("serial", "process", "dask")
DASK_CONNECT_TIMEOUT = "10s"  # how long to wait for an existing scheduler (--dask-scheduler)


class Executor:
    """Base: ``map(fn, items)`` yields ``fn(item)`` for every item, in completion order."""

    name = "serial"
    jobs = 1

    def map(self, fn: Callable[[Any], Any], items: list) -> Iterator[Any]:
        for item in items:
            yield fn(item)

    def close(self) -> None:
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SerialExecutor(Executor):
    name = "serial"


def _init_worker(threads: int, parent_pid: int) -> None:
    """Pin threads, and exit when the parent dies (a killed run must not leave orphans)."""
    import threading
    import time

    from nasbench_harness.threads import pin_threads

    pin_threads(threads)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="nbh-parent-watch", daemon=True).start()


class ProcessExecutor(Executor):
    """A reusable loky process pool with at most ``2 * jobs`` cells in flight.

    Cells are submitted as others finish (not all at once), so an interrupted run has
    computed little that it cannot store. Workers start with pinned threads and are reused
    by later runs in the same process (their loaded tasks stay memoised).
    """

    name = "process"

    def __init__(self, jobs: int, threads: int = 1) -> None:
        self.jobs = max(1, int(jobs))
        self.threads = threads

    def map(self, fn, items):
        from concurrent.futures import FIRST_COMPLETED, wait

        from joblib.externals.loky import get_reusable_executor

        if not items:
            return
        pool = get_reusable_executor(
            max_workers=self.jobs,
            timeout=300,
            env=thread_env(self.threads),
            initializer=_init_worker,
            initargs=(self.threads, os.getpid()),
        )
        todo = iter(items)
        running = set()
        try:
            while True:
                while len(running) < 2 * self.jobs and (item := next(todo, None)) is not None:
                    running.add(pool.submit(fn, item))
                if not running:
                    return
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        finally:
            for fut in running:
                fut.cancel()


class DaskExecutor(Executor):
    """A dask.distributed client on an existing scheduler or a LocalCluster."""

    name = "dask"

    def __init__(self, jobs: int, threads: int = 1, scheduler: str | None = None) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("The dask executor needs dask.distributed; install it with `pip install 'dask[distributed]'`.") from None
        self.jobs = max(1, int(jobs))
        self.threads = threads
        self._cluster = None
        try:
            if scheduler:
                self.client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT)
            else:
                self._cluster = LocalCluster(
                    n_workers=self.jobs,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    env=thread_env(threads),
                    silence_logs=40,  # logging.ERROR: keep worker chatter off the user's terminal
                )
                self.client = Client(self._cluster)
        except (OSError, TimeoutError) as exc:
            raise HarnessError(
                f"Could not connect to the Dask scheduler {scheduler or '(local cluster)'} ({exc}); "
                f"check the address (e.g. tcp://host:8786) or drop --dask-scheduler to start a local cluster."
            ) from None
        if scheduler:
            self.jobs = max(1, len(self.client.scheduler_info().get("workers", {})))

    def map(self, fn, items):
        from dask.distributed import as_completed

        if not items:
            return
        futures = self.client.map(fn, items, pure=False)
        try:
            for fut in as_completed(futures):
                yield fut.result()
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def default_jobs(threads: int = 1) -> int:
    """Workers that fit the machine when each uses ``threads`` threads (at least 1)."""
    return max(1, (os.cpu_count() or 1) // max(1, threads))


def make_executor(name: str, jobs: int = 1, threads: int = 1, scheduler: str | None = None) -> Executor:
    """Build an executor by name (``serial``, ``process``, ``dask``)."""
    if name not in EXECUTORS:
        raise ConfigError(f"Unknown executor '{name}'; expected one of {list(EXECUTORS)}.{did_you_mean(name, EXECUTORS)}")
    if jobs is None or jobs < 1:
        jobs = default_jobs(threads)
    if name == "serial":
        return SerialExecutor()
    if name == "process":
        return ProcessExecutor(jobs, threads)
    return DaskExecutor(jobs, threads, scheduler)
