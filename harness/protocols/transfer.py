"""The ``transfer`` protocol: a surrogate fitted on other tasks of the same space predicts a target task.

Mode ``predict`` (issue 10; mode ``search`` is reserved for the meta-NAS setting). One cell:

1. the SOURCE task (``protocol_params.source``) is loaded from the target task's own data
   cache; it must be a different task of the same search space;
2. ``source_budget`` source cells (``"all"``, or a count drawn from the cell's seed and the
   source's name only, so zero-shot and few-shot cells of one seed share it) and ``budget``
   TARGET cells (the shots, drawn exactly as the ``predict`` protocol draws its training rows
   for the same task, budget and seed) are the training set; the labels are the TRAIN metric
   of both tasks, each rank-normalised within its own task (``normalise``, below); each shot
   is repeated so that the shots weigh as much as the source cells (``shot_weight``,
   default ``balanced``; see ``shot_copies``);
3. the cell's predictor on the cell's encoding is fitted on them and predicts every other
   target cell; ``prediction_metrics`` are computed on the target's EVAL metric. The shots
   are never evaluated.

Predictor ``none`` is the baseline (``method`` "source accuracy"): the source's own
train-metric value of each target architecture is its prediction. Architectures are matched
by canonical id. Target cells the (sampled) source does not label cannot be predicted by the
baseline: it is evaluated on the target cells the source labels (``n_missing_source`` says
how many were left out) and fails with one sentence when fewer than 2 remain. A fitted
surrogate predicts every target cell (its features exist for any architecture of the space).

Labels of different tasks live on different scales (CIFAR-10 ~90 %, ImageNet16-120 ~45 %), so
before pooling, each task's training labels are normalised within that task: ``rank`` (the
default, chosen a priori: every claim tested here is about rankings, and ranks are invariant
to any monotone distortion between datasets) maps them to mid-rank quantiles in (0, 1);
``zscore`` standardises them; ``none`` pools raw values. For ``mae``/``rmse`` in the target's
units, predictions are mapped back through the quantile function (or mean/std) of the target
shots' labels when there are at least 2 shots, else of the source's labels (zero-shot rows
are then in source units, like the baseline's).

``surrogate_scores`` (fit a surrogate on labelled rows of other tasks, score rows of this
task) is the one function the ``surrogate_filter`` and ``surrogate_objective`` search
strategies use too (``methods/strategies/surrogate.py``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from nasbench_harness.errors import ConfigError
from nasbench_harness.protocols.base import Protocol
from nasbench_harness.protocols.predict import CellFailed, build_predictor

MODES = ("predict", "search")
NORMALISE = ("rank", "zscore", "none")
PARAMS = {
    "mode": "predict (search is reserved for the meta-NAS setting)",
    "source": "the source task, of the target's search space",
    "source_budget": "source cells fitted on: 'all' or a count",
    "normalise": f"how source and target scores are put on one scale: one of {list(NORMALISE)}",
    "shot_weight": "copies of each target shot: 'balanced' or a positive integer",
    "metrics": "keyword arguments of prediction_metrics",
}
BASELINE_LABEL = "source accuracy"
MIN_BUDGET = 0  # target shots: 0 = zero-shot (the matrix accepts counts from this value)
_SOURCE_STREAM = 0x50C3  # the source sample: a stream of (seed, source, source_budget) only


# -- validation --------------------------------------------------------------------------
def check_params(params: dict) -> None:
    """Static checks (no data needed): unknown keys, mode, source name, source budget, normalisation."""
    Transfer().check_params(params)


def _check_values(params: dict) -> None:
    from nasbench_harness.tasks.catalog import get_spec

    mode = params.get("mode", "predict")
    if mode not in MODES:
        raise ConfigError(f"The transfer protocol's mode must be 'predict' (or the reserved 'search'), got {mode!r}.")
    if mode == "search":
        raise ConfigError("The transfer protocol's mode 'search' is reserved for the meta-NAS setting and not implemented; use mode 'predict', or the search protocol with strategy surrogate_filter or surrogate_objective.")
    if "source" not in params or not isinstance(params["source"], str):
        raise ConfigError("The transfer protocol needs protocol_params.source, the name of the source task (e.g. nb201/cifar100).")
    get_spec(params["source"])  # unknown task: ConfigError with a did-you-mean
    check_source_budget(params.get("source_budget", "all"))
    if params.get("normalise", "rank") not in NORMALISE:
        raise ConfigError(f"The transfer protocol's normalise must be one of {list(NORMALISE)}, got {params['normalise']!r}.")
    w = params.get("shot_weight", "balanced")
    if w != "balanced" and (isinstance(w, bool) or not isinstance(w, int) or w < 1):
        raise ConfigError(f"The transfer protocol's shot_weight must be 'balanced' or a positive integer (copies of each target shot), got {w!r}.")


def check_source_budget(value, what: str = "The transfer protocol's") -> None:
    if value == "all":
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ConfigError(f"{what} source_budget must be 'all' or a count of at least 2 source cells, got {value!r}.")


def baseline_label(params: dict) -> str:
    """The default label of this protocol's predictor-free cells (the source-accuracy baseline)."""
    return BASELINE_LABEL


