"""Report section "Surrogates": the transferable-surrogate study (issue 10, matrix paper-surrogates).

Tests the three claims of "Transferrable Surrogates in Expressive NAS Search Spaces" (abstract
only; ``published/surrogates.yaml`` holds the claims and the tests fixed for them) on our spaces,
from three kinds of rows (contract: docs/SURROGATES.md):

- within-task prediction: the matrix's ``predict`` rows, one line per encoding family read from
  the ``encoding`` and ``predictor`` columns (never the label text): Kendall tau and Precision@T
  against the training size, mean and 95% t interval over seeds, and paired tests of GRAF+ZC
  against one-hot and each of its parts;
- cross-task prediction: ``transfer`` rows (mode predict; ``source_task``, ``target_shots``,
  ``baseline``): heat maps source x target of zero-shot tau beside the source-accuracy baseline
  and their difference, few-shot curves against the baseline, paired tests per pair;
- search: plain RE (strategy ``evolution`` of this matrix), the surrogate filter and the surrogate
  objective: anytime curves, final regret, queries to RE's final best and speed-ups, paired over
  seeds (same seed = same initial sample);
- one check per claim, each able to fail; "not applicable" when its rows are absent.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from nasbench_harness.report import stats, svgplot
from nasbench_harness.report.labels import validation_note
from nasbench_harness.studies.losses import search_section as search

RE, FILTER, OBJECTIVE = "evolution", "surrogate_filter", "surrogate_objective"
ENCODINGS = {"graf": "GRAF", "zc": "ZC", "graf+zc": "GRAF+ZC", "onehot": "one-hot"}
BASELINE = "source accuracy"
TAU = "kendall_tau"
MIN_TOP = 10  # Precision@T shown: the smallest T whose top T% holds at least this many evaluated cells
TOL = 1e-9  # "reached a level": within float noise of it
FMT = (
    {c: ".0f" for c in ("seeds", "queries", "budget", "n_train")}
    | {c: ".3f" for c in ("A (mean)", "B (mean)", "A − B", "final regret (mean)")}
    | {c: ".1f" for c in ("RE queries", "method queries")}
    | {c: ".2g" for c in ("paired t p", "Wilcoxon p")}
    | {c: ".2f" for c in ("speed-up (geo. mean)", "reached RE's final (share)")}
)
SUBSTITUTIONS = (
    "The claims are tested on our cell spaces ({spaces}), not on the paper's grammar space; an LM row whose params name "
    "no model_path was trained from scratch and is labelled 'LM (from scratch)'. Every substitution, and whether it can "
    "move a verdict: 'Deviations from the paper' at the top of this section."
)


# -- rows -------------------------------------------------------------------------------------
def _col(df: pd.DataFrame, name: str, default) -> pd.Series:
    return df[name] if name in df.columns else pd.Series(default, index=df.index)


def _ok(results: pd.DataFrame, protocol: str) -> pd.DataFrame:
    if results.empty or "protocol" not in results.columns:
        return results.iloc[0:0]
    return results[(results["protocol"] == protocol) & (_col(results, "status", "ok") == "ok")]


def _param(params, key: str, nested: str | None = None) -> str:
    """``key`` of a canonical-JSON params string (``nested``: inside that sub-object when present)."""
    try:
        obj = json.loads(params) if isinstance(params, str) and params else {}
    except ValueError:
        return ""
    if not isinstance(obj, dict):
        return ""
    if nested and isinstance(obj.get(nested), dict):
        obj = obj[nested]
    value = obj.get(key)
    return "" if value is None else str(value)


def encoding_key(encoding) -> str:
    """The encoding's family: parts sorted ("zc+graf" and "graf+zc" are one family) and each part's
    dataset qualifier dropped ("zc.svhn", the proxies of SVHN, is family "zc")."""
    return "+".join(sorted({p.split(".", 1)[0] for p in str(encoding or "").split("+") if p}))


def with_family(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``enc`` (normalised encoding; "lm", or "baseline" for source-accuracy rows), ``pretrained``
    (an LM row naming a checkpoint) and ``family`` (the display label of its line)."""
    df = df.copy()
    predictor = _col(df, "predictor", "").fillna("").astype(str)
    baseline = _col(df, "baseline", False).fillna(False).astype(bool) | (predictor == "none")
    lm = predictor == "lm"
    df["pretrained"] = lm & _col(df, "params", "").map(lambda p: _param(p, "model_path", "predictor") != "").astype(bool)
    df["enc"] = _col(df, "encoding", "").map(encoding_key).mask(lm, "lm").mask(baseline, "baseline")
    label = df["enc"].map(lambda e: ENCODINGS.get(e, e))
    label = label.mask(lm, np.where(df["pretrained"], "LM", "LM (from scratch)"))
    regressors = set(predictor[~lm & ~baseline])
    if len(regressors) > 1:  # several regressors: one line per (encoding, regressor)
        label = label.mask(~lm & ~baseline, label + " · " + predictor)
    df["family"] = label.mask(baseline, BASELINE)
    df["baseline"] = baseline
    return df


