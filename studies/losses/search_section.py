"""Report section "Search": the loss paper's search experiments (Tables 2-5, Figure 7) from ``search`` rows.

Reads the rows of the ``search`` protocol (contract: docs/SEARCH.md; one row per
run with its anytime curve) and shows, in the paper's units (test error = 100 - accuracy where
the paper prints errors):

- anytime curves per task: mean and a 95% t confidence band over seeds, log query axis, the
  task's global best as a horizontal line; Figure 7's view (PWLNAS with each single loss
  against PW on NAS-Bench-201);
- one table per paper table (``published/search.yaml``): Table 2 number for number, Tables 3
  and 4 as regret to each side's own global best and as the order of methods, Table 5 for
  reference only; runs judged on a validation metric are labelled from the rows'
  ``eval_is_test`` flag;
- queries until the global best was first queried (censored at the budget; Kaplan-Meier median);
- paired comparisons over seeds (same seed = same initial sample): mean difference with a 95%
  paired-t interval and the Wilcoxon p-value (``harness/report/stats.py``); an interval that
  covers zero is "not resolved", never a win;
- automatic checks of the paper's search findings, each with the paired tests behind it
  (``search_checks.py``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from nasbench_harness.report import stats

FOCUS_QUERY = 10  # curves' y range starts at the worst mean after this many queries (the usual initial sample)
# Counts keep the table's integer format; every other number shows two decimals.
_COUNTS = ("seeds", "runs", "found", "paper rank", "our rank", "budget")
FMT = {c: ".0f" for c in _COUNTS} | {
    c: ".2f" for c in ("ours (mean)", "best queried (mean)", "paper", "ours − paper", "paper regret", "our regret (mean)", "paper std", "mean",
                       "regret (mean)", "found share", "mean queries, runs that found it", "A (mean)", "B (mean)", "A − B")
} | {"params (M)": ".1f", "cost (GPU days)": ".3g"}
_PWLNAS_LABEL = re.compile(r"^PWLNAS(?:[-_ ]?\(?([A-Za-z_]+)\)?)?$", re.IGNORECASE)


# -- rows -------------------------------------------------------------------------------------
def study_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The ok ``search`` rows that carry a final result, with a ``pw_loss`` column (see ``_pwlnas_loss``)."""
    need = {"protocol", "task", "method", "best_eval"}
    if results.empty or not need <= set(results.columns):
        return results.iloc[0:0]
    ok = (results["status"] == "ok") if "status" in results.columns else True
    df = results[(results["protocol"] == "search") & ok & pd.to_numeric(results["best_eval"], errors="coerce").notna()]
    if df.empty:
        return df
    df = df.copy()
    for col, default in (("strategy", ""), ("loss", ""), ("seed", np.nan), ("eval_is_test", True)):
        if col not in df.columns:
            df[col] = default
    df["strategy"] = df["strategy"].fillna("").astype(str)
    if "protocol_params" in df.columns:  # rows without the column: the strategy is also a protocol param
        df["strategy"] = df["strategy"].mask(df["strategy"] == "", df["protocol_params"].map(_strategy_param))
    df["loss"] = df["loss"].fillna("").astype(str)
    df["pw_loss"] = _pwlnas_loss(df)
    df["best_eval_queried"] = _best_queried(df)
    # A variant is an open setting's sensitivity run ("PWLNAS-PW[warmup=0.25]"): never one of the paper's rows.
    df["variant"] = df["method"].astype(str).str.extract(r"(\[.*\])", expand=False).fillna("")
    return df


def _best_queried(df: pd.DataFrame) -> pd.Series:
    """``best_eval_queried``; GraB-NAS rows written before it existed call it ``best_eval_found_any``."""
    out = pd.to_numeric(df.get("best_eval_queried", pd.Series(np.nan, index=df.index)), errors="coerce")
    if "best_eval_found_any" in df.columns:
        out = out.fillna(pd.to_numeric(df["best_eval_found_any"], errors="coerce"))
    return out


