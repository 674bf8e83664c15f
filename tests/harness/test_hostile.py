"""Damaged stores and hostile input (issue 19): each case ends in one sentence or a clean run,
never a hang, a traceback, a memory blow-up or cells wrongly counted as done."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import write_plugin
from nasbench_harness.store import ResultStore
from test_cli import cli

TOY = "tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10]\nseeds: 2\n"


def one_sentence(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert err.startswith("error: ") and err.strip().count("\n") == 0 and "Traceback" not in err, err
    for f in fragments:
        assert f in err, err


def alias_bomb(levels: int = 8) -> str:
    """A ~300-byte YAML list whose aliases expand to 9**levels strings."""
    parts = ["&a0 [x,x,x,x,x,x,x,x,x]"] + [f"&a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "[" + ", ".join(parts) + "]"


DEEP = "[" * 5000 + "]" * 5000


# -- 1. a shard failing its digests counts for nothing ---------------------------------------
def test_a_shard_damaged_in_a_column_run_does_not_read_is_skipped_everywhere_and_rerun(capsys, write_matrix, example_plugin, tmp_path):
    path, results = write_matrix(TOY), tmp_path / "r"
    assert cli(capsys, "run", "--matrix", str(path), "--results", str(results))[0] == 0
    (shard,) = ResultStore(results).shard_files()
    pf = pq.ParquetFile(shard)
    table = pf.read()
    damaged = table.set_column(table.schema.get_field_index("code_version"), "code_version", pa.array(["edited"] * len(table)))
    pq.write_table(damaged.replace_schema_metadata(pf.schema_arrow.metadata), shard)  # digests kept: they no longer match

    code, out, err = cli(capsys, "run", "--matrix", str(path), "--results", str(results), "--dry-run")
    assert code == 0 and "2 cells, 0 already done, 2 to run" in out, out + err
    assert err.count(shard.name) == 1 and "do not match their digests" in err, err
    code, _, err = cli(capsys, "report", "--results", str(results), "--out", str(tmp_path / "rep"))
    assert code == 2 and err.count(shard.name) == 1, err
    code, out, _ = cli(capsys, "run", "--matrix", str(path), "--results", str(results))
    assert code == 0 and "2 cells, 0 already done, 2 ok" in out
    assert shard.exists() and len(ResultStore(results).read()) == 2


# -- 2. a long failure message is cut and printed plainly ------------------------------------
def test_a_long_failure_message_is_one_cut_line_pointing_to_the_store(capsys, write_matrix, example_plugin, tmp_path, monkeypatch):
    from nasbench_harness import runner

    def failing(p, store, executor, **kw):
        return runner.Summary(n_cells=1, n_skipped=0, n_failed=1, failures=["toy/synthetic knn budget=10 seed=0: ValueError: " + "[bold]x[/] 'y' 12 " * 2000])

    monkeypatch.setattr(runner, "execute", failing)
    code, _, err = cli(capsys, "run", "--matrix", str(write_matrix(TOY)), "--results", str(tmp_path / "r"))
    line = next(ln for ln in err.splitlines() if ln.startswith("failed: "))
    assert code == 1 and len(line) < 600 and "[bold]x[/]" in line, line
    assert "full text is in the error column" in line and str(tmp_path / "r") in line


# -- 3, 5, 6, 17. hostile matrices: refused before anything large is read or built ------------
def _hostile(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (CLI arguments, a fragment of the one sentence expected)."""
    ok = tmp / "ok.yaml"
    ok.write_text("tasks: [toy/synthetic]\nmethods: [ridge]\nbudgets: [10]\n")
    (tmp / "bomb.yaml").write_text(f"name: {alias_bomb()}\ntasks: [toy/synthetic]\nmethods: [ridge]\nbudgets: [10]\n")
    (tmp / "deep.yaml").write_text(DEEP + "\n")
    (tmp / "dup.yaml").write_text("tasks: [toy/synthetic]\nmethods: [ridge]\nbudgets: [10]\nbudgets: [20]\n")
    (tmp / "zero.yaml").symlink_to("/dev/zero")
    os.mkfifo(tmp / "fifo.yaml")
    (tmp / "inc-zero.yaml").write_text("include: [zero.yaml]\n")
    (tmp / "inc-fifo.yaml").write_text("include_if_present: [fifo.yaml]\n")
    res = ["--results", str(tmp / "r")]
    cases = {
        "alias-bomb": (["run", "-m", str(tmp / "bomb.yaml"), *res], "expand to more than"),
        "alias-bomb-validate": (["validate", str(tmp / "bomb.yaml")], "expand to more than"),
        "alias-bomb-set": (["run", "-m", str(ok), "--dry-run", *res, "--set", f"name={alias_bomb()}"], "expand to more than"),
        "deep": (["run", "-m", str(tmp / "deep.yaml"), *res], "nested too deeply"),
        "deep-dry-run": (["run", "-m", str(tmp / "deep.yaml"), "--dry-run", *res], "nested too deeply"),
        "deep-set": (["run", "-m", str(ok), *res, "--set", f"protocol_params={DEEP}"], "nested too deeply"),
        "duplicate-key": (["run", "-m", str(tmp / "dup.yaml"), "--dry-run", *res], "repeats a key"),
        "include-dev-zero": (["run", "-m", str(tmp / "inc-zero.yaml"), *res], "is not a regular file"),
        "include-dev-zero-dry-run": (["run", "-m", str(tmp / "inc-zero.yaml"), "--dry-run", *res], "is not a regular file"),
        "include-fifo": (["run", "-m", str(tmp / "inc-fifo.yaml"), *res], "is not a regular file"),
    }
    return cases


