"""Executors: where cells run. All yield results as they complete.

- ``serial``: one after another in one long-lived child process (``SupervisedPool`` of 1).
- ``process``: a ``SupervisedPool`` of ``jobs`` long-lived worker processes.
- ``dask``: a ``dask.distributed`` cluster; an existing scheduler (``scheduler`` address)
  or a ``LocalCluster`` of ``jobs`` single-threaded worker processes.

Every executor survives a worker that dies or exceeds an item's time limit: the item is
retried once in a fresh worker, then ``lost(item, reason)`` stands for its result (see
``Executor.map`` and docs/ROBUSTNESS.md). Items are handed out longest first (``cost``), so
no long cell starts at the end and keeps one worker busy while the others idle. The
function sent to workers must be importable there (``runner.execute_cell``); it pins its
own threads and loads each task once per worker process (``runner.worker_task``). Results
are identical on every executor because a cell's randomness comes from the cell alone.
Running on an existing Dask cluster: docs/SCALING.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from nasbench_harness.errors import ConfigError, HarnessError, did_you_mean
from nasbench_harness.threads import thread_env

EXECUTORS = ("serial", "process", "dask")
STARTUP_GRACE = 900.0  # seconds a worker may spend in ``prepare`` (imports, loading a task) before an item's clock starts
MAX_UNSTARTED_DEATHS = 3  # Dask: deaths of a worker before it began an item that do not count as the item's try
DASK_CONNECT_TIMEOUT = "10s"  # how long to wait for an existing scheduler (--dask-scheduler)
# The local cluster's Dask settings (the nannies pass them on to their workers). map() retries a
# dead worker's cell itself. Cells are CPU-bound seconds to minutes: the worker's statistical
# profiler (a stack sample every 10 ms) and the 20 ms event-loop tick and 500 ms system monitor
# only take CPU from them; off or slowed, an idle 2-worker cluster took 0.025 instead of 0.067
# CPU s per s on a loaded 2-core machine (docs/SCALING.md). Dask's nannies also set
# MALLOC_TRIM_THRESHOLD_=65536 in their workers, which fixes glibc's mmap threshold at 128 KiB, so
# every larger tensor is mmap'ed and unmapped: the loss study's cells then took 2.1x the CPU, a
# good part of it system time (docs/SCALING.md). None leaves glibc's adaptive defaults, as in the
# serial and process executors.
LOCAL_DASK_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.scheduler.allowed-failures": 0,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
}


class Executor:
    """Base: ``map(fn, items)`` yields ``fn(item)`` for every item, in completion order.

    ``timeout(item)`` gives an item's time limit in seconds (None: no limit) and
    ``lost(item, reason)`` the result to yield for an item whose worker died or timed out
    twice (it is retried once in a fresh worker first). ``prepare(item)``, when given, runs
    in the worker before ``fn(item)`` outside the item's time limit (once-per-worker
    loading). ``cost(item)``, when given, is the item's expected seconds: items start in
    decreasing order of it (``longest_first``).
    """

    name = "serial"
    jobs = 1

    def map(
        self,
        fn: Callable[[Any], Any],
        items: list,
        *,
        timeout: Callable[[Any], float | None] | None = None,
        lost: Callable[[Any, str], Any] | None = None,
        prepare: Callable[[Any], None] | None = None,
        cost: Callable[[Any], float] | None = None,
    ) -> Iterator[Any]:
        for item in longest_first(items, cost):
            yield fn(item)

    def close(self) -> None:
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def longest_first(items: list, cost: Callable[[Any], float] | None) -> list:
    """Items by decreasing expected cost (ties keep their order): the longest-processing-time
    rule, so the last cells to start are short ones and workers finish close together."""
    if cost is None:
        return list(items)
    costs = [float(cost(item)) for item in items]
    order = sorted(range(len(items)), key=lambda i: -costs[i])
    return [items[i] for i in order]


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


def _worker_main(conn, threads: int, parent_pid: int) -> None:
    """A supervised worker: run ``(fn, item)`` messages one at a time until told to stop.

    Ctrl-C is the parent's to handle (it stops the workers); an exception escaping ``fn``
    is sent back as the item's failure instead of ending the worker.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _init_worker(threads, parent_pid)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        fn, prepare, item = msg
        try:
            if prepare is not None:
                prepare(item)  # once-per-worker costs (imports, loading data) are not the item's time
            conn.send(("start", None))
            reply = ("ok", fn(item))
        except BaseException as exc:  # noqa: BLE001 - SystemExit included: the worker goes on
            reply = ("error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(reply)
        except OSError:  # the parent is gone (killed run): end quietly, no traceback on its terminal
            return


def _death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"worker died: signal {-exitcode}"
    return f"worker died: exit code {exitcode}"


@dataclass
class _Worker:
    proc: Any
    conn: Any
    job: tuple[int, Any, float] | None = None  # (item index, item, deadline or inf)


class SupervisedPool:
    """Long-lived worker processes, each running one item at a time, watched by the parent.

    A worker that dies (kill -9, ``os._exit``, a segfault) or exceeds its item's timeout is
    killed and replaced; its item is retried once in the fresh worker and, if that fails
    too, ``lost(item, reason)`` is yielded in its place. Workers are spawned (no fork of a
    parent that may hold torch threads) and reused for every item, so each pays its
    imports once, and a replacement only when one dies.
    """

    def __init__(self, jobs: int, threads: int = 1) -> None:
        import multiprocessing

        self.jobs = max(1, int(jobs))
        self.threads = threads
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self.deaths = 0  # workers lost (died or killed on timeout), for reports and tests

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        env_before = {k: os.environ.get(k) for k in thread_env(self.threads)}
        os.environ.update(thread_env(self.threads))  # the child's native pools start pinned
        try:
            proc = self._ctx.Process(target=_worker_main, args=(child, self.threads, os.getpid()), daemon=True, name="nbh-worker")
            proc.start()
        finally:
            for k, v in env_before.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        child.close()
        return _Worker(proc, parent)

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers if w.proc.is_alive()]

    def _retire(self, w: _Worker) -> None:
        if w.proc.is_alive():
            w.proc.kill()
        w.proc.join(5)
        w.conn.close()
        self._workers.remove(w)
        self.deaths += 1

    def map(self, fn, items, *, timeout=None, lost=None, prepare=None, cost=None):
        import math
        import time
        from collections import deque
        from multiprocessing.connection import wait

        todo = deque(enumerate(longest_first(items, cost)))
        tries: dict[int, int] = {}
        try:
            while todo or any(w.job for w in self._workers):
                while todo and len(self._workers) < min(self.jobs, len(todo) + sum(1 for w in self._workers if w.job)):
                    self._workers.append(self._spawn())
                for w in list(self._workers):
                    if w.job is None and todo:
                        idx, item = todo.popleft()
                        limit = timeout(item) if timeout else None
                        try:
                            w.conn.send((fn, prepare, item))
                        except OSError:  # died while idle: the item never reached it, no try spent
                            todo.appendleft((idx, item))
                            self._retire(w)
                            continue
                        w.job = (idx, item, time.monotonic() + STARTUP_GRACE + limit if limit else math.inf)
                busy = [w for w in self._workers if w.job]
                if not busy:
                    continue
                nearest = min(w.job[2] for w in busy) - time.monotonic()
                ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=None if nearest == math.inf else max(0.0, nearest)))
                now = time.monotonic()
                for w in busy:
                    idx, item, deadline = w.job
                    reason = None
                    if w.conn in ready:
                        try:
                            status, value = w.conn.recv()
                        except (EOFError, OSError):
                            w.proc.join(5)
                            reason = _death_reason(w.proc.exitcode)
                        else:
                            if status == "start":  # the worker began the item: its time limit runs from here
                                limit = timeout(item) if timeout else None
                                w.job = (idx, item, time.monotonic() + limit if limit else math.inf)
                                continue
                            w.job = None
                            if status == "ok":
                                yield value
                            else:  # fn itself raised: not the worker's fault, no retry
                                yield lost(item, value) if lost else _raise(value)
                            continue
                    elif w.proc.sentinel in ready:
                        w.proc.join(5)
                        reason = _death_reason(w.proc.exitcode)
                    elif now >= deadline:
                        reason = f"exceeded cell timeout of {timeout(item):g} s"
                    else:
                        continue
                    self._retire(w)
                    tries[idx] = tries.get(idx, 0) + 1
                    if tries[idx] < 2:
                        todo.appendleft((idx, item))
                    elif lost is None:
                        raise HarnessError(f"A worker failed twice on one item ({reason}).")
                    else:
                        yield lost(item, reason)
        except BaseException:
            self.close()  # interrupted: in-flight items are lost with their workers
            raise

    def close(self) -> None:
        for w in list(self._workers):
            if w.job is None:
                try:
                    w.conn.send(None)
                except OSError:
                    pass
            w.proc.join(0.5 if w.job is None else 0)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(5)
            w.conn.close()
        self._workers.clear()


