"""Report section "ConvNP": the ConvNP study (paper-convnp matrix) reproduced from our results.

Reads the ``select`` rows and shows the paper's Tables 1 and 2 (best of the 30 selected,
Kendall tau), Figures 2 and 3 (Recall@k curves), Table 4 (training sizes), Table 5
(ablations), the numbers the paper prints beside ours with the differences, and automatic
checks of its claims (published/convnp.yaml ``findings``).
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd
from nasbench_harness.report.labels import validation_note
from nasbench_harness.studies.convnp import ConvNPStudy

REGRESSORS = ["LR", "RR", "MLP", "RF", "XGB"]
BASELINE_LABELS = {"random_search": "RS", "evolution": "RE"}  # default labels of predictor "none"
HEAD = ["selected_best_val", "selected_best_test", "kendall_tau", "recall@100"]
LABELS = {"selected_best_val.mean": "Validation (best of top-30)", "selected_best_test.mean": "Test (best of top-30)",
          "best_val.mean": "Validation (best of all N+30 observed)", "best_test.mean": "Test (best of all N+30 observed)"}
# The paper's Algorithm reports a search baseline's best over everything it observed; a
# predictor's headline is the best of its 30 selections. Published RS/RE numbers are
# compared with our best-of-all-observed columns, and the tables say so.
SEARCH_BASELINES = ("RS", "RE")
BASELINE_NOTE = ("RS and RE: the paper's Algorithm reports the best over everything a search observed (the N observed "
                 "plus its 30), which is our 'best of all N+30 observed' columns; their 'best of top-30' columns use the "
                 "predictors' rule (best of the 30 chosen). Published RS/RE numbers are compared with the former.")


# What was done to ConvNP to close its gap to the tuned regressors, and what the evidence
# showed (issue 12; the numbers are in studies/convnp/README.md). Settings were chosen only on TransNAS
# micro tasks, never on NB101/NB201; the tables above show whether the gap is closed.
TRIED_NOTE = (
    "ConvNP here is our diagnosed and fixed implementation (studies/convnp/README.md). Its first version ranked "
    "architectures by a collapsed meta-feature projection; the fix standardises the MLP's output over the "
    "observed set, puts dropout 0.3 on the MLP and predicts from 10-point contexts (the sizes meta-training "
    "shows). After the fix ConvNP's ranking is essentially its meta-feature MLP's, which still fits the "
    "observed set better than it generalises. Tried next, with every setting chosen on TransNAS-Bench-101 "
    "micro tasks (never on NB101/NB201): early stopping (no reliable gain: held-out tau is flat over the "
    "epoch's second half), weight decay on the MLP (no gain, or collapse to a constant predictor at a "
    "strong setting), and rank-averaging 4 weight snapshots of the second half (a small, consistent "
    "gain; adopted). The paper's stated settings (10,000 synthetic tasks, one epoch, lambda 1000, margin "
    "0.01) are kept. Compare ConvNP's Kendall tau with RF's in the tables above for whether the gap is "
    "closed on each task."
)



# -- the study's parts, read from its matrix (paper-convnp) -----------------------------------
@functools.cache
def main_budget() -> dict[str, float]:
    """Observed architectures per space in the main comparison: the budget of the ``main`` blocks."""
    return {c.task.split("/")[0]: float(c.budget) for c in ConvNPStudy.block("paper-convnp", "main")}


@functools.cache
def main_methods() -> list[str]:
    """The main comparison's methods in the matrix's order."""
    return list(dict.fromkeys(c.method for c in ConvNPStudy.block("paper-convnp", "main")))


@functools.cache
def ablations() -> list[str]:
    """ConvNP and its ablations (the ``ablations`` block), in the matrix's order."""
    return ["ConvNP", *dict.fromkeys(c.method for c in ConvNPStudy.block("paper-convnp", "ablations"))]


@functools.cache
def training_sizes() -> list[float]:
    """The training sizes of the ``sizes`` block."""
    return sorted({float(c.budget) for c in ConvNPStudy.block("paper-convnp", "sizes")})


def study_rows(results: pd.DataFrame) -> pd.DataFrame:
    """OK ``select`` rows with a numeric ``budget``."""
    need = {"protocol", "task", "method", "budget"}
    if results.empty or not need <= set(results.columns):
        return results.iloc[0:0]
    df = results[results["protocol"] == "select"]
    if "status" in df.columns:
        df = df[df["status"] == "ok"]
    if "predictor" in df.columns:  # unlabelled search baselines (predictor "none") under the paper's names
        free = df["predictor"] == "none"
        if free.any():
            df = df.copy()
            df.loc[free, "method"] = df.loc[free, "method"].replace(BASELINE_LABELS)
    return df


