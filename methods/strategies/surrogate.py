"""Search strategies driven by a surrogate trained on OTHER tasks of the same space (issue 10).

Both fit the cell's predictor on its encoding to the train metric of the source tasks
(``sources``; each task's labels rank-normalised within it) through
``protocols.transfer.surrogate_scores``, the function the ``transfer`` protocol uses, and score
every architecture of the target's pool once (the pool is the task's table, enumerable here;
scoring costs no query). The fit and scoring count in ``fit_share``. Neither sees a label
of the target before querying it.

- ``surrogate_filter``: regularised evolution (``baselines.evolve``, unchanged) in which a
  child the surrogate ranks in the bottom ``q`` % of the target pool is skipped without a
  query: the mutation is redrawn (``n_skipped`` counts the distinct architectures so kept
  from a query). A parent all of whose unqueried neighbours are filtered is exhausted, as in
  RE; when every member is, a random
  unqueried architecture outside the filtered set joins (any unqueried one if none is left).
  The initial population is the shared random sample, so the comparison with plain RE is paired.
- ``surrogate_objective``: the search runs on the surrogate alone: the pool ranked by the
  surrogate, and its top architectures queried in that order until the budget is spent
  (isomorphs of a queried architecture are free and skipped). The anytime curve is over those
  queries.

Default ``sources``: every other task of the target's space whose data is imported and that
labels every architecture of the target's pool (for nb201/cifar10: nb201/cifar100 and
nb201/ImageNet16-120; for the 199-cell nb201/svhn: the three full NB201 tasks and the other two
Suite-Zero tasks). ``q`` = 50 was fixed in advance (docs/SURROGATES.md): no setting here was
chosen on any target's eval metric.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.strategies.base import Oracle, SearchContext, Strategy


def _check_sources(sources, strategy: str) -> None:
    from nasbench_harness.tasks.catalog import get_spec

    if sources is None:
        return
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) for s in sources):
        raise ConfigError(f"The {strategy} strategy's 'sources' must be a non-empty list of task names (or left out for the default), got {sources!r}.")
    for s in sources:
        get_spec(s)  # unknown: ConfigError with a did-you-mean


def default_sources(task) -> list[str]:
    """Other tasks of the target's space whose data is imported and that label all of its pool."""
    from nasbench_harness.errors import DataError
    from nasbench_harness.protocols.transfer import load_related
    from nasbench_harness.tasks.catalog import task_specs

    out = []
    for name, spec in task_specs().items():
        if spec.space != task.spec.space or name == task.name:
            continue
        try:
            other = load_related(name, task)
        except DataError:
            continue  # not imported here: not a usable source
        if (other.rows_of(task.ids) >= 0).all():
            out.append(name)
    if not out:
        raise ConfigError(f"No other task of space '{task.spec.space}' labels every architecture of '{task.name}'; give the strategy's 'sources' explicitly.")
    return out


class SurrogateStrategy(Strategy):
    """Shared part: validate params, fit the cross-task surrogate, score the target pool."""

    needs_predictor = True
    default_params: ClassVar[dict[str, Any]] = {"sources": None, "source_budget": "all", "normalise": "rank"}

    def __init__(self, **params) -> None:
        from nasbench_harness.protocols.transfer import NORMALISE, check_source_budget

        super().__init__(**params)
        _check_sources(self.params["sources"], self.name)
        check_source_budget(self.params["source_budget"], f"The {self.name} strategy's")
        if self.params["normalise"] not in NORMALISE:
            raise ConfigError(f"The {self.name} strategy's 'normalise' must be one of {list(NORMALISE)}, got {self.params['normalise']!r}.")

    def pool_scores(self, oracle: Oracle, ctx: SearchContext) -> np.ndarray:
        """Surrogate score of every pool row (higher = predicted better)."""
        from nasbench_harness.protocols.transfer import (
            Labelled,
            load_related,
            sample_rows,
            source_rng,
            surrogate_scores,
        )

        if ctx.new_predictor is None:
            raise ConfigError(f"The {self.name} strategy needs a predictor (the surrogate) but the cell gives none; name one, e.g. xgboost with encoding graf.")
        task = oracle.task  # the target without its metrics: ids, space and data cache
        names = self.params["sources"] or default_sources(task)
        self.sources = list(names)
        budget = self.params["source_budget"]
        parts = []
        for name in names:
            source = load_related(name, task)
            parts.append(Labelled(source, sample_rows(source, budget, source_rng(ctx.seed, name, budget))))
        scores, fit_s, predict_s = surrogate_scores(lambda: ctx.new_predictor(), parts, task, np.arange(oracle.n_pool),
                                                   normalise=self.params["normalise"])
        ctx.fit_seconds += fit_s + predict_s
        self.n_source_cells = int(sum(len(p.rows) for p in parts))
        return scores

    def row_extras(self, oracle: Oracle) -> dict:
        return {"sources": list(getattr(self, "sources", [])), "n_source_cells": int(getattr(self, "n_source_cells", 0))}