def _pwlnas_loss(df: pd.DataFrame) -> pd.Series:
    """The loss of PWLNAS-family rows ("pw" for PWLNAS proper), "" for every other row.

    By columns first (strategy "pwlnas", loss column; "" counts as pw), then by a label
    "PWLNAS" / "PWLNAS-<LOSS>" whatever the strategy column says.
    """
    by_col = df["loss"].str.lower().replace("", "pw").where(df["strategy"] == "pwlnas", "")
    label = df["method"].astype(str).str.extract(_PWLNAS_LABEL, expand=False)
    has_label = df["method"].astype(str).str.match(_PWLNAS_LABEL)
    by_label = label.fillna("pw").str.lower().where(has_label, "")
    return by_col.where(by_col != "", by_label)


def _strategy_param(params) -> str:
    try:
        return str(json.loads(params or "{}").get("strategy", ""))
    except (TypeError, ValueError, AttributeError):
        return ""


def _curve(value) -> np.ndarray:
    """A stored list column (list, ndarray, None or NaN) as a float array."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return np.empty(0)
    return np.asarray(value, dtype=float).ravel()


# -- units ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Unit:
    """How a task's eval metric is shown: ``error`` (100 - value) or ``value`` times ``scale``."""

    kind: str
    scale: float
    lower_is_better: bool
    label: str
    judged_on: str  # "test" or "validation", from the rows' eval_is_test

    def __call__(self, x):
        x = np.asarray(x, dtype=float)
        return 100.0 - x if self.kind == "error" else x * self.scale


def _judged_on(rows: pd.DataFrame) -> str:
    flags = rows["eval_is_test"].map(lambda v: bool(v) if v is not None and v == v else True)
    return "test" if flags.all() else "validation"


def unit_for(ctx, task: str, rows: pd.DataFrame, table: dict | None) -> Unit:
    """The paper's unit for ``task``: the table's ``shown_as``, else error for % accuracies, else the value."""
    spec = ctx.task(task)
    flags = rows["higher_is_better"].dropna() if "higher_is_better" in rows.columns else rows.iloc[0:0, 0]
    hib = bool(flags.iloc[0]) if len(flags) else bool(getattr(spec, "higher_is_better", True))
    judged = _judged_on(rows)
    task_unit = str(getattr(spec, "unit", "") or "")
    kind = table.get("shown_as") if table else ("error" if task_unit == "%" else "value")
    scale = float((table or {}).get("scale", {}).get(task, 1.0))
    if kind == "error" and hib:
        return Unit("error", 1.0, True, f"{judged} error (%)", judged)
    what = f"{task_unit} x {scale:g}" if scale != 1 else task_unit
    return Unit("value", scale, not hib, f"{judged} metric ({what})" if what else f"{judged} metric", judged)


def _with_shown(ctx, df: pd.DataFrame, tables: list[dict]) -> tuple[pd.DataFrame, dict[str, Unit]]:
    """Add ``final``, ``glob`` (global best), ``regret_shown`` in each task's shown unit; returns the units too."""
    units, parts = {}, []
    for task, g in df.groupby("task", sort=True):
        unit = units[task] = unit_for(ctx, task, g, _table_of(tables, task))
        g = g.assign(
            final=unit(g["best_eval"]),
            final_queried=unit(g["best_eval_queried"]),
            glob=unit(pd.to_numeric(g.get("global_best_eval", np.nan), errors="coerce")),
        )
        g["regret_shown"] = (g["glob"] - g["final"]).abs()
        parts.append(g)
    return pd.concat(parts, ignore_index=True), units


def _table_of(tables: list[dict], task: str) -> dict | None:
    return next((t for t in tables if task in t.get("columns", [])), None)


