"""Architecture encodings, computed once per (search space, task universe).

``compute_encoding(space, kind, ids)`` returns a float32 ``(n, d)`` matrix (or the
``GraphBatch`` for ``kind="graph"``); ``SearchSpace.encoding`` memoises it. Every kind is
generic over ``GraphBatch`` (dense padded node-labelled DAGs), vectorised across
architectures with per-node dynamic programming in topological (index) order; a space
may override a kind with a method ``encode_<kind>(ids)``.

Conventions shared by the kinds (details and formulas in docs/METRICS.md, "Encodings"):
- *structural* nodes (``input``, ``output``, ``prev_cell``, ``concat``) carry no
  operation: they neither count as ops nor extend a path;
- a *path* starts at a source node (a structural node without incoming edges: the
  input, and in DARTS the previous cell) and ends at the output node (the last real
  node); op nodes without inputs are dead ends, not starts;
- *op complexity weights* (meta-features) rank the space's operations from least to
  most complex, 1..V: none/zero < skip/identity < pooling < convolutions by kernel area
  (separable above dilated); unknown names sit in the middle in vocabulary order. This
  reproduces the ConvNP paper's weights exactly: NB101 maxpool 1, conv1x1 2, conv3x3 3;
  NB201 zeroize 1, skip 2, avg-pool 3, conv1x1 4, conv3x3 5. A space can set
  ``meta_op_weights = {op_name: weight}`` to choose its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
from nasbench_harness.errors import ConfigError, DataError, did_you_mean

KINDS = ("graph", "onehot", "path", "meta", "graf", "zc")
STRUCTURAL_OPS = frozenset({"input", "output", "prev_cell", "concat"})
MAX_PATHS = 2048  # path-encoding columns kept (shortest paths first), see _path_codes
_CHUNK_BYTES = 64 << 20  # working memory per chunk of architectures in the path DPs
MIN_ZC_COVERAGE = 0.95  # below this share of a task's cells, a zc column is refused, not imputed


def compute_encoding(space, kind: str, arch_ids, cache=None):
    """Encoding ``kind`` of ``arch_ids`` in ``space`` (see module docstring).

    Table columns (parameter counts, zero-cost proxies) are read from ``cache``, the data
    cache the task was loaded from (``Task.encoding`` passes it); None means the default
    cache, for callers outside a task. ``a+b`` (composite) concatenates the kinds' columns
    in that order; see check_kind.
    """
    ids = np.asarray(arch_ids)
    check_kind(kind)
    if "+" in kind:
        return np.concatenate([compute_encoding(space, part, ids, cache) for part in kind.split("+")], axis=1)
    if kind == "graph":
        return space.to_graph(list(ids))
    if kind.startswith("zc."):  # zc.<dataset>: that dataset's <dataset>.zc.<proxy> columns
        return zc_encoding(space, ids, dataset=kind[3:], cache=cache)
    override = getattr(space, f"encode_{kind}", None)
    if callable(override):
        return np.asarray(override(ids), dtype=np.float32)
    if kind == "zc":
        return zc_encoding(space, ids, cache=cache)
    graphs = space.to_graph(list(ids))
    if kind == "onehot":
        return onehot_encoding(graphs)
    if kind == "path":
        return path_encoding(graphs)
    if kind == "graf":
        from nasbench_harness.tasks.graf import graf_encoding  # graf.py builds on this module's helpers

        return graf_encoding(graphs)
    weights = getattr(space, "meta_op_weights", None)
    return meta_encoding(
        graphs, params=_params_of(space, ids, graphs, cache), op_weights=weights
    )


def check_kind(kind: str) -> None:
    """ConfigError unless ``kind`` names an encoding: a kind, zc.<dataset>, or parts joined by '+'."""
    parts = kind.split("+")
    for part in parts:
        if part not in KINDS and not (part.startswith("zc.") and len(part) > 3):
            raise ConfigError(
                f"Unknown encoding '{part}'; expected one of {', '.join(KINDS)} or zc.<dataset>, "
                f"or several joined by '+' (e.g. graf+zc).{did_you_mean(part, KINDS)}"
            )
    if len(parts) > 1 and "graph" in parts:
        raise ConfigError(
            f"Encoding '{kind}' joins 'graph' (dense graphs, not a feature matrix) with '+'; "
            f"only feature encodings ({', '.join(k for k in KINDS if k != 'graph')}, zc.<dataset>) can be joined."
        )


# -- helpers over a GraphBatch ----------------------------------------------------------
def _op_columns(op_names) -> list[int]:
    """Vocabulary indices of real operations (not structural nodes)."""
    return [i for i, name in enumerate(op_names) if name not in STRUCTURAL_OPS]


def _is_op(graphs) -> np.ndarray:
    """(n, N) bool: node carries a real operation."""
    lut = np.zeros(len(graphs.op_names) + 1, dtype=bool)
    lut[_op_columns(graphs.op_names)] = True
    return lut[graphs.ops]  # ops == -1 indexes the trailing False


def _endpoints(graphs) -> tuple[np.ndarray, np.ndarray]:
    """(n, N) bool source mask and (n,) output node index."""
    adj = graphs.adj.astype(bool)
    real = graphs.node_mask
    sources = (
        real & ~adj.any(axis=1) & ~_is_op(graphs)
    )  # an op node without inputs is dead, not a start
    out = graphs.n_nodes - 1
    sources[np.arange(len(out)), out] = False  # a disconnected output is not a path
    return sources, out


def _chunks(n: int, per_row_bytes: int):
    step = max(1, _CHUNK_BYTES // max(1, per_row_bytes))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def _minmax(X: np.ndarray) -> np.ndarray:
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return (X - lo) / span


# -- onehot ------------------------------------------------------------------------------
def onehot_encoding(graphs) -> np.ndarray:
    """Upper-triangular adjacency bits + one-hot node operations (padding nodes all zero)."""
    n, N = len(graphs), graphs.max_nodes
    iu = np.triu_indices(N, 1)
    adj = graphs.adj[:, iu[0], iu[1]].astype(np.float32)
    ops = graphs.one_hot_ops(np.float32).reshape(n, -1)
    return np.concatenate([adj, ops], axis=1)


# -- path encoding ----------------------------------------------------------------------
def _path_codes(n_ops: int, max_len: int, max_paths: int) -> tuple[np.ndarray, int]:
    """Offsets of paths of each length (0..L) and the longest length L kept.

    Paths are indexed by length, then lexicographically by op: length-l paths occupy
    ``offset[l] .. offset[l] + V**l``; lengths are kept while the total stays <= max_paths.
    """
    offsets = [0]
    total, length = 1, 0
    while length < max_len and total + n_ops ** (length + 1) <= max_paths:
        length += 1
        offsets.append(total)
        total += n_ops**length
    offsets.append(total)
    return np.array(offsets, dtype=np.int64), length


def path_encoding(graphs, max_paths: int = MAX_PATHS) -> np.ndarray:
    """BANANAS path encoding: bit per possible source->output sequence of operations.

    One column per op sequence of length 0..L (V**0 + V**1 + ... + V**L columns, V = real
    ops); L is the most op nodes on any path of the encoded universe, reduced until the
    column count is <= ``max_paths`` (longer paths are then not encoded).
    """
    op_cols = _op_columns(graphs.op_names)
    V = len(op_cols)
    op_code = np.full(len(graphs.op_names) + 1, -1, dtype=np.int64)
    op_code[op_cols] = np.arange(V)
    longest = int(_path_lengths(graphs, graphs.node_mask)[1].max(initial=0))
    offsets, L = _path_codes(V, longest, max_paths)
    P = int(offsets[-1])
    # next_code[o, c]: code of path c extended by op o (P = dropped: too long for the table).
    length_of = np.repeat(np.arange(L + 1), np.diff(offsets))
    within = np.arange(P) - offsets[length_of]
    next_code = np.full((V, P + 1), P, dtype=np.int64)
    extendable = length_of < L
    for o in range(V):
        next_code[o, :P][extendable] = (
            offsets[length_of[extendable] + 1] + within[extendable] * V + o
        )
    sources_of = [np.flatnonzero(next_code[o, :P] < P) for o in range(V)]
    targets = [next_code[o, :P][sources_of[o]] for o in range(V)]
    n, N = len(graphs), graphs.max_nodes
    out = np.zeros((n, P), dtype=np.float32)
    sources, out_node = _endpoints(graphs)
    for sl in _chunks(n, N * (P + 1) * 3):
        adj = graphs.adj[sl].astype(bool)
        codes = op_code[graphs.ops[sl]]  # (b, N), -1 for structural/padding
        b = adj.shape[0]
        reach = []  # per node: (b, P+1) bool, paths from a source ending here (column P: overflow)
        for j in range(N):
            here = np.zeros((b, P + 1), dtype=bool)
            here[:, 0] = sources[sl, j]  # the empty path starts at every source
            incoming = np.zeros((b, P + 1), dtype=bool)
            for i in range(j):
                edge = adj[:, i, j]
                if edge.any():
                    incoming |= reach[i] & edge[:, None]
            code_j = codes[:, j]
            here |= (
                incoming & (code_j < 0)[:, None]
            )  # structural nodes pass paths through
            for o in range(V):
                is_o = code_j == o
                if is_o.any():
                    moved = np.zeros_like(here)
                    moved[:, targets[o]] = incoming[
                        :, sources_of[o]
                    ]  # extend every path by op o
                    here |= moved & is_o[:, None]
            reach.append(here)
            ends_here = out_node[sl] == j
            out[sl][ends_here] = here[ends_here, :P]
    return out


# -- DP over the DAG: paths' weight distribution and lengths -------------------------------
def _path_weight_hist(graphs, weight: np.ndarray) -> np.ndarray:
    """(n, W+1) number of source->output paths by total op weight (integer node weights)."""
    n, N = len(graphs), graphs.max_nodes
    node_w = weight[graphs.ops].astype(np.int64)  # (n, N)
    W = int(node_w.clip(0).max(initial=0) * N) + 1
    sources, out_node = _endpoints(graphs)
    hist = np.zeros((n, W), dtype=np.float64)
    for sl in _chunks(n, N * W * 8):
        adj = graphs.adj[sl].astype(np.float64)
        b = adj.shape[0]
        cnt = np.zeros((b, N, W), dtype=np.float64)
        cnt[:, :, 0] = sources[sl]
        wj_all = node_w[sl]
        cols = np.arange(W)
        for j in range(1, N):
            incoming = np.einsum("bi,biw->bw", adj[:, :, j], cnt)
            shift = cols[None, :] - wj_all[:, j, None]  # weight before entering node j
            valid = shift >= 0
            cnt[:, j] += np.where(
                valid, np.take_along_axis(incoming, shift.clip(0), axis=1), 0.0
            )
        hist[sl] = cnt[np.arange(b), out_node[sl]]
    return hist


def _path_lengths(graphs, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min and max number of op nodes on source->output paths using only ``allowed`` nodes.

    ``allowed`` (n, N) bool must include the structural nodes a path may cross. Returns
    (n,) float arrays; 0 where no such path exists.
    """
    n, N = len(graphs), graphs.max_nodes
    adj = graphs.adj.astype(bool)
    is_op = _is_op(graphs).astype(np.float64)
    sources, out_node = _endpoints(graphs)
    inf = np.inf
    lo = np.where(sources & allowed, 0.0, inf)
    hi = np.where(sources & allowed, 0.0, -inf)
    for j in range(1, N):
        edge = adj[:, :, j] & allowed[:, j, None]
        best_lo = np.where(edge, lo, inf).min(axis=1)
        best_hi = np.where(edge, hi, -inf).max(axis=1)
        lo[:, j] = np.minimum(lo[:, j], best_lo + is_op[:, j])
        hi[:, j] = np.maximum(hi[:, j], best_hi + is_op[:, j])
    rows = np.arange(n)
    mn, mx = lo[rows, out_node], hi[rows, out_node]
    return np.where(np.isfinite(mn), mn, 0.0), np.where(np.isfinite(mx), mx, 0.0)


