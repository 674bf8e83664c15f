"""What a search strategy is, and the oracle through which it sees a task.

A strategy (registered under the entry-point group ``nasbench_harness.strategies``)
subclasses ``Strategy`` and implements ``search(oracle, ctx)``: it queries architectures
one at a time through the ``Oracle`` until the budget is spent. The oracle reveals only the
train metric (higher is better) of what was queried, never the eval metric (its ``task`` is a
view without metric values, ``tasks.catalog.TaskView``), and charges each isomorphism class
(the space's ``iso_hash``) once: re-querying an architecture, or an isomorph of it, is free and
returns the value of the class's first-charged member. Isomorphs can carry different values in
a table (separate training runs); the first-charged member's train value stands for the class,
and the row's eval values are that member's too (a documented convention, not the mean). Proposals outside the task's labelled pool (our
NB101 subset, the 725 DARTS architectures) are not charged; the oracle counts them as
redraws. The ``SearchContext`` carries the cell's randomness, the shared initial sample and
a predictor factory for predictor-guided strategies.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from nasbench_harness.errors import ConfigError


class BudgetExhausted(Exception):
    """Raised by the oracle when a strategy asks for a new architecture after the last one."""


class StrategyError(ConfigError):
    """A strategy broke the oracle's contract (e.g. proposed something that is no architecture of the space)."""


def iso_groups(task) -> np.ndarray:
    """(n,) int: rows with the same group number are isomorphic; memoised in the space."""
    key = ("iso-groups", task.universe_key)
    memo = task.space._memo
    if key not in memo:
        hashes = [task.space.iso_hash(a) for a in task.ids.tolist()]
        _, groups = np.unique(np.asarray(hashes), return_inverse=True)
        memo[key] = groups.astype(np.int64)
    return memo[key]