# -- matching paper rows to ours --------------------------------------------------------------
def match_mask(df: pd.DataFrame, alternatives: list[dict]) -> pd.Series:
    """Rows selected by the first alternative that selects any (see published/search.yaml "match")."""
    none = pd.Series(False, index=df.index)
    plain = df["variant"] == "" if "variant" in df.columns else pd.Series(True, index=df.index)
    for alt in alternatives or []:
        # Only a "role" alternative selects PWLNAS-family rows: NPENAS-MSE never picks up a PWLNAS-MSE run.
        mask = plain.copy() if "role" in alt else plain & (df["pw_loss"] == "")
        for key, want in alt.items():
            if key == "role":
                mask &= df["pw_loss"] == str(want).split(":", 1)[1]
            elif key == "method":
                mask &= df["method"].astype(str).str.contains(str(want), regex=True)
            elif key in df.columns:
                wanted = [str(w) for w in (want if isinstance(want, list) else [want])]
                mask &= df[key].astype(str).isin(wanted)
            else:
                mask &= False
        if mask.any():
            return mask
    return none


def family_rows(rows: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """PWLNAS with PW and with each single loss (``figure7`` of published/search.yaml), with a ``family``
    column naming the loss ("pw" for PW); matched within ``rows`` (one task and budget)."""
    parts = []
    for name, alternatives in [("pw", spec.get("pw", [])), *spec.get("singles", {}).items()]:
        mask = match_mask(rows, alternatives)
        if mask.any():
            parts.append(rows[mask].assign(family=name))
    return pd.concat(parts, ignore_index=True) if parts else rows.iloc[0:0].assign(family="")


def _paper_name(row: dict) -> str:
    return row["paper"] if row.get("loss") in (None, "-", "") else f"{row['paper']} ({row['loss']})"


# -- per-method summaries ---------------------------------------------------------------------
def _summary(g: pd.DataFrame, col: str) -> dict:
    m, lo, hi, n = stats.mean_ci(g[col])
    return {"n": n, "mean": m, "ci_low": lo, "ci_high": hi}


def _ci_text(lo: float, hi: float) -> str:
    return f"[{lo:.2f}, {hi:.2f}]" if math.isfinite(lo) else "—"


def _budget_rows(df: pd.DataFrame, task: str, budget) -> tuple[pd.DataFrame, float | None]:
    """The task's rows at ``budget``, else at its largest budget (returned so the caption can say so)."""
    rows = df[df["task"] == task]
    if rows.empty:
        return rows, None
    if budget is not None and np.isclose(rows["budget"].astype(float), float(budget)).any():
        b = float(budget)
    else:
        b = float(rows["budget"].max())
    return rows[np.isclose(rows["budget"].astype(float), b)], b


# -- curves -----------------------------------------------------------------------------------
def curve_matrix(g: pd.DataFrame, unit: Unit, length: int | None = None) -> np.ndarray:
    """(runs, queries) anytime curves in the shown unit; a run that stopped early keeps its last value."""
    curves = [unit(_curve(v)) for v in g["curve_eval"]] if "curve_eval" in g.columns else []
    curves = [c for c in curves if c.size]
    if not curves:
        return np.empty((0, 0))
    width = length or max(c.size for c in curves)
    out = np.full((len(curves), width), np.nan)
    for i, c in enumerate(curves):
        c = c[:width]
        out[i, : c.size] = c
        out[i, c.size :] = c[-1]
    return out


def curve_figure(ctx, rows: pd.DataFrame, unit: Unit, title: str):
    """Mean and 95% band per method against the query index (log axis), global best dashed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.4, 3.8))
    # Fixed margins (legend on the right) instead of bbox "tight": one draw per figure, not two.
    fig.subplots_adjust(left=0.09, right=0.7, top=0.92, bottom=0.13)
    ax = fig.subplots()
    drawn, ends = 0, []
    for method, g in rows.groupby("method", sort=True):
        mat = curve_matrix(g, unit)
        if not mat.size:
            continue
        m, lo, hi = stats.mean_ci_columns(mat)
        x = np.arange(1, mat.shape[1] + 1)
        colour = ctx.color(method)
        ax.plot(x, m, color=colour, linewidth=1.5, label=f"{method} (n={mat.shape[0]})")
        ax.fill_between(x, lo, hi, color=colour, alpha=0.15, linewidth=0)
        ends.append(m[min(FOCUS_QUERY, m.size) - 1])
        drawn += 1
    if not drawn:
        return None
    glob = rows["glob"].dropna()
    if len(glob):
        ax.axhline(float(glob.iloc[0]), color="#111827", linestyle="--", linewidth=1, label="global best")
        _focus(ax, float(glob.iloc[0]), ends, unit.lower_is_better)
    ax.set_xscale("log")
    ax.set_xlabel("queries (log scale)")
    ax.set_ylabel(f"{unit.label} {'↓' if unit.lower_is_better else '↑'}")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def _focus(ax, best: float, at_focus: list[float], lower_is_better: bool) -> None:
    """Y range from the global best to the worst mean at query FOCUS_QUERY: the first random queries
    (tens of points of error) would otherwise flatten the part where methods differ."""
    finite = np.asarray(at_focus, dtype=float)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return
    far = finite.max() if lower_is_better else finite.min()
    if far == best:
        return
    pad = 0.08 * abs(far - best)
    ax.set_ylim(*sorted((best - pad if lower_is_better else best + pad, far + pad if lower_is_better else far - pad)))


def curves_html(ctx, df: pd.DataFrame, units: dict[str, Unit]) -> str:
    panels = {}
    for (task, budget), g in df.groupby(["task", "budget"], sort=True):
        several = df.loc[df["task"] == task, "budget"].nunique() > 1
        label = f"{task} · B={ctx.format_budget(budget)}" if several else task
        fig = curve_figure(ctx, g, units[task], f"{task}, budget {ctx.format_budget(budget)}")
        if fig is not None:
            caption = (
                f"Best-by-train-metric architecture after each query: its {units[task].label}; mean and 95% "
                "t confidence band over seeds; dashed: the task's global best."
            )
            panels[label] = ctx.figure(fig, caption=caption, tight=False)
    if not panels:
        return ""
    return "<h3>Anytime curves</h3>" + ctx.tabs(panels, title="Task", active=0)


def figure7_html(ctx, df: pd.DataFrame, units: dict[str, Unit], spec: dict) -> str:
    tasks = [t for t in spec.get("tasks", []) if t in set(df["task"])]
    parts = []
    for task in tasks:
        g = family_rows(_budget_rows(df, task, None)[0], spec)
        if g["family"].nunique() < 2 or "pw" not in set(g["family"]):
            continue
        fig = curve_figure(ctx, g, units[task], task)
        if fig is not None:
            parts.append(ctx.figure(fig, caption=f"{task}: PWLNAS with each single loss and with PW (mean, 95% band).", tight=False))
    if not parts:
        return ""
    note = ctx.note("Figure 7 of the paper prints no values: these are our curves only, to read beside it.")
    return "<h3>Figure 7: each single loss against PW on NAS-Bench-201</h3>" + note + "".join(parts)


# -- final-result tables ----------------------------------------------------------------------
# The two conventions for a search's final result (docs/SEARCH.md): the queried architecture
# with the best train metric (``best_eval``; what a search can report without test labels) and
# the best eval value among the queried ones (``best_eval_queried``). A table's
# ``paper_convention`` (published-search.yaml) names the one its paper most likely used.
CONVENTIONS = {"train": ("final", "best by train metric"), "queried": ("final_queried", "best queried")}


def table_number(df: pd.DataFrame, table: dict, units: dict[str, Unit]) -> pd.DataFrame:
    """Ours beside the paper's number for every (task, paper row), our unmatched methods below;
    both conventions shown, the paper compared with its own (``paper_convention``)."""
    out = []
    convention = table.get("paper_convention", "train")
    for j, task in enumerate(table["columns"]):
        rows, _ = _budget_rows(df, task, table.get("budget"))
        if rows.empty:
            continue
        unit, claimed = units[task], set()
        for prow in table["rows"]:
            paper = prow["values"][j]
            if prow.get("global_best"):  # one value per task: no interval
                glob = float(rows["glob"].iloc[0])
                s = {"n": int(rows["seed"].nunique()), "mean": glob, "ci_low": math.nan, "ci_high": math.nan}
                out.append(_number_row(task, "Global Best", "(global best of our task)", (s, s), paper, unit, convention))
                continue
            mask = match_mask(rows, prow.get("match", []))
            if not mask.any():
                out.append(_number_row(task, _paper_name(prow), "—", _summaries(rows.iloc[0:0]), paper, unit, convention))
            for method, g in rows[mask].groupby("method", sort=True):
                claimed.add(method)
                out.append(_number_row(task, _paper_name(prow), method, _summaries(g), paper, unit, convention))
        for method, g in rows[~rows["method"].isin(claimed)].groupby("method", sort=True):
            out.append(_number_row(task, "—", method, _summaries(g), None, unit, convention))
    return pd.DataFrame(out)


def _summaries(g: pd.DataFrame) -> tuple[dict, dict]:
    """(by train metric, best queried) summaries of a method's runs."""
    return _summary(g, "final"), _summary(g, "final_queried")


def _number_row(task, paper_row, method, summaries: tuple[dict, dict], paper, unit: Unit, convention: str) -> dict:
    s, q = summaries
    # Rows stored before best_eval_queried existed can only be compared by the train metric.
    used = convention if convention == "train" or q["n"] or not s["n"] else "train"
    ref = q if used == "queried" else s
    paper = np.nan if paper is None else float(paper)
    inside = ""
    if math.isfinite(paper) and math.isfinite(ref["ci_low"]):
        inside = "yes" if ref["ci_low"] <= paper <= ref["ci_high"] else "no"
    return {
        "task": task,
        "judged on": unit.judged_on,
        "paper row": paper_row,
        "ours": method,
        "seeds": s["n"],
        "ours (mean)": s["mean"],
        "95% CI": _ci_text(s["ci_low"], s["ci_high"]),
        "best queried (mean)": q["mean"],
        "95% CI, best queried": _ci_text(q["ci_low"], q["ci_high"]),
        "paper": paper,
        "compared as": CONVENTIONS[used][1],
        "ours − paper": ref["mean"] - paper,
        "paper in our CI": inside,
    }


def table_regret(df: pd.DataFrame, table: dict, units: dict[str, Unit]) -> tuple[pd.DataFrame, list[str]]:
    """Regret to each side's own global best and each side's rank; plus one order-agreement line per task."""
    from scipy.stats import kendalltau

    out, lines = [], []
    gb_row = next((r for r in table["rows"] if r.get("global_best")), None)
    for j, task in enumerate(table["columns"]):
        rows, _ = _budget_rows(df, task, table.get("budget"))
        if rows.empty:
            continue
        unit = units[task]
        paper_gb = float(gb_row["values"][j]) if gb_row else math.nan
        block, claimed = [], set()
        for prow in table["rows"]:
            if prow.get("global_best") or prow["values"][j] is None:
                continue
            paper_regret = abs(paper_gb - float(prow["values"][j]))
            mask = match_mask(rows, prow.get("match", []))
            groups = list(rows[mask].groupby("method", sort=True)) or [("—", rows.iloc[0:0])]
            for method, g in groups:
                claimed.add(method)
                block.append({"task": task, "judged on": unit.judged_on, "paper row": _paper_name(prow), "ours": method,
                              "paper regret": paper_regret, **_regret_cols(g)})
        for method, g in rows[~rows["method"].isin(claimed)].groupby("method", sort=True):
            block.append({"task": task, "judged on": unit.judged_on, "paper row": "—", "ours": method,
                          "paper regret": np.nan, **_regret_cols(g)})
        block = pd.DataFrame(block)
        block["paper rank"] = block["paper regret"].rank(method="min")
        block["our rank"] = block["our regret (mean)"].rank(method="min")
        out.append(block)
        both = block.dropna(subset=["paper regret", "our regret (mean)"])
        if len(both) >= 3:
            tau = kendalltau(both["paper regret"], both["our regret (mean)"])
            lines.append(f"{task}: Kendall tau between the paper's order and ours over {len(both)} matched rows = "
                         f"{tau.statistic:.2f} (p={tau.pvalue:.2g}).")
        else:
            lines.append(f"{task}: fewer than three paper rows have results of ours; no order to compare.")
    cols = ["task", "judged on", "paper row", "ours", "seeds", "paper regret", "paper rank",
            "our regret (mean)", "95% CI", "our rank"]
    return (pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)), lines


