"""Prediction-quality metrics of the ``predict`` protocol (definitions: docs/METRICS.md).

``prediction_metrics(y_true, y_pred)`` takes the eval metric and the predicted scores, both
oriented so that higher is better, and returns a flat ``{name: float}`` dict. Everything is
vectorised around two argsorts (one per array; a third only when predictions tie),
so all metrics on the 423,624 NB101 cells take tens of milliseconds.

Tie rules (deterministic, never dependent on row order):
- the true rank of an architecture is its competition rank, ``1 + #{strictly better}``;
- top-K metrics are the expected value over all orderings of tied predictions (exact
  closed forms; only the tie group cut by K is uncertain), so an encoding that maps
  distinct architectures to one vector is scored as a random pick among them;
- a constant prediction ranks nothing: its correlations are 0, not NaN, so a collapsed
  method is never dropped from a mean over seeds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from nasbench_harness.errors import HarnessError
from scipy.special import gammaln

DEFAULT_PRECISION_T: tuple[float, ...] = (0.1, 0.5, 1, 5, 10, 20, 50)
DEFAULT_N_K: tuple[int, ...] = (1, 5, 10, 20, 50, 100)
DEFAULT_RECALL_K: tuple[int, ...] = (10, 30, 50, 100)
DEFAULT_TOP_K: tuple[int, ...] = (10, 30, 100)


class MetricInputError(HarnessError):
    """Arrays handed to the metrics are unusable (shape mismatch, NaN, too short)."""


@dataclass(frozen=True)
class MetricDefinition:
    """A prediction metric's declaration (the report adds labels and groups: report.aggregate.MetricInfo)."""

    name: str
    higher_is_better: bool
    description: str


# Families: (name pattern, higher is better, description template; {p} = the parameter).
_FAMILIES: tuple[tuple[str, bool, str], ...] = (
    (
        r"kendall_tau",
        True,
        "Kendall rank correlation (tau-b, ties corrected) between predicted and true scores.",
    ),
    (r"spearman", True, "Spearman rank correlation (Pearson of average ranks)."),
    (r"pearson", True, "Pearson linear correlation between predicted and true scores."),
    (
        r"mae",
        False,
        "Mean absolute error between predicted and true scores (eval-metric units).",
    ),
    (
        r"rmse",
        False,
        "Root mean squared error between predicted and true scores (eval-metric units).",
    ),
    (
        r"precision@(?P<p>[0-9.]+)",
        True,
        "Share of the true top-{p}% among the predicted top-{p}% of the evaluation set.",
    ),
    (
        r"n@(?P<p>[0-9]+)",
        False,
        "Best true rank (1 = best) among the top-{p} predicted architectures.",
    ),
    (
        r"recall@(?P<p>[0-9]+)",
        True,
        "Share of the true top-{p} found among the predicted top-{p}.",
    ),
    (
        r"best_of_top(?P<p>[0-9]+)",
        True,
        "Eval metric of the best of the top-{p} predicted architectures (original units).",
    ),
)


def metric_info(name: str, *, metric_higher_is_better: bool = True) -> MetricDefinition:
    """Direction and one-line description of a metric column such as ``precision@0.5``.

    ``best_of_top<K>`` is in the eval metric's own units, so its direction follows
    ``metric_higher_is_better`` (False for e.g. a loss or an error rate).
    """
    for pattern, higher, text in _FAMILIES:
        match = re.fullmatch(pattern, name)
        if match:
            if name.startswith("best_of_top"):
                higher = metric_higher_is_better
            return MetricDefinition(
                name, higher, text.format(p=match.groupdict().get("p", ""))
            )
    raise MetricInputError(
        f"Unknown metric '{name}'; expected kendall_tau, spearman, pearson, mae, rmse, "
        f"precision@<T>, n@<K>, recall@<k> or best_of_top<K>."
    )


def higher_is_better(name: str) -> bool:
    return metric_info(name).higher_is_better


def _fmt(value: float) -> str:
    """``0.5 -> '0.5'``, ``1.0 -> '1'``: parameters appear in column names as typed."""
    return f"{value:g}"


def metric_names(
    precision_T: Sequence[float] = DEFAULT_PRECISION_T,
    n_K: Sequence[int] = DEFAULT_N_K,
    recall_k: Sequence[int] = DEFAULT_RECALL_K,
    top_K: Sequence[int] = DEFAULT_TOP_K,
) -> list[str]:
    """Column names ``prediction_metrics`` returns for these parameters, in order."""
    return (
        ["kendall_tau", "spearman", "pearson", "mae", "rmse"]
        + [f"precision@{_fmt(t)}" for t in precision_T]
        + [f"n@{int(k)}" for k in n_K]
        + [f"recall@{int(k)}" for k in recall_k]
        + [f"best_of_top{int(k)}" for k in top_K]
    )


def top_count(T: float, n: int) -> int:
    """Architectures in the top-T% of ``n``: ``max(1, ceil(T * n / 100))``.

    A tiny tolerance keeps exact products (T=1, n=15,600 -> 156) from rounding up to 157.
    """
    return max(1, min(n, math.ceil(T * n / 100.0 - 1e-9)))


