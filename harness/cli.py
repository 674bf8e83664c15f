"""The ``nasbench-harness`` command line (typer).

Subcommands: ``run``, ``list``, ``validate``, ``report``, the ``results`` group (``merge``,
``verify``) and the ``data`` group (mounted
from ``cli_data`` when present). ``main()`` turns every ``HarnessError`` into its one
sentence on stderr and the error's exit code; other exceptions keep their traceback.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from nasbench_harness import listing
from nasbench_harness.errors import HarnessError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(
    name="nasbench-harness",
    help="Benchmark harness and leaderboard for NAS performance predictors and their losses.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DEFAULT_RESULTS = Path("results")
DEFAULT_REPORTS = Path("reports")


def _mount_data_app() -> None:
    """Mount the ``data`` command group (harness/cli_data.py)."""
    from nasbench_harness.cli_data import data_app

    app.add_typer(data_app, name="data", help="Import, list and verify benchmark data.")


# -- run ----------------------------------------------------------------------------------
def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h {m:02d}m {sec:02d}s" if h else (f"{m}m {sec:02d}s" if m else f"{sec}s")


def progress_bar(console):
    """The CLI's rich progress bar: description, bar, done/total, elapsed and ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console)


def _progress(total: int):
    """A progress bar with ETA on a terminal; None (quiet) otherwise."""
    if not err.is_terminal or total == 0:
        return None, None
    bar = progress_bar(err)
    task_id = bar.add_task("cells", total=total)
    return bar, lambda rows: bar.advance(task_id, len({r["key"] for r in rows}))  # one cell's rows share its key


def _print_estimate(name: str, p, store, n_jobs: int) -> None:
    """The dry run's projection: per cost family, from CPU timings (dedicated cores) and wall timings (as measured)."""
    from nasbench_harness.estimate import family_costs
    from nasbench_harness.runner import cell_estimates

    pending = [p.cells[i] for i in p.pending]
    done = [i for i, d in enumerate(p.done) if d]
    cpu = family_costs(pending, cell_estimates(p, store, "cpu_seconds"), [p.cells[i] for i in done], _stored_cpu(store, [p.keys[i] for i in done]))
    wall = {f.family: f.seconds for f in family_costs(pending, cell_estimates(p, store, "total_seconds"))}
    total, measured = sum(f.seconds for f in cpu), sum(f.done_seconds for f in cpu)
    out.print(
        f"matrix {name}: {len(p.cells)} cells, {p.n_done} already done, {len(p.pending)} to run; "
        f"estimated {_fmt_seconds(total / n_jobs)} on {n_jobs} worker(s); data checksums read from the manifests, not re-hashed (`run` verifies them)",
        markup=False,
    )
    if not cpu:
        return
    table = Table(title=f"projection on {n_jobs} worker(s), per cost family (docs/FULL.md)")
    for col in ("family", "cells to run", f"on {n_jobs} dedicated core(s)", "at the measured load", "estimated from"):
        table.add_column(col, justify="left" if col in ("family", "estimated from") else "right")
    for f in (f for f in cpu if f.pending):
        bases = ", ".join(f"{n} {b}" for b, n in sorted(f.bases.items(), key=lambda kv: -kv[1]))
        table.add_row(escape(f.family), str(f.pending), _fmt_seconds(f.seconds / n_jobs), _fmt_seconds(wall.get(f.family, 0.0) / n_jobs), escape(bases))
    table.add_row("total", str(len(p.pending)), _fmt_seconds(total / n_jobs), _fmt_seconds(sum(wall.values()) / n_jobs), "")
    out.print(table)
    if not p.n_done:
        return
    # What the done cells cost when they ran, beside the projection: the whole matrix per family.
    table = Table(title=f"the whole matrix on {n_jobs} dedicated core(s): the done cells' stored CPU seconds plus the projection")
    for col in ("family", "cells done", f"stored CPU / {n_jobs}", "whole matrix"):
        table.add_column(col, justify="left" if col == "family" else "right")
    for f in cpu:
        table.add_row(escape(f.family), str(f.done), _fmt_seconds(f.done_seconds / n_jobs), _fmt_seconds((f.seconds + f.done_seconds) / n_jobs))
    table.add_row("total", str(p.n_done), _fmt_seconds(measured / n_jobs), _fmt_seconds((total + measured) / n_jobs))
    out.print(table)


