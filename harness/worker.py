"""The worker side of a run: what a process executing cells does (any executor).

``execute_cell(payload)`` runs one cell and returns its result rows; it never raises for a
failing cell, it returns a ``failed`` row with the reason. ``prepare_cell`` loads the
cell's task and inputs before its clock starts. Tasks are loaded once per worker process
(``_load_task``) and checked against the data the cell was planned on. Each row records the
machine that ran it and the result-schema version (``schema.py``).
"""

from __future__ import annotations

import functools
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from nasbench_harness.cell import NO_PREDICTOR, Cell, canonical_json
from nasbench_harness.errors import HarnessError
from nasbench_harness.provenance import data_digest, machine, package_versions, related_tasks
from nasbench_harness.schema import SCHEMA_VERSION
from nasbench_harness.threads import pin_threads

# Imported lazily by the metrics (scipy.stats alone takes ~2 s): a fresh worker imports
# them in ``prepare_cell`` so its first cell's time limit is not spent on them.
WARM_MODULES = ("scipy.stats",)



# -- worker side --------------------------------------------------------------------------
# Tasks one worker process keeps loaded, least recently used dropped first: a long-lived worker
# (process pool, Dask) may meet every task of `full`, and keeping all of them would grow without bound.
WORKER_TASKS = 12
TASK_LOADS: Counter = Counter()  # per process: how often each task was actually loaded (tests count it)


@functools.lru_cache(maxsize=WORKER_TASKS)
def _load_task(name: str, data_root: str | None, verify: bool = True, checksum: str = ""):
    """Each worker process loads a task once per (name, data root, checksum), not once per cell
    (tables memoised here, encodings in the space object).

    With ``verify`` the space's cached table is first checked against the sha256 of its
    manifest (the data checksum in run keys comes from the manifest, so a table changed
    after import must be refused, not computed on under the old keys). ``checksum`` is the
    one the cell was planned with: a long-lived worker (an existing Dask cluster) whose data
    root was re-imported since then refuses the cell instead of computing on other data.
    """
    from nasbench_harness.errors import DataError
    from nasbench_harness.tasks.cache import DataCache
    from nasbench_harness.tasks.catalog import get_spec, load_task

    TASK_LOADS[name] += 1
    cache = DataCache(Path(data_root)) if data_root else DataCache()
    if verify:
        _check_space_table(get_spec(name).space, str(cache.root))
    task = load_task(name, cache)
    if checksum and task.data_checksum != checksum:
        raise DataError(
            f"The data of task '{name}' under {cache.root} changed since the run was planned (checksum "
            f"{task.data_checksum[:12]}, planned {checksum[:12]}); give every worker the same data cache and rerun."
        )
    return task


def worker_task(payload: dict):
    """The task of a cell payload, loaded once per worker process (see ``_load_task``), checked
    to hold the data the cell was planned on (its run key's data digest)."""
    from nasbench_harness.errors import DataError

    cell = Cell(**payload["cell"])
    task = _load_task(cell.task, payload.get("data_root"), True, payload.get("task_checksum", ""))
    planned = payload.get("data_checksum", "") if payload.get("task_checksum") else ""  # set together by runner.plan
    if planned:
        related = [_load_task(name, payload.get("data_root"), True) for name in related_tasks(cell)]
        if data_digest(cell, task, related) != planned:
            raise DataError(
                f"The data cell '{cell.task} {cell.method}' reads (its encoding's columns, or a related task) changed "
                f"since the run was planned; give every worker the same data cache and rerun."
            )
    return task


@functools.cache
def _check_space_table(space: str, data_root: str) -> None:
    """Once per process and space: the cached table matches its manifest (DataError otherwise)."""
    from nasbench_harness.tasks.cache import DataCache

    DataCache(Path(data_root)).check_table(space)


def _protocol(name: str):
    from nasbench_harness.protocols import get_protocol

    return get_protocol(name)


