"""Learning-rate selection (methods/neural/lr_selection.py): the criterion, the fold rules, train metric only."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from nasbench_harness.methods.neural import lr_selection as sel
from nasbench_harness.testing import toy_task


def judged_on_its_train_metric(task):
    """A copy of the toy task as a validation-only benchmark (its eval metric is its train metric)."""
    return dataclasses.replace(task, eval_metric=task.spec.train_metric)


def test_criterion_weighs_tau_and_precision_at_10_percent_equally():
    y = np.arange(200.0)
    perfect = sel.held_out_score(y, y * 2)
    assert (perfect["tau"], perfect["p10"], perfect["score"]) == pytest.approx((1.0, 1.0, 1.0))
    # Rank the true top 10 % last and everything else perfectly: tau stays high, P@10% is 0.
    pred = np.where(y >= 180, -y, y)
    s = sel.held_out_score(y, pred)
    assert s["p10"] == 0 and s["tau"] > 0.6 and s["score"] == pytest.approx(0.5 * s["tau"])
    diverged = sel.held_out_score(y, None)  # a constant prediction: no ranking, chance precision
    assert diverged["tau"] == 0 and diverged["p10"] == pytest.approx(0.1)


def test_choice_is_the_best_mean_score_and_a_tie_goes_to_the_smaller_rate():
    def table(*means):
        return {f"{lr:g}": {"score": {"mean": m}} for lr, m in zip(sel.GRID, means, strict=True)}

    assert sel.choose(table(0.1, 0.3, 0.2), sel.GRID) == 1e-2
    assert sel.choose(table(0.1, 0.3, 0.3 + 1e-13), sel.GRID) == 1e-2
    assert sel.choose(table(0.1, 0.3, 0.3 + 1e-9), sel.GRID) == 3e-2


def test_monte_carlo_folds_fit_on_the_study_size_and_hold_out_200_other_cells():
    task = toy_task(n=600)
    folds = sel.family_folds([task], {task.name: 50}, min_folds=12)
    assert len(folds) == 12 and len({f.draw for f in folds}) == 12
    for f in folds:
        assert len(f.fit) == 50 and len(f.held) == sel.HELD_OUT and not set(f.fit) & set(f.held)


def test_k_folds_split_the_training_sample_only_into_folds_of_at_least_100_cells():
    task = judged_on_its_train_metric(toy_task(n=600))
    folds = sel.family_folds([task], {task.name: 423}, min_folds=12)
    assert len(folds) == 12 and {len(f.held) for f in folds} == {105, 106}  # 3 draws x 4 folds
    for draw in range(3):
        mine = [f for f in folds if f.draw == draw]
        sample = np.concatenate([f.held for f in mine])
        assert len(sample) == len(set(sample)) == 423  # the held-out folds partition one training sample
        assert all(set(f.fit) == set(sample) - set(f.held) for f in mine)  # fits read nothing else
    # Too small to give two folds of 100 (TransNAS at 0.3 %, DARTS at 100): not tuned on its own.
    assert sel.family_folds([task], {task.name: 199}, min_folds=12) == []
    assert sel.k_folds(200) == 2


def test_selection_never_reads_the_eval_metric_and_untunable_families_take_the_pooled_choice():
    poisoned = np.full(600, np.nan)  # any read of the eval metric would fail the metrics
    val_only = dataclasses.replace(judged_on_its_train_metric(toy_task(n=600)), eval=poisoned)
    with_validation = dataclasses.replace(toy_task(n=600, seed=1), eval=poisoned)
    tasks = {"toy/kfold": val_only, "toy/mc": with_validation, "toy/tiny": val_only}
    plan = {"kfold": (["toy/kfold"], 200), "mc": (["toy/mc"], 100), "tiny": (["toy/tiny"], 12)}
    result = sel.select(list(plan), ("mse",), (1e-2, 3e-2), min_folds=2, plan=plan, load=tasks.__getitem__, epochs=20)
    fams = result["families"]
    assert fams["kfold"]["scheme"] == "k-fold" and fams["kfold"]["held_out_sizes"] == [100]
    assert fams["mc"]["scheme"] == "monte-carlo" and fams["mc"]["held_out_sizes"] == [200]
    assert not fams["tiny"]["tuned"] and result["chosen"]["tiny"] == result["pooled_chosen"]
    assert result["pooled"]["mse"]["0.01"]["n"] == 4  # the two tuned families' folds together
    for row in fams["kfold"]["table"]["mse"].values():
        assert np.isfinite(row["score"]["mean"]) and row["n"] == 2
    assert "| `mse` |" in sel.markdown(result)
    # The GCN's table module is written from the result, not copied by hand.
    space: dict = {}
    exec(sel.table_module(result, "python -m ...", "2026-12-07"), space)  # noqa: S102 - our own generated source
    assert space["GCN_LR"] == result["chosen"]
    # Runs over different families merge into the same choices (the pooled one from their folds).
    parts = [{**result, "families": {f: fams[f] for f in part}} for part in (["kfold", "tiny"], ["mc"])]
    merged = sel.merge(parts)
    assert merged["pooled"] == result["pooled"] and merged["chosen"] == {f: result["chosen"][f] for f in merged["chosen"]}


def test_a_stopped_run_resumes_from_its_checkpoint_and_reports_only_complete_losses(tmp_path, monkeypatch):
    task = toy_task(n=600)
    plan = {"mc": (["toy/synthetic"], 50)}
    ck = str(tmp_path / "ck.json")
    kw = {"min_folds": 2, "plan": plan, "load": lambda name: task, "epochs": 3, "checkpoint": ck}
    first = sel.select(["mc"], ("mse",), (1e-2, 3e-2), **kw)
    monkeypatch.setattr(sel, "fit_and_score", lambda *a, **k: pytest.fail("a checkpointed group was refitted"))
    again = sel.select(["mc"], ("mse",), (1e-2, 3e-2), **kw)
    assert again["families"]["mc"]["table"] == first["families"]["mc"]["table"]
    # Without fitting, a loss that lacks a rate is left out: no choice, the GCN keeps default_lr.
    partial = sel.select(["mc"], ("mse", "hr"), (1e-2, 3e-2), fit=False, **kw)
    assert partial["families"]["mc"]["missing"] == ["hr"] and partial["chosen"]["mc"] == first["chosen"]["mc"]
    assert "not scored" in sel.markdown(partial)
