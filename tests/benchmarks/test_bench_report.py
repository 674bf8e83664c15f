"""Report benchmarks (pytest-benchmark): aggregating and rendering 100,000 result rows.

    python -m pytest tests/benchmarks/test_bench_report.py --benchmark-enable -s

Rows: 20 tasks x 25 methods x 8 budgets x 25 seeds = 100,000 (1% failed), with the
metric columns of the predict protocol, generated vectorised (no predictor is run).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from nasbench_harness.report import aggregate as A
from nasbench_harness.report import build_report
from nasbench_harness.store import ResultStore

TASKS, METHODS, BUDGETS, SEEDS = 20, 25, 8, 25


def big_rows() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    t, m, b, s = (
        a.ravel()
        for a in np.meshgrid(np.arange(TASKS), np.arange(METHODS), np.arange(BUDGETS), np.arange(SEEDS), indexing="ij")
    )
    n = len(t)
    budget = np.array([0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2])[b]
    quality = 0.2 + 0.02 * m + budget
    status = np.where(rng.random(n) < 0.01, "failed", "ok")
    df = pd.DataFrame(
        {
            "key": [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)],
            "matrix": "bench",
            "protocol": "predict",
            "protocol_params": "{}",
            "task": [f"space{i % 4}/dataset{i}" for i in t],
            "method": [f"predictor{i}@onehot" for i in m],
            "budget": budget,
            "n_train": np.round(budget * 15625).astype(int),
            "n_eval": 15625,
            "seed": s,
            "status": status,
            "error": np.where(status == "ok", "", "ValueError: NaN predictions"),
            "eval_is_test": True,
            "code_version": "bench",
            "data_checksum": "0" * 64,
            "versions": "{}",
            "finished_at": "2026-11-24T00:00:00",
        }
    )
    for name, scale in [
        ("kendall_tau", 1),
        ("spearman", 1),
        ("pearson", 1),
        ("precision@1", 1),
        ("precision@5", 1),
        ("recall@10", 1),
        ("n@10", 100),
        ("best_of_top10", 100),
        ("mae", 5),
        ("rmse", 6),
        ("fit_seconds", 2),
        ("predict_seconds", 0.5),
    ]:
        df[name] = np.where(status == "ok", scale * (quality + rng.normal(0, 0.03, n)), np.nan)
    return df


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return big_rows()


def test_aggregate_100k_rows(benchmark, rows):
    metrics = A.metric_columns(rows)
    agg = benchmark(A.aggregate, rows, [*A.COMPARISON, "budget", "method"], metrics)
    assert len(agg) == TASKS * METHODS * BUDGETS
    benchmark.extra_info["rows"] = len(rows)


def test_build_report_100k_rows(benchmark, rows, tmp_path):
    ResultStore(tmp_path / "results").append(rows)
    index = benchmark.pedantic(build_report, args=(tmp_path / "results", tmp_path / "out"), rounds=1, iterations=1)
    assert index.stat().st_size > 0
    benchmark.extra_info["index_bytes"] = index.stat().st_size
    print(f"\nindex.html {index.stat().st_size / 1e6:.1f} MB")
