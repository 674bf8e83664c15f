"""The ``select`` protocol: observe N architectures, spend K more evaluations, report the best found.

Steps for one cell (the ConvNP paper's Algorithm 1 and its search baselines):
1. observe N architectures (``budget``: a count, or a fraction of the task) sampled uniformly;
2. choose K (``k``, default 30) further, unseen architectures by ``strategy``:
   - ``predictor`` (default): fit the cell's predictor on the observed ones (train metric),
     score the whole task, take the top-K unseen (tied predictions in random order from the
     cell's selection stream, not by row); also computes ``prediction_metrics``
     (``kendall_tau``, ``recall@<k>``, ...) over the whole task against the eval metric
     (over the unseen architectures only when the eval metric is the train metric);
   - ``random``: K unseen architectures uniformly at random (the ``random`` search strategy);
   - ``evolution``: regularised evolution (Real et al. 2019; the ``evolution`` search
     strategy's ``evolve``, here with tournament 10 by default) from the observed population:
     K times, sample ``tournament`` members, mutate the best (``task.space.mutate``) into an
     unseen architecture *of the task*, add it, age out the oldest member (a parent with no
     unseen mutant inside the task is skipped from then on);
3. report ``best_val`` / ``best_test``: train and eval metric (original units) of the
   architecture with the best train metric among observed + selected;
   ``selected_best_val`` / ``selected_best_test``: the same among the K selected only (the
   paper's "best architecture of the top-30"); ``best_test_of_selected``: the best eval
   metric among the K selected.

Nested samples: the observed rows are the first N of ONE permutation of the task drawn from
a generator seeded by (seed, task) only, not by the budget, so for one seed the sample of
size 50 is a prefix of the sample of size 90, ..., of 860 (the paper's training-size study).
The K selections use a separate stream, also independent of the predictor.

Matrix convention for the search baselines: ``random`` and ``evolution`` need no predictor,
so their methods are written ``predictor: none`` (no params, encoding or loss), with the
strategy in the block's protocol_params, e.g.
``{protocol_params: {strategy: random}, methods: [{predictor: none, label: RS}]}``. Their
result rows show predictor ``none`` and, without a label, the method ``random_search`` /
``evolution`` (``predictor_free_label``). ``harness/matrix.py`` rejects ``none`` with the
``predictor`` strategy and a real predictor with the other two (it would be ignored).
"""

from __future__ import annotations

import time

import numpy as np
from nasbench_harness.errors import ConfigError, HarnessError
from nasbench_harness.protocols.base import Protocol
from nasbench_harness.protocols.predict import CellFailed, build_predictor, judged_on_train_metric, n_train_for

PARAMS = {
    "strategy": "predictor (the default) or a registered search strategy with a select_label (random, evolution)",
    "k": "architectures selected after the observed ones (default 30)",
    "tournament": "the evolution strategy's tournament size here (default 10)",
    "recall_k": "the k of the recall@k prediction metrics",
    "metrics": "keyword arguments of prediction_metrics",
    "max_mutation_tries": "mutations redrawn from one parent before it is given up (default 200)",
}
DEFAULT_RECALL_K = (10, 20, 30, 50, 100, 200, 300, 500, 1000)
_OBSERVE_STREAM = 0x5E1EC7
_SELECT_STREAM = 0x5E1EC8


def check_params(params: dict) -> None:
    Select().check_params(params)


def _strategy(params: dict):
    """The registered strategy class of a predictor-free ``strategy`` (None for ``predictor``)."""
    from nasbench_harness import registry
    from nasbench_harness.methods.strategies import strategy_class

    name = params.get("strategy", "predictor")
    if name == "predictor":
        return None
    if not isinstance(name, str) or name not in registry.names("strategies"):
        raise ConfigError(f"Unknown select strategy {name!r}; expected 'predictor' or a registered strategy that can extend an observed sample ({_extenders()}).")
    cls = strategy_class(name)
    if cls.select_label is None:
        raise ConfigError(f"The select strategy '{name}' cannot extend an observed sample; expected 'predictor' or one of {_extenders()}.")
    return cls


def _extenders() -> str:
    from nasbench_harness import registry
    from nasbench_harness.methods.strategies import strategy_class

    found = []
    for name in registry.names("strategies"):
        try:
            if strategy_class(name).select_label is not None:
                found.append(name)
        except HarnessError:
            continue  # a broken plugin is reported where it is named
    return ", ".join(found)


def predictor_free_label(params: dict) -> str | None:
    """The default method label when ``params`` need no predictor (a search baseline), else None:
    the strategy's ``select_label``. ``harness/matrix.py`` accepts ``predictor: none`` exactly then."""
    cls = _strategy(params)
    return None if cls is None else cls.select_label


def _rng(cell, stream: int) -> np.random.Generator:
    """A generator from (seed, task, stream) only: the same for every budget and method."""
    from nasbench_harness.cell import _h32

    return np.random.default_rng(np.random.SeedSequence([int(cell.seed), _h32(cell.task), stream]))


