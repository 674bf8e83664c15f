"""The runner: run keys, resume, failures recorded and retried, --force, real kills."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from nasbench_harness.executors import SerialExecutor
from nasbench_harness.matrix import load_matrix
from nasbench_harness.runner import estimate_seconds, execute, plan
from nasbench_harness.store import ResultStore

SCHEMA = {
    "key", "matrix", "protocol", "protocol_params", "task", "space", "dataset", "predictor", "encoding", "loss",
    "method", "params", "budget", "n_train", "n_eval", "seed", "status", "error", "kendall_tau",
    "fit_seconds", "predict_seconds", "total_seconds", "eval_is_test", "code_version", "data_checksum", "versions", "finished_at",
}


def run_once(matrix_path, results, force=False):
    m = load_matrix(matrix_path)
    store = ResultStore(results)
    p = plan(m, store, force=force)
    return p, execute(p, store, SerialExecutor())


def test_run_stores_one_row_per_cell_with_the_schema(toy_matrix, tmp_path):
    p, s = run_once(toy_matrix, tmp_path / "r")
    assert (s.n_cells, s.n_ok, s.n_failed, s.n_skipped) == (8, 8, 0, 0)
    df = ResultStore(tmp_path / "r").read()
    assert len(df) == 8 and set(df["key"]) == set(p.keys)
    assert SCHEMA <= set(df.columns)
    assert (df["status"] == "ok").all() and (df["n_eval"] == 600).all()
    assert set(df["n_train"]) == {30, 20}
    assert "numpy" in df["versions"].iloc[0] and df["code_version"].str.contains("code=").all()
    assert len(ResultStore(tmp_path / "r").shard_files()) == 1  # compacted at the end


def test_rerun_skips_stored_cells_and_force_recomputes_identically(toy_matrix, tmp_path):
    run_once(toy_matrix, tmp_path)
    first = ResultStore(tmp_path).read().set_index("key").sort_index()
    p, s = run_once(toy_matrix, tmp_path)
    assert (s.n_skipped, s.n_ok) == (8, 0) and p.n_done == 8
    p, s = run_once(toy_matrix, tmp_path, force=True)
    assert (s.n_skipped, s.n_ok) == (0, 8)
    again = ResultStore(tmp_path).read().set_index("key").sort_index()
    np.testing.assert_array_equal(first["kendall_tau"], again["kendall_tau"])
    assert (again["finished_at"] > first["finished_at"]).all()


def test_failed_cells_are_recorded_and_retried(write_matrix, example_plugin, tmp_path):
    path = write_matrix("tasks: [toy/synthetic]\nmethods: [knn, {predictor: knn, params: {chunk: 0}}]\nbudgets: [10]\nseeds: [0]\n")
    p, s = run_once(path, tmp_path)
    assert (s.n_ok, s.n_failed) == (1, 1)
    df = ResultStore(tmp_path).read()
    failed = df[df["status"] == "failed"].iloc[0]
    assert "ValueError" in failed["error"] and failed["method"] == "knn(chunk=0)"
    p2 = plan(load_matrix(path), ResultStore(tmp_path))
    assert p2.n_done == 1 and len(p2.pending) == 1  # the failure is not cached


def test_code_or_data_change_gives_new_keys(toy_matrix, tmp_path, monkeypatch):
    p1 = plan(load_matrix(toy_matrix), ResultStore(tmp_path))
    import nasbench_harness.runner as runner

    monkeypatch.setattr(runner, "code_version", lambda *a: "other-code")
    p2 = plan(load_matrix(toy_matrix), ResultStore(tmp_path))
    assert not set(p1.keys) & set(p2.keys)


def test_dry_run_estimate_uses_stored_timings(toy_matrix, tmp_path):
    store = ResultStore(tmp_path)
    p = plan(load_matrix(toy_matrix), store)
    prior = estimate_seconds(p, store)
    assert prior == pytest.approx(8 * 0.5)  # the prior knn's class declares
    run_once(toy_matrix, tmp_path)
    p = plan(load_matrix(toy_matrix), store, force=True)
    measured = estimate_seconds(p, store)
    assert 0 < measured < prior


KILL_MATRIX = "tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10]\nseeds: 400\n"


def _default_sigint() -> None:
    # A shell that starts jobs in the background (as CI may) leaves SIGINT ignored, and
    # Python then installs no KeyboardInterrupt handler: restore what a terminal gives.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(matrix, results, executor: str = "serial") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "nasbench_harness", "run", "--matrix", str(matrix), "--results", str(results), "--executor", executor, "--jobs", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


def _wait_for_shards(results, n: int, proc, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list((results / "shards").glob("part-*.parquet"))) >= n if (results / "shards").is_dir() else False:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it could be killed: {proc.stderr.read()}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("no shards appeared")


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig, executor",
    [(signal.SIGKILL, "serial"), (signal.SIGINT, "serial"), (signal.SIGKILL, "process"), (signal.SIGINT, "process")],
    ids=["sigkill-serial", "sigint-serial", "sigkill-process", "sigint-process"],
)
def test_killed_run_loses_only_cells_in_flight_and_resumes(write_matrix, example_plugin, tmp_path, sig, executor):
    """A real signal mid-run: whole shards only, and the rerun completes the rest.

    For the process pool, orphaned workers must exit with their parent (communicate()
    would hang on their inherited pipes otherwise)."""
    matrix = write_matrix(KILL_MATRIX, "kill.yaml")
    results = tmp_path / "results"
    proc = _start(matrix, results, executor)
    _wait_for_shards(results, 15, proc)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert "rerun the same command to resume" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    store = ResultStore(results)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no shard may be corrupt
        stored = store.read()
    assert 15 <= len(stored) < 400 and (stored["status"] == "ok").all()
    proc = _start(matrix, results)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert f"{len(stored)} already done" in out
    final = store.read()
    assert len(final) == 400 and set(stored["key"]) <= set(final["key"])
    merged = final.set_index("key").loc[stored["key"], "kendall_tau"].to_numpy()
    np.testing.assert_array_equal(merged, stored["kendall_tau"].to_numpy())


def test_every_cell_runs_alone_through_execute_cell(write_matrix, tmp_path, monkeypatch):
    """One execution path: the executor gets single cells (no units of cells fitted together,
    whatever the old NASBENCH_HARNESS_GROUP_SIZE says), and every row carries its CPU time."""
    from nasbench_harness.runner import execute_cell

    monkeypatch.setenv("NASBENCH_HARNESS_GROUP_SIZE", "8")
    path = write_matrix("tasks: [toy/synthetic]\nmethods: [{predictor: gcn, params: {epochs: 2}}]\nbudgets: [20]\nseeds: [0, 1, 2]\n")
    seen = []

    class Recording(SerialExecutor):
        def map(self, fn, items, **kw):
            seen.extend((fn, item) for item in items)
            yield from super().map(fn, items, **kw)

    store = ResultStore(tmp_path)
    s = execute(plan(load_matrix(path), store), store, Recording())
    assert s.n_ok == 3 and len(seen) == 3
    assert all(fn is execute_cell and isinstance(item, dict) for fn, item in seen)
    assert ResultStore(tmp_path).read()["cpu_seconds"].notna().all()
