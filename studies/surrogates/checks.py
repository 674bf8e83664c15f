"""The abstract's claims (published.yaml "claims"), each tested by an operational rule fixed in
advance and judged by paired tests over seeds on the section's rows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from nasbench_harness.report import stats
from nasbench_harness.report.context import NOT_APPLICABLE
from nasbench_harness.studies.surrogates.section import (
    BASELINE,
    TAU,
    _enc_label,
    _geo,
    cross_pairs,
    share_rule,
    within_pairs,
)


def _mean_text(df: pd.DataFrame, by: str, metric: str = TAU) -> str:
    means = df.groupby(by)[metric].mean()
    return ", ".join(f"{k} {v:.3f}" for k, v in means.items())


def check_within(ctx, df: pd.DataFrame, records: list[dict], spec: dict) -> str:
    """``records``: ``within_pairs`` of the regressor rows for ``spec`` (the table above shows them)."""
    combined, rivals, share = spec["combined"], spec["rivals"], float(spec["min_share"])
    if df.empty or combined not in set(df["enc"]):
        return ctx.check(spec["text"], NOT_APPLICABLE, f"No within-task {_enc_label(combined)} rows.")
    lines, verdicts, missing = [], [], []
    for rival in rivals:
        vs = [r["v"] for r in records if r["rival"] == rival and r["p"].n >= 2]
        passed, text = share_rule(vs, share)
        if passed is None:
            missing.append(_enc_label(rival))
        verdicts.append(passed)
        lines.append(f"vs {_enc_label(rival)}: {text}")
    judged = df[df["task"].isin({r["task"] for r in records}) & ~df["enc"].isin(["lm", "baseline"])]
    largest = judged[judged["budget"] == judged.groupby("task")["budget"].transform("max")]
    means = f"Mean τ at the largest training size of the {largest['task'].nunique()} tasks judged: {_mean_text(largest, 'family')}."
    passed = None if missing else all(verdicts)
    gap = f" No paired comparison against {', '.join(missing)}." if missing else ""
    return ctx.check(spec["text"] + f" ({_enc_label(combined)} beats {', '.join(map(_enc_label, rivals))} on Kendall τ by ≥ {spec['min_gain']:g}, "
                     "per (task, size, regressor))",
                     passed, "; ".join(lines) + f". {means}{gap} Details: the within-task paired table.")


def check_across(ctx, df: pd.DataFrame, spec: dict) -> str:
    label = _enc_label(spec["encoding"])
    text = spec["text"] + (f" (zero-shot {label} surrogate beats the source-accuracy baseline on τ by ≥ {spec['min_gain']:g}, "
                           "per (source, target) pair)")
    records = cross_pairs(df, int(spec["target_shots"]), spec["metric"], float(spec["min_gain"])) if len(df) else []
    records = [r for r in records if r["enc"] == spec["encoding"]]
    if not records:
        return ctx.check(text, NOT_APPLICABLE, f"No zero-shot {label} transfer rows with a source-accuracy baseline.")
    passed, summary_text = share_rule([r["v"] for r in records if r["p"].n >= 2], float(spec["min_share"]))
    pairs = "; ".join(f"{r['source']} → {r['target']}: {r['A (mean)']:.3f} vs {r['B (mean)']:.3f} ({r['verdict']})" for r in records)
    return ctx.check(text, passed, f"{summary_text}. {pairs}.")


def check_lm(ctx, within: pd.DataFrame, cross: pd.DataFrame, spec: dict) -> str:
    lm_w = within[within["enc"] == "lm"] if len(within) else within
    lm_x = cross[cross["enc"] == "lm"] if len(cross) else cross
    if not len(lm_w) and not len(lm_x):
        return ctx.check(spec["text"], NOT_APPLICABLE, "No LM rows.")
    if not (lm_w["pretrained"].any() if len(lm_w) else False) and not (lm_x["pretrained"].any() if len(lm_x) else False):
        info = f" For information, mean τ of LM (from scratch) per task: {_mean_text(lm_w, 'task')}." if len(lm_w) else ""
        return ctx.check(spec["text"], NOT_APPLICABLE, "Only LM rows trained from scratch (no model_path: pre-trained weights "
                         "cannot be had offline), so the claim about fine-tuning a pre-trained LM cannot be tested." + info)
    verdicts, lines = [], []
    pre_w = within[(within["enc"] != "lm") | within["pretrained"]] if len(within) else within
    if len(pre_w):
        rival = spec["rival"]
        recs = within_pairs(pre_w, "lm", [rival], spec["metric"], by=("task", "budget"), min_gain=float(spec["min_gain"]))
        vs = [r["v"] for r in recs if r["p"].n >= 2]
        verdicts += vs
        lines.append(f"within-task vs {_enc_label(rival)}: {share_rule(vs, float(spec['min_share']))[1]}")
    recs = cross_pairs(cross, min_gain=float(spec["min_gain"])) if len(cross) else []
    recs = [r for r in recs if r["pretrained"] and r["enc"] == "lm"]
    if recs:
        vs = [r["v"] for r in recs if r["p"].n >= 2]
        verdicts += vs
        lines.append(f"zero-shot vs {BASELINE}: {share_rule(vs, float(spec['min_share']))[1]}")
    passed, total = share_rule(verdicts, float(spec["min_share"]))
    return ctx.check(spec["text"] + " (pre-trained LM rows: beats one-hot within-task and the baseline across tasks)",
                     passed, f"Overall {total}. " + "; ".join(lines))


def _search_check(ctx, comps: list[dict], spec: dict, text: str, verdict, describe, words: tuple[str, str]) -> str:
    mine = [c for c in comps if c["strategy"] == spec["strategy"]]
    if not mine:
        return ctx.check(text, NOT_APPLICABLE, f"No {spec['strategy']} runs beside RE on a common target.")
    verdicts = [verdict(c) for c in mine if c["regret"].n >= 2]
    passed, summary_text = share_rule(verdicts, float(spec["min_share"]), *words)
    return ctx.check(text, passed, f"{summary_text}. " + "; ".join(describe(c) for c in mine) + ".")


def check_filter(ctx, comps: list[dict], spec: dict) -> str:
    def verdict(c):
        better, faster = c["regret"].a_better(True), c["log_speedup"].a_better(False)
        return False if False in (better, faster) else True if better and faster else None

    def describe(c):
        g, lo, hi = _geo(c["log_speedup"])
        return (f"{c['task']} {c['method']}: regret {c['regret'].mean_a:.3f} vs RE {c['regret'].mean_b:.3f} "
                f"({c['regret'].verdict('filter', 'RE', True)}), speed-up {g:.2f}x [{lo:.2f}, {hi:.2f}]")

    text = spec["text"] + " (lower final regret than RE and fewer queries to the level both reach, paired over seeds)"
    return _search_check(ctx, comps, spec, text, verdict, describe, ("better and faster", "worse or slower"))


def check_objective(ctx, comps: list[dict], spec: dict) -> str:
    factor = float(spec["speedup_factor"])
    shift = math.log(factor)

    def verdict(c):
        p = stats.paired(np.log(c["c"]["q_re"]), np.log(c["c"]["q"]) + shift)
        return p.a_better(False)

    def describe(c):
        g, lo, hi = _geo(c["log_speedup"])
        return f"{c['task']} {c['method']}: speed-up {g:.2f}x [{lo:.2f}, {hi:.2f}] with {np.nanmax(c['c']['n']):g} queries, regret {c['regret'].mean_a:.3f} vs RE {c['regret'].mean_b:.3f}"

    text = spec["text"] + f" (at least {factor:g}x fewer queries than RE to reach the same result, resolved over seeds)"
    return _search_check(ctx, comps, spec, text, verdict, describe, (f"above {factor:g}x", f"below {factor:g}x"))


def checks_html(ctx, within: pd.DataFrame, within_records: list[dict], cross: pd.DataFrame, comps: list[dict],
                claims: dict) -> str:
    parts = [
        check_within(ctx, within, within_records, claims["within_task"]),
        check_across(ctx, cross, claims["across_tasks"]),
        check_lm(ctx, within, cross, claims["lm"]),
        check_filter(ctx, comps, claims["filter"]),
        check_objective(ctx, comps, claims["objective"]),
    ]
    return "<h3>The abstract's claims, checked</h3>" + ctx.note(
        "The abstract prints no numbers: each claim is tested by an operational rule fixed in advance "
        "(studies/surrogates/published.yaml), judged by paired tests over seeds.") + "".join(parts)
