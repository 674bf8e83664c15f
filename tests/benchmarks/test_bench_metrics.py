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


def test_all_metrics_with_heavy_prediction_ties(benchmark):
    """NB201-sized set whose predictions take ~6,600 values (the meta encoding's ties) plus one
    constant block of 5,000: the exact tie-aware top-K expectations stay O(n log n)."""
    rng = np.random.default_rng(1)
    y = np.round(rng.normal(90, 3, size=15_625), 2)
    p = np.round(y + rng.normal(0, 2, size=len(y)), 1)
    p[:5000] = p.max()  # a tie group straddling every top-K cut
    out = benchmark(prediction_metrics, y, p)
    assert 0 < out["precision@10"] < 1 and out["n@1"] >= 1
