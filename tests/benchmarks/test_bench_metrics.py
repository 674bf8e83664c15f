"""Speed of all prediction metrics on a whole NB101-sized evaluation set (423,624 cells)."""

from __future__ import annotations

import numpy as np
from nasbench_harness.metrics import prediction_metrics


def test_all_metrics_423624(benchmark):
    rng = np.random.default_rng(0)
    y = np.round(
        rng.normal(90, 3, size=423_624), 4
    )  # benchmark-like: rounded accuracies tie
    p = y + rng.normal(0, 2, size=len(y))
    out = benchmark(prediction_metrics, y, p)
    assert 0.3 < out["kendall_tau"] < 0.9
