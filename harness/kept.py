"""The kept store: results meant to be committed (``results/reference/``).

A results folder holding a ``manifest.json`` is a kept store. Besides the working
``shards/`` of a run in progress (ignored by git), it holds one compact Parquet file per
study, named after the matrix that ran its cells (``<matrix>.parquet``), with rows sorted
by run key, columns by name (``key`` first) and no timestamps or library metadata of our own; so a re-run of one study
rewrites only its own file, and rewriting unchanged rows gives the same bytes. The
manifest lists, per file, its rows and sha256, and the code digests and machines of its
rows; the schema version of the whole store. A file whose sha256 differs from the manifest
is refused in one sentence (restore it from git, or rerun its study). Layout and rationale:
``docs/RESULTS_SCHEMA.md``.

The store holds results, not benchmark tables: columns that copy a benchmark value per queried
architecture (``BENCHMARK_COLUMNS``) are left out when rows are written here (the ids they
belong to stay; ``restore`` re-reads the values from the imported data), and the whole store
may not grow past ``MAX_BYTES``: a write that would is refused before any file changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pandas as pd
from nasbench_harness.errors import ResultStoreError
from nasbench_harness.schema import SCHEMA_VERSION, check_versions

MANIFEST = "manifest.json"
UNNAMED = "unnamed"  # the partition of rows without a matrix name
MAX_BYTES = 25_000_000  # the kept store in all (issue 21): it is committed, and cloned by every reader
# Per-architecture copies of benchmark values -> (the ids column they follow, the task column they copy).
# A search row's `trace_train` is the train metric of each queried id (`trace_ids`); the anytime
# curves (`curve_eval`, `curve_train`) are results of the search and stay.
BENCHMARK_COLUMNS = {"trace_train": ("trace_ids", "train")}


def is_kept(path: Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def partition_name(matrix: str) -> str:
    """The file of a matrix's rows: its name with anything but letters, digits, '.', '_' and '-' as '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", matrix or UNNAMED) + ".parquet"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(path: Path) -> dict:
    target = Path(path) / MANIFEST
    try:
        doc = json.loads(target.read_text())
    except (OSError, ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("files", {}), dict):
        raise ResultStoreError(f"The kept-store manifest {target} is not a JSON object as written by nasbench-harness; restore it from git (`git checkout {target}`).")
    check_versions([doc.get("schema_version", 1)], path)
    return doc


def partitions(path: Path) -> list[Path]:
    """The study files of a kept store, each checked against the manifest's sha256."""
    doc = read_manifest(path)
    files = []
    for name, entry in sorted(doc.get("files", {}).items()):
        f = Path(path) / name
        if not f.is_file() or _sha256(f) != (entry or {}).get("sha256"):
            raise ResultStoreError(
                f"The kept result file {f} does not match the sha256 in {Path(path) / MANIFEST}; restore it from git "
                f"(`git checkout {f}`) or rerun its study into this store."
            )
        files.append(f)
    return files


def _unique(df: pd.DataFrame, column: str) -> list[str]:
    return sorted({str(v) for v in df[column].dropna() if v}) if column in df.columns else []


