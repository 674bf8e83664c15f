"""``nasbench-harness results prune``: drop the rows no named matrix computes any more.

A run key digests a cell's identity, its code and its data, so a code or data change leaves the
rows computed before it in the store under keys that no current cell has: a failed row from
before a data step (``data proxies``) stays beside the ok row that replaced it, and a kept store
carries it into git. Pruning plans each named matrix here (as ``run`` does, trusting the data
manifests' checksums) and drops the rows whose key none of them has. Rows of tasks whose data is
not imported here cannot be keyed, so they stay and are counted. Without ``apply`` nothing is
written; with it, the store is rewritten as ``results merge`` writes (a kept store through
``kept.write``, which stages every file first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from nasbench_harness import merge


@dataclass
class Pruning:
    rows: pd.DataFrame  # what stays
    dropped: pd.DataFrame  # rows whose key no named matrix has
    unkeyed_tasks: list[str] = field(default_factory=list)  # tasks without data here: their rows stay
    shards: list[Path] = field(default_factory=list)  # the shards whose rows were read


def current_keys(matrices: list[str], store) -> tuple[set[str], set[str]]:
    """The run keys of every cell of ``matrices`` as this code and data key them, and the
    tasks that could not be keyed (data not imported)."""
    from nasbench_harness.matrix import load_matrix
    from nasbench_harness.runner import plan

    keys, missing = set(), set()
    for name in matrices:
        p = plan(load_matrix(name), store, skip_missing_data=True, verify_data=False)
        keys.update(p.keys)
        missing.update(p.missing)
    return keys, missing


def find(path: Path, matrices: list[str]) -> Pruning:
    """Split a store's rows into those the ``matrices`` compute today and the stale rest."""
    from nasbench_harness.store import ResultStore

    rows, shards = merge.read_with_shards(Path(path))
    keys, missing = current_keys(matrices, ResultStore(path))
    stale = ~rows["key"].isin(keys) & ~rows["task"].isin(missing) if len(rows) else pd.Series([], dtype=bool)
    return Pruning(rows[~stale].reset_index(drop=True), rows[stale].reset_index(drop=True), sorted(missing & set(rows.get("task", []))), shards)


def apply(path: Path, pruning: Pruning) -> None:
    """Rewrite the store with the rows that stay (nothing is written when none is dropped)."""
    if len(pruning.dropped):
        merge.write(Path(path), pruning.rows, pruning.shards)


def summary(dropped: pd.DataFrame) -> list[str]:
    """One line per (matrix, task, status) of the dropped rows, largest first."""
    if not len(dropped):
        return []
    groups = dropped.fillna({"matrix": ""}).groupby(["matrix", "task", "status"]).size().sort_values(ascending=False)
    return [f"{n} {status} row(s) of {task} (matrix {matrix or '-'})" for (matrix, task, status), n in groups.items()]
