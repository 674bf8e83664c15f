"""The transfer protocol on real NB201 tasks: the 199-cell Suite-Zero SVHN/NinaPro targets and full NB201 sources."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from nasbench_harness.errors import ConfigError, HarnessError
from nasbench_harness.matrix import Cell, load_matrix
from nasbench_harness.protocols import predict, transfer
from scipy.stats import kendalltau

XGB = {"n_estimators": 60}  # small and quick; the matrix uses the predictor's defaults


@pytest.fixture(scope="module")
def tasks(cache_for):
    from nasbench_harness.tasks.catalog import load_task

    cache_for("nb201")
    cache_for("transfer")
    return {n: load_task(n) for n in ("nb201/svhn", "nb201/ninapro", "nb201/cifar10")}


def cell(target="nb201/svhn", source="nb201/ninapro", predictor="xgboost", budget=0, seed=0, encoding="graf", **pp) -> Cell:
    return Cell(protocol="transfer", task=target, predictor=predictor, encoding="" if predictor == "none" else encoding,
                budget=budget, seed=seed, params={} if predictor == "none" else XGB,
                protocol_params={"mode": "predict", "source": source, **pp})


def test_baseline_tau_is_scipys_tau_of_the_two_label_vectors(tasks):
    for source in ("nb201/ninapro", "nb201/cifar10"):
        target, src = tasks["nb201/svhn"], tasks[source]
        row = transfer.run(cell(source=source, predictor="none"), target)[0]
        at = src.rows_of(target.ids)
        assert (at >= 0).all() and row["n_eval"] == len(target) and row["n_missing_source"] == 0
        expected = kendalltau(src.train[at], target.eval).statistic
        assert row["kendall_tau"] == pytest.approx(expected, abs=1e-12)
        assert row["baseline"] and row["source_task"] == source and row["n_train"] == 0 and row["target_shots"] == 0


def test_baseline_on_a_target_larger_than_its_source_uses_the_overlap(tasks):
    """Source svhn (199 cells) for target cifar10 (15,625): only the overlap can be ranked."""
    target, src = tasks["nb201/cifar10"], tasks["nb201/svhn"]
    row = transfer.run(cell(target="nb201/cifar10", source="nb201/svhn", predictor="none"), target)[0]
    assert row["n_eval"] == 199 and row["n_missing_source"] == len(target) - 199
    at = target.rows_of(src.ids)
    assert row["kendall_tau"] == pytest.approx(kendalltau(src.train, target.eval[at]).statistic, abs=1e-12)


def test_few_shot_uses_the_predict_protocols_rows_never_evaluates_them_and_learns_the_target(tasks):
    target = tasks["nb201/svhn"]
    zero = [transfer.run(cell(seed=s), target)[0] for s in range(3)]
    few = [transfer.run(cell(seed=s, budget=100), target)[0] for s in range(3)]
    assert all(r["n_eval"] == 199 and r["n_train"] == 199 and r["source_n"] == 199 for r in zero)
    assert all(r["n_eval"] == 99 and r["n_train"] == 299 and r["target_shots"] == 100 and r["shot_copies"] == 2 for r in few)
    # The shots are the predict protocol's training rows for the same task, budget and seed.
    k, train, _ = predict._split(Cell(protocol="predict", task="nb201/svhn", predictor="xgboost", encoding="graf", budget=100, seed=1), target)
    assert k == 100 and np.array_equal(train, transfer.target_shots(cell(seed=1, budget=100), target))
    # NinaPro ranks SVHN's cells at random (tau ~ 0): zero-shot inherits that, 100 shots learn SVHN.
    assert abs(np.mean([r["kendall_tau"] for r in zero])) < 0.15
    assert np.mean([r["kendall_tau"] for r in few]) > np.mean([r["kendall_tau"] for r in zero]) + 0.3


def test_labels_are_the_train_metrics_never_the_targets_eval_metric(tasks, monkeypatch):
    """Replacing the target's eval column changes the metrics, not a single prediction."""
    target = tasks["nb201/svhn"]
    noisy = dataclasses.replace(target, eval=np.random.default_rng(0).permutation(target.eval), _row=None)
    seen = []
    from nasbench_harness import metrics

    original = metrics.prediction_metrics

    def spy(y_true, y_pred, **kw):
        seen.append(np.array(y_pred))
        return original(y_true, y_pred, **kw)

    monkeypatch.setattr(metrics, "prediction_metrics", spy)
    transfer.run(cell(budget=20), target)
    transfer.run(cell(budget=20), noisy)
    assert len(seen) == 2 and np.array_equal(seen[0], seen[1])