# -- ranks ------------------------------------------------------------------------------
@dataclass
class _Ranks:
    dense: np.ndarray  # (n,) intp, 1-based dense rank, ascending values
    average: np.ndarray  # (n,) float64, average rank (ties share the mean position)
    better: np.ndarray  # (n,) int64, number of strictly larger values
    n_groups: int
    has_ties: bool
    order: np.ndarray  # (n,) an ascending argsort


def _ranks(values: np.ndarray) -> _Ranks:
    """All rank flavours of one array from a single argsort."""
    n = len(values)
    order = np.argsort(
        values
    )  # SIMD quicksort; rank flavours never depend on order within ties
    sorted_vals = values[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(sorted_vals[1:], sorted_vals[:-1], out=new[1:])
    group = np.cumsum(new, dtype=np.intp)  # 1-based group of each sorted position
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n)  # exclusive end of each group
    n_groups = len(starts)
    dense = np.empty(n, dtype=np.intp)
    dense[order] = group
    g0 = group - 1
    average = np.empty(n, dtype=np.float64)
    average[order] = ((starts + ends + 1) / 2.0)[
        g0
    ]  # mean of 1-based positions start+1..end
    better = np.empty(n, dtype=np.int64)
    better[order] = (n - ends)[g0]
    return _Ranks(dense, average, better, n_groups, n_groups < n, order)


def _pairs(counts: np.ndarray) -> int:
    counts = counts[counts > 1].astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum, not BLAS: a threaded BLAS dot costs milliseconds of thread wake-up on a busy machine.
    return float(np.einsum("i,i->", a, b))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = math.sqrt(_dot(a, a) * _dot(b, b))
    return _dot(a, b) / denom if denom > 0 else float("nan")


def _discordant(x_sorted: np.ndarray, y: np.ndarray) -> int:
    """Discordant pairs of a sequence sorted by x (ties in x ordered by y): O(n log n)."""
    try:
        from scipy.stats._stats import (
            _kendall_dis,  # Cython merge count used by scipy itself
        )
    except (
        ImportError
    ):  # pragma: no cover - private API moved; count with scipy's public code
        return -1
    return int(
        _kendall_dis(
            np.ascontiguousarray(x_sorted, dtype=np.intp),
            np.ascontiguousarray(y, dtype=np.intp),
        )
    )


def _kendall_tau_b(t: _Ranks, p: _Ranks, order: np.ndarray, y_true, y_pred) -> float:
    """tau-b of (pred, true) from the predicted order (pred desc, true asc)."""
    n = len(order)
    total = n * (n - 1) // 2
    x_seq = (p.n_groups + 1) - p.dense[
        order
    ]  # dense ranks of -pred: non-decreasing along order
    y_seq = t.dense[order]
    dis = _discordant(x_seq, y_seq)
    if dis < 0:  # pragma: no cover
        from scipy.stats import kendalltau

        return float(kendalltau(y_true, y_pred).statistic)
    x_tie = _pairs(np.bincount(p.dense))
    y_tie = _pairs(np.bincount(t.dense))
    if x_tie == total or y_tie == total:
        return float("nan")
    run_break = np.empty(n + 1, dtype=bool)
    run_break[0] = run_break[n] = True
    run_break[1:n] = (x_seq[1:] != x_seq[:-1]) | (y_seq[1:] != y_seq[:-1])
    joint_tie = _pairs(np.diff(np.flatnonzero(run_break)))
    con_minus_dis = total - x_tie - y_tie + joint_tie - 2 * dis
    tau = con_minus_dis / math.sqrt(total - x_tie) / math.sqrt(total - y_tie)
    return -float(min(1.0, max(-1.0, tau)))  # computed for (-pred, true): flip the sign


