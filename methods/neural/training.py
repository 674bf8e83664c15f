"""The one training loop every differentiable predictor shares (``train_model``), and its predictor base.

- Targets are min-max scaled to [0, 1] over the training set (higher stays better), so
  loss hyperparameters (margins, the MAPE baseline, GT weights) mean the same on every task.
- Full batch when the training set fits in ``batch_size`` (the default for the paper's small
  training sets: one exact gradient step per epoch over every pair), minibatches otherwise.
- Randomness (initialisation, dropout, shuffling) comes from ``seed`` only; the global torch
  RNG is forked so that training never disturbs, or depends on, anyone else's RNG state.
- A non-finite loss or prediction stops training with ``TrainingDivergedError``: the
  protocol records the cell as failed with that sentence instead of storing numbers.

``NeuralPredictor`` runs ``train_model`` through hooks that subclasses override: the model
(``_build``), a pre-training step before the loop (``_pretrain``: CAP's context prediction;
LM pre-trains in ``_prepare``, through ``train_model`` too), the optimiser (``_optimiser``) and
the loss of one minibatch (``_batch_loss``: CARL's causal/spurious objective).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from nasbench_harness.errors import ConfigError, HarnessError
from nasbench_harness.methods.base import ArchSet, Loss, Predictor, TrainState
from nasbench_harness.methods.losses import DEFAULT_LR
from nasbench_harness.methods.neural.layers import graph_tensors
from torch import nn


class TrainingDivergedError(HarnessError):
    """Training produced NaN/inf (e.g. a too-large learning rate for this loss)."""


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 300
    batch_size: int = 1024  # training sets up to this size are trained full-batch
    lr: float = DEFAULT_LR
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 1


def normalise_targets(y: np.ndarray) -> np.ndarray:
    """Min-max scale to [0, 1] (constant targets map to 0.5)."""
    y = np.asarray(y, dtype=np.float64)
    if not np.all(np.isfinite(y)):
        raise TrainingDivergedError("Training targets contain NaN or inf; drop those architectures from the training set.")
    lo, hi = float(y.min()), float(y.max())
    if hi - lo <= 0:
        return np.full_like(y, 0.5)
    return (y - lo) / (hi - lo)


# batch_loss(inputs, target, state, gen) -> scalar loss of one minibatch (inputs and target sliced to it)
BatchLoss = Callable[[tuple[torch.Tensor, ...], torch.Tensor | None, TrainState, torch.Generator], torch.Tensor]


def train_model(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    target: torch.Tensor | None,
    config: TrainConfig,
    batch_loss: BatchLoss,
    *,
    optimiser: torch.optim.Optimizer | None = None,
    gen: torch.Generator | None = None,
    always_shuffle: bool = False,
    loss_name: str = "",
    target_range: tuple[float, float] | None = None,
) -> list[float]:
    """Train ``model`` for ``config.epochs`` epochs; returns the mean loss of each epoch.

    Each epoch draws a minibatch order from ``gen`` (default: a generator seeded with
    ``config.seed``) when the rows do not fit in one batch, or always with ``always_shuffle``
    (the graph baselines' reference code shuffles a full batch too). The optimiser defaults to
    a fused AdamW with the config's learning rate and weight decay. Dropout draws from the
    global torch RNG: call it under ``seeded``. A non-finite loss raises ``TrainingDivergedError``.
    """
    torch.set_num_threads(max(1, int(config.threads)))
    n = len(inputs[0])
    batch = n if config.batch_size <= 0 else min(n, int(config.batch_size))
    steps = -(-n // batch)
    state = TrainState(n_iterations=config.epochs * steps, n_epochs=config.epochs, n_train=n, target_range=target_range)
    if optimiser is None:
        optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)
    gen = torch.Generator().manual_seed(config.seed) if gen is None else gen
    history: list[float] = []
    model.train()
    for epoch in range(config.epochs):
        state.epoch = epoch
        order = torch.randperm(n, generator=gen) if always_shuffle or batch < n else None
        total = 0.0
        for step in range(steps):
            idx = None if order is None else order[step * batch : (step + 1) * batch]
            rows = tuple(inputs) if idx is None else tuple(t[idx] for t in inputs)
            loss = batch_loss(rows, target if idx is None or target is None else target[idx], state, gen)
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingDivergedError(
                    f"Training diverged: loss '{loss_name}' became {value} at epoch {epoch + 1}; "
                    f"lower the learning rate (lr={config.lr}) or check the loss parameters."
                )
            total += value
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            state.iteration += 1
        history.append(total / steps)
    model.eval()
    return history


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed the global torch RNG (init, dropout) with ``seed``; restore the caller's state after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class NeuralPredictor(Predictor):
    """Base of the torch predictors: resolves the loss, seeds, trains with ``train_model``, scores in chunks.

    Subclasses implement ``_source`` (the raw inputs of an ArchSet: a GraphBatch or an
    encoding matrix, fetched once), ``_tensors`` (model inputs for a slice of it) and
    ``_build`` (the torch module, built after ``_prepare`` has seen the training inputs);
    ``_pretrain``, ``_optimiser`` and ``_batch_loss`` change the training where a method needs to.
    """

    supports_loss = True
    default_loss = "mse"
    # lr None: 3e-3, or for predictors with ``loss_lr`` the loss's ``default_lr`` (docs/LOSSES.md;
    # the GCN first looks up its space's rate in methods/neural/gcn_lr.py).
    loss_lr: ClassVar[bool] = False
    train_params: ClassVar[dict[str, Any]] = {"epochs": 300, "batch_size": 1024, "lr": None, "weight_decay": 1e-4}
    predict_chunk: ClassVar[int] = 8192  # measured: larger chunks fall out of cache and run slower
    always_shuffle: ClassVar[bool] = False  # True: draw a minibatch order even for a full batch (``train_model``)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.model: torch.nn.Module | None = None
        self.history: list[float] = []
        # Weights to start from instead of a fresh initialisation (a search warm-starting its
        # predictor between iterations); None = fresh.
        self.init_state: dict | None = None

    # -- hooks ------------------------------------------------------------------------
    def _source(self, archs: ArchSet):
        return archs.graphs()

    def _prepare(self, source) -> None:
        """Remember what the model's shape depends on (vocabulary, feature scaling)."""

    @abstractmethod
    def _tensors(self, source, sl: slice) -> tuple[torch.Tensor, ...]: ...

    @abstractmethod
    def _build(self) -> torch.nn.Module: ...

    def _pretrain(self, inputs: tuple[torch.Tensor, ...], unlabeled: ArchSet | None, gen: torch.Generator) -> None:
        """Train ``self.model`` before the main loop (which then continues ``gen``); nothing by default."""

    def _optimiser(self, config: TrainConfig) -> torch.optim.Optimizer | None:
        """The main loop's optimiser; None: ``train_model``'s fused AdamW."""
        return None

    def _batch_loss(self, inputs, target, state: TrainState, gen: torch.Generator) -> torch.Tensor:
        """The loss of one minibatch: the resolved loss on the model's scores."""
        return self._loss(self.model(*inputs), target, state)

    # -- shared -----------------------------------------------------------------------
    def resolved_loss(self) -> Loss:
        loss = self.loss if self.loss is not None else self.default_loss
        if isinstance(loss, str):
            from nasbench_harness.registry import load

            loss = load("losses", loss)()
        if not isinstance(loss, Loss):
            raise ConfigError(f"Predictor '{self.name}' needs a Loss instance or a registered loss name, got {loss!r}.")
        return loss

    def train_config(self, loss: Loss | None = None) -> TrainConfig:
        p = self.params
        lr = p["lr"]
        if lr is None:
            lr = (getattr(loss, "default_lr", None) if self.loss_lr else None) or DEFAULT_LR
        return TrainConfig(
            epochs=int(p["epochs"]), batch_size=int(p["batch_size"]), lr=float(lr),
            weight_decay=float(p["weight_decay"]), seed=self.seed, threads=self.threads,
        )

    def fit(self, archs: ArchSet, y: np.ndarray, *, unlabeled: ArchSet | None = None) -> None:
        if len(y) != len(archs) or len(y) < 2:
            raise ConfigError(
                f"Predictor '{self.name}' needs at least 2 training architectures with one score each, "
                f"got {len(archs)} architectures and {len(y)} scores."
            )
        self.model, self.history = None, []
        self._loss = self.resolved_loss() if self.supports_loss else None
        source = self._source(archs)
        self._prepare(source)
        inputs = self._tensors(source, slice(None))
        target = torch.as_tensor(normalise_targets(y), dtype=torch.float32)
        config = self.train_config(self._loss)
        with seeded(self.seed):
            model = self._build()
            if self.init_state is not None:  # warm start (search strategies): weights from an earlier fit
                model.load_state_dict(self.init_state)
            self.model = model
            try:
                gen = torch.Generator().manual_seed(self.seed)
                self._pretrain(inputs, unlabeled, gen)
                self.history = train_model(
                    model, inputs, target, config, self._batch_loss, optimiser=self._optimiser(config), gen=gen,
                    always_shuffle=self.always_shuffle, loss_name=self._loss.name if self._loss else self.name,
                    target_range=(float(np.min(y)), float(np.max(y))),
                )
            except TrainingDivergedError:
                self.model = None
                raise

    def predict(self, archs: ArchSet) -> np.ndarray:
        """Scores in chunks of ``predict_chunk`` (inputs built per chunk, so large spaces never sit in memory as floats)."""
        if self.model is None:
            raise ConfigError(f"Predictor '{self.name}' must be fit before predict; call fit(archs, y) first.")
        torch.set_num_threads(max(1, int(self.threads)))
        source = self._source(archs)
        out = np.empty(len(archs), dtype=np.float64)
        self.model.eval()
        with torch.inference_mode():
            for start in range(0, len(archs), self.predict_chunk):
                sl = slice(start, min(len(archs), start + self.predict_chunk))
                out[sl] = self.model(*self._tensors(source, sl)).double().numpy()
        if not np.all(np.isfinite(out)):
            raise TrainingDivergedError(
                "The trained predictor produced NaN/inf scores; lower the learning rate or check the loss parameters."
            )
        return out


class GraphPredictor(NeuralPredictor):
    """A NeuralPredictor over dense padded graphs (node-op one-hot + adjacency + mask)."""

    inputs = "graph"
    default_encoding = "graph"

    def _prepare(self, source) -> None:
        self.op_names = tuple(source.op_names)

    def _tensors(self, source, sl: slice):
        if tuple(source.op_names) != self.op_names:
            raise ConfigError(
                f"Predictor '{self.name}' was fit on op vocabulary {self.op_names} but got {tuple(source.op_names)}; "
                "predict on architectures of the same search space."
            )
        return graph_tensors(source, sl)
