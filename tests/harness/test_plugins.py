"""Plugins: one registry for every kind; the example package shows up and runs (its search space
with its tasks included); every built-in passes the conformance rules, one test id per rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from nasbench_harness import registry
from nasbench_harness.cli import list_rows
from nasbench_harness.errors import RegistryError
from nasbench_harness.testing import (
    PREDICTOR_RULES,
    check_loss,
    check_predictor,
    check_search_space,
    check_strategy,
    predictor_checks,
)


def _builtin(kind: str) -> list[str]:
    return [n for n in registry.names(kind) if registry.info(kind, n).dist == "nasbench-harness"]


def test_example_plugin_is_listed_with_its_package(example_plugin):
    predictors = {r["name"]: r for r in list_rows("predictors")}
    losses = {r["name"]: r for r in list_rows("losses")}
    assert predictors["knn"]["package"] == "nbh-example-plugin"
    assert predictors["knn"]["inputs"] == "encoding" and "k-nearest" in predictors["knn"]["description"]
    assert losses["softrank"]["package"] == "nbh-example-plugin" and losses["softrank"]["category"] == "ranking"


def test_list_shows_every_kind_from_the_registry_with_its_package(example_plugin):
    proc = subprocess.run([sys.executable, "-m", "nasbench_harness", "list", "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    kinds = json.loads(proc.stdout)
    assert set(kinds) == {"predictors", "losses", "search-spaces", "strategies", "protocols", "importers", "tasks", "matrices",
                          "report-sections", "studies"}
    packages = {(kind, r["name"]): r["package"] for kind, rows in kinds.items() for r in rows}
    assert packages[("protocols", "select")] == packages[("importers", "nb201-pth")] == packages[("studies", "losses")] == "nasbench-harness"
    assert packages[("matrices", "paper-losses")] == "nasbench-harness"  # a study's matrix, listed with the study's package
    assert packages[("matrices", "smoke")] == packages[("tasks", "nbgraph/cora")] == packages[("search-spaces", "toy")] == "nasbench-harness"
    assert packages[("search-spaces", "minicell")] == packages[("tasks", "minicell/synthetic")] == "nbh-example-plugin"
    assert packages[("strategies", "hill_climb")] == "nbh-example-plugin"


def test_example_plugin_passes_conformance(example_plugin):
    facts = check_predictor("knn")
    assert facts["kendall_tau"] > 0.3  # structure is learnable on the toy task
    check_loss("softrank")
    check_strategy("hill_climb")
    assert check_search_space("minicell", n=400)["ids"] == 324


def test_the_plugin_space_runs_a_matrix_through_the_cli_with_no_import_step(example_plugin, tmp_path):
    """Its data ships inside the plugin and its tasks come through the registry's tasks kind."""
    matrix = tmp_path / "m.yaml"
    matrix.write_text(yaml.safe_dump({"name": "plugin-space", "tasks": ["minicell/*"], "methods": ["ridge", "knn"], "budgets": [20, 0.2], "seeds": 2}))
    env_data = {"NASBENCH_HARNESS_DATA": str(tmp_path / "empty-data-cache")}  # nothing imported anywhere
    proc = subprocess.run([sys.executable, "-m", "nasbench_harness", "run", "--matrix", str(matrix), "--results", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=600, env={**os.environ, **env_data})
    assert proc.returncode == 0, proc.stderr
    rows = pd.concat([pd.read_parquet(p) for p in (tmp_path / "r").rglob("*.parquet")])
    assert len(rows) == 8 and set(rows["status"]) == {"ok"} and set(rows["task"]) == {"minicell/synthetic"}
    assert (rows["n_eval"] == 324).all() and rows["kendall_tau"].between(0.3, 1).all()  # onehot learns the made-up score


def test_conformance_catches_a_broken_predictor():
    from nasbench_harness.methods.base import Predictor

    class Forgetful(Predictor):
        name = "forgetful"
        description = "ignores its seed"
        default_params = {}

        def fit(self, archs, y, *, unlabeled=None):
            import numpy as np

            self.noise = np.random.default_rng().normal(size=1)[0]  # not from self.seed

        def predict(self, archs):
            return archs.encoding("onehot").sum(axis=1) + self.noise

    with pytest.raises(AssertionError, match="same seed must give the same predictions"):
        check_predictor(Forgetful, min_tau=None)
    failing = [name for name, check in predictor_checks(Forgetful, min_tau=None) if _fails(check)]
    assert failing == ["same-seed-same-predictions"]  # the named rules say which one is broken


def _fails(check) -> bool:
    try:
        check()
    except AssertionError:
        return True
    return False


def test_conformance_catches_a_loss_that_rewards_the_wrong_order():
    from nasbench_harness.methods.base import Loss

    class Backwards(Loss):
        name = "backwards"
        description = "prefers reversed rankings"

        def __call__(self, pred, target, state):
            return (pred * target).mean()

    with pytest.raises(AssertionError, match="must cost less than the reverse order"):
        check_loss(Backwards)


def test_conformance_catches_a_strategy_that_stops_early_and_a_space_with_cyclic_graphs():
    from nasbench_harness.methods.strategies.baselines import RandomSearch
    from nasbench_harness.tasks.spaces.toy import ToySpace

    class Lazy(RandomSearch):
        name = "lazy"

        def search(self, oracle, ctx):
            ctx.initial_sample(oracle, oracle.budget - 1)

    with pytest.raises(AssertionError, match="spent 29 of a budget of 30"):
        check_strategy(Lazy)

    class Backwards(ToySpace):
        def to_graph(self, arch_ids):
            g = super().to_graph(arch_ids)
            return type(g)(g.adj.transpose(0, 2, 1), g.ops, g.op_names)

    with pytest.raises(AssertionError, match="topological order"):
        check_search_space(Backwards, n=50)


@pytest.mark.parametrize("name", _builtin("losses"))
def test_builtin_losses_conform(name):
    check_loss(name)


@pytest.mark.parametrize("name", ["random", "evolution", "local_search"])
def test_builtin_predictor_free_strategies_conform(name):
    check_strategy(name)


@pytest.mark.parametrize("name", ["toy", "nbgraph", "nb201", "tnb101-micro", "tnb101-macro"])
def test_builtin_search_spaces_conform(name):
    check_search_space(name)


# Defaults whose conformance fits take minutes are checked at a shorter training: lm's 800
# epochs and masked-token pre-training made its ~8 fits here take 132 s of the suite.
CONFORM_PARAMS = {"lm": {"epochs": 100, "pretrain": "false"}}


def _predictor_rules() -> list:
    """One test per (built-in predictor, rule); classic regressors in the default selection, trained networks marked slow."""
    out = []
    for n in _builtin("predictors"):
        slow = () if ".regressors:" in registry.info("predictors", n).value else pytest.mark.slow
        out += [pytest.param(n, rule, marks=slow, id=f"{n}-{rule}") for rule, _ in PREDICTOR_RULES]
    return out


@pytest.mark.parametrize(("name", "rule"), _predictor_rules())
def test_builtin_predictors_conform(name, rule):
    cls = registry.load("predictors", name)
    losses = registry.names("losses")[:2] if cls.supports_loss else []
    # learns: held-out tau above the default 0.1
    checks = dict(predictor_checks(name, losses=losses, params=CONFORM_PARAMS.get(name)))
    checks[rule]()


# -- one registry for every kind --------------------------------------------------------------------
def test_every_kind_has_its_entry_point_group():
    assert {k: registry.registry(k).group for k in registry.KINDS} == {k: f"nasbench_harness.{k}" for k in registry.KINDS}
    assert set(registry.KINDS) >= {"predictors", "losses", "search_spaces", "strategies", "protocols", "importers", "tasks",
                                   "matrices", "report_sections", "studies"}


def test_an_entry_of_the_wrong_base_class_names_its_package(tmp_dist):
    tmp_dist("nbh-tmp-wrong", {"nbh_tmp_wrong.py": "class NotAProtocol:\n    pass\n"},
             "[nasbench_harness.protocols]\nwrong = nbh_tmp_wrong:NotAProtocol\n")
    with pytest.raises(RegistryError, match=r"protocol plugin 'wrong' from package nbh-tmp-wrong .* is not a subclass of nasbench_harness\.protocols\.base\.Protocol"):
        registry.load("protocols", "wrong")


def test_a_colliding_name_of_a_new_kind_names_both_packages(tmp_dist):
    tmp_dist("nbh-tmp-clash", {"nbh_tmp_clash.py": ""}, "[nasbench_harness.protocols]\npredict = nbh_tmp_clash:Predict\n")
    with pytest.raises(RegistryError, match="'predict' is registered by more than one package: .*nbh-tmp-clash.*nasbench-harness"):
        registry.load("protocols", "predict")


def test_a_plugin_protocol_runs_in_a_matrix_with_its_declared_params(tmp_dist, write_matrix):
    """A protocol is one class plus one entry point: the matrix checks its declared params and the runner runs it."""
    from nasbench_harness.errors import ConfigError
    from nasbench_harness.matrix import load_matrix
    from nasbench_harness.protocols import get_protocol
    from nasbench_harness.testing import toy_task

    tmp_dist("nbh-tmp-proto", {"nbh_tmp_proto.py": (
        "from nasbench_harness.protocols.base import Protocol\n"
        "class Count(Protocol):\n"
        "    description = 'How many architectures the task has.'\n"
        "    params = {'scale': 'multiplies the count'}\n"
        "    def predictor_free_label(self, params):\n"
        "        return 'count'\n"
        "    def run(self, cell, task, *, threads=1):\n"
        "        return [{'n_archs': len(task) * cell.protocol_params.get('scale', 1)}]\n")},
        "[nasbench_harness.protocols]\ncount = nbh_tmp_proto:Count\n")
    m = load_matrix(write_matrix("protocol: count\nprotocol_params: {scale: 2}\ntasks: [toy/synthetic]\nmethods: [none]\nbudgets: [10]\n"))
    assert [c.method for c in m.cells] == ["count"]
    assert get_protocol("count").rows(m.cells[0], toy_task()) == [{"n_archs": 1200}]
    with pytest.raises(ConfigError, match="count protocol got unknown protocol_params \\['k'\\]; it accepts \\['scale'\\]"):
        load_matrix(write_matrix("protocol: count\nprotocol_params: {k: 2}\ntasks: [toy/synthetic]\nmethods: [none]\nbudgets: [10]\n", "bad.yaml"))


def test_a_plugin_importer_and_report_section_are_found_through_the_registry(tmp_dist, tmp_path):
    from nasbench_harness.report import sections
    from nasbench_harness.tasks.importers import all_importers, detect

    tmp_dist("nbh-tmp-kinds", {"nbh_tmp_kinds.py": (
        "from nasbench_harness.tasks.importers import Importer\n"
        "class Gz(Importer):\n"
        "    name = 'tmp-gz'\n"
        "    space = 'nb201'\n"
        "    def detect(self, path):\n"
        "        return path.suffix == '.tmpgz'\n"
        "    def run(self, paths, cache):\n"
        "        raise NotImplementedError\n"
        "TITLE = 'Temporary'\n"
        "def render(results, ctx):\n"
        "    return '<p>tmp</p>'\n")},
        "[nasbench_harness.importers]\ntmp-gz = nbh_tmp_kinds:Gz\n[nasbench_harness.report_sections]\ntmp = nbh_tmp_kinds\n")
    assert all_importers()[-1].name == "tmp-gz"  # plugins are asked after the built-ins
    assert detect(tmp_path / "x.tmpgz").name == "tmp-gz"
    assert "tmp" in {s.name for s in sections.discover()}


def test_a_plugin_matrix_folder_and_a_task_defined_twice(tmp_dist):
    from nasbench_harness.errors import ConfigError
    from nasbench_harness.matrix import builtin_matrices
    from nasbench_harness.tasks.catalog import task_specs

    tmp_dist("nbh-tmp-data", {"nbh_tmp_data/__init__.py": "", "nbh_tmp_data/mine.yaml": "tasks: [toy/synthetic]\nmethods: [ridge]\nbudgets: [10]\n",
                              "nbh_tmp_data/tasks/__init__.py": "",
                              "nbh_tmp_data/tasks/dup.yaml": "- {name: toy/synthetic, space: toy, dataset: synthetic, train_metric: a, eval_metric: b}\n"},
             "[nasbench_harness.matrices]\nmine = nbh_tmp_data\n[nasbench_harness.tasks]\ndup = nbh_tmp_data.tasks\n")
    assert "mine" in builtin_matrices() and "smoke" in builtin_matrices()
    with pytest.raises(ConfigError, match="Task 'toy/synthetic' is defined twice .* nbh-tmp-data"):
        task_specs()