def _raise(message: str):
    raise HarnessError(message)


class SerialExecutor(Executor):
    """Cells one after another in ONE long-lived child process.

    In the child, a method that hangs can be stopped by the cell timeout and one that calls
    ``os._exit`` or is killed cannot end the run: the parent replaces the child and goes on.
    ``isolate=False`` runs cells in this process instead (for debuggers), without those
    protections (a ``sys.exit`` in a method is still caught as the cell's failure).
    """

    name = "serial"

    def __init__(self, threads: int = 1, isolate: bool = True) -> None:
        self.threads = threads
        self._pool = SupervisedPool(1, threads) if isolate else None

    def map(self, fn, items, *, timeout=None, lost=None, prepare=None, cost=None):
        if self._pool is None:
            yield from super().map(fn, items, cost=cost)
        else:
            yield from self._pool.map(fn, items, timeout=timeout, lost=lost, prepare=prepare, cost=cost)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()


class ProcessExecutor(Executor):
    """A pool of ``jobs`` supervised worker processes (see ``SupervisedPool``).

    Cells are handed out as workers free up (never queued ahead), so an interrupted run
    has computed little that it cannot store. Workers start with pinned threads and are
    reused by later runs through the same executor (their loaded tasks stay memoised).
    """

    name = "process"

    def __init__(self, jobs: int, threads: int = 1) -> None:
        self.jobs = max(1, int(jobs))
        self.threads = threads
        self._pool = SupervisedPool(self.jobs, threads)

    def map(self, fn, items, *, timeout=None, lost=None, prepare=None, cost=None):
        yield from self._pool.map(fn, items, timeout=timeout, lost=lost, prepare=prepare, cost=cost)

    def close(self) -> None:
        self._pool.close()


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
                import dask

                # A cluster started earlier in this process with Dask's defaults leaves the variable in
                # os.environ (the nannies set it there before spawning), and workers would inherit it.
                os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
                with dask.config.set(LOCAL_DASK_CONFIG):
                    self._cluster = LocalCluster(
                        n_workers=self.jobs,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        env=thread_env(threads),
                        silence_logs=50,  # logging.CRITICAL: keep worker chatter (and deaths we handle) off the terminal
                    )
                self.client = Client(self._cluster)
        except (OSError, TimeoutError) as exc:
            raise HarnessError(
                f"Could not connect to the Dask scheduler {scheduler or '(local cluster)'} ({exc}); "
                f"check the address (e.g. tcp://host:8786) or drop --dask-scheduler to start a local cluster."
            ) from None
        if scheduler:
            self.jobs = max(1, len(self.client.scheduler_info().get("workers", {})))

    def map(self, fn, items, *, timeout=None, lost=None, prepare=None, cost=None):
        """At most one cell per worker thread in flight, longest first; a cell's clock starts
        when its worker reports (through an event topic) that ``prepare`` is done.

        Cells are submitted in decreasing expected cost with that cost as their Dask
        priority, so a free worker always gets the longest cell left (a retried cell goes
        first among equals). The window follows the cluster's current thread count, so
        workers that join an existing cluster mid-run get cells too. A cell whose worker
        died (``KilledWorker``) or that exceeded its timeout (its worker is hard-exited and
        its nanny starts a fresh one) is resubmitted once; a second failure yields
        ``lost(item, reason)``.
        """
        import math
        import time
        from collections import deque

        from dask.distributed import wait
        from distributed.scheduler import KilledWorker

        items = longest_first(items, cost)
        priority = [_priority(cost(item)) if cost else 0 for item in items]
        todo = deque(enumerate(items))
        tries: dict[int, int] = {}
        unstarted: dict[int, int] = {}  # deaths of a worker before it began the item
        running: dict = {}  # future -> (index, item, deadline before it starts)
        started: dict[str, float] = {}  # future key -> when its worker began it (after prepare)
        topic = f"nbh-cell-start-{os.getpid()}"
        self.client.subscribe_topic(topic, lambda event: started.setdefault(event[1], time.monotonic()))

        def deadline(fut, item, before: float) -> float:
            limit = timeout(item) if timeout else None
            return before if fut.key not in started or not limit else started[fut.key] + limit

        try:
            while todo or running:
                slots = self._slots()
                while todo and len(running) < slots:
                    idx, item = todo.popleft()
                    limit = timeout(item) if timeout else None
                    fut = self.client.submit(_dask_call, fn, prepare, item, topic, pure=False, priority=priority[idx])
                    running[fut] = (idx, item, time.monotonic() + STARTUP_GRACE + limit if limit else math.inf)
                try:  # wake up now and then: a start event may bring a deadline closer
                    done, _ = wait(list(running), timeout=0.5, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    done = set()
                failed: list[tuple] = []
                for fut in done:
                    idx, item, _ = running.pop(fut)
                    try:
                        value = fut.result()
                    except KilledWorker:
                        if fut.key not in started and unstarted.get(idx, 0) < MAX_UNSTARTED_DEATHS:
                            # its worker died before the cell began (e.g. another cell's fault): not the cell's try
                            unstarted[idx] = unstarted.get(idx, 0) + 1
                            todo.appendleft((idx, item))
                            continue
                        failed.append((idx, item, "worker died: Dask lost the worker running it (KilledWorker)"))
                        continue
                    except Exception as exc:  # noqa: BLE001 - fn itself raised: no retry
                        yield lost(item, f"{type(exc).__name__}: {exc}") if lost else _raise(str(exc))
                        continue
                    yield value
                now = time.monotonic()
                for fut, (idx, item, before) in list(running.items()):
                    if now >= deadline(fut, item, before):
                        running.pop(fut)
                        self._restart_worker_of(fut)
                        failed.append((idx, item, f"exceeded cell timeout of {timeout(item):g} s"))
                for idx, item, reason in failed:
                    tries[idx] = tries.get(idx, 0) + 1
                    if tries[idx] < 2:
                        todo.appendleft((idx, item))
                    else:
                        yield lost(item, reason) if lost else _raise(reason)
        finally:
            self.client.cancel(list(running))
            self.client.unsubscribe_topic(topic)

    def _slots(self) -> int:
        """Cells to keep in flight: the worker threads the scheduler knows now (a local
        cluster: ``jobs``; an existing one: however many workers have joined), at least 1."""
        if self._cluster is not None:
            return self.jobs
        try:
            return max(1, sum(self.client.nthreads().values()))
        except (OSError, TimeoutError):  # the scheduler is briefly unreachable: keep the last known size
            return self.jobs

    def _restart_worker_of(self, fut) -> None:
        """Stop a runaway cell: hard-exit the worker processing it (its nanny starts a fresh one)."""
        where = [addr for addr, keys in self.client.processing().items() if fut.key in keys]
        fut.cancel()
        if where:  # a hard exit: a graceful restart would wait for the runaway thread; the nanny starts a new worker
            import time

            self.client.run(_hard_exit, workers=where, wait=False)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and set(where) & set(self.client.scheduler_info().get("workers", {})):
                time.sleep(0.1)  # until the scheduler forgot it: a retry must not land on the dying worker

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


async def _hard_exit() -> None:  # a coroutine: Dask runs only those without waiting for a reply
    os._exit(75)


def _priority(seconds: float) -> int:
    """A Dask priority (higher runs first) from a cell's expected seconds, in milliseconds."""
    return int(min(max(float(seconds), 0.0), 1e9) * 1000)


def _dask_call(fn, prepare, item, topic: str):
    """Run on a Dask worker: ``prepare``, then tell the client the item's clock starts, then ``fn``."""
    from distributed import get_worker

    if prepare is not None:
        prepare(item)
    get_worker().log_event(topic, get_worker().get_current_task())
    return fn(item)


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
        return SerialExecutor(threads)
    if name == "process":
        return ProcessExecutor(jobs, threads)
    return DaskExecutor(jobs, threads, scheduler)
