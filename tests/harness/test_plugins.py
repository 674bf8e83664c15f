"""Plugins: the example package shows up and runs; every built-in passes the conformance suite."""

from __future__ import annotations

import pytest
from nasbench_harness import registry
from nasbench_harness.cli import list_rows
from nasbench_harness.testing import check_loss, check_predictor


def _builtin(kind: str) -> list[str]:
    return [n for n in registry.names(kind) if registry.info(kind, n).dist == "nasbench-harness"]




def test_example_plugin_is_listed_with_its_package(example_plugin):
    predictors = {r["name"]: r for r in list_rows("predictors")}
    losses = {r["name"]: r for r in list_rows("losses")}
    assert predictors["knn"]["package"] == "nbh-example-plugin"
    assert predictors["knn"]["inputs"] == "encoding" and "k-nearest" in predictors["knn"]["description"]
    assert losses["softrank"]["package"] == "nbh-example-plugin"


def test_example_plugin_passes_conformance(example_plugin):
    facts = check_predictor("knn")
    assert facts["kendall_tau"] > 0.3  # structure is learnable on the toy task
    check_loss("softrank")


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


def test_conformance_catches_a_loss_that_rewards_the_wrong_order():
    from nasbench_harness.methods.base import Loss

    class Backwards(Loss):
        name = "backwards"
        description = "prefers reversed rankings"

        def __call__(self, pred, target, state):
            return (pred * target).mean()

    with pytest.raises(AssertionError, match="must cost less than the reverse order"):
        check_loss(Backwards)


@pytest.mark.parametrize("name", _builtin("losses"))
def test_builtin_losses_conform(name):
    check_loss(name)


def _predictor_params() -> list:
    """Classic regressors run in the default selection; trained networks are marked slow."""
    return [
        pytest.param(n, marks=() if ".regressors:" in registry.info("predictors", n).value else pytest.mark.slow)
        for n in _builtin("predictors")
    ]


# Defaults whose conformance fits take minutes are checked at a shorter training: lm's 800
# epochs and masked-token pre-training made its ~8 fits here take 132 s of the suite.
CONFORM_PARAMS = {"lm": {"epochs": 100, "pretrain": "false"}}


@pytest.mark.parametrize("name", _predictor_params())
def test_builtin_predictors_conform(name):
    cls = registry.load("predictors", name)
    losses = registry.names("losses")[:2] if cls.supports_loss else ()
    check_predictor(name, losses=losses, params=CONFORM_PARAMS.get(name))  # learns: held-out tau above the default 0.1
