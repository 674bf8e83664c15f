"""Encodings on hand-made graphs (checked by hand and by brute-force path enumeration),
a tiny fake search space (overrides, zero-cost columns), and every registered space."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from nasbench_harness.errors import ConfigError, DataError
from nasbench_harness.tasks import encodings as enc
from nasbench_harness.tasks.spaces.base import GraphBatch, SearchSpace

OPS = ("input", "conv1x1", "conv3x3", "maxpool", "output")


def batch(*graphs, N=5, ops=OPS) -> GraphBatch:
    adj = np.zeros((len(graphs), N, N), np.uint8)
    codes = np.full((len(graphs), N), -1, np.int16)
    for b, (edges, node_ops) in enumerate(graphs):
        for i, j in edges:
            adj[b, i, j] = 1
        codes[b, : len(node_ops)] = [ops.index(o) for o in node_ops]
    return GraphBatch(adj, codes, ops)


# A: two paths of weight 3 (conv1x1+maxpool, conv3x3) and one of weight 4 (conv3x3+maxpool).
A = (
    [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (1, 4)],
    ["input", "conv3x3", "conv1x1", "maxpool", "output"],
)
# B: 3 real nodes (2 padding): paths input-conv3x3-output (3) and input-output (0).
B = ([(0, 1), (1, 2), (0, 2)], ["input", "conv3x3", "output"])


def test_paper_op_weights():
    assert enc.op_weights(OPS)[:5].tolist() == [
        0,
        2,
        3,
        1,
        0,
    ]  # NB101: maxpool 1, conv1x1 2, conv3x3 3
    nb201 = (
        "input",
        "none",
        "skip_connect",
        "nor_conv_1x1",
        "nor_conv_3x3",
        "avg_pool_3x3",
        "output",
    )
    assert enc.op_weights(nb201)[:7].tolist() == [
        0,
        1,
        2,
        4,
        5,
        3,
        0,
    ]  # the paper's 1..5
    assert enc.op_weights(OPS, {"conv1x1": 7, "conv3x3": 8, "maxpool": 9})[
        :5
    ].tolist() == [0, 7, 8, 9, 0]


def test_meta_features_by_hand():
    X, names = enc.meta_features(batch(A, B), params=np.array([10.0, 20.0]))
    got = dict(zip(names, X[0]))
    assert got == {
        "count.conv1x1": 1,
        "count.conv3x3": 1,
        "count.maxpool": 1,
        "n_nodes": 5,
        "path_weight_max": 4,
        "path_weight_min": 3,
        "path_weight_mode": 3,
        "path_weight_total": 10,
        "params": 10,
        "n_edges": 6,
        "edges_per_node": 1.2,
        "max_out_degree": 2,
        "max_in_degree": 2,
    }
    got = dict(zip(names, X[1]))
    assert (
        got["path_weight_max"],
        got["path_weight_min"],
        got["path_weight_mode"],
        got["path_weight_total"],
    ) == (3, 0, 0, 3)
    assert (
        got["n_nodes"],
        got["n_edges"],
        got["count.conv3x3"],
        got["count.maxpool"],
    ) == (3, 3, 1, 0)
    assert len(names) == 13  # the paper's 13 NB101 measures


def test_meta_encoding_scales_and_drops_constant_measures():
    g = batch(A, B, A)
    X = enc.meta_encoding(g, params=np.array([1.0, 2.0, 3.0]))
    assert X.dtype == np.float32 and X.min() == 0.0 and X.max() == 1.0
    assert ((X == 0) | (X == 1) | ((X > 0) & (X < 1))).all()
    full, _ = enc.meta_features(g, np.array([1.0, 2.0, 3.0]))
    assert X.shape[1] == int((full.max(0) > full.min(0)).sum())


def test_onehot_layout():
    X = enc.onehot_encoding(batch(A, B))
    assert X.shape == (2, 10 + 5 * 5)
    assert X[1, :10].sum() == 3 and X[1, 10:].sum() == 3  # 3 edges, 3 real nodes
    assert X[0, 10 + 1 * 5 + OPS.index("conv3x3")] == 1  # node 1 is conv3x3


# -- brute force over random DAGs -----------------------------------------------------
def random_dags(n, N, rng, ops=OPS):
    graphs = []
    for _ in range(n):
        k = int(rng.integers(2, N + 1))
        edges = [
            (i, j) for i in range(k) for j in range(i + 1, k) if rng.random() < 0.45
        ]
        edges += [
            (j - 1, j)
            for j in range(1, k)
            if rng.random() < 0.5 and (j - 1, j) not in edges
        ]
        middle = [ops[int(c)] for c in rng.integers(1, len(ops) - 1, size=k - 2)]
        graphs.append((edges, ["input", *middle, "output"]))
    return batch(*graphs, N=N, ops=ops)


def all_paths(g: GraphBatch, b: int):
    k = int(g.n_nodes[b])
    adj = g.adj[b]
    sources = [
        i
        for i in range(k)
        if not adj[:, i].any() and g.op_names[g.ops[b, i]] == "input"
    ]
    out = []

    def walk(i, path):
        if i == k - 1:
            out.append(path)
            return
        for j in np.flatnonzero(adj[i, :k]):
            walk(int(j), path + [int(j)])

    for s in sources:
        walk(s, [s])
    return out


def test_path_features_match_brute_force():
    rng = np.random.default_rng(0)
    g = random_dags(150, 7, rng)
    X = enc.path_encoding(g)
    weights = enc.op_weights(OPS)
    meta, names = enc.meta_features(g, np.zeros(len(g)))
    col = {n: i for i, n in enumerate(names)}
    op_idx = [1, 2, 3]
    V = 3
    lengths = [
        len([n for n in p if g.ops[b, n] in op_idx])
        for b in range(len(g))
        for p in all_paths(g, b)
    ]
    L = max(lengths)
    offsets = [sum(V**i for i in range(length)) for length in range(L + 2)]
    assert X.shape[1] == offsets[L + 1]
    for b in range(len(g)):
        paths = all_paths(g, b)
        expected = np.zeros(X.shape[1])
        wsum = []
        for p in paths:
            seq = [op_idx.index(int(g.ops[b, n])) for n in p if g.ops[b, n] in op_idx]
            code = offsets[len(seq)] + sum(
                o * V ** (len(seq) - 1 - t) for t, o in enumerate(seq)
            )
            expected[code] = 1
            wsum.append(sum(weights[g.ops[b, n]] for n in p))
        np.testing.assert_array_equal(X[b], expected)
        if wsum:
            vals, counts = np.unique(wsum, return_counts=True)
            assert meta[b, col["path_weight_max"]] == max(wsum)
            assert meta[b, col["path_weight_min"]] == min(wsum)
            assert meta[b, col["path_weight_total"]] == sum(wsum)
            assert meta[b, col["path_weight_mode"]] == vals[np.argmax(counts)]


def test_path_encoding_truncates_to_max_paths():
    g = random_dags(50, 7, np.random.default_rng(1))
    X = enc.path_encoding(g, max_paths=13)  # 1 + 3 + 9: paths of at most 2 ops
    assert X.shape[1] == 13
    full = enc.path_encoding(g)
    np.testing.assert_array_equal(X, full[:, :13])


# -- a tiny fake search space -----------------------------------------------------------
class TinySpace(SearchSpace):
    name = "tiny"
    op_names = OPS
    max_nodes = 5
    GRAPHS: ClassVar[dict] = {"a": A, "b": B}

    def __init__(self, table: pd.DataFrame | None = None):
        super().__init__()
        self.table = table

    def canonical_id(self, arch_id):
        return arch_id

    def iso_hash(self, arch_id):
        return arch_id

    def to_graph(self, arch_ids):
        return batch(*[self.GRAPHS[a] for a in arch_ids])

    def mutate(self, arch_id, rng):
        return "b" if arch_id == "a" else "a"

    def load_table(self, cache):
        if self.table is None:
            raise DataError("nothing imported")
        return self.table


def test_compute_encoding_dispatch_and_override():
    space = TinySpace(pd.DataFrame({"arch_id": ["a", "b"], "params": [3.0, 4.0]}))
    ids = np.array(["a", "b"])
    assert isinstance(enc.compute_encoding(space, "graph", ids), GraphBatch)
    for kind in ("onehot", "path", "meta", "graf"):
        X = enc.compute_encoding(space, kind, ids)
        assert X.dtype == np.float32 and X.shape[0] == 2 and np.isfinite(X).all()
    space.encode_onehot = lambda ids: np.ones((len(ids), 3))
    assert enc.compute_encoding(space, "onehot", ids).shape == (2, 3)
    with pytest.raises(ConfigError, match="Unknown encoding"):
        enc.compute_encoding(space, "adjacency", ids)


def test_meta_params_come_from_the_table_or_a_declared_proxy():
    ids = np.array(["a", "b"])
    table = pd.DataFrame({"arch_id": ["b", "a"], "cifar10.params": [5.0, 9.0]})
    X, names = enc.meta_features(
        TinySpace().to_graph(ids),
        enc._params_of(TinySpace(table), ids, TinySpace().to_graph(ids)),
    )
    assert X[:, names.index("params")].tolist() == [9.0, 5.0]
    # no table: a loud error, not a silent switch to the structural proxy
    with pytest.raises(DataError, match="needs parameter counts"):
        enc._params_of(TinySpace(), ids, TinySpace().to_graph(ids))
    with pytest.raises(DataError, match="needs parameter counts"):
        enc._params_of(TinySpace(pd.DataFrame({"arch_id": ["a", "b"], "x": [1, 2]})), ids, TinySpace().to_graph(ids))
    declared = TinySpace()
    declared.meta_params_proxy = True  # a space without parameter data says so
    assert enc._params_of(declared, ids, declared.to_graph(ids)).tolist() == [9 + 1, 9]  # conv3x3 + conv1x1 kernel areas
    # a missing count is filled from a line through the known (proxy, params) pairs
    space = TinySpace(
        pd.DataFrame({"arch_id": ["a", "b", "c"], "params": [20.0, np.nan, 5.0]})
    )
    space.GRAPHS = {
        **TinySpace.GRAPHS,
        "c": ([(0, 1), (1, 2)], ["input", "maxpool", "output"]),
    }
    three = np.array(["a", "b", "c", "a"])
    got = enc._params_of(space, three, space.to_graph(three))
    np.testing.assert_allclose(got, [20.0, 9 * 1.5 + 5, 5.0, 20.0])  # proxies 10, 9, 0


class CachedTinySpace(TinySpace):
    """TinySpace reading its table from the data cache it is given (the default behaviour)."""

    name = "tiny"

    def load_table(self, cache):
        return SearchSpace.load_table(self, cache)


def test_table_columns_come_from_the_given_cache_not_the_default(tmp_path, monkeypatch):
    from nasbench_harness.tasks.cache import DataCache

    ids = np.array(["a", "b"])
    caches = []
    for i, params in enumerate(([1.0, 2.0], [2.0, 1.0])):
        cache = DataCache(tmp_path / f"c{i}")
        cache.write_table("tiny", pd.DataFrame({"arch_id": ["a", "b"], "params": params, "zc.snip": params}), sources=[], importer="test", importer_version=1)
        caches.append(cache)
    monkeypatch.setenv("NASBENCH_HARNESS_DATA", str(tmp_path / "empty"))  # the default cache has nothing
    space = CachedTinySpace()
    for kind in ("meta", "zc"):
        first = enc.compute_encoding(space, kind, ids, cache=caches[0])
        second = enc.compute_encoding(space, kind, ids, cache=caches[1])
        assert not np.array_equal(first, second), kind
    with pytest.raises(DataError, match="needs parameter counts"):
        enc.compute_encoding(space, "meta", ids)  # the empty default cache: loud


def test_zero_cost_columns():
    ids = [f"x{i}" for i in range(20)]
    table = pd.DataFrame(
        {
            "arch_id": ids,
            "zc.synflow": [np.nan] + [float(i) for i in range(1, 20)],  # 95% coverage: imputed
            "zc.jacov": [3.0] * 20,
            "acc": range(20),
        }
    )
    X = enc.compute_encoding(TinySpace(table), "zc", np.array(ids))
    assert X[:2].tolist() == [
        [3.0, 10.0],
        [3.0, 1.0],
    ]  # sorted columns (jacov, synflow); NaN -> median over the task's cells
    with pytest.raises(DataError, match="zero-cost"):
        enc.compute_encoding(
            TinySpace(table.drop(columns=["zc.synflow", "zc.jacov"])),
            "zc",
            np.array(ids),
        )
    with pytest.raises(DataError, match="zero-cost"):
        enc.compute_encoding(TinySpace(), "zc", np.array(ids))
    per_dataset = table.assign(**{"cifar100.zc.snip": np.arange(20.0)})
    assert enc.compute_encoding(
        TinySpace(per_dataset), "zc.cifar100", np.array(ids[:2])
    ).tolist() == [[0.0], [1.0]]
    with pytest.raises(DataError, match="cifar10.zc."):
        enc.compute_encoding(TinySpace(per_dataset), "zc.cifar10", np.array(ids))


def test_zero_cost_coverage_below_95_percent_refuses():
    ids = [f"x{i}" for i in range(20)]
    table = pd.DataFrame(
        {"arch_id": ids, "zc.zen": np.arange(20.0), "zc.snip": [np.nan] * 2 + list(np.arange(18.0))}
    )
    with pytest.raises(DataError) as info:
        enc.compute_encoding(TinySpace(table), "zc", np.array(ids))
    msg = str(info.value)
    assert "only 18 of 20 cells" in msg and "'zc.snip' (90.0%" in msg and "covered: zc.zen" in msg
    assert "nasbench-harness data import" in msg and "\n" not in msg
    # the same columns restricted to covered cells are accepted
    assert enc.compute_encoding(TinySpace(table), "zc", np.array(ids[2:])).shape == (18, 2)


# -- every registered space ----------------------------------------------------------
def _registered():
    from nasbench_harness import registry

    # NB101 enumerates its 423,624 cells once per data cache (about a minute).
    return [
        pytest.param(n, marks=pytest.mark.slow) if n == "nb101" else n
        for n in registry.names("search_spaces")
    ]


@pytest.mark.parametrize("name", _registered())
def test_every_registered_space(name, cache_for):
    from nasbench_harness import registry

    cache = cache_for(name)
    cache_for("zc")  # parameter counts of TransNAS and DARTS come with the zero-cost files
    space = registry.get_search_space(name)
    if space.finite:
        ids = np.asarray(space.enumerate())
    else:  # e.g. DARTS: the architectures of its imported table
        ids = space.load_table(cache)["arch_id"].to_numpy(dtype=str)
    rng = np.random.default_rng(0)
    ids = ids[rng.choice(len(ids), size=min(len(ids), 3000), replace=False)]
    graphs = space.to_graph(list(ids))
    for kind in ("onehot", "path", "meta", "graf"):
        X = enc.compute_encoding(space, kind, ids, cache=cache)
        assert (
            X.dtype == np.float32 and X.shape[0] == len(ids) and np.isfinite(X).all()
        ), kind
        assert X.shape[1] > 0 and (X.max(0) > X.min(0)).any(), kind
    meta = enc.compute_encoding(space, "meta", ids, cache=cache)
    assert meta.min() >= 0 and meta.max() <= 1
    expected = {"nb101": 13, "nb201": 10}.get(name)
    if expected is not None:
        assert meta.shape[1] == expected
    assert len(graphs) == len(ids)


def nb201_like_batch() -> GraphBatch:
    """All 15,625 NB201 cells in node form: one node per edge op, zeroize kept as a node."""
    ops = (
        "input",
        "none",
        "skip_connect",
        "nor_conv_1x1",
        "nor_conv_3x3",
        "avg_pool_3x3",
        "output",
    )
    edges = [
        (0, 1),
        (0, 2),
        (1, 2),
        (0, 3),
        (1, 3),
        (2, 3),
    ]  # cell nodes i -> j, in id order
    N = 8
    adj = np.zeros((N, N), np.uint8)
    for e, (i, j) in enumerate(edges):
        node = e + 1
        if i == 0:
            adj[0, node] = 1
        for f, (_, jj) in enumerate(edges):
            if jj == i:
                adj[f + 1, node] = 1  # ops feeding cell node i feed this edge op
        if j == 3:
            adj[node, N - 1] = 1
    codes = (
        np.array(np.meshgrid(*[np.arange(5)] * 6, indexing="ij")).reshape(6, -1).T + 1
    )
    n = len(codes)
    op_arr = np.column_stack([np.zeros(n), codes, np.full(n, 6)]).astype(np.int16)
    return GraphBatch(np.broadcast_to(adj, (n, N, N)).copy(), op_arr, ops)


def test_nb201_like_space_gets_the_papers_10_meta_features():
    g = nb201_like_batch()
    X, names = enc.meta_features(g, enc.params_proxy(g))
    keep = X.max(0) > X.min(0)
    assert [n for n, k in zip(names, keep) if k] == [
        "count.none",
        "count.skip_connect",
        "count.nor_conv_1x1",
        "count.nor_conv_3x3",
        "count.avg_pool_3x3",
        "path_weight_max",
        "path_weight_min",
        "path_weight_mode",
        "path_weight_total",
        "params",
    ]
    assert enc.meta_encoding(g, enc.params_proxy(g)).shape == (15625, 10)
    # all-avg-pool cell (last row): 4 paths (0-3, 0-1-3, 0-2-3, 0-1-2-3) of 1, 2, 2, 3 ops of weight 3
    row = dict(zip(names, X[-1]))
    assert (
        row["path_weight_max"],
        row["path_weight_min"],
        row["path_weight_mode"],
        row["path_weight_total"],
    ) == (9, 3, 6, 24)
    assert enc.path_encoding(g).shape[1] == 1 + 5 + 25 + 125


def test_composite_encodings_concatenate_and_are_memoised():
    ids = np.array(["a", "b"])
    table = pd.DataFrame({"arch_id": ["a", "b"], "zc.snip": [1.0, 2.0]})
    space = TinySpace(table)
    parts = [enc.compute_encoding(space, k, ids) for k in ("graf", "onehot", "zc")]
    both = enc.compute_encoding(space, "graf+onehot+zc", ids)
    np.testing.assert_array_equal(both, np.concatenate(parts, axis=1))
    assert both.dtype == np.float32
    first = space.encoding("onehot+zc", ids, "universe")
    assert space.encoding("onehot+zc", ids, "universe") is first
    with pytest.raises(ConfigError, match="Unknown encoding 'grf'.*graf"):
        enc.compute_encoding(space, "grf+zc", ids)
    with pytest.raises(ConfigError, match="joins 'graph'"):
        enc.compute_encoding(space, "graph+onehot", ids)