def main_rows(df: pd.DataFrame) -> pd.DataFrame:
    space = df["task"].str.split("/").str[0]
    budget = space.map(main_budget())
    return df[(df["budget"].astype(float) == budget) & df["method"].isin(ablations() + main_methods())]


def _means(ctx, df: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    metrics = [m for m in metrics if m in df.columns]
    return ctx.aggregate(df, by=by, metrics=metrics) if metrics and not df.empty else pd.DataFrame()


def _mean_of(agg: pd.DataFrame, method: str, metric: str, **where) -> float:
    rows = agg[agg["method"] == method]
    for k, v in where.items():
        rows = rows[rows[k] == v]
    col = f"{metric}.mean"
    return float(rows[col].iloc[0]) if len(rows) and col in rows else float("nan")


def _eval_note(ctx, df: pd.DataFrame) -> str:
    return validation_note(ctx, df, "the 'Test' columns, Kendall tau and Recall@k")


# -- tables ---------------------------------------------------------------------------------
def main_tables(ctx, df: pd.DataFrame) -> str:
    main = main_rows(df)
    main = main[main["method"].isin(main_methods())]
    if main.empty:
        return ""
    panels = {}
    for task, g in main.groupby("task", sort=True):
        agg = _means(ctx, g, ["method"], HEAD + ["best_val", "best_test", "best_test_of_selected"])
        agg["order"] = agg["method"].map({m: i for i, m in enumerate(main_methods())})
        agg = agg.sort_values("order").drop(columns="order")
        panels[task] = ctx.table(agg, caption=f"{task}: {int(g['budget'].iloc[0])} observed + 30 selected (cf. Tables 1-3).", best=True, labels=LABELS, csv=f"convnp-{task.replace('/', '-')}.csv")
    return "<h3>Main comparison (Tables 1-3)</h3>" + _eval_note(ctx, main) + ctx.note(BASELINE_NOTE) + ctx.tabs(panels, title="Task")


def published_table(ctx, df: pd.DataFrame, pub: dict) -> str:
    main = main_rows(df)
    if main.empty:
        return ""
    agg = _means(ctx, main, ["task", "method"], ["kendall_tau", "selected_best_val", "selected_best_test", "best_val", "best_test"])

    def headline(method: str, metric: str) -> str:
        """The column a published number is compared with (search baselines: best of all observed)."""
        return metric.removeprefix("selected_") if method in SEARCH_BASELINES else metric

    rows = []
    t1 = pub.get("table1", {})
    for method, value in t1.get("kendall_tau", {}).items():
        rows.append(("Table 1", t1["task"], method, "Kendall tau", value, _mean_of(agg, method, "kendall_tau", task=t1["task"])))
    for key, metric in (("val", "selected_best_val"), ("test", "selected_best_test")):
        for method, value in t1.get(key, {}).items():
            rows.append(("Table 1", t1["task"], method, f"{key} acc (%)", value, _mean_of(agg, method, headline(method, metric), task=t1["task"])))
    for task, d in pub.get("table2", {}).get("test", {}).items():
        for method, value in d.items():
            rows.append(("Table 2", task, method, "test acc (%)", value, _mean_of(agg, method, headline(method, "selected_best_test"), task=task)))
    t5 = pub.get("table5", {})
    for method, value in t5.get("kendall_tau", {}).items():
        rows.append(("Table 5", t5["task"], method, "Kendall tau", value, _mean_of(agg, method, "kendall_tau", task=t5["task"])))
    for method, value in t5.get("test", {}).items():
        rows.append(("Table 5", t5["task"], method, "test acc (%)", value, _mean_of(agg, method, "selected_best_test", task=t5["task"])))
    out = pd.DataFrame(rows, columns=["table", "task", "method", "quantity", "paper", "ours"])
    baseline = out["method"].isin(SEARCH_BASELINES) & out["quantity"].str.contains("acc")
    out.loc[baseline, "quantity"] += " [best of all observed]"
    out["ours - paper"] = out["ours"] - out["paper"]
    out = out[np.isfinite(out["ours"])]
    if out.empty:
        return ""
    note = ctx.note("Only these cells are printed in our copy of the paper. Where a task is judged on validation (below), "
                    "the paper's test numbers are compared with our validation numbers: the differences mix a metric change with reproduction error.")
    note += _eval_note(ctx, main[main["task"].isin(out["task"])])
    return "<h3>Published numbers beside ours</h3>" + note + ctx.table(out, sortable=True, fmt=".3f", csv="convnp-published.csv")


def size_table(ctx, df: pd.DataFrame) -> str:
    sizes = df[(df["method"] == "ConvNP") & df["budget"].astype(float).isin(training_sizes())]
    sizes = sizes[sizes["task"].isin(["nb101/cifar10", "nb201/ImageNet16-120"])]
    if sizes["budget"].nunique() < 2:
        return ""
    agg = _means(ctx, sizes, ["task", "budget"], HEAD)
    return "<h3>Training-set size (Table 4)</h3>" + _eval_note(ctx, sizes) + ctx.table(agg.sort_values(["task", "budget"]), caption="ConvNP with nested samples of 50-860 observed architectures.", best=False, labels=LABELS, csv="convnp-sizes.csv")


def ablation_table(ctx, df: pd.DataFrame) -> str:
    abl = main_rows(df)
    abl = abl[(abl["task"] == "nb101/cifar10") & abl["method"].isin(ablations())]
    if abl["method"].nunique() < 2:
        return ""
    agg = _means(ctx, abl, ["method"], HEAD)
    agg["order"] = agg["method"].map({m: i for i, m in enumerate(ablations())})
    agg = agg.sort_values("order").drop(columns="order")
    return "<h3>Ablations on NB101 (Table 5)</h3>" + _eval_note(ctx, abl) + ctx.table(agg, best=True, labels=LABELS, csv="convnp-ablations.csv")


# -- figures --------------------------------------------------------------------------------
def recall_figure(ctx, df: pd.DataFrame) -> str:
    import matplotlib.pyplot as plt

    main = main_rows(df)
    main = main[main["method"].isin(main_methods())]
    cols = sorted((c for c in main.columns if re.fullmatch(r"recall@\d+", c) and main[c].notna().any()), key=lambda c: int(c.split("@")[1]))
    if not cols or main.empty:
        return ""
    tasks = sorted(main["task"].unique())
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), squeeze=False)
    ks = [int(c.split("@")[1]) for c in cols]
    for ax, task in zip(axes[0], tasks):
        agg = _means(ctx, main[main["task"] == task], ["method"], cols)
        for _, r in agg.iterrows():
            y = [r[f"{c}.mean"] for c in cols]
            if np.all(np.isnan(y)):
                continue
            ax.plot(ks, y, marker="o", ms=3, label=r["method"], color=ctx.color(r["method"]), lw=2.2 if r["method"] == "ConvNP" else 1.2)
        ax.set_xscale("log")
        ax.set_title(task)
        ax.set_xlabel("k")
        ax.set_ylabel("Recall@k")
    axes[0][-1].legend(fontsize=7, loc="best")
    return "<h3>Recall@k (Figures 2 and 3)</h3>" + _eval_note(ctx, main) + ctx.figure(fig, caption="Mean Recall@k over seeds of every predictor (the search baselines have none).")


