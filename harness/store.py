"""The Parquet result store: one row per cell, written as atomic shards.

Layout under the results directory::

    shards/part-<time>-<pid>-<n>.parquet     one small shard per finished cell
    shards/compact-<time>-<pid>.parquet      all rows, after ``compact()``

Every shard is written to a temporary file and renamed into place, so a killed run leaves
only whole shards (plus, at worst, a stray ``.tmp`` file that readers ignore and
``compact()`` removes once it is an hour old). Reading unions all shards and keeps one row
per run key: an ``ok`` row beats a ``failed`` one, a later row beats an earlier one.

Each shard carries, in its Parquet key-value metadata (``nbh.digest``), per column a sha256
of its values as read back into pandas (via pandas' row hashes); reading recomputes those of the
columns it reads and skips a shard whose digests differ, so damage anywhere in a shard
either makes it skipped, with a warning naming it, or leaves the rows read identical.
A shard that cannot be read, fails its digests, or is not a result shard at all (a
foreign Parquet file without the ``key`` and ``status`` columns) is reported once per
process (``CorruptShardWarning``) and skipped; compaction never merges or deletes it.
Shards written before digests existed, or under another pandas minor version (whose
hashing or dtype names may differ), are read unverified. Rows of a newer result schema
than this code knows (``schema.py``) are refused in one sentence. A folder with a
``manifest.json`` is a kept store (``kept.py``): compaction writes its per-study files.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import json
import os
import tempfile
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from nasbench_harness import kept
from nasbench_harness.errors import CorruptShardWarning, ResultStoreError
from nasbench_harness.schema import COLUMN as SCHEMA_COLUMN
from nasbench_harness.schema import check_versions

SHARDS = "shards"
DIGEST_KEY = b"nbh.digest"
HASHER_KEY = b"nbh.digest.pandas"  # the digests use pandas' hashing and dtype names: valid for this pandas minor version
_HASHER = ".".join(pd.__version__.split(".")[:2]).encode()
REQUIRED_COLUMNS = ("key", "status")
STALE_TMP_SECONDS = 3600.0  # a .tmp file this old belongs to no live writer
_counter = itertools.count()
_warned: set[str] = set()  # shard problems already shown by this process


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp's 0600 hides results from a group


class _Damaged(Exception):
    """A shard read without error but whose rows fail their digests, or a foreign file."""


def _unreadable(f: Path, exc: Exception) -> str:
    if isinstance(exc, _Damaged):
        return f"Skipped the result shard {f}: {exc}; delete it (or move it out of {f.parent}) and rerun the cells it held."
    text = " ".join(str(exc).split())[:200]  # one line: Thrift's and Arrow's messages end in newlines
    return f"Skipped the unreadable result shard {f} ({type(exc).__name__}: {text}); delete it or rerun the cells it held."


def _sequence_text(v):
    """A list cell (e.g. a search run's anytime curve) as exact text; pandas cannot hash arrays."""
    return repr(np.asarray(v).tolist()) if isinstance(v, list | tuple | np.ndarray) else v


def _column_digest(name: str, values: pd.Series) -> str:
    h = hashlib.sha256(f"{name}\0{values.dtype}\0{len(values)}\0".encode())
    if values.dtype == object:
        values = values.map(_sequence_text)
    h.update(pd.util.hash_pandas_object(values, index=False).to_numpy().tobytes())
    return h.hexdigest()[:32]


def _digests(df: pd.DataFrame) -> dict[str, str]:
    return {str(c): _column_digest(str(c), df[c]) for c in df.columns}


def _full_error(exc: OSError, where: Path) -> ResultStoreError:
    if exc.errno == errno.ENOSPC:
        return ResultStoreError(f"The disk holding {where} is full (no space left on device); free some space or pass --results DIR on another disk, then rerun to resume.")
    return ResultStoreError(
        f"Could not write a result shard to {where} ({exc.strerror or exc}); check that the results directory is writable and the disk is not full."
    )


def _write_atomic(table: pa.Table, target: Path) -> None:
    """Write ``table`` (with its row digests, without pandas metadata) as ``target``, atomically."""
    meta = {DIGEST_KEY: json.dumps(_digests(table.to_pandas(ignore_metadata=True)), sort_keys=True).encode(), HASHER_KEY: _HASHER}
    table = table.replace_schema_metadata(meta)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_verified: set[tuple] = set()  # shard versions (path, inode, size, mtime) whose every column passed its digest


def _read_verified(f: Path, columns: list[str] | None) -> pd.DataFrame:
    """The rows of shard ``f`` (``columns`` of them, when given) after checking the digests of
    ALL its columns (once per file version and process): damage in a column the caller does not
    read still makes the shard skipped, so its cells are not counted as done."""
    with open(f, "rb") as fh:  # one open file for the stat and the read (a renamed-in shard cannot slip between)
        st = os.fstat(fh.fileno())
        version = (str(f), st.st_ino, st.st_size, st.st_mtime_ns)
        pf = pq.ParquetFile(fh)
        names = pf.schema_arrow.names
        _check_result_shard(pf.schema_arrow)
        cols = [c for c in columns if c in names] if columns else None
        if version in _verified:
            table = pf.read(columns=cols)
        else:
            table = pf.read()
            _verify(table, pf.schema_arrow.metadata or {})
            _verified.add(version)
            table = table.select(cols) if cols is not None else table
    return to_frame(table)


def _check_result_shard(schema: pa.Schema) -> None:
    """A result shard has text ``key`` and ``status`` columns (a foreign Parquet file may have others)."""
    for c in REQUIRED_COLUMNS:
        if c not in schema.names:
            raise _Damaged(f"it is not a nasbench-harness result shard (it has no {' or '.join(REQUIRED_COLUMNS)} column)")
        if not (pa.types.is_string(schema.field(c).type) or pa.types.is_large_string(schema.field(c).type)):
            raise _Damaged(f"it is not a nasbench-harness result shard (its {c} column holds {schema.field(c).type}, not text)")


def _verify(table: pa.Table, meta: dict) -> None:
    raw = meta.get(DIGEST_KEY)
    if raw is None or meta.get(HASHER_KEY) != _HASHER:
        return  # written before digests existed, or by another pandas version (its hashes may differ)
    try:
        expected = json.loads(raw)
    except ValueError:
        raise _Damaged("its row digests are unreadable (the file is damaged)") from None
    if not isinstance(expected, dict) or set(expected) != set(table.column_names):
        raise _Damaged("its row digests do not match its columns (the file is damaged)")
    got = _digests(table.to_pandas(ignore_metadata=True))
    if any(expected.get(c) != d for c, d in got.items()):
        raise _Damaged("its rows do not match their digests (the file is damaged)")


def to_frame(table: pa.Table) -> pd.DataFrame:
    """The rows as pandas, integer columns as pandas' nullable Int64 (plain numpy ints would turn
    into floats wherever a failed row lacks the value); ``_plain_ints`` undoes it where no value is missing."""
    ints = [f.name for f in table.schema if pa.types.is_signed_integer(f.type)]
    if not ints:
        return table.to_pandas(ignore_metadata=True)
    return table.to_pandas(ignore_metadata=True, types_mapper=lambda t: pd.Int64Dtype() if pa.types.is_signed_integer(t) else None)


def _plain_ints(df: pd.DataFrame) -> pd.DataFrame:
    """Nullable integer columns with no missing value back to int64 (what a store of only ok rows gave)."""
    plain = {c: "int64" for c in df.columns if isinstance(df[c].dtype, pd.Int64Dtype) and not df[c].isna().any()}
    return df.astype(plain) if plain else df


def with_float_gaps(df: pd.DataFrame) -> pd.DataFrame:
    """Integer columns with missing values as float64 with NaN: what numeric consumers (report,
    cost model) computed on before ``read`` kept integers."""
    gaps = {c: "float64" for c in df.columns if isinstance(df[c].dtype, pd.Int64Dtype)}
    return df.astype(gaps) if gaps else df


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
            try:
                _write_atomic(_to_table(df), target)
            except FileNotFoundError:
                self.ensure_writable()
                _write_atomic(_to_table(df), target)
        except OSError as exc:
            raise _full_error(exc, self.shard_dir) from None
        return target

    def compact(self) -> Path | None:
        """Merge every readable shard into one (deduplicated) shard, atomically.

        The merged shard is in place before the small ones are removed, so a crash in
        between leaves duplicates (which readers dedupe), never a loss. Corrupt shards are
        left where they are for the user to inspect.
        """
        self._remove_stale_tmp()
        self.problems = []
        if kept.is_kept(self.path):
            return self._compact_kept()
        files = self.shard_files()
        if len(files) <= 1:
            return files[0] if files else None
        frames, read_ok = self._read_files(files)
        if len(read_ok) <= 1:
            return read_ok[0] if read_ok else None
        df = dedupe(pd.concat(frames, ignore_index=True))  # integer columns stay integers (nullable)
        target = self.shard_dir / f"compact-{time.time_ns()}-{os.getpid()}.parquet"
        try:
            _write_atomic(_to_table(df), target)
        except OSError as exc:
            raise _full_error(exc, self.shard_dir) from None
        for f in read_ok:
            f.unlink(missing_ok=True)
        return target

    def _compact_kept(self) -> None:
        """A kept store (``kept.py``): its shards go into the per-study files, then leave."""
        studies = kept.partitions(self.path)
        frames, read_ok = self._read_files([*studies, *self.shard_files()])
        if any(f not in read_ok for f in studies):
            return  # a study file failed its digests (reported): rewriting it would drop its rows
        if frames:
            kept.write(self.path, dedupe(pd.concat(frames, ignore_index=True)), _write_atomic)
        for f in read_ok:
            if f.parent == self.shard_dir:
                f.unlink(missing_ok=True)

    def _remove_stale_tmp(self) -> None:
        """Delete temporary files left by killed writers (old enough to belong to no live one)."""
        if not self.shard_dir.is_dir():
            return
        cutoff = time.time() - STALE_TMP_SECONDS
        for tmp in self.shard_dir.glob(".*.tmp"):
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
            except OSError:
                continue

    # -- reading ----------------------------------------------------------------------
    def shard_files(self) -> list[Path]:
        """The shards: regular files only (a FIFO or device named *.parquet would block or never end a read)."""
        if not self.shard_dir.is_dir():
            return []
        files = []
        for p in sorted(self.shard_dir.glob("*.parquet")):
            if p.name.startswith("."):
                continue
            if p.is_file():
                files.append(p)
            elif p.exists():
                self._problem(f"Skipped {p}: it is not a regular file, so not a result shard; move it out of {p.parent}.")
        return files

    def _read_files(self, files: list[Path], columns: list[str] | None = None) -> tuple[list[pd.DataFrame], list[Path]]:
        frames, ok = [], []
        for f in files:
            try:
                frames.append(_read_verified(f, columns))
                ok.append(f)
            except FileNotFoundError:
                continue  # compacted away by a concurrent run between listing and reading
            except Exception as exc:  # noqa: BLE001 - any damage: skip this shard, never the store
                self._problem(_unreadable(f, exc))
        return [df for df in frames if len(df)], ok

    def _problem(self, msg: str) -> None:
        self.problems.append(msg)
        if msg not in _warned:  # once per process, however many reads meet it
            _warned.add(msg)
            warnings.warn(msg, CorruptShardWarning, stacklevel=4)

    def unreadable_shards(self) -> list[str]:
        """Messages for the shards a read skips (unreadable, failing their digests, foreign,
        not regular files); each shard's digests are checked once per process, so the read
        that follows does not check them again."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CorruptShardWarning)  # the caller shows the messages
            self.problems = []
            self._read_files(self.shard_files(), ["key"])
        return list(self.problems)

    def read(self, columns: list[str] | None = None) -> pd.DataFrame:
        """All stored rows (one per run key); corrupt shards are reported and skipped."""
        self.problems = []
        if columns is not None and "key" not in columns:
            columns = ["key", *columns]
        if columns is not None:
            columns = [*columns, *(c for c in ("status", "finished_at", SCHEMA_COLUMN) if c not in columns)]  # never the caller's list
        files = [*kept.partitions(self.path), *self.shard_files()] if kept.is_kept(self.path) else self.shard_files()
        frames, _ = self._read_files(files, columns)
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame({"key": pd.Series([], dtype="str")})
        df = _plain_ints(dedupe(pd.concat(frames, ignore_index=True)))
        if SCHEMA_COLUMN in df.columns:
            check_versions(df[SCHEMA_COLUMN].unique(), self.path)
        return df

    def done_keys(self) -> set[str]:
        """Run keys whose stored row has status ok (failed cells are retried); a shard failing
        its digests in any column counts for nothing, so its cells run again."""
        df = self.read(["key", "status"])
        if df.empty:
            return set()
        return set(df.loc[df["status"] == "ok", "key"].tolist())
