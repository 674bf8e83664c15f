"""Statistics the report needs over seeds: confidence intervals, paired comparisons, censored counts.

Everything delegates to scipy; this module only fixes the conventions the report states:

- ``mean_ci``: mean and a two-sided Student-t confidence interval over seeds (ddof=1).
- ``paired``: the paired t-test of ``a - b`` over seeds that both sides ran (scipy's
  ``ttest_rel`` and its ``confidence_interval``), with the Wilcoxon signed-rank p-value beside
  it as a distribution-free cross-check. A difference is *resolved* only when its interval
  excludes zero; otherwise it is "not resolved", never a win.
- ``censored_median``: Kaplan-Meier median of a count observed up to a cap (scipy's ``ecdf``
  on right-censored data); None when fewer than half the runs reached the event.
- ``rank_test``: several methods over paired blocks (a block is one task, budget and seed:
  one value per method, paired by construction; a search's budget is its query budget, so
  runs at different budgets are never paired): Friedman's test (``friedmanchisquare``), mean ranks
  with ties averaged, pairwise Wilcoxon signed-rank tests Holm-corrected, read only when
  Friedman rejects (Demšar 2006), and the cliques a critical-difference diagram draws. An
  incomplete grid is reduced as ``INCOMPLETE_GRID`` says.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.95


def mean_ci(values, level: float = LEVEL) -> tuple[float, float, float, int]:
    """(mean, low, high, n) over the finite values; the interval is NaN with fewer than two."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    m = float(x.mean())
    if n < 2:
        return m, math.nan, math.nan, n
    if np.all(x == x[0]):  # no spread: the interval is the point (scipy would give NaN)
        return m, m, m, n
    lo, hi = stats.t.interval(level, n - 1, loc=m, scale=stats.sem(x))
    return m, float(lo), float(hi), n


