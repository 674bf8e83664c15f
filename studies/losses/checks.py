"""The loss paper's stated findings, checked against our results (``FINDING_CHECKS``; the
findings' texts are in published.yaml). Each check returns (passed, evidence)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from nasbench_harness.report.context import NOT_APPLICABLE
from nasbench_harness.studies.losses.section import _is_main, _means, _plain, eval_spaces, loss_category


def _winner(agg: pd.DataFrame, metric: str, higher: bool) -> pd.Series:
    col = f"{metric}.mean"
    agg = agg.dropna(subset=[col])
    idx = agg[col].idxmax() if higher else agg[col].idxmin()
    return agg.loc[idx]


def _category_leads(agg: pd.DataFrame, category: str, metric: str, higher: bool) -> tuple[bool, pd.Series]:
    """Whether ``category``'s best loss reaches the best mean of ``metric`` (ties count as leading), and the winner row."""
    col = f"{metric}.mean"
    agg = agg.dropna(subset=[col])
    best = agg[col].max() if higher else agg[col].min()
    mine = agg[agg["loss"].map(loss_category()) == category][col]
    winner = agg.loc[agg[col].idxmax() if higher else agg[col].idxmin()]
    return bool(len(mine)) and bool(np.isclose(mine.max() if higher else mine.min(), best)), winner


