"""DARTS / NAS-Bench-301 space: genotype ids, hashing, graphs, sampling, mutation, importer."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from nasbench_harness.errors import ConfigError, DataError
from nasbench_harness.tasks.cache import DataCache
from nasbench_harness.tasks.catalog import load_task
from nasbench_harness.tasks.importers import import_paths
from nasbench_harness.tasks.importers.darts import PROXIES
from nasbench_harness.tasks.spaces.darts import OPS, DartsSpace, genotype_json, parse

SPACE = DartsSpace()
# the first row of the Suite-Zero CSV, in NASLib's compact (input, op) form
COMPACT = (
    "[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)],"
    " [(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]"
)


def test_id_forms_agree_and_inputs_are_ordered():
    canon = SPACE.canonical_id(COMPACT)
    assert canon == "0015_0111_0313_1332|0210_0313_0130_2036"
    assert SPACE.canonical_id(genotype_json(canon)) == canon
    assert SPACE.canonical_id(canon) == canon
    # swapping the two inputs of a node is the same genotype
    normal, reduce = parse(canon)
    swapped = (normal[1], normal[0], *normal[2:]), reduce
    assert SPACE.canonical_id(str(swapped)) == canon
    assert json.loads(genotype_json(canon))["normal"][1] == [OPS[5], 1]


@pytest.mark.parametrize(
    "bad",
    [
        "0015_0111_0313_1332",  # one cell
        "[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (5, 2)], [(1, 0)] * 8]",
        "0015_0111_0313_1362|0210_0313_0130_2036",  # node 5 reading node 6
        "0001_0111_0313_1332|0210_0313_0130_2036",  # node 2 reading node 0 twice
        "0017_0111_0313_1332|0210_0313_0130_2036",  # op code 7
        "__import__('os')",
        '{"normal": [["conv", 0]]}',
    ],
)
def test_bad_genotypes(bad):
    with pytest.raises(ConfigError, match="not a DARTS genotype"):
        SPACE.canonical_id(bad)


def test_iso_hash_collapses_interchangeable_nodes():
    # nodes 2 and 3 both read inputs 0/1 only; swapping them (and who reads them) is the same cell
    a = "0013_0114_0223_1335|0210_0313_0130_2036"
    b = "0114_0013_0233_1325|0210_0313_0130_2036"
    assert a != b and SPACE.iso_hash(a) == SPACE.iso_hash(b)
    assert SPACE.iso_hash(a) != SPACE.iso_hash("0013_0114_0223_1336|0210_0313_0130_2036")
    # normal and reduce cells are not interchangeable
    n, r = a.split("|")
    assert SPACE.iso_hash(f"{n}|{r}") != SPACE.iso_hash(f"{r}|{n}")


def test_graph_is_two_stacked_cells():
    g = SPACE.to_graph([SPACE.canonical_id(COMPACT)])
    assert g.adj.shape == (1, 20, 20) and g.n_nodes.tolist() == [20]
    names = [g.op_names[i] for i in g.ops[0]]
    assert names[0] == "input" and names[1] == "prev_cell" and names[10] == "concat" and names[19] == "output"
    assert names[2:4] == ["max_pool_3x3", "dil_conv_3x3"]  # node 2: (0, max_pool), (1, dil_conv_3x3)
    a = g.adj[0]
    assert a[0, 1] and a[0, 2] and a[1, 3]
    # normal pair 7 = (3, skip) reads intermediate node 3 = op nodes 4 and 5
    assert a[4, 9] and a[5, 9] and a[:, 9].sum() == 2
    assert a[2:10, 10].all() and a[11:19, 19].all()
    # reduction cell: input 0 = prev_cell (node 1), input 1 = the normal cell's concat (node 10)
    assert a[1, 11] and a[10, 12] and not a[10, 11]
    assert np.array_equal(a, np.triu(a))


def test_sample_and_mutate_are_valid():
    rng = np.random.default_rng(1)
    ids = SPACE.sample(200, rng)
    assert len(set(ids)) == 200 and all(SPACE.canonical_id(a) == a for a in ids)
    assert np.array_equal(SPACE.sample(5, np.random.default_rng(3)), SPACE.sample(5, np.random.default_rng(3)))
    for a in ids[:30]:
        nb = SPACE.neighbours(a)
        assert a not in nb and len(set(nb)) == len(nb) > 90
        m = SPACE.mutate(a, rng)
        assert m != a and m in nb and SPACE.canonical_id(m) == m
        # one edit: exactly one (input, op) pair differs (after ordering a node's pairs)
        diff = sum(x != y for c1, c2 in zip(parse(a), parse(m)) for x, y in zip(c1, c2))
        assert 1 <= diff <= 2
    assert SPACE.finite is False
    with pytest.raises(NotImplementedError):
        SPACE.enumerate()


# ---------------------------------------------------------------------------- real data
def test_import_and_task(cache_for):
    cache = cache_for("darts")
    table = cache.read_table("darts")
    labelled = table.dropna(subset=["cifar10.val_acc"])
    # Other tests of the session may import zero-cost proxy files, which add rows of their own.
    from_darts_files = table["cifar10.val_acc"].notna() | table["nb301_index"].notna()
    assert len(labelled) == 725 and from_darts_files.sum() == 725 + 11221
    assert round(labelled["cifar10.val_acc"].max(), 3) == 94.489
    assert round(labelled["cifar10.val_acc"].min(), 3) == 91.237
    assert table["nb301_index"].notna().sum() == 11221
    task = load_task("darts/cifar10", cache)
    assert len(task) == 725 and task.eval_is_test is False
    assert list(task.extras.columns) == [f"zc.{p}" for p in PROXIES]
    assert len(task.graphs()) == 725


def test_bad_files_leave_cache_untouched(shared_data, tmp_path):
    good = shared_data / "nas_bench_301" / "nb301_suite_zero_early_725.csv"
    cache = DataCache(tmp_path / "cache")
    import_paths([good], cache)
    table = cache.space_dir("darts") / "table.parquet"
    before = table.read_bytes(), (cache.space_dir("darts") / "manifest.json").read_bytes()
    text = good.read_text()

    bad = tmp_path / "nb301_suite_zero_early_725.csv"
    bad.write_text(text[: len(text) // 2])  # cut mid-row
    with pytest.raises(DataError):
        import_paths([bad], cache)

    df = pd.read_csv(good)
    df.loc[3, "naslib_arch"] = df.loc[4, "naslib_arch"]
    df.to_csv(bad, index=False)
    with pytest.raises(DataError, match="disagree"):
        import_paths([bad], cache)

    arch_list = tmp_path / "archs_nasbench301.json"
    arch_list.write_text((shared_data / "nas_bench_301" / "archs_nasbench301.json").read_text()[:5000])
    with pytest.raises(DataError, match="not valid JSON"):
        import_paths([arch_list], cache)
    assert (table.read_bytes(), (cache.space_dir("darts") / "manifest.json").read_bytes()) == before
