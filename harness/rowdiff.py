"""Which columns of a result row are results, and exact equality of two stored values.

The one definition that ``results merge`` (non-determinism), ``results verify`` (a re-run
against a store) and ``tools/compare_results.py`` (a refactor against a baseline) share:
every column is a result except the volatile ones (timings, timestamps, provenance), and two
values are the same only bit for bit (NaN equals NaN, sequences element by element).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Provenance and run metadata: they change with the run, the machine or the code version,
# never with a result.
VOLATILE_NAMES = {
    "key", "matrix", "code_version", "data_checksum", "versions", "machine", "host",
    "hostname", "pid", "worker", "schema_version", "finished_at", "started_at",
    "fit_share",  # the share of a search run's seconds spent fitting: a timing
}
VOLATILE_SUFFIXES = ("_seconds", "_time", "_timestamp", "_at")


def volatile_columns(columns: Sequence[str]) -> list[str]:
    """The columns that are timings, timestamps or provenance, never compared."""
    return [c for c in columns if c in VOLATILE_NAMES or c.endswith(VOLATILE_SUFFIXES) or "timestamp" in c]


def result_columns(columns: Sequence[str]) -> list[str]:
    """The columns compared between two rows of one cell: all but the volatile ones."""
    volatile = set(volatile_columns(columns))
    return [c for c in columns if c not in volatile]


def is_sequence(v) -> bool:
    return isinstance(v, list | tuple | np.ndarray)


def missing(v) -> bool:
    import pandas as pd

    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float | np.floating) and np.isnan(v))


def same(a, b) -> bool:
    """Exact equality; NaN equals NaN; sequences element by element."""
    if is_sequence(a) or is_sequence(b):
        if not (is_sequence(a) and is_sequence(b)):
            return False
        a, b = list(np.asarray(a).tolist()), list(np.asarray(b).tolist())
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if missing(a) or missing(b):
        return missing(a) and missing(b)
    return bool(a == b)


def differing(a: dict, b: dict, columns: Sequence[str]) -> list[str]:
    """The ``columns`` whose values differ between rows ``a`` and ``b`` (absent = missing)."""
    return [c for c in columns if not same(a.get(c), b.get(c))]


def relative_gap(a, b) -> float | None:
    """How far two differing values are apart, relative to the larger (over a sequence's
    elements, the largest); None when they are not both numbers of one shape (a text, a
    missing value on one side, sequences of different lengths)."""
    try:
        x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    except (TypeError, ValueError):
        return None
    if x.shape != y.shape or (np.isnan(x) != np.isnan(y)).any():
        return None
    ok = ~np.isnan(x)
    if not ok.any():
        return 0.0
    x, y = x[ok], y[ok]
    scale = np.maximum(np.maximum(np.abs(x), np.abs(y)), np.finfo(float).tiny)
    return float(np.max(np.abs(x - y) / scale))