def _stored_cpu(store, keys: list[str]) -> list[float]:
    """The stored ``cpu_seconds`` of each run key (NaN where a row has none)."""
    if not keys:
        return []
    rows = store.read(columns=["cpu_seconds"])
    by_key = rows.set_index("key")["cpu_seconds"] if "cpu_seconds" in rows.columns else {}
    return [float(by_key.get(k, float("nan"))) for k in keys]


@app.command()
def run(
    matrix: Annotated[str, typer.Option("--matrix", "-m", help="Built-in matrix name (see `list matrices`) or a YAML path.")],
    results: Annotated[Path, typer.Option(help="Results directory (Parquet shards).")] = DEFAULT_RESULTS,
    executor: Annotated[str, typer.Option(help="serial | process | dask")] = "serial",
    jobs: Annotated[int | None, typer.Option(help="Parallel workers (process/dask); default: the CPU count.")] = None,
    threads: Annotated[int, typer.Option(help="Threads per worker (BLAS, torch).")] = 1,
    dask_scheduler: Annotated[str | None, typer.Option(help="Address of an existing Dask scheduler; default: a local cluster.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print cells, done and estimated time; run nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Recompute cells that are already stored.")] = False,
    filter: Annotated[list[str] | None, typer.Option("--filter", help="field=glob[,glob] (task, predictor, loss, encoding, budget, seed, method, space, protocol); repeatable.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Typed matrix override key.path=value (YAML value, never evaluated); repeatable.")] = None,
    skip_missing_data: Annotated[bool, typer.Option("--skip-missing-data", help="Skip tasks whose data is not imported (e.g. for `full`) instead of stopping.")] = False,
    sample: Annotated[
        int | None,
        typer.Option("--sample", min=1, help="Run only K cells of every (method x search space) stratum (deterministic, smallest to largest training size), so that a later --dry-run projects the whole matrix from measured timings."),
    ] = None,
    cell_timeout: Annotated[
        float | None,
        typer.Option("--cell-timeout", min=0, help="Seconds a cell may run before its worker is killed and replaced (0: no limit); default: 20x the cell's expected cost, at least 600 s."),
    ] = None,
    as_method: Annotated[
        str | None,
        typer.Option("--as", help="KIND=NAME (predictor, loss or strategy): run the newly registered NAME on exactly the matrix's cells its kind takes part in (e.g. --matrix full --as predictor=knn)."),
    ] = None,
) -> None:
    """Run a matrix: skip stored cells, run the rest, store every result.

    Exits 1 when any cell failed (after storing every result; failed cells are retried by
    the next run)."""
    from nasbench_harness.executors import EXECUTORS, default_jobs, make_executor
    from nasbench_harness.runner import execute, prepare
    from nasbench_harness.store import ResultStore

    if executor not in EXECUTORS:
        make_executor(executor)  # raises the one-sentence ConfigError before any work
    n_jobs = 1 if executor == "serial" else (jobs or default_jobs(threads))
    store = ResultStore(results)
    p = prepare(matrix, store, overrides=set_ or [], filters=filter or [], sample=sample, force=force, threads=threads,
                skip_missing_data=skip_missing_data, dry_run=dry_run, as_method=as_method)
    for task, why in p.missing.items():
        err.print(f"[yellow]warning:[/yellow] skipped task {task}: {escape(why)}")
    m = p.matrix
    if dry_run:
        _print_estimate(m.name, p, store, n_jobs)
        return
    store.ensure_writable()
    bar, advance = _progress(len(p.pending))
    stored = [0]  # cells stored by this run, known even when it is interrupted

    def on_cell(rows: list[dict]) -> None:
        stored[0] += 1
        if advance is not None:
            advance(rows)

    try:
        with make_executor(executor, n_jobs, threads, dask_scheduler) as ex:
            if bar is not None:
                with bar:
                    summary = execute(p, store, ex, progress=on_cell, cell_timeout=cell_timeout)
            else:
                summary = execute(p, store, ex, progress=on_cell, cell_timeout=cell_timeout)
    except KeyboardInterrupt:
        err.print(f"Interrupted: {stored[0]} new cell(s) were stored in {results}; rerun the same command to resume.", markup=False)
        raise typer.Exit(130) from None
    out.print(
        f"matrix {m.name}: {summary.n_cells} cells, {summary.n_skipped} already done, {summary.n_ok} ok, "
        f"{summary.n_failed} failed in {_fmt_seconds(summary.seconds)}; results in {results}",
        markup=False,
    )
    for line in summary.failures[:10]:
        _print_failure(line, results)
    if summary.n_failed:
        err.print(f"{summary.n_failed} cell(s) failed; they are retried on the next run.")
        raise typer.Exit(1)


