"""The "ConvNP" report section on synthetic select rows: tables, published numbers, claim checks."""

from __future__ import annotations

import pandas as pd
from nasbench_harness.report.context import ReportContext
from nasbench_harness.studies.convnp import checks
from nasbench_harness.studies.convnp import section as convnp


def rows(method, task, budget, seeds=3, tau=0.5, test=94.0, recall=0.2, strategy="predictor"):
    out = []
    for s in range(seeds):
        r = {"protocol": "select", "status": "ok", "task": task, "method": method, "budget": float(budget), "seed": s,
             "key": f"{method}{task}{budget}{s}", "eval_is_test": not task.startswith("nb101"), "strategy": strategy,
             "selected_best_val": test + 0.5, "selected_best_test": test + 0.01 * s, "best_val": test + 0.6, "best_test": test,
             "best_test_of_selected": test + 0.1}
        if strategy == "predictor":
            r.update({"kendall_tau": tau + 0.001 * s, "recall@10": recall, "recall@100": recall + 0.1})
        out.append(r)
    return out


SIZE_TAUS = (0.30, 0.50, 0.58, 0.60, 0.61, 0.615, 0.62)  # ConvNP's tau at 50 ... 860 observed: rising, gains shrinking
MAIN_BUDGET = {"nb101/cifar10": 172, "nb201/cifar10": 90, "nb201/cifar100": 90, "nb201/ImageNet16-120": 90}


def size_rows(taus) -> list[dict]:
    """ConvNP on the sizes block's tasks at every size but the main comparison's (that cell is the main block's)."""
    out = []
    for task in ("nb101/cifar10", "nb201/ImageNet16-120"):
        for b, tau in zip(convnp.training_sizes(), taus, strict=True):
            out += [] if b == MAIN_BUDGET[task] else rows("ConvNP", task, b, tau=tau)
    return out


def fake_results(convnp_tau=0.57, convnp_recall=0.3, ablation_tau=None, size_taus=SIZE_TAUS):
    r = []
    for task, b in MAIN_BUDGET.items():
        r += rows("ConvNP", task, b, tau=convnp_tau, recall=convnp_recall, test=94.1)
        r += rows("CARL", task, b, tau=0.68, recall=0.2, test=94.0)
        r += rows("LR", task, b, tau=0.46, recall=0.1, test=93.5)
        r += rows("RS", task, b, strategy="random", test=93.0)
    for name, test in (("ConvNP (MSE)", 93.0), ("ConvNP (Ranking)", 92.0), ("ConvNP (ML)", 93.8), ("ConvNP (no split)", 93.8), ("ConvNP (no synthetic)", 93.5)):
        r += rows(name, "nb101/cifar10", 172, test=test, tau=convnp_tau - 0.05 if ablation_tau is None else ablation_tau)
    return pd.DataFrame(r + size_rows(size_taus))


def test_section_renders_tables_figure_and_passing_checks():
    ctx = ReportContext(fake_results())
    html = convnp.render(fake_results(), ctx)
    assert "Main comparison" in html and "Recall@k" in html and "Ablations" in html and "Training-set size" in html
    assert "Published numbers" in html and "0.680" in html  # CARL's tau, ours beside the paper's
    states = [c["state"] for c in ctx.checks]
    assert states == ["pass"] * 5, ctx.checks


def test_checks_fail_when_the_claims_do_not_hold():
    # below CARL's recall and LR's tau; the sizes curve still rises through the main cells' 0.3
    bad = fake_results(convnp_tau=0.3, convnp_recall=0.05, size_taus=(0.10, 0.25, 0.32, 0.33, 0.34, 0.345, 0.35))
    ctx = ReportContext(bad)
    convnp.render(bad, ctx)
    states = {c["claim"][:25]: c["state"] for c in ctx.checks}
    assert list(states.values()).count("fail") == 2, states


