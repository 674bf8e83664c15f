"""The DARTS search space (NAS-Bench-301): a normal and a reduction cell genotype.

Each cell has two inputs (0 = c_{k-2}, 1 = c_{k-1}) and four intermediate nodes 2..5;
node ``j`` sums two ops applied to two *different* earlier nodes, and the cell output
concatenates the four intermediate nodes. Ops (codes 0..6, NASLib's order):
max_pool_3x3, avg_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3,
dil_conv_5x5.

Canonical id (compact, JSON-free): ``<normal>|<reduce>``, each cell four ``_``-separated
groups (nodes 2..5) of two ``<input><op>`` digit pairs sorted ascending, so the two
(interchangeable) inputs of a node are written one way only. Example:
``0010_0213_1213_0533|...``. ``canonical_id`` also accepts NASLib's compact tuple form
``((input, op) x 8, (input, op) x 8)`` and genotype JSON ``{"normal": [[op, input] x 8],
"reduce": [...]}``.

Graph form (``to_graph``, 20 nodes, the two cells stacked): 0 ``input`` (c_{k-2}),
1 ``prev_cell`` (c_{k-1}, fed by 0), 2..9 the normal cell's op nodes, 10 ``concat`` (the
normal cell's output, fed by all its op nodes), 11..18 the reduction cell's op nodes
(its input 0 is node 1 and its input 1 is node 10), 19 ``output``. An op on intermediate
node j's output feeds from both op nodes of node j (every edge op becomes a node).

``iso_hash`` hashes each cell's labelled DAG (renumbering intermediate nodes that are
interchangeable gives the same hash). The space is not enumerable (~10^18 genotypes);
``sample(n, rng)`` draws uniform random genotypes.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import re
from collections.abc import Sequence

import numpy as np
from nasbench_harness.errors import ConfigError
from nasbench_harness.tasks.spaces._celldag import dag_hash
from nasbench_harness.tasks.spaces.base import GraphBatch, SearchSpace

OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
_OP_CODE = {o: i for i, o in enumerate(OPS)}
_CANON_RE = re.compile(r"^\d{4}(_\d{4}){3}\|\d{4}(_\d{4}){3}$")

Cell = tuple[tuple[int, int], ...]  # 8 (input, op) pairs, node j = pairs 2j, 2j+1
Genotype = tuple[Cell, Cell]  # (normal, reduce)


def _bad(arch_id, why: str) -> ConfigError:
    return ConfigError(
        f"'{str(arch_id)[:80]}' is not a DARTS genotype ({why}); expected the canonical "
        f"'dddd_dddd_dddd_dddd|dddd_dddd_dddd_dddd' form, NASLib's ((input, op) x 8, (input, op) x 8) tuples "
        f"or genotype JSON with 8 [op, input] pairs per cell."
    )


def _check(arch_id, cells) -> Genotype:
    out = []
    for cell in cells:
        pairs = tuple((int(i), int(o)) for i, o in cell)
        if len(pairs) != 8:
            raise _bad(arch_id, "each cell needs 8 (input, op) pairs")
        for j in range(4):
            (i1, o1), (i2, o2) = pairs[2 * j], pairs[2 * j + 1]
            if not (0 <= i1 < j + 2 and 0 <= i2 < j + 2):
                raise _bad(arch_id, f"node {j + 2} may only read nodes 0..{j + 1}")
            if i1 == i2:
                raise _bad(arch_id, f"node {j + 2} reads node {i1} twice")
            if not (0 <= o1 < len(OPS) and 0 <= o2 < len(OPS)):
                raise _bad(arch_id, f"op codes are 0..{len(OPS) - 1}")
        # order the two inputs of every node: equivalent genotypes get one id
        out.append(tuple(p for j in range(4) for p in sorted(pairs[2 * j : 2 * j + 2])))
    return out[0], out[1]


@functools.lru_cache(maxsize=1 << 16)
def parse(arch_id: str) -> Genotype:
    """The canonical genotype of any accepted id form."""
    text = str(arch_id).strip()
    try:
        if _CANON_RE.match(text):
            cells = [
                [(int(g[0]), int(g[1])) for grp in cell.split("_") for g in (grp[:2], grp[2:])]
                for cell in text.split("|")
            ]
        elif text.startswith("{"):
            obj = json.loads(text)
            cells = [[(inp, _OP_CODE[op]) for op, inp in obj[k]] for k in ("normal", "reduce")]
        else:
            cells = ast.literal_eval(text)  # literal tuples only: never evaluates code
            if len(cells) != 2:
                raise ValueError("two cells")
    except ConfigError:
        raise
    except (ValueError, TypeError, KeyError, SyntaxError, IndexError, MemoryError, RecursionError):
        raise _bad(arch_id, "unreadable") from None
    try:
        return _check(arch_id, cells)
    except (ValueError, TypeError):
        raise _bad(arch_id, "pairs must be two integers") from None


def format_id(genotype: Genotype) -> str:
    cells = []
    for cell in genotype:
        groups = (cell[2 * j] + cell[2 * j + 1] for j in range(4))  # (in, op, in, op) per node
        cells.append("_".join("".join(map(str, g)) for g in groups))
    return "|".join(cells)


def genotype_json(arch_id: str) -> str:
    """The genotype as NB301/DARTS-style JSON (op names), e.g. for external tools."""
    normal, reduce = parse(arch_id)
    return json.dumps({k: [[OPS[o], i] for i, o in cell] for k, cell in (("normal", normal), ("reduce", reduce))})


def _cell_dag(cell: Cell) -> tuple[np.ndarray, list[str]]:
    """One cell as a node DAG: in0, in1, 8 op nodes, output (for hashing)."""
    adj = np.zeros((11, 11), np.uint8)
    for p, (i, _) in enumerate(cell):
        node = 2 + p
        if i < 2:
            adj[i, node] = 1
        else:
            adj[2 + 2 * (i - 2), node] = adj[3 + 2 * (i - 2), node] = 1
        adj[node, 10] = 1
    return adj, ["in0", "in1", *(OPS[o] for _, o in cell), "out"]


@functools.lru_cache(maxsize=1 << 16)
def _cell_hash(cell: Cell) -> str:
    return dag_hash(*_cell_dag(cell))


class DartsSpace(SearchSpace):
    """DARTS / NAS-Bench-301 genotypes (normal + reduction cell)."""

    name = "darts"
    description = "DARTS cells (NAS-Bench-301): normal + reduction cell, 4 nodes x 2 inputs each, 7 ops"
    op_names = ("input", "prev_cell", *OPS, "concat", "output")
    max_nodes = 20
    finite = False

    def canonical_id(self, arch_id: str) -> str:
        return format_id(parse(arch_id))

    def iso_hash(self, arch_id: str) -> str:
        normal, reduce = parse(arch_id)
        return hashlib.md5(f"{_cell_hash(normal)}|{_cell_hash(reduce)}".encode()).hexdigest()

    def to_graph(self, arch_ids: Sequence[str]) -> GraphBatch:
        n = len(arch_ids)
        geno = np.array([parse(a) for a in arch_ids], np.int64).reshape(n, 2, 8, 2)
        inputs, codes = geno[..., 0], geno[..., 1]
        ops = np.empty((n, 20), np.int16)
        ops[:, 0], ops[:, 1], ops[:, 10], ops[:, 19] = 0, 1, len(self.op_names) - 2, len(self.op_names) - 1
        ops[:, 2:10] = codes[:, 0] + 2
        ops[:, 11:19] = codes[:, 1] + 2
        adj = np.zeros((n, 20, 20), np.uint8)
        adj[:, 0, 1] = 1
        for c, (base, in0, in1, out) in enumerate(((2, 0, 1, 10), (11, 1, 10, 19))):
            src = inputs[:, c]  # (n, 8) input node of each op
            for value, node in ((0, in0), (1, in1)):
                r, t = np.nonzero(src == value)
                adj[r, node, base + t] = 1
            r, t = np.nonzero(src >= 2)  # intermediate node k = the two op nodes summed into it
            first = base + 2 * (src[r, t] - 2)
            adj[r, first, base + t] = 1
            adj[r, first + 1, base + t] = 1
            adj[:, base : base + 8, out] = 1
        return GraphBatch(adj, ops, self.op_names)

    def neighbours(self, arch_id: str) -> list[str]:
        return list(_neighbours(self.canonical_id(arch_id)))

    def mutate(self, arch_id: str, rng: np.random.Generator) -> str:
        options = _neighbours(self.canonical_id(arch_id))
        return options[int(rng.integers(len(options)))]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` uniform random genotypes (two distinct inputs and two ops per node), canonical ids."""
        out = []
        for _ in range(n):
            cells = []
            for _cell in range(2):
                pairs = []
                for j in range(4):
                    ins = rng.choice(j + 2, size=2, replace=False)
                    pairs += [(int(ins[0]), int(rng.integers(len(OPS)))), (int(ins[1]), int(rng.integers(len(OPS))))]
                cells.append(pairs)
            out.append(format_id(_check("sample", cells)))
        return np.array(out)


@functools.lru_cache(maxsize=4096)
def _neighbours(canon: str) -> tuple[str, ...]:
    """Every genotype one op change or one input change away (inputs stay distinct)."""
    geno = [list(cell) for cell in parse(canon)]
    out = set()
    for c in range(2):
        for p in range(8):
            inp, op = geno[c][p]
            sibling = geno[c][p ^ 1][0]
            options = [(inp, o) for o in range(len(OPS)) if o != op]
            options += [(i, op) for i in range(p // 2 + 2) if i not in (inp, sibling)]
            for new in options:
                cells = [cell[:] for cell in geno]
                cells[c][p] = new
                out.add(format_id(_check(canon, cells)))
    out.discard(canon)
    return tuple(sorted(out))
