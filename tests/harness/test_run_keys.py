"""Run keys are portable: the content a cell reads and the code it runs, nothing else.

(Issue 18, item 1.) A key must not move with the Parquet writer, pyarrow or pandas, with
proxy columns a cell never reads, with the package version, or with edits to code the cell
does not run (the matrix parser, the conformance kit, the downloader, the losses for a
regressor) or to comments and docstrings.
"""

from __future__ import annotations

import functools
import json
import textwrap

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from nasbench_harness import closure, provenance
from nasbench_harness.cell import Cell
from nasbench_harness.provenance import clear_code_version_cache, code_version
from nasbench_harness.tasks.cache import MANIFEST, TABLE, DataCache, sha256_file

SAMPLE = textwrap.dedent(
    '''\
    """Module docstring."""

    import os  # a comment


    def f(x, y=2):
        """Docstring."""
        name = f"{x!r:>{y}} and {{braces}}"
        return os.path.join(name, 'a' 'b')
    '''
)
SAMPLE_DIGEST = "a86dbefb9086c848"  # recorded: must not change with the Python version
RIDGE = Cell("predict", "nb201/cifar10", "ridge", "onehot", 20, 0)


def test_source_digest_is_a_recorded_constant_and_ignores_comments_docstrings_and_layout():
    assert closure.source_digest(SAMPLE.encode()) == SAMPLE_DIGEST
    relaid = SAMPLE.replace('"""Docstring."""', '"""Another docstring,\n    on two lines."""').replace("# a comment", "")
    relaid = relaid.replace("def f(x, y=2):", "def f(x,\n      y=2):  # wrapped\n\n") + "\n# trailing\n"
    assert closure.source_digest(relaid.encode()) == SAMPLE_DIGEST
    for edit in (SAMPLE.replace("'a' 'b'", "'a' 'c'"), SAMPLE.replace("{{braces}}", "{{brace}}"), SAMPLE + "X = 1\n"):
        assert closure.source_digest(edit.encode()) != SAMPLE_DIGEST


@pytest.fixture
def fresh():
    clear_code_version_cache()
    yield
    clear_code_version_cache()


def _edited_copy(monkeypatch, tmp_path, module: str, edit) -> None:
    """Make the closure read an edited copy of ``module``'s file (the real file is untouched)."""
    real = closure.module_file(module)
    copy = tmp_path / f"{module}.py"
    if module in ("nasbench_harness", "nasbench_harness.methods"):
        copy = tmp_path / module / "__init__.py"
        copy.parent.mkdir()
    copy.write_text(edit(real.read_text()))
    original = closure.module_file.__wrapped__
    monkeypatch.setattr(closure, "module_file", functools.cache(lambda name: copy if name == module else original(name)))
    clear_code_version_cache()


@pytest.mark.parametrize(
    ("module", "edit"),
    [
        ("nasbench_harness.matrix", lambda s: s.replace('"""Experiment matrices', '"""Edited: experiment matrices', 1) + "\n# a comment\n"),
        ("nasbench_harness.testing", lambda s: s + "\nEDITED = 1\n"),
        ("nasbench_harness.tasks.download", lambda s: s + "\nEDITED = 1\n"),
        ("nasbench_harness.methods.losses", lambda s: s + "\nEDITED = 1\n"),
    ],
)
def test_a_ridge_cells_code_version_ignores_the_parser_the_kit_the_downloader_and_the_losses(module, edit, monkeypatch, tmp_path, fresh):
    before = code_version(RIDGE)
    _edited_copy(monkeypatch, tmp_path, module, edit)
    assert code_version(RIDGE) == before


def test_an_edit_to_the_regressors_does_change_a_ridge_cells_code_version(monkeypatch, tmp_path, fresh):
    before = code_version(RIDGE)
    _edited_copy(monkeypatch, tmp_path, "nasbench_harness.methods.regressors", lambda s: s + "\nEDITED = 1\n")
    assert code_version(RIDGE) != before


