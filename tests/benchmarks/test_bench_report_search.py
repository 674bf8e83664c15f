"""Benchmark of the report section "Search" at the size of the paper-search matrix.

    python -m pytest tests/benchmarks/test_bench_report_search.py --benchmark-enable -s

Rows (full size, with --benchmark-enable): the paper's 9 search tasks (3 NB201 at B=100, NB101
at B=150, 4 TransNAS micro at B=50, DARTS at B=20) x 13 methods x 20 seeds (5 on DARTS), each
with its anytime curve, query trace and the other columns of docs/SEARCH.md; generated, no search
is run. Without --benchmark-enable the body runs once as a test on 1 task x 3 seeds.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
from nasbench_harness.report import plots
from nasbench_harness.report.context import ReportContext
from nasbench_harness.studies.losses import search_section as search

TASKS = {  # task -> (budget, global best in original units, eval_is_test)
    "nb201/cifar10": (100, 94.37, True),
    "nb201/cifar100": (100, 73.51, True),
    "nb201/ImageNet16-120": (100, 47.31, True),
    "nb101/cifar10": (150, 95.06, False),
    "tnb101-micro/class_object": (50, 46.32, False),
    "tnb101-micro/class_scene": (50, 54.94, False),
    "tnb101-micro/autoencoder": (50, 0.5772, False),
    "tnb101-micro/jigsaw": (50, 95.37, False),
    "darts/cifar10": (20, 91.5, False),
}
METHODS = [("RS", "random", ""), ("RE", "evolution", ""), ("LS", "local_search", ""), ("NPENAS-MSE", "npenas", "mse"),
           ("ReNAS", "npenas", "logistic"), ("GP-BO", "gp_bo", ""), ("BANANAS", "bananas", "mape")]
METHODS += [(f"PWLNAS-{loss.upper()}", "pwlnas", loss) for loss in ("mse", "hr", "listmle", "warp", "mape")]
METHODS += [("PWLNAS", "pwlnas", "pw")]


def search_rows(tasks: dict, seeds: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for task, (budget, gb, eval_is_test) in tasks.items():
        n_seeds = min(seeds, 5) if task.startswith("darts") else seeds
        spread = 0.05 * gb
        q = np.arange(1, budget + 1)
        for m, (label, strategy, loss) in enumerate(METHODS):
            gaps = spread * (0.02 + 0.01 * m + 0.01 * rng.random(n_seeds))
            curves = gb - gaps[:, None] - spread * np.exp(-q[None, :] / (5 + m))
            for s in range(n_seeds):
                curve = curves[s]
                rows.append({
                    "key": hashlib.sha256(f"{task}{label}{s}".encode()).hexdigest(), "matrix": "bench", "protocol": "search",
                    "protocol_params": json.dumps({"strategy": strategy}), "task": task, "method": label, "strategy": strategy,
                    "loss": loss, "budget": float(budget), "seed": s, "status": "ok", "eval_is_test": eval_is_test,
                    "higher_is_better": True, "n_queries": budget, "best_eval": curve[-1], "best_train": curve[-1],
                    "global_best_eval": gb, "regret": gb - curve[-1], "queries_to_optimum": budget + 1, "found_optimum": False,
                    "curve_eval": curve, "curve_train": curve, "trace_ids": [f"a{i}" for i in range(budget)],
                })
    return pd.DataFrame(rows)


def test_bench_search_section(benchmark):
    full = not benchmark.disabled
    rows = search_rows(TASKS if full else dict(list(TASKS.items())[:1]), 20 if full else 3)

    def run():
        ctx = ReportContext(rows, plots.palette(rows["method"].unique()))
        return search.render(rows, ctx), ctx

    html, ctx = benchmark.pedantic(run, rounds=1, iterations=1)
    assert "Anytime curves" in html and len(ctx.checks) == 3
    benchmark.extra_info.update({"rows": len(rows), "html_bytes": len(html)})
    print(f"\n{len(rows)} search rows -> {len(html) / 1e6:.1f} MB of section HTML")