# -- claim checks ---------------------------------------------------------------------------
def rank_test_html(ctx, df: pd.DataFrame) -> str:
    """The main comparison's predictors ranked by Kendall tau over every (task, seed) of the main
    blocks (Friedman, Wilcoxon-Holm, critical-difference diagram; RS and RE have no tau)."""
    main = main_rows(df)
    html = ctx.rank_test(main[main["method"].isin(main_methods())], "kendall_tau", ["task", "budget", "seed"],
                         what="the main comparison's predictors")
    return "<h3>Predictors ranked by Kendall tau</h3>" + html if html else ""


def render(results: pd.DataFrame, ctx) -> str | None:
    from nasbench_harness.studies import claim_panels
    from nasbench_harness.studies.convnp import checks  # they read this module's row helpers

    df = study_rows(results)
    if df.empty or not df["method"].isin(ablations()).any():
        return None
    pub = ctx.published("convnp")
    parts = [
        ctx.note("Observe N architectures (172 on NB101, 90 on NB201), let each method choose 30 more, and report the best of the 30 by validation accuracy; Kendall tau and Recall@k are over the whole task."),
        main_tables(ctx, df),
        ctx.note(TRIED_NOTE),
        recall_figure(ctx, df),
        published_table(ctx, df, pub),
        size_table(ctx, df),
        ablation_table(ctx, df),
        rank_test_html(ctx, df),
        claim_panels(ctx, checks.__name__, results, "<h3>Claims</h3>"),
    ]
    return "".join(p for p in parts if p)
