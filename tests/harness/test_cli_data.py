"""The `data` commands through the CLI: import, list, verify, info, and their bad-input paths."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from nasbench_harness.cli_data import data_app
from typer.testing import CliRunner

runner = CliRunner()


def run(*args: str, data_dir: Path):
    return runner.invoke(data_app, [*args, "--data-dir", str(data_dir)])


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()} if root.exists() else {}


@pytest.fixture(scope="module")
def imported(shared_data, tmp_path_factory) -> Path:
    """A cache with the shared NB201 folder imported through the CLI (sources copied, so they can be altered)."""
    root = tmp_path_factory.mktemp("cli")
    src = root / "src"
    shutil.copytree(shared_data / "nasbench201", src)
    data = root / "data"
    result = run("import", str(src), data_dir=data)
    assert result.exit_code == 0, result.output
    return data


def test_import_prints_a_table_of_what_was_imported(imported, shared_data, tmp_path):
    result = run("import", str(shared_data / "nasbench201" / "nasgraph_nasbench201_cifar100.csv"), data_dir=tmp_path)
    assert result.exit_code == 0, result.output
    assert "nb201-nasgraph-csv" in result.output and "15,625" in result.output


def test_list_json_has_the_documented_fields(imported):
    result = run("list", "--json", data_dir=imported)
    assert result.exit_code == 0, result.output
    rows = {r["task"]: r for r in json.loads(result.stdout)}
    for key in ("task", "space", "dataset", "n_archs", "train_metric", "eval_metric", "best_train", "best_eval", "eval_is_test", "source"):
        assert key in rows["nb201/cifar10"]
    c10 = rows["nb201/cifar10"]
    assert c10["n_archs"] == 15625 and c10["available"] and c10["eval_is_test"]
    assert round(c10["best_train"], 2) == 91.61 and round(c10["best_eval"], 2) == 94.37
    assert rows["nb201/svhn"]["available"] is False and rows["nb201/svhn"]["n_archs"] == 0


def test_list_table(imported):
    result = run("list", data_dir=imported)
    assert result.exit_code == 0
    assert "nb201/cifar100" in result.output and "73.51" in result.output


def test_info(imported):
    result = run("info", "nb201/ImageNet16-120", data_dir=imported)
    assert result.exit_code == 0, result.output
    assert "47.31" in result.output and "46.73" in result.output and "sha256" in result.output
    bad = run("info", "nb201/cifar1000", data_dir=imported)
    assert bad.exit_code == 2
    assert "Unknown task 'nb201/cifar1000'" in bad.output and "Did you mean 'nb201/cifar100'" in bad.output


def test_verify_ok_then_detects_a_changed_source_and_table(imported, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(imported, data)
    ok = run("verify", data_dir=data)
    assert ok.exit_code == 0, ok.output
    assert "nb201: 15,625 rows, ok" in ok.output
    manifest = json.loads((data / "nb201" / "manifest.json").read_text())
    source = Path(next(s["path"] for s in manifest["sources"] if s["path"].endswith("cifar100.csv")))
    original = source.read_bytes()
    try:
        source.write_bytes(original.replace(b"infer.tiny", b"infer.tinx", 1))
        changed = run("verify", data_dir=data)
        assert changed.exit_code == 1
        assert "changed since it was imported" in changed.output
    finally:
        source.write_bytes(original)
    table = data / "nb201" / "table.parquet"
    table.write_bytes(table.read_bytes()[:-10] + b"0123456789")
    broken = run("verify", data_dir=data)
    assert broken.exit_code == 1 and "changed since import" in broken.output


def test_verify_on_an_empty_cache(tmp_path):
    result = run("verify", data_dir=tmp_path)
    assert result.exit_code == 2 and "Nothing is imported" in result.output


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.csv", "does not exist"),
        (lambda d: (d / "notes.txt").write_text("hello") and d / "notes.txt", "not a benchmark format"),
    ],
)
def test_bad_paths_exit_2_with_one_sentence(tmp_path, make, message):
    path = make(tmp_path)
    result = run("import", str(path), data_dir=tmp_path / "data")
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "data").exists() or snapshot(tmp_path / "data") == {}


def test_failed_import_leaves_the_cache_untouched(imported, shared_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(imported, data)
    before = snapshot(data)
    folder = tmp_path / "mixed"
    folder.mkdir()
    # a good file (imported first) and a corrupted one (fails later in the same command)
    shutil.copy(shared_data / "nasbench201" / "vtao_nats_bench_tss_test200.csv", folder)
    pickle_bytes = (shared_data / "nasbench201" / "bayeswatch_mini-bench-arch-cell-accs_12ep.pd").read_bytes()
    (folder / "mini-bench-arch-cell-accs.pd").write_bytes(pickle_bytes[: len(pickle_bytes) - 1000])
    result = run("import", str(folder), data_dir=data)
    assert result.exit_code == 2, result.output
    assert "12-epoch" in result.output
    assert snapshot(data) == before


def test_corrupted_json_is_one_sentence(tmp_path, shared_data):
    text = (shared_data / "nasbench201" / "archvizd3_cifar10_train200.json").read_text()
    bad = tmp_path / "cifar10_train.json"
    bad.write_text(text[:50_000])
    result = run("import", str(bad), data_dir=tmp_path / "data")
    assert result.exit_code == 2
    assert "not a readable ArchVizD3 training JSON" in result.output
    assert snapshot(tmp_path / "data") == {}


def test_mounted_under_the_main_command(imported):
    """`nasbench-harness data ...` in a real process: the group is mounted and errors exit 2."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NASBENCH_HARNESS_DATA": str(imported)}
    cmd = [sys.executable, "-m", "nasbench_harness"]
    ok = subprocess.run([*cmd, "data", "list", "--json"], capture_output=True, text=True, env=env, check=False)
    assert ok.returncode == 0, ok.stderr
    rows = {r["task"]: r for r in json.loads(ok.stdout)}
    assert round(rows["nb201/cifar100"]["best_eval"], 2) == 73.51
    bad = subprocess.run([*cmd, "data", "import", "/nonexistent/file.pth"], capture_output=True, text=True, env=env, check=False)
    assert bad.returncode == 2
    assert "does not exist" in bad.stderr and "Traceback" not in bad.stderr
