"""The NAS-Bench-101 search space: cells of up to 7 nodes and 9 edges.

An architecture is a DAG (upper-triangular adjacency, node 0 = input, last node =
output) whose interior nodes carry one of three operations. Its identity is the official
*module hash* of google-research/nasbench (``graph_util.hash_module``): an md5-based
iterated neighbourhood fingerprint over (out-degree, in-degree, op label), re-implemented
here so that hashes found in public files join with our structures. The canonical
string id and the isomorphism hash are both that module hash.

An *unpruned* spec (e.g. a 7x7 matrix with dangling vertices) is reduced the official
way (``ModelSpec._prune``): vertices not on an input->output path are dropped; a spec
whose input does not reach its output is invalid.

All 423,624 unique cells are enumerated once (vectorised over adjacency bitmasks, with
isomorphic duplicates removed by a canonical form before the costly md5 hashing) and
stored in the data cache as ``nb101/cells.npz``: hashes (sorted), 21-bit packed upper
triangles and op codes. Loading them back takes well under a second.

Ids may also be given as a spec string ``"<n*n adjacency bits>:<op>,<op>,..."`` (the
official TFRecord layout), which is pruned and hashed to the canonical id.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from nasbench_harness.errors import ConfigError, DataError
from nasbench_harness.tasks.spaces.base import GraphBatch, SearchSpace

MAX_NODES = 7
MAX_EDGES = 9
N_CELLS = 423_624  # unique cells of the official space (Ying et al., 2019)

INPUT, OUTPUT = "input", "output"
# The official ``available_ops`` order: an op's module-hash label is its index here.
OFFICIAL_OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
INPUT_LABEL, OUTPUT_LABEL = -1, -2
# Node vocabulary of to_graph() (GraphBatch.op_names).
OP_NAMES = ("input", "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3", "output")
_GRAPH_CODE = {name: i for i, name in enumerate(OP_NAMES)}
# official label (0, 1, 2) -> graph vocabulary code
_LABEL_TO_CODE = np.array([_GRAPH_CODE[o] for o in OFFICIAL_OPS], dtype=np.int16)

_TRIU = np.triu_indices(MAX_NODES, 1)  # the 21 bit positions of a packed cell
_HEX = frozenset("0123456789abcdef")


# -- pruning and hashing (official semantics) ----------------------------------------------
def _check_spec_shape(matrix: np.ndarray, ops: Sequence[str]) -> None:
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ConfigError(f"An NB101 adjacency matrix must be square, got shape {matrix.shape}; give an n x n 0/1 matrix.")
    n = matrix.shape[0]
    if len(ops) != n:
        raise ConfigError(f"An NB101 spec needs one op per vertex ({n}), got {len(ops)}; give input, interior ops, output.")
    if n < 2:
        raise ConfigError("An NB101 spec needs at least the input and output vertices; give a matrix of size >= 2.")
    if not np.isin(matrix, (0, 1)).all():
        raise ConfigError("An NB101 adjacency matrix must contain only 0 and 1; fix the matrix entries.")
    if np.tril(matrix).any():
        raise ConfigError("An NB101 adjacency matrix must be strictly upper-triangular (a DAG in topological order); reorder the vertices.")
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise ConfigError(f"An NB101 spec must start with '{INPUT}' and end with '{OUTPUT}', got {ops[0]!r} ... {ops[-1]!r}.")
    bad = [o for o in ops[1:-1] if o not in OFFICIAL_OPS]
    if bad:
        raise ConfigError(f"Unknown NB101 operation {bad[0]!r}; interior ops must be one of {list(OFFICIAL_OPS)}.")


def prune(matrix, ops: Sequence[str]) -> tuple[np.ndarray, list[str]] | None:
    """Official ModelSpec pruning; None when the input does not reach the output.

    Keeps exactly the vertices that are reachable from the input and reach the output.
    Raises ConfigError for a malformed spec (not square, not a DAG, unknown ops).
    """
    matrix = np.asarray(matrix)
    ops = list(ops)
    _check_spec_shape(matrix, ops)
    n = matrix.shape[0]
    m = matrix.astype(bool)
    fwd = np.zeros(n, bool)
    fwd[0] = True
    for v in range(1, n):  # topological order: one pass suffices
        fwd[v] = (m[:v, v] & fwd[:v]).any()
    bwd = np.zeros(n, bool)
    bwd[n - 1] = True
    for v in range(n - 2, -1, -1):
        bwd[v] = (m[v, v + 1 :] & bwd[v + 1 :]).any()
    keep = fwd & bwd
    if keep.sum() < 2:  # official rule: fewer than 2 useful vertices = disconnected
        return None
    idx = np.flatnonzero(keep)
    return matrix[np.ix_(idx, idx)].astype(np.uint8), [ops[i] for i in idx]


def labels_of(ops: Sequence[str]) -> list[int]:
    """Official module-hash labels: -1 input, -2 output, index in OFFICIAL_OPS otherwise."""
    return [INPUT_LABEL] + [OFFICIAL_OPS.index(o) for o in ops[1:-1]] + [OUTPUT_LABEL]


def module_hash(matrix, labels: Sequence[int]) -> str:
    """The official NB101 module hash of a (pruned) matrix and its integer labels.

    Same value as google-research/nasbench ``graph_util.hash_module``: each vertex starts
    from md5(str((out_degree, in_degree, label))); then, once per vertex count, its hash
    becomes md5(sorted in-neighbour hashes + '|' + sorted out-neighbour hashes + '|' +
    own hash); the module hash is md5(str(sorted(vertex hashes))).
    """
    rows = np.asarray(matrix).tolist()
    n = len(rows)
    ins = [[w for w in range(n) if rows[w][v]] for v in range(n)]
    outs = [[w for w in range(n) if rows[v][w]] for v in range(n)]
    md5 = hashlib.md5
    h = [md5(str((len(outs[v]), len(ins[v]), int(labels[v]))).encode()).hexdigest() for v in range(n)]
    for _ in range(n):
        h = [
            md5(
                (
                    "".join(sorted([h[w] for w in ins[v]]))
                    + "|"
                    + "".join(sorted([h[w] for w in outs[v]]))
                    + "|"
                    + h[v]
                ).encode()
            ).hexdigest()
            for v in range(n)
        ]
    return md5(str(sorted(h)).encode()).hexdigest()


def is_valid_pruned(matrix: np.ndarray) -> bool:
    """Within the NB101 limits (official ``_check_spec``): <= 7 vertices, <= 9 edges."""
    return matrix.shape[0] <= MAX_NODES and int(matrix.sum()) <= MAX_EDGES


def spec_hash(matrix, ops: Sequence[str]) -> str | None:
    """Prune an (unpruned) spec and return its module hash; None if not a valid NB101 cell."""
    pruned = prune(matrix, ops)
    if pruned is None or not is_valid_pruned(pruned[0]):
        return None
    return module_hash(pruned[0], labels_of(pruned[1]))


def parse_spec_id(arch_id: str) -> tuple[np.ndarray, list[str]]:
    """Parse ``"<n*n bits>:<op>,<op>,..."`` into (matrix, ops)."""
    bits, _, ops_text = arch_id.partition(":")
    n = int(round(len(bits) ** 0.5))
    if not ops_text or n * n != len(bits) or set(bits) - {"0", "1"}:
        raise ConfigError(
            f"'{arch_id[:80]}' is not an NB101 id; expected a 32-character module hash or "
            f"'<n*n adjacency bits>:<op>,...,<op>' (e.g. '0100:input,output')."
        )
    matrix = np.frombuffer(bits.encode(), np.uint8).reshape(n, n) - ord("0")
    return matrix, ops_text.split(",")


# -- exhaustive enumeration ------------------------------------------------------------------
def _full_dags(n: int) -> np.ndarray:
    """All n-vertex upper-triangular DAGs with <= 9 edges and no dangling vertex.

    Official ``is_full_dag``: every vertex but the output has an out-edge and every vertex
    but the input has an in-edge (so every vertex lies on an input->output path).
    """
    iu = np.triu_indices(n, 1)
    m = len(iu[0])
    codes = np.arange(1 << m, dtype=np.int64)
    bits = ((codes[:, None] >> np.arange(m)) & 1).astype(np.uint8)
    keep = bits.sum(1) <= MAX_EDGES
    bits = bits[keep]
    adj = np.zeros((len(bits), n, n), np.uint8)
    adj[:, iu[0], iu[1]] = bits
    full = adj[:, :-1, :].any(2).all(1) & adj[:, :, 1:].any(1).all(1)
    return adj[full]


def _canonical_classes(adj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Representatives of the labelled cells with n vertices, up to isomorphism.

    A labelled cell (graph g, labelling l) is canonicalised by the permutations of the
    interior vertices that minimise g's adjacency key (a coset of g's automorphisms),
    then by the smallest label key over those permutations. Returns the (graph index,
    labelling index) of one member of each class, plus the labellings table.
    """
    g_count, n, _ = adj.shape
    k = n - 2
    perms = np.array([(0, *p, n - 1) for p in itertools.permutations(range(1, n - 1))], dtype=np.int64)
    weights = np.left_shift(np.int64(1), np.arange(n * n, dtype=np.int64))
    flat = adj.reshape(g_count, n * n).astype(np.int64)
    keys = np.empty((g_count, len(perms)), np.int64)
    for j, p in enumerate(perms):  # permuted matrix A'[a, b] = A[p[a], p[b]]
        keys[:, j] = flat[:, (p[:, None] * n + p[None, :]).ravel()] @ weights
    min_key = keys.min(1)
    g_idx, p_idx = np.nonzero(keys == min_key[:, None])  # sorted by graph
    combos = list(itertools.product(range(3), repeat=k))
    labellings = np.array(combos, dtype=np.int64).reshape(len(combos), k)
    pow3 = 3 ** np.arange(k, dtype=np.int64)
    # label of interior position a after permutation p is the label of vertex p[a]
    interior = perms[p_idx][:, 1 : n - 1] - 1  # (pairs, k)
    lab_keys = (labellings[:, interior] * pow3).sum(-1).T  # (pairs, L)
    starts = np.flatnonzero(np.r_[True, g_idx[1:] != g_idx[:-1]])
    canon_lab = np.minimum.reduceat(lab_keys, starts, axis=0)  # (G, L)
    graph_class = np.unique(min_key, return_inverse=True)[1]
    combined = graph_class[:, None] * len(labellings) + canon_lab
    _, first = np.unique(combined.ravel(), return_index=True)
    return np.divmod(first, len(labellings)), labellings


