"""The loss paper's search findings (Sec. 4.3), each judged as a ``Verdict`` (report/verdicts.py) by
paired tests over seeds on the Search section's rows; rules fixed here, before any number."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from nasbench_harness.report import verdicts as V
from nasbench_harness.studies.losses import LossStudy
from nasbench_harness.studies.losses.search_section import Unit, _budget_rows, curve_matrix, family_rows, match_mask

STUDY = "losses"
MATRIX = "paper-search"

# The paper's sentences, quoted from papers/loss-functions-for-predictors.txt (tests check they occur there).
SENTENCES = {
    "pw_beats_single": "We see that PW loss achieves the lowest test error rate than any single one on three datasets.",
    "hr_beats_mape_early": "HR performs better than MAPE in the region of low query budget, which is consistent with our finding in Section 4.2.",
    "pwlnas_vs_npenas": "Besides, as shown in Table 2, PWL-NAS outperforms competitive predictor-based methods.",
}


# -- PWLNAS's warm-up, an open setting (issue 20) -------------------------------------------------
@functools.cache
def default_warmup() -> float:
    """The pwlnas strategy's default warm-up (a fraction of the search's iterations), the value that decides."""
    from nasbench_harness import registry

    return float(registry.load("strategies", "pwlnas").default_params["warmup"])


@functools.cache
def warmup_grid() -> tuple[float, ...]:
    """The other warm-ups the matrix's ``warmup`` block runs PWLNAS (PW) at."""
    return tuple(sorted({float(c.protocol_params["warmup"]) for c in LossStudy.block(MATRIX, "warmup")}))


def warmup_variant(warmup: float) -> str:
    """The label variant of the ``warmup`` block's rows: "PWLNAS-PW[warmup=0.25]"."""
    return f"[warmup={warmup:g}]"


def warmup_setting() -> V.Setting:
    return V.Setting("warmup", f"{default_warmup():g}", f"By PWLNAS's warm-up (warmup, the share of the search's iterations "
                     f"trained with the warm-up loss; the default {default_warmup():g} decides, the others are sensitivity "
                     "runs at 10 seeds)", "warm-up", "at warm-up")


def warmup_rule() -> str:
    return (f" Judged the same way with PWLNAS (PW) at each other warm-up ({', '.join(f'{w:g}' for w in warmup_grid())}) "
            f"against the same rows on the common seeds, each with its own Holm correction: the default {default_warmup():g} "
            "decides, and the verdict depends on warmup when the warm-ups' verdicts differ.")


# -- the reporting convention, an open setting (issue 20, item 6) --------------------------------
# Our rows report the test value of the architecture picked by validation (``final``, from best_eval);
# the paper most likely printed the best test value among the queried cells (``final_queried``).
CONVENTIONS = {"picked by validation": "final", "best queried": "final_queried"}


def convention_setting() -> V.Setting:
    return V.Setting("convention", "picked by validation", "By the reporting convention (the test value of the "
                     "architecture picked by validation, which decides; or the best test value among the queried cells, the "
                     "convention the paper most likely printed)", "convention", "under the convention")


def convention_rule() -> str:
    return (" Judged the same way on the best test value among the queried cells (best_eval_queried, the convention the "
            "paper most likely printed; at the default warm-up): the verdict depends on the convention when the two verdicts "
            "differ.")


def _with_convention(main: V.Verdict, judge_on) -> V.Verdict:
    """``main`` (judged on ``final``) with its sensitivity to the reporting convention: ``judge_on(col)`` judges
    the claim on the other convention's column, at the default warm-up."""
    return V.with_setting(main, convention_setting(), {name: judge_on(col) for name, col in CONVENTIONS.items() if col != "final"})


def _with_warmup(main: V.Verdict, judge_at) -> V.Verdict:
    """``main`` with its sensitivity to PWLNAS's warm-up: ``judge_at(w)`` judges the claim on the ``warmup`` block's rows."""
    return V.with_setting(main, warmup_setting(), {f"{w:g}": judge_at(w) for w in warmup_grid()})


def _pw_rows(rows: pd.DataFrame, warmup: float | None) -> pd.DataFrame:
    """PWLNAS (PW) rows of one task and budget: the paper's row (default warm-up), or the ``warmup`` block's."""
    if rows.empty:
        return rows
    if warmup is None:
        return rows[match_mask(rows, [{"role": "pwlnas:pw"}])]
    return rows[(rows["pw_loss"] == "pw") & (rows["variant"] == warmup_variant(warmup))]


def _warmup_command(task: str, warmup: float | None) -> str:
    return V.run_command(MATRIX, task=task, **({} if warmup is None else {"method": f"*warmup={warmup:g}*"}))


