"""XGBoost on a 1% NB201-sized task: fit on 156 points, predict 15,625 rows of a 30-d one-hot.

Cells per minute = 60 / (mean seconds of one fit + predict), for the `predict` protocol's
method time on NB201 at 1% with the whole space scored.
"""

from __future__ import annotations

import numpy as np
from nasbench_harness.methods.base import ArchSet
from nasbench_harness.methods.regressors import XGBoostPredictor
from nasbench_harness.metrics import prediction_metrics


class OneHotTask:
    """15,625 architectures as 6 edges x 5 ops one-hot (the NB201 layout), synthetic scores."""

    def __init__(self):
        codes = (
            np.array(np.meshgrid(*[np.arange(5)] * 6, indexing="ij")).reshape(6, -1).T
        )
        self.X = np.eye(5, dtype=np.float32)[codes].reshape(len(codes), 30)
        self.ids = np.arange(len(codes)).astype(str)
        value = np.array([0.0, 0.2, 0.5, 1.0, 0.3])  # per-op contribution
        self.y = value[codes].sum(axis=1) + 0.3 * (codes[:, 0] == codes[:, 5])

    def encoding(self, kind):
        return self.X


def test_xgboost_fit156_predict15625(benchmark):
    task = OneHotTask()
    rng = np.random.default_rng(0)
    train = ArchSet(task, rng.choice(len(task.ids), 156, replace=False))
    everything = ArchSet(task, np.arange(len(task.ids)))

    def cell():
        model = XGBoostPredictor(seed=0, threads=1)
        model.fit(train, task.y[train.rows])
        return model.predict(everything)

    pred = benchmark.pedantic(cell, rounds=3, iterations=1)
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["cells_per_minute"] = 60.0 / benchmark.stats.stats.mean
    assert prediction_metrics(task.y, pred)["kendall_tau"] > 0.5
