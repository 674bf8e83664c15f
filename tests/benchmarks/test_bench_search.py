"""Speed of one search cell: NB201 cifar10, ``pwlnas`` with the GCN (the issue's target: budget
100 in under 30 s on one core). Run with ``--benchmark-enable`` for the full size (budget 100);
with benchmarks disabled (the default) it runs once at budget 20 (n0 = 10 + one iteration) as a plain test.
``extra_info`` holds the wall time, the predictor's share of it and what the search found.
"""

from __future__ import annotations

import pytest
from nasbench_harness.matrix import Cell
from nasbench_harness.protocols import search
from nasbench_harness.threads import pin_threads


@pytest.fixture(scope="module")
def nb201(cache_for):
    from nasbench_harness.tasks.catalog import load_task

    cache = cache_for("nb201")
    task = load_task("nb201/cifar10", cache)
    task.graphs()  # once per worker in a real run: not part of the cell
    return task


@pytest.mark.parametrize("warm_start", [0.0, 0.3], ids=["cold", "warm0.3"])
def test_bench_pwlnas_gcn_nb201(benchmark, nb201, warm_start):
    """Cold: refit from scratch each iteration (the default). Warm: start from the previous
    iteration's weights and train 30% of the epochs."""
    budget = 20 if benchmark.disabled else 100
    cell = Cell(protocol="search", task="nb201/cifar10", predictor="gcn", encoding="graph", budget=budget, seed=0,
                protocol_params={"strategy": "pwlnas", "warm_start": warm_start}, loss="pw")
    pin_threads(1)
    row = benchmark.pedantic(lambda: search.run(cell, nb201, threads=1)[0], rounds=1, iterations=1)
    benchmark.extra_info.update({k: row[k] for k in ("search_seconds", "fit_share", "best_eval", "queries_to_optimum", "n_queries")})
    assert row["n_queries"] == budget and 0 < row["fit_share"] <= 1
