"""claims.json: one object per claim of every study, beside index.html, from the Verdicts the panels show."""

from __future__ import annotations

import json

import pandas as pd
from nasbench_harness.report import build_report
from nasbench_harness.report.verdicts import LEVELS
from report_rows import make_rows, write_store
from test_losses_section import study

KEYS = ["study", "claim", "sentence", "verdict", "rule", "effect", "tasks", "seeds", "per_task", "missing", "statistic", "depends_on", "note"]
CLAIMS = {
    "losses": ["weighted_top", "ranking_tau", "ranking_small", "mlp_ranking", "gt_weighting", "pw_beats_single",
               "hr_beats_mape_early", "pwlnas_vs_npenas"],
    "convnp": ["recall_without_tau", "beats_regressors_tau", "single_epoch", "meta_learning", "more_data"],
    "grabnas": ["vs_tnas", "vs_metad2a", "decoder_beats_knn", "beyond_pruned_space"],
    "surrogates": ["within_task", "across_tasks", "lm", "filter", "objective"],
}


def claims_of(tmp_path, rows: pd.DataFrame) -> list[dict]:
    out = tmp_path / "report"
    index = build_report(write_store(tmp_path / "results", rows), out)
    assert (out / "claims.json").parent == index.parent
    return json.loads((out / "claims.json").read_text())


def test_a_store_without_the_studies_rows_lists_every_claim_as_insufficient_with_its_missing_cells(tmp_path):
    claims = claims_of(tmp_path, make_rows())  # generic rows only: no study cell
    assert {s: [c["claim"] for c in claims if c["study"] == s] for s in CLAIMS} == CLAIMS
    for c in claims:
        assert list(c) == KEYS
        assert c["verdict"] == "insufficient_evidence" and c["missing"], c["claim"]
        assert all(m["command"].startswith("nasbench-harness run --matrix ") for m in c["missing"])
        assert c["sentence"] and c["rule"] and c["statistic"] and c["depends_on"] == [] and c["per_task"] == []
    # A claim about fixed cells names them even when none has rows.
    about = {c["claim"]: (c["tasks"], c["seeds"]) for c in claims}
    assert about["ranking_small"] == (["nb201/cifar10", "nbgraph/cora"], []) and about["gt_weighting"][0] == ["nb201/cifar10"]


def test_a_store_with_the_loss_studys_cells_judges_them_and_the_panels_show_the_same_verdicts(tmp_path):
    rows = study().assign(matrix="paper-losses", status="ok", error="", eval_is_test=True, code_version="0.1.0+abc",
                          data_checksum="d" * 64, versions="{}", finished_at="2026-11-24T07:00:00", n_eval=100)
    claims = {c["claim"]: c for c in claims_of(tmp_path, rows)}
    assert all(c["verdict"] in LEVELS for c in claims.values())
    # The rows hold the five Figure-2 cells at three seeds; the main block's other tasks are not run.
    top = claims["weighted_top"]
    assert top["verdict"] == "reproduced" and top["seeds"] == [0, 1, 2] and len(top["per_task"]) == 10
    assert top["tasks"] == ["nb101/cifar10", "nb201/cifar10", "tnb101-micro/class_scene", "tnb101-macro/class_scene", "nbgraph/cora"]
    assert set(top["effect"]) >= {"estimate", "low", "high"} and top["effect"]["low"] <= top["effect"]["estimate"] <= top["effect"]["high"]
    assert claims["pw_beats_single"]["verdict"] == "insufficient_evidence"  # no search rows
    html = (tmp_path / "report" / "studies" / "section-losses.html").read_text()
    for claim in ("weighted_top", "ranking_tau", "ranking_small", "mlp_ranking", "gt_weighting"):
        badge = claims[claim]["verdict"]
        panel = html.split(f'data-claim="losses/{claim}"')[1].split("</div></div></div>")[0]
        assert f'class="badge verdict-{badge}"' in panel, claim
