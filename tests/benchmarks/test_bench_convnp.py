"""ConvNP benchmarks (pytest-benchmark). Run with timings:

    python -m pytest tests/benchmarks/test_bench_convnp.py --benchmark-enable -s

- ConvNP meta-training (10,000 synthetic tasks, one epoch) + rank-averaged prediction on one
  core, at NB201 size (90 observed, 15,625 targets, 10 meta-features) and NB101 size (172
  observed, 20,001 targets, 13 meta-features). Inputs are synthetic features of the right
  shapes, so no benchmark data is needed; the cost does not depend on the values.
- From those, an estimate of the paper-convnp matrix on 2 cores is printed (``extra_info``).
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
from nasbench_harness.methods.base import ArchSet
from nasbench_harness.methods.convnp import ConvNPPredictor

SIZES = {"nb201": (90, 15625, 10), "nb101": (172, 20001, 13)}


def fake(n_targets: int, d: int):
    rng = np.random.default_rng(0)
    X = rng.random((n_targets, d)).astype(np.float32)
    y = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n_targets)
    return SimpleNamespace(ids=np.arange(n_targets).astype(str), encoding=lambda kind: X), y


@pytest.mark.slow
@pytest.mark.parametrize("space", ["nb201", "nb101"])
def test_bench_convnp_fit_predict(benchmark, space):
    n_obs, n_targets, d = SIZES[space]
    task, y = fake(n_targets, d)
    obs = np.random.default_rng(1).choice(n_targets, n_obs, replace=False)
    times = {}

    def run():
        p = ConvNPPredictor(seed=0, threads=1)
        t0 = time.perf_counter()
        p.fit(ArchSet(task, obs), y[obs])
        t1 = time.perf_counter()
        s = p.predict(ArchSet(task, np.arange(n_targets)))
        times.update(fit=t1 - t0, predict=time.perf_counter() - t1)
        return s

    scores = benchmark.pedantic(run, rounds=1, iterations=1)
    assert scores.shape == (n_targets,) and np.isfinite(scores).all()
    benchmark.extra_info.update({f"{k}_seconds": round(v, 2) for k, v in times.items()})
    # paper-convnp: ConvNP-family cells per space (main + sizes + ablations, 20 seeds).
    cells = {"nb201": 3 * 20 + 6 * 20, "nb101": 20 + 6 * 20 + 6 * 20}[space]
    benchmark.extra_info["convnp_cells"] = cells
    benchmark.extra_info["convnp_hours_on_2_cores"] = round(cells * (times["fit"] + times["predict"]) / 2 / 3600, 2)
    print(f"\n{space}: fit {times['fit']:.1f}s predict {times['predict']:.2f}s; {cells} ConvNP cells ~ {benchmark.extra_info['convnp_hours_on_2_cores']} h on 2 cores")
