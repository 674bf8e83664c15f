"""The cost model (learned from stored timings, with its fallbacks), the stratified sample,
the per-family dry-run projection and the cached plans and plugin rows behind fast start-up."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest
from nasbench_harness import index
from nasbench_harness.cli import main
from nasbench_harness.estimate import CostModel, cell_family, family_costs, sample_cells, stratum
from nasbench_harness.executors import SerialExecutor
from nasbench_harness.matrix import Cell, load_matrix
from nasbench_harness.methods.base import Predictor
from nasbench_harness.runner import cell_estimates, execute, plan
from nasbench_harness.store import ResultStore


def _prior(predictor: str) -> float:
    """The prior a predictor class declares."""
    from nasbench_harness import registry

    return registry.load("predictors", predictor).prior_seconds


def _cell(**kw) -> Cell:
    base = {"protocol": "predict", "task": "nb201/cifar10", "predictor": "gcn", "encoding": "onehot", "budget": 100, "seed": 0,
            "protocol_params": {"eval_set": "space"}, "loss": "mse"}
    return Cell(**{**base, **kw})


def _rows(cells_seconds: list[tuple[Cell, int, float]], cpu: bool = True) -> pd.DataFrame:
    """Stored rows as the runner writes them (params column = predictor and loss params)."""
    rows = []
    for c, n, s in cells_seconds:
        rows.append({
            "key": f"k{len(rows)}", "status": "ok", "protocol": c.protocol, "protocol_params": json.dumps(c.protocol_params),
            "predictor": c.predictor, "params": json.dumps({"predictor": c.params, "loss": c.loss_params}),
            "space": c.task.split("/")[0], "budget": float(c.budget), "n_train": n,
            "total_seconds": 10 * s, **({"cpu_seconds": s} if cpu else {}),
        })  # fmt: skip
    return pd.DataFrame(rows)


def test_log_log_fit_per_stratum_extrapolates_to_an_unseen_size():
    # seconds = 0.02 * n^1.0 measured at 10 and 100 (with the other seeds' noise around it)
    stored = [(_cell(budget=n, seed=s), n, 0.02 * n * f) for n in (10, 100) for s, f in enumerate((0.9, 1.0, 1.1))]
    model = CostModel(_rows(stored))
    seconds, basis = model.predict(_cell(budget=1000, seed=7))
    assert basis == "stratum"
    assert seconds == pytest.approx(20.0, rel=0.05)
    # a fraction budget is sized against the task (1% of 15,625 = 156)
    assert model.predict(_cell(budget=0.01), 15_625)[0] == pytest.approx(0.02 * 156, rel=0.05)
    # the loss is not part of the stratum (it changes a GCN's cost little)
    assert model.predict(_cell(budget=1000, loss="hr"))[1] == "stratum"


def test_cpu_seconds_are_modelled_and_wall_seconds_on_request():
    stored = [(_cell(budget=n), n, 1.0) for n in (10, 100)]
    assert CostModel(_rows(stored)).predict(_cell())[0] == pytest.approx(1.0)
    assert CostModel(_rows(stored), "total_seconds").predict(_cell())[0] == pytest.approx(10.0)
    # rows without cpu_seconds (older rows) stand in with their wall time
    assert CostModel(_rows(stored, cpu=False)).predict(_cell())[0] == pytest.approx(10.0)
    # a wall-time estimate from the priors carries the load the stored cells ran under (wall = 10 x CPU)
    assert CostModel(_rows(stored), "total_seconds").predict(_cell(predictor="cap", loss="")) == (10 * _prior("cap"), "prior")


def test_fallbacks_method_then_predictor_then_prior():
    stored = [(_cell(budget=n), n, 0.01 * n) for n in (10, 100)]
    stored += [(_cell(task="nbgraph/cora", predictor="ridge", params={"alpha": 2.0}, loss=""), 50, 0.5)]
    model = CostModel(_rows(stored))
    # the same method in a space without rows: the method's pooled fit (its slope, 1)
    seconds, basis = model.predict(_cell(task="darts/cifar10", budget=1000))
    assert basis == "method" and seconds == pytest.approx(10.0, rel=0.05)
    # other params of a predictor with rows in that space / elsewhere
    assert model.predict(_cell(task="nbgraph/cora", predictor="ridge", loss=""))[1] == "predictor+space"
    assert model.predict(_cell(task="nb201/cifar10", predictor="ridge", loss=""))[1] == "predictor"
    # nothing stored: the declared priors (a tuned regressor has its own)
    assert model.predict(_cell(predictor="cap", loss="")) == (_prior("cap"), "prior")
    tuned = _cell(protocol="select", predictor="mlp", params={"tune": True}, loss="", protocol_params={"strategy": "predictor", "k": 30})
    assert model.predict(tuned) == (Predictor.tuned_prior_seconds, "prior")
    # failed rows and non-positive timings teach nothing
    failed = _rows(stored).assign(status="failed")
    assert CostModel(failed).predict(_cell())[1] == "prior"


def test_cost_families():
    assert cell_family(_cell()) == "GCN family"
    assert cell_family(_cell(predictor="transformer")) == "GCN family"
    assert cell_family(_cell(predictor="convnp", loss="")) == "ConvNP"
    assert cell_family(_cell(predictor="carl", loss="")) == "CAP/CARL/NP"
    assert cell_family(_cell(predictor="random_forest", loss="")) == "regressors"
    assert cell_family(_cell(predictor="random_forest", loss="", params={"tune": True})) == "tuned regressors"
    assert cell_family(_cell(protocol="search", protocol_params={"strategy": "npenas"})) == "search"
    assert cell_family(_cell(protocol="select", predictor="none", loss="", protocol_params={"strategy": "random"})) == "search"
    cells = [_cell(), _cell(predictor="convnp", loss=""), _cell(seed=1)]
    fc = {f.family: f for f in family_costs(cells, [(1.0, "stratum"), (5.0, "prior"), (2.0, "stratum")])}
    assert fc["GCN family"].pending == 2 and fc["GCN family"].seconds == 3.0 and fc["GCN family"].bases == {"stratum": 2}
    assert fc["ConvNP"].bases == {"prior": 1}
    # Done cells count their stored seconds beside the projection (a row without a timing counts 0),
    # and a family with nothing left to run is still listed.
    done = [_cell(seed=2), _cell(seed=3), _cell(predictor="carl", loss="")]
    fc = {f.family: f for f in family_costs(cells[:1], [(1.0, "stratum")], done, [4.0, float("nan"), 6.0])}
    assert (fc["GCN family"].done, fc["GCN family"].done_seconds, fc["GCN family"].pending) == (2, 4.0, 1)
    assert (fc["CAP/CARL/NP"].done, fc["CAP/CARL/NP"].done_seconds, fc["CAP/CARL/NP"].pending) == (1, 6.0, 0)


def test_a_plugin_declares_its_cost_family_and_prior_on_its_class(example_plugin):
    """No side table: the example plugin's knn says it is a cheap regressor, and the cost model listens."""
    knn = _cell(predictor="knn", loss="")
    assert cell_family(knn) == "regressors"
    assert CostModel(_rows([(_cell(), 10, 1.0)])).predict(knn) == (0.5, "prior")
    # a search cell costs what its strategy declares; a strategy declaring nothing costs its predictor's prior
    search = _cell(protocol="search", predictor="knn", loss="", protocol_params={"strategy": "bananas"})
    assert CostModel(_rows([(_cell(), 10, 1.0)])).predict(search) == (20.0, "prior")
    assert CostModel(_rows([(_cell(), 10, 1.0)])).predict(_cell(protocol="search", predictor="none", loss="", protocol_params={"strategy": "hill_climb"}))[0] == 1.0


