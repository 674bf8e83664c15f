"""The predict protocol on the synthetic toy task: sampling, eval sets, failures, losses."""

from __future__ import annotations

import numpy as np
import pytest
from nasbench_harness import registry
from nasbench_harness.errors import ConfigError
from nasbench_harness.matrix import Cell
from nasbench_harness.methods.base import Predictor
from nasbench_harness.protocols.predict import CellFailed, n_train_for, run
from nasbench_harness.testing import toy_task

SEEN: dict[str, list] = {}


class SpyPredictor(Predictor):
    """Records what it is given; predicts the mean of the onehot encoding."""

    name = "spy"
    description = "test spy"
    default_params = {"nan": False}

    def fit(self, archs, y, *, unlabeled=None):
        SEEN.setdefault("fit", []).append((archs.rows.copy(), np.asarray(y).copy(), self.seed))

    def predict(self, archs):
        x = archs.encoding("onehot")
        out = x @ np.arange(x.shape[1], dtype=np.float64)
        if self.params["nan"]:
            out[::7] = np.nan
        return out


class LossyPredictor(SpyPredictor):
    name = "lossy"
    supports_loss = True


@pytest.fixture
def spy(monkeypatch):
    SEEN.clear()
    real = registry.load

    def load(kind, name):
        if kind == "predictors" and name in ("spy", "lossy"):
            return {"spy": SpyPredictor, "lossy": LossyPredictor}[name]
        return real(kind, name)

    monkeypatch.setattr(registry, "load", load)
    return SEEN


def cell(**kw) -> Cell:
    base = dict(protocol="predict", task="toy/synthetic", predictor="spy", encoding="onehot", budget=0.05, seed=0)
    return Cell(**{**base, **kw})


def test_budget_sizes():
    assert n_train_for(0.05, 600) == 30
    assert n_train_for(0.0001, 600) == 2  # at least 2
    assert n_train_for(0.0125, 600) == round(7.5)  # rounded, not truncated
    assert n_train_for(50, 600) == 50
    with pytest.raises(ConfigError, match="only 600"):
        n_train_for(601, 600)


def test_whole_space_is_scored_and_metrics_are_finite(spy):
    task = toy_task()
    (r,) = run(cell(), task)
    assert r["n_train"] == 30 and r["n_eval"] == len(task)
    assert np.isfinite(r["kendall_tau"]) and -1 <= r["kendall_tau"] <= 1
    assert r["fit_seconds"] >= 0 and r["predict_seconds"] >= 0
    rows, y, _ = spy["fit"][0]
    assert len(np.unique(rows)) == 30
    np.testing.assert_array_equal(y, task.train_scores[rows])  # fit sees the train metric only


def test_space_minus_train(spy):
    (r,) = run(cell(protocol_params={"eval_set": "space-minus-train"}), toy_task())
    assert r["n_eval"] == len(toy_task()) - 30


def test_training_set_is_shared_across_methods_and_set_by_seed(spy):
    task = toy_task()
    run(cell(), task)
    run(cell(predictor="lossy"), task)
    run(cell(seed=1), task)
    (a, _, sa), (b, _, sb), (c, _, _) = spy["fit"]
    np.testing.assert_array_equal(a, b)  # paired: same architectures for every method
    assert sa == sb
    assert not np.array_equal(a, c)


def test_identical_results_for_identical_cells(spy):
    task = toy_task()
    r1, r2 = run(cell(), task)[0], run(cell(), task)[0]
    metrics = [k for k in r1 if not k.endswith("_seconds")]
    assert {k: r1[k] for k in metrics} == {k: r2[k] for k in metrics}


def test_nan_predictions_fail_the_cell_with_the_reason(spy):
    with pytest.raises(CellFailed, match=r"non-finite \(NaN/inf\) predictions"):
        run(cell(params={"nan": True}), toy_task())


