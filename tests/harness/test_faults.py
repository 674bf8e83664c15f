"""Fault injection: dead and hung workers, exiting methods, damaged shards, bad input.

Misbehaving methods come from a real plugin (predictor ``faulty``) that these tests write
to a temporary folder as a package plus its ``.dist-info`` entry point, put on
``PYTHONPATH`` (so spawned workers find it too) and register. ``fault`` says what it does
in ``fit``; with ``marker`` set it misbehaves only its first ``times`` calls (counted with
files in that folder, across processes), so a retry in a fresh worker can succeed.
"""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import write_plugin
from nasbench_harness import registry
from nasbench_harness import store as store_module
from nasbench_harness.cli import main
from nasbench_harness.executors import make_executor
from nasbench_harness.matrix import load_matrix
from nasbench_harness.runner import execute, plan
from nasbench_harness.store import ResultStore

FAULTY_MODULE = '''
import os, signal, sys, time
from pathlib import Path

import numpy as np

from nasbench_harness.methods.base import Predictor


class FaultyPredictor(Predictor):
    """Sums the encoding; misbehaves in fit as told (fault-injection tests only)."""

    name = "faulty"
    description = "Fault-injection predictor for the harness tests."
    inputs = "encoding"
    default_encoding = "onehot"
    default_params = {"fault": "none", "times": 1000, "marker": "", "tag": 0, "seconds": 0.0}

    def fit(self, archs, y, *, unlabeled=None):
        fault, marker = self.params["fault"], self.params["marker"]
        if marker:
            folder = Path(marker)
            folder.mkdir(parents=True, exist_ok=True)
            calls = len(list(folder.iterdir()))
            (folder / f"{calls}-{os.getpid()}-{time.time_ns()}").touch()
            if calls >= self.params["times"]:
                fault = "none"
        if fault == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif fault == "exit":
            os._exit(7)
        elif fault == "sysexit":
            sys.exit(3)
        elif fault == "hang":
            time.sleep(3600)
        elif fault == "sleep":  # a slow but healthy cell
            time.sleep(self.params["seconds"])
        self._w = np.linspace(1.0, 2.0, archs.encoding(self.encoding).shape[1])

    def predict(self, archs):
        return archs.encoding(self.encoding) @ self._w
'''


