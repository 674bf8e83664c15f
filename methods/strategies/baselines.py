"""Predictor-free search strategies: random search, regularised evolution, local search.

Defaults and where they come from are in docs/SEARCH.md.
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

import numpy as np
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.strategies.base import Oracle, SearchContext, Strategy, observed_oracle


class RandomSearch(Strategy):
    """Query architectures uniformly at random: the cell's (seed, task) permutation of the pool.

    Its first n queries are therefore every other strategy's initial sample of size n.
    """

    name = "random"
    description = "Random search: distinct architectures uniformly at random from the task's pool."
    prior_seconds = 0.5
    select_label = "random_search"

    def search(self, oracle: Oracle, ctx: SearchContext) -> None:
        ctx.initial_sample(oracle, oracle.budget)

    @classmethod
    def extend(cls, task, observed: np.ndarray, k: int, rng: np.random.Generator, params: dict) -> np.ndarray:
        """K unseen architectures: random search walking a uniform draw of the unseen rows."""
        unseen = np.setdiff1d(np.arange(len(task)), observed)
        if k > len(unseen):
            raise ConfigError(f"Selecting {k} more architectures needs {k} unseen ones but only {len(unseen)} remain; lower k or the budget.")
        oracle = observed_oracle(task, observed, k, cls.name)
        order = np.concatenate([observed, rng.choice(unseen, size=k, replace=False)])
        cls().search(oracle, SearchContext(rng=rng, initial_order=order))
        return oracle.trace_rows[len(observed):]


def evolve(oracle: Oracle, population: list[int], rng: np.random.Generator, *, tournament: int, max_tries: int, listed_neighbours: bool = True) -> None:
    """Regularised evolution (Real et al. 2019) from ``population`` (oldest first) until the budget is spent.

    Each cycle samples ``tournament`` members, mutates the best (``space.mutate``) into an
    unqueried architecture of the pool, queries it, adds it and ages out the oldest member.
    Mutants come from ``Oracle.mutant`` (a uniform random neighbour, outside-pool ones redrawn
    and counted); a parent without an unqueried neighbour in the pool is marked exhausted and
    no longer enters tournaments (on a pool holding only part of its space, such as our NB101
    subset, some architectures have none). When every member is exhausted, a random unqueried
    architecture of the pool joins the population (search only), so a partial pool does not
    end the run early.
    ``listed_neighbours=False`` keeps the ``select`` protocol's original draws: ``space.mutate``
    redrawn up to ``max_tries`` times per child.
    """
    pop = deque(int(r) for r in population)  # left = oldest
    scores = {r: oracle.query_row(r) for r in pop}  # all charged already: free
    exhausted: set[int] = set()
    while not oracle.exhausted:
        alive = [r for r in pop if r not in exhausted]
        if not alive:
            fresh = oracle.unqueried() if listed_neighbours else []
            if not len(fresh):
                return
            # Every member is stuck (possible only on a pool holding part of its space): a random
            # unqueried architecture of the pool joins, as a restart would, so the budget is spent.
            child = int(fresh[int(rng.integers(len(fresh)))])
            scores[child] = oracle.query_row(child)
            pop.append(child)
            pop.popleft()
            continue
        members = rng.choice(len(alive), size=min(tournament, len(alive)), replace=False)
        parent = max((alive[i] for i in members), key=lambda r: scores[r])
        if listed_neighbours:
            child = oracle.mutant(parent, rng, max_tries=max_tries)
        else:
            pid, child = oracle.ids([parent])[0], -1
            for _ in range(max_tries):
                row = int(oracle.rows_of([oracle.space.mutate(pid, rng)], validate=False)[0])
                if row >= 0 and not oracle.is_queried(np.array([row]))[0]:
                    child = row
                    break
        if child < 0:
            exhausted.add(parent)
            continue
        scores[child] = oracle.query_row(child)
        pop.append(child)
        pop.popleft()


class RegularisedEvolution(Strategy):
    """Regularised evolution with the NAS-Bench-201 authors' REA settings (population 10, tournament 3)."""

    name = "evolution"
    description = "Regularised evolution (Real et al. 2019): tournament selection, mutation, ageing out the oldest."
    default_params: ClassVar[dict[str, Any]] = {"population": 10, "tournament": 3, "max_mutation_tries": 200}
    positive_int_params = ("population", "tournament", "max_mutation_tries")
    prior_seconds = 10.0
    select_label = "evolution"

    def search(self, oracle: Oracle, ctx: SearchContext) -> None:
        p = self.params
        ctx.initial_sample(oracle, p["population"])
        evolve(oracle, oracle.trace_rows.tolist(), ctx.rng, tournament=p["tournament"], max_tries=p["max_mutation_tries"])

    @classmethod
    def extend(cls, task, observed: np.ndarray, k: int, rng: np.random.Generator, params: dict) -> np.ndarray:
        """Regularised evolution from the observed population (ages follow the sampling order), the
        select protocol's ``tournament`` (default 10) and ``max_mutation_tries`` (default 200): a
        mutation that leaves the task or hits an evaluated architecture is redrawn from the same
        parent; a parent that yields none no longer enters tournaments (see ``evolve``)."""
        oracle = observed_oracle(task, observed, k, cls.name)
        evolve(oracle, observed.tolist(), rng, tournament=int(params.get("tournament", 10)),
               max_tries=int(params.get("max_mutation_tries", 200)), listed_neighbours=False)
        return oracle.trace_rows[len(observed):]


class LocalSearch(Strategy):
    """Local search in the style of White et al. (2021): from the best of a random sample, query the
    whole neighbourhood, move to its best member while that improves; at a local optimum restart
    from a random unqueried architecture."""

    name = "local_search"
    prior_seconds = 5.0
    description = "Local search (White et al. 2021): steepest ascent over single-edit neighbours with random restarts."
    default_params: ClassVar[dict[str, Any]] = {"n_init": 10}
    positive_int_params = ("n_init",)

    def search(self, oracle: Oracle, ctx: SearchContext) -> None:
        ctx.initial_sample(oracle, self.params["n_init"])
        current = int(oracle.trace_rows[int(np.argmax(oracle.queried_scores))])
        while not oracle.exhausted:
            neighbours = oracle.rows_of(oracle.space.neighbours(oracle.ids([current])[0]), validate=False)
            neighbours = neighbours[neighbours >= 0]
            neighbours = neighbours[ctx.rng.permutation(len(neighbours))]
            values = oracle.query_rows(neighbours)  # queried ones are free
            here = oracle.query_row(current)
            if len(values) and values.max() > here:
                current = int(neighbours[int(np.argmax(values))])
                continue
            fresh = oracle.unqueried()
            if not len(fresh):
                return
            current = int(fresh[int(ctx.rng.integers(len(fresh)))])
            oracle.query_row(current)
