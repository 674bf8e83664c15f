"""GraB-NAS benchmarks (pytest-benchmark). Run with timings:

    python -m pytest tests/benchmarks/test_bench_grabnas.py --benchmark-enable -s

- meta-training (D-VAE + deep-kernel GP) of one (setting, fold, seed) and one meta-test run
  (budget 100) per strategy on nb201/cifar10, on one core. With ``--benchmark-enable`` the
  models have the matrix's sizes (methods/grabnas/meta.py ``MetaConfig()``); as a plain test
  the tiny test sizes and budget 20. The models are trained inside the first measured call
  (``meta_seconds``/``dvae_seconds`` in extra_info) and read from the cache afterwards.
- From those, an estimate of the whole paper-grabnas matrix on 2 cores is printed.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from nasbench_harness.methods.grabnas import meta
from nasbench_harness.methods.strategies import make_strategy
from nasbench_harness.methods.strategies.base import BudgetExhausted, Oracle, SearchContext

# paper-grabnas, per seed: 4 strategies x 3 tasks x 2 budgets x 2 settings + 3 strategies x 5 prunings x 3 tasks
SEARCH_CELLS_PER_SEED = 4 * 3 * 2 * 2 + 3 * 5 * 3
TRAININGS_PER_SEED = 1 + 3  # setting metad2a (one fold) + loo (three folds); the D-VAE once per seed


@pytest.mark.slow
@pytest.mark.parametrize("name", ["grabnas", "tnas", "metad2a"])
def test_bench_grabnas_meta_test(benchmark, cache_for, monkeypatch, name):
    from nasbench_harness.tasks.catalog import load_task

    cache_for("nb201")
    cache_for("transfer")
    full = not benchmark.disabled
    monkeypatch.setattr(meta, "DEFAULT_CONFIG", meta.MetaConfig() if full else meta.TEST_CONFIG)
    budget = 100 if full else 20
    task = load_task("nb201/cifar10")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    models = meta.load_or_train("metad2a", "nb201/cifar10", 0)
    train_seconds = time.perf_counter() - t0

    def run():
        oracle = Oracle(task, budget, name)
        ctx = SearchContext(rng=np.random.default_rng(0), initial_order=np.arange(len(task)), task_name="nb201/cifar10", seed=0)
        try:
            make_strategy(name, {}).search(oracle, ctx)
        except BudgetExhausted:
            pass
        return oracle

    try:
        oracle = benchmark.pedantic(run, rounds=1, iterations=1)
    finally:
        torch.set_num_threads(threads)
    assert oracle.n_queries == budget
    search = benchmark.stats.stats.mean if full else float("nan")
    info = {"meta_seconds": models.info["meta_seconds"], "dvae_seconds": models.info["dvae_seconds"], "load_or_train_seconds": train_seconds}
    benchmark.extra_info.update({k: round(v, 2) for k, v in info.items()})
    if full:
        hours = (SEARCH_CELLS_PER_SEED * search + TRAININGS_PER_SEED * models.info["meta_seconds"] + models.info["dvae_seconds"]) * 5 / 2 / 3600
        benchmark.extra_info["paper_grabnas_hours_on_2_cores_5_seeds"] = round(hours, 2)
        print(f"\n{name}: search {search:.1f}s (budget {budget}); meta-training {models.info['meta_seconds']:.0f}s, D-VAE {models.info['dvae_seconds']:.0f}s; matrix ~ {hours:.2f} h on 2 cores")