def within_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The ok ``predict`` rows (the study's own cells) with their encoding family."""
    return with_family(_ok(results, "predict"))


def transfer_rows(results: pd.DataFrame) -> pd.DataFrame:
    """Ok ``transfer`` rows of mode predict, with ``source``, ``shots`` and the family columns; of several
    source sizes per (source, target), the largest."""
    df = _ok(results, "transfer")
    if df.empty:
        return df
    params = _col(df, "protocol_params", "{}")
    mode = _col(df, "mode", None).fillna(params.map(lambda p: _param(p, "mode") or "predict"))
    df = with_family(df[mode == "predict"])
    df["source"] = _col(df, "source_task", None).fillna(_col(df, "protocol_params", "{}").map(lambda p: _param(p, "source")))
    df["shots"] = pd.to_numeric(_col(df, "target_shots", np.nan), errors="coerce").fillna(df["budget"]).astype(int)
    df["space"] = df["task"].str.split("/").str[0]
    n = pd.to_numeric(_col(df, "source_n", 0), errors="coerce").fillna(0)
    return df[n == n.groupby([df["source"], df["task"], df["baseline"]]).transform("max")]


def search_rows(results: pd.DataFrame, ctx) -> tuple[pd.DataFrame, dict]:
    """Search rows of the surrogate strategies and of the study's RE, largest budget per (task, method),
    with their values in each task's shown unit (``search.prepare``)."""
    df, units = search.prepare(results, ctx, [])
    if df.empty:
        return df, units
    df = df[df["strategy"].isin([FILTER, OBJECTIVE, RE])]
    top = df.groupby(["task", "method"])["budget"].transform("max")
    return df[df["budget"] == top], units


def precision_column(df: pd.DataFrame) -> str | None:
    """The Precision@T column shown for ``df``: the smallest T whose top T% holds MIN_TOP evaluated cells."""
    found = {}
    for c in df.columns:
        if c.startswith("precision@") and pd.to_numeric(df[c], errors="coerce").notna().any():
            try:
                found[float(c.split("@", 1)[1])] = c
            except ValueError:
                continue
    if not found:
        return None
    n = float(pd.to_numeric(_col(df, "n_eval", np.nan), errors="coerce").median())
    fits = [t for t in sorted(found) if not math.isfinite(n) or math.ceil(t * n / 100 - 1e-9) >= MIN_TOP]  # docs/METRICS.md's m
    return found[fits[0] if fits else max(found)]


# -- shared pieces ----------------------------------------------------------------------------
def _colour(ctx, g: pd.DataFrame) -> str:
    return ctx.color(str(g["method"].iloc[0])) if "method" in g.columns and len(g) else "#777777"


def ci_series(df: pd.DataFrame, x: str, y: str, ctx, *, dashed: bool = False) -> list[svgplot.Series]:
    """Mean and 95% t band over seeds of ``y`` against ``x``, one line per ``family`` (labelled
    with its number of seeds); the report's SVG line charts draw them (``svgplot``)."""
    if df.empty:
        return []
    table = df.pivot_table(index=["family", "seed"], columns=x, values=y, aggfunc="mean")
    out = []
    for family, wide in table.groupby(level="family", sort=True):
        wide = wide.dropna(axis=1, how="all")
        if wide.empty:
            continue
        m, lo, hi = stats.mean_ci_columns(wide.to_numpy(dtype=float))
        xs = wide.columns.to_numpy(dtype=float)
        ok = np.isfinite(m)
        colour = _colour(ctx, df[df["family"] == family])
        out.append(svgplot.Series(f"{family} (n={len(wide)})", colour, xs[ok], m[ok], lo[ok], hi[ok], dashed=dashed))
    return out


def _ci(p: stats.Paired) -> str:
    return f"[{p.low:+.3f}, {p.high:+.3f}]" if math.isfinite(p.low) else "—"


def verdict_of(p: stats.Paired, lower_is_better: bool, min_gain: float = 0.0) -> bool | None:
    """A better (True) / worse (False) when resolved over two or more seeds by at least ``min_gain``; else None."""
    better = p.a_better(lower_is_better) if p.n >= 2 else None
    return None if better is not None and abs(p.diff) < min_gain else better


def pair_record(p: stats.Paired, a: str, b: str, lower_is_better: bool, min_gain: float = 0.0, **keys) -> dict:
    """One row of a paired-comparison table: A − B over common seeds, interval, p-values, verdict
    (a resolved difference smaller than ``min_gain`` is a tie); ``v`` holds ``verdict_of``."""
    v = verdict_of(p, lower_is_better, min_gain)
    verdict = ("too few seeds" if p.n < 2 else f"tie (|A − B| < {min_gain:g})" if v is None and p.resolved
               else p.verdict(a, b, lower_is_better))
    return {**keys, "A": a, "B": b, "seeds": p.n, "A (mean)": p.mean_a, "B (mean)": p.mean_b, "A − B": p.diff,
            "95% CI": _ci(p), "paired t p": p.p_t, "Wilcoxon p": p.p_wilcoxon, "verdict": verdict, "v": v}


INTERNAL = ("p", "v", "rival", "enc", "pretrained")  # record keys the checks read, not shown


def _paired_table(ctx, records: list[dict], caption: str, csv: str, summary: str | None = None) -> str:
    """The records' table; folded under ``summary`` when given (long tables the checks cite)."""
    if not records:
        return ""
    frame = pd.DataFrame([{k: v for k, v in r.items() if k not in INTERNAL} for r in records])
    table = ctx.table(frame, caption=caption, fmt=FMT, csv=csv, labels={"budget": "training cells"})
    return f"<details><summary>{ctx.escape(summary)}</summary>{table}</details>" if summary else table


# -- within-task ------------------------------------------------------------------------------
def _ci_frame(g: pd.DataFrame, metrics: list[str], ctx) -> pd.DataFrame:
    """One row per family: seeds, then "mean ± 95% half-width" of each metric at each training size."""
    out = g.groupby("family", sort=True)["seed"].nunique().rename("seeds").to_frame()
    for m in metrics:
        table = g.pivot_table(index=["family", "budget"], columns="seed", values=m, aggfunc="mean")
        mean, _, hi = stats.mean_ci_columns(table.to_numpy(dtype=float).T)
        text = pd.Series([
            "—" if not math.isfinite(v) else f"{v:.3f}" + (f" ± {h - v:.3f}" if math.isfinite(h) else "")
            for v, h in zip(mean, hi, strict=True)
        ], index=table.index).unstack("budget")
        text.columns = [f"{ctx.metric_info(m).label} · N={ctx.format_budget(b)}" for b in text.columns]
        out = out.join(text)
    return out.rename_axis("family").reset_index()


def curves_figure(ctx, g: pd.DataFrame, x: str, metrics: list[str], xlabel: str, title: str) -> str | None:
    """One panel per metric: ``ci_series`` of every family against ``x`` (an SVG document), a tick
    at each size run (not at decades)."""
    xs = g[x].to_numpy(dtype=float)
    panels = []
    for metric in metrics:
        series = ci_series(g, x, metric, ctx)
        if series:
            info = ctx.metric_info(metric)
            panels.append(svgplot.Panel(f"{info.label} {'↑' if info.higher_is_better else '↓'}", series))
    if not panels:
        return None
    log_x = bool(xs.min() > 0 and xs.max() / xs.min() >= 8)
    return svgplot.line_chart(panels, log_x=log_x, xticks=[(float(v), f"{v:g}") for v in np.unique(xs)], xlabel=xlabel, title=title)


def regressor_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df[~df["enc"].isin(["lm", "baseline"])]


def within_html(ctx, df: pd.DataFrame) -> str:
    panels = {}
    for task, g in df.groupby("task", sort=True):
        prec = precision_column(g)
        metrics = [m for m in (TAU, prec) if m and m in g.columns]
        x = "n_train" if g["n_train"].notna().all() else "budget"  # fractions asked: plot the counts they gave
        svg = curves_figure(ctx, g, x, metrics, "training architectures", task)
        n_eval = pd.to_numeric(_col(g, "n_eval", np.nan), errors="coerce").median()
        caption = f"{task}: mean and 95% t band over seeds." + (
            f" {ctx.metric_info(prec).label}: the smallest T whose top T% holds ≥ {MIN_TOP} of the {n_eval:,.0f} evaluated cells."
            if prec and math.isfinite(n_eval) else "")
        frame = _ci_frame(g, metrics, ctx)
        panels[task] = (ctx.svg_figure(svg, caption=caption) if svg else "") + ctx.table(
            frame, caption=f"{task}: mean ± 95% t half-width over seeds at each training size N", fmt=FMT,
            csv=f"surrogates-within-{task.replace('/', '-')}.csv")
    note = ctx.note("Each family is a regressor (or the LM) on one encoding, fitted on N sampled cells of the task and "
                    "judged on the rest of it; lines are read from the rows' encoding and predictor columns.")
    return "<h3>Within-task prediction</h3>" + note + ctx.tabs(panels, title="Task", active=0)


def within_pairs(df: pd.DataFrame, combined: str, rivals: list[str], metric: str = TAU,
                 by: tuple[str, ...] = ("task", "budget", "predictor"), min_gain: float = 0.0) -> list[dict]:
    """Family ``combined`` (an ``enc`` value) against each rival per ``by`` group, paired over seeds
    (rows of several regressors in one group are averaged per seed)."""
    if df.empty or combined not in set(df["enc"]):
        return []
    table = df.pivot_table(index=[*by, "seed"], columns="enc", values=metric, aggfunc="mean")
    out = []
    for key, wide in table.groupby(level=list(by), sort=True):
        keys = dict(zip(by, key, strict=True))
        keys["budget"] = float(keys["budget"])
        for rival in (r for r in rivals if r in wide.columns):
            p = stats.paired(wide[combined], wide[rival])
            if p.n:
                out.append(pair_record(p, _enc_label(combined), _enc_label(rival), False, min_gain, **keys) | {"p": p, "rival": rival})
    return out


def _enc_label(enc: str) -> str:
    return {**ENCODINGS, "lm": "LM"}.get(enc, enc)


# -- cross-task -------------------------------------------------------------------------------
def _zero_shot(df: pd.DataFrame, shots: int = 0) -> pd.DataFrame:
    return df[df["shots"] == shots]


def _heat(ax, mat: pd.DataFrame, title: str, cmap: str, vmin: float, vmax: float) -> None:
    ax.imshow(mat.to_numpy(dtype=float), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(mat.shape[1]), [c.split("/", 1)[-1] for c in mat.columns], rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(mat.shape[0]), [r.split("/", 1)[-1] for r in mat.index], fontsize=7)
    ax.grid(False)
    for (i, j), v in np.ndenumerate(mat.to_numpy(dtype=float)):
        if math.isfinite(v):
            t = (v - vmin) / (vmax - vmin) if vmax > vmin else 0.5
            dark = t < 0.45 if cmap == "viridis" else abs(t - 0.5) > 0.3  # white text on the maps' dark ends
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if dark else "#111827")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("target")