@dataclass(frozen=True)
class Cells:
    """The enumerated NB101 cells, sorted by module hash."""

    hashes: np.ndarray  # (n,) <U32, sorted
    adj_bits: np.ndarray  # (n,) uint32: 21 upper-triangle bits of the 7-padded matrix
    ops: np.ndarray  # (n, 7) int16 graph-vocabulary codes, -1 = padding

    def __len__(self) -> int:
        return len(self.hashes)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Row of each id, -1 where the id is not an enumerated cell."""
        ids = np.asarray(ids, dtype="<U32")
        pos = np.searchsorted(self.hashes, ids).clip(0, len(self.hashes) - 1)
        return np.where(self.hashes[pos] == ids, pos, -1)

    def adjacency(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), 7, 7) uint8 matrices unpacked from the bit codes."""
        bits = (self.adj_bits[rows, None] >> np.arange(len(_TRIU[0]), dtype=np.uint32)) & 1
        adj = np.zeros((len(rows), MAX_NODES, MAX_NODES), np.uint8)
        adj[:, _TRIU[0], _TRIU[1]] = bits
        return adj

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"hash": self.hashes.astype("S32"), "adj_bits": self.adj_bits, "ops": self.ops.astype(np.int8)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Cells:
        try:
            hashes = arrays["hash"].astype("<U32")
            cells = cls(hashes, arrays["adj_bits"].astype(np.uint32), arrays["ops"].astype(np.int16))
        except (KeyError, ValueError) as exc:
            raise DataError(f"The cached NB101 cell table is malformed ({exc}); delete nb101/cells.npz to rebuild it.") from None
        if len(cells.ops) != len(hashes) or len(cells.adj_bits) != len(hashes):
            raise DataError("The cached NB101 cell table is malformed (length mismatch); delete nb101/cells.npz to rebuild it.")
        if not (hashes[1:] > hashes[:-1]).all():  # lookups rely on sorted, unique hashes
            raise DataError("The cached NB101 cell table is not sorted by hash; delete nb101/cells.npz to rebuild it.")
        return cells


