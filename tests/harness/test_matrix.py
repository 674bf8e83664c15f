"""Matrix YAML: expansion (blocks, include, overrides, filters), validation messages, run keys."""

from __future__ import annotations

import pytest
from nasbench_harness.errors import ConfigError
from nasbench_harness.matrix import Cell, filter_cells, find_matrix, load_matrix


def test_expands_product_of_tasks_methods_budgets_seeds(toy_matrix):
    m = load_matrix(toy_matrix)
    assert m.name == "toy"
    assert len(m) == 1 * 2 * 2 * 2
    assert {c.method for c in m.cells} == {"knn", "knn(k=2)"}
    assert {c.budget for c in m.cells} == {0.05, 20}
    assert isinstance(next(c.budget for c in m.cells if c.budget == 20), int)
    assert {c.seed for c in m.cells} == {0, 1}
    assert all(c.encoding == "onehot" and c.matrix == "toy" for c in m.cells)


def test_blocks_inherit_top_level_and_include_appends(write_matrix, example_plugin):
    write_matrix("tasks: [toy/synthetic]\nmethods: [{predictor: knn, params: {k: 7}}]\nbudgets: [30]\nseeds: [5]\n", "extra.yaml")
    path = write_matrix(
        """
name: blocky
methods: [knn]
seeds: 1
blocks:
  - {tasks: [toy/synthetic], budgets: [10, 11]}
  - {tasks: [toy/synthetic], budgets: [12], seeds: [3, 4]}
include: [extra.yaml]
"""
    )
    m = load_matrix(path)
    got = sorted((c.budget, c.seed, c.params.get("k")) for c in m.cells)
    assert got == [(10, 0, None), (11, 0, None), (12, 3, None), (12, 4, None), (30, 5, 7)]
    assert {c.matrix for c in m.cells} == {"blocky"}  # included cells belong to the run's matrix