def test_a_loss_for_a_predictor_without_loss_support_is_a_config_error(spy, example_plugin):
    with pytest.raises(ConfigError, match="takes no loss"):
        run(cell(loss="softrank"), toy_task())
    (r,) = run(cell(predictor="lossy", loss="softrank"), toy_task())
    assert r["n_train"] == 30


def test_unknown_eval_set(spy):
    with pytest.raises(ConfigError, match="Unknown eval_set 'everything'"):
        run(cell(protocol_params={"eval_set": "everything"}), toy_task())


def test_mutation_eval_set_uses_the_loss_paper_test_set(spy):
    (r,) = run(cell(protocol_params={"eval_set": "mutation"}), toy_task())
    assert 0 < r["n_eval"] <= 200



class _DigitsTask:
    """4-digit strings over 0..3 (256 archs); a single edit changes one digit."""

    name = "toy/digits"

    def __init__(self) -> None:
        import itertools

        self.ids = np.array(["".join(p) for p in itertools.product("0123", repeat=4)])
        self.train_scores = np.array([int(a, 4) for a in self.ids], dtype=float)
        self._row = {a: i for i, a in enumerate(self.ids)}

        class Space:
            def neighbours(self, a):
                return [a[:i] + d + a[i + 1 :] for i in range(4) for d in "0123" if d != a[i]]

        self.space = Space()

    def __len__(self) -> int:
        return len(self.ids)

    def rows_of(self, arch_ids) -> np.ndarray:
        return np.fromiter((self._row.get(a, -1) for a in arch_ids), dtype=np.int64)


def test_mutation_eval_set_never_holds_a_training_row():
    """Mutants the predictor was fitted on are not test cases (their labels would leak)."""
    from nasbench_harness.protocols.predict import eval_rows
    from nasbench_harness.protocols.testsets import mutation_test_set

    task = _DigitsTask()
    c = cell(protocol_params={"eval_set": "mutation", "mutation": {"n_initial": 20, "n_seeds": 5, "n_mutants": 40}})
    train = np.sort(np.random.default_rng(0).choice(len(task), size=100, replace=False))
    plain = mutation_test_set(task, np.random.default_rng(7), n_initial=20, n_seeds=5, n_mutants=40)
    assert np.isin(plain, train).any()  # without the exclusion this set would leak training rows
    rows = eval_rows(c, task, train, np.random.default_rng(7))
    assert len(rows) > 0 and not np.isin(rows, train).any()


def _validation_only_task():
    """The toy task judged on its train metric (like DARTS/NB301 or NB101 without test accuracy)."""
    import dataclasses

    base = toy_task()
    spec = dataclasses.replace(base.spec, eval_metric=base.spec.train_metric)
    return dataclasses.replace(base, spec=spec, eval=base.train.copy(), eval_metric=spec.train_metric, _row=None)


def test_space_leaves_out_training_rows_when_the_eval_metric_is_the_train_metric(spy):
    from nasbench_harness.protocols.predict import eval_rows

    task = _validation_only_task()
    c = cell(budget=0.2)
    train = np.sort(c.rng().choice(len(task), size=n_train_for(0.2, len(task)), replace=False))
    rows = eval_rows(c, task, train, c.rng(stream=2))
    assert len(rows) == len(task) - len(train) and not np.isin(rows, train).any()
    (r,) = run(c, task)
    assert r["n_eval"] == len(task) - r["n_train"]
    # with a distinct eval metric the whole space stays the paper's evaluation set
    assert run(c, toy_task())[0]["n_eval"] == len(task)


def test_rows_of_a_cell_with_a_loss_carry_its_declared_category(spy, example_plugin):
    """The report reads the loss's category from the row, not from a table kept beside the losses."""
    from nasbench_harness.protocols import get_protocol

    protocol = get_protocol("predict")
    (with_loss,) = protocol.rows(cell(predictor="lossy", loss="softrank"), toy_task())
    assert with_loss["loss_category"] == "ranking"  # declared by the plugin's SoftPairwiseLoss
    (plain,) = protocol.rows(cell(), toy_task())
    assert "loss_category" not in plain
