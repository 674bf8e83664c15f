"""The select protocol on the toy task: nested samples, exactly K evaluations, evolution stays in the task."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from nasbench_harness.errors import ConfigError
from nasbench_harness.matrix import Cell
from nasbench_harness.methods.strategies import strategy_class
from nasbench_harness.protocols import select
from nasbench_harness.testing import toy_task


@pytest.fixture(scope="module")
def task():
    # 8,000 of the 82,944 toy architectures: dense enough that mutants often land in the task.
    return toy_task(8000)


def cell(budget=50, seed=0, **pp) -> Cell:
    return Cell(protocol="select", task="toy/synthetic", predictor="ridge", encoding="onehot", budget=budget, seed=seed, protocol_params=pp)


def test_observed_samples_are_nested_across_budgets(task):
    sizes = (50, 90, 172, 344)
    samples = [select.observed_rows(cell(b), len(task), b) for b in sizes]
    for small, large in itertools.pairwise(samples):
        np.testing.assert_array_equal(large[: len(small)], small)
    for s in samples:
        assert len(np.unique(s)) == len(s)
    other_seed = select.observed_rows(cell(50, seed=1), len(task), 50)
    assert not np.array_equal(other_seed, samples[0])


class Spy:
    """Wrap the task's space to record every mutation the evolution asks for."""

    def __init__(self, space):
        self.space, self.calls = space, []

    def mutate(self, arch_id, rng):
        child = self.space.mutate(arch_id, rng)
        self.calls.append((arch_id, child))
        return child


def test_evolution_spends_k_evaluations_on_mutants_inside_the_task(task):
    rng = np.random.default_rng(0)
    observed = select.observed_rows(cell(), len(task), 50)
    spy = Spy(task.space)
    orig = task.space
    try:
        task.space = spy
        chosen = strategy_class("evolution").extend(task, observed, 30, rng, {"tournament": 10})
    finally:
        task.space = orig
    assert len(chosen) == 30 and len(set(chosen.tolist())) == 30
    assert not set(chosen.tolist()) & set(observed.tolist())
    children = {c for _, c in spy.calls}
    for row in chosen:
        assert task.ids[row] in children  # every selection is a mutant
    # the task holds 8,000 of 3^4 * 2^10 architectures: most mutants fall outside it and
    # are redrawn, so the protocol asked for more mutations than it evaluated
    assert len(spy.calls) > 30


@pytest.mark.parametrize("strategy", ["predictor", "random", "evolution"])
def test_each_strategy_evaluates_exactly_k_unseen_architectures(task, strategy):
    observed, selected, _ = select.choose(cell(60, strategy=strategy, k=25), task)
    assert len(observed) == 60 and len(selected) == 25
    assert len(set(selected.tolist())) == 25 and not set(selected.tolist()) & set(observed.tolist())
    assert selected.min() >= 0 and selected.max() < len(task)


@pytest.mark.parametrize("strategy", ["predictor", "random", "evolution"])
def test_select_run_reports_best_found_with_k_evaluations(task, strategy):
    rows = select.run(cell(60, strategy=strategy, k=30), task)
    assert len(rows) == 1
    r = rows[0]
    assert r["n_train"] == 60 and r["strategy"] == strategy
    assert r["best_val"] >= r["observed_best_val"]
    assert r["best_val"] >= r["selected_best_val"]
    assert r["best_test_of_selected"] >= r["selected_best_test"]
    assert np.isin(r["best_val"], task.train) and np.isin(r["best_test"], task.eval)
    if strategy == "predictor":
        assert -1 <= r["kendall_tau"] <= 1 and "recall@100" in r and "recall@1000" in r
    else:
        assert "kendall_tau" not in r


def test_predictor_strategy_beats_random_on_a_learnable_task(task):
    observed, selected, _ = select.choose(cell(80, strategy="predictor", k=30), task)
    from nasbench_harness.methods.base import ArchSet
    from nasbench_harness.protocols.predict import build_predictor

    p = build_predictor(cell(80))
    p.fit(ArchSet(task, observed), task.train_scores[observed])
    scores = p.predict(ArchSet(task, np.arange(len(task))))
    unseen = np.setdiff1d(np.arange(len(task)), observed)
    np.testing.assert_array_equal(np.sort(selected), np.sort(unseen[np.argsort(-scores[unseen])[:30]]))  # the top-K
    pred = [select.run(cell(80, seed=s, strategy="predictor", k=30), task)[0] for s in range(5)]
    rand = [select.run(cell(80, seed=s, strategy="random", k=30), task)[0] for s in range(5)]
    assert np.mean([r["kendall_tau"] for r in pred]) > 0.4
    assert np.mean([r["selected_best_test"] for r in pred]) > np.mean([r["selected_best_test"] for r in rand])


