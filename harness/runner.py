"""The runner: plan a matrix against the result store, execute pending cells, store rows.

``plan`` expands nothing itself (see ``matrix.load_matrix``): it loads each task once to
get its data checksum, derives every cell's run key and splits cells into done and
pending. ``execute`` sends pending cells to an executor and appends each finished cell's
row to the store as its own atomic shard, so a killed run loses only the cells in flight;
the shards are compacted when the run ends. ``execute_cell`` is what workers run: it
never raises for a failing cell, it returns a ``failed`` row with the reason.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from nasbench_harness.errors import HarnessError
from nasbench_harness.matrix import NO_PREDICTOR, Cell, Matrix, canonical_json, check_budgets, code_version
from nasbench_harness.store import ResultStore
from nasbench_harness.threads import pin_threads

# Default cell timeout: TIMEOUT_FACTOR times the cell's expected cost (stored median
# timing of the predictor on the task, else of the predictor, else its prior above), and
# never less than MIN_CELL_TIMEOUT (a worker's first cell also loads the task and computes
# encodings, which the stored timings leave out). `run --cell-timeout N` overrides it.
TIMEOUT_FACTOR = 20.0
MIN_CELL_TIMEOUT = 600.0

# Imported lazily by the metrics (scipy.stats alone takes ~2 s): a fresh worker imports
# them in ``prepare_cell`` so its first cell's time limit is not spent on them.
WARM_MODULES = ("scipy.stats",)

VERSIONED_PACKAGES = ("nasbench-harness", "numpy", "pandas", "pyarrow", "scipy", "scikit-learn", "torch", "xgboost", "xgboost-cpu", "lightgbm", "nas-bench-graph")


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
    """The task of a cell payload, loaded once per worker process (see ``_load_task``)."""
    cell = payload["cell"]
    return _load_task(cell["task"], payload.get("data_root"), True, payload.get("data_checksum", ""))


@functools.cache
def _check_space_table(space: str, data_root: str) -> None:
    """Once per process and space: the cached table matches its manifest (DataError otherwise)."""
    from nasbench_harness.tasks.cache import DataCache

    DataCache(Path(data_root)).check_table(space)


@functools.cache
def package_versions(extra_dist: str = "") -> str:
    """JSON of the versions of the packages that can change a result (memoised per process)."""
    out = {"python": platform.python_version()}
    for dist in (*VERSIONED_PACKAGES, *([extra_dist] if extra_dist else [])):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return json.dumps(out, sort_keys=True)


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


# -- planning -----------------------------------------------------------------------------
@dataclass
class Plan:
    """A matrix's cells with their run keys, split into done and pending."""

    matrix: Matrix
    cells: list[Cell]
    keys: list[str]
    payloads: list[dict]
    done: list[bool]
    data_root: str | None = None
    task_sizes: dict[str, int] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # task -> why its cells were dropped

    @property
    def pending(self) -> list[int]:
        return [i for i, d in enumerate(self.done) if not d]

    @property
    def n_done(self) -> int:
        return sum(self.done)


@functools.cache
def _dist_of(predictor: str) -> str:
    from nasbench_harness import registry

    if predictor == NO_PREDICTOR:
        return ""
    try:
        return registry.info("predictors", predictor).dist
    except HarnessError:
        return ""


def plan(
    matrix: Matrix,
    store: ResultStore,
    cells: list[Cell] | None = None,
    *,
    force: bool = False,
    threads: int = 1,
    skip_missing_data: bool = False,
    verify_data: bool = True,
) -> Plan:
    """Derive run keys (loading each task once for its data checksum) and what is done.

    A task whose data is not imported raises its DataError (which names the import to
    run), or with ``skip_missing_data`` drops that task's cells and notes why in
    ``Plan.missing``. ``verify_data=False`` trusts the manifests' checksums (dry runs).
    """
    from nasbench_harness.errors import DataError
    from nasbench_harness.paths import DATA_ENV

    cells = matrix.cells if cells is None else cells
    data_root = os.environ.get(DATA_ENV)
    tasks, missing = {}, {}
    for name in dict.fromkeys(c.task for c in cells):
        try:
            tasks[name] = _load_task(name, data_root, verify_data)
        except DataError as exc:
            if not skip_missing_data:
                raise
            missing[name] = str(exc)
    cells = [c for c in cells if c.task in tasks]
    check_budgets(matrix.name, cells, {n: len(t) for n, t in tasks.items()})
    keys, payloads = [], []
    for c in cells:
        cv = code_version(c)
        checksum = tasks[c.task].data_checksum
        key = c.run_key(checksum, cv)
        keys.append(key)
        payloads.append(
            {
                "cell": c.as_dict(),
                "key": key,
                "code_version": cv,
                "data_checksum": checksum,
                "data_root": data_root,
                "threads": threads,
                "dist": _dist_of(c.predictor),
            }
        )
    stored = set() if force else store.done_keys()
    return Plan(matrix, cells, keys, payloads, [k in stored for k in keys], data_root, {n: len(t) for n, t in tasks.items()}, missing)