class Oracle:
    """Charged, deduplicated access to one task's train metric under a query budget."""

    def __init__(self, task, budget: int, strategy: str = "", *, dedupe_isomorphs: bool = True) -> None:
        from nasbench_harness.tasks.catalog import label_free

        self._task = label_free(task)  # no metric values: the train metric only through queries, the eval metric never
        self._scores = task.train_scores
        # Without isomorph dedupe (the select protocol's row-level semantics) every row is its own group.
        self._group = iso_groups(task) if dedupe_isomorphs else np.arange(len(task), dtype=np.int64)
        self._first_of_group: dict[int, int] = {}  # iso group -> row charged for it
        self._charged = np.zeros(int(self._group.max()) + 1 if len(task) else 0, dtype=bool)
        self._trace: list[int] = []
        self._neighbours: dict[int, np.ndarray | None] = {}
        self.space = task.space
        self.budget = int(budget)
        self.n_pool = len(task)
        self.n_redraws = 0
        self.strategy = strategy

    @property
    def task(self):
        """The task without its metrics (``tasks.catalog.TaskView``): ids, space, encodings, data cache."""
        return self._task

    # -- accounting ---------------------------------------------------------------------
    @property
    def n_queries(self) -> int:
        return len(self._trace)

    @property
    def remaining(self) -> int:
        return self.budget - len(self._trace)

    @property
    def exhausted(self) -> bool:
        return len(self._trace) >= self.budget

    @property
    def trace_rows(self) -> np.ndarray:
        """Rows charged, in query order."""
        return np.asarray(self._trace, dtype=np.int64)

    @property
    def queried_scores(self) -> np.ndarray:
        """Train scores (higher is better) of the charged rows, in query order."""
        return self._scores[self.trace_rows]

    # -- the pool -----------------------------------------------------------------------
    def rows_of(self, arch_ids: Sequence[str], *, validate: bool = True) -> np.ndarray:
        """Task rows of proposed architectures; -1 (and one redraw counted) for each outside the pool.

        An id that is not an architecture of the space at all is a broken strategy
        (``StrategyError``); ``validate=False`` skips that check for ids that come from the
        space itself (``mutate``, ``neighbours``), where it would only cost time.
        """
        rows = self._task.rows_of(arch_ids)
        for a in np.asarray(arch_ids, dtype=object)[rows < 0] if validate else ():
            try:
                self.space.canonical_id(str(a))
            except Exception:  # noqa: BLE001 - any invalid-id error becomes one sentence
                raise StrategyError(
                    f"Strategy '{self.strategy}' proposed {str(a)!r}, which is not an architecture of search space "
                    f"'{self.space.name}'; fix the strategy so it proposes ids of that space (e.g. via space.mutate)."
                ) from None
        self.n_redraws += int((rows < 0).sum())
        return rows

    def is_queried(self, rows: np.ndarray) -> np.ndarray:
        """Bool per row: it or an isomorph has been charged already."""
        return self._charged[self._group[np.asarray(rows, dtype=np.int64)]]

    def unqueried(self) -> np.ndarray:
        """Every pool row whose iso group is not charged yet."""
        return np.flatnonzero(~self.is_queried(np.arange(self.n_pool)))

    def groups(self, rows: np.ndarray) -> np.ndarray:
        """Iso-group number of each row (equal for isomorphic architectures)."""
        return self._group[np.asarray(rows, dtype=np.int64)]

    def n_distinct(self) -> int:
        """Distinct (non-isomorphic) architectures in the pool: the largest possible budget."""
        return len(self._charged)

    def neighbour_rows(self, row: int) -> np.ndarray | None:
        """Pool rows of every single-edit neighbour of ``row`` (-1 outside the pool), memoised;
        None when the space cannot list neighbours. Not counted as redraws (a lookup, not a proposal)."""
        row = int(row)
        if row not in self._neighbours:
            try:
                ids = self.space.neighbours(str(self._task.ids[row]))
            except NotImplementedError:
                self._neighbours[row] = None
            else:
                self._neighbours[row] = self._task.rows_of(ids)
        return self._neighbours[row]

    def mutant(self, parent: int, rng: np.random.Generator, max_tries: int = 200) -> int:
        """An unqueried pool row one edit away from ``parent``, or -1 when there is none.

        Draws a uniformly random neighbour (what every built-in ``space.mutate`` does) from the
        memoised neighbour list, redrawing (and counting) those outside the pool; spaces that
        cannot list neighbours fall back to ``space.mutate`` with up to ``max_tries`` draws.
        """
        nbrs = self.neighbour_rows(parent)
        if nbrs is None:
            pid = str(self._task.ids[int(parent)])
            for _ in range(max_tries):
                row = int(self.rows_of([self.space.mutate(pid, rng)], validate=False)[0])
                if row >= 0 and not self._charged[self._group[row]]:
                    return row
            return -1
        inside = nbrs[nbrs >= 0]
        if not len(inside) or self._charged[self._group[inside]].all():
            return -1
        while True:
            row = int(nbrs[int(rng.integers(len(nbrs)))])
            if row < 0:
                self.n_redraws += 1
            elif not self._charged[self._group[row]]:
                return row

    # -- querying -----------------------------------------------------------------------
    def query_row(self, row: int) -> float:
        """Train score of ``row``; charged once per iso group. Raises BudgetExhausted past the budget."""
        row = int(row)
        if not 0 <= row < self.n_pool:
            raise StrategyError(
                f"Strategy '{self.strategy}' queried row {row} but the task has rows 0..{self.n_pool - 1}; "
                f"query rows returned by the oracle (rows_of, unqueried)."
            )
        group = int(self._group[row])
        first = self._first_of_group.get(group)
        if first is not None:
            return float(self._scores[first])
        if self.exhausted:
            raise BudgetExhausted
        self._first_of_group[group] = row
        self._charged[group] = True
        self._trace.append(row)
        return float(self._scores[row])

    def query(self, arch_id: str) -> float | None:
        """Train score of an architecture by id; None (a counted redraw) when it is outside the pool."""
        row = int(self.rows_of([arch_id])[0])
        return None if row < 0 else self.query_row(row)

    def query_rows(self, rows: Sequence[int]) -> np.ndarray:
        """Query several rows in order (stops with BudgetExhausted like ``query_row``)."""
        return np.array([self.query_row(r) for r in rows], dtype=np.float64)

    # -- inputs for predictors (never the eval metric) -----------------------------------
    def archset(self, rows: np.ndarray):
        from nasbench_harness.methods.base import ArchSet

        return ArchSet(self._task, np.asarray(rows, dtype=np.int64))

    def encoding(self, kind: str) -> np.ndarray:
        """Encoding ``kind`` of every pool row (computed once per space and memoised)."""
        return self._task.encoding(kind)

    def ids(self, rows: np.ndarray) -> list[str]:
        return [str(a) for a in self._task.ids[np.asarray(rows, dtype=np.int64)]]