HOSTILE = ["alias-bomb", "alias-bomb-validate", "alias-bomb-set", "deep", "deep-dry-run", "deep-set", "duplicate-key",
           "include-dev-zero", "include-dev-zero-dry-run", "include-fifo"]  # fmt: skip


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 * 10**9, 3 * 10**9))


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_matrix_input_is_one_sentence_within_3_gb_and_20_s(tmp_path, case):
    args, fragment = _hostile(tmp_path)[case]
    code = "import sys; from nasbench_harness.cli import main; main(sys.argv[1:])"
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=20, preexec_fn=_limit_memory, cwd=tmp_path)
    one_sentence(proc.returncode, proc.stderr, fragment)
    assert not (tmp_path / "r").exists()


def test_run_reads_each_matrix_file_once(capsys, write_matrix, example_plugin, tmp_path):
    """The plan cache's key and the expansion share one read of every file (a file that
    changed between two reads would be planned under another file's key)."""
    write_matrix("tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10]\n", "part.yaml")
    top = write_matrix("include: [part.yaml]\n", "top.yaml")
    opened = _record_opens()
    opened.clear()
    code, out, _ = cli(capsys, "run", "--matrix", str(top), "--results", str(tmp_path / "r"), "--dry-run")
    files = [p for p in opened if str(p).endswith(("top.yaml", "part.yaml"))]
    _record_opens().append(None)  # stop recording
    assert code == 0 and sorted(Path(p).name for p in files) == ["part.yaml", "top.yaml"], files


_OPENS: list = []


def _record_opens() -> list:
    """Paths opened by this process while the list does not end in None (audit hooks stay forever)."""
    if not getattr(_record_opens, "hooked", False):
        sys.addaudithook(lambda event, args: _OPENS.append(args[0]) if event == "open" and (not _OPENS or _OPENS[-1] is not None) and isinstance(args[0], str | Path) else None)
        _record_opens.hooked = True
    return _OPENS


# -- 4. non-regular files in results/shards ----------------------------------------------------
@pytest.mark.timeout(60)
def test_a_fifo_among_the_shards_is_skipped_by_dry_run_and_report(capsys, write_matrix, example_plugin, tmp_path):
    path, results = write_matrix(TOY), tmp_path / "r"
    assert cli(capsys, "run", "--matrix", str(path), "--results", str(results))[0] == 0
    os.mkfifo(results / "shards" / "part-0-fifo.parquet")
    code, out, err = cli(capsys, "run", "--matrix", str(path), "--results", str(results), "--dry-run")
    assert code == 0 and "2 already done" in out and "not a regular file" in err
    assert cli(capsys, "report", "--results", str(results), "--out", str(tmp_path / "rep"))[0] == 0


# -- 7. integer columns stay integers ----------------------------------------------------------
def test_integer_columns_stay_integers_after_a_failed_row_is_compacted_in(tmp_path):
    store = ResultStore(tmp_path / "r")
    store.append([{"key": "a", "status": "ok", "n_train": 131, "n_eval": 469, "seed": 0, "finished_at": "1"}])
    store.append([{"key": "b", "status": "failed", "error": "boom", "seed": 1, "finished_at": "2"}])
    shard = store.compact()
    assert pa.types.is_integer(pq.read_schema(shard).field("n_train").type)
    df = store.read().set_index("key")
    assert df.loc["a", "n_train"] == 131 and str(df.loc["a", "n_train"]) == "131" and pd.isna(df.loc["b", "n_train"])
    store.append([{"key": "b", "status": "ok", "n_train": 131, "n_eval": 469, "seed": 1, "finished_at": "3"}])
    store.compact()
    assert ResultStore(store.path).read()["n_eval"].dtype == "int64"


