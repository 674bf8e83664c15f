"""Cached indexes that let `list` and `run --dry-run` start without importing torch.

Two JSON caches under ``$NASBENCH_HARNESS_INDEX`` (default: the user cache dir's ``index``):

- plugin rows for `list predictors|losses|strategies|search-spaces` (descriptions, default
  params, ...), which otherwise need every plugin imported (torch, scipy, sklearn: seconds);
- planned matrices for `run --dry-run`: the expanded, validated cells of a matrix with their
  run keys, task sizes and skipped tasks, which otherwise need every predictor built, every
  code closure parsed and every task loaded (about 20 s for `full`).

Both are keyed by a fingerprint of everything they are computed from: the size and
modification time of every source and YAML file of the package and of every plugin's
package, the registered entry points with their distributions' versions, and (for plans)
the data manifests and tables, the matrix file and the command's options; a cached plan is
used only while every file its matrix's expansion read (includes too) has the same sha256. Any change to those gives a new key (contents of source files are not hashed: an
edit that kept a file's size and modification time would go unseen); a missing or
unreadable entry is recomputed. `run` itself never reads a cached plan: it always derives run keys afresh,
and stores the plan it computed for the next dry run. Writes are atomic; the folder keeps the
newest ``MAX_ENTRIES`` plans.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from importlib import metadata
from pathlib import Path

INDEX_ENV = "NASBENCH_HARNESS_INDEX"
FORMAT = 2  # bump when the stored layout changes
MAX_ENTRIES = 16
_PACKAGES = ("nasbench_harness", "nasbench_harness.methods", "nasbench_harness.tasks")
_SOURCE_SUFFIXES = {".py", ".yaml", ".yml", ".json", ".toml"}


def index_dir() -> Path:
    env = os.environ.get(INDEX_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("nasbench-harness")) / "index"


# -- fingerprints ---------------------------------------------------------------------------
def _stat_files(roots: list[Path]) -> list[tuple[str, int, int]]:
    out = []
    for root in roots:
        files = [root] if root.is_file() else root.rglob("*")
        for p in files:
            if p.suffix in _SOURCE_SUFFIXES and "__pycache__" not in p.parts:
                try:
                    st = p.stat()
                except OSError:
                    continue
                out.append((str(p), st.st_mtime_ns, st.st_size))
    return sorted(set(out))


def _package_roots(module: str) -> list[Path]:
    """Folders (or the file) of ``module``, found without importing it (its parents may be)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return [Path(p) for p in spec.submodule_search_locations]
    return [Path(spec.origin)] if spec.origin else []


def _entry_points() -> list[tuple[str, str, str, str, str]]:
    from nasbench_harness.registry import GROUPS

    rows, dists = set(), {}
    every = metadata.entry_points()  # held while ids of its distributions are memo keys (no id reuse)
    for group in GROUPS.values():
        for ep in every.select(group=group):
            if id(ep.dist) not in dists:  # parse each distribution's metadata once, not once per entry point
                md = ep.dist.metadata if ep.dist is not None else {}
                dists[id(ep.dist)] = (md.get("Name", "?"), md.get("Version", "?"))
            rows.add((group, ep.name, ep.value, *dists[id(ep.dist)]))
    return sorted(rows)


def code_fingerprint() -> str:
    """Digest of the code that plugin metadata and run keys come from (file sizes and times).

    Not memoised: plugins installed while a process runs must change it (tens of ms)."""
    eps = _entry_points()
    roots = [r for m in _PACKAGES for r in _package_roots(m)]
    for _, _, value, dist, _ in eps:
        if dist.replace("_", "-").lower() != "nasbench-harness":
            roots += _package_roots(value.split(":")[0].split(".")[0])
    payload = {"format": FORMAT, "python": sys.version, "entry_points": eps, "files": _stat_files(sorted(set(roots)))}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def data_fingerprint() -> str:
    """Digest of the data cache's manifests and tables (sizes and times) and the embedded packages."""
    from nasbench_harness.tasks.cache import DataCache

    root = DataCache().root
    stats = []
    if root.is_dir():
        for space in sorted(p for p in root.iterdir() if p.is_dir()):
            for f in sorted(space.iterdir()):
                try:
                    st = f.stat()
                except OSError:
                    continue
                stats.append((str(f), st.st_mtime_ns, st.st_size))
    try:
        embedded = metadata.version("nas-bench-graph")
    except metadata.PackageNotFoundError:
        embedded = ""
    return hashlib.sha256(json.dumps({"root": str(root), "files": stats, "nas-bench-graph": embedded}).encode()).hexdigest()


