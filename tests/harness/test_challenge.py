"""`run --as KIND=NAME` (harness/challenge.py): a new method on the cells of a matrix its kind takes part in (issue 21, item 5)."""

from __future__ import annotations

import pytest
from nasbench_harness.cell import NO_PREDICTOR, canonical_json
from nasbench_harness.challenge import LOSS_PREDICTOR, restrict
from nasbench_harness.errors import ConfigError
from nasbench_harness.estimate import cell_family
from nasbench_harness.matrix import load_matrix
from nasbench_harness.store import ResultStore
from test_cli import assert_one_sentence_error, cli


@pytest.fixture(scope="module")
def full():
    return load_matrix("full")


def slots(cells, with_method=False):
    return {(c.protocol, canonical_json(c.protocol_params), c.task, float(c.budget), c.seed, *((c.predictor, c.encoding) if with_method else ())) for c in cells}


def test_a_regressor_takes_the_predict_slots_of_its_cost_family(full, example_plugin):
    m = restrict(full, "predictor=knn")
    reference = [c for c in full.cells if c.protocol == "predict" and cell_family(c) == "regressors"]
    assert len(m.cells) == len(slots(reference)) == 537  # the regressors block (465) and the surrogate study's XGB slots (72)
    assert slots(m.cells) == slots(reference)
    assert {(c.predictor, c.method, c.matrix) for c in m.cells} == {("knn", "knn", "full+knn")}


def test_a_loss_takes_the_loss_study_slots_of_its_predictor(full, example_plugin):
    m = restrict(full, "loss=softrank")
    reference = [c for c in full.cells if c.protocol == "predict" and c.predictor == LOSS_PREDICTOR and c.loss]
    assert slots(m.cells, True) == slots(reference, True) and len(m.cells) == 609
    assert {c.loss for c in m.cells} == {"softrank"} and {c.seed for c in m.cells} == {c.seed for c in reference}


def test_a_predictor_free_strategy_takes_every_search_slot(full, example_plugin):
    m = restrict(full, "strategy=hill_climb")
    searches = {(c.task, float(c.budget), c.seed) for c in full.cells if c.protocol == "search"}
    assert {(c.task, float(c.budget), c.seed) for c in m.cells} == searches and len(m.cells) == 72
    assert {(c.predictor, canonical_json(c.protocol_params)) for c in m.cells} == {(NO_PREDICTOR, '{"strategy":"hill_climb"}')}


def test_a_predictor_guided_strategy_keeps_the_predictors_of_the_guided_slots(full):
    m = restrict(full, "strategy=bananas")
    guided = {(c.task, float(c.budget), c.seed, c.predictor, c.loss) for c in full.cells if c.protocol == "search" and c.predictor != NO_PREDICTOR}
    assert {(c.task, float(c.budget), c.seed, c.predictor, c.loss) for c in m.cells} == guided
    assert all(c.method.startswith("bananas-") for c in m.cells)


def test_unknown_names_and_kinds_are_one_sentence(full, example_plugin):
    with pytest.raises(ConfigError, match="No predictor 'knnn' is registered.*Did you mean 'knn'"):
        restrict(full, "predictor=knnn")
    with pytest.raises(ConfigError, match="--as takes KIND=NAME"):
        restrict(full, "model=knn")


def test_run_as_runs_only_the_new_method_and_keeps_it_apart(capsys, write_matrix, example_plugin, tmp_path):
    path = write_matrix(
        "name: regs\ntasks: [toy/synthetic]\nbudgets: [10, 20]\nseeds: 2\n"
        "blocks:\n  - {methods: [ridge, linear]}\n  - {methods: [ridge], budgets: [30], seeds: [5]}\n"
    )
    code, out, err = cli(capsys, "run", "--matrix", str(path), "--as", "predictor=knn", "--results", str(tmp_path / "r"))
    assert code == 0, err
    rows = ResultStore(tmp_path / "r").read()
    assert len(rows) == 5 and set(rows["method"]) == {"knn"} and set(rows["matrix"]) == {"regs+knn"}
    assert {(float(b), int(s)) for b, s in zip(rows["budget"], rows["seed"], strict=True)} == {(10, 0), (10, 1), (20, 0), (20, 1), (30, 5)}
    code, _, err = cli(capsys, "run", "--matrix", str(path), "--as", "loss=softrank", "--dry-run")
    assert_one_sentence_error(code, err, "has no cells where a loss like 'softrank' takes part")