FAILURE_CHARS = 300  # of one failure's summary line; the store keeps the whole text


def _print_failure(line: str, results: Path) -> None:
    """One failure on one line, cut to FAILURE_CHARS, printed without markup or highlighting
    (rich's highlighter is quadratic in the line: a method's 200 kB error took minutes)."""
    text = " ".join(line.split())
    if len(text) > FAILURE_CHARS:
        text = f"{text[:FAILURE_CHARS]}... (cut; the full text is in the error column of the results in {results})"
    err.print(f"failed: {text}", markup=False, highlight=False)


# -- list ---------------------------------------------------------------------------------
Kind = Enum("Kind", {name.replace("-", "_"): name for name in listing.KINDS}, type=str)


def list_rows(kind: str) -> list[dict]:
    """Rows (each with ``name``, ``description`` and ``package``) for ``list KIND``."""
    return listing.rows(kind)


def _print_table(kind: str, rows: list[dict]) -> None:
    table = Table(title=kind)
    for col in ("name", "description", "package"):
        table.add_column(col, style="bold" if col == "name" else None)
    for r in rows:
        table.add_row(escape(str(r["name"])), escape(r["description"]), escape(str(r.get("package", ""))))
    out.print(table)


@app.command("list")
def list_(
    kind: Annotated[Kind | None, typer.Argument(help="What to list (default: every kind).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of objects (name, description, package, ...); without KIND, an object of such lists by kind.")] = False,
) -> None:
    """List what the registry holds, per kind, with the package that provides each entry."""
    kinds = [kind.value] if kind is not None else list(listing.KINDS)
    found = {k: list_rows(k) for k in kinds}
    if as_json:
        doc = found[kinds[0]] if kind is not None else found
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        return
    for k, rows in found.items():
        _print_table(k, rows)


# -- validate -----------------------------------------------------------------------------
@app.command()
def validate(
    matrix: Annotated[str, typer.Argument(help="Built-in matrix name or YAML path.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Typed override key.path=value; repeatable.")] = None,
) -> None:
    """Check a matrix (names, types, values) and print what it expands to."""
    from nasbench_harness.errors import MissingDataError
    from nasbench_harness.matrix import check_budgets, load_matrix
    from nasbench_harness.paths import DATA_ENV
    from nasbench_harness.runner import _load_task

    m = load_matrix(matrix, set_ or [])
    tasks = sorted({c.task for c in m.cells})
    sizes = {}
    for t in tasks:  # budgets are checked against the tasks whose data is imported
        try:
            sizes[t] = len(_load_task(t, os.environ.get(DATA_ENV)))
        except MissingDataError:  # damaged data raises its sentence (how to repair it), as `run` does
            err.print(f"[yellow]note:[/yellow] the data of task {escape(t)} is not imported; its budgets are not checked.")
    check_budgets(m.name, m.cells, sizes)
    methods = sorted({c.method for c in m.cells})
    budgets = sorted({float(c.budget) for c in m.cells})
    seeds = sorted({c.seed for c in m.cells})
    out.print(
        f"{m.path}: valid; {len(m.cells)} cells = {len(tasks)} task(s) x {len(methods)} method(s) x "
        f"{len(budgets)} budget(s) x {len(seeds)} seed(s) (after blocks/includes)",
        markup=False,
    )


