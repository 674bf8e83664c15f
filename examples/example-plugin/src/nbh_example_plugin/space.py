"""A small search space whose data ships inside the plugin: no import step.

``minicell``: a chain of four operation nodes (conv3x3, conv1x1 or skip each) with two
optional shortcut edges (input -> node 2, node 2 -> output), 3^4 x 2^2 = 324 architectures.
Its table is made up, deterministically, by this module: a structural score (the op mix,
the shortcuts, one interaction) plus seeded noise, as a validation and a test accuracy. It
is synthetic and copied from no benchmark. The space's tasks are declared in tasks/*.yaml,
registered under ``nasbench_harness.tasks``.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from nasbench_harness.errors import ConfigError
from nasbench_harness.tasks.spaces.base import GraphBatch, SearchSpace

OPS = ("conv3x3", "conv1x1", "skip")
SHORTCUTS = ((0, 2), (2, 5))  # optional edges besides the chain 0 -> 1 -> ... -> 5
N_NODES = 6  # input, four operations, output


class MiniCellSpace(SearchSpace):
    """Four chained operations with two optional shortcuts; ids look like ``"0121-10"``."""

    name = "minicell"
    description = "Example plugin space: 4 chained ops (conv3x3/conv1x1/skip), 2 optional shortcuts, 324 archs, synthetic data."
    op_names = ("input", "output", *OPS)
    max_nodes = N_NODES
    embedded = True  # the data ships with the plugin
    synthetic = True  # made-up numbers: never part of a matrix's tasks "*"
    meta_params_proxy = True  # no parameter counts exist: the meta encoding uses the structural proxy
    size = 3**4 * 2 ** len(SHORTCUTS)

    def canonical_id(self, arch_id: str) -> str:
        ops, _, bits = str(arch_id).partition("-")
        if len(ops) != 4 or len(bits) != len(SHORTCUTS) or set(ops) - set("012") or set(bits) - set("01"):
            raise ConfigError(f"'{arch_id}' is not a minicell id; expected 4 op digits (0-2), '-', {len(SHORTCUTS)} shortcut bits.")
        return str(arch_id)

    def iso_hash(self, arch_id: str) -> str:
        return self.canonical_id(arch_id)  # no two ids compute the same function

    def to_graph(self, arch_ids: Sequence[str]) -> GraphBatch:
        n = len(arch_ids)
        codes = np.array([[int(c) for c in self.canonical_id(a).replace("-", "")] for a in arch_ids], dtype=np.int16).reshape(n, -1)
        adj = np.zeros((n, N_NODES, N_NODES), dtype=np.uint8)
        adj[:, np.arange(N_NODES - 1), np.arange(1, N_NODES)] = 1
        for k, (i, j) in enumerate(SHORTCUTS):
            adj[:, i, j] = codes[:, 4 + k]
        ops = np.empty((n, N_NODES), dtype=np.int16)
        ops[:, 0], ops[:, -1] = 0, 1
        ops[:, 1:5] = codes[:, :4] + 2
        return GraphBatch(adj, ops, self.op_names)

    def mutate(self, arch_id: str, rng: np.random.Generator) -> str:
        options = self.neighbours(arch_id)
        return options[int(rng.integers(len(options)))]

    def neighbours(self, arch_id: str) -> list[str]:
        chars = list(self.canonical_id(arch_id).replace("-", ""))
        out = []
        for pos, c in enumerate(chars):
            for alt in ("012" if pos < 4 else "01").replace(c, ""):
                new = chars[:pos] + [alt] + chars[pos + 1 :]
                out.append("".join(new[:4]) + "-" + "".join(new[4:]))
        return out

    def enumerate(self) -> np.ndarray:
        ops = ("".join(p) for p in itertools.product("012", repeat=4))
        return np.array([f"{o}-{''.join(b)}" for o in ops for b in itertools.product("01", repeat=len(SHORTCUTS))])

    def load_table(self, cache=None, columns=None) -> pd.DataFrame:
        table = _table()
        return table[columns] if columns is not None else table

    def data_checksum(self, cache=None) -> str:
        # The generating code is the data: editing this module changes the run keys.
        return hashlib.sha256(b"minicell:" + Path(__file__).read_bytes()).hexdigest()


@functools.cache
def _table() -> pd.DataFrame:
    """``arch_id``, ``synthetic.val_acc`` and ``synthetic.test_acc`` (percent) of every architecture."""
    space = MiniCellSpace()
    ids = space.enumerate()
    g = space.to_graph(list(ids))
    ops = g.one_hot_ops()[:, 1:5, 2:]  # (n, 4 nodes, 3 ops)
    counts = ops.sum(axis=1)
    shortcuts = g.adj[:, 0, 2].astype(float) + g.adj[:, 2, 5]
    score = 70 + 4.0 * counts[:, 0] + 2.0 * counts[:, 1] - 3.0 * counts[:, 2] + 1.5 * shortcuts + 3.0 * ops[:, 0, 0] * ops[:, 3, 1]
    rng = np.random.default_rng(20261207)
    val = score + rng.normal(0, 0.8, len(ids))
    test = score + rng.normal(0, 0.8, len(ids))
    return pd.DataFrame({"arch_id": ids, "synthetic.val_acc": val, "synthetic.test_acc": test})
