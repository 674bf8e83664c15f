"""The ``ctx`` object handed to report sections: small, stable helpers that return HTML.

A section (a study's, ``studies/``, or a plugin's, see ``harness/report/sections.py``) is a
module with ``render(results, ctx) -> str | None``. ``results`` holds the stored rows it
shows (a study's section: its own cells; ``status`` is ``ok`` or ``failed``). Every helper returns an HTML fragment (a ``str``)
that the section concatenates and returns; all text is escaped for you.

API (keyword arguments are optional):

``ctx.aggregate(results, by=[...], metrics=[...]) -> DataFrame``
    Mean and sample std (ddof=1) over the ok rows of each ``by`` group: the ``by``
    columns, ``n``, ``keys`` (run keys, ";"-joined), ``n_train`` (mean),
    ``<metric>.mean`` and ``<metric>.std``. ``metrics=None`` takes every metric column.
``ctx.table(df, caption=None, sortable=True, fmt=None, best=None, csv="table.csv", max_rows=None, labels=None, csv_file=False) -> str``
    An HTML table. ``<m>.mean``/``<m>.std`` column pairs are merged into one "mean ± std"
    column headed by the metric's label and grouped by metric family. ``fmt``: a format
    spec (".3f"), a dict {column: spec or callable}, or a callable for every number
    (default: decimals chosen per column). ``best=True`` highlights the best value of each
    metric column (direction from ``ctx.metric_info``); a dict {column: higher_is_better}
    chooses columns and directions. A ``keys`` column becomes a tooltip on ``n`` and is
    kept in the downloadable CSV (``csv=None`` for no download link). ``labels`` renames
    headers ({column: label}); ``max_rows`` caps the rows shown (the CSV keeps all).
    ``csv_file``: the CSV goes into ``ctx.files`` (written beside the page, linked by its
    name) instead of into the page as a data URI: for a leaderboard's table of every result row
    (leaderboard pages write their files; other pages keep data URIs).
    Clicking a header sorts when ``sortable``.
``ctx.tabs({label: html, ...}, title="", active=-1) -> str``
    Switchable panels (e.g. one table per budget), like the leaderboards' budget selector.
``ctx.figure(fig, caption=None, fmt="svg", tight=True) -> str``
    Embed a matplotlib Figure inline (base64 SVG or PNG) and close it; ``tight`` trims
    the margins (one extra draw).
``ctx.metric_info(name) -> MetricInfo``
    ``.label``, ``.higher_is_better``, ``.group``, ``.description`` of a metric column.
``ctx.metric_columns(results) -> list[str]``
    The metric columns present in ``results``, in display order.
``ctx.published(name) -> object``
    The parsed published numbers ``name`` of a study (``studies/<study>/published*.yaml``:
    numbers typed from a paper).
``ctx.check(claim, passed, evidence) -> str``
    A claim check box: passed True (reproduced), False (not reproduced), None (not enough
    results to tell) or ``NOT_APPLICABLE`` (the claim's premise does not hold in our
    results, so it cannot be tested); ``evidence`` says which numbers decided it. The report's overview
    counts every check and links to it.
``ctx.rank_test(rows, metric, blocks, method="method", what="") -> str``
    Friedman's test of the ``method`` values over paired ``blocks`` (e.g. ``["task", "seed"]``)
    on ``metric`` (direction from its declaration), with pairwise Wilcoxon-Holm tests and a
    critical-difference diagram (``stats.rank_test``, ``plots.cd_diagram``); an incomplete
    grid is reduced as ``stats.rank_test`` documents and the text says what was left out.
    ``what`` names the compared rows in the caption. Empty with fewer than two methods.
``ctx.verdict(v) -> str``
    A claim panel from a ``report.verdicts.Verdict`` (five levels, its sentence, rule, effect
    with its 95 % interval and parts; the studies' checks return them), with its level as a badge.
``ctx.note(text) -> str``
    A paragraph of explanatory text.
``ctx.color(method) -> str``
    The method's colour (hex), the same on every plot of the report.
``ctx.error_box(title, message) -> str``
    A short red box (what the report shows for a section that raised).
``ctx.format_budget(budget) -> str``, ``ctx.escape(text) -> str``, ``ctx.task(name)`` (the
    task definition or None).
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import yaml
from markupsafe import escape
from nasbench_harness.errors import ConfigError
from nasbench_harness.report import aggregate as agg_mod
from nasbench_harness.report.aggregate import MetricInfo

Fmt = str | Callable[[float], str] | Mapping[str, str | Callable[[float], str]] | None


def _auto_decimals(values: np.ndarray) -> int:
    finite = np.abs(values[np.isfinite(values)])
    if finite.size == 0:
        return 3
    if np.all(finite == np.round(finite)) and finite.max() >= 1:
        return 0
    top = finite.max()
    return 3 if top < 10 else 2 if top < 1000 else 0


def _formatter(spec: str | Callable[[float], str] | None, values: np.ndarray) -> Callable[[float], str]:
    if callable(spec):
        return spec
    if spec is None:
        spec = f",.{_auto_decimals(values)}f"
    return lambda v, s=spec: format(v, s)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _csv_bytes(df: pd.DataFrame) -> bytes:
    """The frame as CSV, written by Arrow's C++ writer (about 9x faster than ``DataFrame.to_csv``
    on a board's rows); pandas for what Arrow cannot type (mixed-type object columns)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
        try:
            options = pacsv.WriteOptions(quoting_style="needed")
        except TypeError:  # pyarrow < 15 quotes every string
            options = pacsv.WriteOptions()
        buf = io.BytesIO()
        pacsv.write_csv(table, buf, write_options=options)
        return buf.getvalue()
    except (pa.ArrowException, TypeError, ValueError):
        return df.to_csv(index=False).encode()