def _base_row(cell: Cell, payload: dict) -> dict:
    return {
        "key": payload["key"],
        "matrix": cell.matrix,
        "protocol": cell.protocol,
        "protocol_params": canonical_json(cell.protocol_params),
        "task": cell.task,
        "space": cell.task.split("/", 1)[0],
        "dataset": cell.task.split("/", 1)[-1],
        "predictor": cell.predictor,
        "encoding": cell.encoding,
        "loss": cell.loss,
        "method": cell.method,
        "params": canonical_json({"predictor": cell.params, "loss": cell.loss_params}),
        "budget": float(cell.budget),
        "seed": int(cell.seed),
        "code_version": payload["code_version"],
        "data_checksum": payload["data_checksum"],
        "versions": package_versions(payload.get("dist", "")),
        "machine": machine(),  # the host of the process running the cell (a Dask worker's own)
        "schema_version": SCHEMA_VERSION,
    }


def _warm_inputs(cell: Cell, task) -> None:
    """Compute the memoised encoding/graphs the cell's predictor reads, outside its timing.

    Errors are left for the protocol to raise inside the cell (recorded as its failure).
    """
    from nasbench_harness import registry

    if cell.predictor == NO_PREDICTOR:
        return
    try:
        inputs = getattr(registry.load("predictors", cell.predictor), "inputs", "encoding")
        if "encoding" in inputs:
            task.encoding(cell.encoding)
        if "graph" in inputs:
            task.graphs()
    except Exception:  # noqa: BLE001 - reported by the protocol with the cell's context
        pass


@functools.cache
def _warm_torch() -> None:
    """Pay torch's one-time costs (autograd engine, optimiser, kernel set-up) in this worker
    before any cell's clock starts: measured at ~2.5 CPU s on a worker's first GCN cell, which
    otherwise inflates its timing (and the cost model learning from it, estimate.py). No
    random numbers are drawn, so no generator's state changes."""
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    opt = torch.optim.AdamW(model.parameters())
    for _ in range(2):
        loss = model(torch.ones(4, 8)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()


def prepare_cell(payload: dict) -> None:
    """Load the cell's task and inputs in this worker (memoised), before its clock starts."""
    import importlib

    cell = Cell(**payload["cell"])
    try:
        pin_threads(int(payload.get("threads", 1)))
        _protocol(cell.protocol)
        for name in WARM_MODULES:
            importlib.import_module(name)
        _warm_inputs(cell, worker_task(payload))
        if "torch" in sys.modules:  # the cell's predictor (or protocol) uses torch
            _warm_torch()
    except Exception:  # noqa: BLE001, S110 - execute_cell meets and records the same error
        pass


def execute_cell(payload: dict) -> list[dict]:
    """Run one cell (in any process) and return its result rows; failures become rows."""
    cell = Cell(**payload["cell"])
    threads = int(payload.get("threads", 1))
    row = _base_row(cell, payload)
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        pin_threads(threads)
        task = worker_task(payload)
        _warm_inputs(cell, task)
        protocol = _protocol(cell.protocol)
        start, cpu_start = time.perf_counter(), time.process_time()  # loading and encoding are once-per-worker costs, not the cell's
        results = protocol.rows(cell, task, threads=threads)
        rows = [{**row, "status": "ok", "error": "", "eval_is_test": bool(task.eval_is_test), **r} for r in results]
    except HarnessError as exc:
        rows = [{**row, "status": "failed", "error": str(exc)}]
    except Exception as exc:  # a failing method must not stop the run: record and retry later
        rows = [{**row, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}]
    except SystemExit as exc:  # a method calling sys.exit() fails its cell, not the run
        rows = [{**row, "status": "failed", "error": f"the method called sys.exit({exc.code!r})"}]
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    finished = datetime.now(UTC).isoformat(timespec="microseconds")
    for r in rows:
        r.setdefault("total_seconds", total)
        r.setdefault("cpu_seconds", cpu)  # the cell's cost on a dedicated core, whatever the load (estimate.py)
        r["finished_at"] = finished
    return rows


def _lost_cell(payload: dict, reason: str) -> list[dict]:
    """The ``failed`` row of a cell whose worker died or timed out twice."""
    row = _base_row(Cell(**payload["cell"]), payload)
    return [{**row, "status": "failed", "error": reason, "finished_at": datetime.now(UTC).isoformat(timespec="microseconds")}]
