"""`report --reference`: a local method ranked among the reference rows, each row marked by origin (issue 21, item 5)."""

from __future__ import annotations

import json

import pandas as pd
from nasbench_harness.report import build_report
from nasbench_harness.report.aggregate import load_results, origins
from report_rows import make_rows, write_store

MACHINE = json.dumps({"host": "laptop-7", "cpu": "x", "cores": 4, "threads": 8, "os": "Linux", "accelerator": ""})


def stores(tmp_path):
    """The reference (three methods) and a local run of a new method (knn) on the same cells."""
    reference = write_store(tmp_path / "reference", make_rows(failed=0))
    local = make_rows(["knn@onehot"], failed=0).assign(code_version="code=feedfacefeedface", machine=MACHINE, finished_at="2026-12-07T10:00:00")
    return reference, write_store(tmp_path / "local", local)


def test_rows_from_the_reference_store_are_marked_and_local_ones_say_where_they_ran(tmp_path):
    reference, local = stores(tmp_path)
    rows, _ = load_results(local, reference)
    assert set(rows.groupby("method")["origin"].unique().map(tuple)) == {("reference",), ("local",)}
    marks = origins(rows[rows["task"] == "nb201/cifar10"], ["method"])
    assert marks[("xgboost@onehot",)] == "reference"
    assert marks[("knn@onehot",)] == "local: code=feedface on laptop-7, 2026-12-07"


def test_the_board_ranks_the_local_method_among_the_reference_ones(tmp_path):
    reference, local = stores(tmp_path)
    index = build_report(local, tmp_path / "out", reference=reference)
    board = (index.parent / "boards" / "nb201-cifar10.html").read_text()
    assert "knn@onehot" in board and "xgboost@onehot" in board and "gcn+hr" in board
    assert "local: code=feedface on laptop-7, 2026-12-07" in board and ">reference<" in board
    assert "54 reference" in index.read_text() and "18 local" in index.read_text()


def test_a_merged_folder_is_marked_by_the_reference_it_is_given(tmp_path):
    from nasbench_harness.store import ResultStore

    reference, local = stores(tmp_path)
    merged = write_store(tmp_path / "merged", pd.concat([ResultStore(reference).read(), ResultStore(local).read()]))
    rows, _ = load_results(merged, reference)
    assert (rows.loc[rows["method"] == "knn@onehot", "origin"] == "local").all()
    assert (rows.loc[rows["method"] != "knn@onehot", "origin"] == "reference").all()


def test_without_a_reference_rows_carry_no_origin(tmp_path):
    reference, _ = stores(tmp_path)
    rows, _ = load_results(reference)
    assert "origin" not in rows.columns and origins(rows, ["method"]) == {}


def test_an_empty_reference_store_marks_every_row_local(tmp_path):
    from nasbench_harness import kept

    _, local = stores(tmp_path)
    empty = tmp_path / "empty-reference"
    empty.mkdir()
    (empty / kept.MANIFEST).write_text('{"files": {}, "rows": 0, "schema_version": 2}\n')
    rows, _ = load_results(local, empty)
    assert (rows["origin"] == "local").all() and len(rows) == 18


def _cli(*args: str) -> int:
    from nasbench_harness.cli import main

    try:
        main(list(args))
    except SystemExit as exc:
        return exc.code
    return 0


def test_the_cli_ranks_against_a_reference_and_refuses_a_missing_one(tmp_path, capsys):
    reference, local = stores(tmp_path)
    assert _cli("report", "--results", str(local), "--reference", str(reference), "--out", str(tmp_path / "out")) == 0
    assert "54 reference" in (tmp_path / "out" / "index.html").read_text()
    capsys.readouterr()
    code = _cli("report", "--results", str(local), "--reference", str(tmp_path / "nope"), "--out", str(tmp_path / "out2"))
    err = capsys.readouterr().err
    assert code == 2 and "The reference store" in err and "does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "out2").exists()
