"""Every prediction metric against scipy or a brute-force reference definition."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nasbench_harness.errors import HarnessError
from nasbench_harness.metrics import (
    metric_info,
    metric_names,
    prediction_metrics,
    top_count,
)
from scipy import stats


def brute_true_rank(y: np.ndarray) -> np.ndarray:
    return np.array([1 + int((y > v).sum()) for v in y])


def tie_orderings(p: np.ndarray):
    """Every predicted order (prediction descending) over all orderings of tied predictions."""
    groups = [np.flatnonzero(p == v).tolist() for v in sorted(set(p.tolist()), reverse=True)]
    for parts in itertools.product(*(itertools.permutations(g) for g in groups)):
        yield [i for part in parts for i in part]


def one_order(y, rank, order, T, K, k, top):
    n = len(y)
    out = {}
    for t in T:
        m = max(1, math.ceil(t * n / 100 - 1e-9))
        out[f"precision@{t:g}"] = sum(rank[i] <= m for i in order[:m]) / m
    for kk in K:
        out[f"n@{kk}"] = min(rank[i] for i in order[: min(kk, n)])
    for kk in k:
        m = min(kk, n)
        val = sum(rank[i] <= m for i in order[:m]) / m
        if len(set(y)) == n:  # without ties this is literally |true top ∩ predicted top| / k
            true_top = set(sorted(range(n), key=lambda i: rank[i])[:m])
            assert val == len(true_top & set(order[:m])) / m
        out[f"recall@{kk}"] = val
    for kk in top:
        out[f"best_of_top{kk}"] = max(y[i] for i in order[: min(kk, n)])
    return out


def brute(y, p, T=(0.5, 10, 50), K=(1, 3, 10), k=(2, 5), top=(1, 4)):
    """Mean of every top-K metric over all orderings of tied predictions, by enumeration."""
    rank = brute_true_rank(y)
    runs = [one_order(y, rank, order, T, K, k, top) for order in tie_orderings(p)]
    return {name: float(np.mean([r[name] for r in runs])) for name in runs[0]}


# Few distinct values force ties in both arrays; n <= 8 keeps the enumeration of tied
# orderings small (at most 8! = 40,320 orders, when the prediction is constant).
arrays = st.integers(min_value=2, max_value=8).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(-3, 3), min_size=n, max_size=n),
        st.lists(st.integers(-2, 2), min_size=n, max_size=n),
    )
)


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")
@settings(max_examples=150, deadline=None)
@given(arrays)
def test_against_scipy_and_brute_force_with_ties(pair):
    y = np.array(pair[0], dtype=float)
    p = np.array(pair[1], dtype=float)
    m = prediction_metrics(
        y, p, precision_T=(0.5, 10, 50), n_K=(1, 3, 10), recall_k=(2, 5), top_K=(1, 4)
    )
    ref_tau = stats.kendalltau(y, p).statistic
    ref_rho = stats.spearmanr(y, p).statistic
    constant_pred = len(set(p.tolist())) == 1
    for name, ref in (("kendall_tau", ref_tau), ("spearman", ref_rho)):
        if constant_pred:
            assert m[name] == 0.0  # ranks nothing: 0, never a NaN a mean would skip
        elif np.isnan(ref):
            assert np.isnan(m[name])
        else:
            assert m[name] == pytest.approx(ref, abs=1e-9)
    assert m["mae"] == pytest.approx(np.mean(np.abs(y - p)))
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((y - p) ** 2)))
    for name, ref in brute(y, p).items():
        assert m[name] == pytest.approx(ref), name


def test_continuous_values_match_scipy():
    rng = np.random.default_rng(3)
    y = rng.normal(size=5000)
    p = y + rng.normal(size=5000)
    m = prediction_metrics(y, p)
    assert m["kendall_tau"] == pytest.approx(
        stats.kendalltau(y, p).statistic, abs=1e-12
    )
    assert m["spearman"] == pytest.approx(stats.spearmanr(y, p).statistic, abs=1e-12)
    assert m["pearson"] == pytest.approx(stats.pearsonr(y, p).statistic, abs=1e-12)


def test_perfect_and_reversed_predictions():
    y = np.arange(1000, dtype=float)
    perfect = prediction_metrics(y, 2 * y + 1)
    assert perfect["kendall_tau"] == pytest.approx(1.0)
    assert (
        perfect["precision@0.1"] == 1.0
        and perfect["n@1"] == 1.0
        and perfect["recall@100"] == 1.0
    )
    assert perfect["best_of_top10"] == 999.0
    worst = prediction_metrics(y, -y)
    assert worst["kendall_tau"] == pytest.approx(-1.0)
    assert worst["n@10"] == 991.0 and worst["precision@50"] == 0.0


def test_constant_predictor_earns_chance_and_zero_correlation():
    y = np.arange(100, dtype=float)[::-1]  # rows sorted best first: index tie-breaking would cheat
    m = prediction_metrics(y, np.zeros(100), top_K=(1,))
    # A random pick among all 100: E[best rank of 1] = 50.5, E[share of the true top 10] = 0.1.
    assert m["n@1"] == pytest.approx(50.5) and m["precision@10"] == pytest.approx(0.1)
    assert m["best_of_top1"] == pytest.approx(49.5)
    assert m["kendall_tau"] == 0.0 and m["spearman"] == 0.0 and m["pearson"] == 0.0


def test_large_tie_group_matches_its_closed_form():
    # One untied leader, then 10,000 tied: E[min rank of j random draws from ranks 2..10001].
    y = np.arange(10_001, dtype=float)[::-1]
    p = np.r_[1.0, np.zeros(10_000)]
    m = prediction_metrics(y, p, n_K=(1, 5), precision_T=(1,), recall_k=(10,), top_K=(5,))
    assert m["n@1"] == 1.0 and m["n@5"] == pytest.approx(1.0)
    # 1% = 101 slots: the leader plus 100 of the 10,000 tied, of which 100 are in the true top 101.
    assert m["precision@1"] == pytest.approx((1 + 100 * 100 / 10_000) / 101)
    assert m["recall@10"] == pytest.approx((1 + 9 * 9 / 10_000) / 10)
    c, j = 10_000, 4  # best_of_top5: max(y[0], ...) = y[0]
    assert m["best_of_top5"] == pytest.approx(10_000.0)
    p2 = np.zeros(10_001)
    expected_min = sum((i + 1) * math.comb(c + 1 - (i + 1), j - 1) for i in range(c + 1)) / math.comb(c + 1, j)
    assert prediction_metrics(y, p2, n_K=(4,))["n@4"] == pytest.approx(expected_min, rel=1e-9)


def test_sign_restores_original_units_for_lower_is_better():
    loss = np.array([0.3, 0.1, 0.2, 0.5])  # lower is better: the harness passes -loss
    m = prediction_metrics(-loss, -loss, sign=-1.0, top_K=(1, 2))
    assert m["best_of_top1"] == pytest.approx(0.1)
    assert (
        metric_info("best_of_top1", metric_higher_is_better=False).higher_is_better
        is False
    )


def test_precision_ceil_rule():
    assert top_count(0.1, 15625) == 16  # 15.625 -> 16
    assert top_count(1, 15600) == 156  # exact products are not bumped up by float error
    assert top_count(0.01, 10) == 1  # at least one architecture


def test_k_larger_than_the_set_is_clipped():
    m = prediction_metrics(
        [1.0, 2.0, 3.0], [1.0, 3.0, 2.0], n_K=(100,), recall_k=(100,), top_K=(100,)
    )
    assert m["n@100"] == 1.0 and m["recall@100"] == 1.0 and m["best_of_top100"] == 3.0


def test_names_directions_and_descriptions():
    m = prediction_metrics(np.arange(300.0), np.arange(300.0))
    assert list(m) == metric_names()
    assert all(isinstance(v, float) for v in m.values())
    for name in m:
        info = metric_info(name)
        assert info.description
    assert (
        not metric_info("n@10").higher_is_better
        and metric_info("precision@0.5").higher_is_better
    )
    assert not metric_info("rmse").higher_is_better


@pytest.mark.parametrize(
    "y,p,kw",
    [
        ([1.0, 2.0], [1.0], {}),
        ([1.0], [1.0], {}),
        ([1.0, 2.0], [np.nan, 1.0], {}),
        ([1.0, 2.0], [1.0, 2.0], {"precision_T": (0,)}),
        ([1.0, 2.0], [1.0, 2.0], {"n_K": (0,)}),
    ],
)
def test_bad_input_is_one_clear_sentence(y, p, kw):
    with pytest.raises(HarnessError) as err:
        prediction_metrics(y, p, **kw)
    assert str(err.value).endswith(".")


def test_unknown_metric_name():
    with pytest.raises(HarnessError, match="Unknown metric"):
        metric_info("accuracy")