# -- report -------------------------------------------------------------------------------
@app.command()
def report(
    results: Annotated[Path, typer.Option(help="Results directory to read.")] = DEFAULT_RESULTS,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for index.html and its pages.")] = DEFAULT_REPORTS,
    reference: Annotated[
        Path | None,
        typer.Option("--reference", help="A reference store (e.g. results/reference) to rank beside --results (which may be a merge of both); rows are marked reference or local."),
    ] = None,
) -> None:
    """Render the HTML leaderboards and plots from a results directory."""
    from nasbench_harness.errors import ResultStoreError

    if results.exists() and not results.is_dir():
        raise ResultStoreError(f"The results path {results} is a file, not a results directory; pass the folder `run --results` wrote with --results DIR.")
    if not results.is_dir():
        raise ResultStoreError(f"The results directory {results} does not exist; run `nasbench-harness run --matrix smoke` first or pass --results DIR.")
    try:
        from nasbench_harness.report import build_report
    except ImportError as exc:
        raise HarnessError(f"The report package could not be imported ({exc}); reinstall nasbench-harness.") from None
    from nasbench_harness.store import ResultStore

    for msg in ResultStore(results).unreadable_shards():
        err.print(f"[yellow]warning:[/yellow] {escape(msg)}")
    if reference is not None and not reference.is_dir():
        raise ResultStoreError(f"The reference store {reference} does not exist or is not a folder; pass the folder of a kept store, e.g. --reference results/reference.")
    index = build_report(results, out_dir, reference=reference)
    out.print(f"report written to {index}", markup=False)


# -- results ------------------------------------------------------------------------------
results_app = typer.Typer(help="Pool result stores from several machines, and check a store by re-running a sample of it.", no_args_is_help=True)
app.add_typer(results_app, name="results")


def _print_disagreements(found, console) -> None:
    for d in found[:MAX_LISTED]:
        console.print(f"non-determinism: {d.cell} (run key {d.key[:16]}) differs in {', '.join(d.columns)} between {' and '.join(d.runs)}", markup=False, highlight=False)
    if len(found) > MAX_LISTED:
        console.print(f"... and {len(found) - MAX_LISTED} more run key(s) with differing results.", markup=False)


MAX_LISTED = 20  # cells listed by `results merge` and `results verify`; the rest are counted


@results_app.command("merge")
def results_merge(
    sources: Annotated[list[Path], typer.Argument(help="Results folders to pool (plain or kept stores).")],
    into: Annotated[Path, typer.Option("--into", help="The folder to write (created when absent); its own rows join the pool. A kept store (with manifest.json) stays one.")],
    keep: Annotated[str, typer.Option("--keep", help="Of the rows of one run key: last (the newest finished_at) or first (the oldest); an ok row always beats a failed one.")] = "last",
    allow_nondeterminism: Annotated[
        bool, typer.Option("--allow-nondeterminism", help="Write the merge even when one run key has different results in two stores (they are listed; --keep picks one).")
    ] = False,
    matrices: Annotated[
        list[str] | None,
        typer.Option("--matrix", "-m", help="Take from the sources only the cells of this matrix as this code and data key them (built-in name or YAML path; repeatable); the destination keeps all its rows."),
    ] = None,
) -> None:
    """Pool result stores into one: one row per run key.

    Exits 1 without writing anything when one run key has different results in two stores
    (non-determinism: listed with the machines and code versions), unless --allow-nondeterminism;
    exits 2 without writing anything for stores holding one task's results on different data,
    a kept file that does not match its manifest, or rows of a newer result schema."""
    from nasbench_harness import merge

    only = None
    if matrices:
        from nasbench_harness.prune import current_keys
        from nasbench_harness.store import ResultStore

        only = current_keys(matrices, ResultStore(into))[0]
    pooled = merge.pool([*sources, *([into] if into.is_dir() else [])], keep, only, whole=into)
    if pooled.disagreements:
        _print_disagreements(pooled.disagreements, err)
        if not allow_nondeterminism:
            err.print(f"{len(pooled.disagreements)} run key(s) have different results in different stores; nothing was written "
                      "(rerun those cells, or pass --allow-nondeterminism to keep one row each by --keep).", markup=False)
            raise typer.Exit(1)
    merge.write(into, pooled.rows, pooled.shards.get(str(into.resolve()), []))
    read = ", ".join(f"{n} from {s}" for s, n in pooled.sources.items())
    out.print(f"merged {len(pooled.rows)} row(s) (one per run key; {read}) into {into}", markup=False)


