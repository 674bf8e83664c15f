"""Rows say where they ran and which schema they follow; the kept store (issue 18, items 2-3)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from nasbench_harness import kept
from nasbench_harness.errors import ResultStoreError
from nasbench_harness.executors import SerialExecutor
from nasbench_harness.matrix import load_matrix
from nasbench_harness.runner import execute, plan
from nasbench_harness.schema import DOC, SCHEMA_VERSION
from nasbench_harness.store import ResultStore

REPO = Path(__file__).resolve().parents[2]


def run_into(matrix_path, results) -> ResultStore:
    store = ResultStore(results)
    execute(plan(load_matrix(matrix_path), store), store, SerialExecutor())
    return store


def test_every_row_records_its_machine_and_schema_version(toy_matrix, tmp_path):
    df = run_into(toy_matrix, tmp_path).read()
    assert (df["schema_version"] == SCHEMA_VERSION).all()
    machine = json.loads(df["machine"].iloc[0])
    assert set(machine) == {"host", "cpu", "cores", "threads", "os", "simd", "accelerator"}
    assert machine["host"] and machine["cpu"] and machine["threads"] >= 1


def test_every_column_of_a_row_is_documented_in_the_one_schema_file(toy_matrix, tmp_path):
    df = run_into(toy_matrix, tmp_path).read()
    doc = (REPO / DOC).read_text()
    documented = set(re.findall(r"`([a-z_@<>]+)`", doc))
    metric_columns = {"kendall_tau", "spearman", "pearson", "mae", "rmse"}  # documented as the metrics module's names
    missing = {c for c in df.columns if c not in documented and c not in metric_columns and "@" not in c and not c.startswith("best_of_top")}
    assert not missing, f"columns not documented in {DOC}: {sorted(missing)}"
    assert "`SCHEMA_VERSION`" in doc and f"**{SCHEMA_VERSION}** (current)" in doc


def test_a_store_from_a_newer_schema_gets_one_sentence(toy_matrix, tmp_path):
    store = run_into(toy_matrix, tmp_path)
    row = store.read().iloc[[0]].assign(schema_version=SCHEMA_VERSION + 1, key="newer")
    store.append(row)
    with pytest.raises(ResultStoreError, match=r"schema version 3, newer than this nasbench-harness reads \(2\)"):
        store.read()


def test_a_store_written_before_the_schema_column_is_read_as_version_one(toy_matrix, tmp_path):
    from nasbench_harness.report.aggregate import normalise

    store = run_into(toy_matrix, tmp_path)
    old = store.read().drop(columns=["schema_version", "machine"])
    old_store = ResultStore(tmp_path / "old")
    old_store.append(old)
    df = normalise(old_store.read())
    assert (df["schema_version"] == 1).all() and (df["machine"] == "").all()


# -- the kept store ---------------------------------------------------------------------------
def kept_store(tmp_path) -> Path:
    path = tmp_path / "reference"
    path.mkdir()
    (path / kept.MANIFEST).write_text(json.dumps({"files": {}, "rows": 0, "schema_version": SCHEMA_VERSION}))  # an empty kept store
    return path


def test_a_kept_store_holds_one_sorted_file_per_study_and_a_manifest(toy_matrix, write_matrix, tmp_path):
    path = kept_store(tmp_path)
    run_into(toy_matrix, path)
    study = path / "toy.parquet"
    rows = pd.read_parquet(study)
    assert list(rows["key"]) == sorted(rows["key"]) and len(rows) == 8
    assert not list((path / "shards").glob("*.parquet"))  # merged into the study file
    manifest = json.loads((path / kept.MANIFEST).read_text())
    entry = manifest["files"]["toy.parquet"]
    assert manifest["schema_version"] == SCHEMA_VERSION and manifest["rows"] == entry["rows"] == 8
    assert entry["sha256"] == kept._sha256(study) and entry["code_versions"] and entry["machines"]
    before = study.read_bytes()

    other = write_matrix("name: other\ntasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10]\nseeds: 1\n", "other.yaml")
    store = run_into(other, path)
    assert study.read_bytes() == before  # another study's run leaves this one's file alone
    assert set(json.loads((path / kept.MANIFEST).read_text())["files"]) == {"toy.parquet", "other.parquet"}
    assert len(store.read()) == 9
    assert plan(load_matrix(toy_matrix), store).n_done == 8  # its rows count as done


def test_a_kept_file_that_does_not_match_its_manifest_is_refused(toy_matrix, tmp_path, capsys):
    from nasbench_harness.cli import main

    path = kept_store(tmp_path)
    run_into(toy_matrix, path)
    study = path / "toy.parquet"
    study.write_bytes(study.read_bytes()[:-3] + b"xyz")
    with pytest.raises(ResultStoreError, match="does not match the sha256"):
        ResultStore(path).read()
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--results", str(path), "--out", str(tmp_path / "rep")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "does not match the sha256" in err and "Traceback" not in err


def test_results_reference_is_tracked_and_the_rest_of_results_is_not():
    import subprocess

    def ignored(rel: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", rel], cwd=REPO).returncode == 0

    assert not ignored("results/reference/manifest.json") and not ignored("results/reference/study.parquet")
    assert ignored("results/shards/part.parquet") and ignored("reports/index.html")
    assert ignored("results/reference/shards/part.parquet")


SEARCH_MATRIX = """
name: search-toy
protocol: search
tasks: [toy/search]
budgets: [30]
seeds: 2
protocol_params: {strategy: random}
methods: [{predictor: none, label: RS}]
"""


def test_a_kept_store_keeps_query_ids_and_curves_but_not_per_query_benchmark_values(write_matrix, tmp_path):
    from nasbench_harness.worker import _load_task

    path = write_matrix(SEARCH_MATRIX)
    plain = run_into(path, tmp_path / "plain").read().set_index("key")
    ref = kept_store(tmp_path)
    stored = run_into(path, ref).read().set_index("key")
    assert "trace_train" in plain.columns and "trace_train" not in stored.columns
    assert "trace_train" not in pd.read_parquet(ref / "search-toy.parquet").columns
    for column in ("trace_ids", "curve_eval", "curve_train"):
        assert all(list(stored.loc[k, column]) == list(plain.loc[k, column]) for k in plain.index)
    restored = kept.restore(stored, lambda name: _load_task(name, None)).set_index(stored.index)
    assert all(list(restored.loc[k, "trace_train"]) == list(plain.loc[k, "trace_train"]) for k in plain.index)


def test_a_write_past_the_size_limit_is_refused_and_changes_nothing(toy_matrix, write_matrix, tmp_path, monkeypatch):
    path = kept_store(tmp_path)
    run_into(toy_matrix, path)
    before = {f.name: f.read_bytes() for f in path.iterdir() if f.is_file()}
    monkeypatch.setattr(kept, "MAX_BYTES", sum(len(b) for b in before.values()))
    other = write_matrix("name: other\ntasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10]\nseeds: 1\n", "other.yaml")
    with pytest.raises(ResultStoreError, match=r"past its limit of 0 MB .*nothing was written") as exc:
        run_into(other, path)
    assert "\n" not in str(exc.value)
    assert {f.name: f.read_bytes() for f in path.iterdir() if f.is_file()} == before  # no partition, manifest or pending file
    assert len(ResultStore(path).read()) == 9  # the new row stays in its shard: nothing is lost


def test_merging_another_study_leaves_an_unchanged_study_file_byte_for_byte(toy_matrix, write_matrix, tmp_path):
    ref = kept_store(tmp_path)
    run_into(toy_matrix, ref)
    before = (ref / "toy.parquet").read_bytes()
    other = run_into(write_matrix(SEARCH_MATRIX), tmp_path / "elsewhere").read()  # other columns, pooled first
    from nasbench_harness import merge

    merge.write(ref, pd.concat([other, ResultStore(ref).read()], ignore_index=True), [])
    assert (ref / "toy.parquet").read_bytes() == before
    assert list(pd.read_parquet(ref / "search-toy.parquet").columns)[:2] == ["key", sorted(c for c in other.columns if c != "key")[0]]
