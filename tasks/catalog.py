"""Task definitions (YAML data in tasks/definitions/) and loading a task into arrays.

A task is one search space on one dataset with a *train metric* (what a predictor may
see) and an *eval metric* (what it is judged on). Predictors always receive scores where
higher is better: ``Task.train_scores``/``eval_scores`` flip lower-is-better metrics.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import yaml
from nasbench_harness.errors import ConfigError, DataError, did_you_mean
from nasbench_harness.tasks.digest import combine


@dataclass(frozen=True)
class TaskSpec:
    name: str  # "<space>/<dataset>", e.g. "nb201/cifar100"
    space: str
    dataset: str
    train_metric: str  # column in the space table
    eval_metric: str  # column in the space table
    higher_is_better: bool = True
    unit: str = ""
    eval_is_test: bool = True  # False: the eval metric is a validation metric (said in reports)
    eval_fallback: str = ""  # column used when eval_metric is not imported (then eval_is_test is False)
    source: str = ""  # where the numbers come from (shown in `data list`)
    description: str = ""
    notes: str = ""  # caveats shown beside results (e.g. "NB101: 20,001-cell subset")
    extras: tuple[str, ...] = ()  # extra columns that travel along (12-epoch, params, proxies)


@functools.cache
def task_specs() -> dict[str, TaskSpec]:
    """Every task definition, by name: the ``*.yaml`` files of the folders registered under
    ``nasbench_harness.tasks`` (built-ins: tasks/definitions/), in registry order."""
    return {name: spec for name, (spec, _) in _definitions().items()}


def task_provider(name: str) -> str:
    """The distribution whose registered folder defines task ``name``."""
    return _definitions()[get_spec(name).name][1]


@functools.cache
def _definitions() -> dict[str, tuple[TaskSpec, str]]:
    from nasbench_harness import registry

    found: dict[str, tuple[TaskSpec, str]] = {}
    for entry, path in registry.yaml_files("tasks"):
        for raw in yaml.safe_load(path.read_text()) or []:
            raw = dict(raw)
            raw["extras"] = tuple(raw.get("extras", ()))
            try:
                spec = TaskSpec(**raw)
            except TypeError as exc:
                raise ConfigError(f"Task definition in {path.name} of package {entry.dist} is invalid ({exc}).") from None
            if spec.name in found:
                raise ConfigError(
                    f"Task '{spec.name}' is defined twice (again in {path.name} of package {entry.dist}, first by "
                    f"{found[spec.name][1]}); rename one of them."
                )
            found[spec.name] = (spec, entry.dist)
    return found


def builtin_tasks() -> list[str]:
    """What a matrix's ``tasks: ["*"]`` means: the tasks this package defines on benchmark data,
    never a plugin's nor a synthetic space's (the toy space, ``SearchSpace.synthetic``)."""
    from nasbench_harness import registry

    return [
        name for name, (spec, dist) in _definitions().items()
        if dist == registry.BUILTIN_DIST and not registry.load("search_spaces", spec.space).synthetic
    ]


def get_spec(name: str) -> TaskSpec:
    specs = task_specs()
    if name not in specs:
        raise ConfigError(
            f"Unknown task '{name}'; `nasbench-harness list tasks` shows the known ones.{did_you_mean(name, specs)}"
        )
    return specs[name]


class Architectures:
    """What a task and its label-free view share: the architectures (``spec``, ``space``, ``ids``,
    ``cache``, ``universe_key``), their row lookup, encodings and graphs."""

    @property
    def name(self) -> str:
        return self.spec.name

    def __len__(self) -> int:
        return len(self.ids)

    def rows_of(self, arch_ids) -> np.ndarray:
        """Row positions of the given ids (-1 for ids not in this task)."""
        if self._row is None:
            self._row = {a: i for i, a in enumerate(self.ids.tolist())}
        return np.fromiter((self._row.get(a, -1) for a in arch_ids), dtype=np.int64)

    def encoding(self, kind: str) -> np.ndarray:
        """Encoding ``kind`` for every row, memoised in the search space."""
        return self.space.encoding(kind, self.ids, self.universe_key, cache=self.cache)

    def graphs(self):
        """GraphBatch for every row, memoised in the search space."""
        return self.space.encoding("graph", self.ids, self.universe_key)


@dataclass
class Task(Architectures):
    """A loaded task: aligned arrays over its architecture universe."""

    spec: TaskSpec
    space: object  # SearchSpace
    ids: np.ndarray  # (n,) str, canonical arch ids
    train: np.ndarray  # (n,) float64, train metric as stored (original sign)
    eval: np.ndarray  # (n,) float64, eval metric as stored (original sign)
    extras: pd.DataFrame  # (n, k), extra columns
    data_checksum: str  # content digest of ids, train and eval metrics and extras (tasks/digest.py)
    eval_metric: str = ""  # the column actually used (eval_fallback when the test column is absent)
    eval_is_test: bool = True
    cache: object = field(default=None, repr=False)  # the DataCache it was loaded from (encodings read it)
    _row: dict | None = field(default=None, repr=False)
    _digests: dict = field(default_factory=dict, repr=False)
    _view: TaskView | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def sign(self) -> float:
        return 1.0 if self.spec.higher_is_better else -1.0

    @property
    def train_scores(self) -> np.ndarray:
        """Train metric oriented so that higher is better (what predictors are fit on)."""
        return self.sign * self.train

    @property
    def eval_scores(self) -> np.ndarray:
        """Eval metric oriented so that higher is better (what metrics are computed on)."""
        return self.sign * self.eval

    @functools.cached_property
    def universe_key(self) -> str:
        return f"{self.name}:{self.data_checksum[:16]}:{len(self.ids)}"

    def input_digest(self, encoding: str = "") -> str:
        """The digest of what a cell with ``encoding`` can read: the task's content
        (``data_checksum``) plus the table columns the encoding reads (zero-cost proxies,
        parameter counts; ``encodings.columns_read``). Columns nothing reads do not count, so
        merging proxy columns leaves a ``onehot`` cell's digest unchanged."""
        if encoding not in self._digests:
            from nasbench_harness.tasks.encodings import columns_read

            try:
                columns = columns_read(self.space, encoding, lambda: self.space.table_columns(self.cache))
            except Exception:  # noqa: BLE001 - no table to read (none imported, a synthetic task)
                columns = []  # no table to read: the encoding fails in the cell, which is never stored as done
            self._digests[encoding] = (
                combine({"task": self.data_checksum, "encoding": self.space.column_digests(self.cache, columns)})
                if columns else self.data_checksum
            )
        return self._digests[encoding]

    @property
    def label_free(self) -> TaskView:
        """The task as strategies and predictors see it (``TaskView``); one per task (rebuilt only
        when its space, ids or cache were swapped), so models that memoise per task object
        (ConvNP) keep their memo."""
        if self._view is None or not self._view.shows(self):
            self._view = TaskView(self)
        return self._view


