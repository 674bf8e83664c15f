"""The loss paper's search findings (Sec. 4.3), each judged as a ``Verdict`` (report/verdicts.py) by
paired tests over seeds on the Search section's rows; rules fixed here, before any number."""

from __future__ import annotations

import numpy as np
import pandas as pd
from nasbench_harness.report import verdicts as V
from nasbench_harness.studies.losses.search_section import Unit, _budget_rows, curve_matrix, family_rows, match_mask

STUDY = "losses"
MATRIX = "paper-search"

# The paper's sentences, quoted from papers/loss-functions-for-predictors.txt (tests check they occur there).
SENTENCES = {
    "pw_beats_single": "We see that PW loss achieves the lowest test error rate than any single one on three datasets.",
    "hr_beats_mape_early": "HR performs better than MAPE in the region of low query budget, which is consistent with our finding in Section 4.2.",
    "pwlnas_vs_npenas": "Besides, as shown in Table 2, PWL-NAS outperforms competitive predictor-based methods.",
}




def _final_rows(df: pd.DataFrame, task: str, budget=None) -> pd.DataFrame:
    return _budget_rows(df, task, budget)[0] if not df.empty else df


def _family(df: pd.DataFrame, task: str, budget, spec: dict) -> pd.DataFrame:
    """The PWLNAS-family rows of ``task`` at ``budget`` (its largest budget when absent), with ``family``."""
    if df.empty:
        return pd.DataFrame({"family": pd.Series(dtype=str)})
    return family_rows(_final_rows(df, task, budget), spec)


def _seeds(rows: pd.DataFrame, col: str) -> pd.Series:
    return rows.groupby("seed")[col].mean()


def check_pw_beats_single(ctx, df, units, spec: dict, budget) -> V.Verdict:
    rule = ("On each Figure-7 dataset (NB201 cifar10, cifar100, ImageNet16-120) at Table 2's budget: PWLNAS with PW against "
            "the single-loss PWLNAS with the best mean final result, paired over seeds (the mean ordering: PW lowest error). "
            "Weakest of the three datasets.")
    parts, missing = [], []
    for task in spec.get("tasks", []):
        rows = _family(df, task, budget, spec)
        singles = sorted(set(rows["family"]) - {"pw"}) if not rows.empty else []
        part = None
        if "pw" in set(rows["family"]) and singles:
            unit = units[task]
            means = rows[rows["family"] != "pw"].groupby("family")["final"].mean()
            best = str(means.idxmin() if unit.lower_is_better else means.idxmax())
            part = V.compare(_seeds(rows[rows["family"] == "pw"], "final"), _seeds(rows[rows["family"] == best], "final"),
                             label=f"{task} ({unit.label}): PW vs best single loss ({best}, of {len(singles)})", task=task,
                             budget=budget, higher_is_better=not unit.lower_is_better)
        parts.append(part)
        if part is None:
            missing.append(V.Missing(f"{task} at {budget}: PWLNAS with PW and with single losses on two or more common seeds",
                                     V.run_command(MATRIX, task=task)))
    return V.judge(STUDY, "pw_beats_single", SENTENCES["pw_beats_single"], rule, parts, missing)


def _early(g: pd.DataFrame, unit: Unit, lo: int, hi: int) -> pd.Series:
    mat = curve_matrix(g, unit)
    if mat.shape[1] < hi:
        return pd.Series(np.nan, index=g.index)
    return pd.Series(mat[:, lo - 1 : hi].mean(axis=1), index=g.index)