def heatmap_figure(surrogate: pd.DataFrame, baseline: pd.DataFrame, family: str):
    """Zero-shot tau of ``family`` | the source-accuracy baseline | their difference, source x target."""
    from matplotlib.figure import Figure

    rows = sorted(set(surrogate.index) | set(baseline.index))
    cols = sorted(set(surrogate.columns) | set(baseline.columns))
    s, b = surrogate.reindex(index=rows, columns=cols), baseline.reindex(index=rows, columns=cols)
    panels = [(s, family, "viridis")] + ([(b, BASELINE, "viridis"), (s - b, f"{family} − {BASELINE}", "RdBu")] if not b.empty else [])
    fig = Figure(figsize=(1.0 + len(panels) * (1.2 + 0.55 * len(cols)), 1.6 + 0.4 * len(rows)))
    axes = fig.subplots(1, len(panels), squeeze=False, gridspec_kw={"wspace": 0.45})[0]
    both = np.concatenate([s.to_numpy(dtype=float).ravel(), b.to_numpy(dtype=float).ravel()])
    lo, hi = (np.nanmin(both), np.nanmax(both)) if np.isfinite(both).any() else (0.0, 1.0)
    diff = np.nanmax(np.abs((s - b).to_numpy(dtype=float))) if not b.empty and np.isfinite((s - b).to_numpy(dtype=float)).any() else 1.0
    for ax, (mat, title, cmap) in zip(axes, panels, strict=True):
        span = (-diff, diff) if cmap == "RdBu" else (lo, hi)
        _heat(ax, mat, title, cmap, *span)
    axes[0].set_ylabel("source")
    return fig