def _grid() -> list[Cell]:
    return [
        _cell(task=t, predictor=p, budget=b, seed=s, loss=("mse" if p == "gcn" else ""))
        for t in ("nb201/cifar10", "nb201/cifar100", "nbgraph/cora")
        for p in ("gcn", "ridge")
        for b in (0.001, 0.01, 0.03, 172)
        for s in range(5)
    ]


def test_sample_is_stratified_spans_the_sizes_and_is_deterministic():
    cells = _grid()
    sizes = {"nb201/cifar10": 15_625, "nb201/cifar100": 15_625, "nbgraph/cora": 26_206}
    picked = sample_cells(cells, 2, sizes)
    strata = {stratum(c) for c in cells}
    assert len(strata) == 4 and len(picked) == 8
    size = lambda c: float(c.budget) if c.budget >= 1 else round(c.budget * sizes[c.task])  # noqa: E731
    for s in strata:
        all_sizes = [size(c) for c in cells if stratum(c) == s]
        assert sorted(size(c) for c in picked if stratum(c) == s) == [min(all_sizes), max(all_sizes)]
    shuffled = cells[:]
    random.Random(3).shuffle(shuffled)
    as_set = lambda cs: sorted(json.dumps(c.identity(), sort_keys=True) for c in cs)  # noqa: E731
    assert as_set(sample_cells(shuffled, 2, sizes)) == as_set(picked)
    assert len(sample_cells(cells, 1, sizes)) == 4 and len(sample_cells(cells, 1000, sizes)) == len(cells)
    # families interleave, so a sample stopped early has measured every family
    assert {cell_family(c) for c in picked[:2]} == {"GCN family", "regressors"}


