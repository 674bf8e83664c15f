"""The HTML report: leaderboards, rankings and plots rendered from the result store.

``build_report(results_dir, out_dir)`` writes a self-contained ``index.html`` (inline CSS
and JS, figures embedded, works offline) plus one page per comparison under
``out_dir/boards/`` and one per paper section under ``out_dir/studies/``. Every table
links a CSV of its numbers with the run keys they come from. The studies' sections
(``studies/``, each showing its own cells; see ``sections.py``) follow the generic part.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from importlib import resources
from pathlib import Path

import jinja2
import pandas as pd
from nasbench_harness.errors import ResultStoreError
from nasbench_harness.report import aggregate as A
from nasbench_harness.report import plots, stats
from nasbench_harness.report.context import ReportContext
from nasbench_harness.report.parallel import render_pages

__all__ = ["build_report"]

BOARDS_DIR = "boards"
STUDIES_DIR = "studies"  # one page per paper section (study), beside its place in the index
# Up to this many leaderboards the index shows each in full; past it (a full-scale report) the
# index lists them in one table linking to their pages, so that it stays short.
INDEX_FULL_BOARDS = 12


def build_report(
    results_dir: Path | str, out_dir: Path | str, *, title: str | None = None, jobs: int | None = None, reference: Path | str | None = None
) -> Path:
    """Render the report of ``results_dir`` into ``out_dir``; returns the written index.html.

    ``reference``: a reference store (``results/reference``) whose rows join and rank beside
    those of ``results_dir`` (which may also be a merge of both); every leaderboard row then
    says whether it is the reference's or local, with the local rows' code version, machine and date.

    ``jobs``: processes that render the study sections and leaderboards in parallel (forked,
    Linux; ``parallel.py``); default ``$NASBENCH_HARNESS_REPORT_JOBS`` or the CPU count, never
    more than one per ``parallel.MIN_BOARDS_PER_JOB`` boards. The pages are the same whatever
    ``jobs`` is.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    results, problems = A.load_results(results_dir, reference)
    ctx = ReportContext(results, plots.palette(results["method"].unique()))
    title = title or f"NAS predictor benchmark · {results_dir.resolve().name}"
    generated = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")

    boards, sections, called = render_pages(results, ctx, A.comparisons(results), None, _board, jobs,
                                            {"rankings": lambda: _rankings(results, ctx)})
    claims = _claims(results, ctx, problems)
    env = _environment()
    # relative to the report, so that a committed board names no machine's folders
    common = {"title": title, "generated": generated, "results_dir": os.path.relpath(results_dir.resolve(), out_dir.resolve())}
    index = env.get_template("index.html.j2").render(
        **common,
        overview=_overview(results, problems),
        palette=ctx.palette,
        provenance=_provenance(results, ctx),
        rankings=called["rankings"],
        boards=boards,
        compact=len(boards) > INDEX_FULL_BOARDS,
        failed=_failed(results, ctx),
        sections=sections,
        checks=_check_summary(ctx.checks),
    )
    try:
        written = set()
        for folder, template, key, items in (
            (BOARDS_DIR, "board.html.j2", "board", [(b["slug"], b) for b in boards]),
            (STUDIES_DIR, "study.html.j2", "section", [(s.anchor, s) for s in sections]),
        ):
            (out_dir / folder).mkdir(parents=True, exist_ok=True)
            for name, item in items:
                _write(out_dir / folder / f"{name}.html", env.get_template(template).render(**common, **{key: item}))
                written.add(f"{folder}/{name}.html")
                for file, data in sorted((item.get("files") or {}).items() if isinstance(item, dict) else ()):
                    _write(out_dir / folder / file, data)
                    written.add(f"{folder}/{file}")
        for stale in _previously_written(out_dir) - written:  # our pages of comparisons or studies no longer in the results
            (out_dir / stale).unlink(missing_ok=True)
        _write(out_dir / WRITTEN_LIST, json.dumps(sorted(written)))
        _write(out_dir / CLAIMS_FILE, json.dumps(claims, indent=1, default=_json_value))
        target = out_dir / "index.html"
        _write(target, index)
    except OSError as exc:
        raise ResultStoreError(
            f"Could not write the report to {out_dir} ({exc.strerror or exc}); pass a writable folder with --out DIR."
        ) from None
    return target


CLAIMS_FILE = "claims.json"  # every claim of every study with its verdict and evidence (report/verdicts.py)
WRITTEN_LIST = ".nbh-report-pages.json"  # the pages the last report wrote ("boards/x.html"): the only ones it may delete


