"""Pin the number of compute threads a worker uses (BLAS/OpenMP pools and torch).

Every worker of the process and Dask executors runs one cell at a time; letting each of
them start a thread per core would oversubscribe the machine and make timings noisy. The
environment variables cover libraries loaded later (a worker's first import of xgboost or
torch); threadpoolctl and torch.set_num_threads cover the ones already loaded.
"""

from __future__ import annotations

import os
import sys

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

_pinned: dict[str, int] = {}


def thread_env(threads: int) -> dict[str, str]:
    """Environment variables that cap native thread pools at ``threads``."""
    return {name: str(int(threads)) for name in THREAD_ENV_VARS}


def pin_threads(threads: int) -> None:
    """Limit BLAS/OpenMP pools and torch to ``threads`` threads in this process.

    Cheap to call before every cell: the native pools are re-limited only when the set of
    loaded libraries (or the requested count) changed since the last call.
    """
    threads = max(1, int(threads))
    os.environ.update(thread_env(threads))
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    n_modules = len(sys.modules)
    if _pinned.get("threads") == threads and _pinned.get("modules") == n_modules:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    _pinned.update(threads=threads, modules=n_modules)
