"""Runner benchmarks (pytest-benchmark). Run with timings:

    python -m pytest tests/benchmarks/test_bench_runner.py --benchmark-enable -s

- harness overhead per cell, excluding the method's own fit/predict time (target < 20 ms),
  on the toy task with the example k-NN predictor (a trivial method);
- cells per minute for XGBoost on NB201 cifar10 at 1% with the whole space scored;
- speed-up of ``process --jobs 2`` over ``serial`` on the same matrix.

The last two are marked slow (outside the default CI selection; `tox -e bench` runs all).

Measured figures go to ``benchmark.extra_info`` and are printed (``-s``).
"""

from __future__ import annotations

import time

import pandas as pd
import pytest
from nasbench_harness.executors import make_executor
from nasbench_harness.matrix import load_matrix
from nasbench_harness.runner import execute, plan
from nasbench_harness.store import ResultStore


def _run(matrix_path, results, executor="serial", jobs=1):
    store = ResultStore(results)
    p = plan(load_matrix(matrix_path), store, force=True)
    with make_executor(executor, jobs) as ex:
        t0 = time.perf_counter()
        summary = execute(p, store, ex)
        wall = time.perf_counter() - t0
    assert summary.n_failed == 0, summary.failures
    return store.read(), wall


def test_harness_overhead_per_cell(benchmark, example_plugin, tmp_path):
    path = tmp_path / "overhead.yaml"
    path.write_text("tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10]\nseeds: 50\n")
    _run(path, tmp_path / "warm")  # load the task and import everything once
    runs = iter(range(1000))

    def once():
        return _run(path, tmp_path / f"r{next(runs)}")

    df, wall = benchmark.pedantic(once, rounds=3, iterations=1)
    method = float((df["fit_seconds"] + df["predict_seconds"]).sum())
    overhead_ms = (wall - method) / len(df) * 1000
    benchmark.extra_info.update(overhead_ms_per_cell=overhead_ms, cells=len(df))
    print(f"\nharness overhead per cell (excluding fit/predict): {overhead_ms:.2f} ms over {len(df)} cells")
    assert len(df) == 50


@pytest.mark.slow
def test_xgboost_nb201_cells_per_minute(benchmark, cache_for, tmp_path):
    cache_for("nb201")
    path = tmp_path / "xgb.yaml"
    path.write_text("tasks: [nb201/cifar10]\nmethods: [xgboost]\nbudgets: [0.01]\nseeds: 3\n")
    _run(path, tmp_path / "warm")  # encodings are computed once per space, not per cell
    df, wall = benchmark.pedantic(lambda: _run(path, tmp_path / "r"), rounds=1, iterations=1)
    per_minute = 60 * len(df) / wall
    benchmark.extra_info.update(cells_per_minute=per_minute, n_eval=int(df["n_eval"].iloc[0]))
    print(f"\nXGBoost on nb201/cifar10 at 1%, whole space scored: {per_minute:.1f} cells/minute")
    assert (df["n_eval"] == 15625).all()


@pytest.mark.slow
def test_process_speedup_over_serial(benchmark, example_plugin, tmp_path):
    """Same matrix on serial and on process --jobs 2 (worker start-up included)."""
    path = tmp_path / "m.yaml"
    # Real work: random forest on the embedded NAS-Bench-Graph.
    path.write_text("tasks: [nbgraph/cora]\nmethods: [random_forest]\nbudgets: [0.02]\nseeds: 8\n")
    _run(path, tmp_path / "probe")  # load the task and import everything once
    frames = {}

    def both():
        frames["serial"], serial = _run(path, tmp_path / "s", "serial")
        frames["process"], process = _run(path, tmp_path / "p", "process", 2)
        return serial, process

    serial, process = benchmark.pedantic(both, rounds=1, iterations=1)
    ratio = serial / process
    benchmark.extra_info.update(serial_s=serial, process2_s=process, speedup=ratio, matrix=path.read_text())
    print(f"\nprocess --jobs 2 speed-up over serial: {ratio:.2f}x (serial {serial:.2f} s, process {process:.2f} s)")
    # Speed is reported, not asserted; what must hold is that both executors computed the same cells.
    cols = ["key", "kendall_tau", "n@10"]
    same = [frames[k][cols].sort_values("key").reset_index(drop=True) for k in ("serial", "process")]
    assert len(same[0]) == 8
    pd.testing.assert_frame_equal(*same)
