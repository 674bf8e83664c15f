"""One ``prepare`` for the CLI and the Python API: filters, --sample, the dry-run plan cache (issue 18, item 11)."""

from __future__ import annotations

import pytest
from nasbench_harness import matrix as matrix_module
from nasbench_harness.errors import ConfigError
from nasbench_harness.runner import prepare
from nasbench_harness.store import ResultStore

INCLUDED = "tasks: [toy/synthetic]\nmethods: [knn]\nbudgets: [10, 20]\nseeds: 3\n"


@pytest.fixture
def with_include(write_matrix, example_plugin):
    write_matrix(INCLUDED, "part.yaml")
    return write_matrix("name: whole\ninclude: [part.yaml]\n", "whole.yaml")


def test_prepare_filters_and_samples_in_the_python_api(with_include, tmp_path):
    store = ResultStore(tmp_path / "r")
    assert len(prepare(with_include, store).cells) == 6
    assert {c.budget for c in prepare(with_include, store, filters=["budget=20"]).cells} == {20}
    sampled = prepare(with_include, store, sample=1)
    assert len(sampled.cells) == 1 and sampled.cells[0].budget == 10  # the smallest training size of the one stratum
    with pytest.raises(ConfigError, match="match none"):
        prepare(with_include, store, filters=["seed=99"])


def test_a_dry_run_reuses_the_plan_until_an_included_file_changes(with_include, tmp_path, monkeypatch):
    store = ResultStore(tmp_path / "r")
    first = prepare(with_include, store, dry_run=True)
    assert str((tmp_path / "part.yaml").resolve()) in first.matrix.files

    def no_expansion(*args, **kwargs):
        raise AssertionError("the cached plan should have been used")

    monkeypatch.setattr(matrix_module, "load_matrix", no_expansion)
    again = prepare(with_include, store, dry_run=True)
    assert again.keys == first.keys
    monkeypatch.undo()

    (tmp_path / "part.yaml").write_text(INCLUDED.replace("seeds: 3", "seeds: 2"))
    changed = prepare(with_include, store, dry_run=True)
    assert len(changed.cells) == 4
