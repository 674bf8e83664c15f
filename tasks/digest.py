"""Content digests of benchmark columns, independent of the file format and library versions.

A column's digest is over canonical bytes of its values in ``arch_id`` order: numbers as
little-endian float64 with every NaN (and None) written as one fixed NaN, anything else as
UTF-8 text separated by NUL (a missing value as a lone 0xFF byte, which UTF-8 never holds).
The same data written by another pyarrow or pandas, with other row groups, compression or
row order, gives the same digests; these enter run keys (``Task.input_digest``).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

_NAN = np.frombuffer(b"\x00\x00\x00\x00\x00\x00\xf8\x7f", dtype="<f8")[0]  # the one quiet NaN
_MISSING = b"\xff"


def _canonical(values: pd.Series) -> tuple[str, bytes]:
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype="<f8", na_value=np.nan)
        x = np.where(np.isnan(x), _NAN, x).astype("<f8")
        return "f8", x.tobytes()
    parts = [_MISSING if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).encode() for v in values.tolist()]
    return "text", b"\0".join(parts)


def column_digest(values: pd.Series) -> str:
    """sha256 of a column's canonical bytes (values already in ``arch_id`` order)."""
    kind, data = _canonical(values)
    h = hashlib.sha256(f"{kind}\0{len(values)}\0".encode())
    h.update(data)
    return h.hexdigest()


def table_digests(table: pd.DataFrame, columns=None) -> dict[str, str]:
    """``{column: digest}`` of ``columns`` (default: all) of a table with an ``arch_id`` column,
    rows taken in ``arch_id`` order (so a writer's row order does not count)."""
    ordered = table.sort_values("arch_id", kind="stable", key=lambda s: s.astype(str)).reset_index(drop=True)
    names = list(table.columns) if columns is None else [c for c in columns if c in table.columns]
    return {str(c): column_digest(ordered[c]) for c in dict.fromkeys(["arch_id", *names])}


def combine(parts: dict) -> str:
    """One sha256 over named digests (canonical JSON, sorted keys)."""
    import json

    return hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
