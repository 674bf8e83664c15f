"""ConvNP cost of one real ``paper-convnp`` cell (pytest-benchmark). Run with timings:

    python -m pytest tests/benchmarks/test_bench_convnp.py --benchmark-enable -s

One ``select`` cell (ConvNP, 90 observed, choose 30) on the REAL nb201/cifar10 task: its
meta-features from the imported cache, the protocol's observed sample, meta-training,
rank-averaged prediction over the 15,625 architectures and the metrics, on one thread.
With benchmarks disabled (the default, as in CI) the cell runs at a reduced size (64
synthetic tasks instead of the paper's 10,000) as a plain test; with ``--benchmark-enable``
it runs the default settings and prints fit / predict wall seconds, the process's CPU seconds
(the cost on a quiet core) and an estimate of the whole ConvNP family of ``paper-convnp`` on
2 cores (``extra_info``). Never asserts on time.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from nasbench_harness.matrix import Cell
from nasbench_harness.protocols import select

# paper-convnp ConvNP-family cells at 20 seeds: main (4 tasks) + sizes (2 tasks x 7, two of
# them the main cells again: same run key, run once) + NB101 ablations (6).
CONVNP_CELLS = 20 * (4 + 14 - 2 + 6)


@pytest.mark.slow
@pytest.mark.shared_data
def test_bench_convnp_select_cell_on_nb201(benchmark, cache_for, request):
    from nasbench_harness.tasks.catalog import load_task

    task = load_task("nb201/cifar10", cache_for("nb201"))
    task.encoding("meta")  # computed once per space and memoised: not part of a cell's cost
    full = bool(request.config.getoption("benchmark_enable", False))
    params = {} if full else {"n_tasks": 64}
    cell = Cell(protocol="select", task="nb201/cifar10", predictor="convnp", encoding="meta", budget=90, seed=0, protocol_params={"strategy": "predictor", "k": 30}, params=params)
    rows = []

    def run():
        t0, c0 = time.perf_counter(), time.process_time()
        rows[:] = select.run(cell, task, threads=1)
        # CPU seconds of this (one-thread) process: what the cell costs on a quiet core, also
        # when the machine is shared and the wall time is inflated.
        rows[0].update(total_seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0)

    benchmark.pedantic(run, rounds=1, iterations=1)
    row = rows[0]
    assert row["n_train"] == 90 and np.isfinite(row["kendall_tau"])
    benchmark.extra_info.update({k: round(float(row[k]), 2) for k in ("fit_seconds", "predict_seconds", "total_seconds", "cpu_seconds", "kendall_tau")})
    if full:
        hours = CONVNP_CELLS * row["cpu_seconds"] / 2 / 3600
        benchmark.extra_info["convnp_family_hours_on_2_cores"] = round(hours, 2)
        print(f"\nnb201/cifar10 ConvNP cell: fit {row['fit_seconds']:.1f}s predict {row['predict_seconds']:.2f}s wall, {row['cpu_seconds']:.1f} CPU s, tau {row['kendall_tau']:.3f}; {CONVNP_CELLS} ConvNP cells ~ {hours:.2f} h on 2 cores")
