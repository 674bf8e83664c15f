"""The one training loop every differentiable predictor shares, and batched scoring.

- Targets are min-max scaled to [0, 1] over the training set (higher stays better), so
  loss hyperparameters (margins, the MAPE baseline, GT weights) mean the same on every task.
- Full batch when the training set fits in ``batch_size`` (the default for the paper's small
  training sets: one exact gradient step per epoch over every pair), minibatches otherwise.
- Randomness (initialisation, dropout, shuffling) comes from ``seed`` only; the global torch
  RNG is forked so that training never disturbs, or depends on, anyone else's RNG state.
- A non-finite loss or prediction stops training with ``TrainingDivergedError``: the
  protocol records the cell as failed with that sentence instead of storing numbers.
"""

from __future__ import annotations

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


def train_model(
    model: torch.nn.Module,
    inputs: Sequence[torch.Tensor],
    y: np.ndarray,
    loss: Loss,
    config: TrainConfig,
) -> list[float]:
    """Train ``model`` (called as ``model(*inputs[idx])`` -> (b,) scores) in place; returns per-epoch losses."""
    torch.set_num_threads(max(1, int(config.threads)))
    target = torch.as_tensor(normalise_targets(y), dtype=torch.float32)
    n = len(target)
    batch = n if config.batch_size <= 0 else min(n, int(config.batch_size))
    steps_per_epoch = -(-n // batch)
    state = TrainState(n_iterations=config.epochs * steps_per_epoch, n_epochs=config.epochs, n_train=n)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)
    gen = torch.Generator().manual_seed(config.seed)
    history: list[float] = []
    model.train()
    for epoch in range(config.epochs):
        state.epoch = epoch
        order = torch.randperm(n, generator=gen) if batch < n else None
        total = 0.0
        for step in range(steps_per_epoch):
            idx = slice(None) if order is None else order[step * batch : (step + 1) * batch]
            pred = model(*(t[idx] for t in inputs))
            value = loss(pred, target[idx], state)
            if not torch.isfinite(value):
                raise TrainingDivergedError(
                    f"Training diverged: loss '{loss.name}' became {value.item()} at epoch {epoch + 1}; "
                    f"lower the learning rate (lr={config.lr}) or check the loss parameters."
                )
            optimiser.zero_grad(set_to_none=True)
            value.backward()
            optimiser.step()
            state.iteration += 1
            total += float(value.detach())
        history.append(total / steps_per_epoch)
    model.eval()
    return history


def predict_batched(
    model: torch.nn.Module,
    n: int,
    make_batch: Callable[[slice], Sequence[torch.Tensor]],
    *,
    chunk: int = 16384,
    threads: int = 1,
) -> np.ndarray:
    """Score ``n`` items in chunks (inputs built per chunk, so large spaces never sit in memory as floats)."""
    torch.set_num_threads(max(1, int(threads)))
    out = np.empty(n, dtype=np.float64)
    model.eval()
    with torch.inference_mode():
        for start in range(0, n, chunk):
            sl = slice(start, min(n, start + chunk))
            out[sl] = model(*make_batch(sl)).double().numpy()
    if not np.all(np.isfinite(out)):
        raise TrainingDivergedError(
            "The trained predictor produced NaN/inf scores; lower the learning rate or check the loss parameters."
        )
    return out


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
    ``_build`` (the torch module, built after ``_prepare`` has seen the training inputs).
    """

    supports_loss = True
    default_loss = "mse"
    # lr None: 3e-3, or for predictors with ``loss_lr`` the loss's ``default_lr`` (docs/LOSSES.md).
    loss_lr: ClassVar[bool] = False
    train_params: ClassVar[dict[str, Any]] = {"epochs": 300, "batch_size": 1024, "lr": None, "weight_decay": 1e-4}
    predict_chunk: ClassVar[int] = 8192  # measured: larger chunks fall out of cache and run slower

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
        y = np.asarray(y, dtype=np.float64)
        if len(y) != len(archs) or len(y) < 2:
            raise ConfigError(
                f"Predictor '{self.name}' needs at least 2 training architectures with one score each, "
                f"got {len(archs)} architectures and {len(y)} scores."
            )
        loss = self.resolved_loss()
        source = self._source(archs)
        self._prepare(source)
        torch.set_num_threads(max(1, int(self.threads)))
        with seeded(self.seed):
            self.model = self._build()
            if self.init_state is not None:
                self.model.load_state_dict(self.init_state)
            self.history = train_model(self.model, self._tensors(source, slice(None)), y, loss, self.train_config(loss))

    def predict(self, archs: ArchSet) -> np.ndarray:
        if self.model is None:
            raise ConfigError(f"Predictor '{self.name}' must be fit before predict; call fit(archs, y) first.")
        source = self._source(archs)
        return predict_batched(
            self.model, len(archs), lambda sl: self._tensors(source, sl), chunk=self.predict_chunk, threads=self.threads
        )


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
