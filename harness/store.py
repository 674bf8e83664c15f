"""The Parquet result store: one row per cell, written as atomic shards.

Layout under the results directory::

    shards/part-<time>-<pid>-<n>.parquet     one small shard per finished cell
    shards/compact-<time>-<pid>.parquet      all rows, after ``compact()``

Every shard is written to a temporary file and renamed into place, so a killed run leaves
only whole shards (plus, at worst, a stray ``.tmp`` file that readers ignore). Reading
unions all shards and keeps one row per run key: an ``ok`` row beats a ``failed`` one, a
later row beats an earlier one. A shard that cannot be read is reported (warning) and
skipped; the other shards are still returned.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from nasbench_harness.errors import CorruptShardWarning, ResultStoreError

SHARDS = "shards"
_counter = itertools.count()


def _unreadable(f: Path, exc: Exception) -> str:
    return f"Skipped the unreadable result shard {f} ({type(exc).__name__}: {exc}); delete it or rerun the cells it held."


def _write_atomic(table: pa.Table, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _to_table(rows: pd.DataFrame | list[dict]) -> pa.Table:
    if isinstance(rows, pd.DataFrame):
        return pa.Table.from_pandas(rows, preserve_index=False)
    keys = list(dict.fromkeys(k for r in rows for k in r))  # union, first-seen order
    return pa.table({k: [r.get(k) for r in rows] for k in keys})  # no pandas: ~10x faster per shard


def dedupe(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run key: prefer status ok, then the latest finished_at."""
    if df.empty or "key" not in df.columns:
        return df
    order = df.assign(
        _ok=(df["status"] == "ok") if "status" in df.columns else True,
        _at=df["finished_at"] if "finished_at" in df.columns else "",
    ).sort_values(["_ok", "_at"], kind="stable")
    return order.drop_duplicates("key", keep="last").drop(columns=["_ok", "_at"]).sort_index().reset_index(drop=True)


class ResultStore:
    """Read and append result rows under one results directory."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.problems: list[str] = []  # corrupt shards seen by the last read

    @property
    def shard_dir(self) -> Path:
        return self.path / SHARDS

    # -- writing ----------------------------------------------------------------------
    def ensure_writable(self) -> None:
        """Create the directory and prove it is writable, or raise one clear sentence."""
        try:
            self.shard_dir.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.shard_dir, prefix=".probe.", suffix=".tmp")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise ResultStoreError(
                f"The results directory {self.path} is not writable ({exc.strerror or exc}); "
                f"pass a writable folder with --results DIR."
            ) from None

    def append(self, rows: Iterable[dict] | pd.DataFrame) -> Path:
        """Write ``rows`` as one new shard (atomic) and return its path."""
        df = rows if isinstance(rows, pd.DataFrame) else list(rows)
        name = f"part-{time.time_ns()}-{os.getpid()}-{next(_counter)}.parquet"
        target = self.shard_dir / name
        try:
            _write_atomic(_to_table(df), target)
        except FileNotFoundError:
            self.ensure_writable()
            _write_atomic(_to_table(df), target)
        except OSError as exc:
            raise ResultStoreError(
                f"Could not write a result shard to {self.shard_dir} ({exc.strerror or exc}); "
                f"check that the results directory is writable and the disk is not full."
            ) from None
        return target

    def compact(self) -> Path | None:
        """Merge every readable shard into one (deduplicated) shard, atomically.

        The merged shard is in place before the small ones are removed, so a crash in
        between leaves duplicates (which readers dedupe), never a loss. Corrupt shards are
        left where they are for the user to inspect.
        """
        files = self.shard_files()
        if len(files) <= 1:
            return files[0] if files else None
        frames, read_ok = self._read_files(files)
        if not read_ok:
            return None
        df = dedupe(pd.concat(frames, ignore_index=True))
        target = self.shard_dir / f"compact-{time.time_ns()}-{os.getpid()}.parquet"
        _write_atomic(_to_table(df), target)
        for f in read_ok:
            f.unlink(missing_ok=True)
        return target

    # -- reading ----------------------------------------------------------------------
    def shard_files(self) -> list[Path]:
        if not self.shard_dir.is_dir():
            return []
        return sorted(p for p in self.shard_dir.glob("*.parquet") if not p.name.startswith("."))

    def _read_files(self, files: list[Path], columns: list[str] | None = None) -> tuple[list[pd.DataFrame], list[Path]]:
        tables, ok = [], []
        for f in files:
            try:
                pf = pq.ParquetFile(f)
                cols = [c for c in columns if c in pf.schema_arrow.names] if columns else None
                tables.append(pf.read(columns=cols))
                ok.append(f)
            except FileNotFoundError:
                continue  # compacted away by a concurrent run between listing and reading
            except (pa.ArrowException, OSError) as exc:
                msg = _unreadable(f, exc)
                self.problems.append(msg)
                warnings.warn(msg, CorruptShardWarning, stacklevel=3)
        tables = [t for t in tables if t.num_rows]
        if not tables:
            return [], ok
        try:  # one conversion to pandas instead of one per shard
            return [pa.concat_tables(tables, promote_options="permissive").to_pandas()], ok
        except pa.ArrowInvalid:  # a column changed type between shards: let pandas union them
            return [t.to_pandas() for t in tables], ok

    def unreadable_shards(self) -> list[str]:
        """Messages for shards whose Parquet footer cannot be read (cheap: no data read)."""
        problems = []
        for f in self.shard_files():
            try:
                pq.read_metadata(f)
            except FileNotFoundError:
                continue
            except (pa.ArrowException, OSError) as exc:
                problems.append(_unreadable(f, exc))
        return problems

    def read(self, columns: list[str] | None = None) -> pd.DataFrame:
        """All stored rows (one per run key); corrupt shards are reported and skipped."""
        self.problems = []
        if columns is not None and "key" not in columns:
            columns = ["key", *columns]
        if columns is not None:
            columns = [*columns, *(c for c in ("status", "finished_at") if c not in columns)]  # never the caller's list
        frames, _ = self._read_files(self.shard_files(), columns)
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame({"key": pd.Series([], dtype="str")})
        return dedupe(pd.concat(frames, ignore_index=True))

    def done_keys(self) -> set[str]:
        """Run keys whose stored row has status ok (failed cells are retried)."""
        df = self.read(["key", "status"])
        if df.empty:
            return set()
        return set(df.loc[df["status"] == "ok", "key"].tolist())
