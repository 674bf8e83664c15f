"""What a report number is judged on: the row-level ``eval_is_test`` flag, per task.

A task whose source has no test metric (NB101 subset, TransNAS-Bench-101 micro/macro,
DARTS/NB301, the Suite-Zero NB201 tasks) is judged on a validation metric; every section
that names what its numbers are judged on labels such tasks with ``validation_note``.
"""

from __future__ import annotations

import pandas as pd


def validation_tasks(df: pd.DataFrame, ctx=None) -> list[str]:
    """Sorted tasks of ``df`` judged on a validation metric.

    Read from the rows' ``eval_is_test`` flag (what the run actually used, e.g. NB101
    falling back to validation accuracy); the task definition only when rows lack the flag.
    """
    if df.empty or "task" not in df.columns:
        return []
    if "eval_is_test" in df.columns:
        flag = df["eval_is_test"]
        known = df[flag.notna()]
        tasks = set(known.loc[~known["eval_is_test"].astype(bool), "task"])
        unknown = set(df.loc[flag.isna(), "task"]) - set(known["task"])
    else:
        tasks, unknown = set(), set(df["task"])
    for task in unknown:
        spec = ctx.task(task) if ctx is not None else None
        if spec is not None and not getattr(spec, "eval_is_test", True):
            tasks.add(task)
    return sorted(tasks)


def validation_note(ctx, df: pd.DataFrame, what: str = "the eval metric") -> str:
    """A note naming the validation-judged tasks of ``df`` ("" when there are none)."""
    tasks = validation_tasks(df, ctx)
    if not tasks:
        return ""
    return ctx.note(
        f"Judged on validation, not test: {', '.join(tasks)} (their sources have no test metric), so "
        f"{what} there is a validation metric, the same kind the predictors were trained on."
    )