@results_app.command("prune")
def results_prune(
    store: Annotated[Path, typer.Argument(help="Results folder to prune (plain or kept store).")],
    matrices: Annotated[list[str], typer.Option("--matrix", "-m", help="A matrix whose cells stay (built-in name or YAML path); repeatable.")],
    apply: Annotated[bool, typer.Option("--apply", help="Remove the stale rows; without it, only list them.")] = False,
) -> None:
    """Drop the rows whose run key no named matrix has today (computed before a code or data
    change). Lists them; removes them only with --apply. Rows of tasks without imported data stay."""
    from nasbench_harness import prune
    from nasbench_harness.errors import ResultStoreError

    if not store.is_dir():
        raise ResultStoreError(f"The results folder {store} does not exist or is not a folder; pass a folder that `run --results` wrote.")
    found = prune.find(store, matrices)
    for line in prune.summary(found.dropped)[:MAX_LISTED]:
        out.print(line, markup=False, highlight=False)
    if found.unkeyed_tasks:
        out.print(f"kept unchecked (data not imported here): the rows of {', '.join(found.unkeyed_tasks)}", markup=False)
    if apply:
        prune.apply(store, found)
    verb = "removed" if apply else "would remove (pass --apply)"
    out.print(f"{verb} {len(found.dropped)} of {len(found.rows) + len(found.dropped)} row(s) of {store} that no cell of {', '.join(matrices)} has", markup=False)


@results_app.command("verify")
def results_verify(
    store: Annotated[Path, typer.Argument(help="Results folder to check (only read).")],
    sample: Annotated[int, typer.Option("--sample", min=1, help="How many random ok cells to re-run here.")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random draw.")] = 0,
    executor: Annotated[str, typer.Option(help="serial | process | dask")] = "serial",
    jobs: Annotated[int | None, typer.Option(help="Parallel workers (process/dask); default: the CPU count.")] = None,
) -> None:
    """Re-run N random cells of a store here (into a temporary store, as `run` does) and compare
    every result column bit for bit. Exits 0 when all match, 1 otherwise."""
    from nasbench_harness.executors import default_jobs, make_executor
    from nasbench_harness.verify import verify

    with make_executor(executor, 1 if executor == "serial" else (jobs or default_jobs(1)), 1, None) as ex:
        checks = verify(store, sample, seed, ex)
    bad = [c for c in checks if not c.ok]
    for c in bad[:MAX_LISTED]:
        what = f"failed here: {c.error}" if c.error else f"differs in {', '.join(_gap(col, (c.gaps or {}).get(col)) for col in c.columns)}"
        why = f"; {'; '.join(c.causes)}" if c.causes else "; same code and data digests as the stored row"
        out.print(f"{c.cell} (run key {c.key[:16]}): {what}{why}", markup=False, highlight=False)
    out.print(f"verified {len(checks)} cell(s) of {store}: {len(checks) - len(bad)} identical, {len(bad)} differ", markup=False)
    gaps = [g for c in bad for g in (c.gaps or {}).values()]
    if bad and not any(c.error for c in bad) and gaps and all(g is not None for g in gaps):
        out.print(f"every difference is numeric, at most {max(gaps):.1e} relative to the value", markup=False)
    if bad:
        raise typer.Exit(1)


def _gap(column: str, gap: float | None) -> str:
    return column if gap is None else f"{column} (relative {gap:.1e})"


# -- entry point --------------------------------------------------------------------------
def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    err.print(f"[yellow]warning:[/yellow] {escape(str(message))}")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: one sentence and the error's exit code for HarnessError."""
    from nasbench_harness.errors import CorruptShardWarning

    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] not in ("run", "list", "validate", "report"):  # `data` (numpy) only where it can be named or listed
        _mount_data_app()
    previous = warnings.showwarning
    warnings.showwarning = lambda m, c, *a, **k: _show_warning(m, c, *a, **k) if issubclass(c, CorruptShardWarning) else previous(m, c, *a, **k)
    try:
        app(args=args, prog_name="nasbench-harness")
    except HarnessError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(exc.exit_code)
    finally:
        warnings.showwarning = previous


if __name__ == "__main__":
    main()
