"""The budget curves written as SVG text (report/svgplot.py via plots.budget_curves)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from nasbench_harness.report import plots, svgplot

NS = {"s": "http://www.w3.org/2000/svg"}
COLOURS = {"a<b & c": "#1f77b4", "gcn+hr": "#ff7f0e", "rf@onehot": "#2ca02c"}


def agg(budgets=(0.001, 0.01, 0.1), n_space=15625, methods=tuple(COLOURS)) -> pd.DataFrame:
    rows = []
    for k, m in enumerate(methods):
        for b in budgets:
            rows.append({"budget": b, "method": m, "n_train": round(b * n_space), "kendall_tau.mean": 0.2 + 0.1 * k + b,
                         "kendall_tau.std": 0.02, "n@10.mean": 30 - 5 * k, "n@10.std": 3.0})
    return pd.DataFrame(rows)


def parse(svg: str) -> ET.Element:
    assert svg.startswith('<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(svg.split("\n", 1)[1])


def test_curves_are_valid_svg_with_a_line_band_and_legend_entry_per_method():
    svg = plots.budget_curves(agg(), ["kendall_tau", "n@10"], COLOURS)
    root = parse(svg)
    lines = [p for p in root.iterfind(".//s:path", NS) if p.get("stroke-width") == "1.6" and p.find("s:title", NS) is not None]
    assert [p.find("s:title", NS).text for p in lines] == list(COLOURS) * 2  # two panels, one line per method each
    assert {p.get("stroke") for p in lines} == set(COLOURS.values())
    bands = [p for p in root.iterfind(".//s:path", NS) if p.get("fill-opacity") == "0.15"]
    assert len(bands) == 6 and all(b.get("d").endswith("Z") for b in bands)
    texts = ["".join(t.itertext()) for t in root.iterfind(".//s:text", NS)]
    assert "Kendall τ ↑" in texts and any(t.startswith("N@10") and t.endswith("↓") for t in texts)
    assert "a<b & c" in texts  # escaped in the document, the name itself when read
    assert "a<b & c" not in svg and "a&lt;b &amp; c" in svg


def test_a_tick_at_each_budget_says_its_size_and_portion_and_values_map_upwards():
    root = parse(plots.budget_curves(agg(), ["kendall_tau"], COLOURS))
    ticks = ["|".join(t.itertext()) for t in root.iterfind(".//s:text", NS) if t.find("s:tspan", NS) is not None]
    assert ticks == ["16|(0.1%)", "156|(1%)", "1,562|(10%)"]
    line = next(p for p in root.iterfind(".//s:path", NS) if p.find("s:title", NS) is not None)
    xy = np.array([[float(v) for v in pt.split(",")] for pt in re.split("[ML]", line.get("d"))[1:]])
    assert (np.diff(xy[:, 0]) > 0).all()  # x grows with the budget
    assert (np.diff(xy[:, 1]) < 0).all()  # a higher tau is higher on the page (smaller y)
    # log x: distance along x is proportional to the log of the training size
    per_decade = np.diff(xy[:, 0]) / np.diff(np.log10([16, 156, 1562]))
    assert per_decade[0] == pytest.approx(per_decade[1], abs=0.2)


def test_y_ticks_are_matplotlibs_choice_and_labelled_with_enough_decimals():
    from matplotlib.ticker import MaxNLocator

    a = agg()
    root = parse(plots.budget_curves(a, ["kendall_tau"], COLOURS))
    labels = [t.text for t in root.iterfind(".//s:text", NS) if t.get("text-anchor") == "end"]
    lo, hi = svgplot._limits(float((a["kendall_tau.mean"] - 0.02).min()), float((a["kendall_tau.mean"] + 0.02).max()), False)
    want = [v for v in MaxNLocator(nbins=5).tick_values(lo, hi) if lo <= v <= hi]
    assert [float(x) for x in labels] == pytest.approx(want) and all(len(x.split(".")[1]) == 2 for x in labels)


def test_markers_are_left_out_past_the_limit_and_one_budget_draws_nothing():
    many = agg(budgets=tuple(np.geomspace(0.001, 0.5, 150)), methods=("gcn+hr", "rf@onehot", "x"))
    assert plots.budget_curves(many, ["kendall_tau"], COLOURS).count("<circle") == 3  # 450 points: the legend's only
    assert plots.budget_curves(agg(), ["kendall_tau"], COLOURS).count("<circle") == 9 + 3  # a marker per budget, and the legend's
    assert plots.budget_curves(agg(budgets=(0.01,)), ["kendall_tau"], COLOURS) is None


def test_the_same_curves_are_the_same_bytes():
    a = agg()
    assert plots.budget_curves(a, ["kendall_tau", "n@10"], COLOURS) == plots.budget_curves(a.copy(), ["kendall_tau", "n@10"], COLOURS)


def test_the_rank_chart_names_the_best_eight_and_greys_the_rest_with_rank_one_on_top():
    methods = [f"m{i:02d}" for i in range(12)]
    a = pd.DataFrame([{"budget": b, "method": m, "kendall_tau.mean": 0.9 - 0.05 * i + (0.07 if (b, i) == (0.1, 3) else 0)}
                      for b in (0.01, 0.1) for i, m in enumerate(methods)])
    ranks = plots.budget_ranks(a, "kendall_tau", higher_is_better=True)
    root = parse(plots.rank_plot(ranks, {m: f"#00{i:02d}00" for i, m in enumerate(methods)}))
    lines = {p.find("s:title", NS).text: p for p in root.iterfind(".//s:path", NS) if p.find("s:title", NS) is not None}
    assert sorted(lines) == methods
    assert {m for m, p in lines.items() if p.get("stroke") == "#d1d5db"} == set(methods[8:])  # the worst four by mean rank
    named = [t.text for t in root.iterfind(".//s:text", NS) if t.get("font-size") == "7"]
    assert sorted(named) == methods[:8]
    y = {m: [float(pt.split(",")[1]) for pt in re.split("[ML]", p.get("d"))[1:]] for m, p in lines.items()}
    assert y["m00"][0] < y["m01"][0] < y["m11"][0]  # rank 1 highest on the page
    assert y["m03"][1] < y["m02"][1]  # m03 overtakes m02 at the larger budget
    assert plots.rank_plot(ranks[ranks["budget"] == 0.01], {}) is None  # one budget: no chart


def test_tick_labels_write_every_tick_exactly_and_the_legend_stays_inside():
    assert [svgplot._tick_label(v, svgplot._decimals(np.array([0.35, 0.5, 0.65, 0.8]))) for v in (0.35, 0.5)] == ["0.35", "0.50"]
    assert svgplot._decimals(np.array([10.0, 20.0])) == 0 and svgplot._tick_label(-0.0, 2) == "0.00"
    long = {f"a surrogate with a long name {i}": c for i, c in enumerate(COLOURS.values())}
    root = parse(plots.budget_curves(agg(methods=tuple(long)), ["kendall_tau"], long))
    width = float(root.get("viewBox").split()[2])
    starts = [float(t.get("x")) for t in root.iterfind(".//s:text", NS) if t.get("text-anchor") == "start"]
    assert len(starts) == 3 and min(starts) > 0 and max(starts) + svgplot.CHAR_W * 8 * 30 <= width + 1