def test_a_ridge_cells_closure_holds_no_torch_side_module(fresh):
    modules, _ = provenance.code_modules("predict", provenance.cell_plugins(RIDGE))
    assert "nasbench_harness.methods.regressors" in modules
    assert not [m for m in modules if m.startswith(("nasbench_harness.methods.neural", "nasbench_harness.methods.losses"))]


def test_the_code_version_holds_no_package_version(monkeypatch, fresh):
    import nasbench_harness

    before = code_version(RIDGE)
    assert "nasbench-harness" not in before and nasbench_harness.__version__ not in before
    monkeypatch.setattr(nasbench_harness, "__version__", "99.0.0")
    clear_code_version_cache()
    assert code_version(RIDGE) == before


# -- data ----------------------------------------------------------------------------------
def _nb201_table(seed: int = 0) -> pd.DataFrame:
    from nasbench_harness.tasks.spaces.nb201 import NB201Space

    ids = NB201Space().enumerate()
    rng = np.random.default_rng(seed)
    val = rng.uniform(10, 90, len(ids))
    val[::97] = np.nan  # missing values are part of the content
    return pd.DataFrame({"arch_id": ids, "cifar10-valid.val_acc": val, "cifar10.test_acc": val + rng.normal(0, 1, len(ids))})


def _import(cache: DataCache, table: pd.DataFrame, merge: bool = True) -> None:
    cache.write_table("nb201", table, sources=[], importer="test", importer_version=1, merge=merge)


def _keys(monkeypatch, root) -> dict[str, str]:
    from nasbench_harness import runner, worker
    from nasbench_harness.matrix import Matrix
    from nasbench_harness.store import ResultStore

    monkeypatch.setenv("NASBENCH_HARNESS_DATA", str(root))
    worker._load_task.cache_clear()
    worker._check_space_table.cache_clear()
    cells = [RIDGE, Cell("predict", "nb201/cifar10", "ridge", "zc", 20, 0)]
    p = runner.plan(Matrix("m", root, "", cells), ResultStore(root / "results"))
    return {c.encoding: k for c, k in zip(p.cells, p.keys, strict=True)}


def _rewrite_with_another_writer(cache: DataCache) -> None:
    """The same data as another pyarrow/pandas would write it: other row order, row groups,
    compression and metadata, and a manifest from before column digests were recorded."""
    path = cache.space_dir("nb201") / TABLE
    df = pq.read_table(path).to_pandas().sample(frac=1.0, random_state=1)
    table = pa.Table.from_pandas(df, preserve_index=True).replace_schema_metadata({b"writer": b"pandas 9.9 / pyarrow 99"})
    pq.write_table(table, path, compression="snappy", row_group_size=1000, version="2.4")
    manifest = json.loads((cache.space_dir("nb201") / MANIFEST).read_text())
    manifest.pop("column_sha256")
    manifest["table_sha256"] = sha256_file(path)
    (cache.space_dir("nb201") / MANIFEST).write_text(json.dumps(manifest))


def test_keys_survive_another_parquet_writer_and_proxy_columns_they_do_not_read(tmp_path, monkeypatch):
    cache = DataCache(tmp_path)
    _import(cache, _nb201_table().assign(**{"zc.flops": 1.0}))
    first = _keys(monkeypatch, tmp_path)
    before = sha256_file(cache.space_dir("nb201") / TABLE)

    _rewrite_with_another_writer(cache)
    assert sha256_file(cache.space_dir("nb201") / TABLE) != before
    assert _keys(monkeypatch, tmp_path) == first

    proxies = _nb201_table()[["arch_id"]].assign(**{"zc.computed.synflow": np.arange(15625.0)})
    _import(cache, proxies)  # `nasbench-harness data proxies nb201` merges its columns so
    merged = _keys(monkeypatch, tmp_path)
    assert merged["onehot"] == first["onehot"]
    assert merged["zc"] != first["zc"]  # the zc encoding reads the new column