class FilteredOracle:
    """The oracle as regularised evolution sees it under the filter: mutants in the blocked set are
    skipped (redrawn) and never charged; everything else is the wrapped oracle.

    ``skipped`` holds the distinct blocked architectures the filter kept from a query: drawn as
    a child, or left as a parent's only unqueried in-pool neighbours (the parent is then
    exhausted, as in RE).
    """

    def __init__(self, oracle: Oracle, blocked: np.ndarray) -> None:
        self._oracle = oracle
        self.blocked = blocked
        self.skipped: set[int] = set()

    def __getattr__(self, name):
        return getattr(self._oracle, name)

    def mutant(self, parent: int, rng: np.random.Generator, max_tries: int = 200) -> int:
        o = self._oracle
        nbrs = o.neighbour_rows(parent)
        if nbrs is not None:
            inside = nbrs[nbrs >= 0]
            fresh = inside[~o.is_queried(inside)]
            if not len(fresh) or self.blocked[fresh].all():
                self.skipped.update(int(r) for r in fresh)
                return -1  # nothing unqueried and unfiltered next to this parent: exhausted
        for _ in range(max_tries if nbrs is None else 1 << 30):  # listed neighbours: terminates (one is allowed)
            row = o.mutant(parent, rng, max_tries=max_tries)
            if row < 0 or not self.blocked[row]:
                return row
            self.skipped.add(row)
        return -1

    def unqueried(self) -> np.ndarray:
        rows = self._oracle.unqueried()
        allowed = rows[~self.blocked[rows]]
        return allowed if len(allowed) else rows


class SurrogateFilter(SurrogateStrategy):
    """Regularised evolution whose children in the surrogate's bottom q % of the pool are skipped unqueried."""

    name = "surrogate_filter"
    description = "Regularised evolution skipping, without a query, children a surrogate trained on other tasks ranks in its bottom q%."
    default_params: ClassVar[dict[str, Any]] = {
        **SurrogateStrategy.default_params, "q": 50, "population": 10, "tournament": 3, "max_mutation_tries": 200,
    }
    positive_int_params = ("population", "tournament", "max_mutation_tries")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        q = self.params["q"]
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q < 100:
            raise ConfigError(f"The surrogate_filter strategy's 'q' must be a percentage in [0, 100), got {q!r}.")

    def search(self, oracle: Oracle, ctx: SearchContext) -> None:
        from nasbench_harness.methods.strategies.baselines import evolve

        p = self.params
        scores = self.pool_scores(oracle, ctx)
        # Bottom q % of the reference distribution (the surrogate's scores of the whole pool).
        blocked = scores < np.quantile(scores, p["q"] / 100.0) if p["q"] > 0 else np.zeros(len(scores), bool)
        self.filtered = FilteredOracle(oracle, blocked)
        ctx.initial_sample(oracle, p["population"])
        evolve(self.filtered, oracle.trace_rows.tolist(), ctx.rng, tournament=p["tournament"], max_tries=p["max_mutation_tries"])

    def row_extras(self, oracle: Oracle) -> dict:
        f = getattr(self, "filtered", None)
        return {
            **super().row_extras(oracle),
            "q": float(self.params["q"]),
            "n_skipped": len(f.skipped) if f is not None else 0,
            "n_blocked": int(f.blocked.sum()) if f is not None else 0,
        }


class SurrogateObjective(SurrogateStrategy):
    """Search on the surrogate alone: query its top-ranked architectures of the pool, in its order."""

    name = "surrogate_objective"
    description = "Rank the whole pool by a surrogate trained on other tasks; query only its top-k (k = budget) in that order."

    def search(self, oracle: Oracle, ctx: SearchContext) -> None:
        from nasbench_harness.methods.strategies.guided import top_k

        scores = self.pool_scores(oracle, ctx)
        pool = np.arange(oracle.n_pool)
        for row in top_k(pool, scores, len(pool), ctx.rng):  # surrogate order, ties in random order
            oracle.query_row(int(row))  # isomorphs of a queried row are free; BudgetExhausted ends the search