def heatmaps_html(ctx, df: pd.DataFrame) -> str:
    z = _zero_shot(df)
    panels = {}
    for space, g in z.groupby("space", sort=True):
        base = g[g["baseline"]].pivot_table(index="source", columns="task", values=TAU, aggfunc="mean")
        for family, gf in g[~g["baseline"]].groupby("family", sort=True):
            mat = gf.pivot_table(index="source", columns="task", values=TAU, aggfunc="mean")
            caption = (f"{space}: zero-shot Kendall τ on the target (mean over seeds) of {family} trained on the source "
                       f"alone, of the source's own accuracy of each target cell ({BASELINE}), and the difference "
                       "(blue: the surrogate ranks better).")
            panels[f"{space} · {family}"] = ctx.figure(heatmap_figure(mat, base, family), caption=caption)
    if not panels:
        return ""
    return "<h4>Zero-shot: source x target</h4>" + ctx.tabs(panels, title="Space · surrogate", active=0)


def cross_pairs(df: pd.DataFrame, shots: int = 0, metric: str = TAU, min_gain: float = 0.0) -> list[dict]:
    """Each surrogate against the source-accuracy baseline per (source, target), paired over seeds
    (a baseline computed once, on a seed-independent evaluation set, pairs with every seed)."""
    out = []
    for (source, task), g in _zero_shot(df, shots).groupby(["source", "task"], sort=True):
        base = g[g["baseline"]].groupby("seed")[metric].mean()
        if base.empty:
            continue
        for family, gf in g[~g["baseline"]].groupby("family", sort=True):
            a = gf.groupby("seed")[metric].mean()
            b = pd.Series(base.iloc[0], index=a.index) if len(base) == 1 else base.reindex(a.index)
            p = stats.paired(a.to_numpy(), b.to_numpy())
            keys = {"source": source, "target": task}
            out.append(pair_record(p, family, BASELINE, False, min_gain, **keys) | {
                "p": p, "enc": gf["enc"].iloc[0], "pretrained": bool(gf["pretrained"].all())})
    return out


