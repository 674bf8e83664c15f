"""Executors: serial, process (loky) and Dask (LocalCluster) give identical metric values."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from nasbench_harness.errors import ConfigError
from nasbench_harness.executors import make_executor
from nasbench_harness.matrix import load_matrix
from nasbench_harness.rowdiff import result_columns
from nasbench_harness.runner import execute, plan
from nasbench_harness.store import ResultStore
from nasbench_harness.threads import pin_threads


def run_with(matrix_path, results, name: str, **kw) -> pd.DataFrame:
    store = ResultStore(results)
    p = plan(load_matrix(matrix_path), store)
    with make_executor(name, **kw) as ex:
        summary = execute(p, store, ex)
    assert summary.n_ok == len(p.cells), summary.failures
    df = store.read().sort_values("key").reset_index(drop=True)
    cols = ["key", *result_columns(list(df.columns))]  # every column but timings, timestamps and provenance
    assert {"kendall_tau", "spearman", "n_train", "n_eval"} <= set(cols)
    return df[cols]


@pytest.fixture(scope="module")
def serial_results(tmp_path_factory, example_plugin, toy_matrix_text):
    folder = tmp_path_factory.mktemp("exec")
    path = folder / "toy.yaml"
    path.write_text(toy_matrix_text)
    return path, run_with(path, folder / "serial", "serial")


def test_process_pool_matches_serial(serial_results, tmp_path):
    path, serial = serial_results
    got = run_with(path, tmp_path / "process", "process", jobs=2)
    pd.testing.assert_frame_equal(got, serial)


@pytest.mark.slow
def test_dask_local_cluster_matches_serial(serial_results, tmp_path):
    path, serial = serial_results
    got = run_with(path, tmp_path / "dask", "dask", jobs=2)
    pd.testing.assert_frame_equal(got, serial)


def test_dask_existing_scheduler_address(serial_results, tmp_path):
    """--dask-scheduler: connect to a cluster someone else started."""
    from dask import distributed

    path, serial = serial_results
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        got = run_with(path, tmp_path / "dask-addr", "dask", jobs=1, scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(got, serial)


def test_cells_start_longest_first_on_every_executor():
    """The longest-processing-time order: the expected cost decides, ties keep their order."""
    import math

    from nasbench_harness.executors import SerialExecutor, longest_first

    assert longest_first(["a", "bbb", "cc", "dd"], len) == ["bbb", "cc", "dd", "a"]
    assert longest_first([3, 1, 2], None) == [3, 1, 2]
    items = [1.0, 9.0, 4.0, 16.0]
    assert list(SerialExecutor(isolate=False).map(math.sqrt, items, cost=lambda x: x)) == [4.0, 3.0, 2.0, 1.0]
    with make_executor("process", jobs=1) as ex:
        assert list(ex.map(math.sqrt, items, cost=lambda x: x)) == [4.0, 3.0, 2.0, 1.0]


def test_dask_loads_each_task_once_per_worker_and_submits_longest_first(serial_results, tmp_path):
    """Eight cells on two workers: each worker loads the toy task once (counted in the
    workers by ``runner.TASK_LOADS``), and cells go to Dask longest first, with priorities.
    The workers run without Dask's MALLOC_TRIM_THRESHOLD_ (it made the loss study's cells 2.1x dearer)."""
    import math

    from nasbench_harness import runner

    path, serial = serial_results
    store = ResultStore(tmp_path / "dask-loads")
    p = plan(load_matrix(path), store)
    with make_executor("dask", jobs=2) as ex:
        summary = execute(p, store, ex)
        loads = ex.client.run(lambda: dict(runner.TASK_LOADS))
        trim = ex.client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        submitted = []
        submit = ex.client.submit

        def spy(fn, *args, priority=0, **kw):
            submitted.append((args[2], priority))
            return submit(fn, *args, priority=priority, **kw)

        ex.client.submit = spy
        got = sorted(ex.map(math.sqrt, [1.0, 9.0, 4.0, 16.0], cost=lambda x: x))
    assert summary.n_ok == len(p.cells) == 8
    assert len(loads) == 2 and all(counts == {"toy/synthetic": 1} for counts in loads.values()), loads
    assert got == [1.0, 2.0, 3.0, 4.0]
    assert list(trim.values()) == [None, None], trim
    assert [item for item, _ in submitted] == [16.0, 9.0, 4.0, 1.0]
    assert [prio for _, prio in submitted] == sorted((prio for _, prio in submitted), reverse=True) and submitted[0][1] > submitted[-1][1]


def test_unknown_executor_suggests_closest():
    with pytest.raises(ConfigError, match="Unknown executor 'proces'.*Did you mean 'process'"):
        make_executor("proces")


def test_pin_threads_limits_blas_and_torch(monkeypatch):
    import torch
    from nasbench_harness.threads import thread_env
    from threadpoolctl import threadpool_info

    before = torch.get_num_threads()
    for var, value in thread_env(1).items():  # pin_threads writes these: restored after the test
        monkeypatch.setenv(var, value)
    try:
        pin_threads(1)
        assert torch.get_num_threads() == 1
        assert os.environ["OMP_NUM_THREADS"] == "1"
        assert all(p["num_threads"] == 1 for p in threadpool_info())
        np.dot(np.ones((50, 50)), np.ones((50, 50)))  # still works pinned
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_real_task_and_seeded_predictors_identical_on_all_executors(tmp_path):
    """Random forest and XGBoost on NAS-Bench-Graph: seeded methods, same numbers everywhere."""
    path = tmp_path / "real.yaml"
    path.write_text("tasks: [nbgraph/cora]\nmethods: [random_forest, xgboost]\nbudgets: [0.005]\nseeds: 2\n")
    serial = run_with(path, tmp_path / "s", "serial")
    pd.testing.assert_frame_equal(run_with(path, tmp_path / "p", "process", jobs=2), serial)
    pd.testing.assert_frame_equal(run_with(path, tmp_path / "d", "dask", jobs=2), serial)
    assert serial["n_eval"].eq(26206).all()


def test_unreachable_dask_scheduler_is_one_sentence(monkeypatch):
    from nasbench_harness import executors
    from nasbench_harness.errors import HarnessError

    monkeypatch.setattr(executors, "DASK_CONNECT_TIMEOUT", "1s")
    with pytest.raises(HarnessError, match=r"Could not connect to the Dask scheduler tcp://127.0.0.1:1 .*drop --dask-scheduler"):
        make_executor("dask", jobs=1, scheduler="tcp://127.0.0.1:1")
