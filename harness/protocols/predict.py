"""The ``predict`` protocol: fit on N sampled architectures, score an evaluation set.

Steps for one cell:
1. sample the training rows from the task with the cell's rng (a fraction of the task,
   rounded, at least 2; or a count);
2. fit the predictor on ``task.train_scores`` of those rows (higher is better);
3. score the evaluation set (``eval_set``: ``space`` = the whole task, the default, minus
   the training rows when the eval metric is the train metric;
   ``space-minus-train``; ``mutation`` = the loss paper's mutation-based test set, never
   containing a training row);
4. compute ``prediction_metrics`` on ``task.eval_scores`` of the evaluation rows.

Protocol params: ``eval_set``, ``mutation`` (keyword arguments of
``mutation_test_set``), ``metrics`` (keyword arguments of ``prediction_metrics``).
NaN or infinite predictions raise ``CellFailed`` with the reason; the runner records the
cell as failed and retries it on the next run.
"""

from __future__ import annotations

import time

import numpy as np
from nasbench_harness.errors import ConfigError
from nasbench_harness.protocols.base import Protocol

EVAL_SETS = ("space", "space-minus-train", "mutation")
PARAMS = {
    "eval_set": f"the evaluation set: one of {list(EVAL_SETS)} (default space)",
    "mutation": "keyword arguments of the mutation-based test set (eval_set mutation)",
    "metrics": "keyword arguments of prediction_metrics",
}


class CellFailed(Exception):
    """A cell ran but produced no usable result (e.g. NaN predictions)."""


def n_train_for(budget: int | float, n: int) -> int:
    """Training-set size: a fraction of ``n`` (rounded, at least 2) or a count."""
    if isinstance(budget, float):
        k = max(2, int(round(budget * n)))
    else:
        k = int(budget)
    if k > n:
        raise ConfigError(f"A training budget of {budget} needs {k} architectures but the task has only {n}; lower the budget.")
    return k


def judged_on_train_metric(task) -> bool:
    """True when the task's eval metric is its train metric (a validation-only benchmark such
    as DARTS/NB301, NB101 without test accuracy, or the Suite-Zero NB201 svhn, ninapro, scifar100 tasks)."""
    return (getattr(task, "eval_metric", "") or task.spec.eval_metric) == task.spec.train_metric


def eval_rows(cell, task, train: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows of the evaluation set named by ``eval_set``.

    ``space`` is the whole task (the loss paper's protocol) unless the task judges on its
    train metric: the predictor was then fit on exactly the eval labels of its training rows,
    so they are left out (``space`` acts as ``space-minus-train``).
    """
    kind = cell.protocol_params.get("eval_set", "space")
    n = len(task)
    if kind == "space" and judged_on_train_metric(task):
        kind = "space-minus-train"
    if kind == "space":
        return np.arange(n)
    if kind == "space-minus-train":
        mask = np.ones(n, dtype=bool)
        mask[train] = False
        return np.flatnonzero(mask)
    if kind == "mutation":
        from nasbench_harness.protocols.testsets import mutation_test_set

        # Training rows are excluded: a mutant the predictor was fitted on is not a test case.
        return np.asarray(
            mutation_test_set(task, rng, exclude=train, **cell.protocol_params.get("mutation", {})), dtype=np.int64
        )
    raise ConfigError(f"Unknown eval_set '{kind}' in protocol_params; expected one of {list(EVAL_SETS)}.")


def check_params(params: dict) -> None:
    Predict().check_params(params)


def _check_eval_set(params: dict) -> None:
    if params.get("eval_set", "space") not in EVAL_SETS:
        raise ConfigError(f"Unknown eval_set '{params['eval_set']}' in protocol_params; expected one of {list(EVAL_SETS)}.")


def build_predictor(cell, threads: int = 1, *, loss=None, seed: int | None = None):
    """Instantiate the cell's predictor (and its loss) from the registry.

    ``loss`` (a Loss instance) replaces the cell's loss and ``seed`` the cell's predictor seed
    (the search protocol refits with a new seed, and PWLNAS with another loss, per iteration).
    """
    from nasbench_harness import registry
    from nasbench_harness.cell import NO_PREDICTOR

    if cell.predictor == NO_PREDICTOR:
        raise ConfigError(
            f"The {cell.protocol} protocol with protocol_params {cell.protocol_params} needs a predictor but the cell has "
            f"predictor '{NO_PREDICTOR}'; name a registered predictor or use a strategy that needs none."
        )
    cls = registry.load("predictors", cell.predictor)
    if cell.loss and not getattr(cls, "supports_loss", False):
        raise ConfigError(f"Predictor '{cell.predictor}' takes no loss but the cell gives '{cell.loss}'; remove the loss.")
    if loss is None and cell.loss:
        loss = registry.load("losses", cell.loss)(**cell.loss_params)
    seed = cell.predictor_seed() if seed is None else seed
    return cls(seed=seed, encoding=cell.encoding, loss=loss, threads=threads, **cell.params)


def _split(cell, task) -> tuple[int, np.ndarray, np.ndarray]:
    """(training size, training rows, evaluation rows) of a cell, from its own rng streams."""
    n = len(task)
    k = n_train_for(cell.budget, n)
    train = np.sort(cell.rng().choice(n, size=k, replace=False))
    return k, train, eval_rows(cell, task, train, cell.rng(stream=2))


def _row(cell, task, k: int, evaluate: np.ndarray, pred: np.ndarray, fit_s: float, predict_s: float) -> list[dict]:
    from nasbench_harness.metrics import prediction_metrics

    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    if pred.shape[0] != len(evaluate):
        raise CellFailed(f"predictor returned {pred.shape[0]} predictions for {len(evaluate)} architectures")
    bad = ~np.isfinite(pred)
    if bad.any():
        raise CellFailed(f"predictor returned {int(bad.sum())} non-finite (NaN/inf) predictions out of {len(pred)}")
    metrics = prediction_metrics(task.eval_scores[evaluate], pred, sign=task.sign, **cell.protocol_params.get("metrics", {}))
    return [
        {
            "n_train": int(k),
            "n_eval": int(len(evaluate)),
            "fit_seconds": fit_s,
            "predict_seconds": predict_s,
            **{name: float(v) for name, v in metrics.items()},
        }
    ]


def run(cell, task, *, threads: int = 1) -> list[dict]:
    """Run one ``predict`` cell on a loaded task and return its result row."""
    from nasbench_harness.methods.base import ArchSet

    check_params(cell.protocol_params)
    k, train, evaluate = _split(cell, task)
    predictor = build_predictor(cell, threads)
    unlabeled = None
    if getattr(predictor, "uses_unlabeled", False):
        mask = np.ones(len(task), dtype=bool)
        mask[train] = False
        unlabeled = ArchSet(task, np.flatnonzero(mask))

    t0 = time.perf_counter()
    predictor.fit(ArchSet(task, train), task.train_scores[train], unlabeled=unlabeled)
    t1 = time.perf_counter()
    pred = predictor.predict(ArchSet(task, evaluate))
    t2 = time.perf_counter()
    return _row(cell, task, k, evaluate, pred, t1 - t0, t2 - t1)


class Predict(Protocol):
    name = "predict"
    description = "Fit on N sampled architectures, score an evaluation set, compute ranking metrics."
    params = PARAMS
    budget_leaves = 1  # the evaluation set must not be empty (space-minus-train, mutation)

    def check_params(self, params: dict) -> None:
        super().check_params(params)
        _check_eval_set(params)

    def run(self, cell, task, *, threads: int = 1) -> list[dict]:
        return run(cell, task, threads=threads)