def test_a_changed_metric_value_changes_the_key(tmp_path, monkeypatch):
    cache = DataCache(tmp_path)
    table = _nb201_table()
    _import(cache, table, merge=False)
    first = _keys(monkeypatch, tmp_path)
    table.loc[5, "cifar10.test_acc"] += 0.01
    _import(cache, table, merge=False)
    assert _keys(monkeypatch, tmp_path)["onehot"] != first["onehot"]


def test_nbgraph_digest_is_the_content_not_the_package_version(monkeypatch):
    from importlib import metadata

    from nasbench_harness.tasks.spaces import nbgraph

    pytest.importorskip("nas_bench_graph")
    before = nbgraph.bench_checksum()
    monkeypatch.setattr(metadata, "version", lambda dist: "99.0")
    nbgraph.bench_checksum.cache_clear()
    try:
        assert nbgraph.bench_checksum() == before
    finally:
        nbgraph.bench_checksum.cache_clear()


def test_a_worker_refuses_a_cell_whose_encoding_columns_changed_since_planning(tmp_path, monkeypatch):
    from nasbench_harness import runner, worker
    from nasbench_harness.matrix import Matrix
    from nasbench_harness.store import ResultStore

    cache = DataCache(tmp_path)
    _import(cache, _nb201_table().assign(**{"zc.flops": 1.0}))
    monkeypatch.setenv("NASBENCH_HARNESS_DATA", str(tmp_path))
    worker._load_task.cache_clear()
    zc = Cell("predict", "nb201/cifar10", "ridge", "zc", 20, 0)
    p = runner.plan(Matrix("m", tmp_path, "", [zc]), ResultStore(tmp_path / "results"))
    _import(cache, _nb201_table()[["arch_id"]].assign(**{"zc.computed.synflow": np.arange(15625.0)}))
    worker._load_task.cache_clear()
    worker._check_space_table.cache_clear()
    (row,) = worker.execute_cell(p.payloads[0])
    assert row["status"] == "failed" and "changed since the run was planned" in row["error"]


def test_a_transfer_cells_key_covers_its_source_task(tmp_path, monkeypatch):
    from nasbench_harness import runner, worker
    from nasbench_harness.matrix import Matrix
    from nasbench_harness.store import ResultStore

    cache = DataCache(tmp_path)
    table = _nb201_table().assign(**{"cifar100.val_acc": 50.0, "cifar100.test_acc": 51.0})
    _import(cache, table, merge=False)
    cells = [Cell("transfer", "nb201/cifar10", "ridge", "onehot", 20, 0, protocol_params={"source": "nb201/cifar100"}), RIDGE]
    monkeypatch.setenv("NASBENCH_HARNESS_DATA", str(tmp_path))

    def keys():
        worker._load_task.cache_clear()
        worker._check_space_table.cache_clear()
        return runner.plan(Matrix("m", tmp_path, "", cells), ResultStore(tmp_path / "results")).keys

    transfer, predict = keys()
    table.loc[3, "cifar100.val_acc"] = 60.0  # only the source task's data changes
    _import(cache, table, merge=False)
    assert keys() != [transfer, predict] and keys()[1] == predict


def test_digests_of_a_table_imported_before_they_were_recorded_are_computed_once(tmp_path, monkeypatch):
    from nasbench_harness.tasks import cache as cache_module

    cache = DataCache(tmp_path)
    _import(cache, _nb201_table(), merge=False)
    expected = cache.column_digests("nb201", ["cifar10.test_acc"])
    _rewrite_with_another_writer(cache)  # an old manifest: no digests recorded
    assert cache.column_digests("nb201", ["cifar10.test_acc"]) == expected
    assert (cache.space_dir("nb201") / cache_module.DIGESTS).is_file()

    cache_module._digests_of.cache_clear()  # a new process
    monkeypatch.setattr(DataCache, "read_table", lambda *a, **k: pytest.fail("the table was read again"))
    assert cache.column_digests("nb201", ["cifar10.test_acc"]) == expected