def check_task(params: dict, task_name: str) -> None:
    """Cell-level checks before any data is loaded: the source is another task of the target's space."""
    from nasbench_harness.tasks.catalog import get_spec

    source = params.get("source", "")
    check_source(source, get_spec(source).space, task_name, get_spec(task_name).space)


def check_source(source: str, source_space: str, target: str, target_space: str) -> None:
    if source == target:
        raise ConfigError(
            f"The source task '{source}' is the target task itself; a transfer needs another task of the same space "
            f"(for within-task prediction use the predict protocol)."
        )
    if source_space != target_space:
        raise ConfigError(
            f"The source task '{source}' is in search space '{source_space}' but the target '{target}' is in "
            f"'{target_space}'; a transfer matches architectures by id, so pick a source of the same space."
        )


# -- the shared surrogate -------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def _load(name: str, root: str | None) -> object:
    from pathlib import Path

    from nasbench_harness.tasks.cache import DataCache
    from nasbench_harness.tasks.catalog import load_task

    return load_task(name, DataCache(Path(root)) if root else None)


def load_related(name: str, target) -> object:
    """Task ``name`` from the target's own data cache (memoised per process), checked to be
    another task of the target's space."""
    from nasbench_harness.tasks.catalog import get_spec

    spec = get_spec(name)
    check_source(name, spec.space, target.name, target.spec.space)
    cache = getattr(target, "cache", None)
    return _load(name, str(cache.root) if cache is not None else None)


def sample_rows(task, budget, rng: np.random.Generator, what: str = "source") -> np.ndarray:
    """All rows (``"all"``) or ``budget`` rows drawn without replacement, sorted."""
    if budget == "all":
        return np.arange(len(task))
    if budget > len(task):
        raise ConfigError(f"A {what} budget of {budget} cells exceeds the {len(task)} cells of task '{task.name}'; lower source_budget.")
    return np.sort(rng.choice(len(task), size=int(budget), replace=False))


def normalised(y: np.ndarray, how: str) -> np.ndarray:
    """Labels of one task made comparable with other tasks' (see the module docstring)."""
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=np.float64)
    if how == "rank":
        return (rankdata(y) - 0.5) / len(y)
    if how == "zscore":
        return (y - y.mean()) / (y.std() or 1.0)
    return y


def to_units(pred: np.ndarray, reference: np.ndarray, how: str) -> np.ndarray:
    """Inverse of ``normalised`` through a reference label set (monotone: rankings unchanged)."""
    reference = np.asarray(reference, dtype=np.float64)
    if how == "rank":
        return np.quantile(reference, np.clip(pred, 0.0, 1.0))
    if how == "zscore":
        return pred * (reference.std() or 1.0) + reference.mean()
    return pred


@dataclass(frozen=True)
class Labelled:
    """Training rows of one task; their labels are that task's train metric (higher is better)."""

    task: object
    rows: np.ndarray


class JointArchSet:
    """Training architectures drawn from several tasks of one space, for ``Predictor.fit``.

    Offers what encoding- and graph-based predictors read (``encoding``, ``graphs``,
    ``extras``, ``ids``, ``space``, ``subset``); each part's features come from its own task
    (memoised per task universe). A predictor that needs a single task's universe (``task``)
    cannot be trained across tasks and says so.
    """

    def __init__(self, parts: Sequence[Labelled]) -> None:
        from nasbench_harness.methods.base import ArchSet

        self.parts = [ArchSet(p.task, p.rows) for p in parts]
        self.space = self.parts[0].space

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    @property
    def task(self):
        raise ConfigError("This predictor reads a single task's universe and cannot be trained on cells of several tasks; use an encoding- or graph-based predictor (e.g. xgboost, random_forest, gin).")

    @property
    def ids(self) -> np.ndarray:
        return np.concatenate([p.ids for p in self.parts])

    def encoding(self, kind: str = "onehot") -> np.ndarray:
        blocks = [p.encoding(kind) for p in self.parts]
        widths = {b.shape[1] for b in blocks}
        if len(widths) > 1:
            names = ", ".join(f"{p.task.name}: {b.shape[1]}" for p, b in zip(self.parts, blocks))
            raise ConfigError(f"Encoding '{kind}' has different widths on the tasks of this transfer ({names}); use an encoding that is a function of the architecture alone (onehot, graf, zc.<dataset>).")
        return np.concatenate(blocks, axis=0)

    def graphs(self):
        from nasbench_harness.tasks.spaces.base import GraphBatch

        batches = [p.graphs() for p in self.parts]
        n = max(b.max_nodes for b in batches)
        if len({b.op_names for b in batches}) > 1:
            raise ConfigError("The tasks of this transfer encode graphs with different operation vocabularies; pick tasks of one search space.")
        adj = [np.pad(b.adj, ((0, 0), (0, n - b.max_nodes), (0, n - b.max_nodes))) for b in batches]
        ops = [np.pad(b.ops, ((0, 0), (0, n - b.max_nodes)), constant_values=-1) for b in batches]
        return GraphBatch(np.concatenate(adj), np.concatenate(ops), batches[0].op_names)

    def extras(self, columns: list[str]) -> np.ndarray:
        return np.concatenate([p.extras(columns) for p in self.parts], axis=0)

    def subset(self, idx) -> JointArchSet:
        keep = np.zeros(len(self), dtype=bool)
        keep[idx] = True
        out, start = [], 0
        for p in self.parts:
            sel = keep[start:start + len(p)]
            start += len(p)
            if sel.any():
                out.append(Labelled(p.task, p.rows[sel]))
        return JointArchSet(out)


