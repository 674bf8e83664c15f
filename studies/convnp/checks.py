"""The ConvNP paper's claims (published.yaml "findings"), checked on the section's rows: ``CHECKS``
maps a finding's id to a function returning its check box."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from nasbench_harness.report.context import NOT_APPLICABLE
from nasbench_harness.studies.convnp.section import (
    REGRESSORS,
    _mean_of,
    _means,
    ablations,
    main_methods,
    main_rows,
    training_sizes,
)


def _recall_mean(agg: pd.DataFrame, method: str, cols: list[str]) -> float:
    vals = [_mean_of(agg, method, c) for c in cols]
    return float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")


def check_recall_without_tau(ctx, df: pd.DataFrame, text: str) -> str:
    main = main_rows(df)
    main = main[main["method"].isin(main_methods())]
    cols = [c for c in main.columns if re.fullmatch(r"recall@\d+", c)]
    verdicts, evidence = [], []
    for task, g in main.groupby("task"):
        agg = _means(ctx, g, ["method"], ["kendall_tau", *cols]).dropna(subset=["kendall_tau.mean"])
        if "ConvNP" not in set(agg["method"]) or len(agg) < 2:
            continue
        top = agg.loc[agg["kendall_tau.mean"].idxmax(), "method"]
        if top == "ConvNP":  # the claim is about a method with a higher tau: nothing to test here
            evidence.append(f"{task}: not applicable, ConvNP itself has the best tau")
            continue
        ours, theirs = _recall_mean(agg, "ConvNP", cols), _recall_mean(agg, top, cols)
        verdicts.append(ours >= theirs)
        evidence.append(f"{task}: mean Recall@k ConvNP {ours:.3f} vs {top} (best tau {_mean_of(agg, top, 'kendall_tau'):.3f}) {theirs:.3f}")
    passed = (NOT_APPLICABLE if evidence else None) if not verdicts else sum(verdicts) > len(verdicts) / 2
    return ctx.check(text, passed, "; ".join(evidence) or "no main-comparison results with ConvNP")


def check_regressors(ctx, df: pd.DataFrame, text: str) -> str:
    main = main_rows(df)
    verdicts, evidence = [], []
    for task, g in main.groupby("task"):
        agg = _means(ctx, g, ["method"], ["kendall_tau"])
        regs = {m: _mean_of(agg, m, "kendall_tau") for m in REGRESSORS}
        regs = {m: v for m, v in regs.items() if np.isfinite(v)}
        ours = _mean_of(agg, "ConvNP", "kendall_tau")
        if not regs or not np.isfinite(ours):
            continue
        best = max(regs, key=regs.get)
        verdicts.append(ours > regs[best])
        evidence.append(f"{task}: ConvNP {ours:.3f} vs best regressor {best} {regs[best]:.3f}")
    passed = None if not verdicts else all(verdicts)
    return ctx.check(text, passed, "; ".join(evidence) or "no main-comparison results")


def _ablation_agg(ctx, df):
    abl = main_rows(df)
    abl = abl[(abl["task"] == "nb101/cifar10") & abl["method"].isin(ablations())]
    return _means(ctx, abl, ["method"], ["selected_best_test", "kendall_tau"]) if not abl.empty else pd.DataFrame()


def _ablation_verdict(agg: pd.DataFrame, rivals: list[str], strict: bool) -> tuple[bool | None, str]:
    """ConvNP against ablations on both Table 5 quantities: Kendall tau and the selected accuracy."""
    metrics = (("kendall_tau", "tau", ".3f"), ("selected_best_test", "best-of-top-30 accuracy", ".2f"))
    ours = {m: _mean_of(agg, "ConvNP", m) for m, _, _ in metrics}
    found = {r: {m: _mean_of(agg, r, m) for m, _, _ in metrics} for r in rivals}
    found = {r: v for r, v in found.items() if all(np.isfinite(x) for x in v.values())}
    if not found or not all(np.isfinite(x) for x in ours.values()):
        return None, ""
    better = (lambda a, b: a > b) if strict else (lambda a, b: a >= b)
    passed = all(better(ours[m], v[m]) for v in found.values() for m, _, _ in metrics)
    parts = [f"{label}: ConvNP {ours[m]:{f}}; " + ", ".join(f"{r} {v[m]:{f}}" for r, v in found.items()) for m, label, f in metrics]
    return passed, " | ".join(parts)


def check_single_epoch(ctx, df: pd.DataFrame, text: str) -> str:
    agg = _ablation_agg(ctx, df)
    if agg.empty or "ConvNP" not in set(agg["method"]):
        return ctx.check(text, None, "no NB101 ablation results")
    passed, ev = _ablation_verdict(agg, ["ConvNP (MSE)", "ConvNP (Ranking)", "ConvNP (ML)"], strict=False)
    if passed is None:
        return ctx.check(text, None, "the MSE/Ranking/ML ablations have no results")
    return ctx.check(text, passed, "one epoch of MSE+Ranking (ConvNP) must match or beat each on both — " + ev)


def check_meta_learning(ctx, df: pd.DataFrame, text: str) -> str:
    agg = _ablation_agg(ctx, df)
    if agg.empty or "ConvNP" not in set(agg["method"]):
        return ctx.check(text, None, "no NB101 ablation results")
    off = ["ConvNP (no split)", "ConvNP (no synthetic)"]
    if not all(np.isfinite(_mean_of(agg, m, "selected_best_test")) for m in off):
        return ctx.check(text, None, "the no-split / no-synthetic ablations have no results")
    passed, ev = _ablation_verdict(agg, off, strict=True)
    if passed is None:
        return ctx.check(text, None, "the no-split / no-synthetic ablations have no results")
    return ctx.check(text, passed, "ConvNP must beat both on both — " + ev)


def check_more_data(ctx, df: pd.DataFrame, text: str) -> str:
    sizes = df[(df["method"] == "ConvNP") & df["budget"].astype(float).isin(training_sizes())]
    verdicts, evidence = [], []
    for task, g in sizes.groupby("task"):
        agg = _means(ctx, g, ["budget"], ["kendall_tau"]).sort_values("budget")
        if len(agg) < 3:
            continue
        tau = agg["kendall_tau.mean"].to_numpy()
        verdicts.append(bool(tau[-1] > tau[0] and np.corrcoef(agg["budget"].astype(float), tau)[0, 1] > 0.5))
        evidence.append(f"{task}: tau " + ", ".join(f"{int(b)}: {t:.3f}" for b, t in zip(agg["budget"], tau)))
    passed = None if not verdicts else all(verdicts)
    return ctx.check(text, passed, "; ".join(evidence) or "no training-size results")


CHECKS = {
    "recall_without_tau": check_recall_without_tau,
    "beats_regressors_tau": check_regressors,
    "single_epoch": check_single_epoch,
    "meta_learning": check_meta_learning,
    "more_data": check_more_data,
}
