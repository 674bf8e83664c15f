"""Every command and path the documentation names runs or resolves from a clone.

The README, the pages of docs/, the changelog, the studies' and the example plugin's READMEs name matrices
(`--matrix X`), scripts (`python tools/...`, `python -m nasbench_harness...`) and files of the
repository. Each must exist here: a figure whose matrix or script lives in a temporary
folder cannot be re-run by anyone else.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml
from nasbench_harness.matrix import builtin_matrices

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([
    ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md"),
    *(ROOT / "studies").glob("*/README.md"), *(ROOT / "examples").glob("*/README.md"),
])
TOP = ("harness", "methods", "tasks", "studies", "tools", "docs", "tests", "examples")
# Matrix names the docs use as stand-ins for the reader's own file.
PLACEHOLDERS = {"M", "NAME", "FILE", "my.yaml"}
# The changelog is history: it may name the files of its time (its commands are still checked).
REFERENCE = [d for d in DOCS if d.name != "CHANGELOG.md"]
# Files of the old layout a page names on purpose (docs/EXTENDING.md's "before" column).
FORMER = {"docs/EXTENDING.md": {"harness/report/sections/", "harness/report/sections/losses.py"}}

PATH_RE = re.compile(rf"(?<![\w./-])((?:{'|'.join(TOP)})/[\w./-]*\w/?)")
MATRIX_RE = re.compile(r"--matrix[ =]([^\s`'\")]+)")
MODULE_RE = re.compile(r"python -m (nasbench_harness[\w.]*)")
LINK_RE = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
TMP_FILE_RE = re.compile(r"/tmp/\S*\.(?:py|ya?ml)\b")


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def _text(doc: Path) -> str:
    return doc.read_text(encoding="utf-8")


def _resolves(token: str) -> bool:
    """A path of the repository, a test id (``file::test``) or a module attribute (``tasks/encodings.columns_read``)."""
    path = token.split("::")[0]
    return (ROOT / path).exists() or (ROOT / f"{path.rsplit('.', 1)[0]}.py").is_file()


@pytest.mark.parametrize("doc", REFERENCE, ids=_ids(REFERENCE))
def test_named_repository_paths_exist(doc):
    former = FORMER.get(str(doc.relative_to(ROOT)), set())
    missing = {p for p in PATH_RE.findall(_text(doc)) if p not in former and not _resolves(p)}
    assert not missing, f"{doc.name} names files that are not in the repository: {sorted(missing)}"


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_markdown_links_resolve(doc):
    targets = [t for t in LINK_RE.findall(_text(doc)) if "://" not in t]
    missing = [t for t in targets if not (doc.parent / t).exists()]
    assert not missing, f"{doc.name} links to missing files: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_matrices_in_commands_resolve(doc):
    names = set(builtin_matrices())
    used = {m for m in MATRIX_RE.findall(_text(doc)) if m not in PLACEHOLDERS}
    missing = [m for m in used if m not in names and not (ROOT / m).is_file()]
    assert not missing, f"{doc.name} runs matrices that are neither built in nor files of the repository: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_modules_in_commands_exist(doc):
    missing = [m for m in MODULE_RE.findall(_text(doc)) if importlib.util.find_spec(m.rstrip(".")) is None]
    assert not missing, f"{doc.name} runs modules that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_no_script_or_matrix_in_a_temporary_folder(doc):
    found = TMP_FILE_RE.findall(_text(doc))
    assert not found, f"{doc.name} cites files in a temporary folder: {found}; put them in the repository (tools/)"


def test_readme_describes_full_as_its_matrix_holds():
    """README's row for `full` names its cell count (docs/FULL.md's tested table) and every included study at its seeds."""
    row = next(line for line in _text(ROOT / "README.md").splitlines() if line.startswith("| — | `full`"))
    full = _text(ROOT / "docs" / "FULL.md")
    total = re.search(r"^\| total \| ([\d,]+) \|$", full, re.M).group(1)
    assert f"{total} cells" in row
    spec = yaml.safe_load(builtin_matrices()["full"].read_text())
    for inc in spec["include"]:
        seeds = next(s.split("=")[1] for s in inc["set"] if s.startswith("seeds="))
        assert f"`{inc['matrix']}` ({seeds})" in row, f"README's full row does not say {inc['matrix']} runs at {seeds} seeds"
    tasks = {t for b in spec["blocks"] for t in b.get("tasks", spec["tasks"])}
    assert tasks == {"*"} and "built-in tasks" in row
