"""The loss paper's search findings (``published-search.yaml`` "findings"), checked with paired tests
over seeds on the Search section's rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
from nasbench_harness.report import stats
from nasbench_harness.studies.losses.search_section import Unit, _budget_rows, by_seed, curve_matrix, family_rows


def _final_rows(df: pd.DataFrame, task: str, budget=None) -> pd.DataFrame:
    return _budget_rows(df, task, budget)[0]


def check_pw_beats_single(ctx, df, units, spec: dict, budget) -> tuple[bool | None, str]:
    """PW vs each single loss of the PWLNAS family, final result, on every Figure 7 task."""
    lines, verdicts, missing = [], [], []
    for task in spec.get("tasks", []):
        rows = family_rows(_final_rows(df, task, budget), spec)
        singles = sorted(set(rows["family"]) - {"pw"})
        if rows.empty or "pw" not in set(rows["family"]) or not singles:
            missing.append(task)
            continue
        wide = by_seed(rows.assign(method=rows["family"]), "final")
        unit = units[task]
        for loss in singles:
            p = stats.paired(wide["pw"], wide[loss])
            if p.n < 2:
                missing.append(f"{task} ({loss}: {p.n} common seed)")
                continue
            better = p.a_better(unit.lower_is_better)
            verdicts.append(better is True)
            word = p.verdict("PW", loss, unit.lower_is_better)
            lines.append(f"{task}: PW {p.mean_a:.2f} vs {loss} {p.mean_b:.2f} {unit.label} ({p.describe()}) → {word}")
    if missing:
        return None, f"Not applicable: needs PWLNAS with PW and with single losses on two or more common seeds on {', '.join(missing)}." + (
            " Seen: " + "; ".join(lines) if lines else "")
    wins = sum(verdicts)
    return wins == len(verdicts), f"PW resolved better in {wins} of {len(verdicts)} paired comparisons. " + "; ".join(lines)


def _early(g: pd.DataFrame, unit: Unit, lo: int, hi: int) -> pd.Series:
    mat = curve_matrix(g, unit)
    if mat.shape[1] < hi:
        return pd.Series(np.nan, index=g.index)
    return pd.Series(mat[:, lo - 1 : hi].mean(axis=1), index=g.index)


def check_hr_beats_mape_early(ctx, df, units, spec: dict, window: list[int]) -> tuple[bool | None, str]:
    lo, hi = int(window[0]), int(window[1])
    tasks = spec.get("tasks", [])
    lines, verdicts = [], []
    for task in tasks:
        rows = family_rows(_final_rows(df, task), spec)
        rows = rows[rows["family"].isin(["hr", "mape"])]
        if set(rows["family"]) != {"hr", "mape"}:
            continue
        unit = units[task]
        rows = rows.assign(early=_early(rows, unit, lo, hi), method=rows["family"])
        wide = by_seed(rows, "early")
        p = stats.paired(wide["hr"], wide["mape"])
        if p.n < 2:
            continue
        better = p.a_better(unit.lower_is_better)
        verdicts.append(better is True)
        word = p.verdict("HR", "MAPE", unit.lower_is_better)
        lines.append(f"{task}: HR {p.mean_a:.2f} vs MAPE {p.mean_b:.2f} {unit.label} ({p.describe()}) → {word}")
    if not verdicts:
        return None, (f"Not applicable: needs PWLNAS with HR and with MAPE (anytime curves of at least {hi} queries, two or more common seeds) "
                      f"on an NB201 dataset ({', '.join(tasks)}).")
    head = f"Anytime curve averaged over queries {lo}-{hi} per run, paired over seeds; HR resolved better on {sum(verdicts)} of {len(verdicts)} datasets. "
    return all(verdicts), head + "; ".join(lines)


def check_pwlnas_vs_npenas(ctx, df, units) -> tuple[bool | None, str]:
    """Non-inferiority: fails only where PWLNAS (PW) is resolved worse than NPENAS (MSE)."""
    lines, verdicts = [], []
    for (task, budget), rows in df.groupby(["task", "budget"], sort=True):
        pw = rows[rows["pw_loss"] == "pw"]
        npe = rows[(rows["strategy"] == "npenas") & (rows["loss"] == "mse") & (rows["pw_loss"] == "")]
        if pw.empty or npe.empty:
            continue
        wide = by_seed(pd.concat([pw.assign(method="PWLNAS"), npe.assign(method="NPENAS")]), "final")
        p = stats.paired(wide["PWLNAS"], wide["NPENAS"])
        if p.n < 2:
            continue
        verdicts.append(p.a_better(units[task].lower_is_better))
        word = p.verdict("PWLNAS", "NPENAS", units[task].lower_is_better)
        lines.append(f"{task} @{ctx.format_budget(budget)}: PWLNAS {p.mean_a:.2f} vs NPENAS {p.mean_b:.2f} "
                     f"{units[task].label} ({p.describe()}) → {word}")
    if not verdicts:
        return None, "Not applicable: no task has both PWLNAS (PW) and NPENAS (MSE) runs on two or more common seeds."
    counts = {word: sum(v is want for v in verdicts) for word, want in (("better", True), ("not resolved", None), ("worse", False))}
    summary = (f"PWLNAS resolved better on {counts['better']}, not resolved on {counts['not resolved']}, resolved worse on "
               f"{counts['worse']} of {len(verdicts)} tasks; 'at least as good' fails only on a resolved loss (ties allowed). ")
    return counts["worse"] == 0, summary + "; ".join(lines)


def findings_html(ctx, df: pd.DataFrame, units: dict[str, Unit], pub: dict) -> str:
    if not df["strategy"].isin(["pwlnas", "npenas"]).any():  # other studies' searches (GraB-NAS, surrogates) only
        return ""
    fig7 = pub.get("figure7", {})
    t2 = next((t for t in pub.get("tables", []) if t["id"] == "table2"), {})
    html = ["<h3>The paper's search findings, checked</h3>"]
    for f in pub.get("findings", []):
        if f["id"] == "pw_beats_single":
            passed, ev = check_pw_beats_single(ctx, df, units, fig7, t2.get("budget"))
        elif f["id"] == "hr_beats_mape_early":
            passed, ev = check_hr_beats_mape_early(ctx, df, units, fig7, f.get("low_budget", [20, 30]))
        elif f["id"] == "pwlnas_vs_npenas":
            passed, ev = check_pwlnas_vs_npenas(ctx, df, units)
        else:
            continue
        html.append(ctx.check(f["text"], passed, ev))
    return "".join(html)