def _regret_cols(g: pd.DataFrame) -> dict:
    s = _summary(g, "regret_shown")
    return {"seeds": s["n"], "our regret (mean)": s["mean"], "95% CI": _ci_text(s["ci_low"], s["ci_high"])}


def table_reference(df: pd.DataFrame, table: dict, units: dict[str, Unit]) -> pd.DataFrame:
    out = []
    for task in table["columns"]:
        rows, _ = _budget_rows(df, task, None)
        if rows.empty:
            continue
        for method, g in rows.groupby("method", sort=True):
            s = _summary(g, "final")
            out.append({"task": task, "judged on": units[task].judged_on, "ours": method, "budget": float(g["budget"].iloc[0]),
                        "seeds": s["n"], "ours (mean)": s["mean"], "95% CI": _ci_text(s["ci_low"], s["ci_high"])})
    return pd.DataFrame(out)


def _paper_reference(table: dict) -> pd.DataFrame:
    rows = []
    for prow in table["rows"]:
        std = (prow.get("std") or [None])[0]
        rows.append({"paper row": _paper_name(prow), "paper": prow["values"][0],
                     "paper std": np.nan if std is None else std,
                     "params (M)": prow.get("params_m", np.nan), "cost (GPU days)": prow.get("cost_gpu_days", np.nan)})
    return pd.DataFrame(rows)