@functools.cache
def enumerate_cells() -> Cells:
    """Every unique NB101 cell, enumerated once per process (see ``compute_cells``)."""
    return compute_cells()


def compute_cells() -> Cells:
    """Enumerate every unique NB101 cell (423,624) with its official module hash."""
    hashes: list[str] = []
    adj_bits: list[np.ndarray] = []
    ops: list[np.ndarray] = []
    bit_w = np.left_shift(np.uint32(1), np.arange(len(_TRIU[0]), dtype=np.uint32))
    for n in range(2, MAX_NODES + 1):
        adj = _full_dags(n)
        (g, lab_index), labellings = _canonical_classes(adj)
        lab = labellings[lab_index]  # (c, n-2) official labels 0..2
        full = np.full((len(g), n), INPUT_LABEL, np.int64)
        full[:, 1:-1] = lab
        full[:, -1] = OUTPUT_LABEL
        mats = adj[g]
        hashes += [module_hash(mats[i], full[i]) for i in range(len(g))]
        padded = np.zeros((len(g), MAX_NODES, MAX_NODES), np.uint8)
        padded[:, :n, :n] = mats
        adj_bits.append(padded[:, _TRIU[0], _TRIU[1]].astype(np.uint32) @ bit_w)
        codes = np.full((len(g), MAX_NODES), -1, np.int16)
        codes[:, 0] = _GRAPH_CODE[INPUT]
        codes[:, 1 : n - 1] = _LABEL_TO_CODE[lab]
        codes[:, n - 1] = _GRAPH_CODE[OUTPUT]
        ops.append(codes)
    all_hashes = np.array(hashes, dtype="<U32")
    # Isomorphism classes are at least as fine as hash classes; keep one cell per hash.
    uniq, first = np.unique(all_hashes, return_index=True)
    return Cells(uniq, np.concatenate(adj_bits)[first], np.concatenate(ops)[first])