def test_zero_and_few_shot_share_the_source_sample(tasks):
    src = tasks["nb201/cifar10"]
    a = transfer.sample_rows(src, 500, transfer.source_rng(3, src.name, 500))
    b = transfer.sample_rows(src, 500, transfer.source_rng(3, src.name, 500))
    c = transfer.sample_rows(src, 500, transfer.source_rng(4, src.name, 500))
    assert np.array_equal(a, b) and not np.array_equal(a, c) and len(np.unique(a)) == 500
    row = transfer.run(cell(source="nb201/cifar10", source_budget=500, budget=10), tasks["nb201/svhn"])[0]
    assert row["source_n"] == 500 and row["n_train"] == 510


BAD = [
    ({"source": "nb201/svhnn"}, "Unknown task 'nb201/svhnn'"),
    ({"source": "nbgraph/cora"}, "is in search space 'nbgraph' but the target"),
    ({"source": "nb201/svhn"}, "is the target task itself"),
    ({"source": "nb201/ninapro", "mode": "search"}, "mode 'search' is reserved"),
    ({"source": "nb201/ninapro", "mode": "fit"}, "mode must be 'predict'"),
    ({"source": "nb201/ninapro", "source_budget": 1000}, "exceeds the 199 cells of task 'nb201/ninapro'"),
    ({"source": "nb201/ninapro", "source_budget": "most"}, "source_budget must be 'all' or a count"),
    ({"source": "nb201/ninapro", "normalise": "minmax"}, "normalise must be one of"),
    ({"source": "nb201/ninapro", "shot_weight": 0}, "shot_weight must be 'balanced'"),
    ({"source": "nb201/ninapro", "sauce": 1}, "unknown protocol_params ['sauce']"),
    ({}, "needs protocol_params.source"),
]


@pytest.mark.parametrize("pparams, fragment", BAD)
def test_bad_input_is_one_sentence(tasks, pparams, fragment):
    c = dataclasses.replace(cell(), protocol_params={"mode": "predict", **pparams})
    with pytest.raises(HarnessError) as err:
        transfer.run(c, tasks["nb201/svhn"])
    msg = str(err.value)
    assert fragment in msg and "\n" not in msg and msg.rstrip().endswith((".", "?")), msg


def test_too_many_target_shots_is_one_sentence(tasks):
    with pytest.raises(ConfigError, match="leaves 1 of the 199 cells"):
        transfer.run(cell(budget=198), tasks["nb201/svhn"])


def test_matrix_accepts_zero_shot_and_the_baseline_and_refuses_other_spaces(write_matrix):
    path = write_matrix(
        "protocol: transfer\nprotocol_params: {mode: predict, source: nb201/ninapro}\ntasks: [nb201/svhn]\n"
        "budgets: [0, 20]\nseeds: 2\nmethods: [none, {predictor: xgboost, encoding: graf, label: XGB graf}]\n"
    )
    cells = load_matrix(path).cells
    assert len(cells) == 8 and {c.budget for c in cells} == {0, 20}
    assert {c.method for c in cells if c.predictor == "none"} == {"source accuracy"}
    bad = write_matrix("protocol: transfer\nprotocol_params: {source: nb201/ninapro}\ntasks: [nb201/svhn, nbgraph/cora]\nbudgets: [0]\nmethods: [none]\n", "bad.yaml")
    with pytest.raises(ConfigError, match="tasks\\[1\\]: The source task 'nb201/ninapro' is in search space 'nb201' but the target 'nbgraph/cora'"):
        load_matrix(bad)
    zero = write_matrix("tasks: [nb201/svhn]\nbudgets: [0]\nmethods: [xgboost]\n", "zero.yaml")
    with pytest.raises(ConfigError, match="at least 2 architectures, got 0"):  # predict keeps its minimum
        load_matrix(zero)


def test_paper_surrogates_matrix_is_valid_without_the_lm_predictor():
    from nasbench_harness import registry

    m = load_matrix("paper-surrogates")
    has_lm = "lm" in registry.names("predictors")
    assert any(c.predictor == "lm" for c in m.cells) == has_lm
    assert {c.protocol for c in m.cells} == {"predict", "transfer", "search"}
    assert {c.protocol_params.get("strategy") for c in m.cells if c.protocol == "search"} == {"evolution", "surrogate_filter", "surrogate_objective"}


def test_runner_gives_identical_rows_on_serial_and_process_executors(tasks, write_matrix, stores_on_executors):
    path = write_matrix(
        "protocol: transfer\nprotocol_params: {mode: predict, source: nb201/ninapro}\ntasks: [nb201/svhn]\n"
        "budgets: [0, 30]\nseeds: 2\nmethods: [none, {predictor: xgboost, encoding: graf, params: {n_estimators: 40}}]\n"
    )
    out = {}
    for name, (p, summary, df) in stores_on_executors(path).items():
        assert summary.n_ok == len(p.cells) == 8, summary.failures
        df = df.set_index("key").sort_index()
        out[name] = df[["kendall_tau", "spearman", "n_eval", "n_train", "source_n", "baseline", "mae"]]
    assert out["serial"].equals(out["process"])
