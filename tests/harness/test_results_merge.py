"""`results merge` (harness/merge.py): stores from several machines pooled into one (issue 21, item 6 and its bad input)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from nasbench_harness import kept
from nasbench_harness.schema import SCHEMA_VERSION
from nasbench_harness.store import ResultStore
from test_cli import assert_one_sentence_error, cli
from test_schema_and_kept import kept_store


def copy_of(source: Path, dst: Path, **changes) -> Path:
    """A copy of the store ``source``, every row changed by ``changes`` (column -> value or function of the frame)."""
    rows = ResultStore(source).read()
    for col, value in changes.items():
        rows[col] = value(rows) if callable(value) else value
    ResultStore(dst).append(rows)
    return dst


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()} if folder.exists() else {}


def host(name: str) -> str:
    return json.dumps({"host": name, "cpu": "x", "cores": 1, "threads": 1, "os": "y", "accelerator": ""})


def test_merge_keeps_one_row_per_run_key_the_newest_by_default(capsys, toy_store, tmp_path):
    a = copy_of(toy_store, tmp_path / "a", machine=host("alpha"), finished_at="2026-01-01T00:00:00")
    b = copy_of(toy_store, tmp_path / "b", machine=host("beta"), finished_at="2026-02-01T00:00:00")
    code, out, err = cli(capsys, "results", "merge", str(a), str(b), "--into", str(tmp_path / "m"))
    assert code == 0, err
    merged = ResultStore(tmp_path / "m").read()
    assert len(merged) == 8 and merged["key"].is_unique and set(merged["machine"]) == {host("beta")}
    assert "merged 8 row(s)" in out
    code, _, err = cli(capsys, "results", "merge", str(a), str(b), "--into", str(tmp_path / "f"), "--keep", "first")
    assert code == 0, err
    assert set(ResultStore(tmp_path / "f").read()["machine"]) == {host("alpha")}


def test_merge_into_a_store_pools_its_own_rows_and_replaces_its_shards(capsys, toy_store, tmp_path):
    dst = copy_of(toy_store, tmp_path / "dst")
    other = copy_of(toy_store, tmp_path / "other", key=lambda df: df["key"].str[::-1], seed=7)  # 8 other cells
    code, _, err = cli(capsys, "results", "merge", str(other), "--into", str(dst))
    assert code == 0, err
    assert [p.name for p in (dst / "shards").glob("*.parquet")] == ["merged.parquet"] and len(ResultStore(dst).read()) == 16


def test_the_same_run_key_with_other_results_is_reported_and_nothing_is_written(capsys, toy_store, tmp_path):
    a = copy_of(toy_store, tmp_path / "a", machine=host("alpha"))
    b = copy_of(toy_store, tmp_path / "b", machine=host("beta"), kendall_tau=lambda df: df["kendall_tau"].where(df.index > 0, 0.123))
    dst = tmp_path / "m"
    code, _, err = cli(capsys, "results", "merge", str(a), str(b), "--into", str(dst))
    assert code == 1 and not dst.exists()
    assert "non-determinism: toy/synthetic" in err and "differs in kendall_tau" in err and "alpha" in err and "beta" in err
    assert "1 run key(s) have different results" in err and "nothing was written" in err
    code, _, err = cli(capsys, "results", "merge", str(a), str(b), "--into", str(dst), "--allow-nondeterminism")
    assert code == 0 and "non-determinism" in err and len(ResultStore(dst).read()) == 8


def test_stores_on_different_data_are_refused_in_one_sentence(capsys, toy_store, tmp_path):
    a = copy_of(toy_store, tmp_path / "a")
    b = copy_of(toy_store, tmp_path / "b", data_checksum="f" * 64, key=lambda df: df["key"].str[::-1])  # the same cells on other data
    dst = copy_of(toy_store, tmp_path / "dst")
    before = snapshot(dst)
    code, _, err = cli(capsys, "results", "merge", str(a), str(b), "--into", str(dst))
    assert_one_sentence_error(code, err, "results of task toy/synthetic computed on different data", "ffffffffffff")
    assert snapshot(dst) == before


def test_a_kept_store_off_its_manifest_is_refused_in_one_sentence(capsys, toy_store, tmp_path):
    ref = kept_store(tmp_path)
    code, _, err = cli(capsys, "results", "merge", str(toy_store), "--into", str(ref))
    assert code == 0, err
    study = ref / "toy.parquet"
    study.write_bytes(study.read_bytes()[:-3] + b"xyz")
    code, _, err = cli(capsys, "results", "merge", str(ref), "--into", str(tmp_path / "m"))
    assert_one_sentence_error(code, err, "does not match the sha256")
    assert not (tmp_path / "m").exists()


def test_a_store_of_a_newer_schema_is_refused_in_one_sentence(capsys, toy_store, tmp_path):
    newer = copy_of(toy_store, tmp_path / "newer", schema_version=SCHEMA_VERSION + 1)
    dst = copy_of(toy_store, tmp_path / "dst")
    before = snapshot(dst)
    code, _, err = cli(capsys, "results", "merge", str(newer), "--into", str(dst))
    assert_one_sentence_error(code, err, f"schema version {SCHEMA_VERSION + 1}, newer than")
    assert snapshot(dst) == before


def test_merging_into_a_kept_store_keeps_its_manifest_right(capsys, toy_store, tmp_path):
    ref = kept_store(tmp_path)
    other = copy_of(toy_store, tmp_path / "other", matrix="other", key=lambda df: df["key"].str[::-1])
    code, _, err = cli(capsys, "results", "merge", str(toy_store), str(other), "--into", str(ref))
    assert code == 0, err
    manifest = json.loads((ref / kept.MANIFEST).read_text())
    assert set(manifest["files"]) == {"toy.parquet", "other.parquet"} and manifest["rows"] == 16
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == kept._sha256(ref / name) and entry["rows"] == len(pd.read_parquet(ref / name))
    assert len(ResultStore(ref).read()) == 16 and not list((ref / "shards").glob("*.parquet"))
    before = snapshot(ref)
    assert cli(capsys, "results", "merge", str(toy_store), "--into", str(ref))[0] == 0
    assert snapshot(ref) == before  # nothing new: no file rewritten


def test_a_merge_past_the_kept_size_limit_writes_nothing(capsys, toy_store, tmp_path, monkeypatch):
    ref = kept_store(tmp_path)
    before = snapshot(ref)
    monkeypatch.setattr(kept, "MAX_BYTES", 100)
    code, _, err = cli(capsys, "results", "merge", str(toy_store), "--into", str(ref))
    assert_one_sentence_error(code, err, "past its limit")
    assert snapshot(ref) == before  # the manifest only: no study file, pending file or shard


def test_merge_source_folders_must_exist(capsys, tmp_path):
    code, _, err = cli(capsys, "results", "merge", str(tmp_path / "nope"), "--into", str(tmp_path / "m"))
    assert_one_sentence_error(code, err, "does not exist")
    assert not (tmp_path / "m").exists()


def test_a_kept_store_whose_manifest_is_of_a_newer_schema_is_refused(capsys, toy_store, tmp_path):
    ref = kept_store(tmp_path)
    manifest = json.loads((ref / kept.MANIFEST).read_text())
    (ref / kept.MANIFEST).write_text(json.dumps({**manifest, "schema_version": SCHEMA_VERSION + 1}))
    before = snapshot(ref)
    code, _, err = cli(capsys, "results", "merge", str(toy_store), "--into", str(ref))
    assert_one_sentence_error(code, err, f"schema version {SCHEMA_VERSION + 1}, newer than")
    assert snapshot(ref) == before


def test_a_damaged_shard_of_the_destination_is_left_where_it_is(capsys, toy_store, tmp_path):
    dst = copy_of(toy_store, tmp_path / "dst")
    damaged = dst / "shards" / "part-damaged.parquet"
    damaged.write_bytes(b"not parquet")
    code, _, err = cli(capsys, "results", "merge", str(toy_store), "--into", str(dst))
    assert code == 0 and "part-damaged.parquet" in err  # reported as skipped
    assert damaged.read_bytes() == b"not parquet" and len(ResultStore(dst).read()) == 8


def test_merge_with_a_matrix_takes_only_its_cells_from_the_sources(capsys, toy_store, tmp_path):
    from test_results_prune import with_stale_rows

    source, rows = with_stale_rows(toy_store, tmp_path / "src")  # 8 cells of toy.yaml + 3 rows under other keys
    dst, own = with_stale_rows(toy_store, tmp_path / "dst", n=2)
    matrix = str(toy_store.parent / "toy.yaml")
    code, out, err = cli(capsys, "results", "merge", str(source), "--into", str(tmp_path / "new"), "--matrix", matrix)
    assert code == 0, err
    assert set(ResultStore(tmp_path / "new").read()["key"]) == set(rows["key"]) and "merged 8 row(s)" in out
    code, out, err = cli(capsys, "results", "merge", str(source), "--into", str(dst), "--matrix", matrix)
    assert code == 0, err
    merged = ResultStore(dst).read()
    assert len(merged) == 10 and merged["key"].str.startswith("stale").sum() == 2  # the destination's own stale rows stay


def test_the_refusal_names_two_different_stores(capsys, toy_store, tmp_path):
    # b alone holds the first digest, both hold the second: the sentence still names a and b
    a = copy_of(toy_store, tmp_path / "a", data_checksum="f" * 64)
    b = copy_of(toy_store, tmp_path / "b", key=lambda df: df["key"].str[::-1],
                data_checksum=lambda df: ["0" * 64 if i % 2 else "f" * 64 for i in range(len(df))])
    code, _, err = cli(capsys, "results", "merge", str(a), str(b), "--into", str(tmp_path / "m"))
    assert_one_sentence_error(code, err, f"The stores {b.resolve()} and {a.resolve()} hold results")
