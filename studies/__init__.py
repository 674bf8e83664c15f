"""Studies: one paper each, kept in one folder.

A study's folder (``studies/<name>/``) holds its matrices (the YAML files `run --matrix`
finds by name), its published numbers (``published*.yaml``, read by ``ctx.published``),
its report sections, its claim checks (``checks.py``), its deviations from its paper
(``deviations.yaml``, shown in the report's "Deviations from the paper" panel) and a README with
its dated measurements. A ``Study`` subclass in the folder's ``__init__.py`` declares them and is
registered under the entry-point group ``nasbench_harness.studies`` (read by the one
registry; built-ins in pyproject.toml, exactly like a plugin's).

Each section shows only its study's own cells: the result rows whose (protocol, protocol
params, task, method, budget) is a cell its matrix expands to (``own_rows``), so one paper's
tables never pick up another paper's runs of the same protocol.
"""

from __future__ import annotations

import functools
import json
import tempfile
from dataclasses import dataclass, fields
from importlib import import_module, resources
from pathlib import Path
from typing import ClassVar

import pandas as pd
import yaml


@dataclass(frozen=True)
class StudySection:
    """A report section of a study: its anchor name, title, place (lower first), the module
    with ``render(results, ctx)``, and the study matrix whose cells it shows."""

    name: str
    title: str
    order: int
    module: str
    matrix: str


class Study:
    """A paper's study; subclasses set the class attributes below."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    matrices: ClassVar[tuple[str, ...]] = ()  # matrix files in the folder, found by `run --matrix <stem>`
    published: ClassVar[dict[str, str]] = {}  # ctx.published(name) -> a file in the folder
    sections: ClassVar[tuple[StudySection, ...]] = ()
    # Modules that judge every claim of the study: each names its ``MATRIX`` (a stem of ``matrices``)
    # and defines ``verdicts(rows, ctx) -> list[Verdict]`` over that matrix's own rows, one Verdict
    # per claim, also over no rows (then insufficient_evidence).
    checks: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def deviations(cls, matrix: str | None = None) -> tuple[Deviation, ...]:
        """The study's deviations from its paper (``deviations.yaml`` in its folder); with ``matrix``,
        those about that matrix's cells and those about the whole study."""
        found = load_deviations(cls.folder() / DEVIATIONS_FILE)
        return tuple(d for d in found if matrix is None or d.matrix in ("", matrix))

    @classmethod
    def verdicts(cls, results: pd.DataFrame, ctx) -> list:
        """Every claim's verdict over ``results`` (each checks module on its matrix's own rows)."""
        out = []
        for name in cls.checks:
            if name in ctx.verdicts:  # judged while its section rendered: no need to find its rows again
                out += ctx.verdicts[name]
                continue
            rows = own_rows(results, cls.matrix_paths()[import_module(name).MATRIX])
            out += checks_verdicts(ctx, name, rows)
        return out

    @classmethod
    def folder(cls) -> Path:
        return Path(str(resources.files(cls.__module__)))

    @classmethod
    def matrix_paths(cls) -> dict[str, Path]:
        return {Path(f).stem: cls.folder() / f for f in cls.matrices}

    @classmethod
    def block(cls, matrix: str, name: str) -> tuple:
        """The cells of the blocks named ``name`` in the study's matrix ``matrix``."""
        return block_cells(cls.matrix_paths()[matrix], name)


# -- deviations from the paper ------------------------------------------------------------------
DEVIATIONS_FILE = "deviations.yaml"


@dataclass(frozen=True)
class Deviation:
    """One way a study departs from its paper: ``paper`` (what the paper says, with its section or
    algorithm), ``ours`` (what the study does), ``why``, and ``moves_verdict`` (whether it can
    move a verdict: "yes: ..." or "no: ..."); ``matrix`` is the study matrix it concerns ("" = all)."""

    topic: str
    paper: str
    ours: str
    why: str
    moves_verdict: str
    matrix: str = ""


@functools.cache
def load_deviations(path: Path) -> tuple[Deviation, ...]:
    """The entries of a study's ``deviations.yaml`` (a list of mappings with Deviation's fields)."""
    from nasbench_harness.errors import ConfigError

    if not path.is_file():
        return ()
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    names = [f.name for f in fields(Deviation)]
    required = [n for n in names if n != "matrix"]
    out = []
    for i, entry in enumerate(doc if isinstance(doc, list) else [doc]):
        if not isinstance(entry, dict) or set(entry) - set(names) or any(not str(entry.get(k) or "").strip() for k in required):
            raise ConfigError(f"Deviation {i + 1} of {path} must be a mapping with the non-empty fields {', '.join(required)} (and optional matrix), nothing else.")
        if not str(entry["moves_verdict"]).startswith(("yes", "no")):
            raise ConfigError(f"Deviation {i + 1} of {path}: 'moves_verdict' must start with 'yes' or 'no' (can it move a verdict?).")
        out.append(Deviation(**{k: " ".join(str(v).split()) for k, v in entry.items()}))
    return tuple(out)


