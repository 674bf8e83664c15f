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

import pytest

from nasbench_harness import registry
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
    default_params = {"fault": "none", "times": 1000, "marker": "", "tag": 0}

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
        self._w = np.linspace(1.0, 2.0, archs.encoding(self.encoding).shape[1])

    def predict(self, archs):
        return archs.encoding(self.encoding) @ self._w
'''


@pytest.fixture(scope="session")
def faulty_plugin(tmp_path_factory) -> str:
    """Install (on a temporary path) the plugin whose predictor ``faulty`` misbehaves."""
    root = tmp_path_factory.mktemp("faulty-plugin")
    (root / "nbh_faulty_plugin.py").write_text(textwrap.dedent(FAULTY_MODULE))
    info = root / "nbh_faulty_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nbh-faulty-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[nasbench_harness.predictors]\nfaulty = nbh_faulty_plugin:FaultyPredictor\n")
    sys.path.insert(0, str(root))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    importlib.invalidate_caches()
    registry.clear_caches()
    assert "faulty" in registry.names("predictors")
    return str(root)


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
    path = faulty_matrix(write_matrix, "[{predictor: faulty, params: {fault: hang, tag: 1}}, {predictor: faulty, params: {tag: 2}}]", seeds=2)
    with make_executor("process", 2) as ex:
        store = ResultStore(tmp_path / "r")
        summary = execute(plan(load_matrix(path), store), store, ex, cell_timeout=1.5)
        assert ex._pool.deaths == 4  # two hung cells, each killed twice; healthy workers reused
    rows = store.read()
    assert (summary.n_ok, summary.n_failed) == (2, 2)
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
    assert rows[2]["status"] == "ok"
    assert rows[3]["status"] == "failed" and rows[3]["error"] == "exceeded cell timeout of 3 s"
    assert rows[4]["status"] == "ok"
