"""Statistics the report needs over seeds: confidence intervals, paired comparisons, censored counts.

Everything delegates to scipy; this module only fixes the conventions the report states:

- ``mean_ci``: mean and a two-sided Student-t confidence interval over seeds (ddof=1).
- ``paired``: the paired t-test of ``a - b`` over seeds that both sides ran (scipy's
  ``ttest_rel`` and its ``confidence_interval``), with the Wilcoxon signed-rank p-value beside
  it as a distribution-free cross-check. A difference is *resolved* only when its interval
  excludes zero; otherwise it is "not resolved", never a win.
- ``censored_median``: Kaplan-Meier median of a count observed up to a cap (scipy's ``ecdf``
  on right-censored data); None when fewer than half the runs reached the event.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
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
        return f"mean diff {self.diff:+.3f}{u}, 95% CI {ci}, paired t p={_p(self.p_t)}, Wilcoxon p={_p(self.p_wilcoxon)}, n={self.n}"


def _p(p: float) -> str:
    return "n/a" if not math.isfinite(p) else f"{p:.2g}"


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
