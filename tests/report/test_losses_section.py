"""The "Loss functions" report section: finding checks on constructed result rows, and rendering."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from nasbench_harness.report.context import ReportContext
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
            small = dict(checks.small_cells()).get(task, budget // 10 if isinstance(budget, int) else budget / 10)
            out += rows(task, "gcn", loss, small, n_train=max(2, n_train // 10), p05=0.3, n10=5 if win else 50, tau=0.4)
    for predictor, pref in (("ap", "ranking"), ("transformer", "weighted"), ("gcn", "weighted")):
        for loss in ("mse", "hr", "listmle", "warp"):
            if predictor == "gcn":
                continue
            good = section.loss_category()[loss] == pref
            out += rows("nb201/cifar10", predictor, loss, 0.01, n_train=156, p05=0.4 if good else 0.1, n10=3 if good else 9, tau=0.7)
    for loss in ("ew", "warp"):
        out += weighting_rows(loss, {"GT": 0.47, "EXP-GT": 0.5, "Ranking": 0.2})
    out += rows("nb201/cifar10", "gcn", "pw", 0.01, n_train=156, p05=0.6, n10=1, tau=0.7, label="gcn+pw[hr>mape@50%]",
                loss_params={"first": "hr", "second": "mape"})
    out += rows("nb201/cifar10", "gcn", "mse", 0.01, n_train=156, p05=0.3, n10=9, tau=0.5, eval_set="mutation")
    out += rows("nb201/cifar10", "gcn", "hr", 0.01, n_train=156, p05=0.35, n10=8, tau=0.6, eval_set="mutation")
    return pd.DataFrame(out)


READINGS = ("minmax", "percent", "fraction")  # weight_target: the default, then paper-losses' sensitivity block


def weighting_rows(loss, p05: dict, task="nb201/cifar10", predictor="gcn", budget=0.01, by_reading=None,
                   readings=READINGS, **kw):
    """The weighting cells under each reading of y (``by_reading[reading]``: that reading's GT / EXP-GT
    scores, else ``p05``'s); Ranking ignores the reading, so it has the default's rows only."""
    out = []
    for w, p in p05.items():
        out += rows(task, predictor, loss, budget, n_train=156, p05=p, n10=4, tau=0.7, label=f"{predictor}+{loss}[{w}]",
                    loss_params={"weighting": w}, **kw)
    for reading in readings[1:]:
        for w, p in (by_reading or {}).get(reading, p05).items():
            if w != "Ranking":
                out += rows(task, predictor, loss, budget, n_train=156, p05=p, n10=4, tau=0.7, label=f"{predictor}+{loss}[{w},{reading}]",
                            loss_params={"weighting": w, "weight_target": reading}, **kw)
    return out


def level(fn, df, ctx=None) -> str:
    return fn(ctx or ReportContext(pd.DataFrame()), section.study_rows(df)).verdict


@pytest.fixture
def ctx():
    return ReportContext(pd.DataFrame())


def test_findings_are_reproduced_on_paper_like_results(ctx):
    df = section.study_rows(study())
    for key, fn in checks.FINDING_CHECKS.items():
        v = fn(ctx, df)
        assert (v.claim, v.verdict) == (key, "reproduced"), (key, [p.as_dict() for p in v.parts], v.missing)
        assert v.sentence and v.rule and v.effect and v.seeds == [0, 1, 2]


def test_findings_are_contradicted_on_contrary_results(ctx):
    df = section.study_rows(study(weighted_top=False, small_ranking=False))
    assert checks.check_weighted_top(ctx, df).verdict == "contradicted"
    assert checks.check_ranking_small(ctx, df).verdict == "contradicted"


def test_findings_without_their_cells_are_insufficient_and_name_them(ctx):
    df = section.study_rows(pd.DataFrame(rows("nb201/cifar10", "gcn", "mse", 0.01, n_train=156, p05=0.2, n10=3, tau=0.5)))
    for fn in checks.FINDING_CHECKS.values():
        v = fn(ctx, df)
        assert v.verdict == "insufficient_evidence" and v.missing, v.claim
        assert all(m.command.startswith("nasbench-harness run --matrix paper-losses --filter task=") for m in v.missing)


# -- fidelity 1: ranking_small judges NB201 and NB-Graph at the smallest portion of the sweep ----------
def test_ranking_small_is_about_nb201_and_nbgraph_at_the_sweeps_smallest_portion():
    assert checks.small_cells() == [("nb201/cifar10", 0.001), ("nbgraph/cora", 0.005)]


def test_ranking_small_shows_warp_alone_beside_the_deciding_category_comparison(ctx):
    # Ranking losses beat WARP at the smallest portion, but a weighted loss other than WARP beats them:
    # the category comparison decides (contradicted); "WARP alone" agrees and is shown, not deciding.
    out = []
    for task, budget in checks.small_cells():
        for loss in section.STUDY_LOSSES:
            n10 = {"warp": 60, "ew": 2}.get(loss, 10 if section.loss_category()[loss] == "ranking" else 40)
            out += rows(task, "gcn", loss, budget, n_train=10, p05=0.3, n10=n10, tau=0.4)
    v = checks.check_ranking_small(ctx, section.study_rows(pd.DataFrame(out)))
    assert v.verdict == "contradicted"
    alone = [p for p in v.parts if p.label.startswith("WARP alone: ")]
    assert len(alone) == 2 and not any(p.deciding for p in alone) and {p.level for p in alone} == {"reproduced"}
    assert all("vs best weighted (ew)" in p.label for p in v.deciding)


def test_ranking_small_without_those_cells_is_insufficient_whatever_else_was_swept(ctx):
    # The 30-seed run's accident: sweeps at 0.3 % and 1 % on TransNAS and Cora, none on NB201.
    out = []
    for task, budget in (("tnb101-micro/class_scene", 0.003), ("tnb101-micro/class_scene", 0.01), ("nbgraph/cora", 0.01),
                         ("nbgraph/cora", 0.03)):
        for loss in section.STUDY_LOSSES:
            out += rows(task, "gcn", loss, budget, n_train=10, p05=0.3, n10=5 if section.loss_category()[loss] == "ranking" else 50, tau=0.4)
    v = checks.check_ranking_small(ctx, section.study_rows(pd.DataFrame(out)))
    assert v.verdict == "insufficient_evidence" and v.parts == []
    assert [m.what.split(":")[0] for m in v.lacking] == ["nb201/cifar10 at 0.001", "nbgraph/cora at 0.005"]
    assert v.lacking[0].command == "nasbench-harness run --matrix paper-losses --filter task=nb201/cifar10 --filter budget=0.001 --filter predictor=gcn"


# -- fidelity 2: the "all search spaces" claims judge the five Figure-2 cells ---------------------------
def test_all_spaces_claims_judge_the_five_figure2_cells():
    assert checks.figure2_cells() == [("nb101/cifar10", 423.0), ("nb201/cifar10", 0.01), ("tnb101-micro/class_scene", 0.003),
                                      ("tnb101-macro/class_scene", 0.003), ("nbgraph/cora", 0.03)]


def test_a_figure2_task_against_the_claim_contradicts_it_even_when_its_space_agrees_by_majority():
    agree = [("nb201/cifar100", 0.01, 156), ("nb201/ImageNet16-120", 0.01, 156)]  # the space's other tasks agree
    v = checks.check_weighted_top(ReportContext(pd.DataFrame()), section.study_rows(study(spaces=MAIN + agree, contrary_task="nb201/cifar10")))
    assert v.verdict == "contradicted"


def test_tasks_beyond_the_paper_are_shown_and_do_not_change_the_verdict():
    beyond = [("nb201/cifar100", 0.01, 156), ("tnb101-micro/jigsaw", 0.003, 12)]
    df = study(spaces=MAIN + beyond, contrary_task="nb201/cifar100")
    for fn in (checks.check_weighted_top, checks.check_ranking_tau):
        v = fn(ReportContext(pd.DataFrame()), section.study_rows(df))
        assert v.tasks == [t for t, _ in checks.figure2_cells()]
        outside = [p for p in v.parts if not p.deciding]
        assert {p.task for p in outside} == {"nb201/cifar100", "tnb101-micro/jigsaw"}
        assert "beyond the paper" in outside[0].label
    v = checks.check_weighted_top(ReportContext(pd.DataFrame()), section.study_rows(df))
    assert v.verdict == "reproduced" and any(p.level == "contradicted" for p in v.parts if not p.deciding)


def test_a_missing_figure2_cell_makes_the_claim_insufficient_and_names_it(ctx):
    v = checks.check_weighted_top(ctx, section.study_rows(study(spaces=MAIN[:4])))
    assert v.verdict == "insufficient_evidence"
    assert [m.what.split(":")[0] for m in v.lacking] == ["tnb101-macro/class_scene at 0.003"]
    # A Figure-2 cell against the claim decides it even while another is missing.
    assert checks.check_weighted_top(ctx, section.study_rows(study(spaces=MAIN[:4], contrary_task="nbgraph/cora"))).verdict == "contradicted"


def test_darts_is_not_a_part(ctx):
    contrary_darts = study(spaces=[("darts/cifar10", 100, 100)], weighted_top=False)
    v = checks.check_weighted_top(ctx, section.study_rows(pd.concat([study(), contrary_darts])))
    assert v.verdict == "reproduced" and not any(p.task.startswith("darts") for p in v.parts)


# -- fidelity 3: mlp_ranking counts MAPE among the GCN's weighted losses, and a tie is no preference ----
def predictor_rows(gcn: dict, transformer_tie: bool = False) -> pd.DataFrame:
    out = []
    for loss in section.STUDY_LOSSES:
        out += rows("nb201/cifar10", "gcn", loss, 0.01, n_train=156, p05=gcn.get(loss, 0.3), n10=20 * (1 - gcn.get(loss, 0.3)), tau=0.6)
    for predictor, pref in (("ap", "ranking"), ("transformer", "weighted")):
        for loss in ("mse", "hr", "listmle", "warp"):
            good = transformer_tie if predictor == "transformer" else section.loss_category()[loss] == pref
            good = good or (predictor == "transformer" and section.loss_category()[loss] == pref)
            out += rows("nb201/cifar10", predictor, loss, 0.01, n_train=156, p05=0.4 if good else 0.1, n10=3 if good else 9, tau=0.7)
    return pd.DataFrame(out)


def test_mlp_ranking_counts_mape_for_the_gcn():
    # The GCN's best loss is MAPE; WARP and EW trail the ranking losses.
    df = predictor_rows({"mape": 0.6, "hr": 0.5, "listmle": 0.5, "warp": 0.2, "ew": 0.2})
    v = checks.check_predictor_preference(ReportContext(pd.DataFrame()), section.study_rows(df))
    gcn = [p for p in v.parts if p.label.startswith("gcn")]
    assert v.verdict == "reproduced" and all("(mape)" in p.label for p in gcn)


def test_mlp_ranking_does_not_count_a_tie_as_weighted():
    df = predictor_rows({"mape": 0.6, "hr": 0.5}, transformer_tie=True)  # the Transformer: ranking = weighted
    v = checks.check_predictor_preference(ReportContext(pd.DataFrame()), section.study_rows(df))
    tied = [p for p in v.parts if p.label.startswith("transformer")]
    assert all(p.diff == 0 and p.level == "direction_disagrees" for p in tied)
    assert v.verdict == "direction_disagrees"


# -- fidelity 4: gt_weighting reads Precision@T, honours the large margin and filters its cells ---------
def test_gt_weighting_needs_exp_gt_above_gt(ctx):
    out = []
    for loss in ("ew", "warp"):
        out += weighting_rows(loss, {"GT": 0.5, "EXP-GT": 0.47, "Ranking": 0.2})  # GT above EXP-GT: not the paper's order
    v = checks.check_gt_weighting(ctx, section.study_rows(pd.DataFrame(out)))
    assert v.verdict == "contradicted" and v.parts[0].label == "ew: EXP-GT vs GT" and v.parts[0].level == "contradicted"


def test_gt_weighting_honours_the_large_margin(ctx):
    out = []
    for loss in ("ew", "warp"):
        out += weighting_rows(loss, {"GT": 0.48, "EXP-GT": 0.5, "Ranking": 0.44})  # above Ranking, by 4-6 points of P@0.5 only
    v = checks.check_gt_weighting(ctx, section.study_rows(pd.DataFrame(out)))
    assert v.verdict == "contradicted"
    short = [p for p in v.parts if p.label.endswith("GT vs Ranking")]
    assert short and all(p.diff > 0 and p.margin == checks.GT_LARGE for p in short)


def test_gt_weighting_reads_precision_at_several_t(ctx):
    out = []
    for loss in ("ew", "warp"):
        out += weighting_rows(loss, {"GT": 0.47, "EXP-GT": 0.5, "Ranking": 0.2})
    df = pd.DataFrame(out)
    df["precision@1"] = df["precision@0.5"]
    ranking = df["method"].str.endswith("[Ranking]")
    df.loc[ranking, "precision@1"] = 0.9  # Ranking leads at T = 1 %: the mean over T no longer favours GT by a large margin
    df.loc[ranking, "precision@5"] = 0.9
    v = checks.check_gt_weighting(ctx, section.study_rows(df))
    assert v.verdict == "contradicted"


def test_gt_weighting_filters_task_budget_and_predictor(ctx):
    out = []
    for loss in ("ew", "warp"):
        out += weighting_rows(loss, {"GT": 0.47, "EXP-GT": 0.5, "Ranking": 0.2})
        out += weighting_rows(loss, {"GT": 0.1, "EXP-GT": 0.1, "Ranking": 0.9}, task="nb201/cifar100")
        out += weighting_rows(loss, {"GT": 0.1, "EXP-GT": 0.1, "Ranking": 0.9}, budget=0.05)
        out += weighting_rows(loss, {"GT": 0.1, "EXP-GT": 0.1, "Ranking": 0.9}, predictor="ap")
    v = checks.check_gt_weighting(ctx, section.study_rows(pd.DataFrame(out)))
    assert v.verdict == "reproduced" and {p.task for p in v.parts} == {"nb201/cifar10"}


# -- item 7: gt_weighting under each reading of y (weight_target) ---------------------------------------
PAPER_ORDER = {"GT": 0.47, "EXP-GT": 0.5, "Ranking": 0.2}


def test_the_readings_judged_are_the_losses_default_and_the_sensitivity_blocks():
    from nasbench_harness.methods.losses import WEIGHT_TARGETS, ExponentialWeightedLoss, WARPLoss

    assert ExponentialWeightedLoss.default_params["weight_target"] == WARPLoss.default_params["weight_target"] == checks.DEFAULT_READING
    assert checks.weight_readings() == READINGS and set(READINGS) == set(WEIGHT_TARGETS)


def test_gt_weighting_stable_over_the_readings_depends_on_nothing(ctx):
    out = []
    for loss in ("ew", "warp"):
        out += weighting_rows(loss, PAPER_ORDER)
    v = checks.check_gt_weighting(ctx, section.study_rows(pd.DataFrame(out)))
    assert v.verdict == "reproduced" and v.depends_on == [] and not v.lacking
    assert len(v.parts) == 24 and sum(p.deciding for p in v.parts) == 8  # the default reading decides
    assert "minmax: reproduced; percent: reproduced; fraction: reproduced" in v.note
    assert "reproduced with y read as: minmax, percent, fraction" in v.note
    assert v.as_dict()["depends_on"] == []


def test_gt_weighting_that_changes_with_the_reading_depends_on_weight_target(ctx):
    out = []
    for loss in ("ew", "warp"):
        # y in %: EXP-GT weights are one-hot, GT falls far behind (not close): the paper's ordering breaks.
        out += weighting_rows(loss, PAPER_ORDER, by_reading={"percent": {"GT": 0.3, "EXP-GT": 0.5}})
    v = checks.check_gt_weighting(ctx, section.study_rows(pd.DataFrame(out)))
    assert v.verdict == "reproduced" and v.depends_on == ["weight_target"]
    assert "minmax: reproduced; percent: contradicted; fraction: reproduced" in v.note
    assert "reproduced with y read as: minmax, fraction." in v.note
    claim = v.as_dict()
    percent = [p for p in claim["per_task"] if p["part"].startswith("[y: percent]")]
    assert len(percent) == 8 and all(p["beyond_paper"] for p in percent)
    assert {p["verdict"] for p in percent if p["part"].endswith("GT close to EXP-GT")} == {"contradicted"}


def test_gt_weighting_with_no_reading_reproducing_says_so(ctx):
    out = []
    for loss in ("ew", "warp"):
        out += weighting_rows(loss, {"GT": 0.3, "EXP-GT": 0.5, "Ranking": 0.2},
                              by_reading={"fraction": {"GT": 0.5, "EXP-GT": 0.3}})
    v = checks.check_gt_weighting(ctx, section.study_rows(pd.DataFrame(out)))
    assert v.verdict == "contradicted" and v.depends_on == []  # every reading contradicted (differently): stable
    assert "No reading reproduces the paper's ordering." in v.note


def test_gt_weighting_names_the_readings_without_rows_and_their_command(ctx):
    out = []
    for loss in ("ew", "warp"):
        out += weighting_rows(loss, PAPER_ORDER, readings=("minmax", "percent"))
    v = checks.check_gt_weighting(ctx, section.study_rows(pd.DataFrame(out)))
    assert v.verdict == "insufficient_evidence" and v.depends_on == []
    assert [m.command for m in v.lacking] == [
        f"nasbench-harness run --matrix paper-losses --filter task=nb201/cifar10 --filter budget=0.01 --filter loss={loss} "
        "--filter method=*fraction?" for loss in ("ew", "warp")]
    assert all("weight_target=fraction" in m.what for m in v.lacking)
    assert "Without rows (see Missing): fraction." in v.note and "judged so far reproduces" not in v.note


def test_the_sentences_are_quoted_from_the_paper(shared_papers):
    text = " ".join((shared_papers / "loss-functions-for-predictors.txt").read_text(encoding="utf-8").split())
    from nasbench_harness.studies.losses import search_checks

    for claim, sentence in {**checks.SENTENCES, **search_checks.SENTENCES}.items():
        assert sentence in text, claim


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


def test_the_one_shot_pw_check_is_gone():
    assert list(checks.FINDING_CHECKS) == ["weighted_top", "ranking_tau", "ranking_small", "mlp_ranking", "gt_weighting"]


def test_validation_judged_tasks_are_labelled_from_the_row_flag():
    results = study()
    results["eval_is_test"] = ~results["task"].str.startswith(("nb101", "tnb101"))
    html = section.render(results, ReportContext(results))
    assert "Judged on validation, not test: nb101/cifar10, tnb101-macro/class_scene, tnb101-micro/class_scene" in html
    assert "nb201/cifar10," not in html.split("Judged on validation, not test:")[1].split("(")[0]


# -- item 8: each verdict under each shared learning rate of the grid (the lr block) -----------------------
GRID = (0.003, 0.01, 0.03)


def lr_rows(df: pd.DataFrame, lr: float) -> pd.DataFrame:
    """``df``'s GCN rows of the claims' own cells (the Figure-2 and ranking_small cells, gt_weighting's weighting
    types at the default reading) relabelled as the lr block's rows at ``lr``: the variant says the rate first."""
    cells = set(checks.figure2_cells()) | set(checks.small_cells())
    at_cell = pd.Series([(t, float(b)) in cells for t, b in zip(df["task"], df["budget"])], index=df.index)
    plain = df["method"].str.fullmatch(r"gcn\+\w+") & at_cell
    weighting = df["method"].str.fullmatch(r"gcn\+(ew|warp)\[(GT|EXP-GT|Ranking)\]") & (df["task"] == checks.GT_TASK)
    out = df[(plain | weighting) & df["protocol_params"].str.contains('"space"')].copy()
    base, rest = out["method"].str.split("[", n=1, regex=False).str[0], out["method"].str.split("[", n=1, regex=False).str[1]
    out["method"] = base + f"[lr={lr:g}" + rest.map(lambda r: f",{r}" if isinstance(r, str) else "]")
    out["key"] = out["key"] + f"-lr{lr:g}"
    return out


def with_lr(df: pd.DataFrame, contrary: pd.DataFrame | None = None, at=GRID) -> pd.DataFrame:
    """``df`` plus the lr block's rows at each rate: like ``df`` itself, or ``contrary``'s at the rates in ``at``."""
    return pd.concat([df, *(lr_rows(contrary if contrary is not None and lr in at else df, lr) for lr in GRID)], ignore_index=True)


def contrary_study() -> pd.DataFrame:
    """Every predictor claim the other way round (GT below EXP-GT by far, Ranking weights best)."""
    df = study(weighted_top=False, small_ranking=False)
    weighting = df["method"].str.contains(r"\[(?:GT|EXP-GT)\]")
    df.loc[weighting & df["method"].str.contains("EXP-GT"), "precision@0.5"] = 0.1
    df.loc[df["method"].str.contains(r"\[Ranking\]"), "precision@0.5"] = 0.6
    ranking = df["loss"].map(section.loss_category()) == "ranking"
    df.loc[ranking & ~df["method"].str.contains(r"\["), "kendall_tau"] -= 0.4  # ranking losses rank worst
    for loss in ("ew", "warp"):  # the GCN prefers ranking losses at NB201 1 %
        df.loc[(df["predictor"] == "gcn") & (df["method"] == f"gcn+{loss}") & (df["task"] == "nb201/cifar10")
               & (df["budget"] == 0.01), ["precision@0.5", "n@10"]] = [0.0, 60]
    return df


def test_the_lr_grid_is_the_lr_blocks_and_its_rows_run_the_claims_own_cells():
    from nasbench_harness.studies.losses import LossStudy

    assert checks.lr_grid() == GRID
    cells = LossStudy.block(checks.MATRIX, "lr")
    assert {(c.task, float(c.budget)) for c in cells} == set(checks.figure2_cells()) | set(checks.small_cells())
    assert {c.predictor for c in cells} == {"gcn"} and {c.seed for c in cells} == set(range(10))
    assert {c.label.split("[")[1].split(",")[0].rstrip("]") for c in cells} == {f"lr={lr:g}" for lr in GRID}
    assert all(c.label.endswith(f"[lr={c.params['lr']:g}]") or c.label.endswith(f",{c.loss_params['weighting']}]") for c in cells)
    weighting = [c for c in cells if c.loss_params]
    assert {(c.loss, c.loss_params["weighting"]) for c in weighting} == {(lo, w) for lo in ("ew", "warp") for w in ("GT", "EXP-GT", "Ranking")}
    assert {(c.task, float(c.budget)) for c in weighting} == {(checks.GT_TASK, 0.01)}


def test_verdicts_stable_over_the_learning_rates_depend_on_nothing(ctx):
    df = section.study_rows(with_lr(study()))
    for key, fn in checks.FINDING_CHECKS.items():
        v = fn(ctx, df)
        assert v.verdict == "reproduced" and v.depends_on == [] and not v.missing, (key, v.missing)
        assert "per-loss: reproduced; 0.003: reproduced; 0.01: reproduced; 0.03: reproduced." in v.note, key
        assert "The paper's claim is reproduced at lr: per-loss, 0.003, 0.01, 0.03." in v.note or key == "gt_weighting"
        lr_parts = [p for p in v.parts if p.label.startswith("[lr=")]
        assert lr_parts and not any(p.deciding for p in lr_parts) and {p.label[:8] for p in lr_parts} >= {"[lr=0.00", "[lr=0.01", "[lr=0.03"}
        assert v.as_dict()["depends_on"] == []


def test_a_verdict_that_changes_with_the_learning_rate_depends_on_lr(ctx):
    plain = section.study_rows(study())
    df = section.study_rows(with_lr(study(), contrary_study(), at=(0.03,)))
    for key, fn in checks.FINDING_CHECKS.items():
        v = fn(ctx, df)
        assert v.verdict == fn(ctx, plain).verdict == "reproduced" and v.depends_on == ["lr"], (key, v.note)
        assert "per-loss: reproduced; 0.003: reproduced; 0.01: reproduced; 0.03: contradicted." in v.note, (key, v.note)
        flipped = [p for p in v.as_dict()["per_task"] if p["part"].startswith("[lr=0.03]")]
        assert flipped and all(p["beyond_paper"] for p in flipped) and "contradicted" in {p["verdict"] for p in flipped}


def test_the_lr_rows_never_change_the_deciding_verdict_or_its_parts(ctx):
    for base in (study(), contrary_study()):
        alone = section.study_rows(base)
        mixed = section.study_rows(with_lr(base, contrary_study()))
        mixed_other = section.study_rows(with_lr(base, study()))
        for key, fn in checks.FINDING_CHECKS.items():
            want = fn(ctx, alone)
            for df in (mixed, mixed_other):
                got = fn(ctx, df)
                assert got.verdict == want.verdict, key
                assert [p.as_dict() for p in got.deciding] == [p.as_dict() for p in want.deciding], key


def test_missing_lr_rows_are_named_with_their_command_and_leave_the_verdict_alone(ctx):
    v = checks.check_ranking_small(ctx, section.study_rows(study()))
    assert v.verdict == "reproduced" and v.depends_on == [] and not v.lacking
    lr_missing = [m for m in v.missing if m.setting == "lr"]
    assert len(lr_missing) == len(v.missing) == 6  # two cells x three rates
    assert lr_missing[0].command == ("nasbench-harness run --matrix paper-losses --filter task=nb201/cifar10 --filter budget=0.001 "
                                     "--filter predictor=gcn --filter method=*lr=0.003*")
    assert "at lr=0.003" in lr_missing[0].what and lr_missing[0].as_dict()["setting"] == "lr"
    assert "per-loss: reproduced; 0.003: insufficient evidence" in v.note
    assert "Without rows (see Missing): 0.003, 0.01, 0.03." in v.note
    # Rows at one rate only: that rate is judged, the others stay listed, and nothing differs yet.
    one = section.study_rows(pd.concat([study(), lr_rows(contrary_study(), 0.01)], ignore_index=True))
    v = checks.check_ranking_small(ctx, one)
    assert v.verdict == "reproduced" and v.depends_on == ["lr"] and {m.what.split("lr=")[1][:5] for m in v.missing} == {"0.003", "0.03 "}


def test_gt_weighting_names_missing_lr_rows_with_the_weighting_cells_command(ctx):
    out = []
    for loss in ("ew", "warp"):
        out += weighting_rows(loss, PAPER_ORDER)
    v = checks.check_gt_weighting(ctx, section.study_rows(pd.DataFrame(out)))
    lr_missing = [m for m in v.missing if m.setting == "lr"]
    assert v.verdict == "reproduced" and len(lr_missing) == 6
    assert lr_missing[0].command == ("nasbench-harness run --matrix paper-losses --filter task=nb201/cifar10 --filter budget=0.01 "
                                     "--filter loss=ew --filter method=*lr=0.003*")
    # Both settings are in the note, each with its outcomes; the reading's still decide on its own rows.
    assert "By the learning rate (lr" in v.note and "By the reading of y in the weights" in v.note


def test_missing_lr_rows_are_marked_in_the_panel():
    from nasbench_harness.report import verdicts as V

    v = checks.check_ranking_small(ReportContext(pd.DataFrame()), section.study_rows(study()))
    lines = V.panel_parts(v)
    assert any(line.startswith("Missing (lr sensitivity, does not change the verdict): nb201/cifar10 at 0.001") for line in lines)


def test_the_weighting_table_leaves_the_lr_rows_out():
    results = with_lr(study())
    html = section.render(results, ReportContext(results))
    weighting = html.split("Weighting types")[1].split("<h3>")[0]
    assert "gcn+ew[GT]" in weighting and "[lr=" not in weighting
