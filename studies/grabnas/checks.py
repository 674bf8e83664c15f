"""GraB-NAS's claims, each judged as a ``Verdict`` (report/verdicts.py) by paired tests over seeds on
the section's rows (same seed = same support set); rules fixed here, before any number."""

from __future__ import annotations

import pandas as pd
from nasbench_harness.report import verdicts as V

STUDY = "grabnas"
MATRIX = "paper-grabnas"
TARGETS = ("nb201/cifar10", "nb201/cifar100", "nb201/ImageNet16-120")  # the NB201 targets the matrix meta-tests on
MAIN_BUDGET = 100  # the matrix's largest budget: the final result
PRUNE_BUDGET = 50

# The paper's sentences, quoted from papers/grab-nas-meta-nas.txt (tests check they occur there).
SENTENCES = {
    "vs_tnas": "Besides, Figure 2 demonstrates that the proposed GraB-NAS shows overall stronger anytime and final performance "
               "on most datasets than TNAS, achieving better search effectiveness and a more favorable balance between search "
               "efficiency and effectiveness.",
    "vs_metad2a": "On average, GraB-NAS achieves a higher and more stable accuracy compared to MetaD2A, while MetaD2A also "
                  "exhibits occasional outliers.",
    "decoder_beats_knn": "When the decoder is introduced (GraB-NAS w/ decoder), we observe further performance gains and "
                         "GraB-NAS achieves SOTA results, which indicates that the decoder enables the proposed framework to "
                         "explore beyond the constrained search space.",
    "beyond_pruned_space": "As highlighted in Table 1, GraB-NAS consistently discover architectures that surpass the best "
                           "remaining candidates, despite the reduced quality of the search space.",
}


def _finals(df: pd.DataFrame, base: str, prune_top: int = 0, budget: int = MAIN_BUDGET) -> pd.Series:
    """Best accuracy found per (task, budget, seed) block (setting metad2a)."""
    if df.empty:
        return pd.Series(dtype=float)
    rows = df[(df["base"] == base) & (df["prune_top"] == prune_top) & (df["setting"] == "metad2a") & (df["budget"] == budget)]
    return rows.groupby(["task", "budget", "seed"])["best_eval"].mean()


def _on(series: pd.Series, task: str) -> pd.Series:
    return series[series.index.get_level_values("task") == task] if len(series) else series


def _pooled(df: pd.DataFrame, claim: str, rival: str, rule: str) -> V.Verdict:
    """GraB-NAS against ``rival`` on the mean over the targets, paired by (task, budget, seed); per target beside it."""
    ours, theirs = _finals(df, "GraB-NAS"), _finals(df, rival)
    missing = [V.Missing(f"{t} at budget {MAIN_BUDGET}: GraB-NAS and {rival} (setting metad2a) on two or more common seeds",
                         V.run_command(MATRIX, task=t, budget=MAIN_BUDGET))
               for t in TARGETS if V.compare(_on(ours, t), _on(theirs, t), label="", task=t, higher_is_better=True) is None]
    parts = [V.compare(ours, theirs, label=f"GraB-NAS vs {rival}, pooled over the targets (accuracy %)", task="nb201 targets",
                       budget=MAIN_BUDGET, higher_is_better=True)]
    parts += [V.compare(_on(ours, t), _on(theirs, t), label=f"{t}: GraB-NAS vs {rival}", task=t, budget=MAIN_BUDGET,
                        higher_is_better=True, deciding=False) for t in TARGETS]
    v = V.judge(STUDY, claim, SENTENCES[claim], rule, parts, missing)
    v.tasks = list(TARGETS)
    return v


def check_vs_tnas(ctx, df: pd.DataFrame) -> V.Verdict:
    rule = (f"Final accuracy at budget {MAIN_BUDGET} (setting metad2a): GraB-NAS above TNAS on the mean over the three NB201 "
            "targets ('on most datasets'), paired by (task, budget, seed); each target shown beside it.")
    return _pooled(df, "vs_tnas", "TNAS", rule)


def check_vs_metad2a(ctx, df: pd.DataFrame) -> V.Verdict:
    rule = (f"Final accuracy at budget {MAIN_BUDGET} (setting metad2a): GraB-NAS above MetaD2A on the mean over the three "
            "NB201 targets ('on average'), paired by (task, budget, seed); each target shown beside it.")
    return _pooled(df, "vs_metad2a", "MetaD2A", rule)


def check_decoder_beats_knn(ctx, df: pd.DataFrame) -> V.Verdict:
    rule = (f"Final accuracy at budget {MAIN_BUDGET} (setting metad2a), on cifar10 and cifar100 (the paper's Table 2): "
            "GraB-NAS with the decoder above GraB-NAS with KNN, paired over seeds; weakest of the two.")
    ours, knn = _finals(df, "GraB-NAS"), _finals(df, "GraB-NAS (KNN)")
    parts, missing = [], []
    for t in TARGETS[:2]:
        part = V.compare(_on(ours, t), _on(knn, t), label=f"{t}: decoder vs KNN", task=t, budget=MAIN_BUDGET, higher_is_better=True)
        parts.append(part)
        if part is None:
            missing.append(V.Missing(f"{t} at budget {MAIN_BUDGET}: GraB-NAS and GraB-NAS (KNN) on two or more common seeds",
                                     V.run_command(MATRIX, task=t, budget=MAIN_BUDGET)))
    return V.judge(STUDY, "decoder_beats_knn", SENTENCES["decoder_beats_knn"], rule, parts, missing)


def check_beyond_pruned_space(ctx, df: pd.DataFrame) -> V.Verdict:
    rule = (f"In each pruned space of the matrix (top 5 and top 10 removed, budget {PRUNE_BUDGET}, cifar10 and cifar100 as in "
            "the paper's Table 1): GraB-NAS's best found accuracy above the space's remaining best, over seeds; weakest of "
            "the parts.")
    parts, missing = [], []
    for t in TARGETS[:2]:
        for k in (5, 10):
            rows = df[(df["base"] == "GraB-NAS") & (df["prune_top"] == k) & (df["task"] == t) & (df["budget"] == PRUNE_BUDGET)] if len(df) else df
            found = rows.groupby("seed")["best_eval"].mean() if len(rows) else pd.Series(dtype=float)
            known = len(rows) and "remaining_best_eval" in rows.columns
            remaining = pd.Series(float(rows["remaining_best_eval"].iloc[0]), index=found.index) if known else found.iloc[0:0]
            part = V.compare(found, remaining, label=f"{t} top {k} pruned: found vs remaining best", task=t, budget=PRUNE_BUDGET,
                             higher_is_better=True)
            parts.append(part)
            if part is None:
                missing.append(V.Missing(f"{t}, top {k} pruned, budget {PRUNE_BUDGET}: GraB-NAS on two or more seeds",
                                         V.run_command(MATRIX, task=t, budget=PRUNE_BUDGET)))
    return V.judge(STUDY, "beyond_pruned_space", SENTENCES["beyond_pruned_space"], rule, parts, missing)


CHECKS = {
    "vs_tnas": check_vs_tnas,
    "vs_metad2a": check_vs_metad2a,
    "decoder_beats_knn": check_decoder_beats_knn,
    "beyond_pruned_space": check_beyond_pruned_space,
}


def verdicts(rows: pd.DataFrame, ctx) -> list[V.Verdict]:
    """Every claim's verdict over paper-grabnas' own rows (also with none: insufficient_evidence)."""
    from nasbench_harness.studies.grabnas.section import study_rows

    df = study_rows(rows)
    return [fn(ctx, df) for fn in CHECKS.values()]

