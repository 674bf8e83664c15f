"""surrogate_filter and surrogate_objective on real NB201 tasks (the 199-cell Suite-Zero SVHN pool, sources
from the other NB201 tasks)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from nasbench_harness.errors import ConfigError, HarnessError
from nasbench_harness.matrix import Cell, load_matrix
from nasbench_harness.methods.strategies import make_strategy
from nasbench_harness.methods.strategies.surrogate import default_sources
from nasbench_harness.protocols import search, transfer

XGB = {"n_estimators": 60}
SOURCES = ["nb201/ninapro", "nb201/scifar100"]  # 199 cells each: quick


@pytest.fixture(scope="module")
def svhn(cache_for):
    from nasbench_harness.tasks.catalog import load_task

    cache_for("nb201")
    cache_for("transfer")
    return load_task("nb201/svhn")


def cell(strategy, seed=0, budget=40, predictor="xgboost", **pp) -> Cell:
    extra = {"sources": SOURCES} if strategy != "evolution" else {}
    return Cell(protocol="search", task="nb201/svhn", predictor=predictor, encoding="graf" if predictor != "none" else "",
                budget=budget, seed=seed, params=XGB if predictor != "none" else {},
                protocol_params={"strategy": strategy, **extra, **pp})


def pool_scores(task, seed=0, budget=40):
    """The surrogate both strategies fit (predictor seeded from the cell), recomputed through the shared function."""
    from nasbench_harness.protocols.predict import build_predictor

    parts = [transfer.Labelled(s, np.arange(len(s))) for s in (transfer.load_related(n, task) for n in SOURCES)]
    c = cell("surrogate_filter", seed=seed, budget=budget)
    scores, _, _ = transfer.surrogate_scores(lambda: build_predictor(c), parts, task, np.arange(len(task)))
    return scores


def test_default_sources_label_the_whole_pool(svhn):
    from nasbench_harness.tasks.catalog import load_task

    assert sorted(default_sources(svhn)) == ["nb201/ImageNet16-120", "nb201/cifar10", "nb201/cifar100", "nb201/ninapro", "nb201/scifar100"]
    assert sorted(default_sources(load_task("nb201/cifar10"))) == ["nb201/ImageNet16-120", "nb201/cifar100"]


def test_filter_skips_children_without_charging_them(svhn):
    rows = [search.run(cell("surrogate_filter", seed=s), svhn)[0] for s in range(3)]
    for seed, r in enumerate(rows):
        scores = pool_scores(svhn, seed)
        blocked = scores < np.quantile(scores, 0.5)
        assert r["n_queries"] == 40 and r["n_blocked"] == int(blocked.sum()) and r["fit_share"] > 0
        children = svhn.rows_of(r["trace_ids"][10:])  # after the shared initial population of 10
        assert not blocked[children].any()  # no filtered architecture was ever charged
    assert sum(r["n_skipped"] for r in rows) > 0
    # The initial population is the plain RE's (paired comparison).
    re = search.run(cell("evolution", predictor="none"), svhn)[0]
    assert re["trace_ids"][:10] == rows[0]["trace_ids"][:10]


def test_filter_with_q_zero_is_plain_regularised_evolution(svhn):
    for seed in range(2):
        re = search.run(cell("evolution", seed=seed, predictor="none"), svhn)[0]
        filt = search.run(cell("surrogate_filter", seed=seed, q=0), svhn)[0]
        assert filt["trace_ids"] == re["trace_ids"] and filt["n_skipped"] == 0


def test_objective_queries_only_the_surrogates_top_k_in_its_order(svhn):
    row = search.run(cell("surrogate_objective", budget=25), svhn)[0]
    scores = pool_scores(svhn, budget=25)
    queried = svhn.rows_of(row["trace_ids"])
    assert len(queried) == row["n_queries"] == 25
    assert np.all(np.diff(scores[queried]) <= 0)  # surrogate order
    from nasbench_harness.methods.strategies.base import iso_groups

    groups = iso_groups(svhn)
    # Everything scored above the last queried cell was queried, or is an isomorph of a queried cell.
    above = np.flatnonzero(scores > scores[queried[-1]])
    assert np.isin(groups[above], groups[queried]).all()
    assert row["curve_eval"] == list(np.maximum.accumulate(svhn.eval[queried]))  # train == eval metric on svhn


def test_runs_are_identical_on_serial_and_process_executors(svhn, write_matrix, stores_on_executors):
    path = write_matrix(
        "protocol: search\ntasks: [nb201/svhn]\nbudgets: [20]\nseeds: 2\nblocks:\n"
        f"  - {{protocol_params: {{strategy: surrogate_filter, sources: {SOURCES}}}, methods: [{{predictor: xgboost, encoding: graf, params: {{n_estimators: 40}}}}]}}\n"
        f"  - {{protocol_params: {{strategy: surrogate_objective, sources: {SOURCES}}}, methods: [{{predictor: xgboost, encoding: graf, params: {{n_estimators: 40}}}}]}}\n"
    )
    out = {}
    for name, (p, summary, df) in stores_on_executors(path).items():
        assert summary.n_ok == len(p.cells) == 4, summary.failures
        out[name] = {k: (list(t), n) for k, t, n in zip(df["key"], df["trace_ids"], df["n_skipped"].fillna(-1))}
    assert out["serial"] == out["process"]


BAD_PARAMS = [
    ({"sources": "nb201/cifar10"}, "'sources' must be a non-empty list"),
    ({"sources": ["nb201/cifar1O"]}, "Unknown task 'nb201/cifar1O'"),
    ({"q": 100}, "'q' must be a percentage in [0, 100)"),
    ({"source_budget": 1}, "source_budget must be 'all' or a count"),
    ({"normalise": "max"}, "'normalise' must be one of"),
    ({"k": 3}, "does not accept ['k']"),
]


@pytest.mark.parametrize("params, fragment", BAD_PARAMS)
def test_bad_parameters_are_one_sentence(params, fragment):
    with pytest.raises(ConfigError) as err:
        make_strategy("surrogate_filter", params)
    assert fragment in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("sources, fragment", [(["nbgraph/cora"], "is in search space 'nbgraph'"), (["nb201/svhn"], "is the target task itself")])
def test_bad_sources_fail_the_cell_with_one_sentence(svhn, sources, fragment):
    c = dataclasses.replace(cell("surrogate_objective"), protocol_params={"strategy": "surrogate_objective", "sources": sources})
    with pytest.raises(HarnessError) as err:
        search.run(c, svhn)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_matrix_needs_a_predictor_for_the_surrogate(write_matrix):
    path = write_matrix("protocol: search\ntasks: [nb201/svhn]\nbudgets: [20]\nprotocol_params: {strategy: surrogate_filter}\nmethods: [none]\n")
    with pytest.raises(ConfigError, match="predictor 'none' is only allowed"):
        load_matrix(path)
