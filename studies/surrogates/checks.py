"""The abstract's claims (published.yaml "claims"), each judged as a ``Verdict`` (report/verdicts.py):
the mean ordering over every block the claim covers, paired by block (a block is one task, training
size, regressor and seed; or one source, target and seed; or one target, method and seed), with the
thresholds fixed in published.yaml before any result (``min_gain``, ``speedup_factor``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from nasbench_harness.report import verdicts as V
from nasbench_harness.studies.surrogates.section import (
    BASELINE,
    RE,
    TAU,
    _enc_label,
    _zero_shot,
    regressor_rows,
    search_comparisons,
    search_rows,
    transfer_rows,
    within_rows,
)

STUDY = "surrogates"
MATRIX = "paper-surrogates"

# The abstract's sentence, in its three parts, quoted from papers/transferrable-surrogates-abstract.txt.
_I = ("We show that i) surrogate models trained either using zero-cost-proxy metrics and neural graph features (GRAF) or by "
      "fine-tuning an off-the-shelf LM have high predictive power for the performance of architectures both within and across datasets")
SENTENCES = {
    "within_task": _I,
    "across_tasks": _I,
    "lm": _I,
    "filter": "ii) these surrogates can be used to filter out bad architectures when searching on novel datasets, thereby "
              "significantly speeding up search and achieving better final performances",
    "objective": "iii) the surrogates can be further used directly as the search objective for huge speed-ups.",
}


def _within_wide(within: pd.DataFrame, by=("task", "budget", "predictor")) -> pd.DataFrame:
    """(*by, seed) x encoding table of Kendall tau (rows of several regressors in one block averaged)."""
    if within.empty:
        return pd.DataFrame()
    return within.pivot_table(index=[*by, "seed"], columns="enc", values=TAU, aggfunc="mean")


def _cross_series(cross: pd.DataFrame, keep, shots: int = 0) -> tuple[pd.Series, pd.Series]:
    """Zero-shot surrogate tau (rows ``keep`` selects) and the source-accuracy baseline's, per (source, target, seed)."""
    a, b = [], []
    if cross.empty:
        return pd.Series(dtype=float), pd.Series(dtype=float)
    for (source, task), g in _zero_shot(cross, shots).groupby(["source", "task"], sort=True):
        base = g[g["baseline"]].groupby("seed")[TAU].mean()
        ours = g[~g["baseline"] & keep(g)].groupby("seed")[TAU].mean()
        if base.empty or ours.empty:
            continue
        theirs = pd.Series(base.iloc[0], index=ours.index) if len(base) == 1 else base.reindex(ours.index)
        a.append(ours.set_axis([(source, task, s) for s in ours.index]))
        b.append(theirs.set_axis([(source, task, s) for s in theirs.index]))
    return (pd.concat(a), pd.concat(b)) if a else (pd.Series(dtype=float), pd.Series(dtype=float))


def _missing(what: str, **filters) -> V.Missing:
    return V.Missing(what, V.run_command(MATRIX, **filters))


def check_within(ctx, within: pd.DataFrame, spec: dict) -> V.Verdict:
    combined, gain = spec["combined"], float(spec["min_gain"])
    rule = (f"Kendall tau of {_enc_label(combined)} against each rival ({', '.join(map(_enc_label, spec['rivals']))}) on the "
            f"mean over every (task, training size, regressor) cell, paired by (task, size, regressor, seed); above by more "
            f"than {gain:g}. Weakest of the rivals.")
    wide = _within_wide(regressor_rows(within) if len(within) else within)
    parts, missing = [], []
    for rival in spec["rivals"]:
        part = (V.compare(wide[combined], wide[rival], label=f"{_enc_label(combined)} vs {_enc_label(rival)}, pooled over cells",
                          task="within task", higher_is_better=True, margin=gain)
                if combined in wide.columns and rival in wide.columns else None)
        parts.append(part)
        if part is None:
            missing.append(_missing(f"within-task {_enc_label(combined)} and {_enc_label(rival)} regressor rows on two or more "
                                    "common seeds", encoding=[combined, rival]))
    v = V.judge(STUDY, "within_task", SENTENCES["within_task"], rule, parts, missing)
    v.tasks = sorted(set(within["task"])) if len(within) else []
    return v


def check_across(ctx, cross: pd.DataFrame, spec: dict) -> V.Verdict:
    enc, gain = spec["encoding"], float(spec["min_gain"])
    rule = (f"Zero-shot ({int(spec['target_shots'])} target shots) {_enc_label(enc)} surrogate against the {BASELINE} baseline "
            f"on Kendall tau, mean over every (source, target) pair, paired by (source, target, seed); above by more than {gain:g}.")
    a, b = _cross_series(cross, lambda g: g["enc"] == enc, int(spec["target_shots"]))
    part = V.compare(a, b, label=f"{_enc_label(enc)} vs {BASELINE}, pooled over pairs", task="across tasks",
                     higher_is_better=True, margin=gain)
    missing = [] if part else [_missing(f"zero-shot {_enc_label(enc)} transfer rows with a {BASELINE} baseline", encoding=enc)]
    v = V.judge(STUDY, "across_tasks", SENTENCES["across_tasks"], rule, [part], missing)
    v.tasks = sorted(set(cross["task"])) if len(cross) else []
    return v


