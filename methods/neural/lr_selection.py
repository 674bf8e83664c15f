"""Choose each loss's default learning rate by cross-validation inside the training cells.

The loss study (docs/LOSSES.md) gives every loss its own learning rate for the GCN. Those
rates must not be picked on what the study is judged on (test accuracy of the whole space),
so this module picks them on the *train metric of the training cells only*: for each seed
it samples the study's training set (1% of the task, as the ``predict`` protocol does),
splits it into K folds, fits the GCN on K-1 folds and scores Kendall's tau of the held-out
fold against its train metric (validation accuracy). The rate with the highest mean
held-out tau over folds, seeds and tasks wins.

Run (prints a Markdown table and writes the full numbers as JSON)::

    python -m nasbench_harness.methods.neural.lr_selection --out lr.json

(``lr.json`` in the folder you run it from, as docs/LOSSES.md shows).

The chosen rates are copied by hand into the losses' ``default_lr`` (methods/losses.py);
CHANGELOG.md records the run (2026-11-30, "Per-loss learning rates").
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from scipy.stats import kendalltau

LOSSES = ("mse", "hr", "logistic", "mse_sr", "listmle", "ew", "mape", "warp")
GRID = (3e-3, 1e-2, 3e-2)
TASKS = ("nb201/cifar10", "nb201/cifar100")


def fold_taus(task, loss: str, lr: float, seed: int, *, budget: float, folds: int) -> list[float]:
    """Held-out Kendall tau (train metric) of each fold of one seed's training sample."""
    from nasbench_harness.methods.base import ArchSet
    from nasbench_harness.registry import load

    rng = np.random.default_rng(seed)
    n_train = max(2, int(round(budget * len(task))))
    rows = rng.choice(len(task), size=n_train, replace=False)
    y = task.train_scores
    taus = []
    for k, held in enumerate(np.array_split(rng.permutation(rows), folds)):
        fit_rows = np.setdiff1d(rows, held)
        model = load("predictors", "gcn")(seed=seed * folds + k, loss=loss, lr=lr, threads=1)
        model.fit(ArchSet(task, fit_rows), y[fit_rows])
        pred = model.predict(ArchSet(task, held))
        tau = kendalltau(pred, y[held]).statistic
        taus.append(0.0 if not np.isfinite(tau) else float(tau))  # a constant prediction ranks nothing
    return taus


def select(tasks=TASKS, losses=LOSSES, grid=GRID, seeds: int = 2, folds: int = 5, budget: float = 0.01) -> dict:
    """Mean and standard error of the held-out tau per (loss, lr), and the chosen lr per loss."""
    from nasbench_harness.tasks.catalog import load_task

    loaded = [load_task(name) for name in tasks]
    table: dict[str, dict[str, dict[str, float]]] = {}
    chosen: dict[str, float] = {}
    for loss in losses:
        table[loss] = {}
        for lr in grid:
            taus = [t for task in loaded for s in range(seeds) for t in fold_taus(task, loss, lr, s, budget=budget, folds=folds)]
            table[loss][f"{lr:g}"] = {"mean": float(np.mean(taus)), "se": float(np.std(taus, ddof=1) / np.sqrt(len(taus))), "n": len(taus)}
            print(f"{loss:9s} lr={lr:<7g} tau={np.mean(taus):.3f}", file=sys.stderr, flush=True)
        chosen[loss] = float(max(grid, key=lambda lr: table[loss][f"{lr:g}"]["mean"]))
    return {"tasks": list(tasks), "budget": budget, "seeds": seeds, "folds": folds, "grid": list(grid), "table": table, "chosen": chosen}


def markdown(result: dict) -> str:
    grid = [f"{lr:g}" for lr in result["grid"]]
    lines = ["| loss | " + " | ".join(f"lr {g}" for g in grid) + " | chosen |", "|---" * (len(grid) + 2) + "|"]
    for loss, row in result["table"].items():
        cells = [f"{row[g]['mean']:.3f} ± {row[g]['se']:.3f}" for g in grid]
        lines.append(f"| `{loss}` | " + " | ".join(cells) + f" | {result['chosen'][loss]:g} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS))
    ap.add_argument("--losses", nargs="+", default=list(LOSSES))
    ap.add_argument("--grid", nargs="+", type=float, default=list(GRID))
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--budget", type=float, default=0.01, help="training portion of each task (the study's 1%% on NB201)")
    ap.add_argument("--out", help="write the full result as JSON here")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    result = select(args.tasks, args.losses, args.grid, args.seeds, args.folds, args.budget)
    result["seconds"] = round(time.perf_counter() - start, 1)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)
    print(markdown(result))
    print(f"\n{result['seconds']} s", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