def _csv_link(df: pd.DataFrame, name: str) -> str:
    data = base64.b64encode(_csv_bytes(df)).decode()
    return (
        f'<a class="csv" download="{escape(name)}" href="data:text/csv;base64,{data}" '
        f'title="The aggregated numbers with the run keys they come from">CSV</a>'
    )


# A check whose premise does not hold in our results (it cannot pass or fail).
NOT_APPLICABLE = "not applicable"
SVG_SALT = "nasbench-harness"  # matplotlib's svg.hashsalt: element ids that do not change between builds
# A verdict level's check-box state (the overview counts states) and icon.
VERDICT_STATE = {
    "reproduced": ("pass", "✓"),
    "direction_agrees": ("agree", "≈"),
    "direction_disagrees": ("disagree", "≉"),
    "contradicted": ("fail", "✗"),
    "insufficient_evidence": ("unknown", "?"),
}


class ReportContext:
    """Helpers for rendering; one per report build (holds the palette and task lookups)."""

    def __init__(self, results: pd.DataFrame, palette: Mapping[str, str] | None = None) -> None:
        self.results = results
        self.palette = dict(palette or {})
        self._table_counter = 0
        self.files: dict[str, bytes] = {}  # files a page links to by name (csv_file tables), written beside it
        self.checks: list[dict] = []  # every claim check rendered, for the overview's summary
        self.verdicts: dict[str, list] = {}  # checks module -> its claims' Verdicts (panels and claims.json)
        self.section: tuple[str, str] = ("", "")  # (title, anchor) of the section rendering now

    # -- data --------------------------------------------------------------------------
    def aggregate(self, results: pd.DataFrame, by: list[str], metrics: list[str] | None = None) -> pd.DataFrame:
        return agg_mod.aggregate(results, list(by), metrics)

    def metric_info(self, name: str) -> MetricInfo:
        return agg_mod.metric_info(name)

    def metric_columns(self, results: pd.DataFrame) -> list[str]:
        return agg_mod.metric_columns(results)

    def published(self, name: str) -> Any:
        from nasbench_harness.studies import published_files

        known = published_files()
        if name not in known:
            raise ConfigError(
                f"No published numbers named '{name}'; a study declares them in its `published` "
                f"(known: {', '.join(sorted(known)) or 'none'})."
            )
        try:
            return yaml.safe_load(known[name].read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{known[name]} is not valid YAML ({exc}); fix the file.") from None

    def task(self, name: str):
        try:
            from nasbench_harness.tasks.catalog import task_specs

            return task_specs().get(name)
        except Exception:  # noqa: BLE001 - task definitions absent or broken: report still renders
            return None

    def color(self, method: str) -> str:
        return self.palette.get(method, "#777777")

    # -- text --------------------------------------------------------------------------
    @staticmethod
    def escape(text: Any) -> str:
        return str(escape(text))

    @staticmethod
    def format_budget(budget: float) -> str:
        return agg_mod.format_budget(budget)

    def note(self, text: str) -> str:
        return f'<p class="note">{escape(text)}</p>'

    def check(self, claim: str, passed: bool | None | str, evidence: str) -> str:
        state, icon, word = (
            ("na", "–", "not applicable")
            if passed == NOT_APPLICABLE
            else ("unknown", "?", "not enough results")
            if passed is None
            else ("pass", "✓", "reproduced")
            if passed
            else ("fail", "✗", "not reproduced")
        )
        anchor = f"check-{len(self.checks) + 1}"
        self.checks.append({"claim": claim, "state": state, "icon": icon, "anchor": anchor, "section": self.section[0], "page": self.section[1]})
        return (
            f'<div class="check {state}" id="{anchor}"><span class="icon" aria-hidden="true">{icon}</span>'
            f'<div><div class="claim">{escape(claim)} <span class="verdict">{word}</span></div>'
            f'<div class="evidence">{escape(evidence)}</div></div></div>'
        )

    def verdict(self, v) -> str:
        """A claim panel rendered from a ``verdicts.Verdict`` (the same object claims.json holds):
        the paper's sentence, the verdict level as a badge, the rule, the effect and the parts."""
        from nasbench_harness.report.verdicts import panel_parts

        state, icon = VERDICT_STATE[v.verdict]
        anchor = f"check-{len(self.checks) + 1}"
        self.checks.append(
            {"claim": f"{v.study}/{v.claim}", "state": state, "icon": icon, "anchor": anchor, "section": self.section[0], "page": self.section[1], "verdict": v.verdict}
        )
        lines = "".join(f"<li>{escape(line)}</li>" for line in panel_parts(v, self.format_budget))
        return (
            f'<div class="check {state}" id="{anchor}" data-claim="{escape(v.study)}/{escape(v.claim)}">'
            f'<span class="icon" aria-hidden="true">{icon}</span><div>'
            f'<div class="claim">“{escape(v.sentence)}” <span class="badge verdict-{v.verdict}">{v.verdict.replace("_", " ")}</span></div>'
            f'<div class="evidence"><ul>{lines}</ul></div></div></div>'
        )

    def deviations(self, entries) -> str:
        """A collapsible "Deviations from the paper" panel listing a study's ``studies.Deviation``s
        (what the paper says, what we do, why, whether it can move a verdict); "" for none."""
        if not entries:
            return ""
        labels = ("The paper", "We", "Why", "Can it move a verdict?")
        items = "".join(
            f'<div class="deviation"><div class="topic">{escape(d.topic)}</div><dl>'
            + "".join(f"<dt>{label}</dt><dd>{escape(text)}</dd>" for label, text in zip(labels, (d.paper, d.ours, d.why, d.moves_verdict), strict=True))
            + "</dl></div>"
            for d in entries
        )
        return f'<details class="deviations"><summary>Deviations from the paper ({len(entries)})</summary>{items}</details>'

    def tabs(self, panels: Mapping[str, str], title: str = "", active: int = -1) -> str:
        if not panels:
            return ""
        active = active % len(panels)
        buttons = "".join(
            f'<button type="button" data-tab="{i}" class="{"active" if i == active else ""}">{escape(label)}</button>'
            for i, label in enumerate(panels)
        )
        bodies = "".join(
            f'<div class="tabpanel{" active" if i == active else ""}" data-panel="{i}">{html}</div>'
            for i, html in enumerate(panels.values())
        )
        lbl = f'<span class="lbl">{escape(title)}</span>' if title else ""
        return f'<div class="tabs"><div class="tabbar">{lbl}{buttons}</div>{bodies}</div>'

    def error_box(self, title: str, message: str) -> str:
        return f'<div class="error-box"><strong>{escape(title)}</strong> {escape(message)}</div>'

    def rank_test(self, rows: pd.DataFrame, metric: str, blocks: list[str], *, method: str = "method", what: str = "") -> str:
        from nasbench_harness.report import stats

        hib = {t: bool(getattr(self.task(t), "higher_is_better", True)) for t in rows["task"].unique()} if "task" in rows else {}
        return self.show_rank_test(stats.rank_test_rows(rows, metric, list(blocks), method=method, task_hib=hib), blocks, what)

    def show_rank_test(self, test, blocks: list[str], what: str = "") -> str:
        """The HTML of a computed ``stats.RankTest`` (see ``rank_test``)."""
        from nasbench_harness.report import plots, stats

        if len(test.methods) < 2 or test.n_blocks == 0:
            return ""
        label = self.metric_info(test.metric).label
        caption = (
            f"Critical-difference diagram{f' of {what}' if what else ''}: mean rank on {label} over {test.n_blocks} paired "
            f"blocks ({', '.join(blocks)}); a bar joins methods that the Wilcoxon signed-rank tests, Holm-corrected, do not "
            f"separate at α = {test.alpha:g}" + ("" if test.rejects else " (the Friedman test does not reject, so none is separated)") + "."
        )
        pairs = test.pairs.rename(columns={"a": "better mean rank", "b": "worse mean rank", "p": "Wilcoxon p", "p_holm": "Holm p"})
        table = self.table(pairs, f"Pairwise Wilcoxon signed-rank tests on {label}", fmt={"Wilcoxon p": ".3g", "Holm p": ".3g"},
                           csv=_slug(f"rank-test-{what}-{test.metric}") + ".csv", max_rows=300)
        return (self.note(f"{test.describe(label)} {stats.INCOMPLETE_GRID}") + self.figure(plots.cd_diagram(test, self.palette), caption)
                + f"<details><summary>{len(test.pairs):,} pairwise tests</summary>{table}</details>")

    # -- figures -----------------------------------------------------------------------
    def figure(self, fig, caption: str | None = None, fmt: str = "svg", *, tight: bool = True) -> str:
        buf = io.BytesIO()
        # "tight" costs a second draw: skip it when a layout engine or the caller fitted the figure.
        bbox = "tight" if tight and fig.get_layout_engine() is None else None
        if fmt == "svg":
            import matplotlib as mpl

            # no date and fixed element ids: an unchanged figure is the same bytes in the next build
            with mpl.rc_context({"svg.hashsalt": SVG_SALT}):
                fig.savefig(buf, format="svg", bbox_inches=bbox, metadata={"Date": None})
            mime = "image/svg+xml"
        else:
            fig.savefig(buf, format="png", dpi=110, bbox_inches=bbox, metadata={"Software": None})
            mime = "image/png"
        _close(fig)
        return self._embed(buf.getvalue(), mime, caption)

    def svg_figure(self, svg: str, caption: str | None = None) -> str:
        """An SVG document written without matplotlib (``svgplot``), embedded as ``figure`` embeds one."""
        return self._embed(svg.encode(), "image/svg+xml", caption)

    @staticmethod
    def _embed(data: bytes, mime: str, caption: str | None) -> str:
        cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
        alt = escape(caption or "figure")
        return f'<figure><img src="data:{mime};base64,{base64.b64encode(data).decode()}" alt="{alt}">{cap}</figure>'

    # -- tables ------------------------------------------------------------------------
    def table(
        self,
        df: pd.DataFrame,
        caption: str | None = None,
        *,
        sortable: bool = True,
        fmt: Fmt = None,
        best: bool | Mapping[str, bool] | None = None,
        csv: str | None = "table.csv",
        max_rows: int | None = None,
        labels: Mapping[str, str] | None = None,
        csv_file: bool = False,
    ) -> str:
        """See the module docstring; returns ``<div class="table-wrap">…</div>``."""
        self._table_counter += 1
        columns = _display_columns(df)
        labels = dict(labels or {})
        best_dirs = _best_directions(columns, best)
        shown = df if max_rows is None else df.head(max_rows)
        numeric = [k == "metric" or _numeric(df[n]) for n, k in columns]
        head = _header_html(columns, labels, sortable, numeric)
        cells = [self._column_cells(df, shown, col, fmt, best_dirs.get(col[0])) for col in columns]
        keys_title = _keys_titles(shown) if "keys" in df.columns else None
        body = []
        for i in range(len(shown)):
            tds = []
            for col, column_cells in zip(columns, cells, strict=True):
                td = column_cells[i]
                if col[0] == "n" and keys_title is not None:
                    td = td.replace("<td", f'<td title="{keys_title[i]}"', 1)
                tds.append(td)
            body.append(f"<tr>{''.join(tds)}</tr>")
        more = ""
        if max_rows is not None and len(df) > max_rows:
            more = f'<p class="more">Showing {max_rows:,} of {len(df):,} rows; the CSV has all of them.</p>'
        bar = ""
        if caption or csv:
            link = self._csv_file_link(df, csv) if csv and csv_file else _csv_link(df, csv) if csv else ""
            bar = f'<div class="table-bar"><span class="caption">{escape(caption or "")}</span>{link}</div>'
        cls = "board sortable" if sortable else "board"
        return (
            f'<div class="table-wrap">{bar}<div class="scroll"><table class="{cls}">'
            f"<thead>{head}</thead><tbody>{''.join(body)}</tbody></table></div>{more}</div>"
        )

    def _csv_file_link(self, df: pd.DataFrame, name: str) -> str:
        self.files[name] = _csv_bytes(df)
        return (f'<a class="csv" download="{escape(name)}" href="{escape(name)}" '
                'title="Every row, in a CSV file beside this page">CSV</a>')

    def _column_cells(self, df, shown, col, fmt, hib: bool | None) -> list[str]:
        name, kind = col
        spec = fmt.get(name) if isinstance(fmt, Mapping) else fmt
        if kind == "metric":
            means = pd.to_numeric(shown[f"{name}.mean"], errors="coerce").to_numpy(dtype=float)
            stds = pd.to_numeric(shown[f"{name}.std"], errors="coerce").to_numpy(dtype=float)
            full = pd.to_numeric(df[f"{name}.mean"], errors="coerce").to_numpy(dtype=float)
            f = _formatter(spec, full)
            best = _best_mask(means, hib)
            out = []
            for m, s, b in zip(means, stds, best, strict=True):
                if not math.isfinite(m):
                    out.append('<td class="num" data-v="">—</td>')
                    continue
                sd = f'<span class="sd">± {f(s)}</span>' if math.isfinite(s) else ""
                cls = "num best" if b else "num"
                out.append(f'<td class="{cls}" data-v="{float(m):.7g}">{f(m)}{sd}</td>')
            return out
        series = shown[name]
        # object columns may still hold only numbers; typed columns say so by their dtype
        values = series.to_numpy(dtype=object)
        if len(values) and (
            _numeric(series)
            or (series.dtype == object and all(_is_num(v) or v is None or (isinstance(v, float) and math.isnan(v)) for v in values))
        ):
            arr = pd.to_numeric(shown[name], errors="coerce").to_numpy(dtype=float)
            f = _formatter(spec, pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float))
            best = _best_mask(arr, hib)
            return [
                f'<td class="num{" best" if b else ""}" data-v="{float(v):.7g}">{f(v)}</td>'
                if math.isfinite(v)
                else '<td class="num" data-v="">—</td>'
                for v, b in zip(arr, best, strict=True)
            ]
        texts = ["" if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else str(v) for v in values]
        # Long text (errors, version strings) wraps instead of widening the whole table.
        wrap = ' class="wrap"'
        return [f"<td{wrap if len(t) > 60 else ''}>{escape(t)}</td>" for t in texts]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9@.]+", "-", text).strip("-").lower()


