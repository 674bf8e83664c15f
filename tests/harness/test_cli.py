"""The command line: list/validate/run/report, and one sentence + exit 2 for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from nasbench_harness.cli import main


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``main(args)`` in-process; return (exit code, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_sentence_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    text = err.strip()
    assert text.startswith("error: ") and "Traceback" not in text
    assert text.count("\n") == 0, text  # one sentence, one line
    for f in fragments:
        assert f in text, text


@pytest.mark.parametrize("kind", ["predictors", "losses", "tasks", "matrices", "protocols", "search-spaces"])
def test_list_json_gives_name_and_description(capsys, example_plugin, kind):
    code, out, _ = cli(capsys, "list", kind, "--json")
    assert code == 0
    rows = json.loads(out)
    assert isinstance(rows, list) and rows
    assert all(isinstance(r["name"], str) and isinstance(r["description"], str) for r in rows)
    names = {r["name"] for r in rows}
    expected = {"predictors": "knn", "losses": "softrank", "tasks": "toy/synthetic", "matrices": "smoke", "protocols": "predict", "search-spaces": "nbgraph"}[kind]
    assert expected in names


def test_list_table(capsys, example_plugin):
    code, out, _ = cli(capsys, "list", "predictors")
    assert code == 0 and "knn" in out and "nbh-example-plugin" in out


def test_validate_and_run_and_resume(capsys, toy_matrix, tmp_path):
    code, out, _ = cli(capsys, "validate", str(toy_matrix))
    assert code == 0 and "valid; 8 cells = 1 task(s) x 2 method(s) x 2 budget(s) x 2 seed(s)" in out
    results = str(tmp_path / "res")
    code, out, _ = cli(capsys, "run", "-m", str(toy_matrix), "--results", results, "--dry-run")
    assert code == 0 and "8 cells, 0 already done, 8 to run; estimated" in out
    code, out, err = cli(capsys, "run", "-m", str(toy_matrix), "--results", results, "--filter", "seed=0")
    assert code == 0 and "4 cells, 0 already done, 4 ok, 0 failed" in out, err
    code, out, _ = cli(capsys, "run", "-m", str(toy_matrix), "--results", results, "--dry-run")
    assert "8 cells, 4 already done, 4 to run" in out
    code, out, _ = cli(capsys, "run", "-m", str(toy_matrix), "--results", results, "--set", "seeds=[0]", "--executor", "process", "--jobs", "2")
    assert code == 0 and "4 cells, 4 already done, 0 ok" in out


def test_unknown_matrix_name(capsys):
    code, _, err = cli(capsys, "run", "--matrix", "smok")
    assert_one_sentence_error(code, err, "Unknown matrix 'smok'", "Did you mean 'smoke'?")


def test_unknown_predictor_in_a_matrix(capsys, write_matrix, example_plugin):
    path = write_matrix("tasks: [toy/synthetic]\nmethods: [knm]\nbudgets: [10]\n")
    code, _, err = cli(capsys, "validate", str(path))
    assert_one_sentence_error(code, err, "unknown predictor 'knm'", "Did you mean 'knn'?", "m.yaml")


def test_unknown_task_in_a_matrix(capsys, write_matrix, example_plugin):
    path = write_matrix("tasks: [toy/synthtic]\nmethods: [knn]\nbudgets: [10]\n")
    code, _, err = cli(capsys, "run", "-m", str(path), "--dry-run")
    assert_one_sentence_error(code, err, "unknown task 'toy/synthtic'", "Did you mean 'toy/synthetic'?")


def test_invalid_yaml_matrix(capsys, write_matrix):
    path = write_matrix("tasks: [a\nmethods: {")
    code, _, err = cli(capsys, "validate", str(path))
    assert_one_sentence_error(code, err, "is not valid YAML at line", "m.yaml")


def test_bad_override_and_bad_executor(capsys, toy_matrix, tmp_path):
    code, _, err = cli(capsys, "run", "-m", str(toy_matrix), "--set", "budgets=[0]", "--dry-run")
    assert_one_sentence_error(code, err, "budgets[0]: expected a training count of at least 2")
    code, _, err = cli(capsys, "run", "-m", str(toy_matrix), "--results", str(tmp_path), "--executor", "threads")
    assert_one_sentence_error(code, err, "Unknown executor 'threads'")


def test_missing_data_import_says_which_import(capsys, write_matrix, example_plugin, tmp_path, monkeypatch):
    from nasbench_harness import registry
    from nasbench_harness.tasks.catalog import task_specs

    imported = [s for s in task_specs().values() if not getattr(registry.get_search_space(s.space), "embedded", False)]
    spec = imported[0]
    monkeypatch.setenv("NASBENCH_HARNESS_DATA", str(tmp_path / "empty-cache"))
    path = write_matrix(f"tasks: [{spec.name}]\nmethods: [knn]\nbudgets: [10]\n")
    code, _, err = cli(capsys, "run", "-m", str(path), "--results", str(tmp_path / "r"))
    assert_one_sentence_error(code, err, "nasbench-harness data import", spec.space)
    both = write_matrix(f"tasks: [{spec.name}, toy/synthetic]\nmethods: [knn]\nbudgets: [10]\n", "both.yaml")
    code, out, err = cli(capsys, "run", "-m", str(both), "--results", str(tmp_path / "r"), "--skip-missing-data")
    assert code == 0 and "1 cells, 0 already done, 1 ok" in out
    assert f"skipped task {spec.name}" in err and "data import" in err


def test_unwritable_results_directory(capsys, toy_matrix, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    code, _, err = cli(capsys, "run", "-m", str(toy_matrix), "--results", str(blocker / "results"))
    assert_one_sentence_error(code, err, "is not writable", "--results DIR")


def test_corrupt_shard_is_reported_and_the_rest_still_read(capsys, toy_matrix, tmp_path):
    results = tmp_path / "res"
    assert cli(capsys, "run", "-m", str(toy_matrix), "--results", str(results), "--filter", "seed=0")[0] == 0
    (results / "shards" / "part-1-1-1.parquet").write_bytes(b"garbage, not parquet")
    code, out, err = cli(capsys, "run", "-m", str(toy_matrix), "--results", str(results), "--dry-run")
    assert code == 0 and "8 cells, 4 already done" in out
    assert "warning:" in err and "part-1-1-1.parquet" in err


def test_report_on_missing_results_dir(capsys, tmp_path):
    code, _, err = cli(capsys, "report", "--results", str(tmp_path / "nothing"), "--out", str(tmp_path / "out"))
    assert_one_sentence_error(code, err, "does not exist", "nasbench-harness run --matrix smoke")


def test_report_renders_with_a_corrupt_shard(capsys, toy_matrix, tmp_path):
    results = tmp_path / "res"
    assert cli(capsys, "run", "-m", str(toy_matrix), "--results", str(results))[0] == 0
    (results / "shards" / "part-1-1-1.parquet").write_bytes(b"garbage")
    code, out, err = cli(capsys, "report", "--results", str(results), "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert (tmp_path / "out" / "index.html").is_file()
    assert "part-1-1-1.parquet" in err


def test_python_dash_m_works():
    proc = subprocess.run([sys.executable, "-m", "nasbench_harness", "list", "protocols", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "predict" in {r["name"] for r in json.loads(proc.stdout)}


@pytest.mark.slow
def test_smoke_matrix_end_to_end(tmp_path):
    """The README's first command: smoke on the embedded NAS-Bench-Graph, then the report."""
    run = [sys.executable, "-m", "nasbench_harness", "run", "--matrix", "smoke", "--results", str(tmp_path / "results"), "--executor", "process", "--jobs", "2"]
    proc = subprocess.run(run, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "40 cells, 0 already done, 40 ok, 0 failed" in proc.stdout
    again = subprocess.run(run, capture_output=True, text=True, timeout=600)
    assert "40 cells, 40 already done, 0 ok" in again.stdout
    rep = [sys.executable, "-m", "nasbench_harness", "report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "reports")]
    proc = subprocess.run(rep, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "reports" / "index.html").is_file()