def _at_warmup(warmup: float | None) -> str:
    return "" if warmup is None else f" at warm-up {warmup:g}"


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
            "Weakest of the three datasets." + warmup_rule() + convention_rule())
    main = _with_warmup(_pw_beats_single(df, units, spec, budget, rule), lambda w: _pw_beats_single(df, units, spec, budget, rule, w))
    return _with_convention(main, lambda col: _pw_beats_single(df, units, spec, budget, rule, col=col))


def _convention_tag(col: str) -> str:
    return "" if col == "final" else "[best queried] "


def _pw_beats_single(df, units, spec: dict, budget, rule: str, warmup: float | None = None, col: str = "final") -> V.Verdict:
    parts, missing = [], []
    for task in spec.get("tasks", []):
        rows = _family(df, task, budget, spec)
        singles = rows[rows["family"] != "pw"]
        pw = rows[rows["family"] == "pw"] if warmup is None else _pw_rows(_final_rows(df, task, budget), warmup)
        part = None
        pw, singles = pw[pw[col].notna()] if len(pw) else pw, singles[singles[col].notna()] if len(singles) else singles
        if len(pw) and len(singles):
            unit = units[task]
            means = singles.groupby("family")[col].mean()
            best = str(means.idxmin() if unit.lower_is_better else means.idxmax())
            tag = _convention_tag(col) + ("" if warmup is None else f"[warmup={warmup:g}] ")
            part = V.compare(_seeds(pw, col), _seeds(singles[singles["family"] == best], col),
                             label=f"{tag}{task} ({unit.label}): PW vs best single loss ({best}, of {len(means)})", task=task,
                             budget=budget, higher_is_better=not unit.lower_is_better)
        parts.append(part)
        if part is None:
            missing.append(V.Missing(f"{task} at {budget}: PWLNAS with PW{_at_warmup(warmup)} and with single losses on two or "
                                     f"more common seeds{_on_convention(col)}", _warmup_command(task, warmup)))
    return V.judge(STUDY, "pw_beats_single", SENTENCES["pw_beats_single"], rule, parts, missing)


def _early(g: pd.DataFrame, unit: Unit, lo: int, hi: int) -> pd.Series:
    mat = curve_matrix(g, unit)
    if mat.shape[1] < hi:
        return pd.Series(np.nan, index=g.index)
    return pd.Series(mat[:, lo - 1 : hi].mean(axis=1), index=g.index)


def check_hr_beats_mape_early(ctx, df, units, spec: dict, window: list[int], others: list[list[int]] = ()) -> V.Verdict:
    lo, hi = int(window[0]), int(window[1])
    rule = (f"Each run's anytime curve averaged over queries {lo}-{hi}; PWLNAS with HR against PWLNAS with MAPE, paired over "
            "(task, budget, seed) blocks pooled over the three Figure-7 datasets (the mean ordering over runs); per-dataset "
            "comparisons are shown beside it and do not change the verdict."
            + (" The paper gives no number for 'low query budget': the same pooled comparison over queries "
               f"{', '.join(f'{a}-{b}' for a, b in others)} is shown beside it and does not change the verdict." if others else ""))
    hr, mape, parts, missing = [], [], [], []
    readings = {(int(a), int(b)): ([], []) for a, b in others}
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
        for (a_lo, a_hi), (h, m) in readings.items():
            early = sign * _early(rows, unit, a_lo, a_hi)
            for out, fam in ((h, "hr"), (m, "mape")):
                s = early[rows["family"] == fam].groupby(rows["seed"]).mean()
                out.append(s.set_axis([(task, budget, x) for x in s.index]))
    pooled = V.compare(pd.concat(hr), pd.concat(mape), label=f"pooled over {len(hr)} datasets: HR vs MAPE, queries {lo}-{hi}",
                       task="nb201 (Figure 7)", higher_is_better=True) if hr else None
    if hr and pooled is None:
        missing.append(V.Missing("two or more common seeds of HR and MAPE", V.run_command(MATRIX, task="nb201/*")))
    for (a_lo, a_hi), (h, m) in readings.items():
        if h:
            parts.append(V.compare(pd.concat(h), pd.concat(m), label=f"pooled over {len(h)} datasets: HR vs MAPE, queries {a_lo}-{a_hi}",
                                   task="nb201 (Figure 7)", higher_is_better=True, deciding=False))
    verdict = V.judge(STUDY, "hr_beats_mape_early", SENTENCES["hr_beats_mape_early"], rule, [pooled, *parts], missing)
    verdict.tasks = list(spec.get("tasks", []))
    return verdict