# -- meta-features (ConvNP) -------------------------------------------------------------
def _complexity_key(name: str) -> float:
    """Heuristic complexity of an op name (only its order matters)."""
    low = name.lower()
    if low in {"none", "zero", "zeroize"} or low.startswith("none"):
        return 0.0
    if "skip" in low or "identity" in low:
        return 1.0
    if "pool" in low:
        return 2.0
    kernel = re.search(r"(\d+)x(\d+)", low)
    if "conv" in low and kernel:
        area = int(kernel.group(1)) * int(kernel.group(2))
        return 3.0 + area + (0.5 if "sep" in low else 0.0)
    return (
        2.5  # unknown (e.g. GNN layers, macro blocks): between pooling and convolutions
    )


def op_weights(op_names, overrides: dict[str, float] | None = None) -> np.ndarray:
    """Per-vocabulary-entry weights (structural 0, ops 1..V by complexity), +1 trailing 0 for padding."""
    cols = _op_columns(op_names)
    w = np.zeros(len(op_names) + 1, dtype=np.float64)
    if overrides:
        for i in cols:
            w[i] = float(overrides.get(op_names[i], 0.0))
        return w
    keys = sorted(cols, key=lambda i: (_complexity_key(op_names[i]), i))
    for rank, i in enumerate(keys, start=1):
        w[i] = rank
    return w


