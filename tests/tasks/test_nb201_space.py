"""NAS-Bench-201 search space: ids, official order, isomorphism rule, graphs, edits, parameters."""

from __future__ import annotations

import ast
import json

import numpy as np
import pandas as pd
import pytest
from nasbench_harness.errors import ConfigError
from nasbench_harness.registry import get_search_space
from nasbench_harness.tasks.spaces.nb201 import (
    N_ARCHS,
    OPS,
    NB201Space,
    arch_str,
    from_naslib,
    official_index,
    official_unique_str,
    op_indices,
)

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
INDEX0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"


@pytest.fixture(scope="module")
def space() -> NB201Space:
    return NB201Space()


def test_registered_under_nb201():
    assert isinstance(get_search_space("nb201"), NB201Space)


def test_canonical_id_round_trip_and_errors(space):
    assert space.canonical_id(f"  {BEST_C10} ") == BEST_C10
    assert arch_str(op_indices(BEST_C10)) == BEST_C10
    for bad in ["", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", BEST_C10.replace("~2|", "~1|"), None]:
        with pytest.raises(ConfigError, match="not a NAS-Bench-201 architecture"):
            space.canonical_id(bad)


def test_enumerate_is_every_cell_once_and_starts_at_index_0(space):
    ids = space.enumerate()
    assert len(ids) == N_ARCHS == len(set(ids.tolist()))
    assert ids[0] == INDEX0
    assert official_index(INDEX0) == 0
    assert official_index(ids[12345]) == 12345


def test_enumerate_matches_official_index_order(shared_data, space):
    table = pd.read_csv(shared_data / "nasbench201" / "nasgraph_nasbench201_cifar10.csv", usecols=["file id", "arch str"])
    assert (table["file id"].to_numpy() == np.arange(N_ARCHS)).all()
    assert (space.enumerate() == table["arch str"].to_numpy(dtype=str)).all()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # the two intermediate nodes swap roles when 1->2 is none
        (
            "|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|",
            "|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",
        ),
        # an edge out of a node that never receives the input carries zeros
        (
            "|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|",
            "|none~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
        ),
        # a node that never reaches the output is irrelevant
        (
            "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|none~2|",
            "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|nor_conv_3x3~0|none~1|none~2|",
        ),
        # skip chains: x + skip(skip(x)) == skip(x) + x
        (
            "|skip_connect~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|skip_connect~2|",
            "|skip_connect~0|+|skip_connect~0|none~1|+|none~0|skip_connect~1|skip_connect~2|",
        ),
    ],
)
def test_iso_hash_equal_for_functionally_identical_cells(space, a, b):
    assert space.iso_hash(a) == space.iso_hash(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # different op on the only live path
        (
            "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|",
            "|none~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|",
        ),
        # conv(conv(x)) is not conv(x) + conv(x)
        (
            "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|",
            "|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_3x3~0|skip_connect~1|none~2|",
        ),
        # x vs 2x through an avg pool: the multiplicity of a term matters
        (
            "|skip_connect~0|+|none~0|none~1|+|none~0|avg_pool_3x3~1|none~2|",
            "|skip_connect~0|+|none~0|none~1|+|avg_pool_3x3~0|avg_pool_3x3~1|none~2|",
        ),
    ],
)
def test_iso_hash_differs_for_different_functions(space, a, b):
    assert space.iso_hash(a) != space.iso_hash(b)


def test_disconnected_cells_share_one_hash(space):
    from nasbench_harness.tasks.spaces._celldag import prune
    from nasbench_harness.tasks.spaces.nb201 import OP_NODE_ADJ

    ids = space.enumerate()
    dead = {c for c in ids if space.iso_hash(c) == "#"}
    assert "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|none~2|" in dead
    # independent check: exactly the cells with no input->output path of non-'none' op nodes
    no_path = {c for c in ids if prune(OP_NODE_ADJ, np.array([True, *(i != 0 for i in op_indices(c)), True])) is None}
    assert dead == no_path and len(dead) > 100


