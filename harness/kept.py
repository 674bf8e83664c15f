"""The kept store: results meant to be committed (``results/reference/``).

A results folder holding a ``manifest.json`` is a kept store. Besides the working
``shards/`` of a run in progress (ignored by git), it holds one compact Parquet file per
study, named after the matrix that ran its cells (``<matrix>.parquet``), with rows sorted
by run key and no timestamps or library metadata of our own; so a re-run of one study
rewrites only its own file, and rewriting unchanged rows gives the same bytes. The
manifest lists, per file, its rows and sha256, and the code digests and machines of its
rows; the schema version of the whole store. A file whose sha256 differs from the manifest
is refused in one sentence (restore it from git, or rerun its study). Layout and rationale:
``docs/RESULTS_SCHEMA.md``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pandas as pd
from nasbench_harness.errors import ResultStoreError
from nasbench_harness.schema import SCHEMA_VERSION, check_versions

MANIFEST = "manifest.json"
UNNAMED = "unnamed"  # the partition of rows without a matrix name


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


def write(path: Path, rows: pd.DataFrame, write_table) -> list[Path]:
    """Rewrite the partitions whose rows changed and the manifest; returns the files written.

    ``write_table(table, target)`` writes atomically (the store's shard writer)."""
    import pyarrow as pa

    path = Path(path)
    doc = read_manifest(path)
    files = dict(doc.get("files", {}))
    written = []
    matrices = rows["matrix"].fillna("").astype(str) if "matrix" in rows.columns else pd.Series("", index=rows.index)
    for name, part in rows.groupby(matrices.map(partition_name), sort=True):
        part = part.sort_values("key", kind="stable").dropna(axis=1, how="all").reset_index(drop=True)
        target = path / name
        table = pa.Table.from_pandas(part, preserve_index=False)
        old = files.get(name, {})
        if target.is_file() and old.get("rows") == len(part) and _same_rows(target, part):
            continue  # nothing of this study changed: its file (and its bytes) stay
        write_table(table, target)
        written.append(target)
        files[name] = {
            "rows": len(part),
            "sha256": _sha256(target),
            "code_versions": _unique(part, "code_version"),
            "machines": _unique(part, "machine"),
        }
    manifest = {"schema_version": SCHEMA_VERSION, "rows": sum(int(f["rows"]) for f in files.values()), "files": dict(sorted(files.items()))}
    if written or manifest != doc:
        _write_json(path / MANIFEST, manifest)
    return written


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
