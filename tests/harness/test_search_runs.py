"""The search protocol through the runner, the executors and the CLI (toy pool, no benchmark data)."""

from __future__ import annotations

import pytest
from nasbench_harness.executors import make_executor
from nasbench_harness.matrix import load_matrix
from nasbench_harness.runner import execute, execute_cell, plan
from nasbench_harness.store import ResultStore
from test_cli import assert_one_sentence_error, cli

MATRIX = """
name: search-toy
protocol: search
tasks: [toy/search]
budgets: [30]
seeds: 2
blocks:
  - {protocol_params: {strategy: random}, methods: [{predictor: none, label: RS}]}
  - {protocol_params: {strategy: npenas}, methods: [{predictor: ridge, label: NPENAS-ridge}]}
  - {protocol_params: {strategy: evolution}, methods: [{predictor: none, label: RE}]}
"""


def _traces(path, results, executor: str, **kw) -> dict:
    store = ResultStore(results)
    p = plan(load_matrix(path), store)
    with make_executor(executor, **kw) as ex:
        summary = execute(p, store, ex)
    assert summary.n_ok == len(p.cells), summary.failures
    df = store.read()
    return {k: list(v) for k, v in zip(df["key"], df["trace_ids"])}


def test_same_trace_on_serial_and_process_executors(write_matrix, tmp_path):
    path = write_matrix(MATRIX)
    serial = _traces(path, tmp_path / "serial", "serial")
    process = _traces(path, tmp_path / "process", "process", jobs=2)
    assert len(serial) == 6 and serial == process


def test_list_columns_survive_shards_and_compaction(write_matrix, tmp_path):
    path = write_matrix(MATRIX)
    store = ResultStore(tmp_path / "r")
    p = plan(load_matrix(path), store)
    for payload in p.payloads[:3]:
        store.append(execute_cell(payload))
    before = store.read().set_index("key")
    store.compact()
    after = store.read().set_index("key")
    for key in before.index:
        assert list(before.loc[key, "curve_eval"]) == list(after.loc[key, "curve_eval"])
        assert list(after.loc[key, "trace_ids"]) == list(before.loc[key, "trace_ids"]) and len(after.loc[key, "trace_ids"]) == 30


def test_plugin_strategy_runs_through_its_entry_point(capsys, example_plugin, write_matrix, tmp_path):
    path = write_matrix(
        "protocol: search\ntasks: [toy/search]\nbudgets: [40]\nseeds: 2\n"
        "protocol_params: {strategy: hill_climb}\nmethods: [none]\n"
    )
    code, _, err = cli(capsys, "run", "--matrix", str(path), "--results", str(tmp_path / "r"))
    assert code == 0, err
    df = ResultStore(tmp_path / "r").read()
    assert (df["status"] == "ok").all() and set(df["strategy"]) == {"hill_climb"} and set(df["method"]) == {"hill_climb"}
    assert (df["n_queries"] == 40).all()


BAD = [
    ("{strategy: npenass}", "ridge", ("Unknown strategy 'npenass'", "Did you mean 'npenas'")),
    ("{strategy: npenas}", "none", ("predictor 'none' is only allowed", "predictor-free strategy (select: evolution, random; search: evolution, gp_bo")),
    ("{strategy: random}", "ridge", ("needs no predictor", "predictor: none")),
    ("{strategy: evolution, population: 0}", "none", ("'population' must be a positive integer",)),
]


@pytest.mark.parametrize("pparams, method, fragments", BAD)
def test_bad_search_input_is_one_sentence_exit_2_and_keeps_results(capsys, write_matrix, tmp_path, pparams, method, fragments):
    results = tmp_path / "r"
    good = write_matrix("protocol: search\ntasks: [toy/search]\nbudgets: [20]\nprotocol_params: {strategy: random}\nmethods: [none]\n", "good.yaml")
    assert cli(capsys, "run", "--matrix", str(good), "--results", str(results))[0] == 0
    kept = ResultStore(results).read()
    bad = write_matrix(f"protocol: search\ntasks: [toy/search]\nbudgets: [20]\nprotocol_params: {pparams}\nmethods: [{method}]\n", "bad.yaml")
    code, _, err = cli(capsys, "run", "--matrix", str(bad), "--results", str(results))
    assert_one_sentence_error(code, err, *fragments)
    assert ResultStore(results).read().equals(kept)


def test_budget_beyond_the_pool_is_exit_2(capsys, write_matrix, tmp_path):
    bad = write_matrix("protocol: search\ntasks: [toy/search]\nbudgets: [700]\nprotocol_params: {strategy: random}\nmethods: [none]\n")
    code, _, err = cli(capsys, "run", "--matrix", str(bad), "--results", str(tmp_path / "r"))
    assert_one_sentence_error(code, err, "exceeds the 648 architectures")


def test_a_strategy_proposing_a_non_architecture_fails_its_cell_with_one_sentence(write_matrix, tmp_path, monkeypatch):
    from nasbench_harness.methods.strategies.baselines import RandomSearch

    monkeypatch.setattr(RandomSearch, "search", lambda self, oracle, ctx: oracle.query("garbage"))
    path = write_matrix("protocol: search\ntasks: [toy/search]\nbudgets: [20]\nprotocol_params: {strategy: random}\nmethods: [none]\n")
    (row,) = execute_cell(plan(load_matrix(path), ResultStore(tmp_path / "r")).payloads[0])
    assert row["status"] == "failed"
    assert row["error"].startswith("Strategy 'random' proposed 'garbage', which is not an architecture of search space 'toy'")


def test_list_strategies_shows_builtins_and_the_plugin(capsys, example_plugin):
    import json

    code, out, _ = cli(capsys, "list", "strategies", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and {"random", "evolution", "local_search", "npenas", "pwlnas", "bananas", "gp_bo", "hill_climb"} <= set(rows)
    assert rows["hill_climb"]["package"] == "nbh-example-plugin"
    assert rows["npenas"]["needs_predictor"] and not rows["random"]["needs_predictor"]