# -- 8. foreign Parquet with key/status columns of other types -----------------------------------
def test_foreign_parquet_with_non_text_key_and_status_is_skipped_by_run_and_report(capsys, write_matrix, example_plugin, tmp_path):
    path, results = write_matrix(TOY), tmp_path / "r"
    assert cli(capsys, "run", "--matrix", str(path), "--results", str(results), "--filter", "seed=0")[0] == 0
    foreign = results / "shards" / "part-9-9-9.parquet"
    pd.DataFrame({"key": [1, 2], "status": [3.0, 4.0]}).to_parquet(foreign)
    code, out, err = cli(capsys, "run", "--matrix", str(path), "--results", str(results))
    assert code == 0 and "1 already done, 1 ok" in out and "not a nasbench-harness result shard" in err, out + err
    assert cli(capsys, "report", "--results", str(results), "--out", str(tmp_path / "rep"))[0] == 0
    assert foreign.exists()


# -- 9. rich markup in names, labels and paths ---------------------------------------------------
def test_markup_in_a_name_label_or_path_is_printed_literally(capsys, write_matrix, example_plugin, tmp_path):
    path = write_matrix('name: "[/]oops[link=x]"\ntasks: [toy/synthetic]\nmethods: [{predictor: knn, label: "[/]k[link=http://x]"}]\nbudgets: [10]\n')
    results = tmp_path / "[/]r[bold]"
    code, out, err = cli(capsys, "run", "--matrix", str(path), "--results", str(results), "--dry-run")
    assert code == 0 and "matrix [/]oops[link=x]: 1 cells" in out, out + err
    code, out, err = cli(capsys, "run", "--matrix", str(path), "--results", str(results))
    assert code == 0 and f"results in {results}" in out, out + err
    code, out, err = cli(capsys, "report", "--results", str(results), "--out", str(tmp_path / "[/]rep"))
    assert code == 0 and "[/]rep" in out, err


def test_markup_in_a_data_folder_is_printed_literally(capsys, tmp_path):
    folder = tmp_path / "[/]data[bold]"
    code, out, err = cli(capsys, "data", "list", "--data-dir", str(folder))
    assert code == 0 and "[/]data" in out.replace("\n", ""), err


# -- 11. a damaged plan cache is discarded ------------------------------------------------------
@pytest.mark.parametrize("edit", ["params-list", "keys-short"])
def test_a_damaged_plan_cache_entry_is_recomputed_not_fatal(capsys, write_matrix, example_plugin, tmp_path, monkeypatch, edit):
    monkeypatch.setenv("NASBENCH_HARNESS_INDEX", str(tmp_path / "index"))
    path, results = write_matrix(TOY), str(tmp_path / "r")
    assert cli(capsys, "run", "--matrix", str(path), "--results", results, "--dry-run")[0] == 0
    (entry,) = (tmp_path / "index").glob("plan-*.json")
    doc = json.loads(entry.read_text())
    if edit == "params-list":
        doc["cells"][0]["protocol_params"] = [1]
    else:
        doc["keys"] = doc["keys"][:1]
    entry.write_text(json.dumps(doc))
    code, out, err = cli(capsys, "run", "--matrix", str(path), "--results", results, "--dry-run")
    assert code == 0 and "2 cells, 0 already done, 2 to run" in out, err


# -- 12. an orphaned worker ends quietly -----------------------------------------------------------
def test_a_worker_whose_parent_is_gone_ends_without_a_traceback(monkeypatch):
    from nasbench_harness import executors

    class GonePipe:
        def __init__(self):
            self.messages = [(len, None, [1, 2])]

        def recv(self):
            return self.messages.pop()

        def send(self, msg):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(executors, "_init_worker", lambda threads, parent: None)
    monkeypatch.setattr("signal.signal", lambda *a: None)
    assert executors._worker_main(GonePipe(), 1, os.getppid()) is None


# -- 14, 15. budgets, names and labels that validate must refuse --------------------------------------
@pytest.mark.parametrize(
    "text, fragment",
    [
        ("tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [600]\nprotocol_params: {eval_set: space-minus-train}\n", "leaves none of the 600 architectures"),
        ("name: [1, 2]\ntasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10]\n", "expected a matrix name as plain text"),
        ("tasks: [toy/synthetic]\nmethods: [{predictor: knn, label: [1, 2]}]\nbudgets: [10]\n", "expected a label as plain text"),
        ('tasks: [toy/synthetic]\nmethods: [{predictor: knn, label: "a\\tb"}]\nbudgets: [10]\n', "without control characters"),
        ('name: "a\\0b"\ntasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10]\n', "without control characters"),
    ],
    ids=["budget-is-the-task", "name-list", "label-list", "label-tab", "name-nul"],
)
def test_validate_and_run_refuse_what_would_fail_or_mislabel(capsys, write_matrix, example_plugin, tmp_path, text, fragment):
    path = write_matrix(text)
    code, _, validate_err = cli(capsys, "validate", str(path))
    one_sentence(code, validate_err, fragment)
    code, _, run_err = cli(capsys, "run", "--matrix", str(path), "--results", str(tmp_path / "r"))
    one_sentence(code, run_err, fragment)


