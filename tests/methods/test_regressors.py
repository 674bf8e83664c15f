"""The classic regressors learn a synthetic function, are seeded, tune, and survive tiny data."""

from __future__ import annotations

import numpy as np
import pytest
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.base import ArchSet
from nasbench_harness.methods.regressors import (
    GaussianProcessPredictor,
    LightGBMPredictor,
    LinearRegressionPredictor,
    MLPPredictor,
    RandomForestPredictor,
    RidgePredictor,
    XGBoostPredictor,
)
from scipy.stats import kendalltau

ALL = [
    LinearRegressionPredictor,
    RidgePredictor,
    MLPPredictor,
    RandomForestPredictor,
    XGBoostPredictor,
    LightGBMPredictor,
    GaussianProcessPredictor,
]


class FakeTask:
    """Just enough of a Task for ArchSet: one encoding matrix per kind."""

    def __init__(self, X: np.ndarray):
        self.X = X.astype(np.float32)
        self.ids = np.array([f"a{i}" for i in range(len(X))])

    def encoding(self, kind: str) -> np.ndarray:
        return self.X


def synthetic(n=600, d=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, d))
    y = (
        2 * X[:, 0] + np.sin(2 * X[:, 1]) + 0.5 * X[:, 2] ** 2 + X[:, 3] * X[:, 4] + 90
    )  # accuracy-like offset
    return FakeTask(X), y


@pytest.fixture(scope="module")
def data():
    task, y = synthetic()
    train, test = ArchSet(task, np.arange(200)), ArchSet(task, np.arange(200, 600))
    return train, test, y


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_learns_a_smooth_function(cls, data):
    train, test, y = data
    model = cls(seed=0)
    model.fit(train, y[train.rows])
    pred = model.predict(test)
    assert pred.shape == (len(test),) and np.isfinite(pred).all()
    threshold = (
        0.6 if cls is LinearRegressionPredictor or cls is RidgePredictor else 0.7
    )  # linear can't fit sin/products
    assert kendalltau(pred, y[test.rows]).statistic > threshold
    # targets were standardised internally and mapped back: predictions live on y's scale
    assert abs(pred.mean() - y[test.rows].mean()) < 1.0


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_same_seed_same_predictions(cls, data):
    train, test, y = data
    a, b = cls(seed=7), cls(seed=7)
    a.fit(train, y[train.rows])
    b.fit(train, y[train.rows])
    np.testing.assert_array_equal(a.predict(test), b.predict(test))


def test_different_seeds_differ_for_randomised_models(data):
    train, test, y = data
    a, b = RandomForestPredictor(seed=1), RandomForestPredictor(seed=2)
    a.fit(train, y[train.rows])
    b.fit(train, y[train.rows])
    assert not np.array_equal(a.predict(test), b.predict(test))


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_tiny_training_sets(cls, data):
    train, test, y = data
    for n in (2, 10):
        small = train.subset(np.arange(n))
        model = cls(seed=0, tune=True, n_trials=2)
        model.fit(small, y[small.rows])
        assert np.isfinite(model.predict(test)).all()


def test_constant_target_predicts_the_constant(data):
    train, test, _ = data
    model = XGBoostPredictor(seed=0)
    model.fit(train, np.full(len(train), 93.5))
    np.testing.assert_allclose(model.predict(test), 93.5)


@pytest.mark.parametrize(
    "cls",
    [
        RidgePredictor,
        XGBoostPredictor,
        LightGBMPredictor,
        MLPPredictor,
        GaussianProcessPredictor,
        RandomForestPredictor,
    ],
    ids=lambda c: c.name,
)
def test_tune_picks_from_the_search_space_and_is_deterministic(cls, data):
    train, test, y = data
    small = train.subset(np.arange(60))
    kw = {"seed": 3, "tune": True, "n_trials": 3, "cv_folds": 3}
    if cls is RandomForestPredictor:
        kw["n_estimators"] = 20
    if cls is MLPPredictor:
        kw["max_iter"] = 100
    a, b = cls(**kw), cls(**kw)
    a.fit(small, y[small.rows])
    b.fit(small, y[small.rows])
    assert a.best_params_ == b.best_params_
    assert set(cls.search_space) <= set(a.best_params_)
    np.testing.assert_array_equal(a.predict(test), b.predict(test))
    assert kendalltau(a.predict(test), y[test.rows]).statistic > 0.3


def test_tune_searches_on_training_data_only(data, monkeypatch):
    """The CV search sees exactly the training rows; nothing of the evaluation set."""
    train, _, y = data
    seen = []
    from sklearn import model_selection

    original = model_selection.cross_val_score

    def spy(model, X, y, **kw):
        seen.append(X.shape[0])
        return original(model, X, y, **kw)

    monkeypatch.setattr(model_selection, "cross_val_score", spy)
    model = RidgePredictor(seed=0, tune=True, n_trials=2)
    small = train.subset(np.arange(40))
    model.fit(small, y[small.rows])
    assert seen == [40, 40]  # one CV per trial, each on the 40 training rows


def test_bad_parameters_and_order_are_clear():
    with pytest.raises(ConfigError, match="unknown parameter"):
        RidgePredictor(depth=3)
    with pytest.raises(ConfigError, match="n_trials"):
        RidgePredictor(n_trials=0)
    task, y = synthetic(n=10)
    with pytest.raises(ConfigError, match="before fit"):
        RidgePredictor().predict(ArchSet(task, np.arange(5)))
    with pytest.raises(ConfigError, match="at least 2"):
        RidgePredictor().fit(ArchSet(task, np.arange(1)), y[:1])


def test_registered_under_their_entry_point_names():
    from nasbench_harness import registry

    for cls in ALL:
        assert registry.load("predictors", cls.name) is cls


def test_gp_subsamples_large_training_sets(data):
    train, test, y = data
    model = GaussianProcessPredictor(seed=0, max_points=50)
    model.fit(train, y[train.rows])
    assert model._model.named_steps["model"].X_train_.shape[0] == 50
    assert kendalltau(model.predict(test), y[test.rows]).statistic > 0.5


def test_ridge_and_xgboost_on_real_nb201_meta_features(cache_for):
    """ConvNP's setting: 90 NB201 architectures, meta-features, whole space scored."""
    from nasbench_harness.metrics import prediction_metrics
    from nasbench_harness.tasks.catalog import load_task

    task = load_task("nb201/cifar10", cache_for("nb201"))
    rows = np.random.default_rng(0).choice(len(task), 90, replace=False)
    everything = ArchSet(task, np.arange(len(task)))
    assert task.encoding("meta").shape == (15625, 10)
    for cls in (RidgePredictor, XGBoostPredictor):
        model = cls(seed=0, encoding="meta")
        model.fit(ArchSet(task, rows), task.train_scores[rows])
        m = prediction_metrics(
            task.eval_scores, model.predict(everything), sign=task.sign
        )
        assert m["kendall_tau"] > 0.4, cls.name
        assert m["best_of_top30"] > 92.5  # the best cell of the space reaches 94.37
