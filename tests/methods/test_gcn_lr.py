"""The GCN's learning rate per (loss, search space): methods/neural/gcn_lr.py, chosen by lr_selection."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from nasbench_harness.methods.base import ArchSet
from nasbench_harness.methods.neural import gcn
from nasbench_harness.methods.neural.gcn_lr import GCN_LR
from nasbench_harness.methods.neural.lr_selection import FAMILIES, GRID, LOSSES
from nasbench_harness.registry import load
from nasbench_harness.testing import toy_task


def fitted(task, loss, **params):
    model = gcn.GCNPredictor(seed=0, loss=loss, epochs=1, **params)
    rows = np.arange(20)
    model.fit(ArchSet(task, rows), task.train_scores[rows])
    return model


def test_the_table_names_grid_rates_for_the_study_s_losses_and_families():
    assert GCN_LR and set(GCN_LR) <= set(FAMILIES)
    for family, rates in GCN_LR.items():
        assert set(rates) <= set(LOSSES), family
        assert all(lr in GRID for lr in rates.values()), family


def test_the_gcn_trains_at_its_space_rate_and_falls_back_to_the_loss_default_elsewhere(monkeypatch):
    task = toy_task(n=100)
    # The toy space is not in the table: each loss's own default_lr, as before.
    assert "toy" not in GCN_LR
    for name in ("mse", "hr", "warp"):
        model = fitted(task, name)
        assert model.train_config(model._loss).lr == load("losses", name).default_lr
    # Named in the table: its rate, for pw its second loss's; an lr of the GCN's own wins.
    monkeypatch.setattr(gcn, "GCN_LR", {"toy": {"mse": 0.0123, "mape": 0.0456}})
    model = fitted(task, "mse")
    assert model.train_config(model._loss).lr == 0.0123
    model = fitted(task, load("losses", "pw")(first="hr", second="mape"))
    assert model.train_config(model._loss).lr == 0.0456
    model = fitted(task, "mse", lr=1e-4)
    assert model.train_config(model._loss).lr == 1e-4
    model = fitted(task, "hr")  # a loss the space's row does not name
    assert model.train_config(model._loss).lr == load("losses", "hr").default_lr


def nb201_task(n: int = 40):
    """The toy task's shape on the first ``n`` NAS-Bench-201 cells (no benchmark data needed: the
    GCN reads graphs, built from the cells' ids, and the fit's labels)."""
    from nasbench_harness.registry import get_search_space

    space = get_search_space("nb201")
    toy = toy_task()
    return dataclasses.replace(toy, space=space, ids=np.asarray(space.enumerate()[:n], dtype=str), train=np.arange(float(n)),
                               eval=np.full(n, np.nan), extras=toy.extras.iloc[:n], data_checksum="nb201-test")


@pytest.mark.parametrize("loss", sorted(GCN_LR["nb201"]))
def test_a_gcn_fitted_on_nb201_cells_trains_at_the_nb201_rate(loss):
    model = fitted(nb201_task(), loss)
    assert model.space_name == "nb201" and model.train_config(model._loss).lr == GCN_LR["nb201"][loss]


def test_the_nb201_row_moves_some_rate_from_the_old_default():
    # What makes the table matter (and the test above fail on the code before it).
    assert any(lr != load("losses", loss).default_lr for loss, lr in GCN_LR["nb201"].items())
