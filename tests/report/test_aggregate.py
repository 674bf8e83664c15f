"""Aggregation: mean ± std over seeds, metric directions, ranks, comparisons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from nasbench_harness.errors import ResultStoreError
from nasbench_harness.report import aggregate as A


def test_aggregate_matches_numpy(rows):
    agg = A.aggregate(rows, ["task", "budget", "method"], ["kendall_tau", "n@10"])
    ok = rows[rows["status"] == "ok"]
    assert len(agg) == ok.groupby(["task", "budget", "method"]).ngroups
    for rec in agg.itertuples(index=False):
        sel = ok[(ok["task"] == rec.task) & (ok["budget"] == rec.budget) & (ok["method"] == rec.method)]
        vals = sel["kendall_tau"].to_numpy()
        assert rec.n == len(vals)
        row = agg[(agg["task"] == rec.task) & (agg["budget"] == rec.budget) & (agg["method"] == rec.method)].iloc[0]
        assert row["kendall_tau.mean"] == pytest.approx(vals.mean())
        assert row["kendall_tau.std"] == pytest.approx(vals.std(ddof=1))
        assert set(row["keys"].split(";")) == set(sel["key"])


def test_aggregate_leaves_out_failed_rows(rows):
    agg = A.aggregate(rows, ["method"], ["kendall_tau"])
    assert agg["n"].sum() == (rows["status"] == "ok").sum()
    with_failed = A.aggregate(rows, ["method"], ["kendall_tau"], ok_only=False)
    assert with_failed["n"].sum() == len(rows)


def test_metric_columns_and_directions(rows):
    cols = A.metric_columns(rows)
    assert {"kendall_tau", "precision@10", "n@10", "mae", "fit_seconds"} <= set(cols)
    assert not {"seed", "budget", "n_train", "n_eval", "eval_is_test"} & set(cols)
    assert cols.index("kendall_tau") < cols.index("precision@10") < cols.index("mae") < cols.index("fit_seconds")
    assert A.metric_info("kendall_tau").higher_is_better
    assert not A.metric_info("n@10").higher_is_better
    assert not A.metric_info("mae").higher_is_better
    assert not A.metric_info("fit_seconds").higher_is_better
    # Task-unit metrics follow the task's direction.
    assert A.higher_is_better("best_of_top10", True) and not A.higher_is_better("best_of_top10", False)


def test_overall_ranking_matches_independent_ranks(rows):
    ranking = A.overall_ranking(rows[rows["status"] == "ok"], ["kendall_tau", "n@10"], {})
    ok = rows[rows["status"] == "ok"]
    means = ok.groupby(["task", "budget", "method"])[["kendall_tau", "n@10"]].mean().reset_index()
    expected_tau, expected_n = {}, {}
    for _, board in means.groupby(["task", "budget"]):
        tau_rank = board["kendall_tau"].rank(ascending=False)
        n_rank = board["n@10"].rank(ascending=True)  # lower n@K is better
        for m, r1, r2 in zip(board["method"], tau_rank, n_rank, strict=True):
            expected_tau.setdefault(m, []).append(r1)
            expected_n.setdefault(m, []).append(r2)
    for rec in ranking.itertuples(index=False):
        assert rec.tasks == 2 and rec.boards == 6
        assert rec.kendall_tau == pytest.approx(np.mean(expected_tau[rec.method]))
    by_method = ranking.set_index("method")
    for m, ranks in expected_n.items():
        assert by_method.loc[m, "n@10"] == pytest.approx(np.mean(ranks))
    assert ranking["kendall_tau"].is_monotonic_increasing


def test_rank_within_flips_task_units_on_lower_is_better_tasks():
    agg = pd.DataFrame(
        {
            "task": ["lo"] * 2 + ["hi"] * 2,
            "method": ["a", "b"] * 2,
            "best_of_top10.mean": [1.0, 2.0, 1.0, 2.0],
        }
    )
    ranks = A.rank_within(agg, ["task"], ["best_of_top10"], {"lo": False, "hi": True})
    assert ranks["best_of_top10"].tolist() == [1.0, 2.0, 2.0, 1.0]


def test_comparisons_split_protocol_params(rows):
    other = rows.assign(protocol_params='{"eval_set": "rest"}', key=rows["key"] + "x")
    comps = A.comparisons(pd.concat([rows, other], ignore_index=True))
    assert len(comps) == 4
    assert len({c["slug"] for c in comps}) == 4
    assert any("eval_set=rest" in c["label"] for c in comps)


def test_format_budget():
    assert A.format_budget(0.01) == "1%"
    assert A.format_budget(0.005) == "0.5%"
    assert A.format_budget(100.0) == "100"
    assert A.format_budget(1500) == "1,500"


def test_missing_and_empty_results_dir(tmp_path):
    for path in (tmp_path / "absent", tmp_path):
        with pytest.raises(ResultStoreError, match=r"no results in .*run `nasbench-harness run` first"):
            A.load_results(path)


def test_a_cell_rerun_under_new_code_counts_once(tmp_path):
    """A rerun after a code change gets a new run key; only the newest row of the cell is reported."""
    from nasbench_harness.store import ResultStore

    cell = {"protocol": "search", "protocol_params": "{}", "task": "t", "predictor": "none", "encoding": "", "loss": "",
            "method": "RS", "params": "{}", "budget": 100.0, "status": "ok", "error": ""}
    ResultStore(tmp_path).append([
        {**cell, "key": "old0", "seed": 0, "best_eval": 1.0, "finished_at": "2026-01-01T00:00:00"},
        {**cell, "key": "new0", "seed": 0, "best_eval": 2.0, "finished_at": "2026-02-01T00:00:00"},
        {**cell, "key": "old1", "seed": 1, "best_eval": 3.0, "finished_at": "2026-01-01T00:00:00"},
    ])
    df, problems = A.load_results(tmp_path)
    assert sorted(df["key"]) == ["new0", "old1"] and df.set_index("key").loc["new0", "best_eval"] == 2.0
    assert any(p.startswith("1 result row(s) computed with an older") for p in problems)


def test_provenance_columns_are_not_metrics():
    df = pd.DataFrame({"kendall_tau": [0.5, 0.6], "schema_version": [2, 2], "machine": ['{"cores": 2}'] * 2})
    assert A.metric_columns(df) == ["kendall_tau"]