def observed_rows(cell, n_task: int, n_obs: int) -> np.ndarray:
    """The first ``n_obs`` rows of the cell's (seed, task) permutation: nested across budgets."""
    return _rng(cell, _OBSERVE_STREAM).permutation(n_task)[:n_obs]


def _best(task, rows: np.ndarray) -> tuple[float, float]:
    """(train metric, eval metric) in original units of the row with the best train metric."""
    r = rows[int(np.argmax(task.train_scores[rows]))]
    return float(task.train[r]), float(task.eval[r])


def choose(cell, task, *, threads: int = 1) -> tuple[np.ndarray, np.ndarray, dict]:
    """(observed rows, the K selected rows, partial result row) of one ``select`` cell."""
    from nasbench_harness.methods.base import ArchSet
    from nasbench_harness.metrics import prediction_metrics

    p = cell.protocol_params
    check_params(p)
    strategy, k = p.get("strategy", "predictor"), int(p.get("k", 30))
    n = len(task)
    n_obs = n_train_for(cell.budget, n)
    if n_obs + k > n:
        raise ConfigError(f"Observing {n_obs} and selecting {k} more needs {n_obs + k} architectures but the task has {n}; lower the budget or k.")
    observed = observed_rows(cell, n, n_obs)
    rng = _rng(cell, _SELECT_STREAM)
    row: dict = {"strategy": strategy, "n_train": int(n_obs), "n_eval": int(n)}

    t0 = time.perf_counter()
    t1 = t0
    if strategy == "predictor":
        predictor = build_predictor(cell, threads)  # ConfigError for predictor "none"
        unseen_mask = np.ones(n, dtype=bool)
        unseen_mask[observed] = False
        unlabeled = ArchSet(task, np.flatnonzero(unseen_mask)) if getattr(predictor, "uses_unlabeled", False) else None
        predictor.fit(ArchSet(task, observed), task.train_scores[observed], unlabeled=unlabeled)
        t1 = time.perf_counter()
        pred = np.asarray(predictor.predict(ArchSet(task, np.arange(n))), dtype=np.float64).reshape(-1)
        if pred.shape[0] != n or not np.all(np.isfinite(pred)):
            raise CellFailed(f"predictor returned {pred.shape[0]} predictions ({int((~np.isfinite(pred)).sum())} non-finite) for {n} architectures")
        metric_kw = {"recall_k": tuple(p.get("recall_k", DEFAULT_RECALL_K)), **p.get("metrics", {})}
        # Judged on a test metric, tau and recall@k cover every cell, the observed ones included (a
        # documented choice, studies/convnp/README.md).
        # Judged on the train metric, the observed rows' eval labels were seen in fit: leave them out.
        scored = np.flatnonzero(unseen_mask) if judged_on_train_metric(task) else np.arange(n)
        row["n_eval"] = int(len(scored))
        row.update(
            {m: float(v) for m, v in prediction_metrics(task.eval_scores[scored], pred[scored], sign=task.sign, **metric_kw).items()}
        )
        # Descending prediction; ties are broken at random by the cell's selection stream,
        # never by row order (a constant predictor must not inherit the table's ordering).
        unseen = np.flatnonzero(unseen_mask)
        unseen = unseen[rng.permutation(len(unseen))]
        selected = unseen[np.argsort(-pred[unseen], kind="stable")[:k]]
    else:
        selected = _strategy(p).extend(task, observed, k, rng, p)
        if len(selected) < k:
            raise CellFailed(f"the {strategy} strategy found only {len(selected)} of {k} unseen architectures inside the task to select")
    row.update({"fit_seconds": t1 - t0, "predict_seconds": time.perf_counter() - t1})
    return observed, selected, row


def run(cell, task, *, threads: int = 1) -> list[dict]:
    """Run one ``select`` cell on a loaded task and return its result row."""
    observed, selected, row = choose(cell, task, threads=threads)
    row["best_val"], row["best_test"] = _best(task, np.concatenate([observed, selected]))
    row["selected_best_val"], row["selected_best_test"] = _best(task, selected)
    row["best_test_of_selected"] = float(task.sign * task.eval_scores[selected].max())
    row["observed_best_val"], row["observed_best_test"] = _best(task, observed)
    return [row]


class Select(Protocol):
    name = "select"
    description = ("Observe N sampled architectures, spend K more evaluations chosen by a predictor or by a registered "
                   "search strategy (random search, regularised evolution); report the best found.")
    params = PARAMS

    def check_params(self, params: dict) -> None:
        super().check_params(params)
        _strategy(params)
        for key in ("k", "tournament", "max_mutation_tries"):
            v = params.get(key, 1)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"The select protocol's '{key}' must be a positive integer, got {v!r}.")

    def predictor_free_label(self, params: dict) -> str | None:
        return predictor_free_label(params)

    def run(self, cell, task, *, threads: int = 1) -> list[dict]:
        return run(cell, task, threads=threads)