def checks_verdicts(ctx, module: str, rows: pd.DataFrame) -> list:
    """The verdicts of the checks ``module`` over ``rows`` (its matrix's own rows), computed once per
    report (``ctx.verdicts``): the section's panels and claims.json show the same objects."""
    if module not in ctx.verdicts:
        ctx.verdicts[module] = import_module(module).verdicts(rows, ctx)
    return ctx.verdicts[module]


def claim_panels(ctx, module: str, rows: pd.DataFrame, heading: str = "") -> str:
    """A section's claim panels (``ctx.verdict``) over its rows, from the verdicts claims.json holds."""
    return heading + "".join(ctx.verdict(v) for v in checks_verdicts(ctx, module, rows))


def studies() -> tuple[type[Study], ...]:
    """The registered studies, by name."""
    from nasbench_harness import registry

    return tuple(registry.load("studies", name) for name in registry.names("studies"))


def matrix_files() -> list:
    """Every study's matrix files with the registry entry of the study (``[(PluginInfo, Path)]``)."""
    from nasbench_harness import registry

    return [(registry.info("studies", s.name), path) for s in studies() for path in s.matrix_paths().values()]


def matrices() -> dict[str, Path]:
    """Every study's matrices by name."""
    return {name: path for s in studies() for name, path in s.matrix_paths().items()}


def published_files() -> dict[str, Path]:
    """Every study's published numbers by the name ``ctx.published`` takes."""
    return {name: s.folder() / f for s in studies() for name, f in s.published.items()}


def sections() -> list[tuple[type[Study], StudySection]]:
    return [(s, sec) for s in studies() for sec in s.sections]


def load_section(section: StudySection):
    return import_module(section.module)


# -- a study's own cells ------------------------------------------------------------------------
_CELL = ["protocol", "protocol_params", "task", "method", "budget"]


@functools.cache
def matrix_cells(path: Path) -> frozenset[tuple]:
    """The (protocol, protocol params, task, method, budget) of every cell the matrix expands to.

    Seeds are no part of a cell's place here, so the matrix is expanded with one seed (the loss
    study's 11,300 cells are 2,252 then: a tenth of the time), unless it refuses that override."""
    from nasbench_harness.errors import ConfigError
    from nasbench_harness.matrix import canonical_json, load_matrix

    try:
        cells = load_matrix(path, ["seeds=1"]).cells
    except ConfigError:
        cells = load_matrix(path).cells
    return frozenset((c.protocol, canonical_json(c.protocol_params), c.task, c.method, float(c.budget)) for c in cells)


@functools.cache
def block_cells(path: Path, name: str) -> tuple:
    """The cells of the blocks named ``name`` (``blocks: [{name: ..., ...}]``) of the matrix at ``path``,
    its includes aside: the part of a study a table is about, read from the matrix, not restated."""
    from nasbench_harness.errors import ConfigError
    from nasbench_harness.matrix import load_matrix

    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["blocks"] = [b for b in doc.get("blocks") or [] if isinstance(b, dict) and b.get("name") == name]
    if not doc["blocks"]:
        raise ConfigError(f"The matrix {path} has no block named '{name}'; name the block (name: {name}).")
    for key in ("include", "include_if_present"):
        doc.pop(key, None)
    with tempfile.TemporaryDirectory() as tmp:  # the part is expanded as a matrix of its own
        part = Path(tmp) / path.name
        part.write_text(yaml.safe_dump(doc), encoding="utf-8")
        return tuple(load_matrix(part).cells)


def _canonical_params(text) -> str:
    from nasbench_harness.matrix import canonical_json

    try:
        return canonical_json(json.loads(text or "{}"))
    except (TypeError, ValueError):
        return str(text)


def own_rows(results: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The rows of ``results`` whose cell (seed aside) is one the matrix at ``path`` expands to;
    compared by content, so rows of any matrix that ran the same cells (``full``) count."""
    if results.empty or not set(_CELL) <= set(results.columns):
        return results.iloc[0:0]
    params = results["protocol_params"].map({p: _canonical_params(p) for p in results["protocol_params"].unique()})
    budget = pd.to_numeric(results["budget"], errors="coerce").astype(float)
    keys = zip(results["protocol"].astype(str), params, results["task"].astype(str), results["method"].astype(str), budget)
    cells = matrix_cells(path)
    return results[[k in cells for k in keys]]
