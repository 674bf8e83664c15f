"""The Parquet result store: atomic shards, dedupe, compaction, corrupt shards, bad dirs."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from nasbench_harness.errors import ResultStoreError
from nasbench_harness.store import CorruptShardWarning, ResultStore


def row(key: str, status: str = "ok", at: str = "2026-01-01T00:00:00", **extra) -> dict:
    return {"key": key, "status": status, "error": "" if status == "ok" else "boom", "finished_at": at, "task": "t", **extra}


def test_append_and_read_union_columns(tmp_path):
    store = ResultStore(tmp_path / "res")
    store.append([row("a", kendall_tau=0.5)])
    store.append([row("b", spearman=0.7)])
    df = store.read()
    assert sorted(df["key"]) == ["a", "b"]
    assert df.set_index("key").loc["a", "kendall_tau"] == 0.5
    assert pd.isna(df.set_index("key").loc["a", "spearman"])
    assert not list((tmp_path / "res" / "shards").glob(".*.tmp"))


def test_ok_beats_failed_and_later_beats_earlier(tmp_path):
    store = ResultStore(tmp_path)
    store.append([row("a", "ok", "2026-01-01", v=1.0)])
    store.append([row("a", "failed", "2026-01-02")])  # a later failure never hides a result
    store.append([row("b", "failed", "2026-01-01")])
    store.append([row("b", "ok", "2026-01-02", v=2.0)])
    store.append([row("c", "ok", "2026-01-01", v=3.0)])
    store.append([row("c", "ok", "2026-01-03", v=4.0)])  # --force recomputation wins
    df = store.read().set_index("key")
    assert df.loc["a", "status"] == "ok" and df.loc["b", "v"] == 2.0 and df.loc["c", "v"] == 4.0
    assert store.done_keys() == {"a", "b", "c"}


def test_failed_keys_are_not_done(tmp_path):
    store = ResultStore(tmp_path)
    store.append([row("x", "failed")])
    assert store.done_keys() == set()


def test_compact_merges_into_one_shard_without_losing_rows(tmp_path):
    store = ResultStore(tmp_path)
    for i in range(20):
        store.append([row(f"k{i}", m=float(i))])
    store.append([row("k0", "ok", "2026-02-01", m=100.0)])
    before = store.read()
    merged = store.compact()
    assert store.shard_files() == [merged]
    after = store.read()
    pd.testing.assert_frame_equal(before.sort_values("key").reset_index(drop=True), after.sort_values("key").reset_index(drop=True))
    assert after.set_index("key").loc["k0", "m"] == 100.0


def test_corrupt_shard_is_reported_and_skipped(tmp_path):
    store = ResultStore(tmp_path)
    store.append([row("good1")])
    bad = store.shard_dir / "part-0-0-0.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    store.append([row("good2")])
    with pytest.warns(CorruptShardWarning, match="part-0-0-0.parquet"):
        df = store.read()
    assert sorted(df["key"]) == ["good1", "good2"]
    assert len(store.problems) == 1 and "delete it" in store.problems[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # shown once per process, not again by every read
        store.compact()
    assert len(store.problems) == 1
    assert bad.exists(), "a corrupt shard is left for the user, never deleted silently"


def test_unwritable_results_dir_is_one_sentence(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = ResultStore(blocker / "results")
    with pytest.raises(ResultStoreError, match=r"is not writable .*pass a writable folder with --results DIR\.$"):
        store.ensure_writable()


def test_empty_store_reads_empty(tmp_path):
    store = ResultStore(tmp_path / "none")
    assert store.read().empty and store.done_keys() == set() and store.compact() is None


def test_list_columns_keep_their_digests_through_shards_and_compaction(tmp_path):
    """Search rows carry list columns (anytime curves, traces); digests must hash them exactly."""
    store = ResultStore(tmp_path)
    store.append([row("a", curve_eval=[94.1, 94.3, float("nan")], trace_ids=["x", "y"])])
    store.append([row("b", curve_eval=[93.0], trace_ids=["z"])])
    for _ in range(2):  # before and after compaction
        with warnings.catch_warnings():
            warnings.simplefilter("error", CorruptShardWarning)
            df = store.read().set_index("key")
        assert list(df.loc["a", "curve_eval"][:2]) == [94.1, 94.3] and list(df.loc["b", "trace_ids"]) == ["z"]
        store.compact()