def tables_html(ctx, df: pd.DataFrame, tables: list[dict], units: dict[str, Unit]) -> str:
    html = []
    for table in tables:
        present = [t for t in table["columns"] if t in set(df["task"])]
        if not present:
            continue
        head = f"<h3 class=\"sub-h\">{ctx.escape(table['title'])}</h3>"
        notes = [table.get("note", "")]
        validation = [t for t in present if units[t].judged_on == "validation"]
        if validation:
            notes.append(f"Judged on a validation metric (the rows' eval_is_test is false): {', '.join(validation)}.")
        off = [t for t in present if _budget_rows(df, t, table.get("budget"))[1] != float(table.get("budget", -1))]
        if off and table["comparison"] != "not_comparable":
            notes.append(f"No runs at the paper's budget {table['budget']} on {', '.join(off)}: their largest budget is shown.")
        notes_html = "".join(ctx.note(n) for n in notes if n)
        slug = table["id"]
        if table["comparison"] == "number":
            frame = table_number(df, table, units)
            ours_units = ", ".join(sorted({units[t].label for t in present}))
            cap = (f"Ours in {ours_units}, the paper's in {table['quantity']}: mean and 95% t interval over seeds of the "
                   "queried architecture with the best train metric (ours) and of the best eval value among the queried "
                   "ones (best queried, chosen with test labels); the paper's number and the difference from ours in the "
                   "convention named in 'compared as'.")
            notes_html += ctx.note(table["convention_note"]) if table.get("convention_note") else ""
            html.append(head + notes_html + ctx.table(frame, caption=cap, fmt=FMT, csv=f"search-{slug}.csv"))
        elif table["comparison"] == "regret_order":
            frame, lines = table_regret(df, table, units)
            ours_units = ", ".join(sorted({units[t].label for t in present}))
            cap = (f"Regret to each side's own global best, ours in {ours_units}, the paper's in {table['quantity']}; "
                   "mean and 95% t interval over seeds; rank 1 = smallest regret.")
            html.append(head + notes_html + ctx.table(frame, caption=cap, fmt=FMT, csv=f"search-{slug}.csv")
                        + "".join(ctx.note(line) for line in lines))
        else:
            label = table.get("label", "not comparable")
            frame = table_reference(df, table, units)
            html.append(f"<h3 class=\"sub-h\">{ctx.escape(label)}</h3>" + notes_html
                        + ctx.table(frame, caption=f"Ours ({', '.join(units[t].label for t in present)}), for reference.",
                                    fmt=FMT, csv=f"search-{slug}-ours.csv")
                        + ctx.table(_paper_reference(table), caption=f"{table['title']}, as printed ({table['quantity']}).",
                                    fmt=FMT, csv=f"search-{slug}-paper.csv", sortable=False))
    if not html:
        return ""
    return "<h3>Final results beside the paper's tables</h3>" + "".join(html)


