"""The `full` matrix's scope: explicit method lists, and the cell counts per cost family that
docs/FULL.md states (the test reads them from its table, so the document cannot drift)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import yaml
from nasbench_harness.estimate import FAMILIES, cell_family
from nasbench_harness.matrix import builtin_matrices, load_matrix

DOC = Path(__file__).resolve().parents[2] / "docs" / "FULL.md"


def _documented_counts() -> dict[str, int]:
    """The rows of the ``| family | cells |`` table in docs/FULL.md."""
    lines = DOC.read_text().splitlines()
    start = lines.index("| family | cells |") + 2
    counts = {}
    for line in lines[start:]:
        m = re.match(r"\|\s*([^|]+?)\s*\|\s*([\d,]+)\s*\|$", line)
        if not m:
            break
        counts[m.group(1)] = int(m.group(2).replace(",", ""))
    assert set(counts) <= {*FAMILIES, "total"}
    return counts


def test_every_block_of_full_names_its_methods():
    doc = yaml.safe_load(builtin_matrices()["full"].read_text())
    assert "methods" not in doc  # no top-level default that blocks could inherit
    for block in doc["blocks"]:
        assert isinstance(block["methods"], list) and "*" not in block["methods"]
    included = [inc["matrix"] for inc in doc["include"]]
    assert {"paper-losses", "paper-convnp", "paper-search", "paper-grabnas", "paper-surrogates"} <= set(included)


def test_full_expands_to_the_documented_cells_per_family(monkeypatch):
    """A newly registered predictor adds no cell to `full` (with `methods: "*"` it would, and
    here it would fail to load)."""
    from nasbench_harness import registry

    names = registry.names
    monkeypatch.setattr(registry, "names", lambda kind: names(kind) + (["brand_new"] if kind == "predictors" else []))
    cells = load_matrix("full").cells
    assert "brand_new" not in {c.predictor for c in cells}
    per_family = Counter(cell_family(c) for c in cells)
    assert "other" not in per_family  # every predictor of `full` has a stated family budget
    documented = _documented_counts()
    assert documented.pop("total") == len(cells)
    assert documented == dict(per_family)


def test_all_tasks_are_the_builtin_benchmark_tasks_only(example_plugin, tmp_path):
    """`tasks: ["*"]` (what `full` uses) takes the tasks of this package's definitions, never a
    plugin's (the example plugin's minicell space brings its own) nor the synthetic toy space's."""
    from nasbench_harness.tasks.catalog import task_specs

    definitions = Path(__file__).resolve().parents[2] / "tasks" / "definitions"
    builtin = {t["name"] for f in definitions.glob("*.yaml") for t in yaml.safe_load(f.read_text())}
    assert {"minicell/synthetic", "toy/synthetic", "toy/search"} <= set(task_specs())  # known, so leaving them out is a choice
    full_tasks = {c.task for c in load_matrix("full").cells}
    assert full_tasks <= builtin - {"toy/synthetic", "toy/search"}
    (tmp_path / "star.yaml").write_text('tasks: ["*"]\nmethods: [ridge]\nbudgets: [10]\n')
    star = {c.task for c in load_matrix(tmp_path / "star.yaml").cells}
    assert star == builtin - {"toy/synthetic", "toy/search"}



def _identities(cells) -> set[str]:
    import json

    return {json.dumps(c.identity(), sort_keys=True, default=str) for c in cells}


def test_full_leaves_out_the_open_settings_sensitivity_blocks_and_nothing_else():
    """The studies' lr and warmup blocks (issue 20) are not in `full`; every other cell of the two studies is
    (at `full`'s seeds), so the globs of full.yaml's include filters drop exactly those blocks."""
    from nasbench_harness.studies.losses import LossStudy

    full = _identities(load_matrix("full").cells)
    for matrix, seeds, block in (("paper-losses", 10, "lr"), ("paper-search", 5, "warmup")):
        sensitivity = _identities(LossStudy.block(matrix, block))
        assert sensitivity and not sensitivity & full, block
        assert _identities(load_matrix(matrix, [f"seeds={seeds}"]).cells) - sensitivity <= full, matrix