# -- 18, 19. report on a file; one-line shard warnings -------------------------------------------------
def test_report_on_a_file_says_it_is_a_file(capsys, tmp_path):
    (tmp_path / "results.parquet").write_bytes(b"x")
    code, _, err = cli(capsys, "report", "--results", str(tmp_path / "results.parquet"), "--out", str(tmp_path / "rep"))
    one_sentence(code, err, "is a file, not a results directory")


def test_a_shard_warning_is_one_line(tmp_path):
    store = ResultStore(tmp_path / "r")
    store.shard_dir.mkdir(parents=True)
    (store.shard_dir / "part-1.parquet").write_bytes(b"PAR1" + b"x" * 100 + b"\x10\x00\x00\x00PAR1")
    with pytest.warns(Warning):
        store.read()
    assert len(store.problems) == 1 and "\n" not in store.problems[0] and "thrift" in store.problems[0]


# -- 10. data folders that are files or cannot be written --------------------------------------------
@pytest.mark.parametrize("command", ["import", "download"])
@pytest.mark.parametrize("where", ["file", "under-a-file"])
def test_a_data_or_downloads_folder_that_is_a_file_is_one_sentence(capsys, tmp_path, command, where):
    (tmp_path / "afile").write_text("x")
    folder = tmp_path / "afile" if where == "file" else tmp_path / "afile" / "sub"
    if command == "import":
        args = ["data", "import", str(tmp_path / "missing.json"), "--data-dir", str(folder)]
    else:
        args = ["data", "download", "nb201", "--dest", str(folder), "--data-dir", str(tmp_path / "data")]
    code, _, err = cli(capsys, *args)
    one_sentence(code, err, str(folder), "not a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to a read-only folder: the permission case needs a normal user")
def test_a_data_folder_that_cannot_be_written_is_one_sentence(capsys, tmp_path):
    (tmp_path / "ro").mkdir(mode=0o555)
    code, _, err = cli(capsys, "data", "import", str(tmp_path / "missing.json"), "--data-dir", str(tmp_path / "ro" / "data"))
    one_sentence(code, err, "cannot be created")


# -- 13. damaged data is called damaged ---------------------------------------------------------------
def test_damaged_data_is_named_as_damaged_by_validate_and_data_list(capsys, write_matrix, tmp_path, monkeypatch):
    from nasbench_harness import runner

    (tmp_path / "data" / "nb201").mkdir(parents=True)
    (tmp_path / "data" / "nb201" / "table.parquet").write_bytes(b"PAR1")
    (tmp_path / "data" / "nb201" / "manifest.json").write_text("[]")
    monkeypatch.setenv("NASBENCH_HARNESS_DATA", str(tmp_path / "data"))
    runner._load_task.cache_clear()
    path = write_matrix("tasks: [nb201/cifar10]\nmethods: [ridge]\nbudgets: [10]\n")
    try:
        code, _, err = cli(capsys, "validate", str(path))
        one_sentence(code, err, "is not a JSON object", "re-run `nasbench-harness data import`")
    finally:
        runner._load_task.cache_clear()
    code, _, err = cli(capsys, "data", "list")
    assert code == 0 and err.count("problem:") == 1 and "re-run `nasbench-harness data import` for 'nb201'" in err, err
    code, out, _ = cli(capsys, "data", "list", "--json")
    assert code == 0 and all(r["damaged"] for r in json.loads(out) if r["space"] == "nb201")


# -- 16. a plugin whose name collides with a built-in ---------------------------------------------------
def test_a_plugin_colliding_with_a_built_in_is_listed_with_both_packages(capsys, tmp_path, monkeypatch):
    from nasbench_harness import registry

    monkeypatch.syspath_prepend(str(write_plugin(tmp_path / "clash", "nbh-clash", "[nasbench_harness.predictors]\nridge = nbh_clash:Ridge\n")))
    registry.clear_caches()
    try:
        code, out, _ = cli(capsys, "list", "predictors", "--json")
        row = {r["name"]: r for r in json.loads(out)}["ridge"]
        assert code == 0 and row["broken"] and "nbh-clash" in row["description"] and "nasbench-harness" in row["description"], row
    finally:
        monkeypatch.undo()
        registry.clear_caches()