def other_tasks_html(ctx, df: pd.DataFrame, tables: list[dict], units: dict[str, Unit]) -> str:
    known = {t for table in tables for t in table["columns"]}
    rest = df[~df["task"].isin(known)]
    if rest.empty:
        return ""
    out = []
    for (task, budget), g in rest.groupby(["task", "budget"], sort=True):
        for method, m in g.groupby("method", sort=True):
            s, r = _summary(m, "final"), _summary(m, "regret_shown")
            out.append({"task": task, "budget": budget, "quantity": units[task].label, "method": method, "seeds": s["n"],
                        "mean": s["mean"], "95% CI": _ci_text(s["ci_low"], s["ci_high"]), "regret (mean)": r["mean"]})
    return ("<h3 class=\"sub-h\">Tasks outside the paper's tables</h3>"
            + ctx.table(pd.DataFrame(out), caption="Final result: mean and 95% t interval over seeds.", fmt=FMT,
                        csv="search-other-tasks.csv"))


# -- queries to the global best ---------------------------------------------------------------
def queries_table(df: pd.DataFrame) -> pd.DataFrame:
    if "queries_to_optimum" not in df.columns:
        return pd.DataFrame()
    out = []
    for (task, budget, method), g in df.groupby(["task", "budget", "method"], sort=True):
        q = pd.to_numeric(g["queries_to_optimum"], errors="coerce").to_numpy(dtype=float)
        found = np.isfinite(q) & (q <= float(budget))  # the contract stores budget + 1 for "never queried"
        times = np.where(found, q, float(budget))  # a run that never found it is censored at B
        med = stats.censored_median(times, found)
        out.append({
            "task": task, "budget": float(budget), "method": method, "runs": len(g), "found": int(found.sum()),
            "found share": found.mean() if len(g) else np.nan,
            "median queries (KM)": med if med is not None else np.nan,
            "median": f"{med:g}" if med is not None else f"> {float(budget):g} (censored)",
            "mean queries, runs that found it": float(q[found].mean()) if found.any() else np.nan,
        })
    return pd.DataFrame(out)