def cost_model(store: ResultStore, column: str = "cpu_seconds"):
    """The cost model (``estimate.CostModel``) learned from the store's timings."""
    from nasbench_harness.estimate import TIMING_COLUMNS, CostModel

    return CostModel(store.read(TIMING_COLUMNS), column)


def cell_estimates(p: Plan, store: ResultStore, column: str = "cpu_seconds") -> list[tuple[float, str]]:
    """(seconds, basis) of each pending cell from the stored timings (``estimate.CostModel``:
    per stratum a log-log fit in the training size, falling back to the method, the
    predictor in the space, the predictor, then the priors the classes declare)."""
    return cost_model(store, column).predict_many([p.cells[i] for i in p.pending], p.task_sizes)


def _cell_costs(p: Plan, store: ResultStore) -> list[float]:
    """Expected wall seconds of each pending cell (time limits scale with them)."""
    return [s for s, _ in cell_estimates(p, store, "total_seconds")]


def estimate_seconds(p: Plan, store: ResultStore, jobs: int = 1, column: str = "cpu_seconds") -> float:
    """Time estimate of the pending cells (see ``cell_estimates``), divided over jobs."""
    return sum(s for s, _ in cell_estimates(p, store, column)) / max(1, jobs)


def default_timeout(cost: float) -> float:
    """The default time limit of a cell expected to take ``cost`` seconds."""
    return max(MIN_CELL_TIMEOUT, TIMEOUT_FACTOR * float(cost))


def _lost_cell(payload: dict, reason: str) -> list[dict]:
    """The ``failed`` row of a cell whose worker died or timed out twice."""
    row = _base_row(Cell(**payload["cell"]), payload)
    return [{**row, "status": "failed", "error": reason, "finished_at": datetime.now(UTC).isoformat(timespec="microseconds")}]


def cell_timeout_of(payload: dict) -> float | None:
    """A pending cell's time limit in seconds (None: no limit)."""
    return payload["timeout"]


def cell_cost(payload: dict) -> float:
    """A pending cell's expected seconds (the executor starts the longest first)."""
    return float(payload.get("cost", 0.0))


# -- executing ----------------------------------------------------------------------------
@dataclass
class Summary:
    n_cells: int
    n_skipped: int
    n_ok: int = 0
    n_failed: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)


def execute(
    p: Plan,
    store: ResultStore,
    executor,
    *,
    progress: Callable[[list[dict]], None] | None = None,
    compact: bool = True,
    cell_timeout: float | None = None,
) -> Summary:
    """Run the pending cells of ``p`` on ``executor``; each result is stored as it arrives.

    ``cell_timeout``: seconds per cell (None: ``default_timeout`` of each cell's expected
    cost; 0: no limit). A cell whose worker dies or times out is retried once in a fresh
    worker, then stored as failed with the reason. On an interruption (KeyboardInterrupt)
    the rows already stored stay; the exception propagates after compaction so the caller
    can say how to resume.
    """
    store.ensure_writable()
    costs = _cell_costs(p, store)
    if cell_timeout is None:
        limits = [default_timeout(c) for c in costs]
    else:
        limits = [float(cell_timeout) or None] * len(p.pending)
    # "cost" orders the work longest first (executors.longest_first): no long cell starts last.
    pending = [{**p.payloads[i], "timeout": t, "cost": c} for i, t, c in zip(p.pending, limits, costs, strict=True)]
    summary = Summary(n_cells=len(p.cells), n_skipped=len(p.cells) - len(pending))
    t0 = time.perf_counter()
    try:
        for rows in executor.map(execute_cell, pending, timeout=cell_timeout_of, lost=_lost_cell, prepare=prepare_cell, cost=cell_cost):
            store.append(rows)
            for r in rows:
                if r["status"] == "ok":
                    summary.n_ok += 1
                else:
                    summary.n_failed += 1
                    summary.failures.append(f"{r['task']} {r['method']} budget={r['budget']:g} seed={r['seed']}: {r['error']}")
            if progress is not None:
                progress(rows)
    except BaseException:
        summary.seconds = time.perf_counter() - t0
        if compact:
            try:  # keep what is stored tidy, but never mask the error that stopped the run
                store.compact()
            except Exception:  # noqa: BLE001, S110 - the shards stay readable uncompacted
                pass
        raise
    summary.seconds = time.perf_counter() - t0
    if compact:
        store.compact()
    return summary
