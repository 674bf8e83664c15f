"""NAS-Bench-Graph: embedded tables from the nas-bench-graph package, ids, graphs, mutation."""

from __future__ import annotations

import nas_bench_graph as nbg  # a declared dependency: its absence is a failure, not a skip
import numpy as np
import pytest
from nasbench_harness.errors import ConfigError
from nasbench_harness.tasks.catalog import load_task, task_specs
from nasbench_harness.tasks.spaces.nbgraph import DATASETS, NBGraphSpace

SPACE = NBGraphSpace()
EXAMPLE = "0,1,2,1|gcn,gin,fc,cheb"


@pytest.fixture(scope="module")
def table():
    return SPACE.load_table(None)


def test_table_shape_and_published_facts(table):
    assert len(table) == 26206 and table["arch_id"].is_unique
    for ds in DATASETS:
        assert {f"{ds}.val_acc", f"{ds}.test_acc", f"{ds}.latency", f"{ds}.params"} <= set(table.columns)
    assert round(table["cora.val_acc"].max(), 4) == 0.8193
    assert round(table["cora.test_acc"].max(), 4) == 0.8313
    assert table["cora.val_acc"].notna().sum() == 26206
    assert table["proteins.val_acc"].notna().sum() == 2021
    # proteins only covers the reduced op set {gcn, sage, arma, fc, skip}
    prot = table.loc[table["proteins.val_acc"].notna(), "arch_id"]
    ops = {o for a in prot for o in a.split("|")[1].split(",")}
    assert ops == {"gcn", "sage", "arma", "fc", "skip"}


def test_known_example_matches_package(table):
    canon = SPACE.canonical_id(EXAMPLE)
    assert canon == "0,1,1,2|gcn,gin,cheb,fc"
    assert SPACE.iso_hash(EXAMPLE) == str(nbg.Arch([0, 1, 2, 1], ["gcn", "gin", "fc", "cheb"]).valid_hash()) == "61237"
    row = table.set_index("arch_id").loc[canon]
    assert row["cora.val_acc"] == pytest.approx(0.790, abs=5e-4)
    assert row["cora.test_acc"] == pytest.approx(0.8047, abs=5e-5)
    bench = nbg.light_read("cora")[61237]
    assert row["cora.latency"] == bench["latency"] and row["cora.params"] == bench["para"]
    assert SPACE.canonical_id("61237") == canon


def test_isomorphic_forms_collapse():
    # nodes 2 and 3 both read the input and nobody reads them: swapping their ops is the same net
    a, b = "0,0,0,0|gcn,gin,sage,fc", "0,0,0,0|fc,sage,gin,gcn"
    assert SPACE.iso_hash(a) == SPACE.iso_hash(b) and SPACE.canonical_id(a) == SPACE.canonical_id(b)
    assert SPACE.iso_hash("0,1,2,3|gcn,gin,sage,fc") != SPACE.iso_hash("0,1,2,3|gin,gcn,sage,fc")


def test_enumeration_equals_benchmark_keys(table):
    ids = SPACE.enumerate()
    assert len(ids) == 26206 and set(ids) == set(table["arch_id"])
    assert all(SPACE.canonical_id(a) == a for a in ids[::251])


def test_bad_ids():
    bad_links = ("0,2,1,1|gcn,gcn,gcn,gcn", "0,1,2|gcn,gcn,gcn")
    bad_ops = ("0,1,2,3|gcn,gcn,gcn,conv", "0,1,2,3|skip,skip,skip,skip")
    for bad in (*bad_links, *bad_ops, "99999", "gcn"):
        with pytest.raises(ConfigError, match="NAS-Bench-Graph"):
            SPACE.canonical_id(bad)


def test_graph_structure():
    g = SPACE.to_graph([EXAMPLE, "0,0,0,0|gcn,gcn,gcn,gcn", "0,1,2,3|gat,gat,gat,gat"])
    assert g.adj.shape == (3, 6, 6) and g.max_nodes == 6
    assert [g.op_names[i] for i in g.ops[0]] == ["input", "gcn", "gin", "fc", "cheb", "output"]
    a = g.adj[0]
    assert a[0, 1] and a[1, 2] and a[2, 3] and a[1, 4]  # link = 0,1,2,1
    assert a[:, 5].tolist() == [0, 0, 0, 1, 1, 0]  # leaves (nodes 3 and 4) feed the output
    assert g.adj[1, 0, 1:5].all() and g.adj[1, 1:5, 5].all()  # all parallel: all feed the output
    assert g.adj[2, :, 5].tolist() == [0, 0, 0, 0, 1, 0]  # a chain: only the last node
    assert all(np.array_equal(x, np.triu(x)) for x in g.adj)


def test_mutate_and_neighbours_are_valid():
    rng = np.random.default_rng(0)
    universe = set(SPACE.enumerate())
    for a in rng.choice(SPACE.enumerate(), 40):
        nb = SPACE.neighbours(a)
        assert nb and a not in nb and set(nb) <= universe
        m = SPACE.mutate(a, rng)
        assert m != a and m in nb


def test_tasks(table):
    names = sorted(n for n in task_specs() if n.startswith("nbgraph/"))
    assert names == sorted(f"nbgraph/{d}" for d in DATASETS)
    cora = load_task("nbgraph/cora")
    assert len(cora) == 26206 and cora.eval_is_test and round(cora.train.max(), 4) == 0.8193
    assert len(load_task("nbgraph/proteins")) == 2021
    assert len(SPACE.data_checksum(None)) == 64 and SPACE.data_checksum(None) == cora.space.data_checksum(None)