META_NAMES = (
    "n_nodes",
    "path_weight_max",
    "path_weight_min",
    "path_weight_mode",
    "path_weight_total",
    "params",
    "n_edges",
    "edges_per_node",
    "max_out_degree",
    "max_in_degree",
)


def meta_features(
    graphs, params: np.ndarray, op_weights_override=None
) -> tuple[np.ndarray, list[str]]:
    """Unscaled ConvNP meta-features (all of them) and their names.

    Statistical: count of each op, number of nodes. Complexity: max, min, mode and total
    of the op-weight sums over all source->output paths, parameter count. Structure:
    edges, edges / nodes, max out-degree, max in-degree.
    """
    cols = _op_columns(graphs.op_names)
    counts = np.stack([(graphs.ops == c).sum(axis=1) for c in cols], axis=1).astype(
        np.float64
    )
    w = op_weights(graphs.op_names, op_weights_override)
    hist = _path_weight_hist(
        graphs, np.rint(w).astype(np.int64)
    )  # weights are integers
    has = hist > 0
    vals = np.arange(hist.shape[1], dtype=np.float64)
    any_path = has.any(axis=1)
    wmax = np.where(any_path, (vals * has).max(axis=1), 0.0)
    wmin = np.where(any_path, np.where(has, vals, np.inf).min(axis=1), 0.0)
    wmode = np.where(any_path, hist.argmax(axis=1), 0.0)  # ties: the lightest weight
    total = hist @ vals
    adj = graphs.adj.astype(np.float64)
    n_nodes = graphs.n_nodes.astype(np.float64)
    n_edges = adj.sum(axis=(1, 2))
    X = np.column_stack(
        [
            counts,
            n_nodes,
            wmax,
            wmin,
            wmode,
            total,
            params,
            n_edges,
            n_edges / np.maximum(n_nodes, 1),
            adj.sum(axis=2).max(axis=1),
            adj.sum(axis=1).max(axis=1),
        ]
    )
    names = [f"count.{graphs.op_names[c]}" for c in cols] + list(META_NAMES)
    return X, names


