"""NB201 speed: loading an imported task (time and peak memory), importing, enumerating, hashing.

Run with ``python -m pytest tests/benchmarks/test_bench_nb201.py --benchmark-enable``.
With benchmarks disabled (the default) each body runs once as a plain test. Targets:
loading ``nb201/cifar10`` < 0.2 s and < 150 MB peak RSS (a fresh interpreter, measured in
a subprocess and reported in ``extra_info``; never asserted on time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from nasbench_harness.tasks.cache import DataCache
from nasbench_harness.tasks.catalog import load_task
from nasbench_harness.tasks.importers import import_paths
from nasbench_harness.tasks.spaces.nb201 import NB201Space, _iso

CHILD = textwrap.dedent(
    """
    import json, sys, time

    def peak_mb():  # VmHWM: this process's own high-water mark (ru_maxrss is inherited over fork+exec)
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024

    t0 = time.perf_counter()
    from nasbench_harness.tasks.cache import DataCache
    from nasbench_harness.tasks.catalog import load_task
    t1 = time.perf_counter()
    task = load_task("nb201/cifar10", DataCache(sys.argv[1]))
    t2 = time.perf_counter()
    print(json.dumps({"n": len(task), "import_s": t1 - t0, "load_s": t2 - t1, "peak_rss_mb": peak_mb()}))
    """
)


@pytest.fixture(scope="module")
def nb201_cache(cache_for) -> DataCache:
    return cache_for("nb201")


def test_bench_load_task(benchmark, nb201_cache):
    """load_task('nb201/cifar10') from the Parquet cache, warm process."""
    task = benchmark.pedantic(lambda: load_task("nb201/cifar10", nb201_cache), rounds=5, iterations=1)
    assert len(task) == 15625


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak RSS is read from /proc (Linux)")
def test_bench_load_task_fresh_process_rss(benchmark, nb201_cache):
    """Peak RSS and time of a fresh interpreter that loads the task (the < 150 MB target)."""

    def child():
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(nb201_cache.root)],
            capture_output=True, text=True, check=True, env={**os.environ},
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    stats = benchmark.pedantic(child, rounds=1, iterations=1)
    benchmark.extra_info.update(stats)
    assert stats["n"] == 15625


def test_bench_import_nasgraph_csvs(benchmark, shared_data, tmp_path_factory):
    files = sorted((shared_data / "nasbench201").glob("nasgraph_*.csv"))

    def run():
        return import_paths(files, DataCache(tmp_path_factory.mktemp("imp")))

    results = benchmark.pedantic(run, rounds=1, iterations=1)
    assert results[0].rows == 15625


def test_bench_import_whole_folder(benchmark, shared_data, tmp_path_factory):
    results = benchmark.pedantic(
        lambda: import_paths([shared_data / "nasbench201"], DataCache(tmp_path_factory.mktemp("imp"))), rounds=1, iterations=1
    )
    assert {r.rows for r in results} == {15625}


def test_bench_graphs_and_iso_hashes(benchmark):
    space = NB201Space()
    ids = space.enumerate()

    def run():
        _iso.cache_clear()
        graphs = space.to_graph(ids)
        hashes = {space.iso_hash(a) for a in ids}
        return graphs, hashes

    graphs, hashes = benchmark.pedantic(run, rounds=1, iterations=1)
    assert len(graphs) == 15625 and len(hashes) == 4930
