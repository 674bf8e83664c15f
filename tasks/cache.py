"""The local benchmark cache: one Parquet table per search space plus a manifest.

Layout under ``data_dir()``::

    <space>/table.parquet      arch_id + "<dataset>.<metric>" columns (+ extras)
    <space>/manifest.json      sources (path, sha256, bytes), row counts, importer versions,
                               the table's own sha256, and per column a content digest
                               (``tasks/digest.py``) that run keys use
    <space>/column_digests.json  the same digests, computed once for a table imported
                               before manifests recorded them (keyed by its sha256)
    <space>/<name>.npz         optional arrays an importer stores (e.g. NB101 structures)

Writes are atomic (temp file + rename), so an interrupted or failed import leaves the
previous cache untouched. Re-importing merges new columns into the existing table.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from nasbench_harness.artefacts import write_bytes
from nasbench_harness.errors import DataError, MissingDataError
from nasbench_harness.paths import data_dir
from nasbench_harness.tasks.digest import combine, table_digests

TABLE = "table.parquet"
MANIFEST = "manifest.json"
DIGESTS = "column_digests.json"  # column digests of a table imported before its manifest recorded them


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class SourceFile:
    """A file an importer read, recorded in the manifest for provenance and verification."""

    path: str
    sha256: str
    bytes: int
    format: str

    @classmethod
    def of(cls, path: Path, fmt: str) -> SourceFile:
        path = Path(path).resolve()
        return cls(str(path), sha256_file(path), path.stat().st_size, fmt)


@functools.lru_cache(maxsize=64)
def _digests_of(root: str, space: str, table_sha256: str, columns: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Column digests of a table whose manifest predates them, once per (table sha256, columns)."""
    return tuple(table_digests(DataCache(Path(root)).read_table(space, columns), columns).items())


