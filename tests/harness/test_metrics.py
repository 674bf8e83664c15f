"""Every prediction metric against scipy or a brute-force reference definition."""

from __future__ import annotations

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


def brute_pred_order(y: np.ndarray, p: np.ndarray) -> list[int]:
    # prediction descending, ties: worse true value first (pessimistic)
    return sorted(range(len(y)), key=lambda i: (-p[i], y[i]))


def brute(y, p, T=(0.5, 10, 50), K=(1, 3, 10), k=(2, 5), top=(1, 4)):
    n = len(y)
    rank = brute_true_rank(y)
    order = brute_pred_order(y, p)
    out = {}
    for t in T:
        m = max(1, math.ceil(t * n / 100 - 1e-9))
        out[f"precision@{t:g}"] = sum(rank[i] <= m for i in order[:m]) / m
    for kk in K:
        out[f"n@{kk}"] = min(rank[i] for i in order[: min(kk, n)])
    for kk in k:
        m = min(kk, n)
        true_top = (
            set(sorted(range(n), key=lambda i: rank[i])[:m])
            if len(set(y)) == n
            else None
        )
        val = sum(rank[i] <= m for i in order[:m]) / m
        if (
            true_top is not None
        ):  # without ties this is literally |true top ∩ predicted top| / k
            assert val == len(true_top & set(order[:m])) / m
        out[f"recall@{kk}"] = val
    for kk in top:
        out[f"best_of_top{kk}"] = max(y[i] for i in order[: min(kk, n)])
    return out


arrays = st.integers(min_value=2, max_value=60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(-5, 5), min_size=n, max_size=n),
        st.lists(st.integers(-5, 5), min_size=n, max_size=n),
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
    for name, ref in (("kendall_tau", ref_tau), ("spearman", ref_rho)):
        if np.isnan(ref):
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


def test_constant_predictor_earns_nothing_even_on_sorted_rows():
    y = np.arange(100, dtype=float)[
        ::-1
    ]  # rows sorted best first: index tie-breaking would cheat
    m = prediction_metrics(y, np.zeros(100))
    assert m["n@1"] == 100.0 and m["precision@10"] == 0.0 and m["best_of_top10"] == 9.0
    assert np.isnan(m["kendall_tau"])


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
