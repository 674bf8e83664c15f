"""The method contract: predictors, losses, and the architecture sets they receive.

A predictor is fit on a few labelled architectures and scores many. It never sees a
task's eval metric: the protocol hands it an ``ArchSet`` (rows of a task) and the train
scores (higher is better). It pulls exactly the inputs it declares: an encoding matrix,
dense graphs, or both; these are computed once per search space and sliced.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from nasbench_harness.tasks.catalog import label_free


class ArchSet:
    """A subset of a task's architectures (rows of its universe). ``task`` is the task's
    label-free view (``tasks.catalog.TaskView``): a predictor cannot read a metric through it."""

    def __init__(self, task, rows: np.ndarray) -> None:
        self.task = label_free(task)
        self.rows = np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def space(self):
        return self.task.space

    @property
    def ids(self) -> np.ndarray:
        return self.task.ids[self.rows]

    def encoding(self, kind: str = "onehot") -> np.ndarray:
        """(len, d) float32 features of encoding ``kind`` (see tasks/encodings.py)."""
        return self.task.encoding(kind)[self.rows]

    def graphs(self):
        """GraphBatch (dense padded adjacency + node ops) for these architectures."""
        return self.task.graphs()[self.rows]

    def extras(self, columns: list[str]) -> np.ndarray:
        """Extra per-architecture columns (e.g. zero-cost proxies) where the task has them.

        Test-metric columns travel along for reports but are refused here: a predictor that
        read them would be judged on what it was given.
        """
        leaking = [c for c in columns if "test" in c.split(".")[-1] or c == self.task.eval_metric]
        if leaking:
            from nasbench_harness.errors import ConfigError

            raise ConfigError(
                f"Predictors may not read test-metric columns {leaking}; use validation, training or proxy columns."
            )
        return self.task.extras[columns].to_numpy()[self.rows]

    def subset(self, idx) -> ArchSet:
        return ArchSet(self.task, self.rows[idx])


class Predictor(ABC):
    """Base class of every predictor (built-in or plugin).

    Subclasses set ``name``/``description``, declare ``inputs``, and implement fit/predict.
    Randomness must come from ``self.seed`` only.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    inputs: ClassVar[str] = "encoding"  # "encoding" | "graph" | "encoding+graph"
    default_encoding: ClassVar[str] = "onehot"
    supports_loss: ClassVar[bool] = False  # True: trained by gradient on any registered loss
    default_loss: ClassVar[str | None] = None
    default_params: ClassVar[dict[str, Any]] = {}
    uses_unlabeled: ClassVar[bool] = False  # True: fit() wants the unlabelled pool too
    # What a cell costs before any is timed (harness/estimate.py): CPU seconds on one core at the
    # papers' small budgets, the same with `tune: true` (cross-validated trials), and the family
    # `run --dry-run` sums it under (docs/FULL.md states a budget per family).
    prior_seconds: ClassVar[float] = 10.0
    tuned_prior_seconds: ClassVar[float] = 30.0
    cost_family: ClassVar[str] = "other"

    def __init__(self, *, seed: int = 0, encoding: str | None = None, loss=None, threads: int = 1, **params):
        unknown = set(params) - set(self.default_params)
        if unknown:
            from nasbench_harness.errors import ConfigError

            raise ConfigError(
                f"Predictor '{self.name}' got unknown parameter(s) {sorted(unknown)}; "
                f"it accepts {sorted(self.default_params)}."
            )
        self.seed = int(seed)
        self.encoding = encoding or self.default_encoding
        self.loss = loss
        self.threads = threads
        self.params = {**self.default_params, **params}

    @abstractmethod
    def fit(self, archs: ArchSet, y: np.ndarray, *, unlabeled: ArchSet | None = None) -> None:
        """Fit on ``archs`` with scores ``y`` (higher is better)."""

    @abstractmethod
    def predict(self, archs: ArchSet) -> np.ndarray:
        """Scores for ``archs`` (higher = predicted better), shape (len(archs),)."""


@dataclass
class TrainState:
    """Where training is, for losses that change over time (the piecewise loss)."""

    iteration: int = 0
    n_iterations: int = 1
    epoch: int = 0
    n_epochs: int = 1
    n_train: int = 0
    # (min, max) of the raw training scores the targets were min-max scaled from; losses that
    # read weights on the raw scale (``weight_target``) need it. None: not given by the caller.
    target_range: tuple[float, float] | None = None


class Loss(ABC):
    """Base class of every loss for differentiable predictors (torch).

    ``__call__(pred, target, state)`` takes 1-D tensors of predicted scores and true
    scores (higher is better) for one batch and returns a scalar tensor.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    formula: ClassVar[str] = ""
    category: ClassVar[str] = "other"  # the loss paper's kind: regression, ranking, weighted, piecewise (rows' loss_category)
    default_params: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params):
        unknown = set(params) - set(self.default_params)
        if unknown:
            from nasbench_harness.errors import ConfigError

            raise ConfigError(
                f"Loss '{self.name}' got unknown parameter(s) {sorted(unknown)}; "
                f"it accepts {sorted(self.default_params)}."
            )
        self.params = {**self.default_params, **params}

    @abstractmethod
    def __call__(self, pred, target, state: TrainState):
        ...
