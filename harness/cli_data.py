"""The ``nasbench-harness data`` commands: import, list, verify and describe benchmark data.

``data_app`` is a typer sub-app mounted by ``harness/cli.py``. Every command turns a
``HarnessError`` into its one sentence on stderr and exit code 2, so it behaves the same
when run on its own (tests) or mounted. ``data import`` is all-or-nothing: if any file
fails, every cache file it may have touched is restored byte for byte.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from nasbench_harness.errors import DataError, HarnessError, MissingDataError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

data_app = typer.Typer(
    name="data",
    help="Import, list and verify benchmark data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

FORMATS_HELP = (
    "Recognised: NAS-Bench-201 (.pth v1.0/v1.1, NATS-tss pickles, NASGraph/v-tao/merged CSVs, 12-epoch pickle, "
    "ArchVizD3 JSON), NAS-Bench-101 (.tfrecord, CSV/JSON), TransNAS-Bench-101 (.pth, CSV), NAS-Bench-301/DARTS, "
    "zero-cost proxies (Suite-Zero JSON, full-coverage CSV), meta-NAS transfer tables. A directory imports every "
    "file it recognises."
)


def _handle_errors(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except HarnessError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def _progress(msg: str) -> None:
    err.print(f"[dim]{escape(msg)}[/dim]")


def _cache(data_dir: Path | None):
    from nasbench_harness.tasks.cache import DataCache

    return DataCache(data_dir)


DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Cache folder (default: $NASBENCH_HARNESS_DATA or the user cache dir)."),
]


# --------------------------------------------------------------------------- import
def _check_writable(folder: Path, what: str, option: str) -> None:
    """One sentence, before anything is fetched or written, when ``folder`` is a file, lies
    under a file, or cannot be created or written (nothing is created here)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == folder else f"lies under the file {existing}"
        raise DataError(f"The {what} {folder} {where}, not a folder; pass a folder with {option}.")
    if not os.access(existing, os.W_OK | os.X_OK):
        verb = "cannot be written" if existing == folder else f"cannot be created (its parent {existing} is not writable)"
        raise DataError(f"The {what} {folder} {verb}; pass a writable folder with {option}.")


CACHE_OPTION = "--data-dir (or NASBENCH_HARNESS_DATA)"


def _snapshot(root: Path) -> dict[Path, bytes]:
    """Bytes of every file in the cache; ``_restore`` deletes any file not listed here."""
    if not root.is_dir():
        return {}
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.name.endswith(".tmp")}


def _restore(root: Path, before: dict[Path, bytes]) -> None:
    from nasbench_harness.artefacts import write_bytes

    if root.is_dir():
        for p in root.rglob("*"):
            if p.is_file() and p not in before:
                p.unlink()  # written by the failed import
    for p, data in before.items():
        if not p.is_file() or p.read_bytes() != data:
            write_bytes(p, data)


@data_app.command("import", help=f"Import benchmark files or folders into the cache. {FORMATS_HELP}")
@_handle_errors
def import_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Benchmark files or directories.")],
    data_dir: DataDirOption = None,
) -> None:
    _import_all_or_nothing(list(paths), _cache(data_dir))


def _import_all_or_nothing(paths: list[Path], cache) -> None:
    """Import ``paths`` and print what was imported; on any failure restore the cache byte for byte."""
    from nasbench_harness.tasks.importers import import_paths

    _check_writable(cache.root, "data cache folder", CACHE_OPTION)
    before = _snapshot(cache.root)  # import_paths reports missing paths before it writes anything
    try:
        results = import_paths(paths, cache, progress=_progress)
    except BaseException:
        _restore(cache.root, before)
        raise
    table = Table(title=f"Imported into {escape(str(cache.root))}")
    for col in ("importer", "space", "files", "rows", "columns", "seconds"):
        table.add_column(col, justify="right" if col in ("files", "rows", "columns", "seconds") else "left")
    for r in results:
        table.add_row(r.importer, r.space, str(len(r.files)), f"{r.rows:,}", str(len(r.columns)), f"{r.seconds:.2f}")
    out.print(table)
    for r in results:
        for note in r.notes:
            out.print(f"[dim]{r.importer}:[/dim] {escape(note)}")


