"""Graph predictor baselines (NP, CAP, CARL): they learn a synthetic ranking, deterministically."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nasbench_harness.methods.base import ArchSet
from nasbench_harness.methods.graph_predictors import (
    CAPPredictor,
    CARLPredictor,
    WenNeuralPredictor,
    context_rings,
)
from nasbench_harness.testing import toy_task
from scipy.stats import kendalltau

FAST = {
    WenNeuralPredictor: {"epochs": 60, "lr": 1e-3},
    CAPPredictor: {"epochs": 60, "pretrain_epochs": 2, "pretrain_size": 300},
    CARLPredictor: {"epochs": 60},
}


@pytest.fixture(scope="module")
def toy():
    task = toy_task(600)
    train = np.random.default_rng(0).choice(len(task), 80, replace=False)
    rest = np.setdiff1d(np.arange(len(task)), train)
    return task, train, rest


@pytest.mark.parametrize("cls", [WenNeuralPredictor, CAPPredictor, CARLPredictor])
def test_graph_predictor_learns_a_synthetic_ranking(cls, toy):
    task, train, rest = toy
    taus = {}
    untrained = {"epochs": 0, **({"pretrain_epochs": 0} if cls is CAPPredictor else {})}
    for name, params in (("untrained", {**FAST[cls], **untrained}), ("trained", FAST[cls])):
        p = cls(seed=0, **params)
        p.fit(ArchSet(task, train), task.train_scores[train], unlabeled=ArchSet(task, rest))
        taus[name] = kendalltau(p.predict(ArchSet(task, rest)), task.eval_scores[rest]).statistic
    assert taus["trained"] > 0.5, taus
    assert taus["trained"] > abs(taus["untrained"]) + 0.2, taus


@pytest.mark.parametrize("cls", [WenNeuralPredictor, CAPPredictor, CARLPredictor])
def test_graph_predictor_is_deterministic(cls, toy):
    task, train, rest = toy
    params = {**FAST[cls], "epochs": 3}
    if cls is CAPPredictor:
        params["pretrain_epochs"] = 1
    out = []
    for _ in range(2):
        p = cls(seed=7, **params)
        p.fit(ArchSet(task, train), task.train_scores[train], unlabeled=ArchSet(task, rest))
        out.append(p.predict(ArchSet(task, rest[:50])))
    np.testing.assert_array_equal(out[0], out[1])
    assert np.isfinite(out[0]).all()


def test_cap_pretraining_changes_the_encoder(toy):
    task, train, rest = toy
    preds = []
    for pre in (0, 2):
        p = CAPPredictor(seed=0, epochs=1, pretrain_epochs=pre, pretrain_size=200)
        p.fit(ArchSet(task, train), task.train_scores[train], unlabeled=ArchSet(task, rest))
        preds.append(p.predict(ArchSet(task, rest)))
    assert not np.allclose(preds[0], preds[1])
    assert CAPPredictor.uses_unlabeled and not WenNeuralPredictor.uses_unlabeled


def test_context_rings_on_a_chain():
    # 0 -> 1 -> 2 -> 3 -> 4: ring 1..2 hops of node 0 is {1, 2}; of node 2 is {0, 1, 3, 4}.
    adj = torch.zeros(1, 5, 5)
    for i in range(4):
        adj[0, i, i + 1] = 1
    rings = context_rings(adj, torch.ones(1, 5))
    assert rings[0, 0].tolist() == [0, 1, 1, 0, 0]
    assert rings[0, 2].tolist() == [1, 1, 0, 1, 1]


@pytest.mark.parametrize(("name", "params"), [("neural_predictor", {"epochs": 50, "lr": 1e-3}), ("cap", {"epochs": 50, "pretrain_epochs": 1}), ("carl", {"epochs": 50})])
def test_registered_graph_predictors_pass_the_conformance_checks(name, params):
    from nasbench_harness.testing import check_predictor

    assert check_predictor(name, params=params)["kendall_tau"] > 0.3


@pytest.mark.parametrize("cls", [WenNeuralPredictor, CAPPredictor, CARLPredictor])
def test_graph_predictor_predict_before_fit_is_a_config_error(cls, toy):
    from nasbench_harness.errors import ConfigError

    task, _, rest = toy
    with pytest.raises(ConfigError, match="before predict"):
        cls(seed=0).predict(ArchSet(task, rest[:5]))


@pytest.mark.parametrize("cls", [WenNeuralPredictor, CAPPredictor, CARLPredictor])
def test_graph_predictor_divergence_is_a_failed_fit_not_nan_scores(cls, toy):
    # Before the shared step checked the loss, lr=1e12 trained to NaN and predict returned NaN scores.
    from nasbench_harness.methods.neural.training import TrainingDivergedError

    task, train, _ = toy
    p = cls(seed=0, epochs=5, lr=1e12, **({"pretrain_epochs": 0} if cls is CAPPredictor else {}))
    with pytest.raises(TrainingDivergedError, match="diverged"):
        p.fit(ArchSet(task, train), task.train_scores[train])