def _close(fig) -> None:
    try:
        import matplotlib.pyplot as plt

        plt.close(fig)
    except Exception:  # noqa: BLE001, S110 - a pyplot-free Figure needs no closing
        pass


def _display_columns(df: pd.DataFrame) -> list[tuple[str, str]]:
    """(name, kind) per shown column: mean/std pairs merge into one 'metric' column."""
    cols: list[tuple[str, str]] = []
    names = set(df.columns)
    for c in df.columns:
        if c == "keys" or (c.endswith(".std") and c[:-4] + ".mean" in names):
            continue
        if c.endswith(".mean") and c[:-5] + ".std" in names:
            cols.append((c[:-5], "metric"))
        else:
            cols.append((c, "plain"))
    return cols


def _best_directions(columns: list[tuple[str, str]], best) -> dict[str, bool]:
    if not best:
        return {}
    if isinstance(best, Mapping):
        return {k: bool(v) for k, v in best.items()}
    return {name: agg_mod.metric_info(name).higher_is_better for name, kind in columns if kind == "metric"}


def _best_mask(values: np.ndarray, hib: bool | None) -> np.ndarray:
    mask = np.zeros(len(values), dtype=bool)
    finite = np.isfinite(values)
    if hib is None or finite.sum() < 2:
        return mask
    target = values[finite].max() if hib else values[finite].min()
    return finite & np.isclose(values, target, rtol=0, atol=1e-12)