@dataclass
class SearchContext:
    """The cell's side of a search: randomness, the shared initial sample, predictors, timing."""

    rng: np.random.Generator  # the strategy's own stream (from the cell only)
    initial_order: np.ndarray  # a permutation of the pool drawn from (seed, task) only
    task_name: str = ""
    new_predictor: Callable[..., Any] | None = None  # (loss=None, seed_offset=0) -> Predictor
    predictor_name: str = ""
    loss_name: str = ""
    loss_params: dict = field(default_factory=dict)
    threads: int = 1  # CPU threads a strategy's own models may use
    fit_seconds: float = 0.0
    seed: int = 0  # the cell's seed (keys models shared by a seed's cells, e.g. GraB-NAS's meta-trained ones)
    data_cache: Any = None  # the DataCache the task came from (meta-learners read their source tables there)
    # Bool per pool row: the experiment's candidate set (the protocol's pruning, e.g. GraB-NAS's
    # prune_top, made from the eval metric the strategy never sees); None: every row.
    candidates: np.ndarray | None = None

    def initial_sample(self, oracle: Oracle, n: int) -> None:
        """Charge the first ``n`` distinct architectures of the (seed, task) permutation.

        Every strategy of one (seed, task) that starts from a random sample starts from this
        one, so comparisons between strategies are paired.
        """
        for row in self.initial_order:
            if oracle.n_queries >= n:
                return
            oracle.query_row(int(row))

    def timed(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` (a predictor fit or score) and add its wall time to ``fit_seconds``."""
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            self.fit_seconds += time.perf_counter() - t0


def positive_int(name: str, strategy: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"The {strategy} strategy's '{name}' must be a positive integer, got {value!r}.")
    return value


class Strategy(ABC):
    """Base class of every search strategy (built-in or plugin).

    Declares what the harness needs: ``needs_predictor`` (its cells name a registered
    predictor, else ``predictor: none``), ``description`` (shown in listings),
    ``default_params`` (the protocol params it accepts besides ``strategy``). Randomness
    comes only from ``ctx.rng`` and ``ctx.initial_order``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    needs_predictor: ClassVar[bool] = False
    default_params: ClassVar[dict[str, Any]] = {}
    positive_int_params: ClassVar[tuple[str, ...]] = ()
    # CPU seconds of one search cell when no timing is stored (harness/estimate.py); None: the predictor's.
    prior_seconds: ClassVar[float | None] = None
    # The select protocol's method label for cells of this strategy (``predictor: none``); None: the
    # strategy cannot extend an observed sample (``extend``), so the select protocol refuses it.
    select_label: ClassVar[str | None] = None

    def __init__(self, **params) -> None:
        unknown = sorted(set(params) - set(self.default_params))
        if unknown:
            accepts = f"it accepts {sorted(self.default_params)}" if self.default_params else "it takes no parameters"
            raise ConfigError(f"The {self.name} strategy does not accept {unknown}; {accepts}.")
        self.params = {**self.default_params, **params}
        for key in self.positive_int_params:
            positive_int(key, self.name, self.params[key])

    @abstractmethod
    def search(self, oracle: Oracle, ctx: SearchContext) -> None:
        """Query architectures through ``oracle`` until its budget is spent."""

    @classmethod
    def extend(cls, task, observed: np.ndarray, k: int, rng: np.random.Generator, params: dict) -> np.ndarray:
        """Rows of up to ``k`` unseen architectures chosen after ``observed`` (the select protocol's
        baselines; ``params``: its protocol_params). Only strategies with a ``select_label`` offer it."""
        raise ConfigError(f"The {cls.name} strategy cannot extend an observed sample, so the select protocol cannot use it.")


def observed_oracle(task, observed: np.ndarray, k: int, strategy: str) -> Oracle:
    """A row-level oracle (no isomorph dedupe: the select protocol's semantics) that has charged ``observed``."""
    oracle = Oracle(task, len(observed) + k, strategy, dedupe_isomorphs=False)
    oracle.query_rows(observed)
    return oracle


def mutation_pool(oracle: Oracle, parents: np.ndarray, per_parent: int, rng: np.random.Generator, tries: int = 5) -> np.ndarray:
    """Distinct unqueried pool rows made by mutating each parent ``per_parent`` times.

    Mutants come from ``Oracle.mutant`` (outside-pool ones redrawn and counted); at most
    ``tries * per_parent`` draws per parent, so a parent whose neighbourhood is used up cannot
    stall the search; isomorphs of queried or already pooled architectures are dropped.
    """
    out: list[int] = []
    seen_groups: set[int] = set()
    for parent in parents:
        got = 0
        for _ in range(per_parent * tries):
            if got >= per_parent:
                break
            row = oracle.mutant(int(parent), rng, max_tries=tries)
            if row < 0:
                break
            g = int(oracle.groups([row])[0])
            if g in seen_groups:
                continue
            seen_groups.add(g)
            out.append(row)
            got += 1
    return np.asarray(out, dtype=np.int64)


def top_parents(oracle: Oracle, n: int) -> np.ndarray:
    """The ``n`` queried rows with the best train score (ties: earlier query first)."""
    order = np.argsort(-oracle.queried_scores, kind="stable")[:n]
    return oracle.trace_rows[order]
