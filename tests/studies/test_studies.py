"""Studies: found through their entry points, their matrices by name, and each section's own cells."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from nasbench_harness import studies
from nasbench_harness.errors import ConfigError
from nasbench_harness.matrix import builtin_matrices


def test_the_built_in_studies_are_registered_with_their_matrices_and_published_numbers():
    assert {s.name for s in studies.studies()} == {"losses", "convnp", "grabnas", "surrogates"}
    assert {"paper-losses", "paper-search", "paper-convnp", "paper-grabnas", "paper-surrogates", "full", "smoke"} <= set(builtin_matrices())
    assert set(studies.published_files()) == {"losses", "search", "convnp", "grabnas", "surrogates"}
    for study, section in studies.sections():
        assert section.matrix in study.matrix_paths()
        assert callable(studies.load_section(section).render)


def _row(protocol_params: str, method: str, budget, **extra) -> dict:
    return {"protocol": "search", "protocol_params": protocol_params, "task": "nb201/cifar10", "method": method,
            "budget": budget, "seed": 0, "status": "ok", **extra}


def test_own_rows_compare_cells_by_content_not_by_matrix_name_or_key():
    path = studies.matrices()["paper-search"]
    rows = pd.DataFrame([
        _row('{"strategy": "pwlnas"}', "PWLNAS-PW", 100, matrix="full", key="a"),  # spacing and matrix differ: ours
        _row('{"strategy":"random"}', "RS", 100.0, matrix="paper-grabnas", key="b"),  # the same cell in both studies
        _row('{"setting":"metad2a","strategy":"tnas"}', "support set only", 5, matrix="paper-search", key="c"),
        _row('{"strategy":"pwlnas"}', "PWLNAS-PW", 50, key="d"),  # a budget the matrix does not run
        _row('{"strategy":"pwlnas"}', "PWLNAS", 100, key="e"),  # another label
    ])
    assert list(studies.own_rows(rows, path)["key"]) == ["a", "b"]
    assert studies.own_rows(rows.drop(columns="method"), path).empty


def test_a_study_s_cells_expanded_with_one_seed_are_those_of_every_seed():
    from nasbench_harness.matrix import canonical_json, load_matrix

    for name, path in studies.matrices().items():
        every = {(c.protocol, canonical_json(c.protocol_params), c.task, c.method, float(c.budget)) for c in load_matrix(path).cells}
        assert studies.matrix_cells(path) == every, name


def test_published_numbers_are_read_from_the_study_folder():
    from nasbench_harness.report.context import ReportContext

    ctx = ReportContext(pd.DataFrame())
    assert "tables" in ctx.published("search")
    with pytest.raises(ConfigError, match="known: convnp, grabnas, losses, search, surrogates"):
        ctx.published("nope")
    assert json.loads(json.dumps(ctx.published("grabnas")))  # plain data


def test_a_section_reads_its_tasks_and_budgets_from_its_matrix(tmp_path, monkeypatch):
    """The loss section's main portions and paper tasks are the matrix's ``main`` and ``trend`` blocks:
    editing the matrix changes them (no restated list)."""
    from nasbench_harness.studies.losses import LossStudy, section

    assert section.main_budget() == {"nb101": 423, "nb201": 0.01, "tnb101-micro": 0.003, "tnb101-macro": 0.003,
                                     "nbgraph": 0.03, "darts": 100}
    assert section.eval_spaces() == ["nb101", "nb201", "tnb101-micro", "tnb101-macro", "nbgraph"]
    text = LossStudy.matrix_paths()["paper-losses"].read_text()
    edited = tmp_path / "paper-losses.yaml"
    edited.write_text(text.replace("- name: main\n    tasks: [nb201/cifar10, nb201/cifar100, nb201/ImageNet16-120]\n    budgets: [0.01]",
                                   "- name: main\n    tasks: [nb201/cifar10, nb201/cifar100, nb201/ImageNet16-120]\n    budgets: [0.02]"))
    monkeypatch.setattr(LossStudy, "matrix_paths", classmethod(lambda cls: {"paper-losses": edited}))
    for fn in (section.main_budget, section.paper_tasks):
        fn.cache_clear()
    try:
        assert section.main_budget()["nb201"] == 0.02
    finally:
        for fn in (section.main_budget, section.paper_tasks):
            fn.cache_clear()
    with pytest.raises(ConfigError, match="no block named 'nope'"):
        studies.block_cells(edited, "nope")


def test_paper_search_runs_npenas_and_pwlnas_mse_as_different_cells():
    """NPENAS is npenas with its own paper's predictor (gin); the paper's "PWLNAS, MSE" is PWLNAS's loop
    with the GCN and MSE: two cells on every task of Tables 2, 3 and 5, and PWLNAS-MSE on Table 4's."""
    from nasbench_harness.matrix import load_matrix

    cells = load_matrix(studies.matrices()["paper-search"]).cells
    by_label = {}
    for c in cells:
        if c.method in ("NPENAS", "PWLNAS-MSE") and c.seed == 0:
            by_label.setdefault(c.method, {})[c.task] = (c.protocol_params["strategy"], c.predictor, c.loss)
    npenas, pwlnas_mse = by_label.get("NPENAS", {}), by_label.get("PWLNAS-MSE", {})
    tables_2_3_5 = {"nb201/cifar10", "nb201/cifar100", "nb201/ImageNet16-120", "nb101/cifar10", "darts/cifar10"}
    assert set(npenas) == tables_2_3_5 and set(npenas.values()) == {("npenas", "gin", "mse")}
    assert set(pwlnas_mse) == tables_2_3_5 | {t for t in pwlnas_mse if t.startswith("tnb101-micro/")}
    assert len(pwlnas_mse) == 9 and set(pwlnas_mse.values()) == {("npenas", "gcn", "mse")}
    assert not any(c.method == "NPENAS-MSE" for c in cells)
