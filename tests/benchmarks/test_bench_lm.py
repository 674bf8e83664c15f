"""Cost of the ``lm`` predictor on one core (pytest-benchmark; ``--benchmark-enable`` for the real sizes).

- fine-tuning on nb201/cifar10 at 156 cells and scoring all 15,625 cells (as a test: 20 epochs);
- masked-token pre-training on NB101's enumerated cells with the default config (as a test: a
  2,000-string pool, one epoch).

Both record wall and CPU seconds of this one-thread process (CPU time is what the work costs on
a quiet core when the shared machine inflates wall time) and the quality measured on the way
(Kendall tau; masked-token accuracy against the op-frequency baseline).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from nasbench_harness.methods import lm
from nasbench_harness.methods.base import ArchSet
from scipy.stats import kendalltau


def _timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


@pytest.mark.shared_data
def test_bench_lm_finetune_nb201_156_and_score_all(benchmark, cache_for, request):
    from nasbench_harness.tasks.catalog import load_task

    task = load_task("nb201/cifar10", cache_for("nb201"))
    full = bool(request.config.getoption("benchmark_enable", False))
    params = {} if full else {"epochs": 20}
    rows = np.sort(np.random.default_rng(0).choice(len(task), size=156, replace=False))
    torch.set_num_threads(1)
    facts = {}

    def run():
        model = lm.LMPredictor(seed=0, threads=1, **params)
        _, fit_s, fit_cpu = _timed(lambda: model.fit(ArchSet(task, rows), task.train_scores[rows]))
        pred, score_s, score_cpu = _timed(lambda: model.predict(ArchSet(task, np.arange(len(task)))))
        facts.update(fit_seconds=fit_s, fit_cpu_seconds=fit_cpu, score_seconds=score_s, score_cpu_seconds=score_cpu,
                     kendall_tau=float(kendalltau(pred, task.eval_scores).statistic))
        return pred

    pred = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update({k: round(v, 3) for k, v in facts.items()}, loadavg=open("/proc/loadavg").read().split()[:3])
    print(f"\nlm nb201/cifar10 156 cells ({'default params' if full else params}): {benchmark.extra_info}")
    assert pred.shape == (15625,) and np.isfinite(pred).all()


@pytest.mark.slow
def test_bench_lm_pretrain_nb101(benchmark, request, tmp_path):
    from nasbench_harness.registry import get_search_space
    from nasbench_harness.tasks.cache import DataCache

    full = bool(request.config.getoption("benchmark_enable", False))
    base = lm.LMPredictor.default_params
    cfg = lm.PretrainConfig(
        hidden=base["hidden"], layers=base["layers"], heads=base["heads"], dropout=base["dropout"],
        pool=base["pretrain_pool"] if full else 2000, held_out=base["pretrain_held_out"] if full else 500,
        epochs=base["pretrain_epochs"] if full else 1, batch_size=base["pretrain_batch"], lr=base["pretrain_lr"],
    )
    space = get_search_space("nb101")
    # The 423,624 enumerated cells (computed from code, minutes in a fresh process; stored in a temporary
    # cache): the import's cost, not pre-training's.
    space.cells(DataCache(tmp_path))
    facts = {}

    def run():
        (_, info), wall, cpu = _timed(lambda: lm.pretrain(space, 0, cfg, threads=1))
        facts.update(seconds=wall, cpu_seconds=cpu, mlm_accuracy=info["mlm_accuracy"],
                     baseline_accuracy=info["baseline_accuracy"], train_strings=info["train_strings"])
        return info

    info = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update({k: round(float(v), 4) for k, v in facts.items()}, loadavg=open("/proc/loadavg").read().split()[:3])
    print(f"\nlm NB101 pre-training ({cfg}): {benchmark.extra_info}")
    assert 0 <= info["mlm_accuracy"] <= 1 and info["masked_tokens"] > 0
