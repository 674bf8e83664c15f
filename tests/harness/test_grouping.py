"""Grouped execution: cells one batched fit can share run as one unit, one row per cell, same numbers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from nasbench_harness.errors import HarnessError
from nasbench_harness.executors import SerialExecutor
from nasbench_harness.grouping import GROUP_SIZE_ENV, units
from nasbench_harness.matrix import load_matrix
from nasbench_harness.runner import execute, plan
from nasbench_harness.store import ResultStore

MATRIX = """
name: grouped
tasks: [toy/synthetic]
seeds: 6
budgets: [30]
methods:
  - {predictor: gcn, loss: mse, params: {epochs: 3, hidden: 8}}
  - {predictor: gcn, loss: hr, params: {epochs: 3, hidden: 8}}
  - {predictor: gcn, loss: mse, params: {epochs: 4, hidden: 8}}
  - {predictor: ridge}
"""


def run(path, results, seeds=None):
    m = load_matrix(path)
    cells = m.cells if seeds is None else [c for c in m.cells if c.seed in seeds]
    store = ResultStore(results)
    p = plan(m, store, cells)
    summary = execute(p, store, SerialExecutor())
    assert summary.n_failed == 0, summary.failures
    return p


def metrics(results) -> dict:
    df = ResultStore(results).read()
    return {
        (r.method, r.params, r.seed): (repr(r.kendall_tau), r.n_train, r.status)
        for r in df.itertuples()
    }


def test_units_group_by_everything_but_seed_and_loss(write_matrix, tmp_path, monkeypatch):
    p = plan(load_matrix(write_matrix(MATRIX)), ResultStore(tmp_path / "r"))
    assert all(len(u) == 1 for u in units([p.payloads[i] for i in p.pending]))  # off by default
    monkeypatch.setenv(GROUP_SIZE_ENV, "30")
    got = units([p.payloads[i] for i in p.pending])
    sizes = sorted(len(u) for u in got)
    assert sizes == [1] * 6 + [6, 12]  # ridge alone; gcn 3 epochs (two losses) and 4 epochs
    monkeypatch.setenv(GROUP_SIZE_ENV, "5")
    assert sorted(len(u) for u in units([p.payloads[i] for i in p.pending])) == [1] * 6 + [1, 2, 5, 5, 5]
    monkeypatch.setenv(GROUP_SIZE_ENV, "1")
    assert all(len(u) == 1 for u in units([p.payloads[i] for i in p.pending]))
    monkeypatch.setenv(GROUP_SIZE_ENV, "lots")
    with pytest.raises(HarnessError, match="whole number"):
        units(p.payloads)


def test_grouped_run_equals_cell_by_cell_and_a_partly_done_group_resumes_identically(write_matrix, tmp_path, monkeypatch):
    path = write_matrix(MATRIX)
    monkeypatch.setenv(GROUP_SIZE_ENV, "30")
    grouped = run(path, tmp_path / "grouped")
    df = ResultStore(tmp_path / "grouped").read()
    assert len(df) == len(grouped.cells) == 24 and set(df["key"]) == set(grouped.keys)  # one row per cell, keys per cell
    # Resume: seeds 0 and 3 done first (in one group), then the rest of the group.
    run(path, tmp_path / "resumed", seeds={0, 3})
    run(path, tmp_path / "resumed")
    monkeypatch.setenv(GROUP_SIZE_ENV, "1")
    run(path, tmp_path / "alone")
    want = metrics(tmp_path / "alone")
    assert metrics(tmp_path / "grouped") == want
    assert metrics(tmp_path / "resumed") == want
    assert len({v[0] for v in want.values()}) > 12 and all(np.isfinite(float(v[0])) for v in want.values())


def test_a_cell_that_cannot_be_set_up_fails_alone_in_its_group():
    from nasbench_harness.matrix import Cell
    from nasbench_harness.protocols.predict import run_group
    from nasbench_harness.testing import toy_task

    task = toy_task()
    good = [Cell(protocol="predict", task="toy/synthetic", predictor="gcn", encoding="graph", loss="mse", budget=20, seed=s, params={"epochs": 2, "hidden": 8}) for s in (0, 1)]
    bad = dataclasses.replace(good[0], loss="no-such-loss", seed=2)
    out = run_group([good[0], bad, good[1]], task)
    assert isinstance(out[1], HarnessError) and "no-such-loss" in str(out[1])
    for cell, rows in ((good[0], out[0]), (good[1], out[2])):
        assert rows[0]["kendall_tau"] == run_group([cell], task)[0][0]["kendall_tau"]
