"""The "Loss functions" report section: finding checks on constructed result rows, and rendering."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from nasbench_harness.report.context import NOT_APPLICABLE, ReportContext
from nasbench_harness.studies.losses import checks, section

CAT_SCORE = {"regression": 0.0, "ranking": 1.0, "weighted": 2.0, "piecewise": 3.0}


def rows(task, predictor, loss, budget, *, n_train, p05, n10, tau, eval_set="space", label=None, loss_params=None, seeds=3):
    out = []
    for s in range(seeds):
        jitter = 0.001 * s
        out.append({
            "key": f"{task}-{predictor}-{loss}-{budget}-{label}-{eval_set}-{s}", "status": "ok", "protocol": "predict",
            "protocol_params": json.dumps({"eval_set": eval_set}), "task": task, "space": task.split("/")[0],
            "predictor": predictor, "loss": loss, "encoding": "graph", "budget": budget, "n_train": n_train, "seed": s,
            "method": label or f"{predictor}+{loss}", "params": json.dumps({"predictor": {}, "loss": loss_params or {}}),
            "precision@0.5": p05 + jitter, "precision@5": p05 / 2, "n@10": n10, "n@1": n10 * 3, "kendall_tau": tau + jitter,
        })
    return out


# One task per evaluation space at the paper's portion (NB101 keeps the paper's size, 423).
MAIN = [("nb101/cifar10", 423, 423), ("nb201/cifar10", 0.01, 156), ("nbgraph/cora", 0.03, 786),
        ("tnb101-micro/class_scene", 0.003, 12), ("tnb101-macro/class_scene", 0.003, 10)]


def study(weighted_top=True, small_ranking=True, spaces=MAIN, contrary_task=None):
    """Rows in which the categories behave as the paper says (or the opposite, when asked;
    ``contrary_task`` alone behaves the opposite way)."""
    out = []
    for task, budget, n_train in spaces:
        for loss in section.STUDY_LOSSES:
            cat = section.loss_category()[loss]
            good = ((cat == "weighted") == weighted_top) != (task == contrary_task)
            out += rows(task, "gcn", loss, budget, n_train=n_train, p05=0.5 if good else 0.2, n10=2 if good else 20,
                        tau=0.8 if cat == "ranking" else 0.6)
            # Smallest portion of a sweep: ranking wins there when small_ranking.
            win = (cat == "ranking") == small_ranking
            small = budget // 10 if isinstance(budget, int) else budget / 10
            out += rows(task, "gcn", loss, small, n_train=max(2, n_train // 10), p05=0.3, n10=5 if win else 50, tau=0.4)
    for predictor, pref in (("ap", "ranking"), ("transformer", "weighted"), ("gcn", "weighted")):
        for loss in ("mse", "hr", "listmle", "warp"):
            if predictor == "gcn":
                continue
            good = section.loss_category()[loss] == pref
            out += rows("nb201/cifar10", predictor, loss, 0.01, n_train=156, p05=0.4 if good else 0.1, n10=3, tau=0.7)
    for loss in ("ew", "warp"):
        for w, p in (("GT", 0.45), ("EXP-GT", 0.5), ("Ranking", 0.2)):
            out += rows("nb201/cifar10", "gcn", loss, 0.01, n_train=156, p05=p, n10=4, tau=0.7, label=f"gcn+{loss}[{w}]", loss_params={"weighting": w})
    out += rows("nb201/cifar10", "gcn", "pw", 0.01, n_train=156, p05=0.6, n10=1, tau=0.7, label="gcn+pw[hr>mape@50%]",
                loss_params={"first": "hr", "second": "mape"})
    out += rows("nb201/cifar10", "gcn", "mse", 0.01, n_train=156, p05=0.3, n10=9, tau=0.5, eval_set="mutation")
    out += rows("nb201/cifar10", "gcn", "hr", 0.01, n_train=156, p05=0.35, n10=8, tau=0.6, eval_set="mutation")
    return pd.DataFrame(out)


@pytest.fixture
def ctx():
    return ReportContext(pd.DataFrame())


def test_findings_agree_on_paper_like_results(ctx):
    df = section.study_rows(study())
    for key, fn in checks.FINDING_CHECKS.items():
        passed, evidence = fn(ctx, df)
        assert passed is True, (key, evidence)
        assert evidence


def test_findings_disagree_on_contrary_results(ctx):
    df = section.study_rows(study(weighted_top=False, small_ranking=False))
    assert checks.check_weighted_top(ctx, df)[0] is False
    assert checks.check_ranking_small(ctx, df)[0] is False


def test_findings_need_data(ctx):
    df = section.study_rows(pd.DataFrame(rows("nb201/cifar10", "gcn", "mse", 0.01, n_train=156, p05=0.2, n10=3, tau=0.5)))
    for fn in checks.FINDING_CHECKS.values():
        assert fn(ctx, df)[0] is None


def test_render_shows_every_part_and_the_published_numbers():
    results = study()
    html = section.render(results, ReportContext(results))
    for needle in ["supplement", "Main comparison", "Trend over training portions", "Mutation-based test set",
                   "Precision@T and N@K", "Weighting types", "Other predictors", "Piecewise", "2.85", "reproduced"]:
        assert needle in html, needle


def test_rows_of_a_single_loss_bring_no_section():
    # e.g. the surrogate study's LM at its default loss: nothing to compare, so no loss-paper checks
    one = pd.DataFrame(rows("nb201/cifar10", "lm", "mse", 0.01, n_train=156, p05=0.2, n10=3, tau=0.5))
    assert section.render(one, ReportContext(one)) is None


def test_render_without_loss_rows_is_none():
    assert section.render(pd.DataFrame({"protocol": ["predict"], "loss": [""]}), ReportContext(pd.DataFrame())) is None


def test_ties_count_as_leading_and_make_the_small_portion_check_not_applicable(ctx):
    out = []
    for task, budget, n_train in MAIN:
        for loss in section.STUDY_LOSSES:
            # Every loss finds the best architecture (N@10 = 1); weighted ones also lead Precision@0.5.
            weighted = section.loss_category()[loss] == "weighted"
            out += rows(task, "gcn", loss, budget, n_train=n_train, p05=0.5 if weighted else 0.25, n10=1, tau=0.7)
            out += rows(task, "gcn", loss, budget / 10, n_train=max(2, n_train // 10), p05=0.2, n10=3, tau=0.5)
    df = section.study_rows(pd.DataFrame(out))
    assert checks.check_weighted_top(ctx, df)[0] is True
    passed, evidence = checks.check_ranking_small(ctx, df)
    assert passed == NOT_APPLICABLE and "3.0 vs best weighted 3.0" in evidence


def test_all_search_spaces_findings_need_all_five_and_show_the_count(ctx):
    four = section.study_rows(study(spaces=MAIN[:4]))
    passed, evidence = checks.check_weighted_top(ctx, four)
    assert passed is None and "on 4 of 5 evaluation spaces" in evidence and "tnb101-macro: no results" in evidence
    one_off = section.study_rows(study(contrary_task="nbgraph/cora"))
    passed, evidence = checks.check_weighted_top(ctx, one_off)
    assert passed is False and "on 4 of 5" in evidence
    # A space that refutes it refutes it even when another space has no results yet.
    passed, _ = checks.check_weighted_top(ctx, section.study_rows(study(spaces=MAIN[:4], contrary_task="nbgraph/cora")))
    assert passed is False


def test_darts_does_not_vote(ctx):
    contrary_darts = study(spaces=[("darts/cifar10", 100, 100)], weighted_top=False)
    df = section.study_rows(pd.concat([study(), contrary_darts]))
    passed, evidence = checks.check_weighted_top(ctx, df)
    assert passed is True and "darts" not in evidence.split("DARTS does not vote")[1]


def test_weighting_check_needs_exp_gt_at_least_gt(ctx):
    out = []
    for loss in ("ew", "warp"):
        for w, p in (("GT", 0.5), ("EXP-GT", 0.45), ("Ranking", 0.2)):  # GT above EXP-GT: not the paper's order
            out += rows("nb201/cifar10", "gcn", loss, 0.01, n_train=156, p05=p, n10=4, tau=0.7, label=f"gcn+{loss}[{w}]", loss_params={"weighting": w})
    passed, evidence = checks.check_gt_weighting(ctx, section.study_rows(pd.DataFrame(out)))
    assert passed is False and "EXP-GT 0.451" in evidence


def test_the_one_shot_pw_check_is_gone():
    assert "pw_beats_parts" not in checks.FINDING_CHECKS


def test_validation_judged_tasks_are_labelled_from_the_row_flag():
    results = study()
    results["eval_is_test"] = ~results["task"].str.startswith(("nb101", "tnb101"))
    html = section.render(results, ReportContext(results))
    assert "Judged on validation, not test: nb101/cifar10, tnb101-macro/class_scene, tnb101-micro/class_scene" in html
    assert "nb201/cifar10," not in html.split("Judged on validation, not test:")[1].split("(")[0]
