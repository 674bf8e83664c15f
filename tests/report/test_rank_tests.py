"""Friedman and Wilcoxon-Holm rank tests, critical-difference diagrams and the boards' "≈ best" marks."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from nasbench_harness.report import build_report, plots, stats
from nasbench_harness.report.context import ReportContext
from report_rows import make_rows, write_store
from scipy import stats as sps

# Five blocks, three methods; C is best in every block (higher is better), A and B tie in block 0.
SMALL = pd.DataFrame(
    {"A": [0.5, 0.2, 0.3, 0.1, 0.4], "B": [0.5, 0.3, 0.1, 0.2, 0.5], "C": [0.9, 0.8, 0.7, 0.9, 0.6]}
)


def test_friedman_statistic_and_p_are_scipys():
    test = stats.rank_test(SMALL, higher_is_better=True, metric="kendall_tau")
    direct = sps.friedmanchisquare(SMALL["A"], SMALL["B"], SMALL["C"])
    assert test.statistic == pytest.approx(direct.statistic, rel=1e-12)
    assert test.p == pytest.approx(direct.pvalue, rel=1e-12)
    assert test.n_blocks == 5 and test.dropped_blocks == 0 and test.dropped_methods == ()


def test_mean_ranks_average_ties_and_follow_the_direction():
    test = stats.rank_test(SMALL, higher_is_better=True)
    # ranks per block (1 = best): A 2.5,3,2,3,3 ; B 2.5,2,3,2,2 ; C 1 everywhere
    assert test.methods == ("C", "B", "A")
    assert test.mean_ranks == pytest.approx((1.0, 11.5 / 5, 13.5 / 5))
    lower = stats.rank_test(SMALL, higher_is_better=False)  # e.g. an error: the smallest value is best
    assert lower.methods == ("A", "B", "C") and lower.mean_ranks[-1] == 3.0
    # a metric in task units turns with each block's task
    per_block = stats.rank_test(SMALL, higher_is_better=pd.Series([True, True, False, False, False]))
    assert dict(zip(per_block.methods, per_block.mean_ranks, strict=True))["C"] == pytest.approx((1 + 1 + 3 + 3 + 3) / 5)


def test_holm_adjusts_in_step_down_order():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> 0.06 (kept monotone); NaN not counted
    adjusted = stats.holm([0.01, 0.04, 0.03, np.nan, 0.005])
    assert adjusted[[4, 0, 2, 1]] == pytest.approx([0.02, 0.03, 0.06, 0.06])
    assert np.isnan(adjusted[3])
    assert stats.holm([0.6, 0.4]) == pytest.approx([0.8, 0.8])  # 0.6 * 1 would fall below 0.4 * 2: kept at 0.8
    assert stats.holm([0.7, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_posthoc_pairs_are_wilcoxon_holm_and_read_only_when_friedman_rejects():
    rng = np.random.default_rng(1)
    table = pd.DataFrame(rng.normal(size=(30, 3)) + np.array([0.0, 0.1, 1.5]), columns=["A", "B", "C"])
    test = stats.rank_test(table, higher_is_better=True)
    assert test.rejects
    raw = {frozenset(p): sps.wilcoxon(table[p[0]], table[p[1]]).pvalue for p in (("A", "B"), ("A", "C"), ("B", "C"))}
    for row in test.pairs.itertuples():
        assert row.p == pytest.approx(raw[frozenset((row.a, row.b))], rel=1e-12)
    assert list(test.pairs["p_holm"]) == pytest.approx(list(stats.holm(test.pairs["p"])))
    assert test.differ("C", "A") and test.differ("C", "B") and not test.differ("A", "B")
    flat = pd.DataFrame(rng.normal(size=(30, 3)), columns=["A", "B", "C"])
    quiet = stats.rank_test(flat, higher_is_better=True)
    assert not quiet.rejects and not quiet.pairs["significant"].any() and quiet.cliques() == [quiet.methods]


def _constructed(separated) -> stats.RankTest:
    return stats.RankTest("m", ("A", "B", "C"), (1.2, 2.0, 2.8), 10, 0, (), 9.0, 0.01, pd.DataFrame(),
                          separated=frozenset(frozenset(p) for p in separated))


@pytest.mark.parametrize("n", [1, 2, 5, 20, 50, 51, 80])
def test_the_vectorised_wilcoxon_gives_scipys_p_of_each_pair_with_zeros_and_ties(n):
    # scipy picks exact or normal approximation per call from the column's zeros and ties (and n);
    # the vectorised path must give the very same numbers, column by column.
    import warnings

    x = np.round(np.random.default_rng(n).normal(size=(n, 9)), 3)
    x[:, 3] = x[:, 2]  # every difference zero
    x[: min(2, n), 5] = x[: min(2, n), 4]  # some zeros
    x[:, 7] = np.round(x[:, 7], 1)  # ties in |d|
    i, j = np.triu_indices(9, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = [1.0 if not np.any(x[:, a] != x[:, b]) else sps.wilcoxon(x[:, a], x[:, b]).pvalue for a, b in zip(i, j, strict=True)]
    assert np.array_equal(stats.wilcoxon_columns(x[:, i] - x[:, j]), np.array(want))


def test_cliques_when_a_and_c_differ_but_b_is_close_to_both():
    test = _constructed([("A", "C")])
    assert test.cliques() == [("A", "B"), ("B", "C")]
    assert test.near_best() == {"A", "B"}
    assert _constructed([]).cliques() == [("A", "B", "C")]
    assert _constructed([("A", "B"), ("A", "C"), ("B", "C")]).cliques() == []  # single methods are no clique
    assert _constructed([("A", "B"), ("A", "C")]).cliques() == [("B", "C")]


def test_an_incomplete_grid_drops_gappy_blocks_and_methods_run_on_little_of_it():
    rng = np.random.default_rng(2)
    table = pd.DataFrame(rng.normal(size=(20, 4)), columns=["A", "B", "C", "D"])
    table.loc[3, "B"] = np.nan  # one gap: costs one block, B stays
    table.loc[4:, "D"] = np.nan  # D ran on 4 of 20 blocks: leaving it out keeps more values
    test = stats.rank_test(table, higher_is_better=True, metric="x")
    assert set(test.methods) == {"A", "B", "C"} and test.dropped_methods == ("D",)
    assert test.n_blocks == 19 and test.dropped_blocks == 1
    full = table[["A", "B", "C"]].drop(index=3)
    assert test.statistic == pytest.approx(sps.friedmanchisquare(*full.T.to_numpy()).statistic)
    text = test.describe("X")
    assert "19 paired blocks" in text and "1 incomplete block(s) left out" in text and "D" in text
    # two grids that share no block, every method with as many values: the larger grid is tested
    apart = pd.DataFrame(rng.normal(size=(20, 5)), columns=["A", "B", "C", "D", "E"])
    apart.loc[10:, ["A", "B", "C"]] = np.nan
    apart.loc[:9, ["D", "E"]] = np.nan
    split = stats.rank_test(apart, higher_is_better=True)
    assert set(split.methods) == {"A", "B", "C"} and split.dropped_methods == ("D", "E") and split.n_blocks == 10


def test_rows_become_blocks_and_task_units_turn_with_the_task():
    rows = pd.DataFrame(
        [{"task": t, "seed": s, "method": m, "best_eval": v + s * 0.01}
         for t, vals in (("acc", {"A": 3, "B": 2, "C": 1}), ("err", {"A": 3, "B": 2, "C": 1}))
         for s in range(4) for m, v in vals.items()]
    )
    test = stats.rank_test_rows(rows, "best_eval", ["task", "seed"], task_hib={"acc": True, "err": False})
    assert test.n_blocks == 8 and test.mean_ranks == pytest.approx((2.0, 2.0, 2.0))  # A best on acc, C best on err


def test_cd_diagram_renders_forty_methods_with_every_label():
    rng = np.random.default_rng(3)
    names = [f"method-{i:02d}" for i in range(40)]
    table = pd.DataFrame(rng.normal(size=(62, 40)) + np.linspace(0, 4, 40), columns=names)
    test = stats.rank_test(table, higher_is_better=True, metric="kendall_tau")
    fig = plots.cd_diagram(test, plots.palette(names))
    html = ReportContext(pd.DataFrame()).figure(fig, "cd")
    import base64

    svg = base64.b64decode(re.search(r"base64,([^\"]+)", html).group(1)).decode()
    assert all(n in svg for n in names) and len(test.cliques()) >= 1
    height = fig.get_size_inches()[1]
    assert height > 20 * 0.19  # one label row per method on each side: it grows with the methods
    assert plots.cd_diagram(stats.rank_test(table[names[:1]], higher_is_better=True)) is None


def test_leaderboards_mark_the_methods_not_significantly_worse_than_the_best(tmp_path):
    rows = make_rows(methods=["good", "close", "bad"], tasks=["nb201/cifar10"], budgets=[0.01, 0.1], seeds=list(range(12)), failed=0)
    rng = np.random.default_rng(4)
    rows["kendall_tau"] = rows["method"].map({"good": 0.8, "close": 0.8, "bad": 0.3}) + rng.normal(0, 0.02, len(rows))
    index = build_report(write_store(tmp_path / "r", rows), tmp_path / "o", jobs=1)
    board = (index.parent / "boards" / "nb201-cifar10.html").read_text()
    assert board.count(">vs best</th>") == 2  # one per budget
    marks = dict(re.findall(r"<td>(good|close|bad)</td><td>(best|≈ best|worse)</td>", board))
    assert marks["bad"] == "worse" and {marks["good"], marks["close"]} == {"best", "≈ best"}
    assert "over 12 common seeds" in board and "Wilcoxon-Holm" in board


def test_leaderboards_with_five_seeds_say_no_test_can_separate_methods(tmp_path):
    """At 5 seeds the smallest two-sided signed-rank p is 0.0625: marking every method "≈ best"
    would read as a finding; the board says why it marks none instead."""
    rows = make_rows(methods=["good", "bad"], tasks=["nb201/cifar10"], budgets=[0.01], seeds=list(range(5)), failed=0)
    rows["kendall_tau"] = rows["method"].map({"good": 0.8, "bad": 0.3})
    index = build_report(write_store(tmp_path / "r", rows), tmp_path / "o", jobs=1)
    board = (index.parent / "boards" / "nb201-cifar10.html").read_text()
    assert ">vs best</th>" not in board and "≈ best" not in board
    assert "vs best not marked: over 5 common seeds no Wilcoxon signed-rank test can reach p &lt; 0.05" in board
    assert stats.rank_test(pd.DataFrame({"a": range(6), "b": range(1, 7)}), higher_is_better=True).can_separate


def test_overall_ranking_and_study_sections_show_their_diagrams(tmp_path):
    rows = make_rows(methods=["a", "b", "c"], seeds=list(range(6)), failed=0)
    other = make_rows(methods=["x", "y"], tasks=["nb201/cifar10"], budgets=[0.5], seeds=list(range(6)), failed=0)
    index = build_report(write_store(tmp_path / "r", pd.concat([rows, other], ignore_index=True)), tmp_path / "o", jobs=1)
    html = index.read_text()
    # x and y ran on another budget than a, b and c: the first diagram leaves them out, the second compares them
    assert html.count("Critical-difference diagram of the ") == 2
    assert "2 method(s) with too few blocks left out: x, y" in html
    assert "36 paired blocks" in html and "6 paired blocks" in html


def test_the_loss_study_section_ranks_its_losses_on_the_gcn():
    from nasbench_harness.studies.losses import section
    from test_losses_section import study

    df = pd.DataFrame(study())
    html = section.render(df, ReportContext(df))
    assert "Losses ranked across tasks, portions and seeds" in html
    assert f"Kendall τ: {len(section.STUDY_LOSSES)} methods over" in html


@pytest.mark.parametrize(
    ("fixtures", "section", "heading"),
    [
        ("test_section_search", "nasbench_harness.studies.losses.search_section", "Methods ranked by final regret"),
        ("test_section_convnp", "nasbench_harness.studies.convnp.section", "Predictors ranked by Kendall tau"),
        ("test_section_grabnas", "nasbench_harness.studies.grabnas.section", "Methods ranked by the best architecture found"),
    ],
)
def test_every_study_section_shows_its_rank_test(fixtures, section, heading):
    import importlib

    made = importlib.import_module(fixtures)
    df = made.full_rows() if hasattr(made, "full_rows") else made.fake_results()
    html = importlib.import_module(section).render(df, ReportContext(df))
    assert heading in html and "paired blocks" in html and "Critical-difference diagram of the " in html