def test_include_with_its_own_overrides_and_filters(write_matrix, example_plugin):
    """`full` includes the paper matrices with fewer seeds: an include may carry --set and --filter."""
    write_matrix("tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10, 20]\nseeds: 30\n", "paper.yaml")
    path = write_matrix("name: big\ninclude:\n  - {file: paper.yaml, set: [seeds=3], filter: [budget=20]}\n  - paper.yaml\n")
    m = load_matrix(path)
    assert len(m) == 60  # the plain include adds the rest; the 3 filtered cells are among them
    path = write_matrix("include: [{file: paper.yaml, set: seeds=2, filter: [budget=10]}]\n")
    assert sorted((c.budget, c.seed) for c in load_matrix(path).cells) == [(10, 0), (10, 1)]
    for text, message in [
        ("include: [{set: [seeds=2]}]\n", r"include\[0\]: expected 'file: NAME.yaml'"),
        ("include: [{file: paper.yaml, seeds: 2}]\n", r"include\[0\]: unknown key 'seeds'"),
        ("include: [{file: paper.yaml, set: [2]}]\n", r"include\[0\].set: expected a list of key=value"),
        ("include: [{file: paper.yaml, set: ['budgets=[0]']}]\n", r"include\[0\]: In .*paper.yaml at budgets\[0\]"),
        ("include: [{file: paper.yaml, filter: [colour=red]}]\n", r"include\[0\]: Cannot filter on 'colour'"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_matrix(write_matrix(text))


def test_duplicate_cells_are_dropped(write_matrix, example_plugin):
    path = write_matrix("tasks: [toy/synthetic, toy/synthetic]\nmethods: [knn, knn]\nbudgets: [10]\nseeds: [0]\n")
    assert len(load_matrix(path)) == 1


def test_typed_overrides_are_parsed_not_evaluated(toy_matrix):
    m = load_matrix(toy_matrix, ["seeds=[7]", "budgets=[0.1]", "protocol_params.eval_set=space-minus-train"])
    assert {c.seed for c in m.cells} == {7}
    assert {c.budget for c in m.cells} == {0.1}
    assert {c.protocol_params["eval_set"] for c in m.cells} == {"space-minus-train"}
    with pytest.raises(ConfigError, match="not a matrix field"):
        load_matrix(toy_matrix, ["__import__('os').system('true')=1"])
    with pytest.raises(ConfigError, match="key=value"):
        load_matrix(toy_matrix, ["seeds"])


def test_filters_select_cells(toy_matrix):
    cells = load_matrix(toy_matrix).cells
    assert len(filter_cells(cells, ["method=knn(k=2)"])) == 4
    assert len(filter_cells(cells, ["budget=20", "seed=0,1"])) == 4
    assert len(filter_cells(cells, ["task=toy/*", "seed=1"])) == 4
    with pytest.raises(ConfigError, match="Cannot filter on 'sed'.*Did you mean 'seed'"):
        filter_cells(cells, ["sed=1"])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("tasks: [toy/synthetic]\nmethods: [knnn]\nbudgets: [10]\n", r"methods\[0\]\.predictor: unknown predictor 'knnn'.*Did you mean 'knn'"),
        ("tasks: [toy/synthetc]\nmethods: [knn]\nbudgets: [10]\n", r"tasks\[0\]: unknown task 'toy/synthetc'.*Did you mean 'toy/synthetic'"),
        ("tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [1.5]\n", r"budgets\[0\]: expected a fraction strictly between 0 and 1"),
        ("tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [1]\n", r"budgets\[0\]: expected a training count of at least 2"),
        ("tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: ['ten']\n", r"budgets\[0\]: expected a budget"),
        ("tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10]\nseeds: [-1]\n", r"seeds\[0\]: expected a non-negative int seed"),
        ("tasks: [toy/synthetic]\nmethods: [{predictor: knn, params: {kk: 3}}]\nbudgets: [10]\n", r"methods\[0\]\.params: predictor 'knn' does not accept \['kk'\]"),
        ("tasks: [toy/synthetic]\nmethods: [{predictor: knn, loss: softrank}]\nbudgets: [10]\n", r"methods\[0\]\.loss: predictor 'knn' is not trained by gradient"),
        ("tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10]\nseed: 3\n", r"top level: unknown key 'seed'.*Did you mean 'seeds'"),
        ("tasks: [toy/synthetic]\nmethods: [knn]\n", r"missing 'budgets'"),
        ("tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10]\nprotocol: predcit\n", r"protocol: unknown protocol 'predcit'.*Did you mean 'predict'"),
        ("tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10]\nprotocol_params: {eval_set: all}\n", r"protocol_params: Unknown eval_set 'all'"),
        ("- just\n- a list\n", r"must be a YAML mapping"),
        ("tasks: [toy/synthetic\nmethods: [knn]\n", r"is not valid YAML at line \d+, column \d+"),
        ("include: [nope.yaml]\n", r"include\[0\]: the included file .*nope.yaml does not exist"),
        # predictor: none only where the protocol params need no predictor, and then nothing else
        ("tasks: [toy/synthetic]\nmethods: [none]\nbudgets: [10]\n", r"methods\[0\]\.predictor: predictor 'none' is only allowed where the protocol needs no predictor, and protocol 'predict'"),
        ("tasks: [toy/synthetic]\nmethods: [{predictor: none, label: X}]\nbudgets: [10]\nprotocol: select\n", r"methods\[0\]\.predictor: predictor 'none' is only allowed .* protocol 'select'"),
        ("tasks: [toy/synthetic]\nmethods: [none]\nbudgets: [10]\nprotocol: select\nprotocol_params: {strategy: predictor}\n", r"methods\[0\]\.predictor: predictor 'none' is only allowed"),
        ("tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10]\nprotocol: select\nprotocol_params: {strategy: random}\n", r"methods\[0\]\.predictor: protocol 'select' with these protocol_params needs no predictor, so 'knn' would be ignored.*predictor: none"),
        ("tasks: [toy/synthetic]\nmethods: [{predictor: none, encoding: meta}]\nbudgets: [10]\nprotocol: select\nprotocol_params: {strategy: evolution}\n", r"methods\[0\]\.encoding: predictor 'none' takes no encoding"),
        ("tasks: [toy/synthetic]\nmethods: [{predictor: none, params: {k: 2}}]\nbudgets: [10]\nprotocol: select\nprotocol_params: {strategy: random}\n", r"methods\[0\]\.params: predictor 'none' takes no params"),
        ("tasks: [toy/synthetic]\nmethods: [{predictor: none, loss: mse}]\nbudgets: [10]\nprotocol: select\nprotocol_params: {strategy: random}\n", r"methods\[0\]\.loss: predictor 'none' takes no loss"),
        ("tasks: [toy/synthetic]\nmethods: [{predictor: knn, encoding: graf+onehto}]\nbudgets: [10]\n", r"methods\[0\]\.encoding: Unknown encoding 'onehto'.*joined by '\+'.*onehot"),
    ],
)
def test_invalid_matrices_name_file_path_and_expectation(write_matrix, example_plugin, text, expected):
    path = write_matrix(text, "bad.yaml")
    with pytest.raises(ConfigError, match=expected) as info:
        load_matrix(path)
    assert "bad.yaml" in str(info.value)
    assert "\n" not in str(info.value).strip()