def meta_encoding(graphs, params: np.ndarray, op_weights=None) -> np.ndarray:
    """ConvNP meta-features, min-max scaled over ``graphs``; constant measures dropped.

    Dropping measures that are constant over the universe is how the paper goes from
    13 NB101 features to 10 for NB201 (node count and structure are fixed there).
    """
    X, _ = meta_features(graphs, params, op_weights)
    keep = X.max(axis=0) > X.min(axis=0)
    return _minmax(X[:, keep]).astype(np.float32)


def _kernel_area(name: str) -> float:
    match = re.search(r"(\d+)x(\d+)", name)
    if match and "conv" in name:
        return float(int(match.group(1)) * int(match.group(2)))
    return 0.0 if _complexity_key(name) < 3 else 1.0


def params_proxy(graphs) -> np.ndarray:
    """Structural parameter proxy when no counts are known: sum of conv kernel areas.

    Parameter-free ops (none, skip, pooling) count 0, convolutions their kernel area
    (k*k), other ops 1: proportional to the parameters of a cell with fixed channels.
    """
    lut = np.array(
        [_kernel_area(n) if n not in STRUCTURAL_OPS else 0.0 for n in graphs.op_names]
        + [0.0]
    )
    return lut[graphs.ops].sum(axis=1)


def _table_columns(space, ids: np.ndarray, pick: Callable[[list[str]], list[str]], cache=None):
    """Columns of the space's imported table chosen by ``pick``, aligned to ``ids``.

    Returns (DataFrame or None, reason). None when the table or the columns are missing.
    """
    try:
        if cache is None:
            from nasbench_harness.tasks.cache import DataCache

            cache = DataCache()
        table = space.load_table(cache)
    except Exception as exc:  # noqa: BLE001 - no import yet, package missing: the caller decides
        return None, f"the '{space.name}' table cannot be read ({exc})"
    cols = pick([str(c) for c in table.columns])
    if not cols:
        return None, f"the '{space.name}' table has no such columns"
    sub = table[["arch_id", *cols]].drop_duplicates("arch_id").set_index("arch_id")
    aligned = sub.reindex(ids.astype(str))
    return aligned, ""


