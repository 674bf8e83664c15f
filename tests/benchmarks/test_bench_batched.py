"""Throughput of batched training: M seeds of a GCN fitted as one group vs M separate fits.

The workload of issue 11: GCN on NB201 cifar10 at 1% (156 training cells), each member fit
and then scoring all 15,625 cells; torch pinned to one thread for both sides. The baseline is
the per-cell path (``predictor.fit`` + ``predict``, one cell at a time: a group of one through
the same stacked code) in the same run. The ratios (separate / grouped) of wall time and of
process CPU time (the fairer figure on a shared, loaded machine) are printed and kept in
``extra_info``, with the load average; the grouped predictions must equal the separate ones
bit for bit.

Beside the ratio it prints the floor no exact float32 batching can go below: the time of the
matmuls alone of every member (forward and backward of each training step at the GCN's
shapes, and scoring), which members cannot share without changing their numbers.

Sizes: a reduced workload as a test (3 seeds, 5 epochs, every 4th cell scored); the full one
(30 seeds, the predictor's 300 epochs, all 15,625 cells scored) under ``--benchmark-enable``.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch
from nasbench_harness.methods.base import ArchSet
from nasbench_harness.methods.neural.gcn import GCNPredictor
from nasbench_harness.methods.neural.training import fit_members, predict_members_of


@pytest.fixture(scope="module")
def task(cache_for):
    from nasbench_harness.tasks.catalog import load_task

    t = load_task("nb201/cifar10", cache_for("nb201"))
    t.graphs()  # memoised once, outside every timing
    return t


def _members(task, full: bool):
    n_seeds, params = (30, {}) if full else (3, {"epochs": 5})
    k = max(2, round(0.01 * len(task)))
    rows = [np.sort(np.random.default_rng(s).choice(len(task), size=k, replace=False)) for s in range(n_seeds)]
    return rows, lambda: [GCNPredictor(seed=1000 + s, loss="mse", **params) for s in range(n_seeds)]


def matmul_floor(members: int, n_train: int, n_nodes: int, epochs: int, n_scored: int, hidden: int = 64) -> float:
    """CPU seconds of the matmuls alone of ``members`` GCN fits + scorings (3 graph-conv layers, 2-layer head)."""
    rows, v = n_train * n_nodes, 7

    def r(*shape):
        return torch.randn(*shape)

    a_first, a_conv, grad, pooled = r(rows, 2 * v), r(rows, 2 * hidden), r(rows, hidden), r(n_train, hidden)
    w_first, w_conv, w_head, w_out, b, b_out = r(hidden, 2 * v), r(hidden, 2 * hidden), r(hidden, hidden), r(1, hidden), r(hidden), r(1)

    def step():
        torch.addmm(b, a_first, w_first.t()), torch.addmm(b, a_conv, w_conv.t()), torch.addmm(b, a_conv, w_conv.t())
        torch.addmm(b, pooled, w_head.t()), torch.addmm(b_out, pooled, w_out.t())
        grad.t() @ a_first, grad.t() @ a_conv, grad.t() @ a_conv, grad @ w_conv, grad @ w_conv
        pooled.t() @ pooled, pooled @ w_head, pooled[:, :1].t() @ pooled, pooled[:, :1] @ w_out

    s_first, s_conv = r(n_scored * n_nodes, 2 * v), r(n_scored * n_nodes, 2 * hidden)
    step()
    c0 = time.process_time()
    for _ in range(epochs):
        step()
    torch.addmm(b, s_first, w_first.t()), torch.addmm(b, s_conv, w_conv.t()), torch.addmm(b, s_conv, w_conv.t())
    return members * (time.process_time() - c0)


def test_grouped_fit_and_scoring_throughput(task, benchmark, request):
    full = bool(request.config.getoption("benchmark_enable", False))
    rows, make = _members(task, full)
    everything = ArchSet(task, np.arange(0, len(task), 1 if full else 4))
    torch.set_num_threads(1)

    def separate():
        out = []
        for p, r in zip(make(), rows, strict=True):
            p.fit(ArchSet(task, r), task.train_scores[r])
            out.append(p.predict(everything))
        return out

    def grouped():
        preds = make()
        assert fit_members(preds, [ArchSet(task, r) for r in rows], [task.train_scores[r] for r in rows]) == [None] * len(rows)
        return predict_members_of(preds, everything)

    # torch's first fit in a process pays one-time start-up costs (seconds): keep them out of both timings.
    GCNPredictor(seed=0, epochs=2).fit(ArchSet(task, rows[0]), task.train_scores[rows[0]])
    load_before = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    alone = separate()
    t_separate, c_separate = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    together = benchmark.pedantic(grouped, rounds=1, iterations=1)
    t_grouped, c_grouped = time.perf_counter() - t0, time.process_time() - c0
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_array_equal(a, b)
    ratio, cpu_ratio = t_separate / t_grouped, c_separate / c_grouped
    epochs = int(make()[0].params["epochs"])
    floor = matmul_floor(len(rows), len(rows[0]), task.graphs().adj.shape[1], epochs, len(everything))
    benchmark.extra_info.update(
        matmul_floor_cpu_seconds=floor, best_possible_cpu_speedup=c_separate / floor,
        members=len(rows), separate_seconds=t_separate, grouped_seconds=t_grouped, speedup=ratio,
        separate_cpu_seconds=c_separate, grouped_cpu_seconds=c_grouped, cpu_speedup=cpu_ratio,
        loadavg_before=load_before, loadavg_after=os.getloadavg(),
    )
    print(
        f"\n{len(rows)} GCN seeds, NB201 cifar10 1% + scoring {len(everything)}: separate {t_separate:.1f}s "
        f"(CPU {c_separate:.1f}s), grouped {t_grouped:.1f}s (CPU {c_grouped:.1f}s), speed-up {ratio:.2f}x wall, "
        f"{cpu_ratio:.2f}x CPU (load average {load_before} -> {os.getloadavg()}); the members' matmuls alone take "
        f"{floor:.1f}s CPU, so no exact batching can beat {c_separate / floor:.1f}x"
    )