def _check(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.ndim != 1 or y_pred.shape != y_true.shape:
        raise MetricInputError(
            f"Metrics need two 1-D arrays of equal length, got shapes {y_true.shape} and {y_pred.shape}; "
            f"pass one predicted score per evaluated architecture."
        )
    if len(y_true) < 2:
        raise MetricInputError(
            "Metrics need at least 2 evaluated architectures; enlarge the evaluation set."
        )
    if not np.isfinite(y_pred).all():
        bad = int((~np.isfinite(y_pred)).sum())
        raise MetricInputError(
            f"The predictor returned {bad} non-finite scores (NaN or inf); every score must be finite."
        )
    if not np.isfinite(y_true).all():
        raise MetricInputError(
            "The eval metric has non-finite values; drop those architectures from the task first."
        )
    return y_true, y_pred


def prediction_metrics(
    y_true,
    y_pred,
    *,
    sign: float = 1.0,
    precision_T: Sequence[float] = DEFAULT_PRECISION_T,
    n_K: Sequence[int] = DEFAULT_N_K,
    recall_k: Sequence[int] = DEFAULT_RECALL_K,
    top_K: Sequence[int] = DEFAULT_TOP_K,
) -> dict[str, float]:
    """Every metric of docs/METRICS.md for one evaluation set.

    ``y_true`` (eval metric) and ``y_pred`` are oriented higher-is-better; ``sign`` (+1 or
    -1, the task's) turns ``best_of_top<K>`` back into the eval metric's original units.
    K, k and top-T% counts larger than the evaluation set are clipped to its size.
    """
    y_true, y_pred = _check(y_true, y_pred)
    n = len(y_true)
    if any(not 0 < float(T) <= 100 for T in precision_T):
        raise MetricInputError(
            f"Precision@T takes T in (0, 100] (a percentage), got {list(precision_T)}."
        )
    if any(int(k) < 1 for k in (*n_K, *recall_k, *top_K)):
        raise MetricInputError(
            "N@K, Recall@k and best_of_top<K> take K >= 1; fix the metric parameters."
        )
    t = _ranks(y_true)
    p = _ranks(y_pred)
    # Prediction descending; among equal predictions true value ascending, the order the
    # tau-b merge count expects. Top-K metrics below average over the order within a tie.
    if p.has_ties:
        key = (p.n_groups - p.dense).astype(np.int64) * (t.n_groups + 1) + t.dense
        order = np.argsort(key)
    else:
        order = p.order[::-1]  # no ties: the descending order is the ascending one reversed
    top = _TopK(order, p, t.better[order] + 1, y_true[order])

    constant = p.n_groups == 1  # a constant prediction ranks nothing: correlations are 0
    diff = y_pred - y_true
    out: dict[str, float] = {
        "kendall_tau": 0.0 if constant else _kendall_tau_b(t, p, order, y_true, y_pred),
        "spearman": 0.0 if constant else _pearson(t.average, p.average),
        "pearson": 0.0 if constant else _pearson(y_true, y_pred),
        "mae": float(np.abs(diff).mean()),
        "rmse": float(math.sqrt(_dot(diff, diff) / n)),
    }
    for T in precision_T:
        m = top_count(float(T), n)
        out[f"precision@{_fmt(float(T))}"] = top.relevant(m) / m
    for K in n_K:
        out[f"n@{int(K)}"] = top.expected_extreme(min(int(K), n), best_rank=True)
    for k in recall_k:
        m = min(int(k), n)
        out[f"recall@{int(k)}"] = top.relevant(m) / m
    for K in top_K:
        out[f"best_of_top{int(K)}"] = float(sign * top.expected_extreme(min(int(K), n), best_rank=False))
    return out


class _TopK:
    """Expected top-K quantities over all orderings of tied predictions (docs/METRICS.md).

    ``order`` lists the architectures by prediction descending, ties by true value
    ascending; ``rank``/``value`` are their true competition ranks and true values in that
    order. Groups of equal predictions occupy ``[start, end)``. Only the group cut by K is
    random: a uniformly random j-subset of its c members is taken.
    """

    def __init__(self, order: np.ndarray, p: _Ranks, rank: np.ndarray, value: np.ndarray) -> None:
        n = len(order)
        group = (p.n_groups - p.dense[order]).astype(np.intp)  # 0-based, non-decreasing
        counts = np.bincount(group, minlength=p.n_groups)
        self.end = np.cumsum(counts)  # exclusive end of each group
        self.start = self.end - counts
        self.group = group
        self.rank = rank
        self.value = value
        self.n = n

    def _cut(self, K: int) -> tuple[int, int, int]:
        """(start, end, j): the group holding position K-1 and how many of it are taken."""
        g = self.group[K - 1]
        s, e = int(self.start[g]), int(self.end[g])
        return s, e, K - s

    def relevant(self, m: int) -> float:
        """E #{architectures with true rank <= m among the top m}: hypergeometric at the cut."""
        s, e, j = self._cut(m)
        rel = self.rank[:e] <= m
        return float(np.count_nonzero(rel[:s]) + np.count_nonzero(rel[s:e]) * j / (e - s))

    def expected_extreme(self, K: int, *, best_rank: bool) -> float:
        """E of the best true rank (``best_rank``) or best true value among the top K."""
        s, e, j = self._cut(K)
        c = e - s
        if best_rank:  # tie group is in true-value ascending order: reverse = rank ascending
            members = self.rank[s:e][::-1].astype(np.float64)
            if s:
                members = np.minimum(members, float(self.rank[:s].min()))
        else:
            members = self.value[s:e][::-1]
            if s:
                members = np.maximum(members, float(self.value[:s].max()))
        if j == c:
            return float(members[0])
        # members sorted best first; P(the best taken is the i-th) = C(c-i, j-1) / C(c, j).
        i = np.arange(1, c - j + 2)
        logp = (gammaln(c - i + 1) - gammaln(c - i - j + 2) - gammaln(j)
                + gammaln(j + 1) + gammaln(c - j + 1) - gammaln(c + 1))
        prob = np.exp(logp)
        return float(np.einsum("i,i->", prob / prob.sum(), members[: c - j + 1]))  # sum is 1 up to rounding
