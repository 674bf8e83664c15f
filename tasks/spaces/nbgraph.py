"""NAS-Bench-Graph (Qin et al., NeurIPS 2022 Datasets & Benchmarks), embedded from its PyPI package.

An architecture is a macro DAG of 4 computing nodes: ``link[i]`` is the input of
computing node ``i + 1`` (0 = the raw input, k = computing node k), each node runs one of
9 GNN ops (gat, gcn, gin, cheb, sage, arma, graph (k-GNN), fc, skip). Computing nodes
whose output no other node consumes are aggregated into the output node (the paper's
definition). Id: ``"0,1,2,1|gcn,gin,fc,cheb"``; its canonical form is the representative
the package's ``Arch.valid_hash()`` maps it to (isomorphic forms collapse; the benchmark
is keyed by that hash), so ``canonical_id`` of the example is ``0,1,1,2|gcn,gin,cheb,fc``.

The data ships inside the package (``nas_bench_graph/light/<dataset>.bench``, plain
pickles of ``{hash: {valid_perf, perf, latency, para}}``): no import step. They are read
once per process and memoised.
"""

from __future__ import annotations

import functools
import itertools
import pickle
import re
from collections.abc import Sequence
from importlib import resources

import numpy as np
import pandas as pd
from nasbench_harness.errors import ConfigError, DataError
from nasbench_harness.tasks.spaces.base import GraphBatch, SearchSpace

DATASETS = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins")
OPS = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")  # the package's gnn_list order
LINKS = (  # the package's canonical link patterns; index = hash // 10**4
    (0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 1), (0, 0, 1, 2), (0, 0, 1, 3),
    (0, 1, 1, 1), (0, 1, 1, 2), (0, 1, 2, 2), (0, 1, 2, 3),
)
N_ARCHS = 26206
_ID_RE = re.compile(r"^\s*(\d),(\d),(\d),(\d)\s*\|\s*(\w+),(\w+),(\w+),(\w+)\s*$")
_OP_INDEX = {o: i for i, o in enumerate(OPS)}


def _package():
    try:
        import nas_bench_graph
    except ImportError:
        raise DataError(
            "NAS-Bench-Graph needs the nas-bench-graph package; install it with `pip install nas-bench-graph`."
        ) from None
    return nas_bench_graph