def _previously_written(out_dir: Path) -> set[str]:
    """Pages the last report wrote and the CSV files beside them, as ``<folder>/<name>.html|.csv`` (a
    bare name is a board page, as reports before the study pages listed them); anything else in the
    list is ignored."""
    try:
        names = json.loads((out_dir / WRITTEN_LIST).read_text())
    except (OSError, ValueError):
        return set()
    out = set()
    for n in names if isinstance(names, list) else []:
        folder, _, name = n.rpartition("/") if isinstance(n, str) else ("", "", "")
        if name.endswith((".html", ".csv")) and not name.startswith(".") and folder in ("", BOARDS_DIR, STUDIES_DIR):
            out.add(f"{folder or BOARDS_DIR}/{name}")
    return out


FOLD_CHIPS = 24  # the index folds a list of methods or code digests longer than this into a <details>


def _environment() -> jinja2.Environment:
    folder = resources.files("nasbench_harness.report") / "templates"
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals["FOLD_CHIPS"] = FOLD_CHIPS
    return env


def _write(path: Path, content: str | bytes) -> None:
    """Atomic write: a reader never sees half a page."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content.encode("utf-8") if isinstance(content, str) else content)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a report is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _claims(results: pd.DataFrame, ctx: ReportContext, problems: list[str]) -> list[dict]:
    """One object per claim of every study (the same Verdicts the sections' panels show); a study
    whose checks raise is left out with a line in the overview's problems."""
    from nasbench_harness.studies import studies

    out = []
    for study in studies():
        try:
            out += [v.as_dict() for v in study.verdicts(results, ctx)]
        except Exception as exc:  # noqa: BLE001 - one study's broken check must not lose the report
            problems.append(f"The claims of the study '{study.name}' could not be judged ({type(exc).__name__}: {exc}); claims.json leaves them out.")
    return out


def _json_value(value):
    """numpy scalars as Python numbers (json cannot write them)."""
    return value.item() if hasattr(value, "item") else str(value)


# -- header -------------------------------------------------------------------------------
def _check_summary(checks: list[dict]) -> dict:
    """Counts of the paper-claim checks the sections rendered, by verdict."""
    counts = {state: sum(c["state"] == state for c in checks) for state in ("pass", "fail", "agree", "disagree", "unknown", "na")}
    # The five-level verdicts' own names (as in claims.json); a plugin section's binary
    # ``ctx.check`` says "not reproduced" / "not enough results", so mixed counts name both.
    binary = any("verdict" not in c for c in checks)
    labels = {
        "fail": "contradicted or not reproduced" if binary else "contradicted",
        "unknown": "insufficient evidence or not enough results" if binary else "insufficient evidence",
    }
    return {"items": checks, "labels": labels, **counts}


def _overview(results: pd.DataFrame, problems: list[str]) -> dict:
    ok = results["status"] == "ok"
    seeds = sorted(int(s) for s in results["seed"].dropna().unique())
    budgets = sorted(results["budget"].dropna().unique())
    matrices = results["matrix"].replace("", "(unnamed)").value_counts().sort_index()
    return {
        "cells": len(results),
        "ok": int(ok.sum()),
        "failed": int((~ok).sum()),
        "matrices": [f"{m} ({n:,})" for m, n in matrices.items()],
        "tasks": sorted(results["task"].unique()),
        "methods": sorted(results["method"].unique()),  # chips coloured by ctx.palette
        "protocols": sorted(results["protocol"].unique()),
        "seeds": _ranges(seeds),
        "n_seeds": len(seeds),
        "budgets": [A.format_budget(b) for b in budgets],
        "code_versions": sorted(v for v in results["code_version"].unique() if v) or ["(not recorded)"],
        "n_checksums": int(results.loc[results["data_checksum"] != "", "data_checksum"].nunique()),
        "origins": [f"{n:,} {o}" for o, n in results["origin"].value_counts().sort_index().items()] if "origin" in results.columns else [],
        "problems": problems,
    }


def _ranges(values: list[int]) -> str:
    """[0,1,2,5] -> '0–2, 5'."""
    parts, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            parts.append(f"{start}" if start == v else f"{start}–{v}")
            start = None
    return ", ".join(parts) or "—"


def _provenance(results: pd.DataFrame, ctx: ReportContext) -> str:
    """Data checksum and code version per task, and the package versions recorded."""
    per_task = (
        results.groupby("task")
        .agg(
            data_checksum=("data_checksum", lambda s: ", ".join(sorted({v[:16] for v in s if v})) or "—"),
            code_version=("code_version", lambda s: " | ".join(sorted({v for v in s if v})) or "—"),
            rows=("key", "size"),
        )
        .reset_index()
    )
    html = ctx.table(per_task, "Data checksums and code versions per task", csv="provenance.csv")
    versions: dict[str, set[str]] = {}
    for raw in results["versions"].unique():
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            continue
        for name, ver in parsed.items() if isinstance(parsed, dict) else []:
            versions.setdefault(str(name), set()).add(str(ver))
    if versions:
        vt = pd.DataFrame({"package": list(versions), "versions": [", ".join(sorted(v)) for v in versions.values()]})
        html += ctx.table(vt.sort_values("package"), "Package versions recorded in the result rows", csv="versions.csv")
    machines = results.loc[results["machine"] != ""].groupby("machine").size()
    if len(machines):
        mt = pd.DataFrame([{**_machine_fields(m), "rows": int(n)} for m, n in machines.items()])
        html += ctx.table(mt, "Machines that ran the cells (recorded by each worker)", csv="machines.csv")
    return html


def _machine_fields(raw: str) -> dict:
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        return {"host": raw}
    return {k: parsed.get(k, "") for k in ("host", "cpu", "cores", "threads", "os", "accelerator")}


# -- leaderboards -------------------------------------------------------------------------
def _task_meta(rows: pd.DataFrame, comp: dict, ctx: ReportContext) -> dict:
    spec = ctx.task(comp["task"])
    eval_is_test = None
    if "eval_is_test" in rows.columns and rows["eval_is_test"].notna().any():
        eval_is_test = bool(rows["eval_is_test"].dropna().astype(bool).all())
    elif spec is not None:
        eval_is_test = bool(spec.eval_is_test)
    n_eval = rows["n_eval"].dropna()
    return {
        "train_metric": getattr(spec, "train_metric", "") or "—",
        # the rows' flag says what was used: a source without the test column falls back to validation
        "eval_metric": (getattr(spec, "eval_fallback", "") if eval_is_test is False else "")
        or getattr(spec, "eval_metric", "") or "—",
        "unit": getattr(spec, "unit", ""),
        "higher_is_better": bool(getattr(spec, "higher_is_better", True)),
        "eval_is_test": eval_is_test,
        "n_eval": f"{int(n_eval.median()):,}" if len(n_eval) else "—",
        "notes": getattr(spec, "notes", ""),
        "params": A._short_params(comp["protocol_params"]),
        "protocol_facts": _protocol_facts(rows, comp["protocol"], getattr(spec, "train_metric", ""), getattr(spec, "eval_metric", "")),
    }


def _protocol_facts(rows: pd.DataFrame, protocol: str, train_metric: str, eval_metric: str) -> list[str]:
    """What a reader needs to compare a board with published numbers: the evaluation set, how
    isomorphic architectures count, the seeds and how each model was configured."""
    ok = rows[rows["status"] == "ok"]
    seeds = sorted(int(s) for s in ok["seed"].dropna().unique())
    params = {A._short_params(p) for p in rows["protocol_params"].dropna().unique()}
    facts = []
    if protocol == "predict":
        sets = {dict(json.loads(p or "{}")).get("eval_set", "space") for p in rows["protocol_params"].dropna().unique()}
        same = bool(train_metric) and train_metric == eval_metric
        for kind in sorted(sets):
            facts.append(
                "evaluated on a mutation-based test set that holds no training architecture"
                if kind == "mutation"
                else "evaluated on every architecture of the task except the training ones"
                if kind == "space-minus-train" or same
                else "evaluated on every architecture of the task, the training ones included (their eval metric is not the one trained on)"
            )
        facts.append("each listed architecture is one row: isomorphic cells the benchmark lists separately count separately")
        if "predictor" in rows.columns and (rows["predictor"] == "gcn").any():
            facts.append("the GCN's learning rate per loss and space family was chosen on held-out folds of the train metric (docs/LOSSES.md)")
    elif protocol == "search":
        facts.append("the strategy sees the train metric only; a query isomorphic to a charged one is free; the best is chosen by the train metric (best_eval)")
    elif protocol == "select":
        facts.append(
            "N architectures observed, K more chosen by the predictor (or the baseline strategy); the best is picked by the train "
            "metric and reported on the eval metric"
        )
    elif protocol == "transfer":
        facts.append("fitted on the source task's cells (and the target shots), evaluated on every other target cell; the shots are never evaluated")
    if protocol in ("select", "transfer"):
        facts.append("each listed architecture is one row: isomorphic cells the benchmark lists separately count separately")
    facts.append(f"seeds {_ranges(seeds)}" if seeds else "no seeds recorded")
    facts.append(
        "each method at its registered defaults unless its label names settings; tuned methods choose theirs by cross-validation on the training architectures only"
        if protocol in ("predict", "select", "transfer")
        else f"settings: {_listed(sorted(params)) or 'defaults'}"
    )
    return facts


def _listed(items: list[str], most: int = 6) -> str:
    """'a; b; c' or, past ``most``, the first ones and how many more (each row says its own)."""
    return "; ".join(items) if len(items) <= most else f"{'; '.join(items[:most])} and {len(items) - most} more (see the rows)"


def _board(results: pd.DataFrame, comp: dict, ctx: ReportContext) -> dict:
    """Everything one comparison shows: meta, a table per budget, curves, failures, rows."""
    rows = A.select(results, comp)
    ok_rows = rows[rows["status"] == "ok"]
    files_before = set(ctx.files)
    metrics = A.metric_columns(ok_rows)
    meta = _task_meta(rows, comp, ctx)
    hib = {m: A.higher_is_better(m, meta["higher_is_better"]) for m in metrics}
    agg = A.aggregate(ok_rows, ["budget", "method"], metrics)
    sources = A.origins(ok_rows, ["budget", "method"])  # {} unless the report was given a reference store
    if sources:
        agg.insert(2, "source", [sources[(b, m)] for b, m in zip(agg["budget"], agg["method"], strict=True)])
    primary = next((m for m in metrics if A.metric_info(m).group != "Cost"), None)
    tabs = []
    leader = None  # the best method at the largest budget, for the index's list of leaderboards
    for budget, sub in agg.groupby("budget", sort=True):
        if primary:
            sub = sub.sort_values(f"{primary}.mean", ascending=not hib[primary], na_position="last")
            best = sub[f"{primary}.mean"].iloc[0]
            leader = {
                "method": sub["method"].iloc[0],
                "value": f"{best:.3f}" if pd.notna(best) else "—",
                "metric": A.metric_info(primary).label,
                "budget": A.format_budget(budget),
            }
        table = sub.drop(columns=["budget"]).rename(columns={"n_train": "train archs"})
        # 16 hex digits identify a run; the full keys are in the comparison page's rows CSV.
        table["keys"] = table["keys"].str.replace(r"([0-9a-f]{16})[0-9a-f]*", r"\1", regex=True)
        caption = f"{comp['label']} · budget {A.format_budget(budget)} · {len(sub)} methods"
        if primary:
            table, post_hoc = _mark_near_best(table, ok_rows[ok_rows["budget"] == budget], primary, meta)
            caption += post_hoc
        tabs.append(
            {
                "label": A.format_budget(budget),
                "html": ctx.table(table, caption, best=hib, csv=f"{comp['slug']}-{A.format_budget(budget)}.csv"),
            }
        )
    figure = _curves(agg, metrics, hib, ctx) + _rank_figure(agg, metrics, hib, ctx)
    failed = rows[rows["status"] != "ok"]
    return {
        **comp,
        "meta": meta,
        "n_ok": len(ok_rows),
        "n_failed": len(failed),
        "n_methods": ok_rows["method"].nunique(),
        "tabs": tabs,
        "leader": leader,
        "active_tab": len(tabs) - 1,
        "figure": figure,
        "failed_html": _failed_table(failed, ctx, csv=f"{comp['slug']}-failed.csv") if len(failed) else "",
        "rows_html": _rows_table(rows, metrics, ctx, comp["slug"]),
        # files this board's page links to (its rows CSV): handed back with the board from a pool process
        "files": {name: ctx.files.pop(name) for name in set(ctx.files) - files_before},
        "href": f"{BOARDS_DIR}/{comp['slug']}.html",
    }


NEAR_BEST = "vs best"  # leaderboard column: best / ≈ best / worse, from the Wilcoxon-Holm post-hoc tests


def _mark_near_best(table: pd.DataFrame, rows: pd.DataFrame, metric: str, meta: dict) -> tuple[pd.DataFrame, str]:
    """The table with a column marking the best method by mean rank on ``metric`` over the
    seeds (blocks) and every method not significantly worse than it (``stats.rank_test``), and
    the caption's sentence saying so; the table unchanged with fewer than two methods or seeds."""
    task_hib = dict.fromkeys(rows["task"].unique(), meta["higher_is_better"])
    test = stats.rank_test_rows(rows, metric, ["task", "seed"], task_hib=task_hib)
    if len(test.methods) < 2 or test.n_blocks < 2:
        return table, ""
    if not test.can_separate:
        return table, (
            f" · {NEAR_BEST} not marked: over {test.n_blocks} common seeds no Wilcoxon signed-rank test can reach "
            f"p < {test.alpha:g} (its smallest two-sided p is 2 / 2^{test.n_blocks}), so no method could be found worse"
        )
    near = test.near_best()
    marks = {m: "≈ best" if m in near else "worse" for m in test.methods} | {test.methods[0]: "best"}
    table = table.copy()
    table.insert(table.columns.get_loc("method") + 1, NEAR_BEST, table["method"].map(marks).fillna(""))
    left = f", {len(test.dropped_methods)} method(s) with too few seeds unmarked" if test.dropped_methods else ""
    return table, (
        f" · {NEAR_BEST}: best mean rank on {A.metric_info(metric).label} over {test.n_blocks} common seeds, and the methods "
        f"the Wilcoxon-Holm tests do not find worse (Friedman {stats.p_phrase(test.p)}{left})"
    )


def _curves(agg: pd.DataFrame, metrics: list[str], hib: dict[str, bool], ctx: ReportContext) -> str:
    """Metric-versus-budget figure of the best methods (at most plots.MAX_CURVES lines)."""
    curve_metrics = plots.pick_curve_metrics(metrics)
    if not curve_metrics:
        return ""
    shown = plots.top_methods(agg, curve_metrics[0], hib[curve_metrics[0]])
    svg = plots.budget_curves(agg[agg["method"].isin(shown)], curve_metrics, ctx.palette)
    if svg is None:
        return ""
    labels = [A.metric_info(m).label for m in curve_metrics]
    names = labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"
    n_all = agg["method"].nunique()
    which = (
        f"the {len(shown)} best of {n_all} methods by {A.metric_info(curve_metrics[0]).label}; "
        if len(shown) < n_all
        else ""
    )
    caption = f"{names} versus training size ({which}mean over seeds, band = ± 1 std)."
    return ctx.svg_figure(svg, caption)


def _rank_figure(agg: pd.DataFrame, metrics: list[str], hib: dict[str, bool], ctx: ReportContext) -> str:
    """Every method's rank at each budget by the headline metric (a bump chart), readable with dozens of methods."""
    curve_metrics = plots.pick_curve_metrics(metrics)
    if not curve_metrics:
        return ""
    metric = curve_metrics[0]
    svg = plots.rank_plot(plots.budget_ranks(agg, metric, hib[metric]), ctx.palette)
    if svg is None:
        return ""
    label = A.metric_info(metric).label
    caption = (
        f"Rank of every method at each budget by mean {label} over seeds (1 = best; ties share the average rank); "
        f"the {plots.MAX_LABELLED_RANKS} methods with the best mean rank are named, the others are grey."
    )
    return ctx.svg_figure(svg, caption)


def _rows_table(rows: pd.DataFrame, metrics: list[str], ctx: ReportContext, slug: str) -> str:
    cols = ["method", "origin", "budget", "seed", "n_train", "status", *metrics, "finished_at", "key"]
    table = rows[[c for c in cols if c in rows.columns]].sort_values(["method", "budget", "seed"])
    table = table.assign(budget=table["budget"].map(A.format_budget))
    # The CSV of every row is a file beside the page (the largest board has thousands of rows: as a
    # data URI they would be most of a page); the page shows the first ROWS_SHOWN.
    return ctx.table(table, "Every result row behind this leaderboard", csv=f"{slug}-rows.csv", max_rows=ROWS_SHOWN, csv_file=True)


ROWS_SHOWN = 100  # result rows a leaderboard page shows (its CSV file holds every one)


# -- ranking and failures -----------------------------------------------------------------
def _rankings(results: pd.DataFrame, ctx: ReportContext) -> list[dict]:
    out = []
    ok = results[results["status"] == "ok"]
    task_hib = {}
    for task in ok["task"].unique():
        spec = ctx.task(task)
        task_hib[task] = bool(getattr(spec, "higher_is_better", True))
    for protocol, rows in ok.groupby("protocol", sort=True):
        metrics = [m for m in A.metric_columns(rows) if A.metric_info(m).group != "Cost"]
        if not metrics:
            continue
        ranking = A.overall_ranking(rows, metrics, task_hib)
        labels = {m: A.metric_info(m).label for m in metrics}
        caption = (
            f"{protocol}: average rank per metric over every (task, budget) leaderboard "
            f"({rows['task'].nunique()} tasks); 1 = best"
        )
        html = ctx.table(
            ranking,
            caption,
            best={m: False for m in metrics},
            fmt={m: ".2f" for m in metrics},
            labels=labels,
            csv=f"ranking-{protocol}.csv",
        )
        out.append(
            {
                "protocol": protocol,
                "html": html,
                "n_tasks": rows["task"].nunique(),
                "cd": _overall_rank_tests(rows, metrics, task_hib, ctx),
                **_cross_task(rows, metrics, ctx),
            }
        )
    return out


MAX_CD_DIAGRAMS = 4  # per protocol: the methods one diagram leaves out get the next, while they share blocks


def _overall_rank_tests(rows: pd.DataFrame, metrics: list[str], task_hib: dict[str, bool], ctx: ReportContext) -> str:
    """Critical-difference diagrams of a protocol's methods across every task on its headline
    metric (the one the cross-task tables show), over blocks of one leaderboard table and seed:
    (board params, task, budget, seed); a search's params belong to its method, so its blocks
    are in effect (task, budget, seed). Methods that ran on other blocks than the rest (another
    study's grid) are left out of one diagram by ``stats.rank_test``; they are compared among
    themselves in the next."""
    metric = "kendall_tau" if "kendall_tau" in metrics else metrics[0]
    protocol = rows["protocol"].iloc[0]
    blocks = ["protocol_params", "task", "budget", "seed"]
    rows = rows.assign(protocol_params=A.board_params(rows))
    html = []
    for _ in range(MAX_CD_DIAGRAMS):
        test = stats.rank_test_rows(rows, metric, blocks, task_hib=task_hib)
        html.append(ctx.show_rank_test(test, blocks, what=f"{protocol} methods across tasks" if not html else "the methods left out above"))
        rows = rows[rows["method"].isin(test.dropped_methods)]
        if rows["method"].nunique() < 2:
            break
    return "".join(html)


def _cross_task(rows: pd.DataFrame, metrics: list[str], ctx: ReportContext) -> dict:
    """Tabs (one per budget) of the headline metric's mean per method on every task."""
    metric = "kendall_tau" if "kendall_tau" in metrics else metrics[0]
    info = A.metric_info(metric)
    tables = A.by_task(rows, metric)
    tabs = []
    for budget, table in tables.items():
        if table.shape[1] <= 3:  # one task: its leaderboard says it all
            continue
        table = table.sort_values("mean over tasks", ascending=not info.higher_is_better, na_position="last")
        best = {c: info.higher_is_better for c in table.columns if c != "method"}
        caption = f"{info.label}: mean over seeds per task, budget {A.format_budget(budget)}"
        html = ctx.table(table, caption, best=best, fmt=".3f", csv=f"{metric}-by-task-{A.format_budget(budget)}.csv")
        tabs.append({"label": A.format_budget(budget), "html": html})
    return {"cross_label": info.label, "cross": {"tabs": tabs, "active_tab": len(tabs) - 1}}


def _failed_table(failed: pd.DataFrame, ctx: ReportContext, csv: str) -> str:
    cols = ["task", "protocol", "method", "budget", "seed", "error", "key"]
    table = failed[[c for c in cols if c in failed.columns]].sort_values(["task", "method", "budget", "seed"])
    table = table.assign(budget=table["budget"].map(A.format_budget), key=table["key"].str.slice(0, 12))
    return ctx.table(table, f"{len(failed):,} failed cells", csv=csv, max_rows=500)


def _failed(results: pd.DataFrame, ctx: ReportContext) -> dict:
    failed = results[results["status"] != "ok"]
    if failed.empty:
        return {"n": 0, "summary": "", "html": ""}
    summary = (
        failed.assign(reason=failed["error"].str.split("\n").str[0].str.slice(0, 160))
        .groupby("reason")
        .agg(cells=("key", "size"), tasks=("task", "nunique"), methods=("method", lambda s: ", ".join(sorted(set(s)))))
        .reset_index()
        .sort_values("cells", ascending=False)
    )
    return {
        "n": len(failed),
        "summary": ctx.table(summary, "Failures grouped by error", csv="failed-summary.csv"),
        "html": _failed_table(failed, ctx, csv="failed.csv"),
    }