def fewshot_html(ctx, df: pd.DataFrame) -> str:
    if df["shots"].nunique() < 2:
        return ""
    panels = {}
    for task, g in df.groupby("task", sort=True):
        charts = []
        for source in sorted(g["source"].unique()):
            gs = g[g["source"] == source]
            series, base, hlines = ci_series(gs[~gs["baseline"]], "shots", TAU, ctx), gs[gs["baseline"]], ()
            if base["shots"].nunique() > 1:
                series += ci_series(base, "shots", TAU, ctx, dashed=True)
            elif len(base):
                hlines = (svgplot.HLine(f"{BASELINE} (zero-shot)", "#111827", float(base[TAU].mean())),)
            if series:
                charts.append(svgplot.Panel(f"source {source}", series, hlines))
        if not charts:
            continue
        svg = svgplot.line_chart(charts, log_x=False, xticks=None, xlabel="target cells added to training", ncols=3,
                                 ylabel="Kendall τ on the target ↑")
        panels[task] = ctx.svg_figure(svg, caption=f"Target {task}: τ against the number of target cells added to the "
                                      "source's training set; mean and 95% t band over seeds; dashed: the baseline.")
    if not panels:
        return ""
    return "<h4>Few-shot: τ against target shots</h4>" + ctx.tabs(panels, title="Target", active=0)


