"""Metric-versus-budget line charts written as SVG text directly.

Every leaderboard has one, so a full-scale report draws hundreds: matplotlib spends ~0.15 s of
CPU on each (building the artists, laying out every tick label, the SVG backend), this writer
~3 ms. It draws only what the chart needs: per panel a title, axes with matplotlib's tick
choice (``MaxNLocator``, ``LogLocator``: the numbers a reader knows), a grid, one line, band and
markers per method, and one legend below. Text is text (the page's sans-serif font), numbers
are written with fixed decimals, so an unchanged chart is the same bytes in the next build.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

import numpy as np
import pandas as pd
from matplotlib.ticker import LogLocator, MaxNLocator

PT = 72  # SVG user units per inch (matplotlib's SVG uses points: sizes match its figures)
PANEL_W = 4.3 * PT
PLOT_H = 2.2 * PT  # the axes' height; the title above and the tick labels below add to it
TOP, LEFT, RIGHT = 24.0, 44.0, 12.0
FONT = "DejaVu Sans, Bitstream Vera Sans, Arial, Helvetica, sans-serif"
GRID, AXIS, TEXT = "#e5e7eb", "#333333", "#222222"
MAX_MARKERS = 400  # points per panel above which markers are left out (the lines still show the budgets)
LEGEND_ROW = 14.0
CHAR_W = 0.56  # mean glyph width in em of the sans-serif fonts, to size legend columns without font metrics


@dataclass(frozen=True)
class Series:
    """One line: x and its mean per point, with a band from ``lo`` to ``hi`` (finite means only)."""

    label: str
    colour: str
    x: np.ndarray
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    dashed: bool = False


@dataclass(frozen=True)
class HLine:
    """A dashed reference level across a panel (e.g. a baseline without an x axis of its own)."""

    label: str
    colour: str
    y: float


@dataclass(frozen=True)
class Panel:
    title: str
    series: list[Series]
    hlines: tuple[HLine, ...] = ()


def _f(v: float) -> str:
    return f"{v:.1f}"


def _text(x: float, y: float, s: str, *, size: float = 9, anchor: str = "middle", weight: str = "") -> str:
    lines = s.split("\n")
    w = f' font-weight="{weight}"' if weight else ""
    if len(lines) == 1:
        return f'<text x="{_f(x)}" y="{_f(y)}" font-size="{size:g}" text-anchor="{anchor}"{w}>{escape(s)}</text>'
    spans = "".join(f'<tspan x="{_f(x)}" dy="{0 if i == 0 else size * 1.15:.1f}">{escape(t)}</tspan>' for i, t in enumerate(lines))
    return f'<text x="{_f(x)}" y="{_f(y)}" font-size="{size:g}" text-anchor="{anchor}"{w}>{spans}</text>'


def _decimals(ticks: np.ndarray) -> int:
    """The fewest decimals (at most 6) that write every tick exactly (0.15 needs two, not one)."""
    ticks = np.asarray(ticks, dtype=float)
    scale = max(1.0, float(np.max(np.abs(ticks)))) if len(ticks) else 1.0
    return next((d for d in range(7) if np.allclose(np.round(ticks, d), ticks, rtol=0, atol=1e-9 * scale)), 6)


def _tick_label(v: float, decimals: int) -> str:
    text = f"{v:.{decimals}f}"
    return text.lstrip("-") if text.lstrip("-") == f"{0:.{decimals}f}" else text.replace("-", "−")  # no "−0.00"


def _limits(lo: float, hi: float, log: bool) -> tuple[float, float]:
    """matplotlib's default 5 % margins on each side (in log space on a log axis)."""
    if log:
        a, b = math.log10(lo), math.log10(hi)
        pad = 0.05 * (b - a) if b > a else 0.5
        return 10 ** (a - pad), 10 ** (b + pad)
    pad = 0.05 * (hi - lo) if hi > lo else (abs(lo) * 0.05 or 0.5)
    return lo - pad, hi + pad


def _ticks(lo: float, hi: float, log: bool) -> np.ndarray:
    if log:
        ticks = LogLocator(base=10).tick_values(lo, hi)
        ticks = ticks[(ticks >= lo) & (ticks <= hi)]
        if len(ticks) < 2:
            ticks = LogLocator(base=10, subs=(1.0, 2.0, 5.0)).tick_values(lo, hi)
            ticks = ticks[(ticks >= lo) & (ticks <= hi)]
        return ticks
    ticks = MaxNLocator(nbins=5).tick_values(lo, hi)
    return ticks[(ticks >= lo - 1e-12 * abs(hi - lo)) & (ticks <= hi + 1e-12 * abs(hi - lo))]


