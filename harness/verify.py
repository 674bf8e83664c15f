"""``nasbench-harness results verify``: re-run a sample of a store's cells here and compare.

N ``ok`` rows are drawn at random (``--seed``; rows in run-key order, so the draw does not
depend on how the store was written), their cells rebuilt from the stored columns, planned and
run exactly as ``run`` does (``runner.plan`` and ``runner.execute``, the same worker path)
into a temporary store that is deleted afterwards; the given store is only read. Every result
column (``rowdiff.result_columns``) of each fresh row is compared bit for bit with the stored
one. Where they differ, the run key says why it may: the code digest or the data digest this
machine computes for the cell differs from the stored row's; and each differing number's
relative difference is given, so that rounding in the last bits (a sum over thousands of
predictions taken in another order, e.g. by another CPU's BLAS kernels) reads apart from a
different result.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from nasbench_harness import kept
from nasbench_harness.cell import Cell
from nasbench_harness.rowdiff import differing, relative_gap, result_columns


@dataclass
class Check:
    cell: str
    key: str
    columns: list[str]  # result columns that differ ([] = identical)
    causes: list[str]  # what differs in the run key (code or data digest)
    error: str = ""  # the re-run failed
    gaps: dict[str, float | None] | None = None  # per differing column, its relative difference (None: not numeric)

    @property
    def ok(self) -> bool:
        return not self.columns and not self.error


def sample(rows: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` ok rows drawn at random with ``seed`` (all of them when there are fewer)."""
    ok = rows[rows["status"] == "ok"].sort_values("key", kind="stable").reset_index(drop=True)
    picks = np.random.default_rng(seed).choice(len(ok), size=min(n, len(ok)), replace=False)
    return ok.iloc[np.sort(picks)].reset_index(drop=True)


def _text(v) -> str:
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)


def cell_of(row: dict) -> Cell:
    """The cell a stored row was computed for (the fields of ``Cell.identity``, its label and matrix)."""
    params = json.loads(row.get("params") or "{}")
    budget = float(row["budget"])
    return Cell(
        protocol=str(row["protocol"]),
        task=str(row["task"]),
        predictor=str(row["predictor"]),
        encoding=_text(row.get("encoding")),
        budget=int(budget) if budget.is_integer() else budget,  # counts (0 shots included) are integers, fractions below 1
        seed=int(row["seed"]),
        protocol_params=json.loads(row.get("protocol_params") or "{}"),
        params=params.get("predictor", {}),
        loss=_text(row.get("loss")),
        loss_params=params.get("loss", {}),
        label=_text(row.get("method")),
        matrix=_text(row.get("matrix")),
    )


def _describe(row: dict) -> str:
    return f"{row['task']} {row['method']} budget={float(row['budget']):g} seed={int(row['seed'])}"


def _causes(stored: dict, payload: dict) -> list[str]:
    out = []
    for column, what in (("code_version", "code digest"), ("data_checksum", "data digest")):
        if _text(stored.get(column)) != payload[column]:
            out.append(f"its {what} here is {payload[column][:21]}, the stored row's {_text(stored.get(column))[:21] or '(none)'}")
    if not out and payload["key"] != stored["key"]:
        out.append("the cell rebuilt from the row has another run key (its stored fields do not say the whole cell)")
    if not out:
        from nasbench_harness.provenance import machine

        there, here = _simd_of(stored.get("machine")), json.loads(machine()).get("simd", "")
        if there and here and there != here:
            out.append(f"same code and data digests as the stored row, but it ran on a CPU with {there} and this one has {here} (numpy and OpenBLAS choose kernels by it)")
    return out


def _simd_of(machine_json) -> str:
    try:
        return str(json.loads(machine_json or "{}").get("simd", ""))
    except (TypeError, ValueError, AttributeError):  # an older or foreign machine column
        return ""


def verify(path: Path, n: int, seed: int, executor) -> list[Check]:
    """Re-run ``n`` random ok cells of the store at ``path`` on ``executor`` and compare them."""
    from nasbench_harness.errors import ResultStoreError
    from nasbench_harness.matrix import Matrix
    from nasbench_harness.merge import read_store
    from nasbench_harness.runner import execute, plan
    from nasbench_harness.store import ResultStore

    rows = read_store(path)
    if "status" not in rows.columns or not (rows["status"] == "ok").any():
        raise ResultStoreError(f"The results folder {path} holds no ok result rows to verify; pass a folder that `run --results` wrote.")
    stored = sample(rows, n, seed).to_dict("records")
    cells = [cell_of(r) for r in stored]
    with tempfile.TemporaryDirectory(prefix="nbh-verify-") as tmp:
        scratch = ResultStore(Path(tmp) / "results")
        p = plan(Matrix("verify", Path(path), "results verify", cells), scratch, cells)
        execute(p, scratch, executor)
        fresh = scratch.read().set_index("key", drop=False)
    checks = []
    for row, payload in zip(stored, p.payloads, strict=True):
        new = fresh.loc[payload["key"]].to_dict()
        if new.get("status") != "ok":
            checks.append(Check(_describe(row), row["key"], [], _causes(row, payload), _text(new.get("error")) or "failed"))
            continue
        skip = {c for c in kept.BENCHMARK_COLUMNS if c not in row or _text(row.get(c)) == ""}  # left out by a kept store
        columns = [c for c in result_columns(sorted({*row, *new})) if c not in skip]
        diff = differing(row, new, columns)
        gaps = {c: relative_gap(row.get(c), new.get(c)) for c in diff}
        checks.append(Check(_describe(row), row["key"], diff, _causes(row, payload), gaps=gaps))
    return checks
