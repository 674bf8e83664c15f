"""The GraB-NAS family of search strategies on NB201 with tiny meta-trained models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.grabnas import meta
from nasbench_harness.methods.strategies import make_strategy
from nasbench_harness.methods.strategies.base import BudgetExhausted, Oracle, SearchContext
from nasbench_harness.protocols import search

TINY = meta.TEST_CONFIG


@pytest.fixture(scope="module")
def task(cache_for):
    from nasbench_harness.tasks.catalog import load_task

    cache_for("nb201")
    cache_for("transfer")
    return load_task("nb201/cifar100")


@pytest.fixture(autouse=True)
def tiny(monkeypatch):
    monkeypatch.setattr(meta, "DEFAULT_CONFIG", TINY)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run(task, name: str, budget: int, **params):
    """The strategy as the search protocol runs it: the protocol makes the pruned candidate set and the
    eval-metric columns, the strategy sees neither metric's values."""
    strategy = make_strategy(name, params)
    oracle = Oracle(task, budget, name)
    candidates = search.candidate_set(task, strategy.params)
    ctx = SearchContext(rng=np.random.default_rng(0), initial_order=np.arange(len(task)), task_name="nb201/cifar100", seed=0,
                        candidates=candidates)
    try:
        strategy.search(oracle, ctx)
    except BudgetExhausted:
        pass
    return oracle, {**strategy.row_extras(oracle), **search.pruned_columns(task, strategy.params, candidates)}


@pytest.mark.parametrize("name", ["grabnas", "grabnas_knn", "tnas", "metad2a"])
def test_strategies_spend_the_budget_starting_from_the_support_set(task, name):
    oracle, extras = run(task, name, 12, **({} if name == "metad2a" else {"bo_rounds": 2}))
    assert oracle.n_queries == 12
    models = meta.load_or_train("metad2a", "nb201/cifar100", 0)
    assert oracle.ids(oracle.trace_rows[:5]) == models.ranking[:5]
    assert extras["setting"] == "metad2a" and extras["prune_top"] == 0
    assert extras["n_queried_outside_candidates"] == 0
    if name == "tnas" or name == "grabnas_knn":
        assert extras["n_decoded"] == 0  # no decoder
    if name == "metad2a":
        assert extras["n_decoded"] == 7  # everything after the support set was generated
    assert len(extras["decoded_ids"]) == extras["n_decoded"]


def test_pruned_candidates_are_only_reached_by_decoding(task):
    k = 100
    oracle, extras = run(task, "grabnas", 20, prune_top=k, bo_rounds=2)
    top = set(np.argsort(-task.eval_scores, kind="stable")[:k].tolist())
    outside = [r for r in oracle.trace_rows.tolist() if r in top]
    assert len(outside) == extras["n_queried_outside_candidates"] == extras["n_outside_candidates"]
    assert set(oracle.ids(np.asarray(outside, dtype=np.int64))) <= set(extras["decoded_ids"])
    keep = np.ones(len(task), bool)
    keep[list(top)] = False
    assert extras["remaining_best_eval"] == pytest.approx(float(task.eval[keep].max()))
    _, knn = run(task, "grabnas_knn", 20, prune_top=k, bo_rounds=2)
    assert knn["n_queried_outside_candidates"] == 0


def test_every_decode_is_counted_once_by_what_it_gave(task):
    """n_decodes counts every decode of every ascent try; each is invalid, already queried (or an
    isomorph of a queried cell), unlabelled, or novel (charged, listed in decoded_ids)."""
    _, extras = run(task, "grabnas", 25, bo_rounds=2)
    parts = extras["n_invalid_decodes"] + extras["n_decoded_known"] + extras["n_decoded_unlabelled"] + extras["n_decoded"]
    assert extras["n_decodes"] == parts > 0
    assert extras["n_ascents"] <= extras["n_decodes"] <= extras["n_ascents"] * 4  # retries 3: at most four decodes an ascent
    assert len(extras["decoded_ids"]) == extras["n_decoded"] <= extras["n_ascents"]


def test_algorithm1_takes_one_step_and_decodes_once_per_iteration(task):
    """ascent_steps 1, retries 0: the paper's single gradient step, decoded once, no retry."""
    oracle, extras = run(task, "grabnas", 20, bo_rounds=2, ascent_steps=1, retries=0)
    assert oracle.n_queries == 20
    assert extras["n_decodes"] == extras["n_ascents"] > 0


def test_bad_parameters_and_tasks_are_refused(task):
    with pytest.raises(ConfigError, match="prune_top"):
        make_strategy("grabnas", {"prune_top": -1})
    with pytest.raises(ConfigError, match="setting"):
        make_strategy("tnas", {"setting": "imagenet"})
    with pytest.raises(ConfigError, match="does not accept"):
        make_strategy("metad2a", {"steps": 3})
    with pytest.raises(ConfigError, match="retries"):
        make_strategy("grabnas", {"retries": -1})
    with pytest.raises(ConfigError, match="dvae_scale"):
        make_strategy("grabnas", {"dvae_scale": "huge"})
    strategy = make_strategy("tnas", {})
    ctx = SearchContext(rng=np.random.default_rng(0), initial_order=np.arange(len(task)), task_name="nb201/svhn")
    with pytest.raises(ConfigError, match="NB201"):
        strategy.search(Oracle(task, 5, "tnas"), ctx)
