"""Speed of the in-project NB201 proxies (pytest-benchmark; ``--benchmark-enable`` for the full sizes).

With benchmarks disabled (the default) each body runs once as a plain test on reduced
sizes: analytic params + FLOPs over all 15,625 cells x 3 datasets (vectorised), synflow
for 3 cells (all three datasets, one torch thread). Enabled, synflow runs on 64 random
cells; its CPU time per cell times 15,625 projects the whole `data proxies nb201` job
(CHANGELOG.md quotes the measured run). The load average is kept in ``extra_info``.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch
from nasbench_harness.tasks.proxies import measures as M
from nasbench_harness.tasks.spaces.nb201 import NB201Space

SPACE = NB201Space()


def test_bench_analytic_params_flops_whole_space(benchmark):
    ids = SPACE.enumerate()

    def run():
        return [(M.params_m(SPACE, ids, ds), M.flops_m(SPACE, ids, ds)) for ds in M.DATASETS]

    out = benchmark.pedantic(run, rounds=1, iterations=1)
    assert all(len(p) == len(f) == 15_625 and np.all(f > 0) for p, f in out)


def test_bench_synflow_per_cell(benchmark, request):
    full = request.config.getoption("benchmark_enable", default=False)
    ids = SPACE.enumerate()[np.random.default_rng(0).choice(15_625, 64 if full else 3, replace=False)]
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.process_time()
        scores = benchmark.pedantic(lambda: [M.synflow_all(a) for a in ids], rounds=1, iterations=1)
        cpu = (time.process_time() - start) / len(ids)
    finally:
        torch.set_num_threads(before)
    benchmark.extra_info.update(cpu_seconds_per_cell=cpu, projected_cpu_seconds_all=cpu * 15_625, loadavg=os.getloadavg())
    print(f"synflow: {cpu:.3f} s CPU per cell (3 datasets) -> {cpu * 15_625 / 60:.0f} CPU-minutes for NB201")
    assert all(np.isfinite(list(s.values())).all() for s in scores)
