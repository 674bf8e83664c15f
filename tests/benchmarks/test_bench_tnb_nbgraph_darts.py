"""Speed of the TransNAS, NAS-Bench-Graph and DARTS data layer (pytest-benchmark; run with
``python -m pytest tests/benchmarks/test_bench_tnb_nbgraph_darts.py --benchmark-enable``)."""

from __future__ import annotations

import pytest
from nasbench_harness.tasks.cache import DataCache
from nasbench_harness.tasks.catalog import load_task
from nasbench_harness.tasks.importers import import_paths
from nasbench_harness.tasks.spaces import nbgraph
from nasbench_harness.tasks.spaces.darts import DartsSpace
from nasbench_harness.tasks.spaces.tnb101 import TNB101MacroSpace, TNB101MicroSpace


def test_nbgraph_cold_load(benchmark):
    """Reading the 9 embedded bench pickles into one table (what the first task load pays)."""

    def cold():
        nbgraph.bench_table.cache_clear()
        return nbgraph.bench_table()

    table = benchmark.pedantic(cold, rounds=3, iterations=1)
    assert len(table) == 26206


def test_nbgraph_load_task_warm(benchmark):
    nbgraph.bench_table()
    task = benchmark(load_task, "nbgraph/cora")
    assert len(task) == 26206


def test_nbgraph_graphs(benchmark):
    space = nbgraph.NBGraphSpace()
    ids = space.enumerate()
    g = benchmark(space.to_graph, ids)
    assert len(g) == 26206


def test_tnb101_import(benchmark, shared_data, tmp_path):
    folder = shared_data / "transnas_bench_101"
    results = benchmark.pedantic(lambda: import_paths([folder], DataCache(tmp_path)), rounds=3, iterations=1)
    assert sum(r.rows for r in results) == 4096 + 3256


def test_tnb101_micro_load_task(benchmark, cache_for):
    cache = cache_for("tnb101-micro")
    task = benchmark(load_task, "tnb101-micro/class_scene", cache)
    assert len(task) == 4096


@pytest.mark.parametrize("space", [TNB101MicroSpace(), TNB101MacroSpace()], ids=["micro", "macro"])
def test_tnb101_graphs(benchmark, space):
    ids = space.enumerate()
    assert len(benchmark(space.to_graph, ids)) == len(ids)


def test_darts_import(benchmark, shared_data, tmp_path):
    from nasbench_harness.tasks.spaces import darts

    def cold():
        darts.parse.cache_clear()  # measure genotype parsing too, not a warm memo
        return import_paths([shared_data / "nas_bench_301"], DataCache(tmp_path))

    results = benchmark.pedantic(cold, rounds=2, iterations=1)
    assert results[0].rows == 725 + 11221


def test_darts_graphs(benchmark):
    import numpy as np

    space = DartsSpace()
    ids = space.sample(2000, np.random.default_rng(0))
    assert len(benchmark(space.to_graph, ids)) == 2000