def queries_html(ctx, df: pd.DataFrame) -> str:
    frame = queries_table(df)
    if frame.empty:
        return ""
    note = ctx.note(
        "Query index at which an architecture with the task's global-best eval value was first queried. A run that "
        "never queried it within its budget B is right-censored at B: the median is the Kaplan-Meier median over all "
        "runs (scipy.stats.ecdf on censored data), '> B' when fewer than half the runs found it; the last column "
        "averages only the runs that found it and so flatters methods that rarely do."
    )
    return "<h3>Queries to the global best</h3>" + note + ctx.table(
        frame.drop(columns=["median queries (KM)"]), caption="Per method: runs that found the global best and the censored median.",
        fmt=FMT, csv="search-queries-to-optimum.csv")


# -- paired comparisons -----------------------------------------------------------------------
def by_seed(rows: pd.DataFrame, col: str) -> pd.DataFrame:
    """(seed x method) table of ``col``; same seed = same initial sample across strategies."""
    return rows.pivot_table(index="seed", columns="method", values=col, aggfunc="mean")


def reference_method(rows: pd.DataFrame, unit: Unit) -> str:
    pw = rows.loc[match_mask(rows, [{"role": "pwlnas:pw"}]), "method"]
    if len(pw):
        return str(sorted(pw.unique())[0])
    means = rows.groupby("method")["final"].mean()
    return str(means.idxmin() if unit.lower_is_better else means.idxmax())