def _panel(p: Panel, x0: float, y0: float, *, log_x: bool, xticks: list[tuple[float, str]] | None, xlabel: str,
           ylabel: str = "", panel_w: float = PANEL_W) -> list[str]:
    """One panel's SVG elements, its axes' top left corner at (``x0`` + LEFT, ``y0`` + TOP)."""
    out: list[str] = []
    ax0, ax1, ay0, ay1 = x0 + LEFT, x0 + panel_w - RIGHT, y0 + TOP, y0 + TOP + PLOT_H
    if not p.series:  # nothing measured here: the title says which panel is empty
        return [_text((ax0 + ax1) / 2, ay0 - 9, p.title, size=10), _text((ax0 + ax1) / 2, (ay0 + ay1) / 2, "no values", size=9)]
    xs = np.concatenate([s.x for s in p.series])
    ys = np.concatenate([np.concatenate([s.mean, s.lo, s.hi]) for s in p.series] + [np.array([h.y for h in p.hlines])])
    ys = ys[np.isfinite(ys)]
    xlo, xhi = _limits(float(xs.min()), float(xs.max()), log_x)
    ylo, yhi = _limits(float(ys.min()), float(ys.max()), False)
    fx = (lambda v: np.log10(v)) if log_x else (lambda v: np.asarray(v, dtype=float))
    lx, hx = float(fx(xlo)), float(fx(xhi))

    def px(v):
        return ax0 + (fx(v) - lx) / (hx - lx) * (ax1 - ax0)

    def py(v):
        return ay1 - (np.asarray(v, dtype=float) - ylo) / (yhi - ylo) * (ay1 - ay0)

    yt = _ticks(ylo, yhi, False)
    yd = _decimals(yt)
    if xticks is None:
        xt = _ticks(xlo, xhi, log_x)
        xd = _decimals(xt)
        xticks = [(float(v), f"{v:,.0f}" if (log_x or v == int(v)) and abs(v) >= 1 else _tick_label(v, xd)) for v in xt]
    out.append(f'<g stroke="{GRID}" stroke-width="0.8">')
    out += [f'<line x1="{_f(ax0)}" x2="{_f(ax1)}" y1="{_f(float(py(v)))}" y2="{_f(float(py(v)))}"/>' for v in yt]
    out += [f'<line x1="{_f(float(px(v)))}" x2="{_f(float(px(v)))}" y1="{_f(ay0)}" y2="{_f(ay1)}"/>' for v, _ in xticks]
    out.append("</g>")
    for s in p.series:  # bands under lines under markers, as matplotlib's z-order had them
        ok = np.isfinite(s.lo) & np.isfinite(s.hi)  # no band where there is no spread (one seed)
        if ok.sum() >= 2:
            x, lo, hi = s.x[ok], s.lo[ok], s.hi[ok]
            band = np.concatenate([np.column_stack([px(x), py(lo)]), np.column_stack([px(x[::-1]), py(hi[::-1])])])
            out.append(f'<path d="M{"L".join(f"{_f(a)},{_f(b)}" for a, b in band)}Z" fill="{s.colour}" fill-opacity="0.15"/>')
    for h in p.hlines:
        out.append(f'<line x1="{_f(ax0)}" x2="{_f(ax1)}" y1="{_f(float(py(h.y)))}" y2="{_f(float(py(h.y)))}" stroke="{h.colour}" '
                   f'stroke-width="1" stroke-dasharray="4,2"><title>{escape(h.label)}</title></line>')
    for s in p.series:
        pts = "L".join(f"{_f(a)},{_f(b)}" for a, b in zip(px(s.x), py(s.mean), strict=True))
        dash = ' stroke-dasharray="5,2.5"' if s.dashed else ""
        out.append(f'<path d="M{pts}" fill="none" stroke="{s.colour}" stroke-width="1.6" stroke-linejoin="round"{dash}>'
                   f'<title>{escape(s.label)}</title></path>')
    if sum(len(s.x) for s in p.series) <= MAX_MARKERS:
        for s in p.series:
            out += [f'<circle cx="{_f(a)}" cy="{_f(b)}" r="1.7" fill="{s.colour}"/>' for a, b in zip(px(s.x), py(s.mean), strict=True)]
    out.append(f'<path d="M{_f(ax0)},{_f(ay0)}V{_f(ay1)}H{_f(ax1)}" fill="none" stroke="{AXIS}" stroke-width="0.8"/>')
    out.append(f'<g stroke="{AXIS}" stroke-width="0.8">')
    out += [f'<line x1="{_f(ax0 - 3.5)}" x2="{_f(ax0)}" y1="{_f(float(py(v)))}" y2="{_f(float(py(v)))}"/>' for v in yt]
    out += [f'<line x1="{_f(float(px(v)))}" x2="{_f(float(px(v)))}" y1="{_f(ay1)}" y2="{_f(ay1 + 3.5)}"/>' for v, _ in xticks]
    out.append("</g>")
    out += [_text(ax0 - 6, float(py(v)) + 3, _tick_label(v, yd), size=9, anchor="end") for v in yt]
    out += [_text(float(px(v)), ay1 + 14, label, size=7 if "\n" in label else 9) for v, label in xticks]
    rows = max(label.count("\n") + 1 for _, label in xticks) if xticks else 1
    if xlabel:
        out.append(_text((ax0 + ax1) / 2, ay1 + 18 + 9 * rows, xlabel))
    out.append(_text((ax0 + ax1) / 2, ay0 - 9, p.title, size=10))
    if ylabel:
        cy = (ay0 + ay1) / 2
        out.append(f'<text x="{_f(x0 + 9)}" y="{_f(cy)}" font-size="9" text-anchor="middle" transform="rotate(-90 {_f(x0 + 9)} {_f(cy)})">{escape(ylabel)}</text>')
    return out