def same_as_baseline(records: list[dict], tol: float = 1e-3) -> list[str]:
    """(source → target) pairs on which every surrogate's mean τ is within ``tol`` of the baseline's."""
    pairs: dict[str, list[bool]] = {}
    for r in records:
        pairs.setdefault(f"{r['source']} → {r['target']}", []).append(abs(r["A − B"]) < tol)
    return [k for k, v in pairs.items() if all(v)]


def cross_html(ctx, df: pd.DataFrame, min_gain: float = 0.0) -> str:
    records = cross_pairs(df, min_gain=min_gain)
    table = _paired_table(ctx, records, "Zero-shot τ: surrogate (A) − source accuracy (B) per (source, target)",
                          "surrogates-cross-paired.csv", f"Paired tests against {BASELINE} ({len(records)} comparisons)")
    note = ctx.note(f"The cell's task is the target; '{BASELINE}' ranks the target's cells by the source task's own "
                    "accuracy of the same architectures, which a transferred surrogate must beat to be worth having.")
    same = same_as_baseline(records)
    if same:
        note += ctx.note(
            f"Zero-shot, every surrogate's τ equals the baseline's within 0.001 on {', '.join(same)}, so these pairs "
            "cannot tell a surrogate from the baseline. On the Suite-Zero targets (199 NB201 cells that the full datasets "
            "and each other label) the source labels every cell the target ranks, and a surrogate fitted on those labels "
            "reproduces the source's own ranking of them.")
    if min_gain:
        note += ctx.note(f"A resolved difference in τ smaller than {min_gain:g} counts as a tie (published/surrogates.yaml).")
    return "<h3>Cross-task prediction</h3>" + note + heatmaps_html(ctx, df) + fewshot_html(ctx, df) + table


# -- search -----------------------------------------------------------------------------------
def first_reach(curve: np.ndarray, level: float, lower_is_better: bool) -> float:
    """1-based query at which ``curve`` first reaches ``level`` (NaN when never)."""
    hit = curve <= level + TOL if lower_is_better else curve >= level - TOL
    return float(np.argmax(hit) + 1) if hit.any() else math.nan


def per_seed(g: pd.DataFrame, unit) -> dict[int, tuple[float, float, np.ndarray]]:
    """seed -> (final value, final regret, anytime curve), all in the task's shown unit."""
    return {int(r["seed"]): (float(r["final"]), float(r["regret_shown"]), search.curve_matrix(g.loc[[i]], unit).ravel())
            for i, r in g.drop_duplicates("seed").iterrows()}


def compare_to_re(re: dict, other: dict, lower: bool) -> dict:
    """Per common seed: regrets, queries to RE's final best (NaN when never), and the queries each run
    needed to reach the level both reached (the worse of the two finals)."""
    seeds = sorted(set(re) & set(other))
    out = {k: [] for k in ("seeds", "regret", "regret_re", "to_re_final", "n", "q_re", "q")}
    for s in seeds:
        (f_re, r_re, c_re), (f, r, c) = re[s], other[s]
        level = max(f_re, f) if lower else min(f_re, f)
        for key, value in zip(out, (s, r, r_re, first_reach(c, f_re, lower), c.size,
                                    first_reach(c_re, level, lower), first_reach(c, level, lower)), strict=True):
            out[key].append(value)
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def search_comparisons(df: pd.DataFrame, units: dict) -> list[dict]:
    """Every surrogate strategy's runs against RE's on the same target, paired over seeds."""
    out = []
    for task, rows in df.groupby("task", sort=True):
        unit, re = units[task], rows[rows["strategy"] == RE]
        if re.empty:
            continue
        re_seeds = per_seed(re, unit)
        others = [(str(m), g) for m, g in rows[rows["strategy"] != RE].groupby("method", sort=True)]
        for method, g in [(str(re["method"].iloc[0]), re), *others]:
            c = compare_to_re(re_seeds, per_seed(g, unit), unit.lower_is_better)
            out.append({"task": task, "method": method, "strategy": str(g["strategy"].iloc[0]), "unit": unit, "c": c,
                        "regret": stats.paired(c["regret"], c["regret_re"]),
                        "log_speedup": stats.paired(np.log(c["q_re"]), np.log(c["q"]))})
    return out