def _numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def _header_html(columns: list[tuple[str, str]], labels: Mapping[str, str], sortable: bool, numeric: list[bool]) -> str:
    groups = [agg_mod.metric_info(n).group if k == "metric" else "" for n, k in columns]
    top = ""
    if len({g for g in groups if g}) > 1:
        spans = []
        for g in groups:
            if spans and spans[-1][0] == g:
                spans[-1][1] += 1
            else:
                spans.append([g, 1])
        top = (
            "<tr class='groups'>"
            + "".join(f'<th colspan="{n}" class="{"grp" if g else ""}">{escape(g)}</th>' for g, n in spans)
            + "</tr>"
        )
    ths = []
    for (name, kind), is_num in zip(columns, numeric, strict=True):
        info = agg_mod.metric_info(name) if kind == "metric" else None
        label = labels.get(name) or (info.label if info else name)
        tip = ""
        if info:
            arrow = "higher is better" if info.higher_is_better else "lower is better"
            tip = (
                f' title="{escape(info.description + " " if info.description else "")}({arrow}; mean ± std over seeds)"'
            )
            label = f"{label} {'↑' if info.higher_is_better else '↓'}"
        sort = ' data-sort="1" tabindex="0"' if sortable else ""
        cls = ' class="num"' if is_num else ""
        ths.append(f"<th{cls}{sort}{tip}>{escape(label)}</th>")
    return f"{top}<tr>{''.join(ths)}</tr>"


def _keys_titles(df: pd.DataFrame) -> list[str]:
    """Tooltip text per row: the short run keys it aggregates."""
    out = []
    for keys in df["keys"].astype(str).tolist():
        short = [k[:12] for k in keys.split(";") if k]
        text = "run keys: " + ", ".join(short[:30]) + (f" … (+{len(short) - 30})" if len(short) > 30 else "")
        out.append(str(escape(text)))
    return out


def concat(parts: Iterable[str | None]) -> str:
    """Join HTML fragments, skipping None."""
    return "".join(p for p in parts if p)
