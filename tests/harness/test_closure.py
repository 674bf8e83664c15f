"""Run keys cover the code a cell runs: the static import closure, checked by editing real files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from nasbench_harness import closure, registry
from nasbench_harness.cell import Cell
from nasbench_harness.provenance import clear_code_version_cache, code_version


@pytest.fixture
def fresh_caches():
    clear_code_version_cache()
    registry.clear_caches()
    yield
    clear_code_version_cache()
    registry.clear_caches()


def write(root, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_gcn_cell_covers_training_loop_layers_bases_and_space_without_torch():
    # A fresh interpreter: computing the key must not import torch (or any predictor).
    code = textwrap.dedent(
        """
        import json, sys
        from nasbench_harness import closure
        from nasbench_harness.cell import Cell
        from nasbench_harness.provenance import cell_plugins, code_version
        cell = Cell("predict", "nb201/cifar10", "gcn", "", 0.01, 0, loss="hr")
        assert code_version(cell).startswith("code=")
        roots = ["nasbench_harness.protocols.predict"] + [
            {"search_spaces": "nasbench_harness.tasks.spaces.nb201", "predictors": "nasbench_harness.methods.neural.gcn",
             "losses": "nasbench_harness.methods.losses"}[kind] for kind, _ in cell_plugins(cell)]
        print(json.dumps(sorted(closure.closure(tuple(sorted(roots))))))
        print("torch" in sys.modules, "nasbench_harness.methods.neural.gcn" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    modules = json.loads(out[0])
    for needed in ("methods.neural.training", "methods.neural.layers", "methods.neural.gcn_lr", "methods.base", "methods.losses", "metrics",
                   "tasks.encodings", "tasks.spaces.nb201", "tasks.spaces.base", "protocols.testsets"):
        assert f"nasbench_harness.{needed}" in modules, needed
    assert not [m for m in modules if m.startswith(("nasbench_harness.report", "nasbench_harness.cli", "nasbench_harness.store"))]
    assert out[1] == "False False"


def test_editing_an_imported_module_changes_the_closure_and_an_unrelated_one_does_not(tmp_path, monkeypatch, fresh_caches):
    # A real package on sys.path standing in for the project: lazy, relative and from-imports.
    write(tmp_path, "nbh_tmp_core/__init__.py", "")
    write(tmp_path, "nbh_tmp_core/model.py", """
        def fit():
            from .helper import step  # imported inside a function
            return step()
    """)
    write(tmp_path, "nbh_tmp_core/helper.py", "from nbh_tmp_core import deep\nstep = deep.f\n")
    write(tmp_path, "nbh_tmp_core/deep.py", "def f():\n    return 1\n")
    write(tmp_path, "nbh_tmp_core/unrelated.py", "x = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(closure, "PROJECT", "nbh_tmp_core")
    before = closure.closure(("nbh_tmp_core.model",))
    assert set(before) == {"nbh_tmp_core", "nbh_tmp_core.model", "nbh_tmp_core.helper", "nbh_tmp_core.deep"}

    def after_edit(rel: str) -> dict:
        (tmp_path / rel).write_text((tmp_path / rel).read_text() + "EDITED = 1\n")
        clear_code_version_cache()
        return closure.closure(("nbh_tmp_core.model",))

    assert after_edit("nbh_tmp_core/unrelated.py") == before
    changed = after_edit("nbh_tmp_core/deep.py")
    assert changed != before and changed["nbh_tmp_core.model"] == before["nbh_tmp_core.model"]


def _plugin(tmp_path, monkeypatch, groups: str) -> None:
    """A temporary installed distribution: a package plus a dist-info with entry points."""
    write(tmp_path, "nbh_tmp_plugin/__init__.py", "import torch  # never run by the code version\n")
    write(tmp_path, "nbh_tmp_plugin/model.py", "from nasbench_harness.methods.base import Predictor\n")
    write(tmp_path, "nbh_tmp_plugin/util/scale.py", "K = 1\n")
    write(tmp_path, "nbh_tmp_plugin-0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: nbh-tmp-plugin\nVersion: 0.1\n")
    write(tmp_path, "nbh_tmp_plugin-0.1.dist-info/entry_points.txt", groups)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.clear_caches()


def test_a_plugin_distribution_is_digested_whole(tmp_path, monkeypatch, fresh_caches):
    _plugin(tmp_path, monkeypatch, "[nasbench_harness.predictors]\ntmp_pred = nbh_tmp_plugin.model:Pred\n")
    cell = Cell("predict", "nb201/cifar10", "tmp_pred", "onehot", 10, 0)
    first = code_version(cell)
    assert "predictors:tmp_pred=" in first and "nbh_tmp_plugin" not in sys.modules
    (tmp_path / "nbh_tmp_plugin/util/scale.py").write_text("K = 2\n")  # a file the module does not import
    clear_code_version_cache()
    assert code_version(cell) != first
    # the plugin's project imports join the closure (methods.base is not in predict's own)
    digest, project = closure.distribution_digest("nbh_tmp_plugin.model")
    assert "nasbench_harness.methods.base" in project


def test_a_strategy_named_in_protocol_params_is_covered(tmp_path, monkeypatch, fresh_caches):
    _plugin(tmp_path, monkeypatch, "[nasbench_harness.strategies]\ngreedy = nbh_tmp_plugin.model:Greedy\n")
    greedy = Cell("select", "nb201/cifar10", "none", "", 10, 0, protocol_params={"strategy": "greedy"})
    baseline = Cell("select", "nb201/cifar10", "none", "", 10, 0, protocol_params={"strategy": "random"})
    first = code_version(greedy)
    assert "strategies:greedy=" in first and "strategies" not in code_version(baseline)
    (tmp_path / "nbh_tmp_plugin/model.py").write_text("from nasbench_harness.methods.base import Predictor\nX = 1\n")
    clear_code_version_cache()
    assert code_version(greedy) != first
