"""The report's sections after the generic part: every registered study's sections, then
third-party sections.

A study's sections open with its "Deviations from the paper" panel (``ctx.deviations``), rendered
here from the study's declared ``deviations`` (those about the section's matrix and the whole
study), so no section builds it.

A study (``studies/``, entry-point group ``nasbench_harness.studies``) declares its sections;
each renders only the rows of its own study's cells (``studies.own_rows``). Third-party
packages can add a plain section under the entry point group
``nasbench_harness.report_sections`` (read by the one registry): a module that defines ``TITLE`` (str), optional
``ORDER`` (int, default 100; lower comes first) and ``render(results, ctx) -> str | None``
returning an HTML fragment built with the helpers documented in
``harness/report/context.py`` (None: nothing to show); it sees every row.

Sections render inside the report's matplotlib style (``plots.STYLE``). A section that
fails to import or raises while rendering is shown as a short error box; it never breaks
the rest of the report.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import pandas as pd

DEFAULT_ORDER = 100


@dataclass
class Section:
    """One section as discovered: its module (None when it failed to import) and order."""

    name: str
    title: str
    order: int
    module: ModuleType | None
    import_error: str = ""
    select: Callable[[pd.DataFrame], pd.DataFrame] | None = None  # the rows it shows (None: all)
    deviations: Callable[[], tuple] | None = None  # a study section's deviations from its paper

    @property
    def anchor(self) -> str:
        return "section-" + re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


@dataclass
class RenderedSection:
    name: str
    title: str
    anchor: str
    html: str
    error: str = ""  # one line: why the section could not be rendered


def _describe(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {frame[0].filename.rsplit('/', 1)[-1]}:{frame[0].lineno})" if frame else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _section_from(name: str, loader) -> Section:
    try:
        module = loader()
    except Exception as exc:  # noqa: BLE001 - a broken section must not break the report
        return Section(name, name, DEFAULT_ORDER, None, _describe(exc))
    title = str(getattr(module, "TITLE", name))
    try:
        order = int(getattr(module, "ORDER", DEFAULT_ORDER))
    except (TypeError, ValueError):
        order = DEFAULT_ORDER
    if not callable(getattr(module, "render", None)):
        return Section(name, title, order, None, "the module defines no render(results, ctx) function")
    return Section(name, title, order, module)


def _study_section(study, spec) -> Section:
    from nasbench_harness.studies import load_section, own_rows

    try:
        module = load_section(spec)
    except Exception as exc:  # noqa: BLE001 - a broken section must not break the report
        return Section(spec.name, spec.title, spec.order, None, _describe(exc))
    matrix = study.matrix_paths()[spec.matrix]
    return Section(
        spec.name, spec.title, spec.order, module, select=lambda results: own_rows(results, matrix),
        deviations=lambda: study.deviations(spec.matrix),
    )


def discover() -> list[Section]:
    """The registered studies' sections plus the registered report sections, sorted by (ORDER, name)."""
    from nasbench_harness import registry
    from nasbench_harness.studies import sections

    found = [_study_section(study, spec) for study, spec in sections()]
    found += [_section_from(name, lambda n=name: registry.load("report_sections", n)) for name in registry.names("report_sections")]
    return sorted(found, key=lambda s: (s.order, s.name))


def _report_style():
    import matplotlib as mpl
    from nasbench_harness.report.plots import STYLE

    return mpl.rc_context(STYLE)


def render_all(results: pd.DataFrame, ctx, sections: list[Section] | None = None) -> list[RenderedSection]:
    """Render every section; a failure becomes an error box in place of that section."""
    out = []
    for s in discover() if sections is None else sections:
        if s.module is None:
            error = f"could not be loaded: {s.import_error}"
            out.append(RenderedSection(s.name, s.title, s.anchor, ctx.error_box(f"Section {s.name}", error), error))
            continue
        ctx.section, n_checks = (s.title, s.anchor), len(ctx.checks)
        try:
            with _report_style():  # figures made by sections look like the report's own
                html = s.module.render(results if s.select is None else s.select(results), ctx)
            panel = ctx.deviations(s.deviations()) if s.deviations else ""
        except Exception as exc:  # noqa: BLE001 - shown as an error box instead
            del ctx.checks[n_checks:]  # their boxes are not shown
            error = f"failed: {_describe(exc)}"
            out.append(RenderedSection(s.name, s.title, s.anchor, ctx.error_box(f"Section {s.name}", error), error))
            continue
        html = drop_empty_headings(str(html or ""))
        if re.sub(r"<[^>]*>|\s", "", html):  # only headings and wrappers left: nothing to show
            out.append(RenderedSection(s.name, s.title, s.anchor, panel + html))
    return out


def drop_empty_headings(html: str) -> str:
    """Remove every heading followed only by blanks before a heading of its level or above,
    the end of its container or the end of the fragment (a heading with nothing under it)."""
    patterns = [
        re.compile(rf"<h{n}\b[^>]*>(?:(?!</h{n}).)*</h{n}\s*>(?:\s|<!--.*?-->)*(?=<h[1-{n}]\b|</(?:div|section|details)\s*>|\Z)", re.S | re.I)
        for n in range(1, 7)
    ]
    while True:  # dropping a sub-heading can leave its parent heading empty
        before = html
        for pattern in reversed(patterns):  # deepest level first
            html = pattern.sub("", html)
        if html == before:
            return html
