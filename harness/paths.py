"""Where things live: the data cache, default output folders, and ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir

DATA_ENV = "NASBENCH_HARNESS_DATA"
SHARED_ENV = "NASBENCH_HARNESS_SHARED_DATA"


def data_dir() -> Path:
    """The imported-benchmark cache: $NASBENCH_HARNESS_DATA, else the user cache dir."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path(user_cache_dir("nasbench-harness")) / "data"


def shared_data_dir() -> Path | None:
    """The development copy of the public benchmark tables (``../shared/data``), if present.

    Looked up from $NASBENCH_HARNESS_SHARED_DATA, then next to the current directory and
    next to the source checkout. Returns None in a user's clone where it is absent.
    """
    env = os.environ.get(SHARED_ENV)
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [Path.cwd().parent / "shared" / "data"]
    candidates += [p / "shared" / "data" for p in here.parents[:4]]
    for c in candidates:
        if (c / "nasbench201").is_dir():
            return c
    return None