# -- storage ---------------------------------------------------------------------------------
def _read(name: str) -> dict | None:
    path = index_dir() / name
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == FORMAT else None


def _write(name: str, doc: dict) -> None:
    """Atomic write; a cache that cannot be written is skipped silently (it is only a cache)."""
    from nasbench_harness.artefacts import write_bytes

    folder = index_dir()
    try:
        write_bytes(folder / name, json.dumps({**doc, "format": FORMAT}, separators=(",", ":"), default=str).encode())
        plans = sorted(folder.glob("plan-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in plans[MAX_ENTRIES:]:
            old.unlink(missing_ok=True)
    except OSError:
        return


# -- plugin rows (`list`) ------------------------------------------------------------------------
def plugin_rows(kind: str, compute) -> list[dict]:
    """``compute()`` (the rows of `list KIND`), cached under the code fingerprint."""
    name = f"plugins-{kind}-{code_fingerprint()[:24]}.json"
    doc = _read(name)
    if doc is not None and isinstance(doc.get("rows"), list):
        return doc["rows"]
    rows = compute()
    _write(name, {"rows": json.loads(json.dumps(rows, default=str))})
    return rows


# -- planned matrices (`run --dry-run`) ----------------------------------------------------------
def plan_key(matrix: str, options: dict) -> str:
    """The cache key of a plan: code, data, the matrix file and the options. The files the
    matrix includes are checked on reading (``load_plan``), against those its expansion read."""
    from nasbench_harness.matrix import find_matrix

    path = find_matrix(matrix).resolve()
    from nasbench_harness.artefacts import key

    return key({"matrix": str(path), "options": options, "code": code_fingerprint(), "data": data_fingerprint()})


_CELL_TYPES = {"budget": (int, float), "seed": int, "protocol_params": dict, "params": dict, "loss_params": dict}  # others: str


def _cell_fields_ok(c) -> bool:
    """A stored cell whose fields have the types a Cell holds (an edited entry may not)."""
    return isinstance(c, dict) and all(isinstance(v, _CELL_TYPES.get(f, str)) for f, v in c.items())


def load_plan(key: str, store):
    """The cached ``runner.Plan`` (run keys, task sizes; no payloads) with ``done`` read from ``store``, or None."""
    doc = _read(f"plan-{key[:32]}.json")
    if doc is None or doc.get("key") != key:
        return None
    from nasbench_harness.matrix import Cell, Matrix, file_digest
    from nasbench_harness.runner import Plan

    try:  # a hand-edited or damaged entry is discarded: the plan is recomputed
        files = dict(doc["files"])
        if any(file_digest(Path(f)) != digest for f, digest in files.items()):
            return None  # the matrix or a file it includes changed (or appeared)
        if not all(_cell_fields_ok(c) for c in doc["cells"]):
            return None
        cells = [Cell(**c) for c in doc["cells"]]
        m = Matrix(str(doc["name"]), Path(doc["path"]), str(doc["description"]), cells, files)
        keys = [str(k) for k in doc["keys"]]
        sizes, missing = dict(doc["task_sizes"]), dict(doc["missing"])
        if len(keys) != len(cells) or not all(isinstance(v, int) for v in sizes.values()):
            return None
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    done = store.done_keys()
    return Plan(m, cells, keys, [], [k in done for k in keys], doc.get("data_root"), sizes, {str(t): str(w) for t, w in missing.items()})


def save_plan(key: str, p) -> None:
    doc = {
        "key": key,
        "name": p.matrix.name,
        "path": str(p.matrix.path),
        "description": p.matrix.description,
        "files": p.matrix.files,
        "cells": [c.as_dict() for c in p.cells],
        "keys": p.keys,
        "task_sizes": p.task_sizes,
        "missing": p.missing,
        "data_root": p.data_root,
    }
    _write(f"plan-{key[:32]}.json", doc)
