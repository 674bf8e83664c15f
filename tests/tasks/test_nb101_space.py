"""NB101 search space: official pruning and module hash, enumeration, graphs, mutation."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from nasbench_harness.errors import ConfigError, DataError
from nasbench_harness.registry import get_search_space
from nasbench_harness.tasks.cache import DataCache
from nasbench_harness.tasks.spaces.nb101 import (
    N_CELLS,
    OP_NAMES,
    Cells,
    enumerate_cells,
    labels_of,
    module_hash,
    prune,
    spec_hash,
)

C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"

# A cell whose official module hash and metrics are published (nasbench README example,
# first hash of the sorted nasbench-vis list, 8,555,530 trainable parameters).
KNOWN_BITS = "0100110001000000010010000010000001000000010000000"
KNOWN_OPS = ["input", C3, MP, C3, C3, C1, "output"]
KNOWN_HASH = "00005c142e6f48ac74fdcf73e3439874"


def known_matrix() -> np.ndarray:
    return np.array(list(KNOWN_BITS), dtype=np.uint8).reshape(7, 7)


@pytest.fixture(scope="session")
def nb101_space(session_data_root):
    """The nb101 space with its cells enumerated once per session (stored in the session cache)."""
    cells = enumerate_cells()
    cache = DataCache(session_data_root)
    cache.write_arrays("nb101", "cells", **cells.to_arrays())
    space = get_search_space("nb101")
    space.forget_cells()
    space.cells(cache)
    return space


# -- hashing and pruning (no enumeration needed) -------------------------------------------------
def test_module_hash_matches_official_value():
    assert spec_hash(known_matrix(), KNOWN_OPS) == KNOWN_HASH
    assert module_hash(known_matrix(), labels_of(KNOWN_OPS)) == KNOWN_HASH


def test_isomorphic_relabellings_hash_equal_and_ops_matter():
    m, labels = known_matrix(), np.array(labels_of(KNOWN_OPS))
    for perm in itertools.islice(itertools.permutations(range(1, 6)), 0, 120, 7):
        p = np.array([0, *perm, 6])
        assert module_hash(m[np.ix_(p, p)], labels[p]) == KNOWN_HASH
    changed = list(KNOWN_OPS)
    changed[2] = C1
    assert spec_hash(known_matrix(), changed) != KNOWN_HASH


def test_topological_reordering_of_a_spec_hashes_equal():
    # input -> a (conv3) -> out, input -> b (maxpool) -> out: swapping a and b keeps a DAG.
    m = np.zeros((4, 4), np.uint8)
    m[0, 1] = m[0, 2] = m[1, 3] = m[2, 3] = 1
    assert spec_hash(m, ["input", C3, MP, "output"]) == spec_hash(m, ["input", MP, C3, "output"])


def test_dangling_vertices_are_pruned_officially():
    # 0 -> 1 -> 6 is the useful path; vertex 2 has no out-edge, vertex 3 no in-edge,
    # 4 -> 5 is a chain reachable from neither end.
    m = np.zeros((7, 7), np.uint8)
    m[0, 1] = m[1, 6] = 1
    m[1, 2] = 1
    m[3, 6] = 1
    m[4, 5] = 1
    ops = ["input", C3, C1, MP, C1, C3, "output"]
    matrix, kept = prune(m, ops)
    assert kept == ["input", C3, "output"]
    assert matrix.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    small = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    assert spec_hash(m, ops) == spec_hash(small, kept)


def test_disconnected_and_oversized_specs_are_invalid():
    m = np.zeros((7, 7), np.uint8)
    m[0, 1] = m[2, 6] = 1  # input never reaches output
    assert prune(m, ["input", C3, C3, C3, C3, C3, "output"]) is None
    assert spec_hash(m, ["input", C3, C3, C3, C3, C3, "output"]) is None
    dense = np.triu(np.ones((7, 7), np.uint8), 1)  # 21 edges > 9
    assert spec_hash(dense, KNOWN_OPS) is None


@pytest.mark.parametrize(
    ("matrix", "ops", "fragment"),
    [
        (np.zeros((3, 2)), ["input", "output"], "square"),
        (np.array([[0, 1], [1, 0]]), ["input", "output"], "upper-triangular"),
        (np.array([[0, 2], [0, 0]]), ["input", "output"], "only 0 and 1"),
        (np.array([[0, 1], [0, 0]]), ["input"], "one op per vertex"),
        (np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]]), ["input", "conv5x5", "output"], "Unknown NB101 operation"),
        (np.array([[0, 1], [0, 0]]), ["output", "input"], "must start with"),
    ],
)
def test_malformed_specs_raise_config_error(matrix, ops, fragment):
    with pytest.raises(ConfigError, match=fragment):
        prune(matrix, ops)


def test_spec_ids_canonicalise_without_the_cell_table():
    space = get_search_space("nb101")
    assert space.canonical_id(f"{KNOWN_BITS}:{','.join(KNOWN_OPS)}") == KNOWN_HASH
    with pytest.raises(ConfigError, match="not a valid cell"):
        space.canonical_id("0000:input,output")
    for bad in ["xyz", "0101:", "012:input,output", 42]:
        with pytest.raises(ConfigError):
            space.canonical_id(bad)


# -- enumeration -------------------------------------------------------------------------------
@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_enumeration_yields_exactly_the_official_cells(nb101_space):
    cells = nb101_space.cells()
    assert len(cells) == N_CELLS == 423_624
    assert len(np.unique(cells.hashes)) == N_CELLS
    assert (cells.hashes[1:] > cells.hashes[:-1]).all()  # sorted: vectorised lookups
    adj = cells.adjacency(np.arange(len(cells)))
    n = (cells.ops >= 0).sum(1)
    assert adj.sum((1, 2)).max() == 9 and n.min() == 2 and n.max() == 7
    assert (np.tril(adj) == 0).all()
    rows = np.arange(len(cells))
    assert (cells.ops[:, 0] == OP_NAMES.index("input")).all()
    assert (cells.ops[rows, n - 1] == OP_NAMES.index("output")).all()
    # every vertex but the output has an out-edge, every vertex but the input an in-edge
    real = cells.ops >= 0
    has_out = adj.any(2) | (np.arange(7) == (n - 1)[:, None])
    has_in = adj.any(1) | (np.arange(7) == 0)
    assert (has_out | ~real).all() and (has_in | ~real).all()


@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_enumerated_structures_rehash_to_their_ids(nb101_space):
    cells = nb101_space.cells()
    rng = np.random.default_rng(0)
    for row in rng.choice(len(cells), 300, replace=False):
        n = int((cells.ops[row] >= 0).sum())
        matrix = cells.adjacency(np.array([row]))[0, :n, :n]
        ops = [OP_NAMES[c] for c in cells.ops[row, :n]]
        assert spec_hash(matrix, ops) == cells.hashes[row]


@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_enumeration_covers_every_hash_of_the_20k_file(nb101_space, shared_data):
    keys = json.loads((shared_data / "nasbench101" / "tiga1231_nasbench-vis_data-20k.json").read_text())["key"]
    assert len(keys) == 20_001
    assert (nb101_space.cells().rows(np.array(keys)) >= 0).all()
    assert KNOWN_HASH in keys


@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_random_unpruned_specs_prune_into_the_enumeration(nb101_space):
    """Pruning, hashing and enumeration agree: every valid random 7x7 spec is an enumerated cell."""
    rng = np.random.default_rng(2024)
    cells, seen = nb101_space.cells(), 0
    for _ in range(1500):
        m = np.triu(rng.random((7, 7)) < rng.uniform(0.15, 0.5), 1).astype(np.uint8)
        ops = ["input", *rng.choice([C3, C1, MP], 5).tolist(), "output"]
        digest = spec_hash(m, ops)
        pruned = prune(m, ops)
        if digest is None:
            assert pruned is None or pruned[0].sum() > 9
            continue
        seen += 1
        assert cells.rows(np.array([digest]))[0] >= 0
        pm, pops = pruned
        assert prune(pm, pops)[1] == pops  # idempotent
        n = len(pops)
        p = np.r_[0, rng.permutation(np.arange(1, n - 1)), n - 1]
        labels = np.array(labels_of(pops))
        assert module_hash(pm[np.ix_(p, p)], labels[p]) == digest  # relabelling-invariant
    assert seen > 300


@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_cell_table_roundtrips_through_the_cache(nb101_space, tmp_path):
    cache = DataCache(tmp_path)
    cache.write_arrays("nb101", "cells", **nb101_space.cells().to_arrays())
    loaded = Cells.from_arrays(cache.read_arrays("nb101", "cells"))
    assert np.array_equal(loaded.hashes, nb101_space.cells().hashes)
    assert np.array_equal(loaded.adj_bits, nb101_space.cells().adj_bits)
    with pytest.raises(DataError, match="malformed"):
        Cells.from_arrays({"hash": loaded.hashes[:3]})
    arrays = nb101_space.cells().to_arrays()
    arrays["hash"] = arrays["hash"][::-1].copy()
    with pytest.raises(DataError, match="not sorted"):
        Cells.from_arrays(arrays)


# -- identity, graphs, neighbourhood ------------------------------------------------------------
@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_canonical_id_checks_membership(nb101_space):
    assert nb101_space.canonical_id(KNOWN_HASH.upper()) == KNOWN_HASH
    assert nb101_space.iso_hash(KNOWN_HASH) == KNOWN_HASH
    with pytest.raises(ConfigError, match="not the module hash of any NB101 cell"):
        nb101_space.canonical_id("0" * 32)
    ids = nb101_space.enumerate()
    assert len(ids) == N_CELLS and ids[0] < ids[-1]


@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_to_graph_gives_padded_node_labelled_dags(nb101_space):
    small = "0100:input,output"
    g = nb101_space.to_graph([KNOWN_HASH, small, nb101_space.canonical_id(small)])
    assert g.adj.shape == (3, 7, 7) and g.adj.dtype == np.uint8 and g.ops.dtype == np.int16
    assert g.op_names == OP_NAMES and g.n_nodes.tolist() == [7, 2, 2]
    assert spec_hash(g.adj[0], [OP_NAMES[c] for c in g.ops[0]]) == KNOWN_HASH
    assert g.adj[1].tolist() == g.adj[2].tolist() and g.ops[1, 2:].tolist() == [-1] * 5
    with pytest.raises(ConfigError, match="not the module hash"):
        nb101_space.to_graph([KNOWN_HASH, "f" * 32])
    assert len(nb101_space.to_graph([])) == 0


@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_all_graphs_are_consistent_with_lookups(nb101_space):
    ids, graphs = nb101_space.all_graphs()
    assert len(graphs) == N_CELLS
    rows = np.random.default_rng(1).choice(N_CELLS, 50, replace=False)
    sub = nb101_space.to_graph(ids[rows])
    assert np.array_equal(sub.adj, graphs.adj[rows]) and np.array_equal(sub.ops, graphs.ops[rows])


@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_neighbours_are_valid_single_edits(nb101_space):
    neighbours = nb101_space.neighbours(KNOWN_HASH)
    assert KNOWN_HASH not in neighbours and len(neighbours) == len(set(neighbours))
    assert (nb101_space.cells().rows(np.array(neighbours)) >= 0).all()
    assert len(neighbours) <= 21 + 10  # 7 vertices: at most one per edge slot and per alternative op
    m = known_matrix()
    op_changes = set()
    for v in range(1, 6):
        for op in (C3, C1, MP):
            if op != KNOWN_OPS[v]:
                op_changes.add(spec_hash(m, KNOWN_OPS[:v] + [op] + KNOWN_OPS[v + 1 :]))
    assert op_changes <= set(neighbours)
    removed = m.copy()
    removed[0, 1] = 0  # vertex 1 still fed by nothing -> pruned; still a valid neighbour
    assert spec_hash(removed, KNOWN_OPS) in neighbours


@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_mutate_returns_a_valid_different_neighbour_deterministically(nb101_space):
    rng = np.random.default_rng(7)
    current = KNOWN_HASH
    for _ in range(20):
        nxt = nb101_space.mutate(current, rng)
        assert nxt != current and nxt in nb101_space.neighbours(current)
        current = nxt
    a = nb101_space.mutate(KNOWN_HASH, np.random.default_rng(3))
    b = nb101_space.mutate(KNOWN_HASH, np.random.default_rng(3))
    assert a == b


@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_small_cells_can_grow(nb101_space):
    smallest = nb101_space.canonical_id("0100:input,output")
    neighbours = nb101_space.neighbours(smallest)
    # removing the only edge disconnects; adding a vertex (one in-, one out-edge) beside the
    # direct input -> output edge gives the 3 one-op cells that keep that edge.
    bypass = [nb101_space.canonical_id(f"011001000:input,{op},output") for op in (C3, C1, MP)]
    assert neighbours == sorted(bypass)
    assert nb101_space.mutate(smallest, np.random.default_rng(0)) in neighbours
    rng = np.random.default_rng(11)
    walk = [smallest]
    for _ in range(60):
        walk.append(nb101_space.mutate(walk[-1], rng))
    assert max(int(n) for n in nb101_space.to_graph(walk).n_nodes) >= 5
