"""NB101 speed: enumeration, loading all 423,624 structures, importing the 20k file and TFRecords.

Run with ``python -m pytest tests/benchmarks/test_bench_nb101.py --benchmark-enable``.
With benchmarks disabled (the default) each body runs once as a plain test.
"""

from __future__ import annotations

import base64
import json
import struct

import numpy as np
import pytest
from nasbench_harness.registry import get_search_space
from nasbench_harness.tasks.cache import DataCache
from nasbench_harness.tasks.importers import import_paths
from nasbench_harness.tasks.importers.nb101 import frame_record
from nasbench_harness.tasks.spaces.nb101 import N_CELLS, Cells, compute_cells, enumerate_cells


@pytest.fixture(scope="module")
def cells_cache(tmp_path_factory) -> DataCache:
    cache = DataCache(tmp_path_factory.mktemp("nb101-bench"))
    cache.write_arrays("nb101", "cells", **enumerate_cells().to_arrays())
    return cache


def test_bench_enumeration(benchmark, request):
    """Full enumeration from scratch (bit-mask DAGs, canonical dedup, md5 module hashes).

    As a plain test it takes the session's memoised enumeration (``enumerate_cells``, shared
    with the fixtures here and in tests/tasks) instead of a second ~45 s one from scratch; the
    enumeration itself is checked in tests/tasks/test_nb101_space.py. Timed from scratch under
    ``--benchmark-enable``."""
    timed = bool(request.config.getoption("benchmark_enable", False))
    cells = benchmark.pedantic(compute_cells if timed else enumerate_cells, rounds=1, iterations=1)
    assert len(cells) == N_CELLS


def test_bench_load_all_structures(benchmark, cells_cache):
    """Cached cell table -> ids + dense GraphBatch of all 423,624 cells (target < 2 s)."""

    def load():
        space = get_search_space("nb101")
        space.forget_cells()
        space.cells(cells_cache)
        return space.all_graphs()

    ids, graphs = benchmark.pedantic(load, rounds=3, iterations=1)
    assert len(ids) == len(graphs) == N_CELLS
    assert graphs.adj.shape == (N_CELLS, 7, 7)


def test_bench_load_cell_table_only(benchmark, cells_cache):
    cells = benchmark.pedantic(lambda: Cells.from_arrays(cells_cache.read_arrays("nb101", "cells")), rounds=3, iterations=1)
    assert len(cells) == N_CELLS


def test_bench_import_20k(benchmark, shared_data, cells_cache, tmp_path_factory):
    """Import of the 20,001-hash nasbench-vis JSON (parse, validate, join with the enumeration, write)."""
    get_search_space("nb101").cells(cells_cache)
    path = shared_data / "nasbench101" / "tiga1231_nasbench-vis_data-20k.json"

    def run():
        return import_paths([path], DataCache(tmp_path_factory.mktemp("imp")))

    (res,) = benchmark.pedantic(run, rounds=3, iterations=1)
    assert res.rows == 20_001


def _pb_double(field: int, x: float) -> bytes:
    return bytes([field << 3 | 1]) + struct.pack("<d", x)


def _pb_len(field: int, data: bytes) -> bytes:
    assert len(data) < 128
    return bytes([field << 3 | 2, len(data)]) + data


def _synthetic_tfrecord(path, space, n_cells: int) -> int:
    """``n_cells`` real cells x 3 repeats in the official only108 layout (payload ~ 500 bytes)."""
    ids = space.cells().hashes[:: max(1, N_CELLS // n_cells)][:n_cells]
    graphs = space.to_graph(ids)
    rng = np.random.default_rng(0)
    frames = []
    for h, adj, ops in zip(ids, graphs.adj, graphs.ops):
        n = int((ops >= 0).sum())
        bits = "".join(map(str, adj[:n, :n].ravel()))
        names = ",".join(space.op_names[o] for o in ops[:n])
        for _ in range(3):
            evals = b"".join(
                _pb_len(1, b"".join(_pb_double(f, float(x)) for f, x in enumerate(rng.random(5), 1))) for _ in range(3)
            )
            metrics = evals + bytes([2 << 3]) + bytes([0x80 | 5, 1]) + _pb_double(3, 1.0)
            payload = json.dumps([str(h), 108, bits, names, base64.b64encode(metrics).decode()]).encode()
            frames.append(frame_record(payload))
    path.write_bytes(b"".join(frames))
    return len(frames)


def test_bench_import_tfrecord(benchmark, request, cells_cache, tmp_path_factory):
    """Official-layout TFRecord import throughput (CRCs, JSON, base64, protobuf, averaging):
    10,000 cells under ``--benchmark-enable``, 1,000 as a plain test."""
    n_cells = 10_000 if request.config.getoption("benchmark_enable", False) else 1_000
    space = get_search_space("nb101")
    space.cells(cells_cache)
    path = tmp_path_factory.mktemp("tfr") / "nasbench_only108.tfrecord"
    n_records = _synthetic_tfrecord(path, space, n_cells)

    def run():
        return import_paths([path], DataCache(tmp_path_factory.mktemp("imp")))

    (res,) = benchmark.pedantic(run, rounds=1, iterations=1)
    assert res.rows == n_cells and n_records == 3 * n_cells