class TaskView(Architectures):
    """A task without its metrics: what strategies (``Oracle.task``) and predictors
    (``ArchSet.task``) may read. Architectures, encodings, graphs and the extra columns that
    are not test metrics; neither the eval metric's values nor the train metric's (a strategy
    gets train values only from the oracle's charged queries, a predictor only as ``fit``'s
    labels). It holds no reference to the task, so no attribute path leads to ``Task.eval``.
    """

    def __init__(self, task: Task) -> None:
        self.spec, self.space, self.ids, self.cache = task.spec, task.space, task.ids, task.cache
        self.eval_metric = task.eval_metric  # the column's name (refused by ArchSet.extras), not its values
        self.universe_key = task.universe_key
        hidden = [c for c in task.extras.columns if "test" in str(c).split(".")[-1] or c in (task.eval_metric, task.spec.eval_metric)]
        self.extras = task.extras.drop(columns=hidden)
        self._row: dict | None = None

    def shows(self, task: Task) -> bool:
        """Whether this view still shows ``task``'s architectures (tests swap a task's space)."""
        return self.space is task.space and self.ids is task.ids and self.cache is task.cache

    def __getattr__(self, name: str):
        if name in ("eval", "eval_scores", "train", "train_scores", "input_digest", "data_checksum"):
            raise AttributeError(
                f"Strategies and predictors see task '{self.spec.name}' without its metrics ('{name}' is not theirs to read): "
                "train values come from the oracle's queries or as fit()'s labels, eval values never."
            )
        raise AttributeError(name)


def label_free(task):
    """``task``'s ``TaskView`` (a view stays itself; objects that are no ``Task``, e.g. test doubles, pass unchanged)."""
    return task.label_free if isinstance(task, Task) else task


def _task_table(space, cache, spec: TaskSpec) -> pd.DataFrame:
    """The space's table, restricted to the task's columns when the space can read a subset.

    Wide tables (e.g. NB201 with ~100 zero-cost proxy columns) then cost only the columns
    a task uses; spaces whose ``load_table`` takes no ``columns`` argument load everything.
    """
    if "columns" not in inspect.signature(space.load_table).parameters:
        return space.load_table(cache)
    wanted = ["arch_id", spec.train_metric, spec.eval_metric, spec.eval_fallback, *spec.extras]
    return space.load_table(cache, columns=[c for c in dict.fromkeys(wanted) if c])


def load_task(name: str, cache=None) -> Task:
    """Load a task's arrays from the data cache (or the embedded package)."""
    from nasbench_harness.registry import get_search_space
    from nasbench_harness.tasks.cache import DataCache

    spec = get_spec(name)
    cache = cache or DataCache()
    space = get_search_space(spec.space)
    table = _task_table(space, cache, spec)
    eval_metric, eval_is_test = spec.eval_metric, spec.eval_is_test
    if eval_metric not in table.columns and spec.eval_fallback in table.columns:
        # e.g. NB101 without test accuracy: judge on validation, and say so.
        eval_metric, eval_is_test = spec.eval_fallback, False
    needed = [spec.train_metric, eval_metric]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise DataError(
            f"Task '{name}' needs column(s) {missing} that the imported '{spec.space}' data lacks; "
            f"import the {spec.source or spec.space} files with `nasbench-harness data import PATH`."
        )
    table = table.dropna(subset=needed)
    extras = [c for c in spec.extras if c in table.columns]
    return Task(
        spec=spec,
        space=space,
        ids=table["arch_id"].to_numpy(dtype=str),
        train=table[spec.train_metric].to_numpy(dtype=np.float64),
        eval=table[eval_metric].to_numpy(dtype=np.float64),
        extras=table[extras].reset_index(drop=True),
        data_checksum=combine({"space": spec.space, "train": spec.train_metric, "eval": eval_metric,
                               "columns": space.column_digests(cache, [spec.train_metric, eval_metric, *extras])}),
        eval_metric=eval_metric,
        eval_is_test=eval_is_test,
        cache=cache,
    )
