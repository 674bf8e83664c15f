"""Choose the GCN's learning rate per (loss, search-space family) on held-out training-metric folds.

The loss study (docs/LOSSES.md) trains the GCN with each loss at that loss's own learning
rate. This module chooses the rate, per loss and per space family, by a rule fixed before any
result was seen (issue 20, item 8):

- **Criterion.** On a held-out fold, ``score = 0.5 * Kendall tau + 0.5 * Precision@10%``,
  both against the *train metric* of the fold's cells (``harness.metrics.prediction_metrics``:
  Precision@10% is the share of the fold's true top-10 % that is in the predicted top-10 %,
  ``ceil(0.1 n)`` cells, so at least 10 on a fold of 100). The score is averaged over folds,
  draws and the family's tasks; the rate with the highest mean wins, a tie (within 1e-12) goes
  to the smaller rate. A fit that diverges (``TrainingDivergedError``) is scored as a constant
  prediction (tau 0, Precision@10% its chance level) and counted.
- **Families and their training sets.** A family is a search space; its tasks and training-set
  size are those of the ``main`` block of the study's matrix (studies/losses/paper-losses.yaml:
  NB101 423 cells, NB201 1 %, TransNAS micro and macro 0.3 %, NAS-Bench-Graph 3 %, DARTS 100).
- **Folds, never reading the eval metric.** Where a task's eval metric differs from its train
  metric (validation data exists, e.g. NB201, NAS-Bench-Graph), a draw is a Monte-Carlo fold:
  fit on a random sample of exactly the study's training-set size, score on a disjoint random
  sample of 200 other cells, reading their train metric (validation data: "choose settings on
  training or validation data"). Where the task is judged on its train metric (e.g. our NB101
  subset, TransNAS without its test column, DARTS), only the study's training sample may be
  read: a draw samples it and splits it into K = n // 100 folds (every held-out fold >= 100
  cells; NB101's 423 cells give 4); with K < 2 (TransNAS at 0.3 % = 10-12 cells, DARTS at 100)
  the family cannot be tuned on its own and takes the *pooled* choice: the best mean score over
  the folds of every tuned family together. Which case applies is read from the task's metric
  *names* (``judged_on_train_metric``); the eval metric's values are never read.
- **Draws.** Seeds ``1000 + r`` (the studies use seeds from 0), as many draws per task as give
  every (loss, rate) at least 12 held-out folds per tuned family.
- **Grid** {3e-3, 1e-2, 3e-2} for the study's eight losses; ``pw`` takes its second loss's rate.

Run (prints the Markdown tables, writes every number as JSON; ``lr.json`` in the folder you
run it from)::

    nice python -m nasbench_harness.methods.neural.lr_selection --out lr.json

``--families`` runs some families only; ``--merge a.json b.json --out lr.json`` joins runs over
different families (their per-fold scores make the pooled choice) without refitting anything.

The chosen table is copied into methods/neural/gcn_lr.py (read by the GCN only); the full table
and the run's CPU time are in docs/LOSSES.md ("Learning rate per loss") and CHANGELOG.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zlib
from dataclasses import dataclass

import numpy as np
from nasbench_harness.errors import ConfigError

LOSSES = ("mse", "hr", "logistic", "mse_sr", "listmle", "ew", "mape", "warp")
GRID = (3e-3, 1e-2, 3e-2)
FAMILIES = ("nb101", "nb201", "tnb101-micro", "tnb101-macro", "nbgraph", "darts")
STUDY = "paper-losses"
HELD_OUT = 200  # cells of a Monte-Carlo held-out fold
MIN_FOLD = 100  # smallest held-out fold: its top 10 % is at least 10 cells
MIN_FOLDS = 12  # held-out folds per (loss, rate) and tuned family
TOP_PERCENT = 10
SEED_BASE = 1000  # draw seeds 1000 + r, disjoint from the studies' seeds
TIE = 1e-12


@dataclass(frozen=True)
class Fold:
    """One fit and its held-out rows, both rows of ``task``."""

    task: str
    draw: int
    fit: np.ndarray
    held: np.ndarray


def main_block(study: str = STUDY) -> dict[str, tuple[list[str], int | float]]:
    """Per space family: the tasks and the training budget of the study's ``main`` blocks."""
    import yaml
    from nasbench_harness.matrix import find_matrix

    doc = yaml.safe_load(find_matrix(study).read_text())
    out: dict[str, tuple[list[str], int | float]] = {}
    for block in doc.get("blocks", []):
        if block.get("name") == "main":
            (budget,) = block["budgets"]
            for task in block["tasks"]:
                family = task.split("/")[0]
                out.setdefault(family, ([], budget))[0].append(task)
    return out


