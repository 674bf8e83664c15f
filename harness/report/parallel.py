"""Rendering a report's pages on every core: the study sections, the leaderboards (and the index's
overall ranking) as one queue.

A full-scale report has five study sections (seconds each: statistics and figures) and over a
hundred leaderboards (a fraction of a second each). They go into one queue, sections first,
served by a pool of forked processes from its front while this process takes jobs from its
back, so that no core idles while work is left and no long section starts last. Forked (Linux
only), the processes share the loaded rows and imports with this one; elsewhere, or when no
process can be had, everything is rendered here in order. The pages are the same bytes either
way: a section rendered elsewhere hands back its claim checks, which are numbered here in
section order, as a serial build numbers them (``check-1``, ``check-2``, ...).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import re
import sys
from collections.abc import Callable

import pandas as pd
from nasbench_harness.errors import ConfigError
from nasbench_harness.report.sections import RenderedSection, Section, render_all

JOBS_ENV = "NASBENCH_HARNESS_REPORT_JOBS"  # processes rendering pages (1: in this process)
MIN_BOARDS_PER_JOB = 4  # fewer boards than this per process do not repay forking it and sending the pages back
SECTION_WEIGHT = MIN_BOARDS_PER_JOB  # a study section counts as this many boards when sizing the pool

_SHARED: tuple | None = None  # (results, ctx, jobs, board function, calls) that forked processes inherit


def report_jobs(jobs: int | None, n_boards: int) -> int:
    """Processes for ``n_boards`` boards: ``jobs``, else ``$NASBENCH_HARNESS_REPORT_JOBS``, else the CPU
    count, never more than one per ``MIN_BOARDS_PER_JOB`` boards."""
    if jobs is None:
        raw = os.environ.get(JOBS_ENV, "").strip()
        try:
            jobs = int(raw) if raw else (os.cpu_count() or 1)
        except ValueError:
            raise ConfigError(f"{JOBS_ENV} must be a whole number of processes (1: no pool), got '{raw}'.") from None
    return max(1, min(int(jobs), n_boards // MIN_BOARDS_PER_JOB))


def render_pages(results: pd.DataFrame, ctx, comps: list[dict], sections: list[Section] | None,
                 board: Callable, jobs: int | None, calls: dict[str, Callable] | None = None):
    """Every comparison's board (``board(results, comp, ctx)``) and every section, rendered, and each
    of ``calls`` (name -> a function of no arguments, e.g. the index's overall ranking) called:
    (boards, sections, {name: what its call returned}). The sections' claim checks are added to
    ``ctx.checks`` and their verdicts to ``ctx.verdicts``."""
    from nasbench_harness.report.sections import discover

    global _SHARED
    sections = discover() if sections is None else sections
    calls = dict(calls or {})
    work = [("call", c) for c in calls] + [("section", s) for s in sections] + [("board", c) for c in comps]
    n = report_jobs(jobs, len(comps) + SECTION_WEIGHT * len(sections))
    done: list = [None] * len(work)
    pool = None
    if n > 1 and sys.platform.startswith("linux"):
        from concurrent.futures import ProcessPoolExecutor

        _SHARED = (results, ctx, work, board, calls)
        try:
            pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("fork"))
            futures = [pool.submit(_job_at, k) for k in range(len(work))]
        except OSError:  # no processes to be had (limits, memory): all here
            pool, _SHARED = None, None
    try:
        if pool is not None:
            from concurrent.futures.process import BrokenProcessPool

            try:
                for k in reversed(range(len(work))):  # from the back, while no process has reached the job
                    if not futures[k].cancel():
                        break
                    done[k] = _job(results, ctx, work[k], board, calls)
                for k, f in enumerate(futures):
                    if done[k] is None:
                        done[k] = f.result()
            except (BrokenProcessPool, OSError):  # a process died: render what is missing here
                pass
        for k, item in enumerate(work):
            if done[k] is None:
                done[k] = _job(results, ctx, item, board, calls)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        _SHARED = None
    rendered = [r for (kind, _), out in zip(work, done, strict=True) if kind == "section" for r in _adopt(ctx, *out)]
    called = {what: out for (kind, what), out in zip(work, done, strict=True) if kind == "call"}
    return [out for (kind, _), out in zip(work, done, strict=True) if kind == "board"], rendered, called


def _job_at(k: int):
    """The k-th job, in a forked pool process (see ``render_pages``)."""
    results, ctx, work, board, calls = _SHARED
    return _job(results, ctx, work[k], board, calls)


def _job(results, ctx, item: tuple, board: Callable, calls: dict[str, Callable]):
    kind, what = item
    if kind == "board":
        return board(results, what, ctx)
    if kind == "call":
        return calls[what]()
    # A section's checks leave ctx.checks again (numbered from where it stood): render_pages numbers
    # every section's checks in section order when all are back, wherever each was rendered.
    n0, known = len(ctx.checks), set(ctx.verdicts)
    rendered = render_all(results, ctx, [what])
    checks = ctx.checks[n0:]
    del ctx.checks[n0:]
    return rendered, checks, {m: v for m, v in ctx.verdicts.items() if m not in known}


def _adopt(ctx, rendered: list[RenderedSection], checks: list[dict], verdicts: dict) -> list[RenderedSection]:
    """One section's pages and checks, its check anchors renumbered after those already in ``ctx.checks``."""
    ctx.verdicts.update({m: v for m, v in verdicts.items() if m not in ctx.verdicts})
    anchors = {}
    for c in checks:
        anchors[c["anchor"]] = f"check-{len(ctx.checks) + 1}"
        ctx.checks.append({**c, "anchor": anchors[c["anchor"]]})
    if not anchors:
        return rendered
    swap = lambda m: f'id="{anchors.get(m.group(1), m.group(1))}"'  # noqa: E731
    return [dataclasses.replace(r, html=re.sub(r'id="(check-\d+)"', swap, r.html)) for r in rendered]
