"""``nasbench-harness data proxies``: compute zero-cost proxies over a space, resumably.

Work is cut into chunks of cells. Each chunk is computed in a worker process (torch pinned
to one thread) and written atomically as its own Parquet file under
``<cache>/<space>/proxies.chunks/``, named by the job version and a digest of everything that changes its
numbers (proxies, dataset, its cell ids, seeds, batch, ``JOB_VERSION``). A rerun skips the
chunks already on disk, so a killed run loses only the chunks in flight. When every chunk
is done, all chunks of the folder are joined into ``<space>/zc_proxies.parquet`` (recorded
as a source with its sha256 in the manifest) and its columns are merged into the space's
table like an import:

    <dataset>.zc.computed.<proxy>   data-free (params, flops, synflow), every dataset
    <dataset>.zc.synthetic.<proxy>  batch-based, on the fixed synthetic batch
    zc.computed.<proxy>, zc.synthetic.<proxy>   the primary dataset's (cifar10), read by ``zc``

Published Suite-Zero columns keep their names (``zc.<proxy>``, ``<dataset>.zc.<proxy>``).
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from nasbench_harness.errors import ConfigError, DataError

JOB_VERSION = 2  # 2: synflow of a cell without flow is 0, not -inf
SPACES = ("nb201",)
PRIMARY = "cifar10"
CHUNKS_DIR = "proxies.chunks"
RESULT = "zc_proxies.parquet"
CELLS = ("all", "suite-zero")
CHUNK_CELLS = {"analytic": 1 << 20, "synflow": 32, "batch": 2}  # params/flops are vectorised: one chunk


@dataclass(frozen=True)
class Chunk:
    kind: str  # "analytic" (params, flops) or "synflow": all datasets at once; "batch": one dataset
    dataset: str  # "" unless kind is "batch"
    proxies: tuple[str, ...]
    ids: tuple[str, ...]

    @property
    def digest(self) -> str:
        from nasbench_harness.artefacts import key
        from nasbench_harness.tasks.proxies import measures as M

        return key([JOB_VERSION, self.kind, self.dataset, self.proxies, self.ids, M.INIT_SEED, M.BATCH_SEED, M.BATCH_SIZE])

    @property
    def filename(self) -> str:
        return f"v{JOB_VERSION}-{self.kind}-{self.dataset or 'all'}-{self.digest}.parquet"


def parse_proxies(text: str | None) -> tuple[str, ...]:
    """Proxy names from a comma list (default: the data-free ones); ConfigError on an unknown name."""
    from nasbench_harness.errors import did_you_mean
    from nasbench_harness.tasks.proxies.measures import BATCH, DATA_FREE

    known = DATA_FREE + BATCH
    if not text:
        return DATA_FREE
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    for p in names:
        if p not in known:
            raise ConfigError(f"Unknown proxy '{p}'; expected a comma list of {', '.join(known)}.{did_you_mean(p, known)}")
    if not names:
        raise ConfigError(f"--proxies is empty; give a comma list of {', '.join(known)}.")
    return names


def select_cells(space, cache, cells: str, dataset: str) -> np.ndarray:
    """Cell ids to score: every cell of the space, or those with published Suite-Zero values on ``dataset``."""
    if cells not in CELLS:
        raise ConfigError(f"--cells must be one of {', '.join(CELLS)}, not '{cells}'.")
    if cells == "all":
        return space.enumerate()
    col = f"{dataset}.zc.synflow"  # every Suite-Zero file scores synflow for NB201
    table = space.load_table(cache, columns=[col])
    if col not in table.columns:
        raise DataError(
            f"--cells suite-zero needs the published Suite-Zero proxies ({col}) in {cache.root}; import "
            f"../shared/data/zero_cost_proxies with `nasbench-harness data import PATH` or use --cells all."
        )
    return np.sort(table.loc[table[col].notna(), "arch_id"].to_numpy(dtype=str))


def plan(space, cache, proxies: Sequence[str], cells: str, datasets: Sequence[str], sample: int | None = None) -> list[Chunk]:
    """Every chunk the job needs, cells in sorted id order (``sample``: that many of them, drawn with seed 0)."""
    from nasbench_harness.tasks.proxies.measures import BATCH, DATA_FREE

    analytic = tuple(p for p in proxies if p in DATA_FREE and p != "synflow")
    batch = tuple(p for p in proxies if p in BATCH)
    out = []
    if analytic or "synflow" in proxies:
        ids = _sample(select_cells(space, cache, cells, PRIMARY), sample)
        out += _cut("analytic", "", analytic, ids) if analytic else []
        out += _cut("synflow", "", ("synflow",), ids) if "synflow" in proxies else []
    for ds in datasets if batch else ():
        ids = _sample(select_cells(space, cache, cells, ds), sample)
        out += _cut("batch", ds, batch, ids)
    return out


def _sample(ids: np.ndarray, sample: int | None) -> np.ndarray:
    ids = np.sort(ids)
    if sample is None or sample >= len(ids):
        return ids
    return np.sort(np.random.default_rng(0).choice(ids, sample, replace=False))


def _cut(kind, dataset, proxies, ids) -> list[Chunk]:
    step = CHUNK_CELLS[kind]
    return [Chunk(kind, dataset, proxies, tuple(ids[i : i + step].tolist())) for i in range(0, len(ids), step)]


# ------------------------------------------------------------------------ workers
def _pin_threads() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # in-process (--jobs 1) after torch already ran: intra-op pinning is what matters
        pass


def _worker_init() -> None:
    """Workers leave Ctrl-C to the parent, which terminates them (no traceback per worker)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _pin_threads()