class DataCache:
    """Read and write imported benchmark tables under one root folder."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else data_dir()

    # -- paths ------------------------------------------------------------------------
    def space_dir(self, space: str) -> Path:
        return self.root / space

    def has(self, space: str) -> bool:
        return (self.space_dir(space) / TABLE).is_file()

    def spaces(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / TABLE).is_file())

    # -- reading ----------------------------------------------------------------------
    def _missing(self, space: str) -> str:
        """The one sentence for a space with no table: which download or import brings it in."""
        from nasbench_harness.tasks.download import names_for_space

        names = names_for_space(space)
        others = f" (or {', '.join(names[1:])})" if len(names) > 1 else ""
        fetch = f"`nasbench-harness data download {names[0]}`{others}" if names else "`nasbench-harness data download --list`"
        return (
            f"No imported data for search space '{space}' in {self.root}; run {fetch} (or `nasbench-harness data "
            f"import PATH` on the {space} benchmark files you have), or pass --skip-missing-data to `run` to leave "
            f"out the tasks without data."
        )

    def read_table(self, space: str, columns: Iterable[str] | None = None) -> pd.DataFrame:
        path = self.space_dir(space) / TABLE
        if not path.is_file():
            raise MissingDataError(self._missing(space))
        try:
            table = pq.read_table(path, columns=list(columns) if columns else None, memory_map=True)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(
                f"The cached table {path} is unreadable ({exc}); re-run `nasbench-harness data import` "
                f"for '{space}' to rebuild it."
            ) from None
        return table.to_pandas()

    def manifest(self, space: str) -> dict:
        path = self.space_dir(space) / MANIFEST
        if not path.is_file():
            return {"space": space, "sources": [], "importers": {}, "rows": 0}
        try:
            doc = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            doc = None
        if not isinstance(doc, dict):
            raise DataError(
                f"The manifest {path} is not a JSON object as written by the import; re-run `nasbench-harness data import` for '{space}'."
            ) from None
        return doc

    def table_checksum(self, space: str) -> str:
        """The sha256 of the table recorded at import (cheap: no re-hashing on every load)."""
        digest = self.manifest(space).get("table_sha256")
        if not digest:
            raise MissingDataError(self._missing(space))
        return digest

    def columns(self, space: str) -> list[str]:
        """The table's column names (from the manifest, else the Parquet schema)."""
        names = self.manifest(space).get("columns")
        if isinstance(names, list):
            return [str(c) for c in names]
        path = self.space_dir(space) / TABLE
        try:
            return list(pq.read_schema(path).names)
        except (pa.ArrowException, OSError):
            raise DataError(self._missing(space)) from None

    def column_digests(self, space: str, columns: Iterable[str]) -> dict[str, str]:
        """Content digests (``tasks/digest.py``) of ``arch_id`` and those of ``columns`` the table
        has: recorded in the manifest at import; for a table imported before that, computed
        once and kept beside it (``DIGESTS``, keyed by the table's sha256)."""
        manifest = self.manifest(space)
        sha = str(manifest.get("table_sha256"))
        wanted = [c for c in dict.fromkeys(["arch_id", *columns]) if c in set(self.columns(space))]
        for stored in (manifest.get("column_sha256") or {}, self._kept_digests(space)):
            known = stored.get("columns", {}) if stored.get("table_sha256") == sha else {}
            if all(c in known for c in wanted):
                return {c: known[c] for c in wanted}
        computed = dict(_digests_of(str(self.root), space, sha, tuple(wanted)))
        kept = self._kept_digests(space)
        known = kept.get("columns", {}) if kept.get("table_sha256") == sha else {}
        try:  # only a cache of what the table holds: a read-only data folder just recomputes
            write_bytes(self.space_dir(space) / DIGESTS, json.dumps({"table_sha256": sha, "columns": {**known, **computed}}).encode())
        except OSError:
            pass
        return computed

    def _kept_digests(self, space: str) -> dict:
        try:
            doc = json.loads((self.space_dir(space) / DIGESTS).read_text())
        except (OSError, ValueError, RecursionError):
            return {}
        return doc if isinstance(doc, dict) and isinstance(doc.get("columns"), dict) else {}

    def content_digest(self, space: str) -> str:
        """One digest of every column's content (caches built from the whole table key on it)."""
        return combine(self.column_digests(space, self.columns(space)))

    def read_arrays(self, space: str, name: str) -> dict[str, np.ndarray]:
        path = self.space_dir(space) / f"{name}.npz"
        if not path.is_file():
            raise DataError(f"Missing cached arrays {path}; run `nasbench-harness data import` for '{space}'.")
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    # -- writing ----------------------------------------------------------------------
    def write_table(
        self,
        space: str,
        table: pd.DataFrame,
        *,
        sources: list[SourceFile],
        importer: str,
        importer_version: int,
        merge: bool = True,
    ) -> pd.DataFrame:
        """Store ``table`` (must have a unique ``arch_id`` column) for ``space``.

        With ``merge``, columns already in the cache are kept and the new ones are joined in
        on ``arch_id`` (outer join). A column in both is taken wholly from ``table``: its old
        values are dropped, also for ids ``table`` lacks. The table and the manifest are each
        replaced atomically.
        """
        if "arch_id" not in table.columns or table["arch_id"].duplicated().any():
            raise ValueError(f"importer {importer} produced a table without unique arch_id")
        if merge and self.has(space):
            old = self.read_table(space)
            keep = [c for c in old.columns if c == "arch_id" or c not in table.columns]
            merged = old[keep].merge(table, on="arch_id", how="outer", sort=False)
            # the cache's column order, new columns last: re-importing a file changes no byte
            table = merged[[c for c in old.columns if c in merged.columns] + [c for c in merged.columns if c not in old.columns]]
        table = table.reset_index(drop=True)
        buf = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pandas(table, preserve_index=False), buf, compression="zstd")
        data = buf.getvalue().to_pybytes()
        write_bytes(self.space_dir(space) / TABLE, data)

        manifest = self.manifest(space)
        known = {s["path"]: s for s in manifest.get("sources", [])}
        known.update({s.path: asdict(s) for s in sources})
        manifest.update(
            space=space,
            sources=sorted(known.values(), key=lambda s: s["path"]),
            rows=len(table),
            columns=list(table.columns),
            table_sha256=hashlib.sha256(data).hexdigest(),
        )
        manifest["column_sha256"] = {"table_sha256": manifest["table_sha256"], "columns": table_digests(table)}
        manifest.setdefault("importers", {})[importer] = importer_version
        write_bytes(self.space_dir(space) / MANIFEST, json.dumps(manifest, indent=2).encode())
        return table

    def write_arrays(self, space: str, name: str, **arrays: np.ndarray) -> Path:
        """Atomically store named arrays (e.g. enumerated structures) next to the table."""
        import io

        buf = io.BytesIO()
        np.savez(buf, **arrays)
        target = self.space_dir(space) / f"{name}.npz"
        write_bytes(target, buf.getvalue())
        return target

    # -- verification -----------------------------------------------------------------
    def check_table(self, space: str) -> None:
        """Refuse a table whose bytes differ from the sha256 its manifest recorded at import."""
        path = self.space_dir(space) / TABLE
        if path.is_file() and sha256_file(path) != self.manifest(space).get("table_sha256"):
            raise DataError(
                f"The cached table {path} changed since it was imported (its sha256 no longer matches its manifest); "
                f"re-run `nasbench-harness data import` on the {space} files to rebuild it."
            )

    def verify(self, space: str) -> list[str]:
        """Problems found (empty = fine): table checksum, and each source still matching."""
        problems = []
        manifest = self.manifest(space)
        path = self.space_dir(space) / TABLE
        if not path.is_file():
            return [f"{space}: no table at {path}"]
        if sha256_file(path) != manifest.get("table_sha256"):
            problems.append(f"{space}: {path} changed since import; re-run `nasbench-harness data import`")
        for src in manifest.get("sources", []):
            p = Path(src["path"])
            if not p.is_file():
                continue  # sources may be deleted after import; the cache is self-contained
            if sha256_file(p) != src["sha256"]:
                problems.append(
                    f"{space}: source {p} changed since it was imported (sha256 differs); "
                    f"re-run `nasbench-harness data import {p}`"
                )
        return problems
