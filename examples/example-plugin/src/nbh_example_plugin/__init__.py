"""Example nasbench-harness plugin: a k-NN predictor, a soft pairwise ranking loss, a hill-climbing search strategy
and (in ``space``) a small search space whose data ships with the plugin."""

from __future__ import annotations

import numpy as np
from nasbench_harness.methods.base import ArchSet, Loss, Predictor, TrainState
from nasbench_harness.methods.strategies.base import Oracle, SearchContext, Strategy


class KNNPredictor(Predictor):
    """k-nearest-neighbour regression on an encoding (inverse-distance weighted mean)."""

    name = "knn"
    description = "k-nearest-neighbour regression on an architecture encoding (example plugin)."
    inputs = "encoding"
    default_encoding = "onehot"
    default_params = {"k": 5, "chunk": 4096}
    cost_family = "regressors"  # what `run --dry-run` sums it under
    prior_seconds = 0.5  # CPU seconds of a cell before any is timed

    def fit(self, archs: ArchSet, y: np.ndarray, *, unlabeled: ArchSet | None = None) -> None:
        self._x = archs.encoding(self.encoding).astype(np.float32)
        self._y = np.asarray(y, dtype=np.float64)

    def predict(self, archs: ArchSet) -> np.ndarray:
        x = archs.encoding(self.encoding).astype(np.float32)
        k = min(int(self.params["k"]), len(self._y))
        out = np.empty(len(x))
        sq_train = (self._x**2).sum(axis=1)
        for start in range(0, len(x), int(self.params["chunk"])):  # bounded memory on big spaces
            block = x[start : start + int(self.params["chunk"])]
            d2 = (block**2).sum(axis=1)[:, None] + sq_train[None, :] - 2.0 * block @ self._x.T
            d = np.sqrt(np.maximum(d2, 0.0))
            nearest = np.argpartition(d, k - 1, axis=1)[:, :k]
            w = 1.0 / (np.take_along_axis(d, nearest, axis=1) + 1e-6)
            out[start : start + len(block)] = (w * self._y[nearest]).sum(axis=1) / w.sum(axis=1)
        return out


class SoftPairwiseLoss(Loss):
    """Mean softplus of the negative scaled margin over all pairs ordered by the target."""

    name = "softrank"
    description = "Soft pairwise ranking loss: mean softplus(-(s_i - s_j) / t) over pairs with y_i > y_j (example plugin)."
    formula = "mean_{y_i > y_j} log(1 + exp(-(s_i - s_j) / t))"
    category = "ranking"  # written into each result row as loss_category
    default_params = {"temperature": 0.1}

    def __call__(self, pred, target, state: TrainState):
        import torch

        diff_t = target[:, None] - target[None, :]
        diff_s = (pred[:, None] - pred[None, :]) / self.params["temperature"]
        mask = diff_t > 0
        if not bool(mask.any()):
            return (pred * 0.0).sum()  # all targets tied: no ordering to learn
        return torch.nn.functional.softplus(-diff_s[mask]).mean()


class HillClimbStrategy(Strategy):
    """Stochastic hill climbing: keep mutating the best architecture queried so far."""

    name = "hill_climb"
    description = "Stochastic hill climbing by mutation of the best queried architecture (example plugin)."
    default_params = {"n_init": 5}

    def search(self, oracle: Oracle, ctx: SearchContext) -> None:
        ctx.initial_sample(oracle, int(self.params["n_init"]))
        while not oracle.exhausted:
            best = oracle.trace_rows[int(np.argmax(oracle.queried_scores))]
            child = oracle.space.mutate(oracle.ids([best])[0], ctx.rng)
            row = oracle.rows_of([child])[0]
            if row >= 0 and not oracle.is_queried([row])[0]:
                oracle.query_row(row)
            elif row >= 0 or oracle.n_redraws > 100 * oracle.budget:
                # neighbourhood used up (or the pool is too sparse): jump to a random unqueried one
                fresh = oracle.unqueried()
                oracle.query_row(fresh[int(ctx.rng.integers(len(fresh)))])
