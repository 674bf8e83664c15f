"""The ``search`` protocol: a strategy spends a query budget one architecture at a time.

Steps for one cell:
1. build the strategy named by ``protocol_params.strategy`` (registry kind ``strategies``)
   with the other protocol params, and an ``Oracle`` over the task with budget B (``budget``:
   a count, or a fraction of the task);
2. the strategy queries until B distinct architectures are charged. It sees only the train
   metric; isomorphs of a charged architecture are free; proposals outside the labelled pool
   are redrawn and counted (``n_redraws``). Its initial random sample is the first n of a
   permutation drawn from (seed, task) only, the same for every strategy and budget;
3. the row (docs/SEARCH.md): the query trace, the anytime curve (eval metric of the
   best-by-train architecture after each query), final best (``best_eval``: the eval value of
   the queried architecture with the best train metric, what a search could report without
   test labels; ``best_eval_queried``: the best eval value among all queried architectures,
   the convention some papers report), regret to the task's global best eval value, queries
   until that value was first queried (``budget + 1`` when never), and the share of wall time
   spent fitting and scoring models.

Leak-freedom: the strategy sees the task only through the ``Oracle`` (train values of charged
queries; its ``task`` is a view without metric values) and ``SearchContext``. What needs the
eval metric is done here: the pruned-space experiment's candidate set (``prune_top``, a param
of the strategies that offer it: the top-k rows by eval metric leave ``ctx.candidates``) and
every eval-metric column of the row.

Matrix convention: predictor-free strategies (``random``, ``evolution``, ``local_search``,
``gp_bo``) are written ``predictor: none``; ``harness/matrix.py`` rejects ``none`` for
predictor-guided ones and a named predictor for the others (``predictor_free_label``).
"""

from __future__ import annotations

import time

import numpy as np
from nasbench_harness.errors import ConfigError
from nasbench_harness.protocols.base import Protocol
from nasbench_harness.protocols.predict import CellFailed, build_predictor

_INIT_STREAM = 0x5EA4C0  # the shared initial sample: (seed, task) only
_STRATEGY_STREAM = 7  # the strategy's own draws: a stream of the cell's seed sequence


def _strategy_params(params: dict) -> tuple[str, dict]:
    if "strategy" not in params:
        from nasbench_harness import registry

        raise ConfigError(f"The search protocol needs protocol_params.strategy, one of the registered strategies {registry.names('strategies')}.")
    rest = {k: v for k, v in params.items() if k != "strategy"}
    return str(params["strategy"]), rest


def check_params(params: dict) -> None:
    """Unknown strategy (with a did-you-mean) or parameters it does not accept: one ConfigError."""
    from nasbench_harness.methods.strategies import make_strategy

    make_strategy(*_strategy_params(params))


def predictor_free_label(params: dict) -> str | None:
    """The strategy's name when it needs no predictor (its cells use ``predictor: none``), else None."""
    from nasbench_harness.methods.strategies import strategy_class

    name, _ = _strategy_params(params)
    return None if strategy_class(name).needs_predictor else name


def _task_rng(cell, stream: int) -> np.random.Generator:
    from nasbench_harness.cell import _h32

    return np.random.default_rng(np.random.SeedSequence([int(cell.seed), _h32(cell.task), stream]))


def candidate_set(task, params: dict) -> np.ndarray | None:
    """Bool per row: the task without its ``prune_top`` best rows by eval metric (ties: lower
    row first); None when the strategy prunes nothing."""
    k = int(params.get("prune_top", 0))
    if not k:
        return None
    keep = np.ones(len(task), bool)
    keep[np.argsort(-task.eval_scores, kind="stable")[:k]] = False
    return keep


def _context(cell, task, threads: int, candidates: np.ndarray | None = None):
    from nasbench_harness.cell import NO_PREDICTOR
    from nasbench_harness.methods.strategies.base import SearchContext

    factory = None
    if cell.predictor != NO_PREDICTOR:
        base_seed = cell.predictor_seed()

        def factory(loss=None, seed_offset: int = 0):
            return build_predictor(cell, threads, loss=loss, seed=(base_seed + 7919 * seed_offset) & 0x7FFFFFFF)

    return SearchContext(
        rng=cell.rng(stream=_STRATEGY_STREAM),
        initial_order=_task_rng(cell, _INIT_STREAM).permutation(len(task)),
        task_name=cell.task,
        new_predictor=factory,
        predictor_name=cell.predictor,
        loss_name=cell.loss,
        loss_params=dict(cell.loss_params),
        threads=threads,
        seed=int(cell.seed),
        data_cache=getattr(task, "cache", None),
        candidates=candidates,
    )