def strip(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows without the columns that copy benchmark values per architecture (``BENCHMARK_COLUMNS``)."""
    return rows.drop(columns=[c for c in BENCHMARK_COLUMNS if c in rows.columns])


def restore(rows: pd.DataFrame, load_task) -> pd.DataFrame:
    """The rows with every ``BENCHMARK_COLUMNS`` value a kept store left out re-read from the
    imported data by the stored ids (``load_task(name)`` -> the loaded task); rows that kept it,
    or have no ids, are unchanged."""
    rows = rows.copy()
    for column, (ids_column, values) in BENCHMARK_COLUMNS.items():
        if ids_column not in rows.columns:
            continue
        if column not in rows.columns:
            rows[column] = None
        missing = rows[column].isna() & rows[ids_column].map(lambda v: v is not None and not (isinstance(v, float) and v != v))
        for task_name, group in rows[missing].groupby("task"):
            task = load_task(task_name)
            where = {str(a): i for i, a in enumerate(task.ids)}
            table = getattr(task, values)
            for i in group.index:
                rows.at[i, column] = [float(table[where[str(a)]]) for a in rows.at[i, ids_column]]
    return rows


def write(path: Path, rows: pd.DataFrame, write_table) -> list[Path]:
    """Rewrite the partitions whose rows changed and the manifest; returns the files written.

    ``write_table(table, target)`` writes atomically (the store's shard writer). Every changed
    partition is first written beside its target; only when the store stays within
    ``MAX_BYTES`` do they replace their targets, so a refused write changes nothing."""
    path = Path(path)
    doc = read_manifest(path)
    files = dict(doc.get("files", {}))
    staged = _stage(path, strip(rows), files, write_table)
    try:
        _check_size(path, files, staged)
        for target, (pending, entry) in staged.items():
            os.replace(pending, target)
            files[target.name] = {**entry, "sha256": _sha256(target)}
    finally:
        for pending, _ in staged.values():
            pending.unlink(missing_ok=True)
    manifest = {"schema_version": SCHEMA_VERSION, "rows": sum(int(f["rows"]) for f in files.values()), "files": dict(sorted(files.items()))}
    if staged or manifest != doc:
        _write_json(path / MANIFEST, manifest)
    return sorted(staged)


def _stage(path: Path, rows: pd.DataFrame, files: dict, write_table) -> dict[Path, tuple[Path, dict]]:
    """Write each changed partition as a pending file beside its target: {target: (pending, manifest entry)}."""
    import pyarrow as pa

    staged = {}
    matrices = rows["matrix"].fillna("").astype(str) if "matrix" in rows.columns else pd.Series("", index=rows.index)
    try:
        for name, part in rows.groupby(matrices.map(partition_name), sort=True):
            part = part.sort_values("key", kind="stable").dropna(axis=1, how="all").reset_index(drop=True)
            # columns in a fixed order: pooled with other studies' rows (a merge), the order of
            # the concatenation would otherwise rewrite a study whose rows did not change
            part = part[sorted(part.columns, key=lambda c: (c != "key", c))]
            target = path / name
            if target.is_file() and files.get(name, {}).get("rows") == len(part) and _same_rows(target, part):
                continue  # nothing of this study changed: its file (and its bytes) stay
            pending = path / f".{name}.pending.tmp"
            write_table(pa.Table.from_pandas(part, preserve_index=False), pending)
            staged[target] = (pending, {"rows": len(part), "code_versions": _unique(part, "code_version"), "machines": _unique(part, "machine")})
    except BaseException:
        for pending, _ in staged.values():
            pending.unlink(missing_ok=True)
        raise
    return staged


def _check_size(path: Path, files: dict, staged: dict) -> None:
    """Refuse (one sentence) a write after which the study files would exceed ``MAX_BYTES``."""
    sizes = {name: (path / name).stat().st_size for name in files if (path / name).is_file()}
    sizes.update({target.name: pending.stat().st_size for target, (pending, _) in staged.items()})
    total = sum(sizes.values())
    if total > MAX_BYTES:
        largest = max(sizes, key=sizes.get)
        raise ResultStoreError(
            f"Writing these rows would grow the kept store {path} to {total / 1e6:.1f} MB, past its limit of "
            f"{MAX_BYTES / 1e6:.0f} MB (largest file {largest}, {sizes[largest] / 1e6:.1f} MB); nothing was written: "
            f"run the extra cells into another --results folder, or leave a study out of the kept store."
        )


def _same_rows(target: Path, part: pd.DataFrame) -> bool:
    import pyarrow.parquet as pq
    from nasbench_harness.store import to_frame

    try:
        old = to_frame(pq.read_table(target))  # as the store reads it: integers stay integers
    except Exception:  # noqa: BLE001 - unreadable: rewrite it
        return False
    return list(old.columns) == list(part.columns) and old.astype(str).equals(part.astype(str))


def _write_json(target: Path, doc: dict) -> None:
    from nasbench_harness.artefacts import write_bytes

    write_bytes(target, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())