def _geo(p: stats.Paired, shift: float = 0.0) -> tuple[float, float, float]:
    return math.exp(p.diff + shift), math.exp(p.low + shift), math.exp(p.high + shift)


def speed_record(comp: dict) -> dict:
    """Queries RE and the method needed to reach their common level, and the speed-up, as geometric means."""
    p = comp["log_speedup"]  # log q_RE - log q_method, per seed
    g, lo, hi = _geo(p)
    better = p.a_better(False)
    verdict = "too few seeds" if p.n < 2 else "not resolved" if better is None else "faster than RE" if better else "slower than RE"
    return {"task": comp["task"], "method": comp["method"], "seeds": p.n, "RE queries": math.exp(p.mean_a),
            "method queries": math.exp(p.mean_b), "speed-up (geo. mean)": g,
            "95% CI": f"[{lo:.2f}, {hi:.2f}]" if math.isfinite(lo) else "—", "paired t p": p.p_t,
            "Wilcoxon p": p.p_wilcoxon, "verdict": verdict}


def search_tables(ctx, comps: list[dict]) -> str:
    finals, paired, speed = [], [], []
    for comp in comps:
        c, unit = comp["c"], comp["unit"]
        reached = np.isfinite(c["to_re_final"])
        med = stats.censored_median(np.where(reached, c["to_re_final"], c["n"]), reached)
        m, lo, hi, n = stats.mean_ci(c["regret"])
        finals.append({"task": comp["task"], "method": comp["method"], "seeds": n, "queries": float(np.nanmax(c["n"])),
                       "regret unit": unit.label, "final regret (mean)": m,
                       "95% CI": f"[{lo:.3f}, {hi:.3f}]" if math.isfinite(lo) else "—",
                       "reached RE's final (share)": reached.mean() if reached.size else math.nan,
                       "queries to RE's final (KM median)": f"{med:g}" if med is not None else f"> {np.nanmax(c['n']):g} (censored)"})
        if comp["strategy"] != RE:
            paired.append(pair_record(comp["regret"], comp["method"], "RE", True, task=comp["task"]))
            speed.append(speed_record(comp))
    note = ctx.note(
        "Final regret: distance of the found architecture's eval value to the task's global best, in the task's shown "
        "unit. Queries to RE's final best: the first query at which a run's best-by-train architecture was as good as "
        "RE's final one on the same seed (right-censored at the run's own budget; Kaplan-Meier median). Speed-up: on "
        "each seed, the queries RE needed over the queries the method needed to reach the level both runs reached (the "
        "worse of their two final results); a log speed-up above zero means fewer queries than RE. Paired over seeds: "
        "95% paired-t interval, Wilcoxon p beside it; an interval covering zero is 'not resolved'.")
    return (note + ctx.table(pd.DataFrame(finals), caption="Final regret and queries to RE's final best", fmt=FMT,
                             csv="surrogates-search-final.csv")
            + _paired_table(ctx, paired, "Final regret: each surrogate strategy (A) − RE (B) on the same seeds",
                            "surrogates-search-paired.csv")
            + (ctx.table(pd.DataFrame(speed), caption="Speed-up over RE: geometric means over seeds", fmt=FMT,
                         csv="surrogates-search-speedup.csv") if speed else ""))


