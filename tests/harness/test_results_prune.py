"""`results prune` (harness/prune.py): rows no named matrix computes any more leave the store, on request only."""

from __future__ import annotations

import pandas as pd
from nasbench_harness import kept
from nasbench_harness.store import ResultStore
from test_cli import assert_one_sentence_error, cli
from test_results_merge import snapshot
from test_schema_and_kept import kept_store


def with_stale_rows(source, dst, n=3):
    """A copy of ``source`` plus ``n`` failed rows under keys no cell has (as a code or data change leaves them)."""
    rows = ResultStore(source).read()
    stale = rows.head(n).copy()
    stale["key"] = [f"stale{i:059d}" for i in range(n)]
    stale["status"] = "failed"
    ResultStore(dst).append(pd.concat([rows, stale], ignore_index=True))
    return dst, rows


def test_without_apply_the_stale_rows_are_listed_and_nothing_is_written(capsys, toy_store, tmp_path):
    store, _ = with_stale_rows(toy_store, tmp_path / "s")
    before = snapshot(store)
    code, out, err = cli(capsys, "results", "prune", str(store), "--matrix", str(toy_store.parent / "toy.yaml"))
    assert code == 0, err
    assert "3 failed row(s) of toy/synthetic (matrix toy)" in out and "would remove (pass --apply) 3 of 11 row(s)" in out
    assert snapshot(store) == before


def test_apply_removes_exactly_the_stale_rows_and_keeps_the_others_bit_for_bit(capsys, toy_store, tmp_path):
    store, rows = with_stale_rows(toy_store, tmp_path / "s")
    code, out, err = cli(capsys, "results", "prune", str(store), "--matrix", str(toy_store.parent / "toy.yaml"), "--apply")
    assert code == 0, err
    assert "removed 3 of 11 row(s)" in out
    left = ResultStore(store).read().sort_values("key").reset_index(drop=True)
    pd.testing.assert_frame_equal(left, rows.sort_values("key").reset_index(drop=True), check_dtype=False)


def test_a_kept_store_is_rewritten_through_its_manifest(capsys, toy_store, tmp_path):
    ref = kept_store(tmp_path)
    with_stale_rows(toy_store, ref)
    ResultStore(ref).compact()
    assert kept.read_manifest(ref)["files"]["toy.parquet"]["rows"] == 11
    code, _, err = cli(capsys, "results", "prune", str(ref), "--matrix", str(toy_store.parent / "toy.yaml"), "--apply")
    assert code == 0, err
    assert kept.read_manifest(ref)["files"]["toy.parquet"]["rows"] == 8
    assert [p.name for p in kept.partitions(ref)] == ["toy.parquet"] and len(ResultStore(ref).read()) == 8


def test_a_missing_store_is_one_sentence(capsys, toy_store, tmp_path):
    code, _, err = cli(capsys, "results", "prune", str(tmp_path / "nope"), "--matrix", str(toy_store.parent / "toy.yaml"))
    assert_one_sentence_error(code, err, "does not exist")