# ------------------------------------------------------------------------- download
def _print_catalogue(catalogue) -> None:
    table = Table(title="Datasets for `nasbench-harness data download NAME|all`")
    for col in ("name", "space", "files", "MB", "what"):
        table.add_column(col, overflow="fold")
    for d in catalogue.values():
        size = sum(f.bytes or 0 for f in d.files)
        mb = "-" if not d.files else (f"{size / 1e6:.1f}" if all(f.bytes for f in d.files) else "?")
        what = d.title + ("" if d.in_all else " (not in 'all')") + ("" if d.files or d.included else " [manual: see `data download NAME`]")
        table.add_row(d.name, d.space, str(len(d.files)), mb, escape(what))
    out.print(table)


@data_app.command(
    "download",
    help="Fetch public benchmark files (resuming partial downloads, checking sha256) and import them. "
    "`data download --list` shows the datasets; `all` fetches every one not marked otherwise.",
)
@_handle_errors
def download_cmd(
    names: Annotated[list[str] | None, typer.Argument(help="Dataset names from --list, or 'all'.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the catalogued datasets and exit.")] = False,
    dest: Annotated[Path | None, typer.Option("--dest", help="Folder for the downloaded files (default: $NASBENCH_HARNESS_DOWNLOADS or the user cache dir).")] = None,
    mirror: Annotated[list[str] | None, typer.Option("--mirror", help="Base URL tried first for every file (<mirror>/<file name>); repeatable.")] = None,
    catalogue_path: Annotated[Path | None, typer.Option("--catalogue", help="A catalogue YAML in the format of the built-in downloads.yaml.")] = None,
    no_import: Annotated[bool, typer.Option("--no-import", help="Only download and check; do not import.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    from nasbench_harness.tasks.download import check_format, downloads_dir, fetch, load_catalogue, select

    catalogue = load_catalogue(catalogue_path)
    if list_ or not names:
        _print_catalogue(catalogue)
        return
    datasets = select(catalogue, names)
    manual = [d for d in datasets if not d.files]
    if len(datasets) == 1 and manual and not manual[0].included:
        raise DataError(f"{manual[0].manual}.")
    for d in manual:
        out.print(f"[{'green' if d.included else 'yellow'}]{d.name}:[/] {escape(d.manual)}.")
    if "all" in names:
        skipped = [n for n, d in catalogue.items() if not d.files and not d.included]
        out.print(f"[dim]not downloadable, see `data download NAME`: {', '.join(skipped)}[/dim]")
    root = Path(dest) if dest is not None else downloads_dir()
    _check_writable(root, "downloads folder", "--dest (or NASBENCH_HARNESS_DOWNLOADS)")
    if not no_import:  # before a long download, not after it
        _check_writable(_cache(data_dir).root, "data cache folder", CACHE_OPTION)
    fetched = []  # every file first, then one import, so importers run in their (space, priority) order
    for d in datasets:
        for spec in d.files:
            fetched.append(fetch(spec, root / d.name, mirrors=tuple(mirror or ()), progress=_progress))
            check_format(fetched[-1], spec)
            if spec.unpinned:
                out.print(f"[dim]{escape(spec.target)}: no published checksum ({escape(spec.unpinned)}).[/dim]")
        if d.files:
            out.print(f"{d.name}: {len(d.files)} file(s) in {root / d.name} verified", markup=False)
    if fetched and not no_import:
        _import_all_or_nothing(fetched, _cache(data_dir))


# ----------------------------------------------------------------------------- list
def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def task_summary(name: str, cache) -> dict:
    """One row of ``data list``: the task's definition plus what the cache holds for it."""
    from nasbench_harness.tasks.catalog import get_spec, load_task

    spec = get_spec(name)
    row = {
        "task": spec.name,
        "space": spec.space,
        "dataset": spec.dataset,
        "available": False,
        "n_archs": 0,
        "train_metric": spec.train_metric,
        "eval_metric": spec.eval_metric,
        "best_train": None,
        "best_eval": None,
        "eval_is_test": spec.eval_is_test,
        "higher_is_better": spec.higher_is_better,
        "unit": spec.unit,
        "source": spec.source,
        "reason": "",
    }
    try:
        task = load_task(name, cache)
    except HarnessError as exc:
        row["reason"] = str(exc)
        row["damaged"] = not isinstance(exc, MissingDataError)  # imported, but unusable: say so, not "not imported"
        return row
    best = np.nanmax if spec.higher_is_better else np.nanmin
    row.update(
        available=len(task) > 0,
        n_archs=len(task),
        eval_metric=task.eval_metric,
        eval_is_test=task.eval_is_test,
        best_train=_num(best(task.train)) if len(task) else None,
        best_eval=_num(best(task.eval)) if len(task) else None,
    )
    return row


@data_app.command("list", help="One row per task definition, with what the cache holds for it.")
@_handle_errors
def list_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of objects instead of a table.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    from nasbench_harness.tasks.catalog import task_specs

    cache = _cache(data_dir)
    rows = [task_summary(name, cache) for name in sorted(task_specs())]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Tasks (cache: {escape(str(cache.root))})")
    for col in ("task", "archs", "train -> eval", "best train", "best eval"):
        table.add_column(col, overflow="fold")
    def fmt(v):
        return "-" if v is None else f"{v:.2f}"

    for r in rows:
        eval_name = r["eval_metric"] + ("" if r["eval_is_test"] else " (validation)")
        table.add_row(
            r["task"] if r["available"] else f"[dim]{r['task']}[/dim]",
            f"{r['n_archs']:,}" if r["available"] else ("[red]damaged[/red]" if r.get("damaged") else "[yellow]not imported[/yellow]"),
            f"{r['train_metric']} -> {eval_name}",
            fmt(r["best_train"]),
            fmt(r["best_eval"]),
        )
    out.print(table)
    for reason in dict.fromkeys(r["reason"] for r in rows if r.get("damaged")):  # one line per damaged space
        err.print(f"[red]problem:[/red] {escape(reason)}")


# --------------------------------------------------------------------------- verify
def table_problems(space: str, cache) -> list[str]:
    """Invariants of an imported table: unique ids, valid ids, row count, value ranges."""
    from nasbench_harness.registry import get_search_space

    problems = []
    try:
        table = cache.read_table(space)
    except HarnessError as exc:
        return [f"{space}: {exc}"]
    ids = table["arch_id"].astype(str)
    if ids.duplicated().any():
        problems.append(f"{space}: {int(ids.duplicated().sum())} duplicated arch_id values")
    try:
        searchspace = get_search_space(space)
    except HarnessError:
        searchspace = None  # add-on tables (e.g. transfer) are not search spaces
    # an imported table may hold fewer architectures than its space (subsets), never more
    limit = searchspace.size if searchspace is not None else None
    if limit is not None and len(table) > limit:
        problems.append(f"{space}: {len(table)} rows but the space has only {limit} architectures")
    if searchspace is not None and space == "nb201":
        valid = set(searchspace.enumerate().tolist())
        bad = (~ids.isin(valid)).sum()
        if bad:
            problems.append(f"{space}: {int(bad)} arch_id values are not NAS-Bench-201 arch strings")
    for col in table.columns:
        if col == "arch_id" or not (col.endswith(("_acc", ".acc")) or "_acc_" in col):
            continue
        values = table[col].to_numpy(dtype=np.float64, na_value=np.nan)
        finite = values[np.isfinite(values)]
        if finite.size and (finite.min() < 0 or finite.max() > 100):
            problems.append(f"{space}: column {col} has accuracies outside 0..100")
    return problems


@data_app.command("verify", help="Recompute checksums and check each imported table's invariants.")
@_handle_errors
def verify_cmd(data_dir: DataDirOption = None) -> None:
    cache = _cache(data_dir)
    spaces = cache.spaces()
    if not spaces:
        raise DataError(f"Nothing is imported in {cache.root}; run `nasbench-harness data import PATH` first.")
    problems = []
    for space in spaces:
        found = cache.verify(space) + table_problems(space, cache)
        problems += found
        status = "[green]ok[/green]" if not found else f"[red]{len(found)} problem(s)[/red]"
        out.print(f"{space}: {cache.manifest(space).get('rows', 0):,} rows, {status}")
    for p in problems:
        err.print(f"[red]problem:[/red] {escape(p)}")
    if problems:
        raise typer.Exit(1)


# ----------------------------------------------------------------------------- info
@data_app.command("info", help="Describe one task: definition, availability, best values, sources.")
@_handle_errors
def info_cmd(
    task: Annotated[str, typer.Argument(help="Task name, e.g. nb201/cifar10.")],
    data_dir: DataDirOption = None,
) -> None:
    from nasbench_harness.tasks.catalog import get_spec

    cache = _cache(data_dir)
    spec = get_spec(task)
    row = task_summary(task, cache)
    out.print(f"[bold]{escape(spec.name)}[/bold]  ({spec.space} on {spec.dataset})")
    if spec.description:
        out.print(escape(spec.description))
    unit = f" {spec.unit}" if spec.unit else ""
    direction = "higher" if spec.higher_is_better else "lower"
    out.print(f"train metric: {spec.train_metric}   eval metric: {row['eval_metric']}"
              f"{'' if row['eval_is_test'] else ' (validation: no test metric imported)'}   ({direction} is better)")
    if row["available"]:
        out.print(f"architectures: {row['n_archs']:,}   best train: {row['best_train']:.2f}{unit}   "
                  f"best eval: {row['best_eval']:.2f}{unit}")
        manifest = cache.manifest(spec.space)
        out.print(f"table sha256: {manifest.get('table_sha256', '?')}")
        for src in manifest.get("sources", []):
            out.print(f"  source: {escape(src['path'])} ({src['format']}, {src['bytes']:,} bytes)")
    else:
        out.print(f"[yellow]not available:[/yellow] {escape(row['reason'])}")
    if spec.notes:
        out.print(f"notes: {escape(spec.notes)}")
    if spec.source:
        out.print(f"source: {escape(spec.source)}")


# -------------------------------------------------------------------------- proxies
@data_app.command(
    "proxies",
    help="Compute zero-cost proxies in-project for SPACE (nb201) and add them to its cached table: "
    "data-free ones (params, flops, synflow) by default; batch-based ones (nwot, jacov, epe_nas, snip, grad_norm, "
    "plain, fisher, grasp) on a fixed synthetic batch. Resumable: a rerun skips finished chunks. See docs/PROXIES.md.",
)
@_handle_errors
def proxies_cmd(
    space: Annotated[str, typer.Argument(help="Search space (nb201).")],
    proxies: Annotated[str | None, typer.Option("--proxies", help="Comma list of proxies (default: params,flops,synflow).")] = None,
    cells: Annotated[str, typer.Option("--cells", help="all, or suite-zero (the cells with published Suite-Zero values).")] = "all",
    datasets: Annotated[str | None, typer.Option("--datasets", help="Comma list of datasets for batch-based proxies (default: all three).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", help="Worker processes (torch pinned to one thread each).")] = 1,
    sample: Annotated[int | None, typer.Option("--sample", help="Score only this many of the cells, drawn with seed 0.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    from nasbench_harness.cli import progress_bar
    from nasbench_harness.tasks.proxies import job

    names = job.parse_proxies(proxies)
    ds = [d.strip() for d in datasets.split(",") if d.strip()] if datasets else None
    cache = _cache(data_dir)
    with progress_bar(err) as bar:
        state = {}

        def on_start(total: int, done: int) -> None:
            state["task"] = bar.add_task(f"{space} proxies ({', '.join(names)})", total=total, completed=done)

        def on_chunk(_chunk) -> None:
            bar.advance(state["task"])

        try:
            summary = job.run(
                space, cache, names, cells=cells, jobs=jobs, datasets=ds, sample=sample, on_start=on_start,
                on_chunk=on_chunk,
            )
        except KeyboardInterrupt:
            err.print("interrupted: the finished chunks are kept; run the same command again to resume.")
            raise typer.Exit(130) from None
    out.print(
        f"{space}: {summary['computed']} of {summary['chunks']} chunks computed now; {summary['cells']:,} cells with "
        f"{len(summary['columns'])} proxy columns in {escape(summary['result'])} (sha256 {summary['sha256'][:16]}...), "
        f"merged into the table in {escape(str(cache.root))}"
    )
