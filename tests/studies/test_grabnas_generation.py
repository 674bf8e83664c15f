"""tools/grabnas_generation.py: the development task reads meta-training data only, and a run's
generation figures come from the search protocol's row and add up."""

from __future__ import annotations

import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from nasbench_harness.methods.grabnas import meta

TOOL = Path(__file__).resolve().parents[2] / "tools" / "grabnas_generation.py"

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def tool():
    return SimpleNamespace(**runpy.run_path(str(TOOL)))  # a script of tools/, not a package module


@pytest.fixture
def dev(tool, cache_for, monkeypatch):
    cache_for("nb201")
    monkeypatch.setattr(meta, "DEFAULT_CONFIG", meta.TEST_CONFIG)
    return tool.dev_task(cache_for("transfer"))


def test_the_development_task_is_metad2a_mean_accuracy_only(dev, cache_for):
    data = meta.metad2a_data(cache_for("transfer"), dev.space)
    index = {a: i for i, a in enumerate(dev.space.enumerate().tolist())}
    rows = [index[a] for a in dev.ids.tolist()]
    assert len(dev) == int(np.isfinite(data.mean_acc).sum()) < 15625
    assert np.array_equal(dev.train, data.mean_acc[rows]) and np.array_equal(dev.eval, dev.train)  # no NB201 target value


def test_a_run_through_the_search_protocol_accounts_for_every_decode(tool, dev):
    run = tool.one_run(dev, tool.DEV, 0, 14, 5, {"bo_rounds": 2})
    assert run["n_decodes"] == run["n_invalid_decodes"] + run["n_valid"] > 0
    assert run["n_valid"] == run["n_decoded_known"] + run["n_decoded_unlabelled"] + run["n_decoded"]
    assert run["n_decoded_start"] <= run["n_decoded_known"]
    assert len(run["novel_evals"]) == len(run["decoded_ids"]) == run["n_decoded"]
    assert run["novel_beyond_remaining"] == sum(v > run["remaining_best_eval"] for v in run["novel_evals"])
    table = tool.markdown({"settings": {"today": {"quality": {}, "runs": [run]}}})
    assert f"| today | dev | 5 | 1 | {run['n_decodes']:.1f} |" in table