def _params_column(columns: list[str]) -> list[str]:
    """The parameter-count column ``meta`` reads: ``params``, else the first ``*.params``."""
    found = [c for c in columns if c == "params"] or sorted(c for c in columns if c.endswith(".params"))
    return found[:1]


def _zc_prefix(kind: str) -> str:
    return f"{kind[3:]}.zc." if kind.startswith("zc.") else "zc."


def columns_read(space, kind: str, table_columns: Callable[[], list[str]]) -> list[str]:
    """The table columns encoding ``kind`` may read in ``space`` (its data for run keys);
    ``table_columns()`` lists the space's table, called only for kinds that read it."""
    out: list[str] = []
    for part in kind.split("+") if kind else []:
        if part == "zc" or part.startswith("zc."):
            prefix = _zc_prefix(part)
            out += sorted(c for c in table_columns() if c.startswith(prefix))
        elif part == "meta" and not callable(getattr(space, "param_counts", None)) and not getattr(space, "meta_params_proxy", False):
            out += _params_column(table_columns())
    return list(dict.fromkeys(out))


def _params_of(space, ids: np.ndarray, graphs, cache=None) -> np.ndarray:
    """Trainable-parameter counts: ``space.param_counts(ids)``, else the table's ``params``
    (or ``<dataset>.params``, ``zc.params``) column in the task's cache.

    Architectures without a count in the table get one from a linear fit on the structural
    proxy. The proxy alone is used only by a space that declares ``meta_params_proxy =
    True`` (no parameter data exists for it): a missing column is a ``DataError``, never a
    silent change of features that would differ between machines under one run key.
    """
    counter = getattr(space, "param_counts", None)
    if callable(counter):
        return np.asarray(counter(ids), dtype=np.float64)

    proxy = params_proxy(graphs)
    if getattr(space, "meta_params_proxy", False):
        return proxy
    aligned, reason = _table_columns(space, ids, _params_column, cache)
    if aligned is None:
        raise DataError(
            f"Encoding 'meta' needs parameter counts (a 'params', '<dataset>.params' or 'zc.params' column) for "
            f"'{space.name}', but {reason}; import the benchmark's files (zero-cost proxy files carry 'params') "
            f"with `nasbench-harness data import PATH` or pick another encoding."
        )
    values = aligned.iloc[:, 0].to_numpy(dtype=np.float64)
    known = np.isfinite(values)
    if known.all():
        return values
    if known.sum() < 2 or np.ptp(proxy[known]) == 0:
        raise DataError(
            f"Encoding 'meta' found parameter counts for only {int(known.sum())} of {len(values)} '{space.name}' "
            f"architectures and the structural proxy cannot fill the rest (it does not vary over the known ones); "
            f"import parameter counts covering them, set meta_params_proxy on the space, or pick another encoding."
        )
    # Some counts missing: fill them from a least-squares line params ~ a * proxy + b.
    a, b = np.polyfit(proxy[known], values[known], 1)
    return np.where(known, values, a * proxy + b)


# -- zero-cost proxies -----------------------------------------------------------------
PROXY_SPACES = ("nb201",)  # spaces whose proxies `nasbench-harness data proxies` computes (tasks/proxies/job.py)