def held_out_score(y_held: np.ndarray, pred: np.ndarray | None) -> dict[str, float]:
    """tau, Precision@10% and their mean on one held-out fold; ``pred`` None = a diverged fit
    (scored as a constant prediction)."""
    from nasbench_harness.metrics import prediction_metrics

    pred = np.zeros(len(y_held)) if pred is None else pred
    m = prediction_metrics(y_held, pred, precision_T=(TOP_PERCENT,), n_K=(), recall_k=(), top_K=())
    tau, p10 = m["kendall_tau"], m[f"precision@{TOP_PERCENT}"]
    return {"score": 0.5 * tau + 0.5 * p10, "tau": tau, "p10": p10}


def k_folds(n_train: int) -> int:
    """Folds of a training sample judged on its own labels: every fold >= MIN_FOLD cells (0 or 1: untunable)."""
    return n_train // MIN_FOLD


def task_folds(task, n_train: int, draws: int) -> list[Fold]:
    """The held-out folds of ``draws`` draws of one task (the module docstring's rules)."""
    from nasbench_harness.protocols.predict import judged_on_train_metric

    n = len(task)
    out = []
    for r in range(draws):
        rng = np.random.default_rng((SEED_BASE + r, zlib.crc32(task.name.encode())))
        if not judged_on_train_metric(task):
            rows = rng.choice(n, size=n_train + HELD_OUT, replace=False)
            out.append(Fold(task.name, r, np.sort(rows[:n_train]), np.sort(rows[n_train:])))
            continue
        k = k_folds(n_train)
        if k < 2:
            return []
        sample = rng.choice(n, size=n_train, replace=False)
        for held in np.array_split(sample, k):
            out.append(Fold(task.name, r, np.sort(np.setdiff1d(sample, held)), np.sort(held)))
    return out


def fit_and_score(task, fold: Fold, loss: str, lr: float, epochs: int | None = None) -> dict[str, float]:
    """Fit the GCN on the fold's fit rows (train metric) and score its held-out rows."""
    from nasbench_harness.methods.base import ArchSet
    from nasbench_harness.methods.neural.training import TrainingDivergedError
    from nasbench_harness.registry import load

    y = task.train_scores
    short = {} if epochs is None else {"epochs": epochs}  # tests train shorter; the selection uses the GCN's own
    model = load("predictors", "gcn")(seed=SEED_BASE + fold.draw, loss=loss, lr=lr, threads=1, **short)
    try:
        model.fit(ArchSet(task, fold.fit), y[fold.fit])
        pred = model.predict(ArchSet(task, fold.held))
    except TrainingDivergedError:
        return {**held_out_score(y[fold.held], None), "diverged": 1}
    return {**held_out_score(y[fold.held], pred), "diverged": 0}