def anytime(scores: np.ndarray) -> np.ndarray:
    """Position of the best-so-far (first of ties) after each step of ``scores`` (higher is better)."""
    prev_best = np.concatenate([[-np.inf], np.maximum.accumulate(scores)[:-1]])
    improved = scores > prev_best
    return np.maximum.accumulate(np.where(improved, np.arange(len(scores)), 0))


def summarise(task, oracle, budget: int) -> dict:
    """The result columns of a finished search (original units; see docs/SEARCH.md)."""
    trace = oracle.trace_rows
    best = trace[anytime(task.train_scores[trace])]
    g_eval = int(np.argmax(task.eval_scores))
    hits = np.flatnonzero(task.eval_scores[trace] == task.eval_scores[g_eval])
    best_eval = float(task.eval[best[-1]])
    best_queried = trace[int(np.argmax(task.eval_scores[trace]))]
    return {
        "n_queries": int(len(trace)),
        "n_redraws": int(oracle.n_redraws),
        "best_arch": str(task.ids[best[-1]]),
        "best_train": float(task.train[best[-1]]),
        "best_eval": best_eval,
        "best_eval_queried": float(task.eval[best_queried]),
        "global_best_eval": float(task.eval[g_eval]),
        "global_best_train": float(task.train[int(np.argmax(task.train_scores))]),
        "regret": abs(float(task.eval[g_eval]) - best_eval),
        "queries_to_optimum": int(hits[0] + 1) if len(hits) else int(budget + 1),
        "found_optimum": bool(len(hits)),
        "curve_eval": task.eval[best].astype(np.float64).tolist(),
        "curve_train": task.train[best].astype(np.float64).tolist(),
        "trace_ids": [str(a) for a in task.ids[trace]],
        "trace_train": task.train[trace].astype(np.float64).tolist(),
    }


def run(cell, task, *, threads: int = 1) -> list[dict]:
    """Run one ``search`` cell on a loaded task and return its result row."""
    from nasbench_harness.methods.strategies import make_strategy
    from nasbench_harness.methods.strategies.base import BudgetExhausted, Oracle

    name, sparams = _strategy_params(cell.protocol_params)
    strategy = make_strategy(name, sparams)
    budget = int(cell.budget) if isinstance(cell.budget, int) else max(1, int(round(cell.budget * len(task))))
    oracle = Oracle(task, budget, name)
    if budget > oracle.n_distinct():
        raise ConfigError(
            f"A query budget of {budget} exceeds the {oracle.n_distinct()} distinct (non-isomorphic) architectures of task "
            f"'{cell.task}'; lower the budget."
        )
    candidates = candidate_set(task, strategy.params)
    ctx = _context(cell, task, threads, candidates)
    t0 = time.perf_counter()
    try:
        strategy.search(oracle, ctx)
    except BudgetExhausted:
        pass
    seconds = time.perf_counter() - t0
    if oracle.n_queries < budget:
        raise CellFailed(f"strategy '{name}' stopped after {oracle.n_queries} of {budget} queries (no unqueried architecture it could reach)")
    row = {
        "strategy": name,
        "higher_is_better": bool(task.spec.higher_is_better),
        "train_metric": task.spec.train_metric,
        "eval_metric": task.eval_metric or task.spec.eval_metric,
        "n_train": int(budget),
        "n_eval": int(len(task)),
        "fit_seconds": ctx.fit_seconds,
        "search_seconds": seconds,
        "fit_share": ctx.fit_seconds / seconds if seconds > 0 else 0.0,
        **summarise(task, oracle, budget),
        **(strategy.row_extras(oracle) if hasattr(strategy, "row_extras") else {}),  # strategy-specific columns
        **pruned_columns(task, strategy.params, candidates),
    }
    return [row]


def pruned_columns(task, params: dict, candidates: np.ndarray | None) -> dict:
    """``remaining_best_eval`` (the best eval value left in the candidate set) for strategies that
    offer the pruned-space experiment (``prune_top``), else nothing."""
    if "prune_top" not in params:
        return {}
    keep = np.ones(len(task), bool) if candidates is None else candidates
    best = int(np.flatnonzero(keep)[int(np.argmax(task.eval_scores[keep]))])
    return {"remaining_best_eval": float(task.eval[best])}


class Search(Protocol):
    name = "search"
    description = ("A registered strategy spends a query budget one architecture at a time; anytime best-found, regret, "
                   "queries to the global best.")
    params = None  # ``strategy`` plus that strategy's own params (its default_params)

    def check_params(self, params: dict) -> None:
        check_params(params)

    def predictor_free_label(self, params: dict) -> str | None:
        return predictor_free_label(params)

    def run(self, cell, task, *, threads: int = 1) -> list[dict]:
        return run(cell, task, threads=threads)