class Flagged:
    """Architectures plus one feature column saying whether a row belongs to the target task.

    One architecture has identical structural features in every task, so when target shots
    and source cells are pooled the model could only average their labels; the flag lets a
    tree split the target's own pattern off the source's where the shots show one.
    """

    def __init__(self, base, flags: np.ndarray) -> None:
        self.base, self.flags = base, np.asarray(flags, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.base)

    def __getattr__(self, name):
        return getattr(self.base, name)

    def encoding(self, kind: str = "onehot") -> np.ndarray:
        return np.concatenate([self.base.encoding(kind), self.flags[:, None]], axis=1)

    def subset(self, idx) -> Flagged:
        return Flagged(self.base.subset(idx), self.flags[idx])


def surrogate_scores(new_predictor: Callable[[], object], parts: Sequence[Labelled], target, rows: np.ndarray, *,
                     normalise: str = "rank") -> tuple[np.ndarray, float, float]:
    """Fit a predictor on labelled rows of several tasks (each task's train metric, normalised
    within the task) and score ``rows`` of ``target``; returns (scores, fit seconds, predict seconds).

    The one function behind the transfer protocol and the surrogate search strategies.
    ``new_predictor()`` builds the (unfitted) predictor: the cell's predictor and encoding.
    When some training rows are the target's own (few-shot), encodings get a target-flag column
    (``Flagged``), 1 on the target's rows, 0 on the sources'.
    """
    from nasbench_harness.methods.base import ArchSet

    parts = [p for p in parts if len(p.rows)]
    if not parts:
        raise ConfigError("The surrogate has no labelled cells to learn from; give a source task or target shots.")
    for p in parts:
        if p.task.spec.space != target.spec.space:
            check_source(p.task.name, p.task.spec.space, target.name, target.spec.space)
    y = np.concatenate([normalised(p.task.train_scores[p.rows], normalise) for p in parts])
    archs = ArchSet(parts[0].task, parts[0].rows) if len(parts) == 1 else JointArchSet(parts)
    query = ArchSet(target, rows)
    own = np.concatenate([np.full(len(p.rows), p.task is target) for p in parts])
    if own.any() and not own.all():
        archs, query = Flagged(archs, own), Flagged(query, np.ones(len(rows)))
    predictor = new_predictor()
    t0 = time.perf_counter()
    predictor.fit(archs, y)
    t1 = time.perf_counter()
    scores = np.asarray(predictor.predict(query), dtype=np.float64).reshape(-1)
    t2 = time.perf_counter()
    if scores.shape[0] != len(rows):
        raise CellFailed(f"predictor returned {scores.shape[0]} predictions for {len(rows)} architectures")
    bad = ~np.isfinite(scores)
    if bad.any():
        raise CellFailed(f"predictor returned {int(bad.sum())} non-finite (NaN/inf) predictions out of {len(scores)}")
    return scores, t1 - t0, t2 - t1


# -- the protocol ---------------------------------------------------------------------------
def source_rng(seed: int, source: str, source_budget) -> np.random.Generator:
    """The source sample's randomness: the cell's seed, the source and its budget (not the target or its budget)."""
    from nasbench_harness.cell import _h32, canonical_json

    entropy = [int(seed), _h32(source), _h32(canonical_json(source_budget)), _SOURCE_STREAM]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def target_shots(cell, task) -> np.ndarray:
    """The target cells added to training: the rows the predict protocol trains on for this task, budget and seed."""
    from nasbench_harness.protocols.predict import n_train_for

    n = len(task)
    k = n_train_for(cell.budget, n)
    if n - k < 2:
        raise ConfigError(f"A target budget of {cell.budget} shots leaves {n - k} of the {n} cells of task '{task.name}' to evaluate; lower the budget so at least 2 remain.")
    return np.sort(cell.rng().choice(n, size=k, replace=False))


