"""The code a cell runs, found statically: the import closure of its plugin modules.

A run key must change whenever code that computes the cell's numbers changes, and only
then. The roots are the cell's protocol module and the modules of the registry plugins it
names (predictor, loss, search space, and any other kind named in the cell, e.g. a search
strategy); the closure adds every ``nasbench_harness.*`` module those files import (at any
depth, including imports inside functions), found by parsing source with ``ast``: nothing
is imported, so torch is never loaded and the digest is the same on every executor. A
plugin from another distribution contributes all the Python files of its top-level package.

Report, CLI, runner, worker and store code, and the digest and artefact helpers, never
change a cell's numbers and stay out even when a computing module imports them lazily
(``EXCLUDED``); so do the matrix parser, the conformance kit and the downloader.

A file's digest is over its tokens (``source_digest``), not its bytes: comments,
docstrings, blank lines and formatting do not change it, nor does the Python version that
tokenizes it.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import io
import tokenize
from pathlib import Path

PROJECT = "nasbench_harness"
# Modules that present, schedule or store results; they never change a cell's numbers.
EXCLUDED = (
    "nasbench_harness.cli",
    "nasbench_harness.cli_data",
    "nasbench_harness.report",
    "nasbench_harness.studies",  # a paper's matrices, sections and checks
    "nasbench_harness.runner",
    "nasbench_harness.worker",
    "nasbench_harness.executors",
    "nasbench_harness.closure",
    "nasbench_harness.provenance",
    "nasbench_harness.artefacts",
    "nasbench_harness.kept",
    "nasbench_harness.store",
    "nasbench_harness.index",
    "nasbench_harness.matrix",
    "nasbench_harness.testing",
    "nasbench_harness.tasks.download",
    "nasbench_harness.tasks.importers",
)
# Token kinds that never change what code does.
_LAYOUT = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}
_FSTRING_START = getattr(tokenize, "FSTRING_START", None)  # Python >= 3.12 splits f-strings into parts
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)


def _excluded(name: str) -> bool:
    return any(name == e or name.startswith(e + ".") for e in EXCLUDED)


@functools.cache
def module_file(name: str) -> Path | None:
    """Source file of module ``name`` without running it: ``find_spec`` imports only the
    parent *packages* (the project's ``__init__`` files are light and never import torch);
    a dotted name under a plain module is an attribute, not a module."""
    parent = name.rpartition(".")[0]
    if parent:
        parent_file = module_file(parent)
        if parent_file is None or parent_file.name != "__init__.py":
            return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _significant(src: bytes):
    """(kind, text) of each token that can change behaviour, the same on every Python >= 3.11:
    an f-string is one STRING token (its exact source text), as Python 3.11 reads it."""
    lines = src.decode("utf-8").splitlines(keepends=True)
    depth, start = 0, None
    for tok in tokenize.tokenize(io.BytesIO(src).readline):
        if _FSTRING_START is not None and tok.type == _FSTRING_START:
            depth, start = depth + 1, start if depth else tok.start
            continue
        if depth:
            if tok.type == _FSTRING_END:
                depth -= 1
                if not depth:
                    yield tokenize.STRING, _slice(lines, start, tok.end)
            continue
        if tok.type not in _LAYOUT:
            yield tok.type, "" if tok.type in (tokenize.INDENT, tokenize.DEDENT, tokenize.NEWLINE) else tok.string


def _slice(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    (r0, c0), (r1, c1) = start, end
    if r0 == r1:
        return lines[r0 - 1][c0:c1]
    return lines[r0 - 1][c0:] + "".join(lines[r0 : r1 - 1]) + lines[r1 - 1][:c1]


def _without_docstrings(tokens: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Drop statements that are only string literals (docstrings, bare strings): they do nothing.
    Such a statement starts a logical line and is strings up to its NEWLINE."""
    out, i = [], 0
    while i < len(tokens):
        j = i
        at_start = not out or out[-1][0] in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
        while at_start and j < len(tokens) and tokens[j][0] == tokenize.STRING:
            j += 1
        if j > i and j < len(tokens) and tokens[j][0] == tokenize.NEWLINE:
            i = j + 1
            continue
        out.append(tokens[i])
        i += 1
    return out


def source_digest(src: bytes) -> str:
    """sha256 (16 hex) of a Python source's significant tokens: comments, docstrings, blank
    lines, indentation width and spacing leave it unchanged."""
    h = hashlib.sha256()
    for kind, text in _without_docstrings(list(_significant(src))):
        h.update(f"{tokenize.tok_name[kind]}\0{text}\0".encode())
    return h.hexdigest()[:16]


@functools.cache
def _file_digest(path: Path) -> str:
    return source_digest(_parsed(path)[0])


def _resolve(name: str, package: str, level: int) -> str:
    if level == 0:
        return name
    base = package.split(".")
    base = base[: len(base) - level + 1] if level > 1 else base
    return ".".join([*base, name] if name else base)


@functools.cache
def _parsed(path: Path) -> tuple[bytes, tuple[str, ...]]:
    """(source bytes, candidate module names imported anywhere in the file, relative ones
    with their leading dots)."""
    src = path.read_bytes()
    names: list[str] = []
    for node in ast.walk(ast.parse(src, filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            sep = "." if node.module else ""
            # ``from pkg import sub`` may import a submodule: both candidates are followed.
            names += [base, *(f"{base}{sep}{alias.name}" for alias in node.names)]
    return src, tuple(names)


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _imports(name: str, path: Path) -> list[str]:
    package = _package_of(name, path)
    out = []
    for raw in _parsed(path)[1]:
        level = len(raw) - len(raw.lstrip("."))
        out.append(_resolve(raw.lstrip("."), package, level))
    return out


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@functools.cache
def closure(roots: tuple[str, ...]) -> dict[str, str]:
    """``{module: sha256 of its source}`` for the project-internal import closure of ``roots``.

    Parent packages' ``__init__`` files are part of it (they run on import).
    """
    seen: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or _excluded(name):
            continue
        path = module_file(name)
        if path is None:
            continue  # not a module (an attribute imported with ``from``) or not installed
        seen[name] = _file_digest(path)
        for imported in [*_imports(name, path), *_parents(name)]:
            if imported.split(".")[0] == PROJECT:
                todo.append(imported)
    return seen


def _distribution_files(module: str) -> list[tuple[str, Path]]:
    """(module name, file) of every Python file of the top-level package holding ``module``."""
    spec = importlib.util.find_spec(module.split(".")[0])  # a top-level name: nothing is run
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return []
    top = module.split(".")[0]
    if not spec.submodule_search_locations:
        return [(top, Path(spec.origin))]
    out = []
    for root in map(Path, spec.submodule_search_locations):
        for f in sorted(root.rglob("*.py")):
            parts = f.relative_to(root).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            out.append((".".join((top, *parts)), f))
    return sorted(out)


@functools.cache
def distribution_digest(module: str) -> tuple[str, tuple[str, ...]]:
    """(sha256 over every Python file of a plugin's top-level package, the project modules
    those files import); nothing of the plugin is imported."""
    files = _distribution_files(module)
    h = hashlib.sha256()
    project: set[str] = set()
    for name, path in files:
        h.update(f"{name}\0{_file_digest(path)}\0".encode())
        project.update(m for m in _imports(name, path) if m.split(".")[0] == PROJECT)
    return (h.hexdigest()[:16] if files else "missing"), tuple(sorted(project))


def clear_caches() -> None:
    """Forget parsed files and digests (a test that edits a module in place)."""
    for fn in (module_file, _parsed, _file_digest, closure, distribution_digest):
        fn.cache_clear()
