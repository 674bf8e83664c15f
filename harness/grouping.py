"""Units of execution: pending cells that one batched fit can run together, and how a unit runs.

``units(payloads)`` turns the runner's pending cell payloads into units (lists of payloads):
``predict`` cells of a predictor that declares ``fits_in_groups`` (the torch predictors,
``methods/neural/training.py``) that agree on everything but seed and loss (task, budget,
predictor, encoding, predictor params, protocol params) share a unit of at most
``max_group_size()`` cells; every other cell is a unit of its own. ``execute_unit`` is what
workers run: one row per cell, exactly the numbers each cell gets alone (so a partly-done
group resumes with the same numbers, and run keys stay per cell).
"""

from __future__ import annotations

import functools
import os
import time
from datetime import UTC, datetime

from nasbench_harness.errors import HarnessError
from nasbench_harness.matrix import Cell, canonical_json

GROUP_SIZE_ENV = "NASBENCH_HARNESS_GROUP_SIZE"
# Off by default: grouped cells get exactly their numbers alone, but measured only 1.05-1.11x
# less CPU than one by one (30 GCN seeds, NB201 1%, docs/ARCHITECTURE.md: each member's own
# matmuls bound it), while a unit is coarser work for the process pool and a killed worker
# loses the whole unit. NASBENCH_HARNESS_GROUP_SIZE=8 (one stack of the batched model) turns it on.
DEFAULT_GROUP_SIZE = 1


def max_group_size() -> int:
    """Cells per unit (``NASBENCH_HARNESS_GROUP_SIZE``; 1 runs every cell on its own)."""
    raw = os.environ.get(GROUP_SIZE_ENV, "")
    try:
        size = int(raw) if raw else DEFAULT_GROUP_SIZE
    except ValueError:
        raise HarnessError(f"{GROUP_SIZE_ENV} must be a whole number of cells (1 turns grouping off), got '{raw}'.") from None
    if size < 1:
        raise HarnessError(f"{GROUP_SIZE_ENV} must be at least 1 (1 turns grouping off), got {size}.")
    return size


@functools.cache
def _fits_in_groups(predictor: str) -> bool:
    from nasbench_harness import registry

    try:
        cls = registry.load("predictors", predictor)
    except HarnessError:  # unknown or broken: the cell reports it when it runs alone
        return False
    return bool(getattr(cls, "fits_in_groups", False)) and not getattr(cls, "uses_unlabeled", False)


def group_key(cell: Cell) -> tuple | None:
    """What cells sharing a batched fit must agree on, or None for a cell that runs alone."""
    if cell.protocol != "predict" or not _fits_in_groups(cell.predictor):
        return None
    return (cell.task, repr(cell.budget), cell.predictor, cell.encoding, canonical_json(cell.params), canonical_json(cell.protocol_params))


def units(payloads: list[dict]) -> list[list[dict]]:
    """Pending payloads as units, in first-appearance order of their groups."""
    size = max_group_size()
    if size == 1:
        return [[p] for p in payloads]
    groups: dict[object, list[dict]] = {}
    for i, p in enumerate(payloads):
        key = group_key(Cell(**p["cell"]))
        groups.setdefault(i if key is None else key, []).append(p)
    return [members[j : j + size] for members in groups.values() for j in range(0, len(members), size)]


def _rows(row: dict, result, eval_is_test: bool) -> list[dict]:
    if isinstance(result, HarnessError):
        return [{**row, "status": "failed", "error": str(result)}]
    if isinstance(result, Exception):
        return [{**row, "status": "failed", "error": f"{type(result).__name__}: {result}"}]
    return [{**row, "status": "ok", "error": "", "eval_is_test": eval_is_test, **r} for r in result]


def execute_unit(unit: list[dict]) -> list[dict]:
    """Run a unit (in any process) and return one row per cell; failures become rows, as in ``execute_cell``."""
    from nasbench_harness.runner import _base_row, _warm_inputs, execute_cell, worker_task

    if len(unit) == 1:
        return execute_cell(unit[0])
    from nasbench_harness.protocols.predict import run_group
    from nasbench_harness.threads import pin_threads

    cells = [Cell(**p["cell"]) for p in unit]
    threads = int(unit[0].get("threads", 1))
    base = [_base_row(c, p) for c, p in zip(cells, unit, strict=True)]
    start = time.perf_counter()
    eval_is_test = False
    try:
        pin_threads(threads)
        task = worker_task(unit[0])
        eval_is_test = bool(task.eval_is_test)
        _warm_inputs(cells[0], task)
        start = time.perf_counter()  # loading and encoding are once-per-worker costs, not the cells'
        results = run_group(cells, task, threads=threads)
    except Exception as exc:  # noqa: BLE001 - the whole unit failed: every cell records why and is retried later
        results = [exc] * len(cells)
    per_cell = (time.perf_counter() - start) / len(cells)
    finished = datetime.now(UTC).isoformat(timespec="microseconds")
    rows = [r for row, res in zip(base, results, strict=True) for r in _rows(row, res, eval_is_test)]
    for r in rows:
        r.setdefault("total_seconds", per_cell)
        r["finished_at"] = finished
    return rows
