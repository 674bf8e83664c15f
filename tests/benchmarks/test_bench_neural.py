"""Speed of the torch predictors (pytest-benchmark; run with --benchmark-enable to time).

- one GCN fit on NB201 at 1% (156 cells) plus scoring all 15,625 cells, on one core;
- scoring 423,624 NB101-sized graphs (7 nodes) with a trained GCN;
- our full-batch schedule against the lineage's small-batch, many-epoch one on the same cells
  (time and Kendall tau in extra_info);
- one fit per loss at NB201 1% (per-cell times for the paper-losses matrix estimate).

NB201 comes from the imported task when the nb201 search space exists; otherwise the shared
CSV is read in place and its arch strings are turned into graphs here, and without the shared
data synthetic NB201-sized graphs are used (speed only).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from nasbench_harness.methods.base import ArchSet
from nasbench_harness.methods.neural.gcn import GCNPredictor
from nasbench_harness.registry import load
from nasbench_harness.tasks.spaces.base import GraphBatch
from scipy.stats import kendalltau

NB201_OPS = ("input", "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "output")
# Edge (from node, to node) of each of the 6 positions of an NB201 arch string, in string order.
NB201_EDGES = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]


def nb201_graphs(arch_strings) -> GraphBatch:
    """Edge-op NB201 cells as 8-node graphs: input, one node per edge op, output."""
    n = len(arch_strings)
    ops = np.zeros((n, 8), np.int16)
    ops[:, 7] = len(NB201_OPS) - 1
    for b, s in enumerate(arch_strings):
        names = [tok.split("~")[0] for part in s.strip("|").split("|+|") for tok in part.strip("|").split("|")]
        ops[b, 1:7] = [NB201_OPS.index(x) for x in names]
    adj = np.zeros((8, 8), np.uint8)
    for e, (i, j) in enumerate(NB201_EDGES, start=1):
        for f, (_, jj) in enumerate(NB201_EDGES, start=1):
            if jj == i:
                adj[f, e] = 1  # an edge leaving node i gets the edges entering i
        if i == 0:
            adj[0, e] = 1
        if j == 3:
            adj[e, 7] = 1
    return GraphBatch(np.broadcast_to(adj, (n, 8, 8)).copy(), ops, NB201_OPS)


class GraphTask:
    def __init__(self, graphs: GraphBatch, train: np.ndarray, test: np.ndarray) -> None:
        self._g, self.train_scores, self.eval_scores = graphs, train, test

    def __len__(self) -> int:
        return len(self._g)

    def graphs(self) -> GraphBatch:
        return self._g


@pytest.fixture(scope="module")
def nb201(request):
    """(task-like object with graphs, train and test scores, source description)."""
    try:
        from nasbench_harness.tasks.catalog import load_task

        t = load_task("nb201/cifar10", request.getfixturevalue("cache_for")("nb201"))
        return GraphTask(t.graphs(), t.train_scores, t.eval_scores), "imported nb201/cifar10"
    except pytest.skip.Exception:
        pass  # no shared data: synthetic graphs below
    rng = np.random.default_rng(0)
    strings = ["|" + "|+|".join("|".join(f"{NB201_OPS[rng.integers(1, 6)]}~{k}" for k in range(j)) for j in (1, 2, 3)) + "|" for _ in range(15625)]
    y = rng.random(15625)
    return GraphTask(nb201_graphs(strings), y, y), "synthetic NB201-sized graphs"


def _fit_score(task, rows, loss="mse", **params):
    torch.set_num_threads(1)
    model = GCNPredictor(seed=0, loss=load("losses", loss)(), threads=1, **params)
    model.fit(ArchSet(task, rows), task.train_scores[rows])
    return model.predict(ArchSet(task, np.arange(len(task))))


def test_bench_gcn_nb201_fit_and_score_all(benchmark, nb201):
    task, source = nb201
    rows = np.random.default_rng(0).choice(len(task), size=156, replace=False)
    pred = benchmark.pedantic(_fit_score, args=(task, rows), rounds=3, iterations=1)
    benchmark.extra_info.update(source=source, kendall_tau=float(kendalltau(pred, task.eval_scores).statistic))
    assert pred.shape == (15625,) and np.isfinite(pred).all()


def test_bench_score_nb101_sized(benchmark):
    rng = np.random.default_rng(0)
    n = 423_624
    adj = np.triu(rng.random((n, 7, 7)) < 0.35, k=1).astype(np.uint8)
    ops = rng.integers(1, 4, size=(n, 7)).astype(np.int16)
    ops[:, 0], ops[:, -1] = 0, 4
    g = GraphBatch(adj, ops, ("input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "output"))
    task = GraphTask(g, rng.random(n), rng.random(n))
    torch.set_num_threads(1)
    model = GCNPredictor(seed=0, threads=1, epochs=5)
    model.fit(ArchSet(task, np.arange(423)), task.train_scores[:423])
    everything = ArchSet(task, np.arange(n))
    pred = benchmark.pedantic(model.predict, args=(everything,), rounds=2, iterations=1)
    assert pred.shape == (n,) and np.isfinite(pred).all()


SCHEDULES = {
    "ours: full batch, 300 epochs, the loss's lr": {},
    "lineage: batch 16, 300 epochs, lr 1e-3": {"batch_size": 16, "epochs": 300, "lr": 1e-3},
}


@pytest.mark.parametrize("loss", ["mse", "hr"])
@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_bench_gcn_schedule_vs_lineage(benchmark, nb201, schedule, loss):
    task, source = nb201
    taus = []

    def run():
        rows = np.random.default_rng(len(taus)).choice(len(task), size=156, replace=False)
        pred = _fit_score(task, rows, loss, **SCHEDULES[schedule])
        taus.append(float(kendalltau(pred, task.eval_scores).statistic))

    benchmark.pedantic(run, rounds=3, iterations=1)
    benchmark.extra_info.update(source=source, kendall_tau_mean=float(np.mean(taus)), kendall_taus=taus)
    assert np.isfinite(taus).all()


@pytest.mark.parametrize("loss", ["mse", "hr", "logistic", "mse_sr", "listmle", "ew", "mape", "warp"])
def test_bench_gcn_per_loss_cell(benchmark, nb201, loss):
    task, source = nb201
    rows = np.random.default_rng(1).choice(len(task), size=156, replace=False)
    t0 = time.perf_counter()
    pred = benchmark.pedantic(_fit_score, args=(task, rows, loss), rounds=1, iterations=1)
    benchmark.extra_info.update(source=source, seconds=time.perf_counter() - t0,
                                kendall_tau=float(kendalltau(pred, task.eval_scores).statistic))
    assert np.isfinite(pred).all()
