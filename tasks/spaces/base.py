"""The search-space contract every space (built-in or plugin) implements.

An architecture is named by a canonical string id (e.g. the NB201 arch string, the NB101
module hash). Structure is exposed as dense, padded, node-labelled DAGs (``GraphBatch``)
so that graph networks batch densely and generic encodings work on every space.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class GraphBatch:
    """A batch of node-labelled DAGs, padded to ``max_nodes``.

    ``adj[b, i, j] == 1`` means an edge i -> j. Nodes are in topological order: node 0 is
    the input, the last real node is the output, padding nodes come after it with op -1.
    Spaces with operations on edges (NB201, DARTS, TransNAS micro) are converted to this
    node form the usual way: every edge operation becomes a node.
    """

    adj: np.ndarray  # (n, N, N) uint8
    ops: np.ndarray  # (n, N) int16, index into op_names; -1 = padding
    op_names: tuple[str, ...]  # node-op vocabulary, includes "input" and "output"

    def __len__(self) -> int:
        return int(self.adj.shape[0])

    def __getitem__(self, rows) -> GraphBatch:
        return GraphBatch(self.adj[rows], self.ops[rows], self.op_names)

    @property
    def max_nodes(self) -> int:
        return int(self.adj.shape[1])

    @property
    def n_nodes(self) -> np.ndarray:
        return (self.ops >= 0).sum(axis=1)

    @property
    def node_mask(self) -> np.ndarray:
        return self.ops >= 0

    def one_hot_ops(self, dtype=np.float32) -> np.ndarray:
        """(n, N, len(op_names)) one-hot node operations; padding rows are all zero."""
        eye = np.eye(len(self.op_names) + 1, dtype=dtype)[:, : len(self.op_names)]
        return eye[np.where(self.ops >= 0, self.ops, len(self.op_names))]


class SearchSpace(ABC):
    """One NAS search space. Instances are per-process singletons (see registry)."""

    name: ClassVar[str]  # registry name, e.g. "nb201"
    description: ClassVar[str] = ""
    op_names: ClassVar[tuple[str, ...]]  # node-op vocabulary of to_graph()
    max_nodes: ClassVar[int]
    finite: ClassVar[bool] = True
    embedded: ClassVar[bool] = False  # True when data ships with a package (no import step)
    synthetic: ClassVar[bool] = False  # True for made-up data (tests, examples): never in a matrix's tasks "*"
    size: ClassVar[int | None] = None  # architectures in the space, when known (`data verify` checks tables against it)

    def __init__(self) -> None:
        # (kind, universe digest) -> encoding matrix; see encoding().
        self._memo: dict[tuple[str, str], np.ndarray] = {}

    # -- identity ---------------------------------------------------------------------
    @abstractmethod
    def canonical_id(self, arch_id: str) -> str:
        """Validate ``arch_id`` and return its canonical form; DataError/ConfigError if invalid."""

    @abstractmethod
    def iso_hash(self, arch_id: str) -> str:
        """A hash equal for exactly the isomorphic (functionally identical) architectures."""

    # -- structure --------------------------------------------------------------------
    @abstractmethod
    def to_graph(self, arch_ids: Sequence[str]) -> GraphBatch:
        """Dense node-labelled DAGs for the given ids (vectorised where possible)."""

    @abstractmethod
    def mutate(self, arch_id: str, rng: np.random.Generator) -> str:
        """A random single-edit neighbour (different id, valid in the space)."""

    def neighbours(self, arch_id: str) -> list[str]:
        """Every single-edit neighbour; spaces override when they can list them."""
        raise NotImplementedError(f"{self.name} does not list neighbours")

    def enumerate(self) -> np.ndarray:
        """All canonical ids of a finite space, as an array of str."""
        raise NotImplementedError(f"{self.name} is not enumerable")

    # -- data -------------------------------------------------------------------------
    def load_table(self, cache) -> pd.DataFrame:
        """The space's benchmark table: ``arch_id`` plus ``<dataset>.<metric>`` columns.

        Default: the imported Parquet table from the data cache. Embedded spaces override.
        """
        return cache.read_table(self.name)

    def data_checksum(self, cache) -> str:
        """A content digest of the space's whole table (keys caches built from all of it, e.g. LM's weights)."""
        from nasbench_harness.tasks.digest import combine

        return combine(self.column_digests(cache, self.table_columns(cache)))

    def table_columns(self, cache) -> list[str]:
        """The names of the space's table columns."""
        if cache is not None and cache.has(self.name):
            return cache.columns(self.name)
        return [str(c) for c in self.load_table(cache).columns]

    def column_digests(self, cache, columns) -> dict[str, str]:
        """Content digests (``tasks/digest.py``) of ``arch_id`` and of those of ``columns`` the
        table has: what run keys hold of the data. Imported tables keep them in their manifest;
        a space with its own data (``load_table`` overridden) has them computed from it."""
        if cache is not None and cache.has(self.name):
            return cache.column_digests(self.name, columns)
        from nasbench_harness.tasks.digest import table_digests

        return table_digests(self.load_table(cache), columns)

    # -- encodings --------------------------------------------------------------------
    def encoding(self, kind: str, arch_ids: np.ndarray, universe_key: str, cache=None) -> np.ndarray:
        """Encoding ``kind`` for ``arch_ids``, computed once per (kind, universe) and memoised.

        ``universe_key`` names the id array (a task's whole id set, its data checksum
        included): encodings that scale over the space (min-max meta-features) are computed
        over it once, then sliced. Table columns come from ``cache``, the task's own.
        """
        key = (kind, universe_key)
        if key not in self._memo:
            from nasbench_harness.tasks.encodings import compute_encoding

            self._memo[key] = compute_encoding(self, kind, arch_ids, cache=cache)
        return self._memo[key]
