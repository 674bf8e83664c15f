"""Helpers shared by the cell spaces (NB201, TransNAS micro, DARTS): edge-op to node form,
labelled-DAG hashing and pruning.

``dag_hash`` is an isomorphism-invariant digest of a node-labelled DAG: a
Weisfeiler-Lehman style refinement (each node's hash absorbs the sorted hashes of its
predecessors and successors, repeated once per node), as used for NAS-Bench-101 module
hashes. Two DAGs that differ only by a renumbering of nodes get the same digest.
"""

from __future__ import annotations

import hashlib

import numpy as np


def edge_op_node_adjacency(edges, out_node: int) -> np.ndarray:
    """Adjacency of the node form of a cell whose operations sit on ``edges``.

    Node 0 is the cell input, node ``e + 1`` is the operation on ``edges[e]`` and the last
    node is the output. An op node on edge (s, t) reads the input when s == 0 and every op
    node that ends in cell node s; op nodes ending in ``out_node`` feed the output.
    """
    n = len(edges) + 2
    adj = np.zeros((n, n), np.uint8)
    for e, (s, t) in enumerate(edges):
        if s == 0:
            adj[0, e + 1] = 1
        for f, (_, t2) in enumerate(edges):
            if t2 == s:
                adj[f + 1, e + 1] = 1
        if t == out_node:
            adj[e + 1, n - 1] = 1
    return adj


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def dag_hash(adj: np.ndarray, labels: list[str]) -> str:
    """Digest of the labelled DAG ``adj`` (n, n) that is invariant to node renumbering."""
    n = len(labels)
    preds = [np.flatnonzero(adj[:, i]).tolist() for i in range(n)]
    succs = [np.flatnonzero(adj[i]).tolist() for i in range(n)]
    hashes = [_md5(f"{len(succs[i])},{len(preds[i])},{labels[i]}") for i in range(n)]
    for _ in range(n):
        hashes = [
            _md5(
                "".join(sorted(hashes[j] for j in preds[i]))
                + "|"
                + "".join(sorted(hashes[j] for j in succs[i]))
                + "|"
                + hashes[i]
            )
            for i in range(n)
        ]
    return _md5("".join(sorted(hashes)))


def prune(adj: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Restrict a DAG (node 0 = input, last = output) to ``keep`` nodes on an input->output path.

    Returns (pruned adjacency, indices of the kept nodes) or None when the output is not
    reachable from the input (the cell computes nothing).
    """
    a = adj.astype(bool) & keep[:, None] & keep[None, :]
    n = len(a)
    fwd = np.zeros(n, bool)
    fwd[0] = True
    bwd = np.zeros(n, bool)
    bwd[-1] = True
    for i in range(n):  # nodes are in topological order: one sweep each way suffices
        if fwd[i]:
            fwd |= a[i]
    for i in range(n - 1, -1, -1):
        if bwd[i]:
            bwd |= a[:, i]
    live = fwd & bwd
    if not (live[0] and live[-1]):
        return None
    idx = np.flatnonzero(live)
    return a[np.ix_(idx, idx)].astype(np.uint8), idx