def mean_ci_columns(matrix: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise mean and t interval of a (runs, points) array with NaN gaps (vectorised)."""
    x = np.asarray(matrix, dtype=float)
    n = np.isfinite(x).sum(axis=0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns and single runs give NaN, as meant
        m = np.nanmean(x, axis=0)
        sd = np.nanstd(x, axis=0, ddof=1)
        half = stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
    half = np.where(n >= 2, half, np.nan)
    return m, m - half, m + half


@dataclass(frozen=True)
class Paired:
    """A paired comparison of ``a - b`` over ``n`` common seeds."""

    n: int
    mean_a: float
    mean_b: float
    diff: float  # mean of a - b
    low: float
    high: float
    p_t: float  # paired t-test, two-sided
    p_wilcoxon: float  # Wilcoxon signed-rank, two-sided (NaN when every difference is zero or n < 2)

    @property
    def resolved(self) -> bool:
        """The interval excludes zero (finite on both ends)."""
        return math.isfinite(self.low) and math.isfinite(self.high) and (self.low > 0 or self.high < 0)

    def a_better(self, lower_is_better: bool) -> bool | None:
        """True/False when resolved (``a`` better / worse), None when not resolved."""
        if not self.resolved:
            return None
        return (self.high < 0) if lower_is_better else (self.low > 0)

    def verdict(self, a: str, b: str, lower_is_better: bool) -> str:
        better = self.a_better(lower_is_better)
        if better is None:
            return "not resolved"
        return f"{a} better" if better else f"{b} better"

    def describe(self, unit: str = "") -> str:
        u = f" {unit}" if unit else ""
        ci = f"[{self.low:+.3f}, {self.high:+.3f}]" if math.isfinite(self.low) else "[n/a]"
        return f"mean diff {self.diff:+.3f}{u}, 95% CI {ci}, paired t p={format_p(self.p_t)}, Wilcoxon p={format_p(self.p_wilcoxon)}, n={self.n}"


def format_p(p: float) -> str:
    return "n/a" if not math.isfinite(p) else f"{p:.2g}"


def p_phrase(p: float) -> str:
    """"p = 0.031", or "p < 1e-16" below what a double resolves (scipy then returns 0)."""
    return "p < 1e-16" if 0 <= p < 1e-16 else f"p = {format_p(p)}"


def paired(a, b, level: float = LEVEL) -> Paired:
    """Paired t interval of ``a - b`` (aligned arrays, one entry per seed); pairs with a NaN are dropped."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    n = int(a.size)
    if n == 0:
        return Paired(0, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)
    d = a - b
    diff = float(d.mean())
    if n < 2:
        return Paired(n, float(a.mean()), float(b.mean()), diff, math.nan, math.nan, math.nan, math.nan)
    if np.all(d == d[0]):  # no spread: the interval is the point itself (ttest_rel would give NaN)
        return Paired(n, float(a.mean()), float(b.mean()), diff, diff, diff, 0.0 if diff else 1.0, math.nan)
    res = stats.ttest_rel(a, b)
    ci = res.confidence_interval(level)
    try:
        p_w = float(stats.wilcoxon(d).pvalue) if np.any(d != 0) else math.nan
    except ValueError:
        p_w = math.nan
    return Paired(n, float(a.mean()), float(b.mean()), diff, float(ci.low), float(ci.high), float(res.pvalue), p_w)


def censored_median(times, observed) -> float | None:
    """Kaplan-Meier median of ``times`` where ``observed`` is False for runs censored at their time."""
    t = np.asarray(times, dtype=float)
    seen = np.asarray(observed, dtype=bool)
    keep = np.isfinite(t)
    t, seen = t[keep], seen[keep]
    if t.size == 0 or not seen.any():
        return None
    data = stats.CensoredData(uncensored=t[seen], right=t[~seen])
    sf = stats.ecdf(data).sf
    below = np.flatnonzero(sf.probabilities <= 0.5)
    return float(sf.quantiles[below[0]]) if below.size else None


# -- several methods over paired blocks: Friedman, Wilcoxon-Holm post-hoc, cliques ----------------
ALPHA = 0.05
INCOMPLETE_GRID = (
    "Friedman's test needs every method in every block, and a value filled into a gap would be invented: "
    "methods are left out one at a time (each time the one whose absence completes the most blocks; on a tie, the one "
    "sharing the fewest blocks with the rest) up to the point "
    "that keeps the most values (blocks × methods; on a tie, more methods), then every block still missing a kept "
    "method is left out; both are counted here."
)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input's order (NaN stays NaN and is not counted).

    The i-th smallest of m p-values is multiplied by m - i + 1; a running maximum keeps the
    adjusted values in the order of the raw ones, and nothing exceeds 1.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = order.size
    adjusted = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out[order] = np.minimum(adjusted, 1.0)
    return out


@dataclass(frozen=True)
class RankTest:
    """Friedman's test of several methods over paired blocks, with its Wilcoxon-Holm post-hoc tests.

    ``methods`` are sorted by mean rank (1 = best, ties share the average rank within a
    block). ``pairs`` has one row per pair of methods: ``a``, ``b`` (``a`` the better mean
    rank), ``p`` (two-sided Wilcoxon signed-rank over the blocks), ``p_holm`` (Holm-adjusted
    over all pairs) and ``significant``: Friedman rejects at ``alpha`` AND ``p_holm < alpha``
    (the post-hoc tests are read only when the omnibus test rejects, as in Demšar 2006).
    """

    metric: str
    methods: tuple[str, ...]
    mean_ranks: tuple[float, ...]
    n_blocks: int
    dropped_blocks: int  # blocks left out because a kept method had no value in them
    dropped_methods: tuple[str, ...]  # methods left out for covering too few blocks (see rank_test)
    statistic: float  # Friedman chi-square (NaN with fewer than three methods)
    p: float
    pairs: pd.DataFrame  # a, b, p, p_holm, significant
    alpha: float = ALPHA
    separated: frozenset = frozenset()  # {frozenset({a, b})} of the significant pairs

    @property
    def rejects(self) -> bool:
        return math.isfinite(self.p) and self.p < self.alpha

    @property
    def can_separate(self) -> bool:
        """Whether a post-hoc test could separate two methods at all: the exact two-sided
        signed-rank p over n blocks is at least 2 / 2**n, so with 5 blocks (5 seeds) nothing
        reaches 0.05 and "not separated" says nothing about the methods."""
        return 2.0 ** (1 - self.n_blocks) < self.alpha

    def differ(self, a: str, b: str) -> bool:
        """Whether the post-hoc test separates ``a`` and ``b``."""
        return frozenset((a, b)) in self.separated

    def cliques(self) -> list[tuple[str, ...]]:
        """Maximal runs of methods, consecutive in mean rank, no two of which differ: the bars
        of a critical-difference diagram. Single methods are not cliques."""
        runs = []
        for i in range(len(self.methods)):
            j = i
            while j + 1 < len(self.methods) and not any(self.differ(self.methods[k], self.methods[j + 1]) for k in range(i, j + 1)):
                j += 1
            if j > i and not (runs and runs[-1][1] >= j):  # not inside the previous run
                runs.append((i, j))
        return [tuple(self.methods[i : j + 1]) for i, j in runs]

    def near_best(self) -> set[str]:
        """The best method by mean rank and every method the post-hoc tests do not separate from it."""
        if not self.methods:
            return set()
        best = self.methods[0]
        return {m for m in self.methods if m == best or not self.differ(best, m)}

    def describe(self, label: str = "") -> str:
        """One sentence: what was compared, the Friedman result and what the incomplete grid cost."""
        if math.isfinite(self.statistic):
            stat = f"Friedman χ² = {self.statistic:.2f}, {p_phrase(self.p)}"
        elif len(self.methods) == 2:
            stat = f"two methods: Wilcoxon signed-rank {p_phrase(self.p)}"
        else:
            stat = "no Friedman test (every block a tie, or fewer than two blocks)"
        left = []
        if self.dropped_blocks:
            left.append(f"{self.dropped_blocks} incomplete block(s) left out")
        if self.dropped_methods:
            left.append(f"{len(self.dropped_methods)} method(s) with too few blocks left out: {', '.join(self.dropped_methods)}")
        extra = f"; {'; '.join(left)}" if left else ""
        return f"{label or self.metric}: {len(self.methods)} methods over {self.n_blocks} paired blocks, {stat}{extra}."


def _complete_grid(table: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The largest complete (blocks x methods) part of ``table`` reached by leaving out methods
    one at a time (``INCOMPLETE_GRID``): at each step the method whose absence completes the
    most blocks; on a tie, the one sharing the fewest blocks with the other kept methods (a
    method on another part of the grid), then the one with the fewest values, then the last by
    name. One method with a few gaps thus costs a few blocks, while methods run on another part
    of the grid are left out instead of emptying the test for all the others."""
    present = table.notna().to_numpy()
    shared = present.T.astype(np.int64) @ present  # blocks each pair of methods has in common
    kept = list(range(table.shape[1]))
    best_kept, best_values = list(kept), 0
    while len(kept) >= 2:
        values = int(present[:, kept].all(axis=1).sum()) * len(kept)
        if values > best_values:
            best_kept, best_values = list(kept), values

        def gain(j: int, kept=kept) -> tuple:
            others = [i for i in kept if i != j]
            return (present[:, others].all(axis=1).sum(), -shared[j, others].sum(), -shared[j, j], j)

        kept.remove(max(kept, key=gain))
    names = [table.columns[i] for i in best_kept]
    return table[names], tuple(sorted(set(table.columns) - set(names)))


def rank_test(values, *, higher_is_better, metric: str = "", alpha: float = ALPHA) -> RankTest:
    """Friedman and pairwise Wilcoxon-Holm tests of the methods (columns) of ``values`` over its
    blocks (rows): a DataFrame with one row per block (e.g. one task and seed) and one column
    per method, NaN where a method has no value.

    ``higher_is_better``: a bool, or a boolean Series over the rows (a metric in task units
    turns with each block's task). An incomplete grid is reduced as ``_complete_grid`` says; the
    result counts the blocks and names the methods it left out.
    """
    table = values.astype(float)
    direction = pd.Series(np.broadcast_to(np.asarray(higher_is_better, dtype=bool), len(table)), index=table.index)
    table, dropped_methods = _complete_grid(table)
    complete = table.notna().all(axis=1)
    dropped_blocks = int((~complete & table.notna().any(axis=1)).sum())
    table, direction = table[complete], direction[complete]
    names = list(table.columns)
    # rank 1 = best in each block: orient so that larger is better, then rank descending
    oriented = table.to_numpy() * np.where(direction.to_numpy(), 1.0, -1.0)[:, None]
    ranks = stats.rankdata(-oriented, axis=1, method="average") if oriented.size else np.empty((0, len(names)))
    mean_ranks = ranks.mean(axis=0) if len(ranks) else np.full(len(names), np.nan)
    order = np.argsort(mean_ranks, kind="stable")
    statistic = p = math.nan
    if len(names) >= 3 and len(table) >= 2 and np.ptp(oriented, axis=1).any():
        res = stats.friedmanchisquare(*oriented.T)
        statistic, p = float(res.statistic), float(res.pvalue)
    elif len(names) == 2 and len(table) >= 1:
        p = _wilcoxon(oriented[:, 0], oriented[:, 1])  # two methods: the omnibus test is the one pair's
    elif len(names) >= 2 and len(table) >= 2:
        p = 1.0  # every block a tie: nothing differs
    pairs = _pairs([names[i] for i in order], oriented[:, order], p < alpha if math.isfinite(p) else False, alpha)
    separated = frozenset(frozenset((a, b)) for a, b in pairs.loc[pairs["significant"], ["a", "b"]].itertuples(index=False))
    return RankTest(metric, tuple(names[i] for i in order), tuple(float(mean_ranks[i]) for i in order), len(table),
                    dropped_blocks, dropped_methods, statistic, p, pairs, alpha, separated)


def _wilcoxon(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of ``a - b`` (zero differences dropped, scipy's default);
    1 when every difference is zero (nothing to tell apart)."""
    return float(wilcoxon_columns((a - b)[:, None])[0])


def wilcoxon_columns(d: np.ndarray) -> np.ndarray:
    """``_wilcoxon`` of every column of the differences ``d`` (blocks x pairs), the same numbers
    as one scipy call per column: the columns without zeros or tied |d| (scipy's exact test up to
    50 blocks for each) go to scipy in one vectorised call, which answers them identically; the
    others one by one (scipy picks the method per call from that column's zeros and ties)."""
    out = np.ones(d.shape[1])
    if not len(d):
        return np.full(d.shape[1], math.nan)
    nonzero = (d != 0).any(axis=0)
    srt = np.sort(np.abs(d), axis=0)
    clean = (d != 0).all(axis=0) & ((np.diff(srt, axis=0) != 0).all(axis=0) if len(d) > 1 else True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # few non-zero differences: scipy warns and still answers
        if clean.any():
            out[clean] = stats.wilcoxon(d[:, clean], axis=0).pvalue
        for k in np.flatnonzero(nonzero & ~clean):
            out[k] = stats.wilcoxon(d[:, k]).pvalue
    return out


def _pairs(names: list[str], oriented: np.ndarray, omnibus_rejects: bool, alpha: float) -> pd.DataFrame:
    """Every pair (in mean-rank order) with its Wilcoxon p, Holm-adjusted p and verdict."""
    i, j = np.triu_indices(len(names), 1)
    p = wilcoxon_columns(oriented[:, i] - oriented[:, j]) if len(i) else np.array([])
    pairs = pd.DataFrame({"a": [names[k] for k in i], "b": [names[k] for k in j], "p": p})
    pairs["p_holm"] = holm(pairs["p"].to_numpy()) if len(pairs) else []
    pairs["significant"] = bool(omnibus_rejects) & (pairs["p_holm"] < alpha)
    return pairs


def block_table(rows: pd.DataFrame, metric: str, blocks: list[str], method: str = "method") -> pd.DataFrame:
    """(blocks x methods) table of ``metric`` from the ok result rows; where a block holds several
    rows of one method (one cell's rows differ only in what the blocks leave out), their mean."""
    ok = rows[rows[metric].notna()] if metric in rows.columns else rows.iloc[0:0]
    if "status" in ok.columns:
        ok = ok[ok["status"] == "ok"]
    if ok.empty:
        return pd.DataFrame()
    return ok.pivot_table(index=blocks, columns=method, values=metric, aggfunc="mean").astype(float)


def rank_test_rows(rows, metric: str, blocks: list[str], *, method: str = "method", task_hib=None, alpha: float = ALPHA) -> RankTest:
    """``rank_test`` of result rows: one block per distinct ``blocks`` value (e.g. task and seed),
    one column per ``method`` value. The metric's direction is its declaration's
    (``aggregate.higher_is_better``), turned per block for a metric in task units when
    ``blocks`` holds ``task`` and ``task_hib`` gives that task's direction."""
    from nasbench_harness.report.aggregate import higher_is_better

    table = block_table(rows, metric, blocks, method)
    task_hib = task_hib or {}
    if "task" in blocks and len(table):
        tasks = table.index.get_level_values("task")
        direction = pd.Series([higher_is_better(metric, task_hib.get(t, True)) for t in tasks], index=table.index)
    else:
        direction = higher_is_better(metric)
    return rank_test(table, higher_is_better=direction, metric=metric, alpha=alpha)