def shot_copies(params: dict, n_source: int, n_shots: int) -> int:
    """Copies of each target shot in the training set: ``balanced`` gives the shots together the
    weight of the source cells (chosen a priori: without knowing how related the tasks are, the
    two datasets get an equal say; a few shots pooled with thousands of source cells would
    otherwise change nothing); an int is a fixed count (1 = plain pooling)."""
    w = params.get("shot_weight", "balanced")
    if w != "balanced":
        return int(w)
    return max(1, int(round(n_source / n_shots))) if n_shots else 1


def _baseline(task, source, src_rows: np.ndarray, evaluate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(evaluated target rows the sampled source labels, the source's train scores of them)."""
    known = np.full(len(source), False)
    known[src_rows] = True
    at = source.rows_of(task.ids[evaluate])
    found = at >= 0
    found[found] = known[at[found]]
    if found.sum() < 2:
        raise ConfigError(
            f"The source task '{source.name}' labels only {int(found.sum())} of the {len(evaluate)} evaluated cells of "
            f"'{task.name}', so its accuracies cannot rank them; use a source that covers the target (or source_budget 'all')."
        )
    return evaluate[found], source.train_scores[at[found]]


def run(cell, task, *, threads: int = 1) -> list[dict]:
    """Run one ``transfer`` cell (mode predict) on the loaded TARGET task and return its row."""
    from nasbench_harness.cell import NO_PREDICTOR
    from nasbench_harness.metrics import prediction_metrics

    params = cell.protocol_params
    check_params(params)
    how = params.get("normalise", "rank")
    source_budget = params.get("source_budget", "all")
    source = load_related(params["source"], task)
    src_rows = sample_rows(source, source_budget, source_rng(cell.seed, source.name, source_budget))
    shots = target_shots(cell, task)
    mask = np.ones(len(task), dtype=bool)
    mask[shots] = False
    evaluate = np.flatnonzero(mask)
    baseline = cell.predictor == NO_PREDICTOR
    fit_s = predict_s = 0.0
    if baseline:
        n_eval_all = len(evaluate)
        evaluate, pred = _baseline(task, source, src_rows, evaluate)
        missing = n_eval_all - len(evaluate)
        n_train = 0
    else:
        parts = [Labelled(source, src_rows), Labelled(task, np.repeat(shots, shot_copies(params, len(src_rows), len(shots))))]
        pred, fit_s, predict_s = surrogate_scores(lambda: build_predictor(cell, threads), parts, task, evaluate, normalise=how)
        reference = task.train_scores[shots] if len(shots) >= 2 else source.train_scores[src_rows]
        pred = to_units(pred, reference, how)
        missing = 0
        n_train = len(src_rows) + len(shots)
    metrics = prediction_metrics(task.eval_scores[evaluate], pred, sign=task.sign, **params.get("metrics", {}))
    return [
        {
            "mode": "predict",
            "source_task": source.name,
            "source_n": int(len(src_rows)),
            "target_shots": int(len(shots)),
            "baseline": bool(baseline),
            "n_train": int(n_train),
            "n_eval": int(len(evaluate)),
            "n_missing_source": int(missing),
            "normalise": how,
            "shot_copies": int(shot_copies(params, len(src_rows), len(shots))) if not baseline else 0,
            "train_metric": task.spec.train_metric,
            "eval_metric": task.eval_metric or task.spec.eval_metric,
            "source_train_metric": source.spec.train_metric,
            "fit_seconds": fit_s,
            "predict_seconds": predict_s,
            **{name: float(v) for name, v in metrics.items()},
        }
    ]


class Transfer(Protocol):
    name = "transfer"
    description = ("Fit on a source task of the same space (plus N target shots), predict the target task; "
                   "or the source's own accuracies as the prediction (predictor none).")
    params = PARAMS
    min_budget = MIN_BUDGET

    def check_params(self, params: dict) -> None:
        super().check_params(params)
        _check_values(params)

    def baseline_label(self, params: dict) -> str | None:
        return baseline_label(params)

    def check_task(self, params: dict, task_name: str) -> None:
        check_task(params, task_name)

    def related_tasks(self, params: dict) -> list[str]:
        return [params["source"]]

    def run(self, cell, task, *, threads: int = 1) -> list[dict]:
        return run(cell, task, threads=threads)
