"""GRAF: zero-training neural graph features (Kadlecova et al., ICML 2024), vectorised.

Computed on the dense padded node-labelled DAGs of any space (``GraphBatch``), for the
whole universe at once: no Python loop over architectures. Per architecture:

- ``count[o]``: number of nodes carrying op ``o``, for every real op (``none`` included);
- for every allowed *op subset* S (below), over the paths from a source to the output
  that cross only op nodes whose op is in S (structural nodes are always crossable):
  ``minlen[S]`` / ``maxlen[S]`` (op nodes on the shortest / longest such path, 0 when
  there is none), ``npaths[S]`` (how many such paths), ``indeg_out[S]`` (predecessors of
  the output node that are structural or carry an op in S) and ``outdeg_in[S]`` (the
  same for the successors of the input node, node 0).

Sources, structural nodes and path length follow ``tasks/encodings.py``: a path starts
at a structural node without inputs, and its length counts op nodes only.

Op subsets: every non-empty subset of the space's *path ops*, the real ops except the
"no connection" ops (``none``/``zero``/``zeroize``: a path through one carries nothing,
so it never enters a subset). With more than ``MAX_FULL_SUBSET_OPS`` path ops the 2^V
subsets would swamp the features, so only subsets of at most ``LARGE_SPACE_SUBSET_SIZE``
ops plus the full set are used (NAS-Bench-Graph). Per-space figures: docs/GRAF.md.

All DPs run over nodes in index order, which is topological in every ``GraphBatch``,
with architectures and op subsets as batch axes, in chunks bounded by ``_CHUNK_BYTES``.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from nasbench_harness.tasks.encodings import STRUCTURAL_OPS, _chunks, _endpoints, _is_op, _op_columns

ZERO_OPS = frozenset({"none", "zero", "zeroize"})
MAX_FULL_SUBSET_OPS = 7  # 127 subsets (DARTS); more path ops: small subsets only
LARGE_SPACE_SUBSET_SIZE = 3
PER_SUBSET = ("minlen", "maxlen", "npaths", "indeg_out", "outdeg_in")


def op_subsets(op_names) -> list[tuple[int, ...]]:
    """Vocabulary indices of every allowed op subset (by size, then vocabulary order)."""
    path_ops = [i for i in _op_columns(op_names) if op_names[i].lower() not in ZERO_OPS]
    if len(path_ops) <= MAX_FULL_SUBSET_OPS:
        sizes = range(1, len(path_ops) + 1)
    else:
        sizes = range(1, LARGE_SPACE_SUBSET_SIZE + 1)
    subsets = [s for k in sizes for s in combinations(path_ops, k)]
    if len(path_ops) > MAX_FULL_SUBSET_OPS:
        subsets.append(tuple(path_ops))
    return subsets


def feature_names(op_names) -> list[str]:
    """Column names of ``graf_features`` for this vocabulary."""
    names = [f"count[{op_names[c]}]" for c in _op_columns(op_names)]
    for s in op_subsets(op_names):
        label = "+".join(op_names[i] for i in s)
        names += [f"{f}[{label}]" for f in PER_SUBSET]
    return names


def graf_features(graphs) -> tuple[np.ndarray, list[str]]:
    """(n, d) float64 GRAF features of ``graphs`` and their names (see module docstring)."""
    names = feature_names(graphs.op_names)
    subsets = op_subsets(graphs.op_names)
    n, N, S = len(graphs), graphs.max_nodes, len(subsets)
    counts = np.stack([(graphs.ops == c).sum(axis=1) for c in _op_columns(graphs.op_names)], axis=1)
    # member[s, v]: vocabulary entry v may be crossed by subset s (last column: padding).
    member = np.zeros((S, len(graphs.op_names) + 1), dtype=bool)
    for k, s in enumerate(subsets):
        member[k, list(s)] = True
    member[:, [i for i, o in enumerate(graphs.op_names) if o in STRUCTURAL_OPS]] = True
    sources, out_node = _endpoints(graphs)
    is_op = _is_op(graphs)
    per_subset = np.zeros((n, S, len(PER_SUBSET)))
    for sl in _chunks(n, S * N * N * 8 * 4):
        per_subset[sl] = _subset_features(
            graphs.adj[sl].astype(bool), member[:, graphs.ops[sl]].transpose(1, 0, 2), sources[sl], out_node[sl], is_op[sl]
        )
    X = np.concatenate([counts.astype(np.float64), per_subset.reshape(n, -1)], axis=1)
    return X, names


def _subset_features(adj, allowed, sources, out_node, is_op) -> np.ndarray:
    """(b, S, 5) per-subset features; ``allowed`` (b, S, N) marks crossable nodes."""
    b, S, N = allowed.shape
    start = sources[:, None, :] & allowed
    lo = np.where(start, 0.0, np.inf)
    hi = np.where(start, 0.0, -np.inf)
    cnt = start.astype(np.float64)
    step = is_op.astype(np.float64)
    for j in range(1, N):
        edge = adj[:, None, :, j]  # (b, 1, N): predecessors of node j
        ok = allowed[:, :, j]
        best_lo = np.where(edge, lo, np.inf).min(axis=2) + step[:, None, j]
        best_hi = np.where(edge, hi, -np.inf).max(axis=2) + step[:, None, j]
        lo[:, :, j] = np.where(ok, np.minimum(lo[:, :, j], best_lo), np.inf)
        hi[:, :, j] = np.where(ok, np.maximum(hi[:, :, j], best_hi), -np.inf)
        cnt[:, :, j] = np.where(ok, cnt[:, :, j] + (edge * cnt).sum(axis=2), 0.0)
    rows = np.arange(b)
    mn, mx, paths = lo[rows, :, out_node], hi[rows, :, out_node], cnt[rows, :, out_node]
    into_out = adj[rows, :, out_node][:, None, :] & allowed  # (b, S, N)
    from_in = adj[:, None, 0, :] & allowed
    return np.stack(
        [
            np.where(np.isfinite(mn), mn, 0.0),
            np.where(np.isfinite(mx), mx, 0.0),
            paths,
            into_out.sum(axis=2),
            from_in.sum(axis=2),
        ],
        axis=2,
    )


def graf_encoding(graphs) -> np.ndarray:
    """GRAF features as the ``graf`` encoding: float32, unscaled (tree models need none)."""
    return graf_features(graphs)[0].astype(np.float32)