def voting(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that vote on the paper's findings: the five evaluation spaces (no DARTS)."""
    return df[df["space"].isin(eval_spaces())]


def _all_spaces(task_verdicts: dict[str, bool], what: str, lines: list[str]) -> tuple[bool | None, str]:
    """An "on all search spaces" verdict: a space holds when a majority of its tasks do; the
    finding is reproduced when all five evaluation spaces hold, refuted as soon as one does not."""
    spaces = eval_spaces()
    votes: dict[str, bool] = {}
    for space in spaces:
        mine = [v for t, v in task_verdicts.items() if t.split("/")[0] == space]
        if mine:
            votes[space] = sum(mine) * 2 > len(mine)
    k = sum(votes.values())
    missing = [s for s in spaces if s not in votes]
    summary = f"{what} on {k} of {len(spaces)} evaluation spaces"
    summary += f" ({', '.join(missing)}: no results)" if missing else ""
    summary += " (a space holds when a majority of its tasks do; DARTS does not vote). "
    if not votes:
        return None, "No evaluation space has regression, ranking and weighted losses at the paper's training portion yet."
    passed = False if not all(votes.values()) else (None if missing else True)
    return passed, summary + "; ".join(lines)


def check_weighted_top(ctx, df: pd.DataFrame) -> tuple[bool | None, str]:
    """Weighted losses reach the best Precision@0.5 and N@10 at the paper's portions, on all five spaces."""
    plain = _plain(voting(df))
    main = plain[_is_main(plain)]
    lines, verdicts = [], {}
    for task, g in main.groupby("task"):
        agg = _means(ctx, g, ["loss"], ["precision@0.5", "n@10"])
        if agg["loss"].map(loss_category()).nunique() < 3 or "precision@0.5.mean" not in agg:
            continue
        p_ok, p = _category_leads(agg, "weighted", "precision@0.5", True)
        n_ok, n = _category_leads(agg, "weighted", "n@10", False)
        verdicts[task] = p_ok and n_ok
        lines.append(f"{task}: best P@0.5 {p['loss']} ({p['precision@0.5.mean']:.3f}), best N@10 {n['loss']} ({n['n@10.mean']:.1f})")
    return _all_spaces(verdicts, "A weighted loss reaches the best mean of both metrics (ties count)", lines)


def check_ranking_tau(ctx, df: pd.DataFrame) -> tuple[bool | None, str]:
    """A ranking loss has the best Kendall tau at the paper's portions, on all five spaces."""
    plain = _plain(voting(df))
    main = plain[_is_main(plain)]
    lines, verdicts = [], {}
    for task, g in main.groupby("task"):
        agg = _means(ctx, g, ["loss"], ["kendall_tau"])
        if agg["loss"].map(loss_category()).nunique() < 3 or "kendall_tau.mean" not in agg:
            continue
        ok, w = _category_leads(agg, "ranking", "kendall_tau", True)
        verdicts[task] = ok
        lines.append(f"{task}: {w['loss']} ({w['kendall_tau.mean']:.3f})")
    return _all_spaces(verdicts, "A ranking loss has the best Kendall tau", lines)


def _best_of(agg: pd.DataFrame, category: str, metric: str, higher: bool) -> float | None:
    vals = agg[agg["loss"].map(loss_category()) == category][f"{metric}.mean"].dropna()
    if vals.empty:
        return None
    return float(vals.max() if higher else vals.min())


def check_ranking_small(ctx, df: pd.DataFrame) -> tuple[bool | None, str]:
    """At each swept task's smallest portion the best ranking loss beats the best weighted one on N@10."""
    plain = _plain(voting(df))
    lines, wins, tasks = [], 0, 0
    for task, g in plain.groupby("task"):
        budgets = sorted(g["n_train"].unique()) if "n_train" in g else []
        if len(budgets) < 2:
            continue
        small = g[g["n_train"] == budgets[0]]
        agg = _means(ctx, small, ["loss"], ["n@10"])
        r, w = _best_of(agg, "ranking", "n@10", False), _best_of(agg, "weighted", "n@10", False)
        if r is None or w is None:
            continue
        lines.append(f"{task} at {int(budgets[0])} archs: best ranking N@10 {r:.1f} vs best weighted {w:.1f}")
        if np.isclose(r, w):
            continue  # a tie decides nothing
        tasks += 1
        wins += r < w
    if not tasks and lines:
        return NOT_APPLICABLE, "Every swept task ties at its smallest portion, so the results cannot tell. " + "; ".join(lines)
    if not tasks:
        return None, "No task has a sweep of training portions with ranking and weighted losses yet."
    return wins * 2 > tasks, f"Ranking losses lead at the smallest portion on {wins} of {tasks} tasks. " + "; ".join(lines)


def check_predictor_preference(ctx, df: pd.DataFrame) -> tuple[bool | None, str]:
    """AP: best ranking loss beats best weighted on Precision@0.5; GCN and Transformer: the reverse."""
    rows = df[(df["task"] == "nb201/cifar10") & (df["eval_set"] == "space") & (df["variant"] == "")]
    rows = rows[np.isclose(rows["budget"].astype(float), 0.01) & rows["loss"].isin(["mse", "hr", "listmle", "warp"])]
    parts, verdicts = [], []
    for predictor, wants in (("ap", "ranking"), ("gcn", "weighted"), ("transformer", "weighted")):
        agg = _means(ctx, rows[rows["predictor"] == predictor], ["loss"], ["precision@0.5"])
        if agg.empty or "precision@0.5.mean" not in agg:
            continue
        r, w = _best_of(agg, "ranking", "precision@0.5", True), _best_of(agg, "weighted", "precision@0.5", True)
        if r is None or w is None:
            continue
        got = "ranking" if r > w else "weighted"
        verdicts.append(got == wants)
        parts.append(f"{predictor}: best ranking P@0.5 {r:.3f} vs weighted {w:.3f} (prefers {got}, paper: {wants})")
    if len(verdicts) < 2 or not any(p.startswith("ap") for p in parts):
        return None, "Needs AP and GCN/Transformer with ranking and weighted losses on nb201/cifar10 at 1%."
    return all(verdicts), "; ".join(parts)


def check_gt_weighting(ctx, df: pd.DataFrame) -> tuple[bool | None, str]:
    rows = df[(df["variant"] != "") & df["loss"].isin(["ew", "warp"])]
    agg = _means(ctx, rows, ["loss", "variant"], ["precision@0.5"])
    if agg.empty or "precision@0.5.mean" not in agg:
        return None, "No weighting-type results yet."
    verdicts, parts = [], []
    for loss, g in agg.groupby("loss"):
        v = dict(zip(g["variant"], g["precision@0.5.mean"]))
        if not {"[GT]", "[EXP-GT]", "[Ranking]"} <= set(v):
            continue
        verdicts.append(v["[EXP-GT]"] >= v["[GT]"] > v["[Ranking]"])
        parts.append(f"{loss}: GT {v['[GT]']:.3f}, EXP-GT {v['[EXP-GT]']:.3f}, Ranking {v['[Ranking]']:.3f}")
    if not verdicts:
        return None, "Needs all three weighting types of EW or WARP."
    return all(verdicts), "Precision@0.5, EXP-GT >= GT > Ranking needed — " + "; ".join(parts)


FINDING_CHECKS = {
    "weighted_top": check_weighted_top,
    "ranking_tau": check_ranking_tau,
    "ranking_small": check_ranking_small,
    "mlp_ranking": check_predictor_preference,
    "gt_weighting": check_gt_weighting,
    # "pw_beats_parts" is a search-time claim (the paper's Tables 3-4): judged by the search section.
}


