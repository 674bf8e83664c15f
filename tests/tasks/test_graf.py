"""GRAF features: hand-computed small graphs, and a per-graph DFS reference on real cells."""

from __future__ import annotations

import numpy as np
import pytest
from nasbench_harness.tasks import encodings as enc
from nasbench_harness.tasks import graf
from nasbench_harness.tasks.spaces.base import GraphBatch

OPS = ("input", "none", "conv", "pool", "output")


def batch(*graphs, N=5) -> GraphBatch:
    """GraphBatch of (edges, node ops) pairs, padded to N nodes."""
    adj = np.zeros((len(graphs), N, N), np.uint8)
    for b, (edges, _) in enumerate(graphs):
        adj[(b, *np.array(edges).T)] = 1
    codes = [[OPS.index(o) for o in node_ops] + [-1] * (N - len(node_ops)) for _, node_ops in graphs]
    return GraphBatch(adj, np.array(codes, np.int16), OPS)


# Paths: in-conv-out (1 op), in-conv-conv-out (2), in-pool-conv-out (2).
A = ([(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (1, 4)], ["input", "conv", "pool", "conv", "output"])
# A 'none' node cuts its path: only in-pool-out remains (4 real nodes, 1 padding).
B = ([(0, 1), (1, 3), (0, 2), (2, 3)], ["input", "none", "pool", "output"])


def test_hand_computed_features():
    X, names = graf.graf_features(batch(A, B))
    got = [dict(zip(names, row)) for row in X]
    assert graf.op_subsets(OPS) == [(2,), (3,), (2, 3)]  # 'none' never joins a subset
    assert len(names) == 3 + 3 * 5
    expected_a = {
        "count[none]": 0, "count[conv]": 2, "count[pool]": 1,
        "minlen[conv]": 1, "maxlen[conv]": 2, "npaths[conv]": 2, "indeg_out[conv]": 2, "outdeg_in[conv]": 1,
        "minlen[pool]": 0, "maxlen[pool]": 0, "npaths[pool]": 0, "indeg_out[pool]": 0, "outdeg_in[pool]": 1,
        "minlen[conv+pool]": 1, "maxlen[conv+pool]": 2, "npaths[conv+pool]": 3, "indeg_out[conv+pool]": 2,
        "outdeg_in[conv+pool]": 2,
    }
    expected_b = {
        "count[none]": 1, "count[conv]": 0, "count[pool]": 1,
        "minlen[conv]": 0, "maxlen[conv]": 0, "npaths[conv]": 0, "indeg_out[conv]": 0, "outdeg_in[conv]": 0,
        "minlen[pool]": 1, "maxlen[pool]": 1, "npaths[pool]": 1, "indeg_out[pool]": 1, "outdeg_in[pool]": 1,
        "minlen[conv+pool]": 1, "maxlen[conv+pool]": 1, "npaths[conv+pool]": 1, "indeg_out[conv+pool]": 1,
        "outdeg_in[conv+pool]": 1,
    }
    assert got == [expected_a, expected_b]


def test_direct_input_output_edge_is_a_path_of_length_zero_in_every_subset():
    X, names = graf.graf_features(batch(([(0, 1), (1, 2), (0, 2)], ["input", "pool", "output"])))
    row = dict(zip(names, X[0]))
    assert (row["minlen[conv]"], row["maxlen[conv]"], row["npaths[conv]"]) == (0, 0, 1)
    assert (row["minlen[pool]"], row["maxlen[pool]"], row["npaths[pool]"]) == (0, 1, 2)
    assert row["indeg_out[conv]"] == 1 and row["indeg_out[pool]"] == 2


def test_large_vocabularies_keep_small_subsets_and_the_full_set():
    ops = ("input", *(f"op{i}" for i in range(9)), "output")
    subsets = graf.op_subsets(ops)
    assert len(subsets) == 9 + 36 + 84 + 1 and subsets[-1] == tuple(range(1, 10))


def reference(graphs, b: int, subsets) -> list[float]:
    """Plain DFS over every source->output path of graph ``b``, then per-subset stats."""
    adj, ops, names = graphs.adj[b], graphs.ops[b], graphs.op_names
    out = int(graphs.n_nodes[b]) - 1
    structural = {i for i, o in enumerate(names) if o in enc.STRUCTURAL_OPS}
    sources = [i for i in range(out) if ops[i] in structural and not adj[:, i].any()]
    paths = []

    def walk(node, path):
        if node == out:
            paths.append(path)
            return
        for nxt in np.flatnonzero(adj[node]):
            walk(int(nxt), path + [int(nxt)])

    for s in sources:
        walk(s, [s])
    row = [float((ops == c).sum()) for c in enc._op_columns(names)]
    for subset in subsets:
        ok = structural | set(subset)
        lengths = [sum(ops[i] not in structural for i in p) for p in paths if all(ops[i] in ok for i in p)]
        row += [
            min(lengths, default=0),
            max(lengths, default=0),
            len(lengths),
            sum(ops[i] in ok for i in np.flatnonzero(adj[:, out])),
            sum(ops[j] in ok for j in np.flatnonzero(adj[0])),
        ]
    return row


def _ready_space(name):
    from nasbench_harness import registry

    try:
        space = registry.get_search_space(name)
        ids = np.asarray(space.enumerate())
    except Exception as exc:  # noqa: BLE001 - a space without its data cannot enumerate
        pytest.skip(f"search space '{name}' cannot enumerate here: {type(exc).__name__}: {exc}")
    return space, ids


@pytest.mark.parametrize("name", ["nb201", "tnb101-micro", "tnb101-macro", "nbgraph"])
def test_vectorised_equals_per_graph_reference_on_real_cells(name):
    space, ids = _ready_space(name)
    ids = ids[np.random.default_rng(0).choice(len(ids), size=min(len(ids), 150), replace=False)]
    graphs = space.to_graph(list(ids))
    X, names = graf.graf_features(graphs)
    subsets = graf.op_subsets(graphs.op_names)
    assert X.shape == (len(ids), len(names))
    for b in range(len(ids)):
        np.testing.assert_array_equal(X[b], reference(graphs, b, subsets), err_msg=f"{name} {ids[b]}")


def test_vectorised_equals_reference_on_darts_cells(cache_for):
    from nasbench_harness import registry

    space = registry.get_search_space("darts")
    ids = space.load_table(cache_for("darts"))["arch_id"].to_numpy(dtype=str)[:15]
    graphs = space.to_graph(list(ids))
    X, _ = graf.graf_features(graphs)
    subsets = graf.op_subsets(graphs.op_names)
    for b in range(len(ids)):
        np.testing.assert_array_equal(X[b], reference(graphs, b, subsets))