def test_iso_classes_refine_the_official_unique_strings(shared_data, space):
    """Our classes are unions of NB201's own (to_unique_str) classes; that rule is reproduced exactly."""
    v = pd.read_csv(shared_data / "nasbench201" / "vtao_nats_bench_tss_test200.csv", usecols=["ArchitectureString", "UniqueString"])
    mine = [official_unique_str(a) for a in v["ArchitectureString"]]
    assert mine == v["UniqueString"].tolist()
    assert len(set(mine)) == 6466
    frame = pd.DataFrame({"official": mine, "iso": [space.iso_hash(a) for a in v["ArchitectureString"]]})
    assert frame.groupby("official")["iso"].nunique().max() == 1
    assert frame["iso"].nunique() == 4930


def test_to_graph_edge_ops_become_nodes(space):
    g = space.to_graph([BEST_C10, INDEX0])
    assert g.adj.shape == (2, 8, 8) and g.ops.shape == (2, 8)
    assert g.op_names[g.ops[0, 0]] == "input" and g.op_names[g.ops[0, 7]] == "output"
    assert [g.op_names[o] for o in g.ops[0, 1:7]] == [OPS[i] for i in op_indices(BEST_C10)]
    adj = g.adj[0]
    # input feeds the ops on edges 0->1, 0->2, 0->3 (nodes 1, 2, 4); op 0->1 feeds ops 1->2, 1->3 (nodes 3, 5)
    assert adj[0].nonzero()[0].tolist() == [1, 2, 4]
    assert adj[1].nonzero()[0].tolist() == [3, 5]
    assert adj[:, 7].nonzero()[0].tolist() == [4, 5, 6]
    assert (np.triu(adj, 1) == adj).all()  # topological order


def test_to_graph_vectorised_over_the_space(space):
    ids = space.enumerate()
    g = space.to_graph(ids)
    assert len(g) == N_ARCHS
    counts = np.bincount(g.ops[:, 1:7].ravel() - 1, minlength=5)
    assert (counts == N_ARCHS * 6 // 5).all()  # every op equally often on every edge


def test_onehot_is_edges_by_ops(space):
    x = space.encode_onehot([BEST_C10])
    assert x.shape == (1, 30)
    assert x.reshape(6, 5).argmax(axis=1).tolist() == list(op_indices(BEST_C10))
    assert (x.sum() == 6)


def test_neighbours_and_mutate(space):
    nb = space.neighbours(BEST_C10)
    assert len(nb) == len(set(nb)) == 24
    for n in nb:
        assert sum(a != b for a, b in zip(op_indices(n), op_indices(BEST_C10), strict=True)) == 1
    rng = np.random.default_rng(0)
    seen = {space.mutate(BEST_C10, rng) for _ in range(300)}
    assert seen <= set(nb) and len(seen) == 24


def test_from_naslib_matches_the_shared_source_table(shared_data):
    t = pd.read_csv(shared_data / "meta_nas_transfer" / "nb201_source_tasks_valid.csv", usecols=["arch_str", "naslib_op_indices"])
    converted = [from_naslib(ast.literal_eval(x)) for x in t["naslib_op_indices"]]
    assert converted == t["arch_str"].tolist()
    with pytest.raises(ConfigError):
        from_naslib((0, 1, 2))


def test_param_counts_match_the_benchmark(shared_data, space):
    """Exact NB201 parameter counts: equal to NASLib's 'params' proxy on every dataset."""
    p = space.param_counts(space.enumerate()) / 1e6
    assert p.min() == pytest.approx(0.073306) and p.max() == pytest.approx(1.531546)
    data = json.loads((shared_data / "zero_cost_proxies" / "suite_zero_early" / "zc_nasbench201.json").read_text())
    for dataset, classes in (("cifar10", 10), ("cifar100", 100), ("ImageNet16-120", 120)):
        keys = list(data[dataset])
        ids = [from_naslib(ast.literal_eval(k)) for k in keys]
        theirs = np.array([data[dataset][k]["params"]["score"] for k in keys])
        assert np.allclose(space.param_counts(ids, classes) / 1e6, theirs, atol=1e-9)