def zc_encoding(space, ids: np.ndarray, dataset: str = "", cache=None) -> np.ndarray:
    """The table's ``zc.<proxy>`` columns (or ``<dataset>.zc.<proxy>``) for ``ids``.

    Published proxy columns (imported Suite-Zero files: ``zc.<proxy>``) and, where
    ``nasbench-harness data proxies`` has run, the in-project ones (``zc.computed.<proxy>``,
    ``zc.synthetic.<proxy>``; see docs/PROXIES.md). Column choice, see _zc_columns. A
    column missing for more than ``1 - MIN_ZC_COVERAGE`` of ``ids`` (the task's cells)
    refuses the encoding (see _check_coverage); the few scores still missing get the
    column median.
    """
    prefix = _zc_prefix(f"zc.{dataset}" if dataset else "zc")
    aligned, reason = _table_columns(
        space, ids, lambda cols: sorted(c for c in cols if c.startswith(prefix)), cache
    )
    if aligned is None:
        raise DataError(
            f"Encoding 'zc' needs zero-cost proxy columns ({prefix}<proxy>) for '{space.name}', but {reason}; "
            f"import the zero-cost proxy files with `nasbench-harness data import PATH`{_compute_hint(space)} "
            f"or pick another encoding."
        )
    X = aligned.to_numpy(dtype=np.float64)
    columns = [str(c) for c in aligned.columns]
    keep = _zc_columns(columns, prefix, np.isfinite(X).mean(axis=0))
    X, columns = X[:, keep], [c for c, k in zip(columns, keep) if k]
    if X.shape[1] == 0:
        raise DataError(
            f"Encoding 'zc' found no zero-cost proxy score for these '{space.name}' architectures; "
            f"import proxy files covering them{_compute_hint(space)} or pick another encoding."
        )
    _check_coverage(space, X, columns)
    med = np.nanmedian(X, axis=0)
    X = np.where(np.isfinite(X), X, med)
    return X.astype(np.float32)


def _zc_columns(columns: list[str], prefix: str, coverage: np.ndarray) -> np.ndarray:
    """Which proxy columns the encoding uses (bool mask over ``columns``).

    Columns without any score are dropped. Once the in-project data-free proxies exist
    (``<prefix>computed.*``), the space has a complete proxy set of its own: published
    columns and synthetic-batch columns that cover fewer than ``MIN_ZC_COVERAGE`` of the
    task's cells (e.g. NB201's Suite-Zero proxies: about 725 of 15,625 cells; batch proxies
    run on those cells only) are left out instead of refusing the encoding. The computed
    columns themselves are always kept, so a partial run still refuses. Without computed
    columns every scored column is kept (and a short one refuses).
    """
    keep = coverage > 0
    computed = np.array([c.startswith(f"{prefix}computed.") for c in columns], dtype=bool)
    if (computed & keep).any():
        keep &= computed | (coverage >= MIN_ZC_COVERAGE)
    return keep


def _compute_hint(space) -> str:
    if space.name in PROXY_SPACES:
        return f", compute them with `nasbench-harness data proxies {space.name}`,"
    return ""


def _check_coverage(space, X: np.ndarray, columns: list[str]) -> None:
    """DataError when a proxy column is missing for more than 1 - MIN_ZC_COVERAGE of the rows.

    Imputing most of a column (e.g. NB201's Suite-Zero proxies: about 725 of 15,625 cells)
    would make the encoding nearly constant without saying so.
    """
    coverage = np.isfinite(X).mean(axis=0)
    short = coverage < MIN_ZC_COVERAGE
    if not short.any():
        return
    worst = int(np.argmin(coverage))
    full = [c for c, ok in zip(columns, ~short) if ok]
    how = (
        f"compute the rest with `nasbench-harness data proxies {space.name}` (it resumes where it stopped), "
        f"import proxy files that cover them (`nasbench-harness data import PATH`)"
        if space.name in PROXY_SPACES
        else "import proxy files that cover the rest (`nasbench-harness data import PATH`; in-project proxies "
        f"exist for {', '.join(PROXY_SPACES)} only)"
    )
    raise DataError(
        f"Encoding 'zc' has scores for only {np.isfinite(X[:, worst]).sum():,} of {len(X):,} cells of this "
        f"'{space.name}' task in column '{columns[worst]}' ({coverage[worst]:.1%}; {int(short.sum())} of "
        f"{len(columns)} proxy columns are under the {MIN_ZC_COVERAGE:.0%} needed"
        f"{'; covered: ' + ', '.join(full) if full else ''}): {how} or use an encoding without 'zc'."
    )
