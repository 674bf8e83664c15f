"""The verdict framework: each level from constructed data, Holm, weakest-of-parts, equivalence."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from nasbench_harness.report import verdicts as V

SEEDS = range(10)


def series(values) -> pd.Series:
    return pd.Series(values, index=list(range(len(values))), dtype=float)


def one(diffs, *, higher=True, margin=0.0) -> str:
    base = series(np.linspace(0.3, 0.6, len(diffs)))
    part = V.compare(base + np.asarray(diffs), base, label="a vs b", task="t", higher_is_better=higher, margin=margin)
    return V.judge("s", "c", "sentence", "rule", [part]).verdict


def test_each_level_from_constructed_data():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, 10)
    assert one(0.1 + noise) == "reproduced"
    assert one(0.002 + noise - noise.mean() + 0.002) == "direction_agrees"
    assert one(-0.002 + noise - noise.mean()) == "direction_disagrees"
    assert one(-0.1 + noise) == "contradicted"
    assert V.judge("s", "c", "x", "r", [], [V.Missing("t at 1%", "cmd")]).verdict == "insufficient_evidence"
    assert V.judge("s", "c", "x", "r", []).verdict == "insufficient_evidence"


def test_lower_is_better_flips_the_direction():
    noise = np.random.default_rng(1).normal(0, 0.01, 10)
    assert one(-0.1 + noise, higher=False) == "reproduced"
    assert one(0.1 + noise, higher=False) == "contradicted"


def test_a_tie_is_not_the_papers_direction():
    assert one(np.zeros(10)) == "direction_disagrees"


def test_a_margin_must_be_exceeded():
    noise = np.random.default_rng(2).normal(0, 0.005, 10)
    assert one(0.1 + noise, margin=0.05) == "reproduced"
    assert one(0.03 + noise, margin=0.05) == "contradicted"  # resolved, but short of the large margin


def test_holm_adjusts_step_down():
    assert V.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    adj = V.holm([0.02, float("nan")])
    assert adj[0] == pytest.approx(0.02) and np.isnan(adj[1])


def test_holm_within_a_claim_can_unresolve_a_part():
    # p about 0.03 alone resolves; five such parts of one claim are each multiplied past 0.05.
    rng = np.random.default_rng(3)
    d = rng.normal(0, 1, 10)
    d = d - d.mean() + 0.75 * d.std(ddof=1)
    base = series(np.zeros(10))
    part = lambda: V.compare(base + d, base, label="p", task="t", higher_is_better=True)  # noqa: E731
    p = part().p
    assert 0.01 < p < 0.05
    assert V.judge("s", "c", "x", "r", [part()]).verdict == "reproduced"
    v = V.judge("s", "c", "x", "r", [part() for _ in range(5)])
    assert v.parts[0].p_holm == pytest.approx(min(1, 5 * p)) and v.verdict == "direction_agrees"


def test_an_all_claim_takes_its_weakest_part_and_missing_cells_cap_it():
    noise = np.random.default_rng(4).normal(0, 0.01, 10)
    base = series(np.zeros(10))
    good = V.compare(base + 0.1 + noise, base, label="g", task="t1", higher_is_better=True)
    bad = V.compare(base - 0.1 + noise, base, label="b", task="t2", higher_is_better=True)
    assert V.judge("s", "c", "x", "r", [good, bad]).verdict == "contradicted"
    good = V.compare(base + 0.1 + noise, base, label="g", task="t1", higher_is_better=True)
    v = V.judge("s", "c", "x", "r", [good], [V.Missing("t2 at 1%", "nasbench-harness run ...")])
    assert v.verdict == "insufficient_evidence" and v.as_dict()["missing"][0]["what"] == "t2 at 1%"
    assert V.weakest(["reproduced", "direction_agrees", "insufficient_evidence", "direction_disagrees"]) == "direction_disagrees"


def test_parts_beyond_the_paper_do_not_change_the_verdict():
    noise = np.random.default_rng(5).normal(0, 0.01, 10)
    base = series(np.zeros(10))
    good = V.compare(base + 0.1 + noise, base, label="g", task="t1", higher_is_better=True)
    other = V.compare(base - 0.1 + noise, base, label="o", task="t9", higher_is_better=True, deciding=False)
    v = V.judge("s", "c", "x", "r", [good, other])
    assert v.verdict == "reproduced" and other.level == "contradicted"
    assert v.tasks == ["t1"] and [p["beyond_paper"] for p in v.as_dict()["per_task"]] == [False, True]


def test_equivalence_uses_the_margin_fixed_in_advance():
    noise = np.random.default_rng(6).normal(0, 0.005, 10)
    base = series(np.full(10, 0.5))

    def level(shift):
        return V.judge("s", "c", "x", "r", [V.equivalent(base + shift + noise, base, label="e", task="t", margin=0.05)]).verdict

    assert level(0.0) == "reproduced"
    assert level(0.2) == "contradicted"
    assert level(-0.2) == "contradicted"
    wide = np.random.default_rng(7).normal(0, 0.3, 10)
    wide = wide - wide.mean()
    v = V.judge("s", "c", "x", "r", [V.equivalent(base + 0.01 + wide, base, label="e", task="t", margin=0.05)])
    assert v.verdict == "direction_agrees"


def test_blocks_pair_by_index_and_fewer_than_two_are_no_part():
    a = pd.Series([1.0, 2.0, 3.0], index=[("t", 0.01, 0), ("t", 0.01, 1), ("t", 0.01, 2)])
    b = pd.Series([0.0, 1.0], index=[("t", 0.01, 1), ("t", 0.01, 5)])
    assert V.compare(a, b, label="x", task="t", higher_is_better=True) is None
    b = pd.Series([0.0, 1.0], index=[("t", 0.01, 1), ("t", 0.01, 2)])
    part = V.compare(a, b, label="x", task="t", higher_is_better=True)
    assert part.n == 2 and part.seeds == (1, 2) and part.diff == pytest.approx(2.0)


def test_the_json_object_has_exactly_the_claims_keys():
    v = V.judge("s", "c", "x", "r", [], [V.Missing("w", V.run_command("paper-losses", task="nb201/cifar10", budget=[0.001]))])
    d = v.as_dict()
    assert list(d) == ["study", "claim", "sentence", "verdict", "rule", "effect", "tasks", "seeds", "per_task", "missing",
                       "statistic", "depends_on", "note"]
    assert d["missing"][0]["command"] == "nasbench-harness run --matrix paper-losses --filter task=nb201/cifar10 --filter budget=0.001"
    assert d["depends_on"] == [] and d["effect"] is None


# -- open settings: one claim judged under each value of a setting (issue 20) ------------------------------
def judged(diff: float, label: str, missing=()) -> V.Verdict:
    noise = np.random.default_rng(7).normal(0, 0.01, 10)
    base = series(np.zeros(10))
    part = V.compare(base + diff + noise, base, label=label, task="t", higher_is_better=True) if not missing else None
    return V.judge("s", "c", "x", "r", [part], list(missing))


SETTING = V.Setting("knob", "default", "By the knob (knob; default decides)", "knob value", "with the knob at")


def test_a_setting_whose_verdicts_differ_is_a_dependency_and_its_parts_never_decide():
    main = judged(0.1, "main")
    v = V.with_setting(main, SETTING, {"low": judged(0.1, "[low] main"), "high": judged(-0.1, "[high] main")})
    assert v.verdict == "reproduced" and v.depends_on == ["knob"] and [p.deciding for p in v.parts] == [True, False, False]
    assert v.effect["part"] == "main" and v.as_dict()["depends_on"] == ["knob"]
    assert v.note == ("By the knob (knob; default decides): default: reproduced; low: reproduced; high: contradicted. "
                      "The paper's claim is reproduced with the knob at: default, low.")
    stable = V.with_setting(judged(-0.1, "main"), SETTING, {"low": judged(-0.1, "[low] main")})
    assert stable.depends_on == [] and "No knob value reproduces the paper's claim." in stable.note


def test_a_setting_without_rows_is_missing_under_its_name_and_no_dependency():
    lacking = judged(0.0, "[high] main", [V.Missing("t at high", "nasbench-harness run --matrix m --filter method=*high*")])
    v = V.with_setting(judged(0.1, "main"), SETTING, {"low": judged(-0.1, "[low] main"), "high": lacking})
    assert v.verdict == "reproduced" and v.depends_on == ["knob"] and not v.lacking  # high is not judged: default vs low differ
    assert [m.as_dict() for m in v.missing] == [{"what": "t at high", "command": "nasbench-harness run --matrix m --filter method=*high*",
                                                 "setting": "knob"}]
    assert "Without rows (see Missing): high." in v.note
    only = V.with_setting(judged(0.1, "main"), SETTING, {"high": lacking})
    assert only.depends_on == [] and only.verdict == "reproduced"
    # A blocking setting (part of the claim's question) makes the verdict insufficient while its cells are missing.
    blocking = V.with_setting(judged(0.1, "main"), dataclasses.replace(SETTING, blocking=True), {"high": lacking})
    assert blocking.verdict == "insufficient_evidence" and blocking.lacking and blocking.depends_on == []


def test_chained_settings_each_add_their_dependency_and_note():
    main = V.with_setting(judged(0.1, "main"), SETTING, {"low": judged(-0.1, "[low] main")})
    other = V.Setting("dial", "1", "By the dial", "dial", "at dial")
    v = V.with_setting(main, other, {"2": judged(0.1, "[2] main")})
    assert v.depends_on == ["knob"] and v.note.startswith("By the knob") and "By the dial: 1: reproduced; 2: reproduced." in v.note
    assert len(v.parts) == 3 and len(v.deciding) == 1


def test_parts_and_missing_cells_every_value_shares_are_listed_once():
    # Rows the setting does not touch (e.g. AP's under a shared GCN rate) carry one label at every value.
    def two(diff):
        noise = np.random.default_rng(3).normal(0, 0.01, 10)
        base = series(np.zeros(10))
        shared = V.compare(base + 0.2 + noise, base, label="ap: shared", task="t", higher_is_better=True)
        own = V.compare(base + diff + noise, base, label=f"[{diff:g}] gcn", task="t", higher_is_better=True)
        return V.judge("s", "c", "x", "r", [shared, own], [V.Missing("transformer cells", "cmd")])

    v = V.with_setting(two(0.1), SETTING, {"low": two(0.05), "high": two(-0.1)})
    assert [p.label for p in v.parts] == ["ap: shared", "[0.1] gcn", "[0.05] gcn", "[-0.1] gcn"]
    assert [m.what for m in v.missing] == ["transformer cells"] and v.verdict == "insufficient_evidence"