def summarise(scores: list[dict[str, float]]) -> dict:
    """Mean and standard error of score, tau and Precision@10% over held-out folds."""
    out: dict = {"n": len(scores), "diverged": int(sum(s["diverged"] for s in scores))}
    for key in ("score", "tau", "p10"):
        v = np.array([s[key] for s in scores], dtype=np.float64)
        out[key] = {"mean": float(v.mean()), "se": float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")}
    return out


def choose(table: dict[str, dict], grid) -> float:
    """The rate with the highest mean score; ties within TIE go to the smaller rate."""
    best = max(table[f"{lr:g}"]["score"]["mean"] for lr in grid)
    return float(min(lr for lr in grid if table[f"{lr:g}"]["score"]["mean"] >= best - TIE))


def family_folds(tasks: list, n_train: dict[str, int], min_folds: int) -> list[Fold]:
    """Every held-out fold of a family's tasks (none when one of them cannot be split into >= 2 folds)."""
    from nasbench_harness.protocols.predict import judged_on_train_metric

    per_draw = [k_folds(n_train[t.name]) if judged_on_train_metric(t) else 1 for t in tasks]
    if any(judged_on_train_metric(t) and k < 2 for t, k in zip(tasks, per_draw, strict=True)):
        return []
    draws = max(1, math.ceil(min_folds / sum(per_draw)))
    return [f for t in tasks for f in task_folds(t, n_train[t.name], draws)]


def run_scores(loaded: dict, folds: list[Fold], losses, grid, jobs: int, epochs: int | None = None,
               done: dict | None = None, save=None, fit: bool = True) -> dict:
    """{(loss, lr): [fold score, ...]} over every fold, fits run by joblib (``jobs`` workers).

    ``done`` holds (loss, lr) groups already scored (a checkpoint: they are not refitted);
    ``save(key, scores)`` is called after each group, so a stopped run resumes where it was.
    ``fit`` False: only the groups in ``done``.
    """
    from joblib import Parallel, delayed

    out = dict(done or {})
    for loss in losses:
        for lr in grid:
            if fit and (loss, lr) not in out:
                out[(loss, lr)] = Parallel(n_jobs=jobs)(delayed(fit_and_score)(loaded[f.task], f, loss, lr, epochs) for f in folds)
                if save:
                    save((loss, lr), out[(loss, lr)])
    return out


def select(families=FAMILIES, losses=LOSSES, grid=GRID, *, min_folds: int = MIN_FOLDS, jobs: int = 1,
           study: str = STUDY, plan: dict | None = None, load=None, epochs: int | None = None,
           checkpoint: str | None = None, fit: bool = True, log=sys.stderr) -> dict:
    """Per family: its fold scheme, the per-(loss, rate) summary and the chosen rates; plus the pooled choice.

    ``plan`` ({family: (tasks, budget)}) defaults to the study's main block, ``load`` (task
    name -> Task) to the catalog; tests pass their own, and a short ``epochs``. ``checkpoint``:
    a JSON file of the (family, loss, rate) groups scored so far, read at the start and
    rewritten after each group. ``fit`` False fits nothing: the tables of a stopped run, from
    its checkpoint; a loss without every rate scored is left out (``missing``), and the GCN keeps
    its ``default_lr`` for it.
    """
    from nasbench_harness.protocols.predict import judged_on_train_metric, n_train_for
    from nasbench_harness.tasks.catalog import load_task

    load = load or load_task
    plan = plan or main_block(study)
    result: dict = {"study": study, "grid": list(grid), "losses": list(losses), "families": {}}
    saved = _read_checkpoint(checkpoint)

    def save(family, key, scores):
        saved[f"{family}|{key[0]}|{key[1]:g}"] = scores
        if checkpoint:
            with open(checkpoint, "w") as fh:
                json.dump(saved, fh)

    for family in families:
        names, budget = plan[family]
        tasks = [load(name) for name in names]
        n_train = {t.name: n_train_for(budget, len(t)) for t in tasks}
        folds = family_folds(tasks, n_train, min_folds)
        info = {"tasks": names, "budget": budget, "n_train": n_train,
                "scheme": "k-fold" if any(judged_on_train_metric(t) for t in tasks) else "monte-carlo",
                "tuned": bool(folds), "folds": len(folds),
                "held_out_sizes": sorted({len(f.held) for f in folds}), "fit_sizes": sorted({len(f.fit) for f in folds})}
        if folds:
            t0 = time.process_time()
            done = {(loss, lr): saved[k] for loss in losses for lr in grid if (k := f"{family}|{loss}|{lr:g}") in saved}
            scores = run_scores({t.name: t for t in tasks}, folds, losses, grid, jobs, epochs, done,
                                lambda key, v, family=family: save(family, key, v), fit)
            complete = [loss for loss in losses if all((loss, lr) in scores for lr in grid)]
            info["missing"] = [loss for loss in losses if loss not in complete]
            info["scores"] = {loss: {f"{lr:g}": scores[(loss, lr)] for lr in grid} for loss in complete}  # per fold
            info["table"] = {loss: {f"{lr:g}": summarise(scores[(loss, lr)]) for lr in grid} for loss in complete}
            info["chosen"] = {loss: choose(info["table"][loss], grid) for loss in complete}
            info["cpu_seconds"] = round(time.process_time() - t0, 1)
        print(f"{family}: {info['scheme']}, {len(folds)} folds, tuned={info['tuned']}", file=log, flush=True)
        result["families"][family] = info
    return with_choices(result)


def _read_checkpoint(path: str | None) -> dict:
    try:
        with open(path) as fh:
            return json.load(fh)
    except (TypeError, FileNotFoundError):  # no checkpoint asked for, or none written yet
        return {}


def with_choices(result: dict) -> dict:
    """Add the pooled table (every tuned family's folds together) and the chosen rate per family:
    its own where it was tuned, the pooled choice where it was not."""
    grid, losses = result["grid"], result["losses"]
    tuned = [info for info in result["families"].values() if info["tuned"]]
    # A loss is pooled once every tuned family has scored it (a stopped run may lack some).
    pooled_losses = [loss for loss in losses if tuned and all(loss in info["scores"] for info in tuned)]
    if pooled_losses:
        pooled = {loss: {f"{lr:g}": [s for info in tuned for s in info["scores"][loss][f"{lr:g}"]] for lr in grid}
                  for loss in pooled_losses}
        result["pooled"] = {loss: {g: summarise(v) for g, v in row.items()} for loss, row in pooled.items()}
        result["pooled_chosen"] = {loss: choose(result["pooled"][loss], grid) for loss in pooled_losses}
    result["chosen"] = {
        family: info["chosen"] if info["tuned"] else result.get("pooled_chosen", {})
        for family, info in result["families"].items()
    }
    return result


def merge(results: list[dict]) -> dict:
    """One result from runs over different families (same study, losses and grid), e.g. run side by side."""
    first = results[0]
    if any((r["study"], r["grid"], r["losses"]) != (first["study"], first["grid"], first["losses"]) for r in results):
        raise ConfigError("Only runs of the same study, losses and grid can be merged; rerun the odd one out.")
    families = {f: info for r in results for f, info in r["families"].items()}
    order = [f for f in FAMILIES if f in families] + [f for f in families if f not in FAMILIES]
    merged = {k: first[k] for k in ("study", "grid", "losses")}
    merged["families"] = {f: families[f] for f in order}
    merged["cpu_seconds"] = round(sum(r.get("cpu_seconds", 0.0) for r in results), 1)
    return with_choices(merged)


def _cell(s: dict) -> str:
    return f"{s['mean']:.3f} ± {s['se']:.3f}"


def _choice(result: dict, family: str, loss: str) -> str:
    lr = result["chosen"][family].get(loss)
    if lr is None:
        return "not scored (`default_lr`)"
    return f"{lr:g}" + ("" if result["families"][family]["tuned"] else " (pooled)")


def markdown(result: dict) -> str:
    """The chosen table (loss x family) and, per tuned family and pooled, score / tau / P@10% per rate."""
    grid = [f"{lr:g}" for lr in result["grid"]]
    fams = list(result["families"])
    lines = ["| loss | " + " | ".join(f"`{f}`" for f in fams) + " |", "|---" * (len(fams) + 1) + "|"]
    for loss in result["losses"]:
        cells = [_choice(result, f, loss) for f in fams]
        lines.append(f"| `{loss}` | " + " | ".join(cells) + " |")
    blocks = [(f, info["table"], info) for f, info in result["families"].items() if info["tuned"]]
    if "pooled" in result:
        blocks.append(("pooled", result["pooled"], None))
    for family, table, info in blocks:
        head = f"\n**{family}**" + (f" ({info['scheme']}, held-out folds of {'/'.join(map(str, info['held_out_sizes']))} cells, "
                                    f"fits on {'/'.join(map(str, info['fit_sizes']))})" if info else " (every tuned family's folds)")
        lines += [head + ": score, tau, P@10% (mean ± se over n folds)", "",
                  "| loss | lr | score | tau | P@10% | n | diverged |", "|---|---|---|---|---|---|---|"]
        for loss, row in table.items():
            for g in grid:
                s = row[g]
                lines.append(f"| `{loss}` | {g} | {_cell(s['score'])} | {_cell(s['tau'])} | {_cell(s['p10'])} | {s['n']} | {s['diverged']} |")
    return "\n".join(lines)


def table_module(result: dict, command: str, date: str) -> str:
    """The text of methods/neural/gcn_lr.py for ``result``'s chosen rates (written, never edited by hand)."""
    rows = []
    for family, rates in result["chosen"].items():
        how = "tuned on its own folds" if result["families"][family]["tuned"] else "pooled choice (too few training cells to tune)"
        body = ", ".join(f'"{loss}": {lr!r}' for loss, lr in rates.items())
        rows.append(f'    "{family}": {{{body}}},  # {how}')
    return "\n".join([
        '"""The GCN\'s learning rate per (search space, loss), read by methods/neural/gcn.py only.',
        "",
        "Made by methods/neural/lr_selection.py (its docstring and docs/LOSSES.md give the rule, the",
        f"full table), on {date}, with::",
        "",
        f"    {command}",
        "",
        "The runs that scored the folds, and their CPU time: CHANGELOG.md (\"GCN learning rates per space\").",
        "A space or loss missing here trains at the loss's ``default_lr`` (methods/losses.py).",
        '"""',
        "",
        "GCN_LR: dict[str, dict[str, float]] = {",
        *rows,
        "}",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", nargs="+", default=list(FAMILIES))
    ap.add_argument("--losses", nargs="+", default=list(LOSSES))
    ap.add_argument("--grid", nargs="+", type=float, default=list(GRID))
    ap.add_argument("--min-folds", type=int, default=MIN_FOLDS, help="held-out folds per (loss, rate) and tuned family")
    ap.add_argument("--jobs", type=int, default=1, help="joblib workers over fits (each fit uses one thread)")
    ap.add_argument("--out", help="write the full result as JSON here")
    ap.add_argument("--checkpoint", help="JSON file of the groups scored so far: resume from it, extend it")
    ap.add_argument("--no-fit", action="store_true", help="fit nothing: the tables from --checkpoint only (a stopped run)")
    ap.add_argument("--module", help="also write the chosen table as a gcn_lr.py module here")
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="merge earlier runs' --out files (over different families) instead of running")
    args = ap.parse_args(argv)
    if args.merge:
        try:
            result = merge([json.loads(open(path).read()) for path in args.merge])
        except (OSError, ValueError, KeyError, ConfigError) as exc:
            print(f"Cannot merge {args.merge}: {exc}", file=sys.stderr)
            return 2
        _write(result, args.out, args.module)
        return 0
    wall, cpu = time.perf_counter(), time.process_time()
    result = select(args.families, args.losses, args.grid, min_folds=args.min_folds, jobs=args.jobs,
                    checkpoint=args.checkpoint, fit=not args.no_fit)
    result["seconds"] = round(time.perf_counter() - wall, 1)
    result["cpu_seconds"] = round(time.process_time() - cpu, 1)  # this process (jobs=1: every fit)
    _write(result, args.out, args.module)
    print(f"\n{result['seconds']} s wall, {result['cpu_seconds']} s CPU", file=sys.stderr)
    return 0


def _write(result: dict, out: str | None, module: str | None = None) -> None:
    if out:
        with open(out, "w") as fh:
            json.dump(result, fh, indent=1)
    if module:
        command = "python -m nasbench_harness.methods.neural.lr_selection " + " ".join(sys.argv[1:])
        with open(module, "w") as fh:
            fh.write(table_module(result, command, time.strftime("%Y-%m-%d", time.gmtime())))
    print(markdown(result))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
