"""NAS-Bench-201 (NATS-Bench topology, ``tss``) search space: 15,625 cells.

A cell has 4 nodes; node ``i`` sums one operation applied to every earlier node ``j < i``,
so there are 6 edges, each one of ``none, skip_connect, nor_conv_1x1, nor_conv_3x3,
avg_pool_3x3``. The canonical id is the official arch string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` whose six ops are, in order, the edges
0->1, 0->2, 1->2, 0->3, 1->3, 2->3. NASLib's ``op_indices`` use another edge order
(0->1, 0->2, 0->3, 1->2, 1->3, 2->3) and op order (skip, none, conv3x3, conv1x1,
avg_pool); ``from_naslib`` converts them.

Official index order. The benchmark lists the 5^6 cells in product order (edges in the
order above, ops in the order above, last edge fastest) shuffled once with Python's
``random.seed(88); random.shuffle``; ``enumerate()`` reproduces it exactly (checked
against the imported tables' ``index`` column in the tests), so it needs no data.

As a graph (``to_graph``), every edge op becomes a node: input, the 6 edge-op nodes,
output (8 nodes). ``none`` nodes stay in the graph (fixed shape); the isomorphism hash
removes them.

Isomorphism rule (``iso_hash``). A cell computes node 3 as a sum of terms; we write each
node as the sorted multiset of its terms and compare those. Rules, each exact for the
forward function: ``none`` contributes nothing; an op applied to an all-zero node
contributes nothing (zeros never reach the output); ``skip_connect`` passes the terms of
its source node through (identity, so ``x + skip(a + b)`` is ``x + a + b``); any other op
contributes one term ``(<source node>)@<op>``; sums are commutative and associative, so
terms are sorted and nested sums flattened. Equal multisets (as a string) mean the same
function up to the weights of identically placed ops; cells with a disconnected output
all hash to ``#``. This gives 4,930 classes, each a union of classes of NAS-Bench-201's
own ``to_unique_str(consider_zero=True)`` rule (6,466 classes), which neither flattens
nested sums nor drops zero terms;
``official_unique_str`` reproduces that rule exactly (tested against the NATS data).
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from collections.abc import Sequence

import numpy as np
from nasbench_harness.errors import ConfigError
from nasbench_harness.tasks.spaces._celldag import edge_op_node_adjacency
from nasbench_harness.tasks.spaces.base import GraphBatch, SearchSpace

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))  # (from, to), in arch-string order
N_ARCHS = len(OPS) ** len(EDGES)  # 15,625
SHUFFLE_SEED = 88  # the seed NAS-Bench-201 used to order its architectures
_OP_INDEX = {op: i for i, op in enumerate(OPS)}
_ARCH_RE = re.compile(
    r"^\|(\w+)~0\|\+\|(\w+)~0\|(\w+)~1\|\+\|(\w+)~0\|(\w+)~1\|(\w+)~2\|$"
)


OP_NODE_ADJ = edge_op_node_adjacency(EDGES, out_node=3)  # input, 6 edge-op nodes, output


def arch_str(ops: Sequence[int]) -> str:
    """Official arch string of 6 op indices (edge order as in ``EDGES``)."""
    o = [OPS[i] for i in ops]
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


def op_indices(arch_id: str) -> tuple[int, ...]:
    """The 6 op indices of an official arch string; ConfigError if it is not one."""
    m = _ARCH_RE.match(arch_id.strip()) if isinstance(arch_id, str) else None
    if m is None or any(op not in _OP_INDEX for op in m.groups()):
        raise ConfigError(
            f"'{arch_id}' is not a NAS-Bench-201 architecture; expected the official string "
            f"'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' with ops from {', '.join(OPS)}."
        )
    return tuple(_OP_INDEX[op] for op in m.groups())


# NASLib op_indices -> ours: its op codes and its edge order (see module docstring).
NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
NASLIB_EDGES = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))


def from_naslib(op_indices_: Sequence[int]) -> str:
    """Official arch string of a NASLib NB201 ``op_indices`` tuple; ConfigError if malformed."""
    codes = list(op_indices_)
    if len(codes) != 6 or any(not isinstance(c, (int, np.integer)) or not 0 <= c < 5 for c in codes):
        raise ConfigError(
            f"{tuple(codes)} is not a NASLib NB201 op_indices tuple; expected 6 integers in 0..4."
        )
    by_edge = dict(zip(NASLIB_EDGES, codes, strict=True))
    return arch_str([_OP_INDEX[NASLIB_OPS[by_edge[e]]] for e in EDGES])


# Parameters of the NB201 macro network around the cells (stem, two residual reduction
# blocks, final BN, classifier without its num_classes-dependent part): see param_counts.
_CHANNELS = (16, 32, 64)
_CELLS_PER_STAGE = 5


def _fixed_params(num_classes: int) -> int:
    stem = 3 * 16 * 9 + 2 * 16  # conv3x3 (no bias) + BN
    blocks = 0
    for c_in, c_out in ((16, 32), (32, 64)):  # ResNet basic block: 2 ReLU-conv-BN + avgpool-conv1x1 shortcut
        blocks += c_in * c_out * 9 + 2 * c_out + c_out * c_out * 9 + 2 * c_out + c_in * c_out
    return stem + blocks + 2 * 64 + 64 * num_classes + num_classes  # last BN + linear classifier


@functools.cache
def _product_ops() -> np.ndarray:
    """(15625, 6) op indices in product order (last edge fastest)."""
    return np.array(list(itertools.product(range(len(OPS)), repeat=len(EDGES))), dtype=np.int16)


@functools.cache
def official_order() -> np.ndarray:
    """(15625,) positions into the product order, in official NB201 index order."""
    order = list(range(N_ARCHS))
    random.Random(SHUFFLE_SEED).shuffle(order)
    return np.array(order, dtype=np.int64)


@functools.cache
def _all_ids() -> np.ndarray:
    ops = _product_ops()[official_order()]
    return np.array([arch_str(o) for o in ops.tolist()])


@functools.cache
def _index_of() -> dict[str, int]:
    return {a: i for i, a in enumerate(_all_ids().tolist())}


def official_index(arch_id: str) -> int:
    """NB201/NATS index (0..15624) of an architecture."""
    op_indices(arch_id)  # validates
    return _index_of()[arch_id.strip()]


@functools.lru_cache(maxsize=N_ARCHS)
def _iso(ops: tuple[int, ...]) -> str:
    terms: dict[int, tuple[str, ...]] = {0: ("0",)}  # node -> sorted terms of its sum
    for node in (1, 2, 3):
        acc: list[str] = []
        for e, (src, dst) in enumerate(EDGES):
            op = OPS[ops[e]]
            if dst != node or op == "none" or not terms[src]:
                continue  # zero contributions vanish
            acc.extend(terms[src] if op == "skip_connect" else [f"({'+'.join(terms[src])})@{op}"])
        terms[node] = tuple(sorted(acc))
    return "+".join(terms[3]) or "#"


def official_unique_str(arch_id: str) -> str:
    """NAS-Bench-201's own unique string (``Structure.to_unique_str(consider_zero=True)``).

    Coarser-grained notion than ``iso_hash`` (6,466 classes): each node is the '+'-join of
    its sorted terms; ``none`` is the term ``#``; an op on a node that is exactly ``#``
    gives ``#``; ``skip_connect`` inserts the source node's string as one term.
    """
    ops = op_indices(arch_id)
    expr = {0: "0"}
    for node in (1, 2, 3):
        acc = []
        for e, (src, dst) in enumerate(EDGES):
            if dst != node:
                continue
            op = OPS[ops[e]]
            if op == "none" or expr[src] == "#":
                acc.append("#")
            else:
                acc.append(expr[src] if op == "skip_connect" else f"({expr[src]})@{op}")
        expr[node] = "+".join(sorted(acc))
    return expr[3]


class NB201Space(SearchSpace):
    """NAS-Bench-201 cell space (15,625 cells, ops on the 6 edges of a 4-node cell)."""

    name = "nb201"
    description = "NAS-Bench-201 / NATS-Bench topology: 4-node cell, 6 edges, 5 ops (15,625 cells)"
    op_names = ("input", *OPS, "output")
    max_nodes = 8
    size = 15_625

    def canonical_id(self, arch_id: str) -> str:
        return arch_str(op_indices(arch_id))

    def load_table(self, cache, columns: Sequence[str] | None = None):
        """The imported table (only ``columns`` that exist, when given), read with low peak memory.

        ``load_task`` asks for the task's columns only, so the ~100 zero-cost proxy columns
        cost nothing there. Arrow's default (mimalloc) pool keeps ~25 MB of arenas after one
        read of a few-MB table; the system allocator returns it. Buffers remember their pool,
        so restoring the default afterwards is safe. Errors are reported by the cache.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq
        from nasbench_harness.tasks.cache import TABLE

        if not cache.has(self.name):
            return cache.read_table(self.name)  # raises the cache's one-sentence DataError
        path = cache.space_dir(self.name) / TABLE
        previous = pa.default_memory_pool()
        pa.set_memory_pool(pa.system_memory_pool())
        try:
            if columns is not None:
                present = set(pq.read_schema(path).names)
                columns = [c for c in dict.fromkeys(["arch_id", *columns]) if c in present]
            table = pq.read_table(path, columns=columns, memory_map=True)
            return table.to_pandas(self_destruct=True)
        except (pa.ArrowException, OSError):
            pass
        finally:
            pa.set_memory_pool(previous)
        return cache.read_table(self.name)  # unreadable: the cache reports it in one sentence

    def iso_hash(self, arch_id: str) -> str:
        return _iso(op_indices(arch_id))

    def ops_matrix(self, arch_ids: Sequence[str]) -> np.ndarray:
        """(n, 6) op indices; fast path through the index of all 15,625 ids."""
        index = _index_of()
        pos = np.fromiter((index.get(a, -1) for a in arch_ids), dtype=np.int64, count=len(arch_ids))
        out = _product_ops()[official_order()[np.maximum(pos, 0)]]
        for i in np.flatnonzero(pos < 0):  # not verbatim: validate/normalise one by one
            out[i] = op_indices(arch_ids[i])
        return out

    def to_graph(self, arch_ids: Sequence[str]) -> GraphBatch:
        ops6 = self.ops_matrix(list(arch_ids))
        n = len(ops6)
        ops = np.empty((n, 8), np.int16)
        ops[:, 0] = 0
        ops[:, 1:7] = ops6 + 1  # op_names is offset by "input"
        ops[:, 7] = len(self.op_names) - 1
        adj = np.broadcast_to(OP_NODE_ADJ, (n, 8, 8)).copy()
        return GraphBatch(adj, ops, self.op_names)

    def encode_onehot(self, arch_ids: Sequence[str]) -> np.ndarray:
        """The canonical NB201 one-hot: 6 edges x 5 ops (30 columns, edge-major)."""
        ops6 = self.ops_matrix(list(arch_ids))
        return np.eye(len(OPS), dtype=np.float32)[ops6].reshape(len(ops6), -1)

    def param_counts(self, arch_ids: Sequence[str], num_classes: int = 10) -> np.ndarray:
        """Exact trainable-parameter counts of the NB201 network (C=16, N=5) for each cell.

        Each nor_conv_kxk edge is ReLU-Conv(C, C, k, no bias)-BN(affine): C*C*k*k + 2C
        parameters; none, skip and avg-pool have none; 5 cells per stage at C = 16, 32, 64.
        Gives the benchmark's range 0.0733 MB (no conv) to 1.5315 MB (all conv3x3) on CIFAR-10.
        """
        ops6 = self.ops_matrix(list(arch_ids))
        k2 = np.zeros(len(OPS), np.int64)
        k2[_OP_INDEX["nor_conv_1x1"]], k2[_OP_INDEX["nor_conv_3x3"]] = 1, 9
        is_conv = (k2 > 0).astype(np.int64)
        kernels = k2[ops6].sum(axis=1)  # sum of k*k over the 6 edges
        convs = is_conv[ops6].sum(axis=1)
        cells = sum(_CELLS_PER_STAGE * (c * c * kernels + 2 * c * convs) for c in _CHANNELS)
        return (cells + _fixed_params(num_classes)).astype(np.float64)

    def neighbours(self, arch_id: str) -> list[str]:
        d = op_indices(arch_id)
        return [arch_str(d[:e] + (o,) + d[e + 1 :]) for e in range(6) for o in range(len(OPS)) if o != d[e]]

    def mutate(self, arch_id: str, rng: np.random.Generator) -> str:
        d = list(op_indices(arch_id))
        e = int(rng.integers(6))
        d[e] = (d[e] + 1 + int(rng.integers(len(OPS) - 1))) % len(OPS)  # any other op
        return arch_str(d)

    def enumerate(self) -> np.ndarray:
        return _all_ids().copy()