def test_estimates_learned_from_a_real_run(toy_matrix, tmp_path):
    """Timings stored by the runner feed the model: every cell's estimate comes from its stratum."""
    store = ResultStore(tmp_path)
    m = load_matrix(toy_matrix)
    execute(plan(m, store), store, SerialExecutor())
    df = store.read()
    assert (df["cpu_seconds"] > 0).all() and (df["cpu_seconds"] <= df["total_seconds"] * 1.5 + 0.05).all()
    estimates = cell_estimates(plan(m, store, force=True), store)
    assert {b for _, b in estimates} == {"stratum"}
    assert sum(s for s, _ in estimates) == pytest.approx(df["cpu_seconds"].sum(), rel=1.0)


def _cli(capsys, *args):
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_sample_run_then_dry_run_projects_per_family(capsys, write_matrix, example_plugin, tmp_path):
    path = write_matrix("tasks: [toy/synthetic]\nmethods: [knn, ridge]\nbudgets: [10, 20, 40]\nseeds: 3\n")
    results = str(tmp_path / "r")
    code, out, _ = _cli(capsys, "run", "-m", str(path), "--results", results, "--sample", "2")
    assert code == 0 and "4 cells" in out and "4 ok" in out  # 2 strata (knn, ridge) x 2
    code, out, _ = _cli(capsys, "run", "-m", str(path), "--results", results, "--dry-run")
    assert code == 0 and "18 cells, 4 already done, 14 to run" in out
    # knn declares itself a regressor (its class's cost_family), so both strata sum under one family
    assert "regressors" in out and "other" not in out and "stratum" in out and "prior" not in out
    assert "the whole matrix" in out and "cells done" in out  # the 4 done cells' stored CPU beside the projection


def test_dry_run_reads_the_cached_plan_and_a_changed_matrix_replans(capsys, write_matrix, example_plugin, tmp_path, monkeypatch):
    path = write_matrix("tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10]\nseeds: 2\n")
    results = str(tmp_path / "r")
    assert "2 cells, 0 already done" in _cli(capsys, "run", "-m", str(path), "--results", results, "--dry-run")[1]
    assert _cli(capsys, "run", "-m", str(path), "--results", results, "--filter", "seed=0")[0] == 0

    import nasbench_harness.matrix as matrix

    def no_expansion(*a, **k):
        raise AssertionError("the dry run expanded the matrix instead of reading its cached plan")

    monkeypatch.setattr(matrix, "load_matrix", no_expansion)
    # cached plan, done cells read from the store now
    assert "2 cells, 1 already done, 1 to run" in _cli(capsys, "run", "-m", str(path), "--results", results, "--dry-run")[1]
    monkeypatch.undo()
    path.write_text("tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10]\nseeds: 3\n")
    assert "3 cells, 1 already done" in _cli(capsys, "run", "-m", str(path), "--results", results, "--dry-run")[1]


def test_plugin_rows_are_cached_under_the_code_fingerprint(monkeypatch):
    calls = []

    def compute():
        calls.append(1)
        return [{"name": "x", "description": "d", "default_params": {"a": np.float64(1.5)}}]

    first = index.plugin_rows("predictors-test", compute)
    again = index.plugin_rows("predictors-test", compute)
    assert len(calls) == 1 and again == [{"name": "x", "description": "d", "default_params": {"a": 1.5}}] and first[0]["name"] == "x"
    monkeypatch.setattr(index, "code_fingerprint", lambda: "another-code")
    index.plugin_rows("predictors-test", compute)
    assert len(calls) == 2


def test_list_reads_the_cache_without_importing_plugins(example_plugin, monkeypatch):
    from nasbench_harness import registry
    from nasbench_harness.cli import list_rows

    rows = list_rows("predictors")
    monkeypatch.setattr(registry, "load", lambda *a: (_ for _ in ()).throw(AssertionError("imported a plugin")))
    assert list_rows("predictors") == json.loads(json.dumps(rows, default=str))