def rival_rows(rows: pd.DataFrame, match: list[dict], warmup: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(PWLNAS with PW, a rival's) rows of one task and budget; the rival as its table row matches it
    (published-search.yaml: NPENAS is the npenas strategy with its own paper's predictor, gin, never
    PWLNAS, MSE). PWLNAS at the default warm-up, or at ``warmup`` (the ``warmup`` block's rows)."""
    return _pw_rows(rows, warmup), rows[match_mask(rows, match)]


def rivals(table: dict) -> list[tuple[str, list[dict]]]:
    """(printed name, match) of the table's rows other than PWLNAS's and the global best that our
    rows can stand for (a row with an empty match, e.g. WeakNAS, has no cell of ours)."""
    return [(f"{r['paper']} ({r['loss']})", r["match"]) for r in table.get("rows", [])
            if r.get("match") and not r.get("global_best") and not str(r["paper"]).upper().startswith("PWLNAS")]


def check_pwlnas_vs_npenas(ctx, df, units, tables: list[dict]) -> V.Verdict:
    """The claim id is kept from when the rule compared with NPENAS alone; the sentence is about
    Table 2's "competitive predictor-based methods", so every Table-2 rival decides."""
    rule = ("Table 2 (NB201 cifar10, cifar100, ImageNet16-120 at budget 100): PWLNAS with PW against each rival the table "
            "prints (NASBOT = our GP-BO, ReNAS = our ReNAS-LR, NPENAS = npenas with its gin), paired over seeds on each "
            "dataset; PWLNAS must be better (lower test error). Weakest of the 9 comparisons. The same comparison with "
            "the rivals of Tables 3 (NB101) and 5 (DARTS) is shown beyond the paper's sentence and does not change the "
            "verdict." + warmup_rule() + convention_rule())
    main = _with_warmup(_pwlnas_vs_npenas(df, units, tables, rule), lambda w: _pwlnas_vs_npenas(df, units, tables, rule, w))
    return _with_convention(main, lambda col: _pwlnas_vs_npenas(df, units, tables, rule, col=col))


def _on_convention(col: str) -> str:
    return "" if col == "final" else " (best queried)"


def _pwlnas_vs_npenas(df, units, tables: list[dict], rule: str, warmup: float | None = None, col: str = "final") -> V.Verdict:
    parts, missing, beyond_missing = [], [], []
    tag = _convention_tag(col) + ("" if warmup is None else f"[warmup={warmup:g}] ")
    for table in tables:
        deciding = table.get("id") == "table2"
        if not deciding and col != "final":  # the other convention only on the sentence's own table
            continue
        for task in table.get("columns", []):
            rows = _final_rows(df, task, table.get("budget"))
            for name, match in rivals(table):
                pw, rival = rival_rows(rows, match, warmup) if not rows.empty else (rows, rows)
                part = None
                if len(pw) and len(rival):
                    unit = units[task]
                    budget = float(pw["budget"].iloc[0])
                    part = V.compare(_seeds(pw, col), _seeds(rival, col),
                                     label=f"{tag}{task} @{budget:g} ({unit.label}): PWLNAS (PW) vs {name}", task=task,
                                     budget=budget, higher_is_better=not unit.lower_is_better, deciding=deciding)
                parts.append(part)
                if part is None and deciding:
                    missing.append(V.Missing(f"{task}: PWLNAS (PW){_at_warmup(warmup)} and {name} on two or more common "
                                             f"seeds{_on_convention(col)}",
                                             _warmup_command(task, warmup)))
                elif part is None:
                    beyond_missing.append(f"{task} vs {name}")
    note = (f"Beyond the paper's sentence, without rows of both on two or more common seeds: {'; '.join(beyond_missing)}."
            if beyond_missing else "")
    return V.judge(STUDY, "pwlnas_vs_npenas", SENTENCES["pwlnas_vs_npenas"], rule, parts, missing, note=note)


def search_verdicts(ctx, df: pd.DataFrame, units: dict[str, Unit], pub: dict) -> list[V.Verdict]:
    tables = pub.get("tables", [])
    t2 = next((t for t in tables if t["id"] == "table2"), {})
    finding = next((f for f in pub.get("findings", []) if f["id"] == "hr_beats_mape_early"), {})
    window = finding.get("low_budget") or [20, 30]
    fig7 = pub.get("figure7", {})
    return [
        check_pw_beats_single(ctx, df, units, fig7, t2.get("budget")),
        check_hr_beats_mape_early(ctx, df, units, fig7, window, finding.get("other_windows") or []),
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