def _legend(entries: list[Series | HLine], width: float, y0: float) -> tuple[list[str], float]:
    """One entry per label (a line with its marker, or dashed), in rows of equal columns centred
    under the panels; returns the elements and the legend's height."""
    if not entries:
        return [], 0.0
    n = len(entries)
    need = 30 + CHAR_W * 8 * max(len(s.label) for s in entries)  # swatch, gap and the longest label
    ncol = max(1, min(n if n <= 6 else 5, int(width // need)))
    col_w = min(width / ncol, need)
    left = (width - col_w * min(n, ncol)) / 2
    out = []
    for i, s in enumerate(entries):
        x, y = left + (i % ncol) * col_w, y0 + (i // ncol) * LEGEND_ROW
        dashed = isinstance(s, HLine) or s.dashed
        dash = ' stroke-dasharray="4,2"' if dashed else ""
        out.append(f'<path d="M{_f(x)},{_f(y)}h18" stroke="{s.colour}" stroke-width="1.6"{dash}/>')
        if isinstance(s, Series):
            out.append(f'<circle cx="{_f(x + 9)}" cy="{_f(y)}" r="1.7" fill="{s.colour}"/>')
        out.append(_text(x + 23, y + 3, s.label, size=8, anchor="start"))
    return out, LEGEND_ROW * (-(-n // ncol))


def line_chart(panels: list[Panel], *, log_x: bool, xticks: list[tuple[float, str]] | None, xlabel: str,
               ncols: int | None = None, ylabel: str | list[str] = "", title: str = "", panel_w: float = PANEL_W,
               xlabel_last_row: bool = False) -> str:
    """Panels in a grid (side by side unless ``ncols``) sharing one legend (every label once, in
    order of appearance), under an optional ``title``: the SVG document. ``ylabel``: one for the
    first column, or one per row; ``xlabel_last_row``: the x label under the bottom row only."""
    ncols = min(ncols or len(panels), len(panels))
    nrows = -(-len(panels) // ncols)
    ylabels = ylabel if isinstance(ylabel, list) else [ylabel] * nrows
    width = panel_w * ncols
    ticks_h = 18 + 9 * (max((label.count("\n") + 1 for _, label in xticks), default=1) if xticks else 1) + 14
    title_h = 18.0 if title else 0.0
    row_h = TOP + PLOT_H + ticks_h + 6
    entries = list({e.label: e for p in panels for e in [*p.series, *p.hlines]}.values())
    legend, legend_h = _legend(entries, width, title_h + row_h * nrows)
    height = title_h + row_h * nrows + legend_h + 4
    body: list[str] = [_text(width / 2, 13, title, size=10)] if title else []
    for i, p in enumerate(panels):
        row = i // ncols
        body += _panel(p, (i % ncols) * panel_w, title_h + row * row_h, log_x=log_x, xticks=xticks,
                       xlabel="" if xlabel_last_row and row < nrows - 1 else xlabel, ylabel=ylabels[row] if i % ncols == 0 else "",
                       panel_w=panel_w)
    return _document(width, height, [*body, *legend])


def _document(width: float, height: float, elements: list[str]) -> str:
    """The standalone SVG document (sizes in points, as matplotlib's) on a white background."""
    head = (f'<?xml version="1.0" encoding="utf-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="{_f(width)}pt" height="{_f(height)}pt" '
            f'viewBox="0 0 {_f(width)} {_f(height)}" font-family="{FONT}" fill="{TEXT}">')
    return "".join([head, '<rect width="100%" height="100%" fill="#ffffff"/>', *elements, "</svg>"])


def series_of(agg: pd.DataFrame, metric: str, x_col: str, colours: Mapping[str, str], *, band: bool = True) -> list[Series]:
    """Each method's mean of ``metric`` per ``x_col`` value from ``aggregate`` rows, by method name,
    with a ± std band (``band=False``: the means alone)."""
    mean_col, std_col = f"{metric}.mean", f"{metric}.std"
    if mean_col not in agg.columns:
        return []
    out = []
    for method, g in agg.sort_values(x_col).groupby("method", sort=True):
        x = g[x_col].to_numpy(dtype=float)
        m = g[mean_col].to_numpy(dtype=float)
        s = np.nan_to_num(g[std_col].to_numpy(dtype=float)) if band and std_col in g.columns else np.zeros(len(g))
        s = s if band else np.full(len(g), np.nan)  # NaN bounds: no band is drawn
        ok = np.isfinite(m) & np.isfinite(x)
        if ok.any():
            out.append(Series(str(method), colours.get(method, "#777777"), x[ok], m[ok], m[ok] - s[ok], m[ok] + s[ok]))
    return out


@dataclass(frozen=True)
class RankLine:
    """One method's ranks at the budgets it has (x: the budgets' positions); ``colour`` None: a grey line."""

    label: str
    colour: str | None
    x: np.ndarray
    rank: np.ndarray


def bump_chart(lines: list[RankLine], xlabels: list[str], n_max: int, *, xlabel: str, ylabel: str) -> str:
    """Ranks (1 at the top) across budgets in order: grey lines first, then the coloured ones with
    markers and their label at their last point. Sizes as the matplotlib chart it replaces."""
    nb = len(xlabels)
    width, height = (0.7 + 1.1 * nb + 1.9) * PT, min(9.0, 1.2 + 0.2 * n_max) * PT
    ax0, ax1, ay0, ay1 = 0.7 * PT, width - 1.9 * PT, 0.35 * PT, height - 0.55 * PT
    xlo, xhi, ylo, yhi = -0.15, nb - 0.85, 0.5, n_max + 0.5

    def px(v):
        return ax0 + (np.asarray(v, dtype=float) - xlo) / (xhi - xlo) * (ax1 - ax0)

    def py(v):  # rank 1 at the top
        return ay0 + (np.asarray(v, dtype=float) - ylo) / (yhi - ylo) * (ay1 - ay0)

    yt = [v for v in MaxNLocator(nbins=min(n_max, 10), integer=True).tick_values(1, n_max) if ylo <= v <= yhi]
    out = [f'<g stroke="{GRID}" stroke-width="0.8">']
    out += [f'<line x1="{_f(ax0)}" x2="{_f(ax1)}" y1="{_f(float(py(v)))}" y2="{_f(float(py(v)))}"/>' for v in yt]
    out.append("</g>")
    for line in sorted(lines, key=lambda r: r.colour is not None):  # grey under coloured
        pts = "L".join(f"{_f(a)},{_f(b)}" for a, b in zip(px(line.x), py(line.rank), strict=True))
        stroke, w = (line.colour, "2") if line.colour else ("#d1d5db", "0.8")
        out.append(f'<path d="M{pts}" fill="none" stroke="{stroke}" stroke-width="{w}" stroke-linejoin="round"><title>{escape(line.label)}</title></path>')
    for line in lines:
        if line.colour:
            out += [f'<circle cx="{_f(a)}" cy="{_f(b)}" r="2.1" fill="{line.colour}"/>' for a, b in zip(px(line.x), py(line.rank), strict=True)]
            x, y = float(px(line.x[-1])) + 6, float(py(line.rank[-1])) + 2.5
            out.append(f'<text x="{_f(x)}" y="{_f(y)}" font-size="7" fill="{line.colour}">{escape(line.label)}</text>')
    out.append(f'<path d="M{_f(ax0)},{_f(ay0)}V{_f(ay1)}H{_f(ax1)}" fill="none" stroke="{AXIS}" stroke-width="0.8"/>')
    out.append(f'<g stroke="{AXIS}" stroke-width="0.8">')
    out += [f'<line x1="{_f(ax0 - 3.5)}" x2="{_f(ax0)}" y1="{_f(float(py(v)))}" y2="{_f(float(py(v)))}"/>' for v in yt]
    out += [f'<line x1="{_f(float(px(i)))}" x2="{_f(float(px(i)))}" y1="{_f(ay1)}" y2="{_f(ay1 + 3.5)}"/>' for i in range(nb)]
    out.append("</g>")
    out += [_text(ax0 - 6, float(py(v)) + 3, f"{v:.0f}", size=9, anchor="end") for v in yt]
    out += [_text(float(px(i)), ay1 + 14, label, size=9) for i, label in enumerate(xlabels)]
    out.append(_text((ax0 + ax1) / 2, ay1 + 30, xlabel))
    cy = (ay0 + ay1) / 2
    out.append(f'<text x="{_f(14)}" y="{_f(cy)}" font-size="9" text-anchor="middle" transform="rotate(-90 14 {_f(cy)})">{escape(ylabel)}</text>')
    return _document(width, height, out)