def paired_table(df: pd.DataFrame, units: dict[str, Unit]) -> pd.DataFrame:
    out = []
    for (task, budget), rows in df.groupby(["task", "budget"], sort=True):
        unit, wide = units[task], by_seed(rows, "final")
        ref = reference_method(rows, unit)
        for other in wide.columns:
            if other == ref:
                continue
            p = stats.paired(wide[ref], wide[other])
            out.append({
                "task": task, "budget": float(budget), "A": ref, "B": other, "seeds": p.n, "A (mean)": p.mean_a,
                "B (mean)": p.mean_b, "A − B": p.diff, "95% CI": _ci_text(p.low, p.high), "paired t p": p.p_t,
                "Wilcoxon p": p.p_wilcoxon, "verdict": p.verdict(ref, other, unit.lower_is_better) if p.n >= 2 else "too few seeds",
            })
    return pd.DataFrame(out)


def paired_html(ctx, df: pd.DataFrame, units: dict[str, Unit]) -> str:
    frame = paired_table(df, units)
    if frame.empty:
        return ""
    note = ctx.note(
        "Final result of method A (PWLNAS with PW where present, else the best mean) minus each other method B on the "
        "seeds both ran (same seed = same initial sample), in the shown unit of the task. Interval: paired t (scipy "
        "ttest_rel), 95%; Wilcoxon signed-rank p beside it as a distribution-free cross-check. A difference whose "
        "interval covers zero is 'not resolved', never a win."
    )
    return "<h3>Paired comparisons over seeds</h3>" + note + ctx.table(
        frame, caption="A − B per task", fmt={**FMT, "paired t p": ".2g", "Wilcoxon p": ".2g"}, csv="search-paired.csv")


def prepare(results: pd.DataFrame, ctx, tables: list[dict]) -> tuple[pd.DataFrame, dict[str, Unit]]:
    """The study rows with their values in each task's shown unit (``final``, ``glob``, ``regret_shown``), and the units."""
    df = study_rows(results)
    return _with_shown(ctx, df, tables) if not df.empty else (df, {})


def rank_test_html(ctx, df: pd.DataFrame) -> str:
    """The strategies ranked by final regret over every (task, budget, seed) they share
    (Friedman, Wilcoxon-Holm, critical-difference diagram); sensitivity runs are no method of their own."""
    html = ctx.rank_test(df[df["variant"] == ""], "regret", ["task", "budget", "seed"], what="the search methods")
    return "<h3>Methods ranked by final regret</h3>" + html if html else ""


def render(results: pd.DataFrame, ctx) -> str | None:
    from nasbench_harness.studies.losses import search_checks  # they read this module's row helpers

    if study_rows(results).empty:
        return None
    pub = ctx.published("search") or {}
    tables = pub.get("tables", [])
    df, units = prepare(results, ctx, tables)
    failed = int(((results["protocol"] == "search") & (results.get("status", "ok") != "ok")).sum())
    intro = ctx.note(
        f"{len(df):,} search runs over {df['task'].nunique()} tasks and {df['method'].nunique()} methods"
        + (f" ({failed:,} failed runs left out; see Failed cells)" if failed else "")
        + ". Values are in the paper's units: error = 100 - accuracy (%) where the paper prints errors. Intervals are "
        "95% Student-t intervals over seeds."
    )
    parts = [
        intro,
        curves_html(ctx, df, units),
        figure7_html(ctx, df, units, pub.get("figure7", {})),
        tables_html(ctx, df, tables, units),
        other_tasks_html(ctx, df, tables, units),
        queries_html(ctx, df),
        paired_html(ctx, df, units),
        rank_test_html(ctx, df),
        search_checks.findings_html(ctx, results),
    ]
    return "".join(p for p in parts if p)