def _single_edits(matrix: np.ndarray, ops: list[str]):
    """Yield the (unpruned) specs one edit away from a pruned cell (see NB101Space.neighbours)."""
    n = len(ops)
    for i, j in zip(*np.triu_indices(n, 1)):
        m = matrix.copy()
        m[i, j] ^= 1
        yield m, ops
    for v in range(1, n - 1):
        for op in OFFICIAL_OPS:
            if op != ops[v]:
                yield matrix, ops[:v] + [op] + ops[v + 1 :]
    if n >= MAX_NODES or int(matrix.sum()) + 2 > MAX_EDGES:
        return
    for k in range(1, n):  # the new vertex takes position k; old vertices >= k shift by one
        idx = np.r_[0:k, k + 1 : n + 1]
        base = np.zeros((n + 1, n + 1), matrix.dtype)
        base[np.ix_(idx, idx)] = matrix
        for u in range(k):
            for v in range(k + 1, n + 1):
                m = base.copy()
                m[u, k] = m[k, v] = 1
                for op in OFFICIAL_OPS:
                    yield m, ops[:k] + [op] + ops[k:]


# -- the search space ----------------------------------------------------------------------
class NB101Space(SearchSpace):
    """NAS-Bench-101: 423,624 cells of up to 7 nodes / 9 edges, ids = official module hashes."""

    name: ClassVar[str] = "nb101"
    description: ClassVar[str] = "NAS-Bench-101 cells (<= 7 nodes, <= 9 edges); id = official module hash"
    op_names: ClassVar[tuple[str, ...]] = OP_NAMES
    max_nodes: ClassVar[int] = MAX_NODES
    size: ClassVar[int | None] = 423_624
    CELLS_NAME: ClassVar[str] = "cells"

    def __init__(self) -> None:
        super().__init__()
        self._cells: Cells | None = None
        self._lock = threading.Lock()

    # -- the enumerated cell table -------------------------------------------------------
    def cells(self, cache=None, *, persist: bool = True) -> Cells:
        """All enumerated cells: from memory, else the data cache, else enumerated.

        A fresh enumeration is stored in ``cache`` (default: the user's data cache) unless
        ``persist`` is False (importers store it only after a successful import).
        """
        if self._cells is None:
            with self._lock:
                if self._cells is None:
                    self._cells = self._load_or_enumerate(cache, persist)
        return self._cells

    def forget_cells(self) -> None:
        """Drop the in-memory cell table (e.g. after pointing the data cache elsewhere)."""
        with self._lock:
            self._cells = None

    def _load_or_enumerate(self, cache, persist: bool) -> Cells:
        from nasbench_harness.tasks.cache import DataCache

        cache = cache if cache is not None else DataCache()
        path = cache.space_dir(self.name) / f"{self.CELLS_NAME}.npz"
        if path.is_file():
            try:
                cells = Cells.from_arrays(cache.read_arrays(self.name, self.CELLS_NAME))
                if len(cells) == N_CELLS:
                    return cells
            except (OSError, ValueError, DataError):
                pass  # unreadable or stale: rebuild below (atomically replaced)
        cells = enumerate_cells()
        if persist:
            cache.write_arrays(self.name, self.CELLS_NAME, **cells.to_arrays())
        return cells

    # -- identity ------------------------------------------------------------------------
    def canonical_id(self, arch_id: str) -> str:
        if not isinstance(arch_id, str):
            raise ConfigError(f"An NB101 id must be a string, got {type(arch_id).__name__}; give a module hash.")
        if ":" in arch_id:
            matrix, ops = parse_spec_id(arch_id)
            digest = spec_hash(matrix, ops)
            if digest is None:
                raise ConfigError(
                    f"The NB101 spec '{arch_id}' is not a valid cell (input not connected to output, or more than "
                    f"{MAX_NODES} vertices / {MAX_EDGES} edges after pruning); give a connected cell within the limits."
                )
            return digest
        digest = arch_id.strip().lower()
        if len(digest) != 32 or set(digest) - _HEX:
            raise ConfigError(
                f"'{arch_id[:80]}' is not an NB101 id; expected a 32-character hexadecimal module hash or a "
                f"'<bits>:<ops>' spec."
            )
        if self.cells().rows(np.array([digest]))[0] < 0:
            raise ConfigError(f"'{arch_id}' is not the module hash of any NB101 cell; check the id (hashes are md5 hex).")
        return digest

    def iso_hash(self, arch_id: str) -> str:
        return self.canonical_id(arch_id)

    def enumerate(self) -> np.ndarray:
        return self.cells().hashes.copy()

    # -- structure -----------------------------------------------------------------------
    def spec_of(self, arch_id: str) -> tuple[np.ndarray, list[str]]:
        """The (pruned) matrix and op names of one cell."""
        if ":" in arch_id:
            matrix, ops = parse_spec_id(arch_id)
            pruned = prune(matrix, ops)
            if pruned is None or not is_valid_pruned(pruned[0]):
                self.canonical_id(arch_id)  # raises the precise error
            return pruned
        g = self.to_graph([arch_id])
        n = int(g.n_nodes[0])
        return g.adj[0, :n, :n].copy(), [OP_NAMES[c] for c in g.ops[0, :n]]

    def to_graph(self, arch_ids: Sequence[str]) -> GraphBatch:
        ids = np.asarray(list(arch_ids) if not isinstance(arch_ids, np.ndarray) else arch_ids, dtype=str)
        spec_mask = np.char.find(ids, ":") >= 0 if len(ids) else np.zeros(0, bool)
        cells = self.cells()
        rows = np.full(len(ids), -1, np.int64)
        if (~spec_mask).any():
            rows[~spec_mask] = cells.rows(np.char.lower(ids[~spec_mask]))
        unknown = np.flatnonzero((rows < 0) & ~spec_mask)
        if len(unknown):
            raise ConfigError(
                f"'{ids[unknown[0]]}' is not the module hash of any NB101 cell ({len(unknown)} unknown id(s)); "
                f"give module hashes or '<bits>:<ops>' specs."
            )
        adj = np.zeros((len(ids), MAX_NODES, MAX_NODES), np.uint8)
        ops = np.full((len(ids), MAX_NODES), -1, np.int16)
        hit = rows >= 0
        adj[hit] = cells.adjacency(rows[hit])
        ops[hit] = cells.ops[rows[hit]]
        for i in np.flatnonzero(spec_mask):  # specs not in the table: computed directly
            matrix, names = self.spec_of(str(ids[i]))
            n = len(names)
            adj[i, :n, :n] = matrix
            ops[i, :n] = [_GRAPH_CODE[o] for o in names]
        return GraphBatch(adj, ops, OP_NAMES)

    def all_graphs(self) -> tuple[np.ndarray, GraphBatch]:
        """Every enumerated cell's id and graph (sorted by hash), vectorised."""
        cells = self.cells()
        rows = np.arange(len(cells))
        return cells.hashes, GraphBatch(cells.adjacency(rows), cells.ops.copy(), OP_NAMES)

    # -- neighbourhood -------------------------------------------------------------------
    def neighbours(self, arch_id: str) -> list[str]:
        """Every distinct valid cell one edit away.

        Edits: flip one edge, change one interior op, and, below 7 vertices, add one vertex
        (any op) with one incoming and one outgoing edge. The last is what one edge flip
        does on an unpruned 7x7 spec whose pruned-away vertex already had its other edge;
        without it, ids (pruned cells) could only shrink under mutation.
        """
        own = self.canonical_id(arch_id)
        matrix, ops = self.spec_of(arch_id)
        found = {spec_hash(m, o) for m, o in _single_edits(matrix, ops)}
        found.discard(own)
        found.discard(None)
        return sorted(found)

    def mutate(self, arch_id: str, rng: np.random.Generator) -> str:
        options = self.neighbours(arch_id)
        if not options:  # only the 2-vertex cell (input -> output) has none
            raise ConfigError(
                f"The NB101 cell '{arch_id}' has no valid single-edit neighbour to mutate to; start from a cell "
                f"with at least one interior vertex."
            )
        return options[int(rng.integers(len(options)))]


