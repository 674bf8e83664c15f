"""Learning-rate selection by cross-validation inside the training cells (train metric only)."""

from __future__ import annotations

import numpy as np
from nasbench_harness.methods.neural import lr_selection
from nasbench_harness.testing import toy_task


def test_fold_taus_score_held_out_training_cells_on_the_train_metric(monkeypatch):
    task = toy_task(n=400)
    # Record what every held-out tau is computed against.
    seen = []
    real = lr_selection.kendalltau
    monkeypatch.setattr(lr_selection, "kendalltau", lambda a, b: seen.append(np.asarray(b)) or real(a, b))
    taus = lr_selection.fold_taus(task, "hr", 1e-2, seed=0, budget=0.1, folds=2)
    assert len(taus) == 2 and all(-1 <= t <= 1 for t in taus)
    train = set(np.round(task.train_scores, 12))
    assert all(set(np.round(b, 12)) <= train for b in seen)  # judged on train-metric values only
    assert sum(len(b) for b in seen) == 40  # the two folds partition the 40 training cells


def test_markdown_table_lists_every_loss_and_the_choice():
    result = {"grid": [0.003, 0.01], "chosen": {"mse": 0.01},
              "table": {"mse": {"0.003": {"mean": 0.5, "se": 0.01, "n": 4}, "0.01": {"mean": 0.6, "se": 0.02, "n": 4}}}}
    text = lr_selection.markdown(result)
    assert "| `mse` | 0.500 ± 0.010 | 0.600 ± 0.020 | 0.01 |" in text