@pytest.fixture(scope="session")
def faulty_plugin(tmp_path_factory):
    """Install (on a temporary path) the plugin whose predictor ``faulty`` misbehaves."""
    root = tmp_path_factory.mktemp("faulty-plugin")
    (root / "nbh_faulty_plugin.py").write_text(textwrap.dedent(FAULTY_MODULE))
    info = root / "nbh_faulty_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nbh-faulty-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[nasbench_harness.predictors]\nfaulty = nbh_faulty_plugin:FaultyPredictor\n")
    before = os.environ.get("PYTHONPATH")
    sys.path.insert(0, str(root))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), before or "") if p)  # spawned workers
    importlib.invalidate_caches()
    registry.clear_caches()
    assert "faulty" in registry.names("predictors")
    yield str(root)
    sys.path.remove(str(root))
    if before is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = before
    registry.clear_caches()


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """``main(args)`` in-process: (exit code, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    out, err = capsys.readouterr()
    return code, out, err


def faulty_matrix(write_matrix, methods: str, seeds: int = 1, budgets: str = "[10]") -> str:
    return write_matrix(f"tasks: [toy/synthetic]\nmethods: {methods}\nbudgets: {budgets}\nseeds: {seeds}\n")


def run_matrix(path, results, executor: str = "serial", jobs: int = 1, **kw):
    store = ResultStore(results)
    p = plan(load_matrix(path), store)
    with make_executor(executor, jobs) as ex:
        summary = execute(p, store, ex, **kw)
    return summary, store.read()


def by_tag(df):
    import json

    return {json.loads(p)["predictor"].get("tag", 0): r for p, r in zip(df["params"], df.to_dict("records"))}


# -- 1. dead workers ----------------------------------------------------------------------
@pytest.mark.parametrize("executor", ["serial", "process"])
def test_dead_worker_is_retried_once_then_recorded_and_the_run_goes_on(faulty_plugin, write_matrix, tmp_path, executor):
    """kill -9 (always), os._exit (first call only), sys.exit: the run ends normally."""
    marker = tmp_path / "once"
    path = faulty_matrix(
        write_matrix,
        "[{predictor: faulty, params: {fault: kill, tag: 1}},"
        f" {{predictor: faulty, params: {{fault: exit, times: 1, marker: '{marker}', tag: 2}}}},"
        " {predictor: faulty, params: {fault: sysexit, tag: 3}},"
        " {predictor: faulty, params: {tag: 4}}]",
    )
    summary, df = run_matrix(path, tmp_path / "r", executor, jobs=2)
    assert (summary.n_ok, summary.n_failed) == (2, 2)
    rows = by_tag(df)
    assert rows[1]["status"] == "failed" and rows[1]["error"] == "worker died: signal 9"
    assert rows[2]["status"] == "ok"  # died once (os._exit), retried in a fresh worker
    assert len(list(marker.iterdir())) == 2
    assert rows[3]["status"] == "failed" and rows[3]["error"] == "the method called sys.exit(3)"
    assert rows[4]["status"] == "ok"


def test_hung_method_is_stopped_by_the_cell_timeout(faulty_plugin, write_matrix, tmp_path):
    """The parent kills the hung worker, retries once, then records the timeout; the
    healthy cell still runs and the process pool is not respawned per cell."""
    path = faulty_matrix(write_matrix, "[{predictor: faulty, params: {fault: hang, tag: 1}}, {predictor: faulty, params: {tag: 2}}, {predictor: faulty, params: {tag: 3}}]")
    with make_executor("process", 2) as ex:
        store = ResultStore(tmp_path / "r")
        summary = execute(plan(load_matrix(path), store), store, ex, cell_timeout=1.5)
        assert ex._pool.deaths == 2  # the hung cell's worker, killed twice; the healthy worker is reused
    rows = store.read()
    assert (summary.n_ok, summary.n_failed) == (2, 1)
    assert set(rows.loc[rows["status"] == "failed", "error"]) == {"exceeded cell timeout of 1.5 s"}


@pytest.mark.slow
def test_dask_worker_death_and_timeout(faulty_plugin, write_matrix, tmp_path):
    pytest.importorskip("dask.distributed")
    marker = tmp_path / "once"
    path = faulty_matrix(
        write_matrix,
        "[{predictor: faulty, params: {fault: kill, tag: 1}},"
        f" {{predictor: faulty, params: {{fault: exit, times: 1, marker: '{marker}', tag: 2}}}},"
        " {predictor: faulty, params: {fault: hang, tag: 3}}, {predictor: faulty, params: {tag: 4}}]",
    )
    summary, df = run_matrix(path, tmp_path / "r", "dask", jobs=2, cell_timeout=3)
    rows = by_tag(df)
    assert rows[1]["status"] == "failed" and rows[1]["error"].startswith("worker died")
    assert rows[2]["status"] == "ok", rows[2]["error"]
    assert rows[3]["status"] == "failed" and rows[3]["error"] == "exceeded cell timeout of 3 s"
    assert rows[4]["status"] == "ok"


@pytest.mark.slow
def test_dask_worker_killed_mid_cell_loses_and_duplicates_no_cell(faulty_plugin, write_matrix, tmp_path):
    """A LocalCluster of 2 workers; once the first result is stored, one worker is killed
    with SIGKILL while it is inside a cell: that cell is retried elsewhere (or in the nanny's
    fresh worker) and every cell is stored exactly once."""
    import signal

    pytest.importorskip("dask.distributed")
    marker = tmp_path / "calls"  # one file per fit call: "<n>-<pid>-<ns>"
    path = faulty_matrix(write_matrix, f"[{{predictor: faulty, params: {{fault: sleep, seconds: 1.5, marker: '{marker}'}}}}]", seeds=8)
    store = ResultStore(tmp_path / "r")
    p = plan(load_matrix(path), store)
    killed: list[int] = []

    def fits_by(pid: int) -> int:
        return sum(f.name.split("-")[1] == str(pid) for f in marker.iterdir()) if marker.exists() else 0

    with make_executor("dask", 2) as ex:
        victim = next(iter(ex.client.run(os.getpid).values()))

        def kill_in_next_fit(before: int) -> None:
            deadline = time.monotonic() + 60
            while fits_by(victim) == before and time.monotonic() < deadline:
                time.sleep(0.02)
            os.kill(victim, signal.SIGKILL)
            killed.append(fits_by(victim) > before)

        def kill_once(rows):
            # Wait for the victim's next fit in a thread: blocking here would stop the executor
            # from handing out cells, and the victim would be killed idle instead.
            if not watcher:
                watcher.append(threading.Thread(target=kill_in_next_fit, args=(fits_by(victim),)))
                watcher[0].start()

        watcher: list[threading.Thread] = []
        summary = execute(p, store, ex, progress=kill_once)
        watcher[0].join()
    df = store.read()
    assert killed == [True]  # killed inside a fit
    assert (summary.n_ok, summary.n_failed) == (8, 0), summary.failures
    assert len(df) == len(p.cells) == 8 and df["key"].is_unique and set(df["key"]) == set(p.keys)
    assert (df["status"] == "ok").all()
    # 8 cells + the one cut short by the kill, run again (a result the dead worker held but had
    # not handed back yet is recomputed too)
    assert len(list(marker.iterdir())) >= 9


# -- 3. damaged and foreign shards --------------------------------------------------------
def sample_rows(n: int = 12) -> list[dict]:
    return [
        {"key": f"k{i:03d}", "task": "toy/synthetic", "method": "m", "status": "ok" if i % 3 else "failed", "error": "" if i % 3 else "boom",
         "budget": 10.0, "seed": i, "kendall_tau": 0.1 * i, "finished_at": f"2026-01-01T00:00:{i:02d}"}
        for i in range(n)
    ]


def test_every_bit_flip_in_a_shard_is_skipped_with_a_warning_or_reads_back_identical(tmp_path):
    """Flip one bit at 300 positions spread over a compacted shard (header, data pages,
    footer, metadata): each read either skips the shard with a warning naming it, or gives
    exactly the original rows. Never a traceback, never different data."""
    from nasbench_harness.errors import CorruptShardWarning

    store = ResultStore(tmp_path / "r")
    for rows in (sample_rows()[:6], sample_rows()[6:]):
        store.append(rows)
    shard = store.compact()
    original = store.read()
    pristine = shard.read_bytes()
    positions = sorted(set(int(p) for p in np.linspace(0, len(pristine) - 1, 300)))
    skipped = identical = 0
    for n, pos in enumerate(positions):
        damaged = bytearray(pristine)
        damaged[pos] ^= 1 << (n % 8)
        shard.write_bytes(bytes(damaged))
        fresh = ResultStore(store.path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = fresh.read()
        if fresh.problems:
            assert len(got) == 0 and shard.name in fresh.problems[0]
            # warned now, or by an earlier flip with the same message (warnings are shown once per process)
            assert any(issubclass(w.category, CorruptShardWarning) for w in caught) or fresh.problems[0] in store_module._warned
            skipped += 1
        else:
            pd.testing.assert_frame_equal(got, original)
            identical += 1
    print(f"bit flips: {len(positions)} positions in a {len(pristine)}-byte shard, {skipped} skipped with a warning, {identical} read back identical")
    assert skipped + identical == len(positions) and skipped > 0


def test_foreign_parquet_is_refused_not_compacted_and_report_still_works(toy_matrix, tmp_path, capsys):
    results = tmp_path / "r"
    assert cli(capsys, "run", "--matrix", str(toy_matrix), "--results", str(results))[0] == 0
    foreign = results / "shards" / "part-9-9-9.parquet"
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_parquet(foreign)
    store = ResultStore(results)
    with pytest.warns(Warning, match="not a nasbench-harness result shard"):
        store.compact()
    assert foreign.exists() and len(store.read()) == 8
    assert cli(capsys, "report", "--results", str(results), "--out", str(tmp_path / "rep"))[0] == 0
    assert (tmp_path / "rep" / "index.html").exists()


def test_shards_get_normal_permissions_and_stale_tmp_files_are_removed(tmp_path):
    store = ResultStore(tmp_path / "r")
    shard = store.append(sample_rows(2))
    assert shard.stat().st_mode & 0o777 == 0o666 & ~_umask()
    stale = store.shard_dir / ".part-1.abc.tmp"
    fresh = store.shard_dir / ".part-2.abc.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    store.compact()
    assert not stale.exists() and fresh.exists()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- 6. full disk -------------------------------------------------------------------------
def test_full_disk_is_one_sentence_not_masked_by_compaction(toy_matrix, tmp_path, monkeypatch, capsys):
    import errno

    import pyarrow.parquet as pq

    real = pq.write_table
    calls = [0]

    def fill_up(table, where, **kw):
        calls[0] += 1
        if calls[0] > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(table, where, **kw)

    monkeypatch.setattr(pq, "write_table", fill_up)
    code, _, err = cli(capsys, "run", "--matrix", str(toy_matrix), "--results", str(tmp_path / "r"))
    assert code == 2
    assert "is full (no space left on device)" in err and "Traceback" not in err and err.count("error:") == 1
    assert len(ResultStore(tmp_path / "r").read()) == 3  # what fitted is kept


# -- 5, 8. mistakes that validate (and run) catch; exit codes -----------------------------
@pytest.mark.parametrize(
    "methods, fragment",
    [
        ("[{predictor: knn, label: A}, {predictor: knn, params: {k: 2}, label: A}]", "two different methods have the label 'A'"),
        ("[{predictor: knn, encoding: onehott}]", "Unknown encoding 'onehott'"),
        ("[{predictor: knn, params: {k: 'five'}}]", "expects an integer for 'k'"),
    ],
    ids=["duplicate-label", "unknown-encoding", "mistyped-param"],
)
def test_validate_and_run_refuse_what_every_cell_would_fail(capsys, write_matrix, example_plugin, tmp_path, methods, fragment):
    path = faulty_matrix(write_matrix, methods)
    for args in (("validate", str(path)), ("run", "--matrix", str(path), "--results", str(tmp_path / "r"))):
        code, _, err = cli(capsys, *args)
        assert code == 2 and fragment in err and "Traceback" not in err, err
    assert not (tmp_path / "r").exists()


def test_budget_larger_than_the_task_fails_validate_with_the_run_sentence(capsys, write_matrix, example_plugin, tmp_path):
    path = faulty_matrix(write_matrix, "[knn]", budgets="[5000]")
    _, _, validate_err = cli(capsys, "validate", str(path))
    code, _, run_err = cli(capsys, "run", "--matrix", str(path), "--results", str(tmp_path / "r"))
    assert code == 2 and "exceeds the 600 architectures of task 'toy/synthetic'" in validate_err
    assert validate_err == run_err


def test_run_exits_1_saying_how_many_failed_and_filters_must_match(capsys, write_matrix, example_plugin, tmp_path):
    path = faulty_matrix(write_matrix, "[knn, {predictor: knn, params: {chunk: 0}}]", budgets="[20, 30]")
    results = str(tmp_path / "r")
    code, _, err = cli(capsys, "run", "--matrix", str(path), "--results", results, "--filter", "budget=20.0")
    assert code == 1 and "1 cell(s) failed" in err  # budget=20.0 matched budget 20: 2 cells, 1 failing
    assert len(ResultStore(results).read()) == 2
    code, _, err = cli(capsys, "run", "--matrix", str(path), "--results", results, "--filter", "budget=25")
    assert code == 2 and "match none of the 4 cells" in err


# -- 4. data checksums --------------------------------------------------------------------
def test_changed_cache_table_is_refused_at_run_time_and_dry_run_says_it_trusts(capsys, cache_for, example_plugin, write_matrix, tmp_path, monkeypatch):
    """A still-valid table whose column was altered after import: `run` refuses it in one
    sentence (instead of reusing the old keys as "already done"); `--dry-run` trusts the
    manifest and says so."""
    import shutil

    import pyarrow.parquet as pq
    from nasbench_harness import runner

    src = cache_for("darts").space_dir("darts")
    root = tmp_path / "data"
    shutil.copytree(src, root / "darts")
    monkeypatch.setenv("NASBENCH_HARNESS_DATA", str(root))
    runner._load_task.cache_clear()
    runner._check_space_table.cache_clear()
    table = pq.read_table(root / "darts" / "table.parquet").to_pandas()
    metric = [c for c in table.columns if c != "arch_id"][0]
    table[metric] = table[metric][::-1].to_numpy()  # still a valid table, different data
    table.to_parquet(root / "darts" / "table.parquet", index=False)
    path = write_matrix("tasks: [darts/cifar10]\nmethods: [knn]\nbudgets: [20]\nseeds: 1\n")
    try:
        code, out, _ = cli(capsys, "run", "--matrix", str(path), "--results", str(tmp_path / "r"), "--dry-run")
        assert code == 0 and "read from the manifests, not re-hashed" in out
        code, _, err = cli(capsys, "run", "--matrix", str(path), "--results", str(tmp_path / "r"))
        assert code == 2 and "changed since it was imported" in err and "Traceback" not in err
    finally:
        runner._load_task.cache_clear()
        runner._check_space_table.cache_clear()


def test_reimporting_the_same_data_keeps_column_order_and_checksum(tmp_path):
    """A second importer's columns sit between; re-importing the first file must not move
    its columns to the end (which changed the checksum and every run key of the space)."""
    from nasbench_harness.tasks.cache import DataCache, SourceFile

    cache = DataCache(tmp_path)
    ids = [f"a{i}" for i in range(5)]
    first = pd.DataFrame({"arch_id": ids, "x.val_acc": np.arange(5.0), "x.test_acc": np.arange(5.0) + 1})
    second = pd.DataFrame({"arch_id": ids, "zc.synflow": np.arange(5.0) * 2})
    src = SourceFile("f", "0" * 64, 1, "test")
    cache.write_table("sp", first, sources=[src], importer="one", importer_version=1)
    cache.write_table("sp", second, sources=[src], importer="two", importer_version=1)
    before = (list(cache.read_table("sp").columns), cache.table_checksum("sp"))
    cache.write_table("sp", first, sources=[src], importer="one", importer_version=1)
    assert (list(cache.read_table("sp").columns), cache.table_checksum("sp")) == before


# -- 7. input limits ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, fragment",
    [
        ("tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10]\nseeds: [99999999999999999999]\n", "expected a non-negative int seed (at most 2147483647)"),
        ("tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10]\nseeds: 3000000\n", "expected a number of seeds between 1 and 10000"),
        ("[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        (b"\x00\xff\xfe PAR1 \x89\x10" * 100, "is not a UTF-8 text file"),
    ],
    ids=["huge-seed", "million-seeds", "deep-yaml", "binary-file"],
)
def test_oversized_or_foreign_matrix_input_is_one_fast_sentence(capsys, write_matrix, example_plugin, text, fragment, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    code, _, err = cli(capsys, "validate", str(path))
    assert code == 2 and fragment in err and "Traceback" not in err, err


def test_a_manifest_that_is_a_json_list_is_one_sentence(tmp_path):
    from nasbench_harness.errors import DataError
    from nasbench_harness.tasks.cache import DataCache

    (tmp_path / "nb201").mkdir()
    (tmp_path / "nb201" / "manifest.json").write_text("[1, 2, 3]")
    with pytest.raises(DataError, match="is not a JSON object"):
        DataCache(tmp_path).table_checksum("nb201")


def test_bz2_pickle_bomb_is_refused_before_it_is_unpacked(tmp_path, monkeypatch):
    import bz2

    from nasbench_harness.errors import DataError
    from nasbench_harness.tasks.importers import nb201

    monkeypatch.setattr(nb201, "MIN_UNPACKED_BYTES", 1 << 20)  # the real floor is 64 MB; 1 MB keeps the test light
    bomb = tmp_path / "0.pickle.pbz2"
    bomb.write_bytes(bz2.compress(b"\0" * (50 << 20)))  # 50 MB of zeros in ~50 bytes
    with pytest.raises(DataError, match="decompresses to more than"):
        nb201.load_nats_pickle(bomb)


# -- 9. lower items -----------------------------------------------------------------------
@pytest.mark.parametrize("inc", ["/etc/passwd", "../outside.yaml", "sub/../../outside.yaml"])
def test_include_refuses_absolute_and_parent_paths_without_echoing(capsys, write_matrix, example_plugin, tmp_path, inc):
    (tmp_path.parent / "outside.yaml").write_text("secret: do-not-echo\n")
    path = write_matrix(f"tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10]\ninclude: ['{inc}']\n")
    code, _, err = cli(capsys, "validate", str(path))
    assert code == 2 and "relative path" in err and "do-not-echo" not in err and "root:" not in err


def test_yaml_error_does_not_echo_the_file(capsys, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("tasks: [toy/synthetic\nmethods: 'topsecret-value\n")
    code, _, err = cli(capsys, "validate", str(path))
    assert code == 2 and "not valid YAML" in err and "topsecret" not in err


def test_report_out_deletes_only_pages_it_wrote(capsys, toy_matrix, tmp_path):
    results, out = tmp_path / "r", tmp_path / "rep"
    assert cli(capsys, "run", "--matrix", str(toy_matrix), "--results", str(results))[0] == 0
    (out / "boards").mkdir(parents=True)
    mine = out / "boards" / "my-notes.html"
    mine.write_text("<p>mine</p>")
    assert cli(capsys, "report", "--results", str(results), "--out", str(out))[0] == 0
    assert mine.exists()
    ours = sorted(p.name for p in (out / "boards").glob("*.html") if p != mine)
    assert ours, "the report writes board pages"
    ResultStore(results).shard_files()[0].unlink()  # no results at all any more: no boards
    ResultStore(results).append(sample_rows(1))
    cli(capsys, "report", "--results", str(results), "--out", str(out))
    assert mine.exists()


def test_one_broken_plugin_is_listed_as_broken_not_fatal(capsys, tmp_path, monkeypatch, example_plugin):
    """A plugin whose import calls sys.exit (the worst a module can do at import)."""
    root = write_plugin(tmp_path / "broken", "nbh-broken-plugin", "[nasbench_harness.predictors]\nbrokenpred = nbh_broken_plugin:Nope\n",
                        {"nbh_broken_plugin.py": "import sys\nsys.exit('cannot start')\n"})
    monkeypatch.syspath_prepend(str(root))
    registry.clear_caches()
    try:
        code, out, _ = cli(capsys, "list", "predictors", "--json")
        import json

        rows = {r["name"]: r for r in json.loads(out)}
        assert code == 0 and rows["brokenpred"].get("broken") and "knn" in rows and not rows["knn"].get("broken")
    finally:
        monkeypatch.undo()
        registry.clear_caches()


# -- 10. soak: random worker kills and shard damage end in the undisturbed rows --------
VOLATILE = ["fit_seconds", "predict_seconds", "total_seconds", "cpu_seconds", "finished_at", "versions"]  # timings, host, timestamps


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in VOLATILE if c in df.columns]).sort_values("key").reset_index(drop=True)


def soak(matrix, results, rng, kill_p: float, damage_p: float, max_rounds: int = 8) -> dict:
    """Run ``matrix`` on one process pool, round after round, until every cell is stored ok.

    After each stored cell a random worker is SIGKILLed with probability ``kill_p`` (the
    cell it runs is retried); after each round every new part shard is damaged (one
    flipped bit) with probability ``damage_p``, and the damage the store detects is moved
    aside so that its cells run again in the next round."""
    stats = {"rounds": 0, "kills": 0, "damaged": 0, "detected": 0, "failed_rows": 0}
    store = ResultStore(results)
    with make_executor("process", 2) as ex:
        for _ in range(max_rounds):
            p = plan(load_matrix(matrix), store)
            if not p.pending:
                break
            stats["rounds"] += 1
            summary = execute(p, store, ex, compact=False, progress=lambda rows: _maybe_kill(ex, rng, kill_p, stats))
            stats["failed_rows"] += summary.n_failed
            _damage_shards(store, rng, damage_p, stats)
            store.compact()
    return stats


def _maybe_kill(ex, rng, kill_p: float, stats: dict) -> None:
    import signal

    pids = ex._pool.pids()
    if pids and rng.random() < kill_p:
        try:
            os.kill(rng.choice(pids), signal.SIGKILL)
            stats["kills"] += 1
        except ProcessLookupError:
            pass


def _damage_shards(store, rng, damage_p: float, stats: dict) -> None:
    for shard in store.shard_files():
        if shard.name.startswith("part-") and rng.random() < damage_p:
            data = bytearray(shard.read_bytes())
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            shard.write_bytes(bytes(data))
            stats["damaged"] += 1
    fresh = ResultStore(store.path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh.read()
    stats["detected"] += len(fresh.problems)
    for shard in store.shard_files():
        if any(str(shard) in msg for msg in fresh.problems):
            shard.rename(shard.with_name(shard.name + ".damaged"))


@pytest.mark.slow
def test_soak_random_kills_and_shard_damage_end_with_the_undisturbed_rows(write_matrix, example_plugin, tmp_path):
    """NBH_SOAK_SCALE (default 1: ~60 cells, CI-sized) scales the seeds for a longer soak."""
    import random

    scale = int(os.environ.get("NBH_SOAK_SCALE", "1"))
    path = write_matrix(f"tasks: [toy/synthetic]\nmethods: [knn, {{predictor: knn, params: {{k: 2}}}}]\nbudgets: [10, 30]\nseeds: {15 * scale}\n")
    reference, _ = run_matrix(path, tmp_path / "calm", "process", jobs=2)
    assert reference.n_failed == 0
    rng = random.Random(20261130)
    stats = soak(path, tmp_path / "stormy", rng, kill_p=0.15, damage_p=0.3)
    calm = _comparable(ResultStore(tmp_path / "calm").read())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stormy = _comparable(ResultStore(tmp_path / "stormy").read())
    lost = len(set(calm["key"]) - set(stormy["key"]))
    print(f"soak: {len(calm)} cells, {stats}, rows lost {lost}")
    assert lost == 0 and (stormy["status"] == "ok").all()
    pd.testing.assert_frame_equal(stormy[calm.columns], calm, check_dtype=False)  # failed rows on the way make int columns float
    assert stats["kills"] > 0 and stats["detected"] > 0  # undetected flips are the ones that read back identical


def test_shards_from_another_pandas_version_are_read_unverified(tmp_path):
    """Digests use pandas' hashing: a shard written under another pandas minor version is
    read as it is (not skipped), like shards written before digests existed."""
    import pyarrow.parquet as pq

    store = ResultStore(tmp_path / "r")
    shard = store.append(sample_rows(3))
    table = pq.read_table(shard)
    meta = dict(table.schema.metadata)
    meta[store_module.HASHER_KEY] = b"0.1"
    meta[store_module.DIGEST_KEY] = b'{"key": "0"}'  # would fail verification
    pq.write_table(table.replace_schema_metadata(meta), shard)
    assert len(ResultStore(store.path).read()) == 3