def check_hr_beats_mape_early(ctx, df, units, spec: dict, window: list[int]) -> V.Verdict:
    lo, hi = int(window[0]), int(window[1])
    rule = (f"Each run's anytime curve averaged over queries {lo}-{hi}; PWLNAS with HR against PWLNAS with MAPE, paired over "
            "(task, budget, seed) blocks pooled over the three Figure-7 datasets (the mean ordering over runs); per-dataset "
            "comparisons are shown beside it and do not change the verdict.")
    hr, mape, parts, missing = [], [], [], []
    for task in spec.get("tasks", []):
        rows = _family(df, task, None, spec)
        rows = rows[rows["family"].isin(["hr", "mape"])]
        if rows.empty or set(rows["family"]) != {"hr", "mape"}:
            missing.append(V.Missing(f"{task}: PWLNAS with HR and with MAPE (anytime curves of at least {hi} queries)",
                                     V.run_command(MATRIX, task=task)))
            continue
        unit = units[task]
        sign = -1.0 if unit.lower_is_better else 1.0  # pooled in "higher is better" form, so tasks of both kinds add up
        rows = rows.assign(early=sign * _early(rows, unit, lo, hi))
        a, b = _seeds(rows[rows["family"] == "hr"], "early"), _seeds(rows[rows["family"] == "mape"], "early")
        budget = float(rows["budget"].iloc[0])
        hr.append(a.set_axis([(task, budget, s) for s in a.index]))
        mape.append(b.set_axis([(task, budget, s) for s in b.index]))
        parts.append(V.compare(a, b, label=f"{task}: HR vs MAPE, queries {lo}-{hi} ({unit.label}, sign-aligned)", task=task,
                               budget=budget, higher_is_better=True, deciding=False))
    pooled = V.compare(pd.concat(hr), pd.concat(mape), label=f"pooled over {len(hr)} datasets: HR vs MAPE, queries {lo}-{hi}",
                       task="nb201 (Figure 7)", higher_is_better=True) if hr else None
    if hr and pooled is None:
        missing.append(V.Missing("two or more common seeds of HR and MAPE", V.run_command(MATRIX, task="nb201/*")))
    verdict = V.judge(STUDY, "hr_beats_mape_early", SENTENCES["hr_beats_mape_early"], rule, [pooled, *parts], missing)
    verdict.tasks = list(spec.get("tasks", []))
    return verdict


def npenas_rows(rows: pd.DataFrame, npenas: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(PWLNAS with PW, NPENAS) rows of one task and budget; NPENAS as the table's NPENAS row matches it
    (published-search.yaml: the npenas strategy with its own paper's predictor, gin), never PWLNAS, MSE."""
    return rows[rows["pw_loss"] == "pw"], rows[match_mask(rows, npenas)]


def check_pwlnas_vs_npenas(ctx, df, units, tables: list[dict]) -> V.Verdict:
    rule = ("On each task of the paper's tables that print NPENAS (Tables 2, 3, 5) at the table's budget: PWLNAS with PW "
            "against NPENAS, paired over seeds; PWLNAS must be better (lower error or regret). Weakest of the tasks.")
    parts, missing = [], []
    for table in tables:
        npenas = next((r.get("match", []) for r in table.get("rows", []) if str(r.get("paper", "")).upper() == "NPENAS"), None)
        if npenas is None:
            continue
        for task in table.get("columns", []):
            pw, npe = npenas_rows(_final_rows(df, task, table.get("budget")), npenas) if not df.empty else (df, df)
            part = None
            if len(pw) and len(npe):
                unit = units[task]
                budget = float(pw["budget"].iloc[0])
                part = V.compare(_seeds(pw, "final"), _seeds(npe, "final"), label=f"{task} @{budget:g} ({unit.label}): PWLNAS vs NPENAS",
                                 task=task, budget=budget, higher_is_better=not unit.lower_is_better)
            parts.append(part)
            if part is None:
                missing.append(V.Missing(f"{task}: PWLNAS (PW) and NPENAS on two or more common seeds", V.run_command(MATRIX, task=task)))
    return V.judge(STUDY, "pwlnas_vs_npenas", SENTENCES["pwlnas_vs_npenas"], rule, parts, missing)


def search_verdicts(ctx, df: pd.DataFrame, units: dict[str, Unit], pub: dict) -> list[V.Verdict]:
    tables = pub.get("tables", [])
    t2 = next((t for t in tables if t["id"] == "table2"), {})
    window = next((f.get("low_budget") for f in pub.get("findings", []) if f["id"] == "hr_beats_mape_early"), None) or [20, 30]
    fig7 = pub.get("figure7", {})
    return [
        check_pw_beats_single(ctx, df, units, fig7, t2.get("budget")),
        check_hr_beats_mape_early(ctx, df, units, fig7, window),
        check_pwlnas_vs_npenas(ctx, df, units, tables),
    ]


def verdicts(rows: pd.DataFrame, ctx) -> list[V.Verdict]:
    """Every search claim's verdict over paper-search's own rows (also with none: insufficient_evidence)."""
    from nasbench_harness.studies.losses.search_section import prepare

    pub = ctx.published("search") or {}
    df, units = prepare(rows, ctx, pub.get("tables", []))
    return search_verdicts(ctx, df, units, pub)


def findings_html(ctx, results: pd.DataFrame) -> str:
    """The search claims' panels over the section's rows, from the verdicts claims.json holds."""
    from nasbench_harness.studies import claim_panels
    from nasbench_harness.studies.losses.search_section import study_rows

    rows = study_rows(results)
    if rows.empty or not rows["strategy"].isin(["pwlnas", "npenas"]).any():  # other studies' searches only
        return ""
    return claim_panels(ctx, __name__, results, "<h3>The paper's search findings, checked</h3>")
