"""TransNAS-Bench-101 search spaces: the micro (cell) space and the macro (skeleton) space.

Micro (4,096 cells): an NB201-like cell with 4 nodes and 6 edges, each edge one of
``0 none, 1 skip, 2 conv1x1, 3 conv3x3``. Official id ``64-41414-a_bc_def``: ``a`` is the
edge 0->1, ``bc`` the edges 0->2, 1->2, ``def`` the edges 0->3, 1->3, 2->3. As a graph,
every edge op becomes a node (input, 6 op nodes, output = 8 nodes); ``none`` nodes are
kept in the graph (fixed shape) and removed only for the isomorphism hash.

Macro (3,256 skeletons): 4 to 6 residual modules, each ``1`` normal, ``2`` channel x2,
``3`` stride 2, ``4`` both. Official id ``64-<digits>-basic``. The TransNAS paper bounds
the network: between 1 and 4 downsampling modules (3 or 4) and between 1 and 3
channel-doubling modules (2 or 4); exactly these constraints give the published 3,256.
As a graph: a chain input -> module -> ... -> output, padded to 8 nodes.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence

import numpy as np
from nasbench_harness.errors import ConfigError
from nasbench_harness.tasks.spaces._celldag import dag_hash, edge_op_node_adjacency, prune
from nasbench_harness.tasks.spaces.base import GraphBatch, SearchSpace

# The seven TransNAS tasks and the metric each one is judged by in the official .pth.
TASKS = ("class_scene", "class_object", "room_layout", "jigsaw", "segmentsemantic", "normal", "autoencoder")

# ---------------------------------------------------------------------------------- micro
MICRO_PREFIX = "64-41414-"
MICRO_OPS = ("none", "skip", "conv1x1", "conv3x3")
MICRO_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))  # order of the digits in the id
_MICRO_RE = re.compile(r"^(?:64-41414-)?([0-3])_([0-3]{2})_([0-3]{3})$")


MICRO_ADJ = edge_op_node_adjacency(MICRO_EDGES, out_node=3)  # input, 6 edge-op nodes, output


def micro_digits(arch_id: str) -> tuple[int, ...]:
    m = _MICRO_RE.match(arch_id.strip()) if isinstance(arch_id, str) else None
    if m is None:
        raise ConfigError(
            f"'{arch_id}' is not a TransNAS micro architecture; expected the official form "
            f"'64-41414-a_bc_def' with each of the 6 digits in 0..3 (e.g. '64-41414-3_32_132')."
        )
    return tuple(int(c) for c in "".join(m.groups()))


def micro_id(digits: Sequence[int]) -> str:
    d = "".join(map(str, digits))
    return f"{MICRO_PREFIX}{d[0]}_{d[1:3]}_{d[3:6]}"


class TNB101MicroSpace(SearchSpace):
    """TransNAS-Bench-101 micro (cell-level) space, 4,096 cells."""

    name = "tnb101-micro"
    description = "TransNAS-Bench-101 cell space: 4 nodes, 6 edges, ops none/skip/conv1x1/conv3x3 (4,096 cells)"
    op_names = ("input", *MICRO_OPS, "output")
    max_nodes = 8
    size = 4_096

    def canonical_id(self, arch_id: str) -> str:
        return micro_id(micro_digits(arch_id))

    def iso_hash(self, arch_id: str) -> str:
        return _micro_iso(micro_digits(arch_id))

    def to_graph(self, arch_ids: Sequence[str]) -> GraphBatch:
        digits = np.array([micro_digits(a) for a in arch_ids], dtype=np.int16).reshape(-1, 6)
        n = len(digits)
        ops = np.empty((n, 8), np.int16)
        ops[:, 0] = 0
        ops[:, 1:7] = digits + 1  # op_names offset by "input"
        ops[:, 7] = len(self.op_names) - 1
        adj = np.broadcast_to(MICRO_ADJ, (n, 8, 8)).copy()
        return GraphBatch(adj, ops, self.op_names)

    def neighbours(self, arch_id: str) -> list[str]:
        d = micro_digits(arch_id)
        return [micro_id(d[:e] + (o,) + d[e + 1 :]) for e in range(6) for o in range(4) if o != d[e]]

    def mutate(self, arch_id: str, rng: np.random.Generator) -> str:
        d = list(micro_digits(arch_id))
        e = int(rng.integers(6))
        d[e] = (d[e] + 1 + int(rng.integers(3))) % 4  # any of the 3 other ops
        return micro_id(d)

    def enumerate(self) -> np.ndarray:
        return _micro_all().copy()


@functools.cache
def _micro_all() -> np.ndarray:
    return np.array([micro_id(d) for d in itertools.product(range(4), repeat=6)])


@functools.lru_cache(maxsize=8192)
def _micro_iso(digits: tuple[int, ...]) -> str:
    ops = ["input", *(MICRO_OPS[d] for d in digits), "output"]
    keep = np.array([o != "none" for o in ops])
    pruned = prune(MICRO_ADJ, keep)
    if pruned is None:
        return "disconnected"  # output constant zero: all such cells compute the same thing
    adj, idx = pruned
    return dag_hash(adj, [ops[i] for i in idx])


# ---------------------------------------------------------------------------------- macro
MACRO_BLOCKS = ("normal", "channel_x2", "stride_2", "channel_x2_stride_2")  # digits 1..4
MACRO_MIN_BLOCKS, MACRO_MAX_BLOCKS = 4, 6
MACRO_DOWNSAMPLE = (1, 4)  # allowed number of blocks with stride 2 (digits 3, 4)
MACRO_DOUBLE = (1, 3)  # allowed number of blocks doubling channels (digits 2, 4)
_MACRO_RE = re.compile(r"^(?:64-)?([1-4]{4,6})(?:-basic)?$")


def macro_valid(digits: Sequence[int]) -> bool:
    down = sum(d in (3, 4) for d in digits)
    double = sum(d in (2, 4) for d in digits)
    return (
        MACRO_MIN_BLOCKS <= len(digits) <= MACRO_MAX_BLOCKS
        and MACRO_DOWNSAMPLE[0] <= down <= MACRO_DOWNSAMPLE[1]
        and MACRO_DOUBLE[0] <= double <= MACRO_DOUBLE[1]
    )


def macro_digits(arch_id: str) -> tuple[int, ...]:
    m = _MACRO_RE.match(arch_id.strip()) if isinstance(arch_id, str) else None
    digits = tuple(int(c) for c in m.group(1)) if m else ()
    if not m or not macro_valid(digits):
        raise ConfigError(
            f"'{arch_id}' is not a TransNAS macro architecture; expected '64-<4 to 6 digits in 1..4>-basic' "
            f"with 1-4 downsampling modules (3/4) and 1-3 channel-doubling modules (2/4), e.g. '64-41414-basic'."
        )
    return digits


def macro_id(digits: Sequence[int]) -> str:
    return f"64-{''.join(map(str, digits))}-basic"


class TNB101MacroSpace(SearchSpace):
    """TransNAS-Bench-101 macro (skeleton-level) space, 3,256 networks."""

    name = "tnb101-macro"
    description = "TransNAS-Bench-101 macro space: 4-6 residual modules, each normal/channel x2/stride 2/both (3,256)"
    op_names = ("input", *MACRO_BLOCKS, "output")
    max_nodes = MACRO_MAX_BLOCKS + 2
    size = 3_256
    # The zero-cost files give parameter counts for only 682 of the 3,256 networks and the
    # structural proxy cannot extrapolate them: the meta encoding uses the proxy for all.
    meta_params_proxy = True

    def canonical_id(self, arch_id: str) -> str:
        return macro_id(macro_digits(arch_id))

    def iso_hash(self, arch_id: str) -> str:
        # A chain of distinct module types: no two different ids compute the same network.
        return self.canonical_id(arch_id)

    def to_graph(self, arch_ids: Sequence[str]) -> GraphBatch:
        n, size = len(arch_ids), self.max_nodes
        ops = np.full((n, size), -1, np.int16)
        adj = np.zeros((n, size, size), np.uint8)
        for b, a in enumerate(arch_ids):
            d = macro_digits(a)
            k = len(d) + 2
            ops[b, :k] = (0, *d, len(self.op_names) - 1)
            adj[b, np.arange(k - 1), np.arange(1, k)] = 1  # chain
        return GraphBatch(adj, ops, self.op_names)

    def neighbours(self, arch_id: str) -> list[str]:
        d = macro_digits(arch_id)
        out: set[tuple[int, ...]] = set()
        for i in range(len(d)):
            out.update(d[:i] + (o,) + d[i + 1 :] for o in range(1, 5) if o != d[i])  # change a module
            out.add(d[:i] + d[i + 1 :])  # remove a module
        for i in range(len(d) + 1):
            out.update(d[:i] + (o,) + d[i:] for o in range(1, 5))  # insert a module
        out.discard(d)
        return sorted(macro_id(c) for c in out if macro_valid(c))

    def mutate(self, arch_id: str, rng: np.random.Generator) -> str:
        options = self.neighbours(arch_id)
        return options[int(rng.integers(len(options)))]

    def enumerate(self) -> np.ndarray:
        return _macro_all().copy()


@functools.cache
def _macro_all() -> np.ndarray:
    ids = [
        macro_id(d)
        for length in range(MACRO_MIN_BLOCKS, MACRO_MAX_BLOCKS + 1)
        for d in itertools.product(range(1, 5), repeat=length)
        if macro_valid(d)
    ]
    return np.array(ids)