def test_ablation_checks_use_tau_as_well_as_the_selected_accuracy():
    ctx = ReportContext(pd.DataFrame())
    df = convnp.study_rows(fake_results(ablation_tau=0.6))  # ablations rank better, select worse
    for v in (checks.check_single_epoch(ctx, df), checks.check_meta_learning(ctx, df)):
        assert v.verdict == "contradicted"
        levels = {p.label.split(" on ")[1]: p.level for p in v.parts}
        assert levels == {"kendall_tau": "contradicted", "selected_best_test": "reproduced"}


def test_search_baselines_are_compared_on_their_best_of_all_observed():
    df = fake_results()
    html = convnp.render(df, ReportContext(df))
    assert "best of all N+30 observed" in html and "RS and RE: the paper" in html


def test_recall_claim_has_no_part_where_convnp_has_the_best_tau():
    v = checks.check_recall_without_tau(ReportContext(pd.DataFrame()), convnp.study_rows(fake_results(convnp_tau=0.9)))
    assert v.verdict == "insufficient_evidence" and v.parts == [] and "ConvNP has the best tau there" in v.note


def test_claims_without_their_cells_are_insufficient_and_name_them():
    df = fake_results()
    df = df[df["task"] != "nb201/ImageNet16-120"]
    found = {v.claim: v for v in checks.verdicts(df, ReportContext(df))}
    assert list(found) == list(checks.CHECKS)
    assert found["more_data"].verdict == "insufficient_evidence"
    assert found["more_data"].missing[0].command == "nasbench-harness run --matrix paper-convnp --filter task=nb201/ImageNet16-120 --filter budget=50,860"
    assert found["single_epoch"].verdict == "reproduced"


def test_the_sentences_are_quoted_from_the_paper(shared_papers):
    text = " ".join((shared_papers / "convnp-meta-learning-predictor.txt").read_text(encoding="utf-8").split())
    for claim, sentence in checks.SENTENCES.items():
        assert sentence in text, claim


def test_validation_judged_tasks_are_labelled_in_every_table():
    df = fake_results()
    html = convnp.render(df, ReportContext(df))
    # main tables, Recall@k figure, published numbers, sizes, ablations: all involve NB101
    assert html.count("Judged on validation, not test: nb101/cifar10") == 5


def test_section_is_silent_without_select_rows():
    df = pd.DataFrame([{"protocol": "predict", "status": "ok", "task": "nb201/cifar10", "method": "gcn", "budget": 0.01}])
    assert convnp.render(df, ReportContext(df)) is None


def test_unlabelled_search_baselines_are_read_under_the_paper_names():
    df = pd.DataFrame(rows("random_search", "nb201/cifar10", 90, strategy="random") + rows("evolution", "nb201/cifar10", 90, strategy="evolution")
                      + rows("evolution", "nb201/cifar10", 90, strategy="predictor"))
    df["predictor"] = ["none"] * 6 + ["evolution"] * 3  # a (hypothetical) predictor whose label is "evolution" keeps it
    got = convnp.study_rows(df).groupby("method")["predictor"].agg(set).to_dict()
    assert got == {"RS": {"none"}, "RE": {"none"}, "evolution": {"evolution"}}


def test_more_data_needs_every_step_to_improve_and_the_first_to_gain_most():
    def verdict(taus):  # the sizes block alone, every size its own cell
        sized = [r for task in ("nb101/cifar10", "nb201/ImageNet16-120")
                 for b, tau in zip(convnp.training_sizes(), taus, strict=True) for r in rows("ConvNP", task, b, tau=tau)]
        df = convnp.study_rows(pd.DataFrame(sized))
        return checks.check_more_data(ReportContext(df), df)

    assert verdict(SIZE_TAUS).verdict == "reproduced"
    dips = verdict((0.30, 0.45, 0.55, 0.60, 0.61, 0.63, 0.62))  # higher at 860 than at 50, but not consistently
    assert dips.verdict == "contradicted" and "688 observed (consistently)" in min(dips.parts, key=lambda p: p.diff).label
    late = verdict((0.30, 0.32, 0.34, 0.36, 0.50, 0.60, 0.62))  # every step up, the largest gains late
    assert late.verdict == "contradicted" and any("largest at low data" in p.label and p.level == "contradicted" for p in late.parts)
