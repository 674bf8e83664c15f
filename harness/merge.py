"""``nasbench-harness results merge``: pool result stores (plain or kept) into one.

One row per run key survives, the newest by default (``keep="first"``: the oldest); an ``ok``
row always beats a ``failed`` one. Two ``ok`` rows of one run key whose results differ
(``rowdiff.result_columns``) are non-determinism: they are reported (which cells, which
machines and code versions) and, unless allowed, nothing is written. ``only`` (``--matrix``) takes
from the sources just the run keys a matrix has today; the destination keeps all its rows. Everything that can
refuse a merge happens before anything is written: a store that cannot be read (a kept
file not matching its manifest, rows of a newer schema) or stores holding one task's
results on different data (data digests) are one sentence each. The destination's own rows
join the pool; it is then rewritten at once: a kept store's study files and manifest
(``kept.write``, which stages every file first), or a plain store's one compacted shard,
written before the shards it replaces are removed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from nasbench_harness import kept
from nasbench_harness.errors import ResultStoreError
from nasbench_harness.rowdiff import differing, result_columns

KEEP = ("last", "first")
MERGED = "merged.parquet"  # a plain destination's one shard after a merge
# Cells with these equal read the same data (the task, its encoding's columns, a transfer's source):
# their data digests must agree across the stores merged.
DATA_GROUP = ("task", "encoding", "protocol", "protocol_params")


@dataclass
class Disagreement:
    """One run key whose ok rows differ between stores: non-determinism, never settled silently."""

    key: str
    cell: str
    columns: list[str]
    runs: list[str]  # per differing row: store, machine host, code version


@dataclass
class Merge:
    rows: pd.DataFrame
    sources: dict[str, int] = field(default_factory=dict)  # store -> rows read
    disagreements: list[Disagreement] = field(default_factory=list)
    shards: dict[str, list[Path]] = field(default_factory=dict)  # store -> the shards whose rows were read


def read_store(path: Path) -> pd.DataFrame:
    """All rows of one store, refused in one sentence when it is not a readable store."""
    return read_with_shards(path)[0]


def read_with_shards(path: Path) -> tuple[pd.DataFrame, list[Path]]:
    """The rows of one store and the shards they came from (a damaged shard, skipped with a
    warning, is not among them: it stays for its owner to inspect, as compaction leaves it)."""
    from nasbench_harness.store import ResultStore

    path = Path(path)
    if not path.is_dir():
        raise ResultStoreError(f"The results folder {path} does not exist or is not a folder; pass folders that `run --results` wrote.")
    store = ResultStore(path)
    listed = store.shard_files()
    rows = store.read()  # a kept file off its manifest, or a newer schema: one sentence
    return rows, [f for f in listed if f.is_file() and not any(str(f) in m for m in store.problems)]


def pool(paths: list[Path], keep: str = "last", only: set[str] | None = None, whole: Path | None = None) -> Merge:
    """The rows of every store (duplicates of one path read once), one per run key; with ``only``,
    a store's rows whose run key is not in it are left out, except the store ``whole``'s (the
    destination keeps all its own rows)."""
    if keep not in KEEP:
        raise ResultStoreError(f"--keep must be one of {list(KEEP)}, got '{keep}'.")
    frames, sources, shards = [], {}, {}
    whole = Path(whole).resolve() if whole is not None else None
    for path in dict.fromkeys(Path(p).resolve() for p in paths):
        df, shards[str(path)] = read_with_shards(path)
        if only is not None and path != whole and "key" in df.columns:
            df = df[df["key"].isin(only)]
        sources[str(path)] = len(df) if "status" in df.columns else 0
        if sources[str(path)]:
            frames.append(df.assign(_source=str(path)))
    if not frames:
        return Merge(pd.DataFrame({"key": pd.Series([], dtype="str")}), sources, shards=shards)
    rows = pd.concat(frames, ignore_index=True)
    check_data(rows)
    disagreements = find_disagreements(rows)
    return Merge(choose(rows, keep).drop(columns="_source"), sources, disagreements, shards)


def check_data(rows: pd.DataFrame) -> None:
    """Refuse stores that hold results of one task computed on different data, in one sentence."""
    cols = [c for c in DATA_GROUP if c in rows.columns]
    if "data_checksum" not in rows.columns or not cols:
        return
    known = rows[rows["data_checksum"].fillna("").astype(str) != ""]
    for _, g in known.groupby(cols, sort=True, dropna=False):
        by_digest = g.groupby("data_checksum")["_source"].agg(lambda s: sorted(set(s)))
        if len(by_digest) > 1 and g["_source"].nunique() > 1:
            (d1, s1), (d2, s2) = list(by_digest.items())[:2]
            other = next((s for s in s2 if s != s1[0]), s2[-1])  # name two different stores where there are two
            raise ResultStoreError(
                f"The stores {s1[0]} and {other} hold results of task {g['task'].iloc[0]} computed on different data "
                f"(data digests {d1[:12]}... and {d2[:12]}...); merge only stores run on the same imported data, "
                f"or rerun one of them after importing the other's data."
            )


def _cell(row: dict) -> str:
    budget = row.get("budget")
    return f"{row.get('task')} {row.get('method')} budget={budget:g} seed={row.get('seed')}" if isinstance(budget, float) else str(row.get("key"))


def _run(row: dict) -> str:
    try:
        host = json.loads(row.get("machine") or "{}").get("host", "")
    except (ValueError, AttributeError):
        host = str(row.get("machine"))
    return f"{row['_source']} (machine {host or 'not recorded'}, {row.get('code_version') or 'code not recorded'})"


def find_disagreements(rows: pd.DataFrame) -> list[Disagreement]:
    """Run keys stored more than once whose ok rows differ in a result column."""
    ok = rows[rows["status"] == "ok"] if "status" in rows.columns else rows
    repeated = ok[ok["key"].duplicated(keep=False)]
    # a kept store leaves out per-query copies of benchmark values (kept.BENCHMARK_COLUMNS): not results
    columns = [c for c in result_columns(list(rows.columns)) if c not in kept.BENCHMARK_COLUMNS and c != "_source"]
    found = []
    for key, g in repeated.groupby("key", sort=True):
        records = g.to_dict("records")
        first = records[0]
        differ = [r for r in records[1:] if differing(first, r, columns)]
        if differ:
            cols = sorted({c for r in differ for c in differing(first, r, columns)})
            found.append(Disagreement(str(key), _cell(first), cols, [_run(r) for r in (first, *differ)]))
    return found


def choose(rows: pd.DataFrame, keep: str) -> pd.DataFrame:
    """One row per run key: ok beats failed, then the newest (``last``) or oldest (``first``) finished_at."""
    order = rows.assign(
        _ok=(rows["status"] == "ok") if "status" in rows.columns else True,
        _at=rows["finished_at"].fillna("").astype(str) if "finished_at" in rows.columns else "",
    ).sort_values(["_ok", "_at"], ascending=[True, keep == "last"], kind="stable")
    out = order.drop_duplicates("key", keep="last").drop(columns=["_ok", "_at"])
    return out.sort_values("key", kind="stable").reset_index(drop=True)


def write(dst: Path, rows: pd.DataFrame, replaced: list[Path]) -> Path:
    """Replace what ``dst`` holds with ``rows`` (which include its own): a kept store through
    ``kept.write``, a plain one as one shard; then the shards ``replaced`` (those whose rows
    were pooled) go."""
    import pyarrow as pa
    from nasbench_harness.store import ResultStore, _full_error, _write_atomic

    store = ResultStore(dst)
    store.ensure_writable()
    old = list(replaced)
    rows = rows.dropna(axis=1, how="all")
    try:
        if kept.is_kept(dst):
            kept.write(dst, rows, _write_atomic)
        else:
            target = store.shard_dir / MERGED
            _write_atomic(pa.Table.from_pandas(rows, preserve_index=False), target)  # replaces an earlier merge's at once
            old = [f for f in old if f != target]
    except OSError as exc:
        raise _full_error(exc, dst) from None
    for f in old:
        f.unlink(missing_ok=True)
    return dst