def test_select_is_reproducible(task):
    a = select.run(cell(50, strategy="evolution"), task)[0]
    b = select.run(cell(50, strategy="evolution"), task)[0]
    assert {k: v for k, v in a.items() if "seconds" not in k} == {k: v for k, v in b.items() if "seconds" not in k}


def test_bad_params_are_config_errors(task):
    with pytest.raises(ConfigError, match="strategy"):
        select.check_params({"strategy": "bayes"})
    with pytest.raises(ConfigError, match="unknown protocol_params"):
        select.check_params({"K": 30})
    with pytest.raises(ConfigError, match="positive integer"):
        select.check_params({"k": 0})
    with pytest.raises(ConfigError, match="lower the budget or k"):
        select.run(cell(7990, strategy="random", k=30), task)


def test_paper_convnp_matrix_expands_as_documented():
    from collections import Counter

    from nasbench_harness.matrix import load_matrix

    m = load_matrix("paper-convnp")
    assert {c.protocol for c in m.cells} == {"select"}
    per = Counter((c.method, c.protocol_params.get("strategy")) for c in m.cells)
    for label in ("LR", "RR", "MLP", "RF", "XGB", "NP", "CAP", "CARL"):
        assert per[(label, "predictor")] == 4 * 20
    assert per[("RS", "random")] == per[("RE", "evolution")] == 4 * 20
    # main (4 tasks) + sizes (2 tasks x 7 budgets, 2 of them shared with main), 20 seeds
    assert per[("ConvNP", "predictor")] == (4 + 14 - 2) * 20
    for ablation in ("MSE", "Ranking", "ML", "ML+Ranking", "no split", "no synthetic"):
        assert per[(f"ConvNP ({ablation})", "predictor")] == 20
    regressors = [c for c in m.cells if c.method in ("LR", "RR", "MLP", "RF", "XGB")]
    assert all(c.encoding == "meta" and c.params.get("tune") is True for c in regressors)
    # the search baselines name no predictor (and no encoding) instead of an ignored one
    baselines = [c for c in m.cells if c.protocol_params.get("strategy") != "predictor"]
    assert {c.method for c in baselines} == {"RS", "RE"}
    assert all(c.predictor == "none" and c.encoding == "" and not c.params and not c.loss for c in baselines)
    assert all(c.predictor != "none" for c in m.cells if c.protocol_params.get("strategy") == "predictor")


def free_cell(budget=50, seed=0, **pp) -> Cell:
    return Cell(protocol="select", task="toy/synthetic", predictor="none", encoding="", budget=budget, seed=seed, protocol_params=pp)


def test_select_baselines_come_from_the_strategy_registry(tmp_dist):
    """A registered strategy that can extend an observed sample is a select baseline, labelled as
    its class declares; one that cannot is refused by name."""
    tmp_dist("nbh-tmp-select", {"nbh_tmp_select.py": (
        "from nasbench_harness.methods.strategies.baselines import RandomSearch\n"
        "class FirstUnseen(RandomSearch):\n"
        "    select_label = 'first_unseen'\n"
        "    @classmethod\n"
        "    def extend(cls, task, observed, k, rng, params):\n"
        "        import numpy as np\n"
        "        return np.setdiff1d(np.arange(len(task)), observed)[:k]\n")},
        "[nasbench_harness.strategies]\nfirst_unseen = nbh_tmp_select:FirstUnseen\n")
    assert select.predictor_free_label({"strategy": "first_unseen"}) == "first_unseen"
    observed, selected, _ = select.choose(free_cell(20, strategy="first_unseen", k=5), toy_task())
    assert selected.tolist() == np.setdiff1d(np.arange(len(toy_task())), observed)[:5].tolist()
    with pytest.raises(ConfigError, match="'npenas' cannot extend an observed sample.*evolution.*first_unseen.*random"):
        select.check_params({"strategy": "npenas"})


def test_predictor_free_label_names_the_baselines():
    assert select.predictor_free_label({"strategy": "random"}) == "random_search"
    assert select.predictor_free_label({"strategy": "evolution", "k": 5}) == "evolution"
    assert select.predictor_free_label({"strategy": "predictor"}) is None
    assert select.predictor_free_label({}) is None