def parse(arch_id: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """(link, ops) of an id, validated; a bare integer is read as the package's valid hash."""
    text = str(arch_id).strip()
    if text.isdigit():
        return decode(int(text))
    m = _ID_RE.match(text)
    link = tuple(int(c) for c in m.groups()[:4]) if m else ()
    ops = tuple(m.groups()[4:]) if m else ()
    if (
        not m
        or any(link[i] > i for i in range(4))
        or any(o not in _OP_INDEX for o in ops)
        or all(o == "skip" for o in ops)
    ):
        raise ConfigError(
            f"'{arch_id}' is not a NAS-Bench-Graph architecture; expected 'l0,l1,l2,l3|op0,op1,op2,op3' with "
            f"link[i] in 0..i, ops from {', '.join(OPS)} and not all skip (e.g. '0,1,2,1|gcn,gin,fc,cheb')."
        )
    return link, ops


def decode(h: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The canonical (link, ops) a valid hash stands for (hash = link index * 10^4 + op digits)."""
    link_idx, digits = divmod(h, 10**4)
    ops = tuple(OPS[int(c)] if c != "9" else "?" for c in f"{digits:04d}")
    if link_idx >= len(LINKS) or "?" in ops or all(o == "skip" for o in ops):
        raise ConfigError(f"{h} is not a NAS-Bench-Graph architecture hash; use an id like '0,1,2,1|gcn,gin,fc,cheb'.")
    return LINKS[link_idx], ops


def format_id(link: Sequence[int], ops: Sequence[str]) -> str:
    return f"{','.join(map(str, link))}|{','.join(ops)}"


@functools.lru_cache(maxsize=1 << 15)
def valid_hash(link: tuple[int, ...], ops: tuple[str, ...]) -> int:
    """The package's canonical hash (computed by the package itself, so semantics match exactly)."""
    return int(_package().Arch(list(link), list(ops)).valid_hash())


def canonical(arch_id: str) -> str:
    return format_id(*decode(valid_hash(*parse(arch_id))))


def _bench_files() -> dict[str, object]:
    root = resources.files(_package().__name__) / "light"
    return {ds: root / f"{ds}.bench" for ds in DATASETS}


@functools.cache
def bench_table() -> pd.DataFrame:
    """arch_id + <dataset>.{val_acc,test_acc,latency,params} for the 9 datasets (read once)."""
    frames = []
    for ds, path in _bench_files().items():
        try:
            with path.open("rb") as f:
                bench = pickle.load(f)  # the installed package's own data files
        except (OSError, pickle.UnpicklingError, EOFError) as exc:
            raise DataError(
                f"The NAS-Bench-Graph file {path} is unreadable ({type(exc).__name__}); reinstall it with "
                f"`pip install --force-reinstall nas-bench-graph`."
            ) from None
        keys = np.fromiter(bench, dtype=np.int64, count=len(bench))
        recs = list(bench.values())
        frames.append(
            pd.DataFrame(
                {
                    f"{ds}.val_acc": np.array([r["valid_perf"] for r in recs], np.float64),
                    f"{ds}.test_acc": np.array([r["perf"] for r in recs], np.float64),
                    f"{ds}.latency": np.array([r["latency"] for r in recs], np.float64),
                    f"{ds}.params": np.array([r["para"] for r in recs], np.float64),
                },
                index=keys,
            )
        )
    table = pd.concat(frames, axis=1, join="outer").sort_index()
    if len(table) != N_ARCHS:
        raise DataError(
            f"The installed NAS-Bench-Graph data has {len(table)} architectures instead of {N_ARCHS}; reinstall "
            f"`nas-bench-graph`."
        )
    ids = [format_id(*decode(int(h))) for h in table.index]
    table.insert(0, "arch_id", pd.array(ids, dtype="string"))
    return table.reset_index(drop=True)


@functools.cache
def bench_digests() -> dict[str, str]:
    """Content digests of every column of ``bench_table`` (``tasks/digest.py``): the same for
    the same numbers whatever the package version that ships them."""
    from nasbench_harness.tasks.digest import table_digests

    return table_digests(bench_table())


@functools.cache
def bench_checksum() -> str:
    from nasbench_harness.tasks.digest import combine

    return combine(bench_digests())


class NBGraphSpace(SearchSpace):
    """NAS-Bench-Graph: 26,206 canonical GNN architectures on 9 datasets (proteins: 2,021)."""

    name = "nbgraph"
    description = "NAS-Bench-Graph: 4-node GNN macro DAGs, 9 ops, 26,206 canonical archs on 9 graph datasets"
    op_names = ("input", *OPS, "output")
    max_nodes = 6
    embedded = True

    def canonical_id(self, arch_id: str) -> str:
        return canonical(arch_id)

    def iso_hash(self, arch_id: str) -> str:
        return str(valid_hash(*parse(arch_id)))

    def to_graph(self, arch_ids: Sequence[str]) -> GraphBatch:
        parsed = [parse(a) for a in arch_ids]
        n = len(parsed)
        link = np.array([p[0] for p in parsed], np.int64).reshape(n, 4)
        ops = np.empty((n, 6), np.int16)
        ops[:, 0] = 0
        ops[:, 1:5] = np.array([[_OP_INDEX[o] + 1 for o in p[1]] for p in parsed], np.int16).reshape(n, 4)
        ops[:, 5] = len(self.op_names) - 1
        adj = np.zeros((n, 6, 6), np.uint8)
        rows = np.arange(n)[:, None]
        adj[rows, link, np.arange(1, 5)[None, :]] = 1  # link[i] -> computing node i + 1
        leaf = adj[:, 1:5, :].sum(axis=2) == 0  # computing nodes nobody consumes feed the output
        adj[:, 1:5, 5] = leaf
        return GraphBatch(adj, ops, self.op_names)

    def neighbours(self, arch_id: str) -> list[str]:
        return list(_neighbours(canonical(arch_id)))

    def mutate(self, arch_id: str, rng: np.random.Generator) -> str:
        options = _neighbours(canonical(arch_id))
        return options[int(rng.integers(len(options)))]

    def enumerate(self) -> np.ndarray:
        return np.array(_all_ids())

    def load_table(self, cache=None) -> pd.DataFrame:
        return bench_table().copy(deep=False)  # copy-on-write: callers cannot alter the memo

    def data_checksum(self, cache=None) -> str:
        return bench_checksum()

    def table_columns(self, cache=None) -> list[str]:
        return list(bench_digests())

    def column_digests(self, cache, columns) -> dict[str, str]:
        digests = bench_digests()
        return {c: digests[c] for c in dict.fromkeys(["arch_id", *columns]) if c in digests}


@functools.cache
def _all_ids() -> tuple[str, ...]:
    """Every canonical architecture, by the package's own rule (its ``all_archs``, without printing)."""
    arch = _package().Arch
    ids = []
    for ops in itertools.product(OPS, repeat=4):
        if ops == ("skip",) * 4:
            continue
        for link in LINKS:
            if arch(list(link), list(ops)).check_isomorph():
                ids.append((link, ops))
    return tuple(format_id(link, ops) for link, ops in sorted(ids, key=lambda a: valid_hash(*a)))


@functools.lru_cache(maxsize=4096)
def _neighbours(canon: str) -> tuple[str, ...]:
    """Distinct canonical archs one op change or one link change away."""
    link, ops = parse(canon)
    out = set()
    for i in range(4):
        for o in OPS:
            if o != ops[i]:
                new_ops = ops[:i] + (o,) + ops[i + 1 :]
                if new_ops != ("skip",) * 4:
                    out.add(valid_hash(link, new_ops))
        for src in range(i + 1):
            if src != link[i]:
                out.add(valid_hash(link[:i] + (src,) + link[i + 1 :], ops))
    out.discard(valid_hash(link, ops))
    return tuple(format_id(*decode(h)) for h in sorted(out))
