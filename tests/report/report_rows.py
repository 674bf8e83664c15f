"""Synthetic result rows in the store's schema (docs/ARCHITECTURE.md "Result rows") for report tests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

METHODS = ["xgboost@onehot", "gcn+hr", "ridge@path"]
TASKS = ["nb201/cifar10", "nb201/cifar100"]
BUDGETS = [0.01, 0.05, 0.1]
SEEDS = [0, 1, 2]


def make_rows(
    methods=METHODS, tasks=TASKS, budgets=BUDGETS, seeds=SEEDS, *, failed: int = 2, rng_seed: int = 0
) -> pd.DataFrame:
    """One ok row per (task, method, budget, seed) with random metrics, plus ``failed`` failures."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for t in tasks:
        for mi, m in enumerate(methods):
            for b in budgets:
                for s in seeds:
                    quality = 0.3 + 0.1 * mi + 2.0 * b
                    rows.append(
                        {
                            "kendall_tau": quality + rng.normal(0, 0.02),
                            "spearman": quality + 0.1 + rng.normal(0, 0.02),
                            "precision@10": quality + rng.normal(0, 0.05),
                            "n@10": float(rng.integers(1, 50)),
                            "mae": 5.0 - quality + rng.normal(0, 0.1),
                            "best_of_top10": 90 + 4 * quality + rng.normal(0, 0.1),
                            "fit_seconds": float(rng.uniform(0.1, 2)),
                            **_cell(t, m, b, s, "ok", ""),
                        }
                    )
    for i in range(failed):
        rows.append(
            _cell(
                tasks[0], methods[-1], budgets[-1], 100 + i, "failed", f"ValueError: predictor produced NaN (case {i})"
            )
        )
    return pd.DataFrame(rows)


def _cell(task: str, method: str, budget: float, seed: int, status: str, error: str) -> dict:
    key = hashlib.sha256(json.dumps([task, method, budget, seed]).encode()).hexdigest()
    return {
        "key": key,
        "matrix": "unit",
        "protocol": "predict",
        "protocol_params": "{}",
        "task": task,
        "space": task.split("/")[0],
        "dataset": task.split("/")[1],
        "predictor": method.split("@")[0].split("+")[0],
        "encoding": method.split("@")[1] if "@" in method else "",
        "loss": method.split("@")[0].partition("+")[2],  # "transformer+listmle@graph" -> "listmle"; "rf@graf+zc" -> ""
        "method": method,
        "params": "{}",
        "budget": budget,
        "n_train": round(budget * 15625),
        "n_eval": 15625,
        "seed": seed,
        "status": status,
        "error": error,
        "eval_is_test": True,
        "code_version": "0.1.0+abc",
        "data_checksum": "d" * 64,
        "versions": json.dumps({"numpy": "2.4", "torch": "2.13"}),
        "finished_at": "2026-11-24T07:00:00",
    }


def write_store(results_dir: Path, df: pd.DataFrame) -> Path:
    from nasbench_harness.store import ResultStore

    ResultStore(results_dir).append(df)
    return results_dir