def test_predictor_none_for_predictor_free_select_strategies(write_matrix, example_plugin):
    path = write_matrix(
        """
protocol: select
tasks: [toy/synthetic]
budgets: [50]
seeds: [0]
blocks:
  - {methods: [knn], protocol_params: {strategy: predictor}}
  - {methods: [none], protocol_params: {strategy: random}}
  - {methods: [{predictor: none}], protocol_params: {strategy: evolution, tournament: 5}}
  - {methods: [{predictor: none, label: RS}], protocol_params: {strategy: random, k: 20}}
"""
    )
    m = load_matrix(path)
    got = {c.method: (c.predictor, c.encoding, c.loss, c.params, c.protocol_params.get("strategy")) for c in m.cells}
    assert got["random_search"] == ("none", "", "", {}, "random")
    assert got["evolution"] == ("none", "", "", {}, "evolution")
    assert got["RS"] == ("none", "", "", {}, "random")
    assert got["knn"][0] == "knn" and got["knn"][4] == "predictor"
    free = [c for c in m.cells if c.predictor == "none"]
    assert len({c.run_key("data", "code") for c in free}) == 3
    # a predictor-free cell's code version digests the protocol's closure, not a (missing) predictor
    from nasbench_harness.provenance import code_version

    rs = [c for c in free if c.protocol_params["strategy"] == "random"]
    assert code_version(rs[0]) == code_version(rs[1]) != code_version(next(c for c in m.cells if c.method == "knn"))
    assert filter_cells(m.cells, ["predictor=none"]) == free


def test_include_cycle_is_reported(write_matrix):
    write_matrix("include: [b.yaml]\n", "a.yaml")
    path = write_matrix("include: [a.yaml]\n", "b.yaml")
    with pytest.raises(ConfigError, match="includes itself"):
        load_matrix(path)


def test_unknown_matrix_name_suggests_closest():
    with pytest.raises(ConfigError, match="Unknown matrix 'smok'.*Did you mean 'smoke'"):
        find_matrix("smok")
    with pytest.raises(ConfigError, match="does not exist"):
        find_matrix("/nonexistent/m.yaml")


def _cell(**kw) -> Cell:
    base = dict(protocol="predict", task="toy/synthetic", predictor="knn", encoding="onehot", budget=20, seed=0)
    return Cell(**{**base, **kw})


def test_run_key_covers_every_result_field_but_not_labels():
    key = _cell().run_key("data", "code")
    assert key == _cell(label="x", matrix="other").run_key("data", "code")
    changed = [
        _cell(seed=1),
        _cell(budget=21),
        _cell(budget=0.1),
        _cell(encoding="path"),
        _cell(params={"k": 3}),
        _cell(loss="mse"),
        _cell(loss_params={"a": 1}),
        _cell(protocol_params={"eval_set": "mutation"}),
        _cell(task="toy/other"),
    ]
    keys = {c.run_key("data", "code") for c in changed}
    assert len(keys) == len(changed) and key not in keys
    assert _cell().run_key("data2", "code") != key
    assert _cell().run_key("data", "code2") != key


def test_sampling_randomness_depends_on_task_budget_seed_only():
    a = _cell().rng().integers(1 << 30, size=5)
    assert (a == _cell(predictor="ridge", params={"x": 1}).rng().integers(1 << 30, size=5)).all()
    assert not (a == _cell(seed=1).rng().integers(1 << 30, size=5)).all()
    assert not (a == _cell(budget=21).rng().integers(1 << 30, size=5)).all()
    assert _cell().predictor_seed() == _cell(encoding="path").predictor_seed()


def test_builtin_matrices_validate():
    """smoke and full must always be valid against whatever is registered and defined."""
    from nasbench_harness.matrix import builtin_matrices

    assert {"smoke", "full"} <= set(builtin_matrices())
    smoke = load_matrix("smoke")
    assert {c.task.split("/")[0] for c in smoke.cells} == {"nbgraph"}
    assert len({c.task for c in smoke.cells}) == 2 and len({c.seed for c in smoke.cells}) == 2


def test_an_include_names_a_study_matrix_by_name(write_matrix):
    path = write_matrix("include: [{matrix: paper-search, set: [seeds=1], filter: [task=nb201/cifar10, method=RS]}]\n")
    cells = load_matrix(path).cells
    assert {(c.task, c.method, c.seed) for c in cells} == {("nb201/cifar10", "RS", 0)}
    for text, expected in (("include: [{matrix: paper-serch}]\n", "paper-search"),
                           ("include: [{matrix: paper-search, file: a.yaml}]\n", "'file: NAME.yaml' or 'matrix: NAME'")):
        with pytest.raises(ConfigError, match=expected):
            load_matrix(write_matrix(text))
