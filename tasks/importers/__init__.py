"""Benchmark importers: detect file formats and turn them into the local cache.

Each importer is an ``Importer`` subclass registered under the entry-point group
``nasbench_harness.importers`` (built-ins in pyproject.toml, like any plugin). ``import_paths`` walks the given paths (a directory imports every
file it recognises), groups files by importer (several files of one benchmark are joined
into one table), and runs each importer. An importer validates everything *before*
writing, so a bad file raises a DataError and leaves the existing cache untouched.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from nasbench_harness.errors import DataError


@dataclass
class ImportResult:
    importer: str
    space: str
    files: list[Path]
    rows: int
    columns: list[str]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


class Importer(ABC):
    """One benchmark file format."""

    name: str  # e.g. "nb201-nasgraph-csv"
    space: str  # search space the table belongs to
    version: int = 1  # bump when the output changes (recorded in the manifest)
    priority: int = 0  # importers of one space run in ascending priority
    detect_order: int = 1000  # importers are asked to detect a file in ascending order (first detection wins)

    @abstractmethod
    def detect(self, path: Path) -> bool:
        """Cheap sniff (name, first bytes): is ``path`` in this importer's format?"""

    @abstractmethod
    def run(self, paths: list[Path], cache) -> ImportResult:
        """Parse and validate ``paths`` fully, then write to ``cache`` (atomically)."""


def csv_header(path: Path) -> str:
    """First line of a ``.csv`` file (stripped), "" for any other file: a cheap format sniff."""
    if path.suffix.lower() != ".csv":
        return ""
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.readline().strip()


def join_tables(tables: list):
    """Outer-join per-file tables on ``arch_id``; a column in several keeps the first file's values."""
    out = tables[0]
    for t in tables[1:]:
        out = out.merge(t, on="arch_id", how="outer", suffixes=("", ".dup"))
        out = out[[c for c in out.columns if not c.endswith(".dup")]]
    return out


def all_importers() -> list[Importer]:
    """One instance of every registered importer, in detection order."""
    from nasbench_harness import registry

    classes = [registry.load("importers", name) for name in registry.names("importers")]
    return [cls() for cls in sorted(classes, key=lambda c: (c.detect_order, c.name))]


def _files(paths: list[Path]) -> list[Path]:
    out = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise DataError(f"The path {p} does not exist; give an existing benchmark file or directory to import.")
        out.extend(sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p])
    return out


def detect(path: Path, importers: list[Importer] | None = None) -> Importer | None:
    for imp in importers if importers is not None else all_importers():
        try:
            if imp.detect(path):
                return imp
        except OSError:
            continue
    return None


def import_paths(paths: list[Path], cache, *, progress=None) -> list[ImportResult]:
    """Import every recognised file under ``paths``; DataError if nothing is recognised.

    A file given explicitly that no importer recognises is an error; inside a directory,
    unrecognised files are skipped (directories hold READMEs, licences, etc.).
    """
    importers = all_importers()
    explicit = {Path(p) for p in paths if Path(p).is_file()}
    groups: dict[str, tuple[Importer, list[Path]]] = {}
    for f in _files(paths):
        imp = detect(f, importers)
        if imp is None:
            if f in explicit:
                raise DataError(
                    f"{f} is not a benchmark format nasbench-harness recognises; expected one of the formats "
                    f"listed by `nasbench-harness data import --help` (e.g. NB201 CSV/.pth, NB101 .tfrecord/.csv, "
                    f"TransNAS CSV/.pth)."
                )
            continue
        groups.setdefault(imp.name, (imp, []))[1].append(f)
    if not groups:
        raise DataError(
            f"No recognised benchmark files under {', '.join(map(str, paths))}; "
            f"see `nasbench-harness data import --help` for the supported formats."
        )
    results = []
    for imp, files in sorted(groups.values(), key=lambda g: (g[0].space, g[0].priority, g[0].name)):
        t0 = time.perf_counter()
        if progress:
            progress(f"importing {len(files)} file(s) with {imp.name}")
        res = imp.run(files, cache)
        res.seconds = time.perf_counter() - t0
        results.append(res)
    return results
