"""The runner: plan a matrix against the result store, execute pending cells, store rows.

``plan`` expands nothing itself (see ``matrix.load_matrix``): it loads each task once,
derives every cell's run key (``Cell.run_key`` over the digests of ``provenance.py``) and
splits cells into done and pending. ``execute`` sends pending cells to an executor and
appends each finished cell's row to the store as its own atomic shard, so a killed run
loses only the cells in flight; the shards are compacted when the run ends. What workers
run (``execute_cell``, ``prepare_cell``) is in ``worker.py``.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nasbench_harness.cell import NO_PREDICTOR, Cell
from nasbench_harness.errors import HarnessError
from nasbench_harness.matrix import Matrix, check_budgets
from nasbench_harness.provenance import code_version, data_digest, related_tasks
from nasbench_harness.store import ResultStore
from nasbench_harness.worker import (  # noqa: F401 - TASK_LOADS, _check_space_table and execute_cell also reached through runner
    TASK_LOADS,
    _check_space_table,
    _load_task,
    _lost_cell,
    execute_cell,
    prepare_cell,
)

# Default cell timeout: TIMEOUT_FACTOR times the cell's expected cost (stored median
# timing of the predictor on the task, else of the predictor, else its prior above), and
# never less than MIN_CELL_TIMEOUT (a worker's first cell also loads the task and computes
# encodings, which the stored timings leave out). `run --cell-timeout N` overrides it.
TIMEOUT_FACTOR = 20.0
MIN_CELL_TIMEOUT = 600.0


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
    """Derive run keys (loading each task once for its data digests) and what is done.

    A task whose data is not imported raises its DataError (which names the import to
    run), or with ``skip_missing_data`` drops that task's cells and notes why in
    ``Plan.missing``. ``verify_data=False`` trusts the manifests' checksums (dry runs).
    """
    from nasbench_harness.errors import DataError
    from nasbench_harness.paths import DATA_ENV

    cells = matrix.cells if cells is None else cells
    data_root = os.environ.get(DATA_ENV)
    related = [related_tasks(c) for c in cells]
    tasks, missing = {}, {}
    for name in dict.fromkeys([*(c.task for c in cells), *(n for names in related for n in names)]):
        try:
            tasks[name] = _load_task(name, data_root, verify_data)
        except DataError as exc:
            if not skip_missing_data:
                raise
            missing[name] = str(exc)
    kept = [(c, r) for c, r in zip(cells, related, strict=True) if c.task in tasks and all(n in tasks for n in r)]
    cells, related = [c for c, _ in kept], [r for _, r in kept]
    check_budgets(matrix.name, cells, {n: len(t) for n, t in tasks.items()})
    keys, payloads = [], []
    for c, names in zip(cells, related, strict=True):
        cv = code_version(c)
        digest = data_digest(c, tasks[c.task], [tasks[n] for n in names])
        key = c.run_key(digest, cv)
        keys.append(key)
        payloads.append(
            {
                "cell": c.as_dict(),
                "key": key,
                "code_version": cv,
                "data_checksum": digest,
                "task_checksum": tasks[c.task].data_checksum,
                "data_root": data_root,
                "threads": threads,
                "dist": _dist_of(c.predictor),
            }
        )
    stored = set() if force else store.done_keys()
    return Plan(matrix, cells, keys, payloads, [k in stored for k in keys], data_root, {n: len(t) for n, t in tasks.items()}, missing)


def prepare(
    matrix: str | Path,
    store: ResultStore,
    *,
    overrides: list[str] | tuple[str, ...] = (),
    filters: list[str] | tuple[str, ...] = (),
    sample: int | None = None,
    force: bool = False,
    threads: int = 1,
    skip_missing_data: bool = False,
    dry_run: bool = False,
    as_method: str | None = None,
) -> Plan:
    """The one way to plan a run, for the CLI and the Python API alike.

    Expands the matrix (``--set`` ``overrides``), with ``as_method`` (``KIND=NAME``) refills
    it with that method where its kind takes part (``challenge.py``), keeps the cells matching ``filters``, plans
    them against ``store``; with ``sample`` re-plans K cells of every stratum
    (``estimate.sample_cells``). A ``dry_run`` reads and trusts the manifests' data checksums
    and uses the plan cached by an earlier run or dry run of the same matrix, options, code
    and data (``index.py``); every plan computed without ``force`` is cached for the next one.
    """
    from nasbench_harness import index
    from nasbench_harness.errors import ConfigError
    from nasbench_harness.matrix import filter_cells, load_matrix

    options = {"set": list(overrides), "filter": list(filters), "skip_missing_data": skip_missing_data, "sample": sample}
    if as_method:
        options["as"] = as_method  # absent otherwise: plans cached before the option keep their keys
    key = index.plan_key(str(matrix), options)
    cached = index.load_plan(key, store) if dry_run and not force else None
    if cached is not None:
        return cached
    m = load_matrix(matrix, list(overrides))
    if as_method:
        from nasbench_harness.challenge import restrict

        m = restrict(m, as_method)
    cells = filter_cells(m.cells, list(filters))
    if not cells:
        raise ConfigError(f"The filters {' '.join(filters)} match none of the {len(m.cells)} cells of matrix '{m.name}'; check the values with `nasbench-harness validate`.")
    p = plan(m, store, cells, force=force, threads=threads, skip_missing_data=skip_missing_data, verify_data=not dry_run)
    if sample:
        from nasbench_harness.estimate import sample_cells

        missing = p.missing
        p = plan(m, store, sample_cells(p.cells, sample, p.task_sizes), force=force, threads=threads, verify_data=not dry_run)
        p.missing = missing
    if not force:
        index.save_plan(key, p)
    return p


def cost_model(store: ResultStore, column: str = "cpu_seconds"):
    """The cost model (``estimate.CostModel``) learned from the store's timings."""
    from nasbench_harness.estimate import TIMING_COLUMNS, CostModel
    from nasbench_harness.store import with_float_gaps

    return CostModel(with_float_gaps(store.read(TIMING_COLUMNS)), column)


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