def compute_chunk(chunk: Chunk, folder: str) -> str:
    """Compute one chunk and write it atomically; returns its file name."""
    import torch
    from nasbench_harness.artefacts import write_bytes
    from nasbench_harness.registry import get_search_space
    from nasbench_harness.tasks.proxies import measures as M

    torch.set_num_threads(1)
    space = get_search_space("nb201")
    frame = pd.DataFrame({"arch_id": list(chunk.ids)})
    if chunk.kind == "analytic":
        for ds in M.DATASETS:
            if "params" in chunk.proxies:
                frame[f"{ds}.zc.computed.params"] = M.params_m(space, chunk.ids, ds)
            if "flops" in chunk.proxies:
                frame[f"{ds}.zc.computed.flops"] = M.flops_m(space, chunk.ids, ds)
    elif chunk.kind == "synflow":
        scores = [M.synflow_all(a) for a in chunk.ids]
        for ds in M.DATASETS:
            frame[f"{ds}.zc.computed.synflow"] = [s[ds] for s in scores]
    else:
        batch = M.synthetic_batch(chunk.dataset)
        rows = [M.batch_proxies(a, chunk.dataset, chunk.proxies, batch=batch) for a in chunk.ids]
        for p in chunk.proxies:
            frame[f"{chunk.dataset}.zc.synthetic.{p}"] = [r[p] for r in rows]
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    write_bytes(Path(folder) / chunk.filename, buf.getvalue())
    return chunk.filename


# ------------------------------------------------------------------------ driver
def run(
    space_name: str,
    cache,
    proxies: Sequence[str],
    cells: str = "all",
    jobs: int = 1,
    datasets: Sequence[str] | None = None,
    sample: int | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_chunk: Callable[[Chunk], None] | None = None,
) -> dict:
    """Compute the missing chunks (``jobs`` processes), then merge everything into the cache.

    ``on_start(total, already_done)`` and ``on_chunk(chunk)`` drive a progress display.
    Returns a summary (chunks, cells, columns, the result file's sha256).
    """
    from nasbench_harness.registry import get_search_space
    from nasbench_harness.tasks.proxies.measures import DATASETS

    if space_name not in SPACES:
        raise ConfigError(
            f"Proxies can be computed for {', '.join(SPACES)} only (the networks of other spaces are not built "
            f"in-project yet), not '{space_name}'."
        )
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, not {jobs}.")
    if sample is not None and sample < 1:
        raise ConfigError(f"--sample must be at least 1, not {sample}.")
    if not cache.has(space_name):
        raise DataError(cache._missing(space_name))
    datasets = tuple(datasets or DATASETS)
    bad = [d for d in datasets if d not in DATASETS]
    if bad:
        raise ConfigError(f"Unknown NB201 dataset {bad[0]!r}; expected some of {', '.join(DATASETS)}.")
    space = get_search_space(space_name)
    chunks = plan(space, cache, proxies, cells, datasets, sample)
    folder = cache.space_dir(space_name) / CHUNKS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    todo = [c for c in chunks if not (folder / c.filename).is_file()]
    if on_start:
        on_start(len(chunks), len(chunks) - len(todo))
    _execute(todo, str(folder), jobs, on_chunk)
    return merge(space_name, cache) | {"chunks": len(chunks), "computed": len(todo)}


def _execute(todo: list[Chunk], folder: str, jobs: int, on_chunk) -> None:
    if jobs == 1:
        _pin_threads()
        for c in todo:
            compute_chunk(c, folder)
            if on_chunk:
                on_chunk(c)
        return
    import multiprocessing as mp

    by_name = {c.filename: c for c in todo}
    pool = mp.get_context("spawn").Pool(jobs, initializer=_worker_init)
    try:
        for name in pool.imap_unordered(functools.partial(compute_chunk, folder=folder), todo):
            if on_chunk:
                on_chunk(by_name[name])
        pool.close()
    finally:
        pool.terminate()  # on an error or Ctrl-C: stop the workers now; finished chunks stay on disk
        pool.join()


def merge(space_name: str, cache) -> dict:
    """Join every finished chunk into ``zc_proxies.parquet`` and the space's table (like an import)."""
    from nasbench_harness.artefacts import write_bytes
    from nasbench_harness.tasks.cache import SourceFile

    folder = cache.space_dir(space_name) / CHUNKS_DIR
    files = sorted(folder.glob("*-*-*.parquet")) if folder.is_dir() else []
    if not files:
        raise DataError(f"No computed proxy chunks in {folder}; run `nasbench-harness data proxies {space_name}` first.")
    wide = None
    for f in files:
        part = pd.read_parquet(f).drop_duplicates("arch_id").set_index("arch_id")
        wide = part if wide is None else wide.combine_first(part)
    wide = wide.sort_index()
    for col in list(wide.columns):
        ds, _, rest = col.partition(".zc.")
        if ds == PRIMARY:
            wide[f"zc.{rest}"] = wide[col]
    wide = wide[sorted(wide.columns)].reset_index()
    buf = io.BytesIO()
    wide.to_parquet(buf, index=False)
    target = cache.space_dir(space_name) / RESULT
    write_bytes(target, buf.getvalue())
    existing = cache.read_table(space_name, columns=["arch_id"])
    table = existing.merge(wide, on="arch_id", how="left")
    cache.write_table(
        space_name,
        table,
        sources=[SourceFile.of(target, "nasbench-harness-proxies")],
        importer="zc-proxies",
        importer_version=JOB_VERSION,
    )
    return {
        "cells": int(len(wide)),
        "columns": [c for c in wide.columns if c != "arch_id"],
        "result": str(target),
        "sha256": SourceFile.of(target, "").sha256,
    }