def check_lm(ctx, within: pd.DataFrame, cross: pd.DataFrame, spec: dict) -> V.Verdict:
    gain, rival = float(spec["min_gain"]), spec["rival"]
    rule = (f"Pre-trained LM rows only (a model_path): LM above {_enc_label(rival)} within task (pooled over cells, paired by "
            f"task, size, seed; regressors averaged) and above the {BASELINE} baseline zero-shot across tasks (pooled over pairs), each by "
            f"more than {gain:g}; both parts.")
    pre_w = within[(within["enc"] != "lm") | within["pretrained"]] if len(within) else within
    wide = _within_wide(pre_w, by=("task", "budget"))  # the LM is no regressor: its blocks are (task, size, seed)
    parts, missing = [], []
    lm_in = len(within) and (within["enc"].eq("lm") & within["pretrained"]).any()
    parts.append(V.compare(wide["lm"], wide[rival], label=f"LM vs {_enc_label(rival)}, within task, pooled", task="within task",
                           higher_is_better=True, margin=gain) if lm_in and rival in wide.columns else None)
    a, b = _cross_series(cross, lambda g: g["enc"].eq("lm") & g["pretrained"])
    parts.append(V.compare(a, b, label=f"LM vs {BASELINE}, zero-shot, pooled", task="across tasks", higher_is_better=True, margin=gain))
    for part, where in zip(parts, ("within-task", "zero-shot transfer"), strict=True):
        if part is None:
            missing.append(_missing(f"{where} rows of a pre-trained LM (set its model_path: pre-trained weights cannot be had "
                                    "offline, and an LM trained from scratch is not the claim's)", encoding="lm"))
    return V.judge(STUDY, "lm", SENTENCES["lm"], rule, parts, missing)


def _comp_series(comps: list[dict], key_a: str, key_b: str, transform=np.asarray) -> tuple[pd.Series, pd.Series]:
    a, b = [], []
    for c in comps:
        idx = [(c["task"], c["method"], int(s)) for s in c["c"]["seeds"]]
        a.append(pd.Series(transform(c["c"][key_a]), index=idx))
        b.append(pd.Series(transform(c["c"][key_b]), index=idx))
    return (pd.concat(a), pd.concat(b)) if a else (pd.Series(dtype=float), pd.Series(dtype=float))


def _mine(comps: list[dict], strategy: str) -> list[dict]:
    return [c for c in comps if c["strategy"] == strategy]


def check_filter(ctx, comps: list[dict], spec: dict) -> V.Verdict:
    rule = ("Regularised evolution with the transferred surrogate as a filter against plain RE on the same targets, over "
            "every (target, filter variant): final regret lower, and fewer queries to the level both reach (log speed-up above "
            "0), each on the mean, paired by (target, variant, seed); both parts.")
    mine = _mine(comps, spec["strategy"])
    regret, regret_re = _comp_series(mine, "regret", "regret_re")
    q, q_re = _comp_series(mine, "q", "q_re", np.log)
    parts = [V.compare(regret, regret_re, label="final regret: filter vs RE", task="search", higher_is_better=False),
             V.compare(q_re, q, label="log queries to the common level: RE minus filter (speed-up)", task="search", higher_is_better=True)]
    missing = [] if all(parts) else [_missing(f"{spec['strategy']} and {RE} runs on a common target on two or more seeds",
                                              protocol="search")]
    v = V.judge(STUDY, "filter", SENTENCES["filter"], rule, parts, missing)
    v.tasks = sorted({c["task"] for c in mine})
    return v


def check_objective(ctx, comps: list[dict], spec: dict) -> V.Verdict:
    factor = float(spec["speedup_factor"])
    rule = (f"The transferred surrogate as the search objective against plain RE: at least {factor:g}x fewer queries to the "
            "level both reach ('huge'), on the mean log speed-up over every (target, variant), paired by (target, variant, seed).")
    mine = _mine(comps, spec["strategy"])
    q, q_re = _comp_series(mine, "q", "q_re", np.log)
    part = V.compare(q_re, q, label=f"log speed-up over RE, against log {factor:g}", task="search", higher_is_better=True,
                     margin=math.log(factor))
    missing = [] if part else [_missing(f"{spec['strategy']} and {RE} runs on a common target on two or more seeds",
                                        protocol="search")]
    v = V.judge(STUDY, "objective", SENTENCES["objective"], rule, [part], missing)
    v.tasks = sorted({c["task"] for c in mine})
    return v


def verdicts(rows: pd.DataFrame, ctx) -> list[V.Verdict]:
    """Every claim's verdict over paper-surrogates' own rows (also with none: insufficient_evidence)."""
    claims = (ctx.published("surrogates") or {})["claims"]
    within, cross = within_rows(rows), transfer_rows(rows)
    search_df, units = search_rows(rows, ctx)
    comps = search_comparisons(search_df, units) if len(search_df) else []
    return [
        check_within(ctx, within, claims["within_task"]),
        check_across(ctx, cross, claims["across_tasks"]),
        check_lm(ctx, within, cross, claims["lm"]),
        check_filter(ctx, comps, claims["filter"]),
        check_objective(ctx, comps, claims["objective"]),
    ]


def checks_html(ctx, results: pd.DataFrame) -> str:
    """The claims' panels over the section's rows, from the verdicts claims.json holds."""
    from nasbench_harness.studies import claim_panels

    return claim_panels(ctx, __name__, results, "<h3>The abstract's claims, checked</h3>" + ctx.note(
        "The abstract prints no numbers: each claim is tested by an operational rule fixed in advance "
        "(studies/surrogates/published.yaml and checks.py), on the mean over the blocks it covers, paired over seeds."))
