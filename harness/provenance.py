"""Where a result comes from: the code it ran, the data it read, the machine it ran on.

- ``code_version(cell)``: one digest of the code that computes the cell (the static import
  closure of its protocol and plugins, ``closure.py``, over tokens: comments and docstrings
  do not count), plus a digest per plugin from another distribution. No package version.
- ``data_digest(cell, task, related)``: the content the cell can read (``Task.input_digest``):
  architecture ids, the train and eval metrics, the task's extra columns and the table
  columns its encoding reads, as canonical bytes (``tasks/digest.py``), whatever wrote them;
  plus the content of the other tasks its protocol reads (a transfer's source).
- ``machine()``: the host that ran a cell (recorded by the worker in each row).
- ``package_versions()``: library versions, row metadata only (never in a run key).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import socket
from importlib import metadata

from nasbench_harness.cell import NO_PREDICTOR, Cell, canonical_json

VERSIONED_PACKAGES = ("nasbench-harness", "numpy", "pandas", "pyarrow", "scipy", "scikit-learn", "torch", "xgboost", "xgboost-cpu", "lightgbm", "nas-bench-graph")


# -- code --------------------------------------------------------------------------------
def cell_plugins(cell: Cell) -> tuple[tuple[str, str], ...]:
    """The registry plugins a cell names, as (kind, name): its predictor, loss and search
    space, and a search strategy named in ``protocol_params["strategy"]`` when the registry
    has that kind (names it does not register, e.g. a protocol's built-in baseline, add nothing)."""
    plugins = [("search_spaces", cell.task.split("/", 1)[0])]
    if cell.predictor != NO_PREDICTOR:
        plugins.append(("predictors", cell.predictor))
    if cell.loss:
        plugins.append(("losses", cell.loss))
    strategy = cell.protocol_params.get("strategy")
    if isinstance(strategy, str):
        plugins.append(("strategies", strategy))
    return tuple(plugins)


def code_version(cell_or_protocol: Cell | str, predictor: str = NO_PREDICTOR, loss: str = "",
                 *, plugins: tuple[tuple[str, str], ...] = ()) -> str:
    """``code=<digest>`` of all the code that computes this cell, then ``;kind:name=<digest>``
    per plugin from another distribution (a digest of its whole package).

    Pass the cell (its plugins come from ``cell_plugins``), or a protocol name with the
    predictor, loss and any further ``(kind, name)`` plugins. Found by parsing source,
    never importing: identical on every executor and every Python version.
    """
    if isinstance(cell_or_protocol, Cell):
        return _code_version(cell_or_protocol.protocol, cell_plugins(cell_or_protocol) + tuple(plugins))
    named = [("predictors", predictor)] if predictor != NO_PREDICTOR else []
    named += [("losses", loss)] if loss else []
    return _code_version(cell_or_protocol, (*named, *plugins))


def code_modules(protocol: str, plugins: tuple[tuple[str, str], ...]) -> tuple[dict[str, str], list[str]]:
    """({module: token digest} of the project closure, ["kind:name=digest"] of outside plugins)."""
    from nasbench_harness import closure, registry
    from nasbench_harness.errors import RegistryError

    roots = [registry.info("protocols", protocol).value.split(":")[0]]
    external = []
    for kind, name in sorted(set(plugins)):
        try:
            module = registry.info(kind, name).value.split(":")[0]
        except RegistryError:
            continue  # not a registered plugin of that kind (e.g. a protocol's own baseline)
        if module.split(".")[0] == closure.PROJECT:
            roots.append(module)
        else:
            digest, project_imports = closure.distribution_digest(module)
            external.append(f"{kind}:{name}={digest}")
            roots += project_imports
    return closure.closure(tuple(sorted(roots))), external


@functools.cache
def _code_version(protocol: str, plugins: tuple[tuple[str, str], ...]) -> str:
    modules, external = code_modules(protocol, plugins)
    digest = hashlib.sha256(canonical_json(modules).encode()).hexdigest()[:16]
    return ";".join([f"code={digest}", *external])


def clear_code_version_cache() -> None:
    """Recompute code versions from the files on disk (after editing a module in place)."""
    from nasbench_harness import closure

    closure.clear_caches()
    _code_version.cache_clear()


# -- data --------------------------------------------------------------------------------
def related_tasks(cell: Cell) -> list[str]:
    """The tasks ``cell`` reads besides its own (its protocol's ``related_tasks``)."""
    from nasbench_harness.protocols import get_protocol

    return get_protocol(cell.protocol).related_tasks(cell.protocol_params)


def data_digest(cell: Cell, task, related=()) -> str:
    """The digest of the data ``cell`` can read: from ``task`` (see ``Task.input_digest``) and
    from the ``related`` tasks it also reads (``related_tasks``, loaded)."""
    own = task.input_digest(cell.encoding if cell.predictor != NO_PREDICTOR else "")
    if not related:
        return own
    from nasbench_harness.tasks.digest import combine

    return combine({"task": own, "related": {t.name: t.data_checksum for t in related}})


# -- machine and libraries ------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The widest vector extension first: numpy and OpenBLAS pick their kernels by it at run time,
# so float sums over many values can round differently in the last bits on another CPU.
_SIMD_LEVELS = ("avx512f", "avx2", "avx", "sse4_2", "neon", "asimd")


def _simd() -> str:
    """The CPU's widest vector extension of ``_SIMD_LEVELS`` ("" when /proc/cpuinfo is unreadable)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((set(line.split(":", 1)[1].split()) for line in f if line.startswith(("flags", "Features"))), set())
    except OSError:
        return ""
    return next((level for level in _SIMD_LEVELS if level in flags), "")


def _physical_cores() -> int | None:
    try:
        import psutil

        return psutil.cpu_count(logical=False)
    except Exception:  # noqa: BLE001 - optional: psutil comes with dask, but may be absent
        return None


def _accelerator() -> str:
    """The CUDA device torch sees, when torch is already loaded (never imported for this)."""
    import sys

    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001 - a broken driver is no accelerator
        pass
    return ""


@functools.cache
def _host() -> dict:
    return {
        "host": socket.gethostname(),
        "cpu": _cpu_model(),
        "cores": _physical_cores(),
        "threads": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "simd": _simd(),
    }


def machine() -> str:
    """JSON of the host running this process (called by the worker that ran the cell): host
    name, CPU model, physical cores, logical threads, OS, widest vector extension (``simd``),
    accelerator (empty when none)."""
    return json.dumps({**_host(), "accelerator": _accelerator()}, sort_keys=True)


@functools.cache
def package_versions(extra_dist: str = "") -> str:
    """JSON of the versions of the packages that can change a result (memoised per process)."""
    out = {"python": platform.python_version()}
    for dist in (*VERSIONED_PACKAGES, *([extra_dist] if extra_dist else [])):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return json.dumps(out, sort_keys=True)