@pytest.mark.parametrize("strategy", ["random", "evolution"])
def test_search_baselines_run_without_a_predictor(task, strategy):
    a = select.run(free_cell(60, strategy=strategy, k=20), task)[0]
    b = select.run(cell(60, strategy=strategy, k=20), task)[0]  # the old convention: an ignored predictor
    for key in ("best_val", "best_test", "selected_best_test", "best_test_of_selected"):
        assert a[key] == b[key]  # the predictor never mattered: the same selection
    assert "kendall_tau" not in a


def test_predictor_strategy_with_predictor_none_is_a_config_error(task):
    with pytest.raises(ConfigError, match="needs a predictor but the cell has predictor 'none'"):
        select.run(free_cell(60, strategy="predictor"), task)
    with pytest.raises(ConfigError, match="needs a predictor"):
        select.run(free_cell(60), task)


def test_runner_rows_of_a_search_baseline_show_predictor_none(write_matrix):
    from nasbench_harness.matrix import load_matrix
    from nasbench_harness.runner import execute_cell, plan
    from nasbench_harness.store import ResultStore

    path = write_matrix(
        "protocol: select\ntasks: [toy/synthetic]\nbudgets: [50]\nseeds: [0]\n"
        "protocol_params: {strategy: random, k: 10}\nmethods: [none]\n"
    )
    m = load_matrix(path)
    p = plan(m, ResultStore(path.parent / "results"))
    (row,) = execute_cell(p.payloads[0])
    assert row["status"] == "ok", row["error"]
    assert (row["predictor"], row["method"], row["encoding"], row["loss"]) == ("none", "random_search", "", "")
    assert row["strategy"] == "random" and row["n_train"] == 50


@pytest.mark.slow
@pytest.mark.shared_data
def test_evolution_and_random_on_the_nb101_subset(cache_for):
    from nasbench_harness.tasks.catalog import load_task

    nb101 = load_task("nb101/cifar10", cache_for("nb101"))
    c = Cell(protocol="select", task="nb101/cifar10", predictor="linear", encoding="meta", budget=172, seed=3, protocol_params={"strategy": "evolution"})
    observed, selected, _ = select.choose(c, nb101)
    assert len(selected) == 30 and not set(selected.tolist()) & set(observed.tolist())
    # every selection is a single-edit neighbour of an architecture evaluated before it
    reachable = {n for a in nb101.ids[observed] for n in nb101.space.neighbours(str(a))}
    for row in selected:
        child = str(nb101.ids[row])
        assert child in reachable, child
        reachable.update(nb101.space.neighbours(child))
    row = select.run(c, nb101)[0]
    assert row["best_val"] >= row["observed_best_val"] and not nb101.eval_is_test


def test_tied_predictions_are_not_selected_by_row_order(task, monkeypatch):
    """A constant predictor selects like random search, not the first unseen rows of the table."""
    from nasbench_harness import registry
    from nasbench_harness.methods.base import Predictor

    class Constant(Predictor):
        name = "constant"
        description = "predicts 0 for every architecture"

        def fit(self, archs, y, *, unlabeled=None):
            pass

        def predict(self, archs):
            return np.zeros(len(archs.rows))

    real = registry.load
    monkeypatch.setattr(registry, "load", lambda kind, name: Constant if (kind, name) == ("predictors", "constant") else real(kind, name))
    c = Cell(protocol="select", task="toy/synthetic", predictor="constant", encoding="onehot", budget=60, seed=0, protocol_params={"k": 30})
    observed, selected, _ = select.choose(c, task)
    first_unseen = np.setdiff1d(np.arange(len(task)), observed)[:30]
    assert not np.array_equal(np.sort(selected), first_unseen)
    assert np.median(selected) > 100  # spread over the 8,000 rows, not packed at the start
    again = select.choose(c, task)[1]
    np.testing.assert_array_equal(selected, again)  # the tie-break comes from the cell: reproducible


def test_metrics_leave_out_observed_rows_when_the_eval_metric_is_the_train_metric(task):
    import dataclasses

    spec = dataclasses.replace(task.spec, eval_metric=task.spec.train_metric)
    val_only = dataclasses.replace(task, spec=spec, eval=task.train.copy(), eval_metric=spec.train_metric, _row=None)
    _, _, row = select.choose(cell(60, k=30), val_only)
    assert row["n_eval"] == len(task) - 60
    _, _, row = select.choose(cell(60, k=30), task)
    assert row["n_eval"] == len(task)
