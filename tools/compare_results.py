"""Compare the metrics of two result stores bit for bit: did a refactor move any number?

Usage: ``python tools/compare_results.py STORE_A STORE_B`` (two ``--results`` folders, e.g.
the fixed block ``tools/fixed-block.yaml`` run before and after a change).

Rows are matched by the cell's content (protocol, its params, task, predictor, params,
encoding, loss, budget, seed, method label), not by run key: a refactor may re-key every
cell without changing a number. JSON-valued content fields are compared as parsed data.
Every other column of STORE_A is compared exactly (floats by ``==`` with NaN equal to NaN,
sequences element by element), except the volatile ones (timings, timestamps, provenance:
``volatile_columns``), which are listed as ignored. Columns only in STORE_B (a newer schema)
are listed and not compared. Exit 0 when every matched row is identical and no row is left
unmatched, 1 otherwise, 2 when a store cannot be read or holds no rows.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd
from nasbench_harness.rowdiff import is_sequence as _is_sequence
from nasbench_harness.rowdiff import same, volatile_columns
from nasbench_harness.store import ResultStore

# The fields that say what a cell is. `method` is the stored label; `label` and
# `loss_params` are read too should a store carry them as columns.
CONTENT_FIELDS = (
    "protocol", "protocol_params", "task", "predictor", "params", "encoding",
    "loss", "loss_params", "budget", "seed", "method", "label",
)
JSON_FIELDS = ("protocol_params", "params", "loss_params")
MAX_LISTED = 10


def _canonical(field: str, value):
    """A hashable, order-independent form of one content value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if field in JSON_FIELDS and isinstance(value, str):
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def cell_ids(df: pd.DataFrame) -> pd.Series:
    """One tuple per row naming its cell by content."""
    fields = [f for f in CONTENT_FIELDS if f in df.columns]
    ids = [tuple(_canonical(f, row[f]) for f in fields) for row in df[fields].to_dict("records")]
    return pd.Series(ids, index=df.index, dtype=object)


def describe(cell: tuple, df: pd.DataFrame) -> str:
    fields = [f for f in CONTENT_FIELDS if f in df.columns]
    return " ".join(f"{f}={v}" for f, v in zip(fields, cell) if v not in (None, "", "{}"))


def abs_difference(a, b) -> float:
    """Largest absolute difference of two numeric values or equal-length sequences (NaN if none)."""
    try:
        x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        if x.shape != y.shape:
            return math.nan
        with np.errstate(invalid="ignore"):
            d = np.abs(x - y)
        return float(np.nanmax(d)) if d.size and not np.all(np.isnan(d)) else math.nan
    except (TypeError, ValueError):
        return math.nan


def read_store(path: str) -> pd.DataFrame:
    df = ResultStore(path).read()
    if df.empty:
        raise ValueError(f"The result store '{path}' holds no result rows (is it a --results folder?).")
    return df.reset_index(drop=True)


def index_by_cell(df: pd.DataFrame, name: str) -> tuple[pd.DataFrame, list[str]]:
    """The rows indexed by cell id, and a message per cell stored more than once."""
    ids = cell_ids(df)
    dup = ids[ids.duplicated(keep=False)]
    problems = [f"{name} holds {int((ids == c).sum())} rows of one cell: {describe(c, df)}" for c in dict.fromkeys(dup)]
    keep = ~ids.duplicated(keep="first")
    out = df[keep.to_numpy()].copy()
    out.index = pd.Index(ids[keep].tolist(), tupleize_cols=False)
    return out, problems


def compare_column(col: str, a: pd.DataFrame, b: pd.DataFrame, cells: list) -> list[tuple]:
    """(cell, value in A, value in B) for every matched cell whose ``col`` differs."""
    return [(c, a.at[c, col], b.at[c, col]) for c in cells if not same(a.at[c, col], b.at[c, col])]


def report_column(col: str, diffs: list[tuple], df: pd.DataFrame) -> list[str]:
    worst = max((abs_difference(x, y) for _, x, y in diffs), default=math.nan)
    lines = [f"DIFFERS {col}: {len(diffs)} cell(s), max abs difference {worst:.6g}"]
    for cell, x, y in diffs[:MAX_LISTED]:
        lines.append(f"    {describe(cell, df)}: {_short(x)} != {_short(y)}")
    if len(diffs) > MAX_LISTED:
        lines.append(f"    ... and {len(diffs) - MAX_LISTED} more")
    return lines


def _short(v) -> str:
    text = repr(np.asarray(v).tolist()) if _is_sequence(v) else repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def compare(a_df: pd.DataFrame, b_df: pd.DataFrame) -> tuple[bool, list[str]]:
    """Whether the stores agree on every metric of every cell, and the lines of the report."""
    a, problems = index_by_cell(a_df, "STORE_A")
    b, more = index_by_cell(b_df, "STORE_B")
    problems += more
    matched = [c for c in a.index if c in b.index]
    only_a = [c for c in a.index if c not in b.index]
    only_b = [c for c in b.index if c not in a.index]
    ignored = volatile_columns(list(a.columns) + [c for c in b.columns if c not in a.columns])
    content = set(CONTENT_FIELDS)
    compared = [c for c in a.columns if c not in content and c not in ignored]
    missing_in_b = [c for c in compared if c not in b.columns]
    new_in_b = [c for c in b.columns if c not in a.columns and c not in ignored and c not in content]
    lines = [
        f"matched {len(matched)} cell(s); unmatched: {len(only_a)} only in STORE_A, {len(only_b)} only in STORE_B",
        f"ignored (volatile) columns: {', '.join(ignored) or 'none'}",
        f"compared {len(compared) - len(missing_in_b)} column(s); only in STORE_B, not compared: {', '.join(new_in_b) or 'none'}",
    ]
    lines += problems
    lines += [f"only in STORE_A: {describe(c, a)}" for c in only_a[:MAX_LISTED]]
    lines += [f"only in STORE_B: {describe(c, b)}" for c in only_b[:MAX_LISTED]]
    lines += [f"MISSING in STORE_B: column {c}" for c in missing_in_b]
    differing = 0
    for col in compared:
        if col in missing_in_b:
            continue
        diffs = compare_column(col, a, b, matched)
        if diffs:
            differing += 1
            lines += report_column(col, diffs, a)
    ok = not (only_a or only_b or problems or missing_in_b or differing)
    lines.append("IDENTICAL: every matched metric is bit for bit the same" if ok else f"DIFFERENT: {differing} column(s) differ")
    return ok, lines


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("Usage: python tools/compare_results.py STORE_A STORE_B", file=sys.stderr)
        return 2
    try:
        a_df, b_df = read_store(args[0]), read_store(args[1])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ok, lines = compare(a_df, b_df)
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
