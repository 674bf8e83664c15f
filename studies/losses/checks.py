"""The loss paper's predictor findings (Sec. 4.2), each judged as a ``Verdict`` (report/verdicts.py)
on the cells its sentence is about: ``CHECKS`` maps a claim id to a function ``(ctx, df) -> Verdict``
over the section's rows (``section.study_rows``). Each rule is fixed here, before any number."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from nasbench_harness.report import verdicts as V
from nasbench_harness.studies.losses import LossStudy
from nasbench_harness.studies.losses.section import STUDY_LOSSES, loss_category, main_budget, paper_tasks

STUDY = "losses"
MATRIX = "paper-losses"

# The paper's sentences, quoted from papers/loss-functions-for-predictors.txt (tests check they occur there).
SENTENCES = {
    "weighted_top": "As shown in Figure 2, weighted loss functions achieve the best Precision@0.5 and N@10 on all search spaces.",
    "ranking_tau": "For the overall ranking performance, ranking loss functions, such as HR, demonstrate a stable advantage on all search spaces.",
    "ranking_small": "We observe that WARP attains poor N@10 with the smallest training portion on NAS-Bench-201 and NAS-Bench-Graph. "
                     "This is because limited training data causes weighted loss functions to overemphasize locally good architectures, "
                     "assigning them disproportionately high weights. Hence, it fails to recognize good architectures in the entire search space. "
                     "Ranking loss functions are more effective in such cases",
    "mlp_ranking": "predictors with a simple backbone such as MLP work better with ranking loss functions, while predictors with a "
                   "generalizable backbone such as GCN and Transformer achieve better results with weighted loss functions.",
    "gt_weighting": "Figure 6 shows that 'EXP-GT' achieves the best top-ranking precision and 'GT' yields close results. "
                    "Both of them outperform 'Ranking' by a large margin.",
}

TOP = (("precision@0.5", True), ("n@10", False))  # Figure 2's top-ranking metrics and their direction
SMALL_SPACES = ("nb201", "nbgraph")  # the spaces the ranking_small sentence names
GT_TASK = "nb201/cifar10"  # Figure 6: NAS-Bench-201 (CIFAR-10, the task Sec. 4.2 reports) at 1 %, GCN
GT_PRECISION = ("precision@0.5", "precision@1", "precision@5")  # "top-ranking precision": Precision@T at small T
GT_CLOSE = 0.03  # "'GT' yields close results": within 3 points of Precision@T (fixed in advance)
GT_LARGE = 0.05  # "by a large margin": more than 5 points of Precision@T (fixed in advance)
# weight_target of the weighting block: the weighted losses' default reading of y (docs/LOSSES.md; a test
# checks it is the losses' default). The other readings are those of the matrix's weight_target block.
DEFAULT_READING = "minmax"


# -- cells the claims are about, read from the matrix ------------------------------------------
def figure2_cells() -> list[tuple[str, float]]:
    """The five Figure-2 tasks at the portions of the Figure-2 caption (the matrix's main block)."""
    return [(t, main_budget()[t.split("/")[0]]) for t in paper_tasks()]


@functools.cache
def small_cells() -> list[tuple[str, float]]:
    """The paper's task of each space the ranking_small sentence names, at the smallest portion of its sweep."""
    cells = LossStudy.block(MATRIX, "trend") + LossStudy.block(MATRIX, "main")
    out = []
    for task in paper_tasks():
        if task.split("/")[0] in SMALL_SPACES:
            out.append((task, min(float(c.budget) for c in cells if c.task == task)))
    return out


@functools.cache
def weight_readings() -> tuple[str, ...]:
    """The readings of y the study runs: the default (the weighting block), then the weight_target block's."""
    block = LossStudy.block(MATRIX, "weight_target")
    return tuple(dict.fromkeys([DEFAULT_READING, *(c.loss_params["weight_target"] for c in block)]))


@functools.cache
def lr_grid() -> tuple[float, ...]:
    """The shared learning rates the ``lr`` block runs every loss at (the per-loss choice is the main block's)."""
    return tuple(sorted({float(c.params["lr"]) for c in LossStudy.block(MATRIX, "lr")}))


def lr_variant(lr: float, weighting: str = "") -> str:
    """The label variant of the ``lr`` block's rows, the rate first: "[lr=0.01]", "[lr=0.01,GT]"."""
    return f"[lr={lr:g}" + (f",{weighting}" if weighting else "") + "]"


# The open settings each verdict is judged under (issue 20): the deciding value first, then the sensitivity runs.
LR = V.Setting("lr", "per-loss", "By the learning rate (lr; the per-loss rates decide, every loss at each shared rate of "
               "the grid is a sensitivity run at 10 seeds)", "rate", "at lr")
READING = V.Setting("weight_target", DEFAULT_READING, f"By the reading of y in the weights (weight_target; {DEFAULT_READING} "
                    "decides, the others are its sensitivity runs)", "reading", "with y read as", blocking=True)


def lr_rule(scope: str = "the GCN") -> str:
    """The rule's sentence on the learning rate; ``scope``: which parts the shared rates apply to."""
    return (f" Judged the same way with every loss at each shared learning rate of the grid ({', '.join(f'{lr:g}' for lr in lr_grid())}; "
            f"{scope}), each with its own Holm correction: the per-loss rates decide, and the verdict depends on lr "
            "when the rates' verdicts differ.")


def _with_lr(judge_at) -> V.Verdict:
    """The claim judged at the per-loss rates (``judge_at(None)``, deciding) with its sensitivity to the
    learning rate: ``judge_at(lr)`` judges it on the ``lr`` block's rows at each shared rate."""
    return V.with_setting(judge_at(None), LR, {f"{lr:g}": judge_at(lr) for lr in lr_grid()})


# -- row selection ------------------------------------------------------------------------------
def _at(df: pd.DataFrame, task: str, budget: float, predictor: str = "gcn", lr: float | None = None) -> pd.DataFrame:
    """The rows of one cell: the default configuration (no variant) with the per-loss rates, or the ``lr``
    block's rows at the shared rate ``lr``."""
    if df.empty:
        return df
    variant = "" if lr is None else lr_variant(lr)
    return df[(df["task"] == task) & np.isclose(df["budget"].astype(float), float(budget)) & (df["predictor"] == predictor)
              & (df["eval_set"] == "space") & (df["variant"] == variant) & df["loss"].isin(STUDY_LOSSES)]


def _lr_prefix(lr: float | None) -> str:
    return "" if lr is None else f"[lr={lr:g}] "


def _by_seed(rows: pd.DataFrame, metric: str) -> pd.Series:
    return rows.groupby("seed")[metric].mean() if metric in rows.columns else pd.Series(dtype=float)


def _best(rows: pd.DataFrame, losses, metric: str, higher: bool) -> str | None:
    if metric not in rows.columns:
        return None
    means = rows[rows["loss"].isin(list(losses))].groupby("loss")[metric].mean().dropna()
    return None if means.empty else str(means.idxmax() if higher else means.idxmin())


def _of(category: str, negate: bool = False) -> list[str]:
    return [loss for loss in STUDY_LOSSES if (loss_category().get(loss) == category) != negate]


def _fmt(budget: float) -> str:
    return f"{budget:g}"


def _best_vs_best(rows, ours: tuple[str, list[str]], theirs: tuple[str, list[str]], metric: str, higher: bool,
                  task: str, budget: float, prefix: str = "", deciding: bool = True) -> V.Part | None:
    """The ``ours`` loss with the best mean against the ``theirs`` loss with the best mean, paired over seeds."""
    a, b = _best(rows, ours[1], metric, higher), _best(rows, theirs[1], metric, higher)
    if a is None or b is None:
        return None
    label = f"{prefix}{task} @{_fmt(budget)} {metric}: best {ours[0]} ({a}) vs best {theirs[0]} ({b})"
    return V.compare(_by_seed(rows[rows["loss"] == a], metric), _by_seed(rows[rows["loss"] == b], metric), label=label,
                     task=task, budget=budget, higher_is_better=higher, deciding=deciding)


def _missing(task: str, budget: float, what: str, lr: float | None = None, **filters) -> V.Missing:
    if lr is not None:  # the lr block's cells at that rate
        what, filters = f"{what} at lr={lr:g}", {**filters, "method": f"*lr={lr:g}*"}
    return V.Missing(f"{task} at {_fmt(budget)}: {what} on two or more common seeds",
                     V.run_command(MATRIX, task=task, budget=budget, **filters))


def _category_claim(df, claim: str, ours, theirs, metrics, rule: str, lr: float | None = None) -> V.Verdict:
    """A category leads on ``metrics`` at each Figure-2 cell (deciding) and, separately, at the other tasks
    of the main block (beyond the paper; with the per-loss rates only)."""
    parts, missing = [], []
    cells = figure2_cells()
    for task, budget in cells:
        rows = _at(df, task, budget, lr=lr)
        for metric, higher in metrics:
            part = _best_vs_best(rows, ours, theirs, metric, higher, task, budget, _lr_prefix(lr))
            parts.append(part)
            if part is None:
                missing.append(_missing(task, budget, f"GCN with {ours[0]} and {theirs[0]} losses", lr, predictor="gcn"))
    missing = list({m.what: m for m in missing}.values())
    if lr is not None:
        return V.judge(STUDY, claim, SENTENCES[claim], rule, parts, missing)
    paper = {t for t, _ in cells}
    for task, budget in sorted({(c.task, float(c.budget)) for c in LossStudy.block(MATRIX, "main")} - set(cells)):
        if task in paper or task.startswith("darts/"):  # DARTS is only searched in the paper (Table 5)
            continue
        rows = _at(df, task, budget)
        parts += [_best_vs_best(rows, ours, theirs, m, h, task, budget, "beyond the paper: ", deciding=False) for m, h in metrics]
    return V.judge(STUDY, claim, SENTENCES[claim], rule, parts, missing,
                   tasks=[t for t, _ in cells], portions=sorted({b for _, b in cells}))


# -- the checks -----------------------------------------------------------------------------------
def check_weighted_top(ctx, df: pd.DataFrame) -> V.Verdict:
    rule = ("On each of the five Figure-2 tasks at the Figure-2 caption's portion (0.1 %, 1 %, 0.3 %, 0.3 %, 3 %), for "
            "Precision@0.5 and for N@10 separately: the weighted loss with the best mean against the best non-weighted loss, "
            "paired over seeds (GCN); weighted must be better. Every part counts (weakest of the ten); the main block's other "
            "tasks are shown beyond the paper and do not change the verdict." + lr_rule())
    ours, theirs = ("weighted", _of("weighted")), ("non-weighted", _of("weighted", True))
    return _with_lr(lambda lr: _category_claim(df, "weighted_top", ours, theirs, TOP, rule, lr))


def check_ranking_tau(ctx, df: pd.DataFrame) -> V.Verdict:
    rule = ("On each of the five Figure-2 tasks at the Figure-2 caption's portion: the ranking loss with the best mean Kendall "
            "tau against the best non-ranking loss, paired over seeds (GCN); ranking must be higher. Weakest of the five "
            "parts; the main block's other tasks are shown beyond the paper." + lr_rule())
    ours, theirs, tau = ("ranking", _of("ranking")), ("non-ranking", _of("ranking", True)), (("kendall_tau", True),)
    return _with_lr(lambda lr: _category_claim(df, "ranking_tau", ours, theirs, tau, rule, lr))


def check_ranking_small(ctx, df: pd.DataFrame) -> V.Verdict:
    rule = ("On the paper's NAS-Bench-201 and NAS-Bench-Graph tasks (cifar10, cora) at the smallest portion of the matrix's "
            "sweep: the ranking loss with the best mean N@10 against the weighted loss with the best mean N@10, paired over "
            "seeds (GCN); ranking must be lower. Both tasks count (weakest of the two). The sentence's first clause, read "
            "alone (the best ranking loss against WARP), is shown beside it and does not change the verdict." + lr_rule())
    return _with_lr(lambda lr: _ranking_small(df, rule, lr))


def _ranking_small(df: pd.DataFrame, rule: str, lr: float | None = None) -> V.Verdict:
    """The sentence contrasts ranking with weighted losses ("weighted loss functions ... overemphasize"): that
    decides. Its first clause names WARP alone: the best ranking loss against WARP is the other reading, shown."""
    parts, readings, missing = [], [], []
    for task, budget in small_cells():
        rows = _at(df, task, budget, lr=lr)
        part = _best_vs_best(rows, ("ranking", _of("ranking")), ("weighted", _of("weighted")), "n@10", False, task, budget,
                             _lr_prefix(lr))
        parts.append(part)
        readings.append(_best_vs_best(rows, ("ranking", _of("ranking")), ("WARP", ["warp"]), "n@10", False, task, budget,
                                      f"{_lr_prefix(lr)}WARP alone: ", deciding=False))
        if part is None:
            missing.append(_missing(task, budget, "GCN with ranking and weighted losses (N@10)", lr, predictor="gcn"))
    cells = small_cells()
    return V.judge(STUDY, "ranking_small", SENTENCES["ranking_small"], rule, parts + readings, missing,
                   tasks=[t for t, _ in cells], portions=sorted({b for _, b in cells}))


def check_predictor_preference(ctx, df: pd.DataFrame) -> V.Verdict:
    rule = ("On NAS-Bench-201 cifar10 at 1 % (Table 1), for Precision@0.5 and N@10 separately: with AP (the MLP) the best "
            "ranking loss must beat the best weighted loss; with the GCN (MAPE, EW and WARP among its weighted losses) and the "
            "Transformer the best weighted loss must beat the best ranking loss; paired over seeds. A tie is no preference. "
            "Weakest of the six parts." + lr_rule("the GCN's parts; AP and the Transformer use one rate for every loss"))
    return _with_lr(lambda lr: _preference(df, rule, lr))


def _preference(df: pd.DataFrame, rule: str, lr: float | None = None) -> V.Verdict:
    """mlp_ranking's six parts; ``lr``: the GCN's at that shared rate (AP and the Transformer have no per-loss rates)."""
    task, budget = GT_TASK, main_budget()["nb201"]
    ranking, weighted = ("ranking", _of("ranking")), ("weighted", _of("weighted"))
    parts, missing = [], []
    for predictor, ours, theirs in (("ap", ranking, weighted), ("gcn", weighted, ranking), ("transformer", weighted, ranking)):
        at = lr if predictor == "gcn" else None
        rows = _at(df, task, budget, predictor, at)
        for metric, higher in TOP:
            # AP's and the Transformer's rows are the same at every shared GCN rate: unprefixed, they are listed once
            part = _best_vs_best(rows, ours, theirs, metric, higher, task, budget, prefix=f"{_lr_prefix(at)}{predictor}: ")
            parts.append(part)
            if part is None:
                missing.append(_missing(task, budget, f"{predictor} with ranking and weighted losses ({metric})", at, predictor=predictor))
    missing = list({m.what: m for m in missing}.values())
    return V.judge(STUDY, "mlp_ranking", SENTENCES["mlp_ranking"], rule, parts, missing)


def _weighting_runs(df: pd.DataFrame, loss: str, weighting: str, reading: str = DEFAULT_READING, lr: float | None = None) -> pd.Series:
    """Per seed, the mean of Precision@T over GT_PRECISION of ``loss`` with ``weighting`` and y read as
    ``reading`` (GCN, NB201 cifar10 at 1 %), at the per-loss rate or the shared ``lr`` (default reading only).
    Ranking weights ignore the reading: its rows serve every one."""
    if df.empty:
        return pd.Series(dtype=float)
    cols = [c for c in GT_PRECISION if c in df.columns]
    # The label's variant says the weighting, then the reading unless it is the default: "[GT]", "[GT,percent]";
    # the lr block's say the rate first: "[lr=0.01,GT]".
    if lr is not None:
        variant = lr_variant(lr, weighting)
    else:
        variant = f"[{weighting}]" if reading == DEFAULT_READING or weighting == "Ranking" else f"[{weighting},{reading}]"
    rows = df[(df["task"] == GT_TASK) & np.isclose(df["budget"].astype(float), main_budget()["nb201"])
              & (df["predictor"] == "gcn") & (df["eval_set"] == "space") & (df["loss"] == loss) & (df["variant"] == variant)]
    if rows.empty or not cols:
        return pd.Series(dtype=float)
    return rows.assign(_top=rows[cols].mean(axis=1, skipna=False)).groupby("seed")["_top"].mean()


def _reading_command(reading: str, budget: float, loss: str, lr: float | None = None) -> str:
    """The run that adds ``loss``'s weighting cells under ``reading`` (the default's are the weighting block) or at ``lr``."""
    if lr is not None:
        return V.run_command(MATRIX, task=GT_TASK, budget=budget, loss=loss, method=f"*lr={lr:g}*")
    if reading == DEFAULT_READING:
        return V.run_command(MATRIX, task=GT_TASK, budget=budget, loss=loss)
    return V.run_command(MATRIX, task=GT_TASK, budget=budget, loss=loss, method=f"*{reading}?")


def _gt_weighting_reading(df: pd.DataFrame, reading: str, rule: str, lr: float | None = None) -> V.Verdict:
    """The claim judged with y read as ``reading``, at the per-loss rates or the shared ``lr`` (its own Holm correction)."""
    budget = main_budget()["nb201"]
    tag = _lr_prefix(lr) + ("" if reading == DEFAULT_READING else f"[y: {reading}] ")
    setting = f"weight_target={reading}" + (f", lr={lr:g}" if lr is not None else "")
    parts, missing = [], []
    for loss in ("ew", "warp"):
        run = {w: _weighting_runs(df, loss, w, reading, lr) for w in ("GT", "EXP-GT", "Ranking")}
        lost = [w for w, s in run.items() if len(s) < 2]
        if lost:
            missing.append(V.Missing(f"{GT_TASK} at {_fmt(budget)}: GCN + {loss} with {', '.join(lost)} weighting "
                                     f"({setting}) on two or more seeds", _reading_command(reading, budget, loss, lr)))
            continue
        common = dict(task=GT_TASK, budget=budget)
        mine = [
            V.compare(run["EXP-GT"], run["GT"], label=f"{tag}{loss}: EXP-GT vs GT", higher_is_better=True, **common),
            V.equivalent(run["GT"], run["EXP-GT"], label=f"{tag}{loss}: GT close to EXP-GT", margin=GT_CLOSE, **common),
            V.compare(run["GT"], run["Ranking"], label=f"{tag}{loss}: GT vs Ranking", higher_is_better=True, margin=GT_LARGE, **common),
            V.compare(run["EXP-GT"], run["Ranking"], label=f"{tag}{loss}: EXP-GT vs Ranking", higher_is_better=True, margin=GT_LARGE, **common),
        ]
        parts += mine
        if None in mine:
            missing.append(V.Missing(f"{GT_TASK} at {_fmt(budget)}: GCN + {loss}, the three weightings ({setting}) "
                                     "on two or more common seeds", _reading_command(reading, budget, loss, lr)))
    return V.judge(STUDY, "gt_weighting", SENTENCES["gt_weighting"], rule, parts, missing, tasks=[GT_TASK], portions=[budget])


def check_gt_weighting(ctx, df: pd.DataFrame) -> V.Verdict:
    rule = (f"On NAS-Bench-201 cifar10 at 1 % with the GCN (Figure 6), for EW and for WARP, on top-ranking precision (each run's "
            f"mean of {', '.join(GT_PRECISION)}), paired over seeds: EXP-GT above GT; GT within ±{GT_CLOSE:g} of EXP-GT "
            f"(equivalence, TOST); GT and EXP-GT each above Ranking by more than {GT_LARGE:g} (the large margin). "
            f"Weakest of the eight parts, with y in the weights read as the min-max scaled target ({DEFAULT_READING}, the default); "
            f"judged the same way under each other reading ({', '.join(weight_readings()[1:])}), "
            "each with its own Holm correction: the verdict depends on weight_target when the readings' verdicts differ."
            + lr_rule("the GCN at the default reading"))
    # The default reading at the per-loss rates decides; the shared rates and the other readings are its sensitivity runs.
    main = _with_lr(lambda lr: _gt_weighting_reading(df, DEFAULT_READING, rule, lr))
    others = {r: _gt_weighting_reading(df, r, rule) for r in weight_readings()[1:]}
    return V.with_setting(main, READING, others, "the paper's ordering")


FINDING_CHECKS = {
    "weighted_top": check_weighted_top,
    "ranking_tau": check_ranking_tau,
    "ranking_small": check_ranking_small,
    "mlp_ranking": check_predictor_preference,
    "gt_weighting": check_gt_weighting,
    # Whether PW beats its parts is a search-time claim (the paper's Figure 7, NB201): search_checks.py.
}


def verdicts(rows: pd.DataFrame, ctx) -> list[V.Verdict]:
    """Every predictor claim's verdict over paper-losses' own rows (also with none: insufficient_evidence)."""
    from nasbench_harness.studies.losses.section import study_rows

    df = study_rows(rows)
    return [fn(ctx, df) for fn in FINDING_CHECKS.values()]