def search_html(ctx, df: pd.DataFrame, units: dict, comps: list[dict]) -> str:
    panels = {}
    for task, g in df.groupby("task", sort=True):
        fig = search.curve_figure(ctx, g, units[task], task)
        if fig is not None:
            panels[task] = ctx.figure(fig, caption=(
                f"{task}: {units[task].label} of the best-by-train architecture after each query; mean and 95% t band "
                "over seeds; dashed: the task's global best."),
                tight=False)
    if not panels:
        return ""
    tables = search_tables(ctx, comps) if comps else ""
    note = ctx.note(
        "RE: regularised evolution. Surrogate filter: RE that skips, without a query, every child a surrogate fitted on "
        "other tasks of the space ranks in its bottom q% of the target's pool. Surrogate objective: the pool ranked by "
        "that surrogate alone, queried from the top. Same seed = same initial sample (docs/SURROGATES.md).")
    return "<h3>Search with transferred surrogates</h3>" + note + ctx.tabs(panels, title="Target", active=0) + tables


# -- costs and intro --------------------------------------------------------------------------
def costs_html(ctx, within: pd.DataFrame, cross: pd.DataFrame) -> str:
    parts = [df.assign(block=name) for name, df in (("within-task", within), ("cross-task", cross)) if len(df)]
    if not parts:
        return ""
    rows = pd.concat(parts, ignore_index=True)
    metrics = [m for m in ("fit_seconds", "predict_seconds") if m in rows.columns]
    if not metrics:
        return ""
    agg = ctx.aggregate(rows, ["block", "family"], metrics).drop(columns="n_train", errors="ignore")
    return "<h3>Cost</h3>" + ctx.table(agg, caption="Wall time per cell (mean ± std over every task, size and seed)",
                                       csv="surrogates-cost.csv")


def _intro(ctx, results: pd.DataFrame, within, cross, search_df) -> str:
    failed = int((_col(results, "status", "ok") != "ok").sum())
    text = (f"{len(within):,} within-task, {len(cross):,} cross-task and {len(search_df):,} search runs"
            + (f" ({failed:,} failed cells left out; see Failed cells)" if failed else "")
            + ". Intervals are 95% Student-t intervals over seeds.")
    spaces = sorted({str(t).split("/", 1)[0] for d in (within, cross, search_df) if len(d) for t in d["task"]})
    return ctx.note(text) + ctx.note(SUBSTITUTIONS.format(spaces=", ".join(spaces)))


def rank_test_html(ctx, within: pd.DataFrame) -> str:
    """The within-task methods ranked by Kendall tau over every (task, budget, seed) they share
    (Friedman, Wilcoxon-Holm, critical-difference diagram)."""
    html = ctx.rank_test(within, TAU, ["task", "budget", "seed"], what="the within-task methods") if len(within) else ""
    return "<h3>Within-task methods ranked by Kendall τ</h3>" + html if html else ""


def render(results: pd.DataFrame, ctx) -> str | None:
    from nasbench_harness.studies.surrogates import checks  # they read this module's helpers

    within, cross = within_rows(results), transfer_rows(results)
    search_df, units = search_rows(results, ctx)
    if within.empty and cross.empty and search_df.empty:
        return None
    claims = (ctx.published("surrogates") or {})["claims"]
    comps = search_comparisons(search_df, units) if len(search_df) else []
    spec = claims["within_task"]
    within_records = (within_pairs(regressor_rows(within), spec["combined"], spec["rivals"], spec["metric"],
                                   min_gain=float(spec["min_gain"])) if len(within) else [])
    judged = pd.concat([d for d in (within, cross, search_df) if len(d)], ignore_index=True)
    parts = [
        _intro(ctx, results, within, cross, search_df),
        validation_note(ctx, judged, "Kendall τ, Precision@T and the search curves"),
        within_html(ctx, within) if len(within) else "",
        _paired_table(ctx, within_records, f"Within task: {_enc_label(spec['combined'])} (A) − each rival (B), Kendall τ, "
                      "per (task, size, regressor)", "surrogates-within-paired.csv",
                      f"Paired tests within task ({len(within_records)} comparisons)"),
        cross_html(ctx, cross, float(claims["across_tasks"]["min_gain"])) if len(cross) else "",
        search_html(ctx, search_df, units, comps) if len(search_df) else "",
        costs_html(ctx, within, cross),
        rank_test_html(ctx, within),
        checks.checks_html(ctx, results),
    ]
    return "".join(p for p in parts if p)
