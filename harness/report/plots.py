"""Report figures: one colour per method across the whole report, metric-vs-budget curves.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot global state), so
rendering is thread-safe and needs no display; ``ReportContext.figure`` embeds them. The
budget curves, one per leaderboard, are written as SVG text (``svgplot``) for speed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from nasbench_harness.report.aggregate import format_budget, metric_info

STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e5e7eb",
    "grid.linewidth": 0.8,
    "legend.frameon": False,
    "svg.fonttype": "none",  # keep text as text: smaller files, crisp labels
}


def palette(methods: Iterable[str]) -> dict[str, str]:
    """A stable colour per method (sorted names), distinct for up to 20 methods."""
    import seaborn as sns

    names = sorted(set(methods))
    n = len(names)
    base = "tab10" if n <= 10 else "tab20" if n <= 20 else "husl"
    colours = sns.color_palette(base, n_colors=max(n, 1)).as_hex()
    return dict(zip(names, colours, strict=False))


def pick_curve_metrics(metrics: list[str]) -> list[str]:
    """Kendall tau and Precision@T first (the papers' headline metrics), at most three."""
    chosen = [m for m in metrics if m == "kendall_tau"]
    chosen += [m for m in metrics if m.startswith("precision@")][:2]
    if not chosen:
        chosen = [m for m in metrics if metric_info(m).group in ("Ranking", "Search", "Top-K")][:2]
    return chosen[:3]


MAX_CURVES = 10


def top_methods(agg: pd.DataFrame, metric: str, higher_is_better: bool, k: int = MAX_CURVES) -> list[str]:
    """The ``k`` methods with the best mean ``metric`` averaged over budgets."""
    col = f"{metric}.mean"
    if col not in agg.columns:
        return sorted(agg["method"].unique())[:k]
    score = agg.groupby("method")[col].mean().sort_values(ascending=not higher_is_better, na_position="last")
    return score.index[:k].tolist()


def budget_curves(agg: pd.DataFrame, metrics: list[str], colours: Mapping[str, str]) -> str | None:
    """Mean ± std (band) of each metric versus training size, one line per method: an SVG
    document (``svgplot``: a full-scale report draws hundreds of these; matplotlib is slower by ~50x).

    ``agg`` is ``aggregate(rows, ["budget", "method"], metrics)`` (callers keep it to about
    ``MAX_CURVES`` methods: more lines are unreadable). The x axis is the mean number of
    training architectures (log scale when it spans a decade), with a tick at each budget when
    there are at most 8 (fractions say their percentage too); None when there are fewer than
    two budgets to draw a curve through.
    """
    from nasbench_harness.report import svgplot

    if agg.empty or agg["budget"].nunique() < 2 or not metrics:
        return None
    x_col = "n_train" if "n_train" in agg.columns and agg["n_train"].notna().all() else "budget"
    xs = agg[x_col].to_numpy(dtype=float)
    log_x = bool(np.nanmin(xs) > 0 and np.nanmax(xs) / np.nanmin(xs) >= 8)
    panels = []
    for metric in metrics:
        series = svgplot.series_of(agg, metric, x_col, colours)
        if series:
            info = metric_info(metric)
            panels.append(svgplot.Panel(f"{info.label} {'↑' if info.higher_is_better else '↓'}", series))
    if not panels:
        return None
    budgets = agg[["budget", x_col]].drop_duplicates("budget").sort_values(x_col)
    xticks = None
    if x_col == "n_train" and len(budgets) <= 8:
        xticks = [(float(n), f"{int(n):,}\n({format_budget(b)})" if b < 1 else f"{int(n):,}") for b, n in budgets.itertuples(index=False)]
    return svgplot.line_chart(panels, log_x=log_x, xticks=xticks, xlabel="training architectures" if x_col == "n_train" else "budget")


MAX_LABELLED_RANKS = 8  # methods named and coloured in a rank plot; the rest are grey lines


def budget_ranks(agg: pd.DataFrame, metric: str, higher_is_better: bool) -> pd.DataFrame:
    """Each method's rank (1 = best; ties share the average) among the methods at each budget
    by the mean ``metric``: columns budget, method, rank, n (methods ranked at that budget)."""
    col = f"{metric}.mean"
    if col not in agg.columns:
        return pd.DataFrame(columns=["budget", "method", "rank", "n"])
    ok = agg[np.isfinite(agg[col].to_numpy(dtype=float))]
    ranks = ok.groupby("budget")[col].rank(ascending=not higher_is_better, method="average")
    out = ok[["budget", "method"]].assign(rank=ranks.to_numpy(), n=ok.groupby("budget")["method"].transform("size").to_numpy())
    return out.sort_values(["budget", "rank"]).reset_index(drop=True)


def rank_plot(ranks: pd.DataFrame, colours: Mapping[str, str]) -> str | None:
    """A bump chart of ``budget_ranks`` as an SVG document (``svgplot``; one per leaderboard): x =
    budget (in order), y = rank (1 at the top). The ``MAX_LABELLED_RANKS`` methods with the best
    mean rank are coloured and named at their last budget; the others are thin grey lines, so
    that dozens of methods stay readable. None with fewer than two budgets or three methods."""
    from nasbench_harness.report import svgplot

    if ranks.empty or ranks["budget"].nunique() < 2 or ranks["method"].nunique() < 3:
        return None
    budgets = sorted(ranks["budget"].unique())
    where = {b: i for i, b in enumerate(budgets)}
    shown = set(ranks.groupby("method")["rank"].mean().sort_values().index[:MAX_LABELLED_RANKS])
    lines = [svgplot.RankLine(str(m), colours.get(m, "#777777") if m in shown else None,
                              g["budget"].map(where).to_numpy(dtype=float), g["rank"].to_numpy(dtype=float))
             for m, g in ranks.groupby("method", sort=True)]
    return svgplot.bump_chart(lines, [format_budget(b) for b in budgets], int(ranks["n"].max()),
                              xlabel="training budget", ylabel="rank (1 = best)")


def cd_diagram(test, colours: Mapping[str, str] | None = None, *, title: str | None = None) -> Figure | None:
    """Critical-difference diagram (Demšar 2006) of a ``stats.RankTest``: methods on their mean
    rank (1 = best, at the left), the better half labelled on the left and the rest on the
    right, and a thick bar under every clique of methods the Wilcoxon-Holm tests do not tell
    apart. The height grows with the number of methods and cliques, so that dozens stay
    readable; None with fewer than two methods."""
    import matplotlib as mpl

    k = len(test.methods)
    if k < 2:
        return None
    colours = colours or {}
    cliques = _pack_cliques(test)
    step, bar_step = 0.19, 0.09  # inches per label row and per clique row
    half = (k + 1) // 2
    top = 0.45 + bar_step * (len(cliques) + 1)  # first label row, in inches below the axis
    height = 0.55 + top + step * max(half, k - half)
    width = 7.0
    with mpl.rc_context({**STYLE, "axes.grid": False}):
        fig = Figure(figsize=(width, height))
        ax = fig.add_axes((0.2, 0.0, 0.6, 1.0))
        ax.set_axis_off()
        ax.set_xlim(1, max(k, 2))
        ax.set_ylim(height - 0.3, -0.3)  # y in inches below the rank axis
        ax.hlines(0, 1, k, color="#111827", linewidth=1)
        ticks = MaxNLocator(nbins=12, integer=True).tick_values(1, k)
        for t in sorted({1, *ticks[(ticks > 1) & (ticks <= k)]}):
            ax.vlines(t, -0.06, 0, color="#111827", linewidth=1)
            ax.text(t, -0.1, f"{t:g}", ha="center", va="bottom", fontsize=8)
        for row, spans in enumerate(cliques):
            for lo, hi in spans:
                ax.hlines(0.2 + bar_step * row, lo - 0.03, hi + 0.03, color="#111827", linewidth=3.2, zorder=3)
        for i, (name, rank) in enumerate(zip(test.methods, test.mean_ranks, strict=True)):
            left = i < half
            y = top + step * (i if left else k - 1 - i)
            edge = 1 - 0.06 * (k - 1) if left else k + 0.06 * (k - 1)  # labels just outside the axis
            colour = colours.get(name, "#374151")
            ax.plot([rank, rank, edge], [0, y, y], color=colour, linewidth=0.9, solid_joinstyle="miter", clip_on=False)
            ax.text(edge, y, f"{name} ({rank:.2f})" if left else f"({rank:.2f}) {name}", ha="right" if left else "left",
                    va="center", fontsize=8, clip_on=False)
        if title:
            ax.set_title(title, fontsize=10, loc="center", pad=14)
        ax.text((1 + k) / 2, -0.3, "mean rank (1 = best)", ha="center", va="bottom", fontsize=8, color="#6b7280")
    return fig


def _pack_cliques(test) -> list[list[tuple[float, float]]]:
    """Rows of clique bars, each bar a clique's (lowest, highest) mean rank: cliques that do not
    overlap share a row (first fit), so the bars take as little height as they can."""
    rank = dict(zip(test.methods, test.mean_ranks, strict=True))
    spans = sorted((min(rank[m] for m in c), max(rank[m] for m in c)) for c in test.cliques())
    rows: list[list[tuple[float, float]]] = []
    for lo, hi in spans:
        row = next((r for r in rows if r[-1][1] + 0.1 < lo), None)
        if row is None:
            row = []
            rows.append(row)
        row.append((lo, hi))
    return rows
