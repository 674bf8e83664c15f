"""The one training loop every differentiable predictor shares, and batched scoring.

- Targets are min-max scaled to [0, 1] over the training set (higher stays better), so
  loss hyperparameters (margins, the MAPE baseline, GT weights) mean the same on every task.
- Full batch when the training set fits in ``batch_size`` (the default for the paper's small
  training sets: one exact gradient step per epoch over every pair), minibatches otherwise.
- Randomness (initialisation, dropout, shuffling) comes from ``seed`` only; the global torch
  RNG is forked so that training never disturbs, or depends on, anyone else's RNG state.
- Many members (cells differing by seed or loss) train at once through ``fit_members``, each
  exactly as it would alone: the group changes the speed, never a number.
- A non-finite loss or prediction stops training with ``TrainingDivergedError``: the
  protocol records the cell as failed with that sentence instead of storing numbers.
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
from nasbench_harness.methods.neural.stacked import is_stackable, member_dropout, member_scores, no_dropout
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


STACK_SIZE = 8  # members per stacked forward: 8 members' activations (~5 MB for GCN at NB201 1%) about fill a core's L2 cache


@contextmanager
def rng_state(states: list[torch.Tensor], i: int) -> Iterator[None]:
    """Run with member ``i``'s global torch RNG state (dropout), and keep where it got to."""
    saved = torch.get_rng_state()
    torch.set_rng_state(states[i])
    try:
        yield
    finally:
        states[i] = torch.get_rng_state()
        torch.set_rng_state(saved)


class _Forward:
    """Every active member's predictions for one step: stacked (``stacked.is_stackable``) or one by one."""

    def __init__(self, models, inputs, rng_states: list[torch.Tensor]) -> None:
        self.models, self.rng_states = models, rng_states
        self.stacked = is_stackable(models)
        if self.stacked:  # input-only work once, then (M, n, ...) per constant
            consts = [m.constants(*inp) for m, inp in zip(models, inputs, strict=True)]
            self.consts = tuple(torch.stack(parts) for parts in zip(*consts, strict=True))
        else:
            self.inputs = [tuple(inp) for inp in inputs]

    def __call__(self, active: list[int], idx: torch.Tensor | None) -> list[torch.Tensor]:
        """(b,) predictions of each member in ``active``; ``idx`` (M, b) holds every member's minibatch rows, or None (full batch)."""
        if not self.stacked:
            out = []
            for i in active:
                with rng_state(self.rng_states, i):
                    out.append(self.models[i](*(t if idx is None else t[idx[i]] for t in self.inputs[i])))
            return out
        out = []
        for j in range(0, len(active), STACK_SIZE):
            span = active[j : j + STACK_SIZE]
            members = torch.tensor(span)
            if idx is None:
                consts = self.consts if len(span) == len(self.models) else tuple(c[members] for c in self.consts)
            else:  # every member's own minibatch rows, gathered in one indexing op per constant
                consts = tuple(c[members[:, None], idx[members]] for c in self.consts)
            drop = member_dropout(lambda i: rng_state(self.rng_states, i), span)
            out.extend(member_scores([self.models[i] for i in span], consts, drop).unbind(0))
        return out


def train_members(
    models: Sequence[nn.Module],
    inputs: Sequence[Sequence[torch.Tensor]],
    ys: Sequence[np.ndarray],
    losses: Sequence[Loss],
    configs: Sequence[TrainConfig],
    rng_states: list[torch.Tensor],
) -> list[list[float] | TrainingDivergedError]:
    """Train M members (one architecture and schedule: epochs, batch size) at once; each ends as it would alone.

    ``models[i]`` is called as ``models[i](*inputs[i][idx])`` -> (b,) scores. Stackable models
    (``stacked.is_stackable``) run as one model with a leading member axis, the others one
    after another; all share one fused AdamW over their own (disjoint) parameter tensors.
    Member i's loss, minibatch order (``configs[i].seed``), learning rate and weight decay (an
    optimiser parameter group) and dropout (``rng_states[i]``, the global torch RNG state it
    would train under alone) are its own. A member whose loss becomes non-finite stops alone:
    its entry is the error and it leaves the stack; the others go on unchanged. Returns
    per-member epoch losses.
    """
    config = configs[0]
    if any((c.epochs, c.batch_size) != (config.epochs, config.batch_size) for c in configs):
        raise ConfigError("Members trained together need one schedule (epochs, batch_size); group cells by predictor parameters.")
    torch.set_num_threads(max(1, int(config.threads)))
    m = len(models)
    targets = [torch.as_tensor(normalise_targets(y), dtype=torch.float32) for y in ys]
    n = len(targets[0])
    if any(len(t) != n for t in targets):
        raise ConfigError("Members trained together need training sets of one size; group cells by budget and task.")
    batch = n if config.batch_size <= 0 else min(n, int(config.batch_size))
    steps_per_epoch = -(-n // batch)
    states = [TrainState(n_iterations=config.epochs * steps_per_epoch, n_epochs=config.epochs, n_train=n) for _ in range(m)]
    # One parameter group per (lr, weight decay): fused AdamW updates each tensor on its own, so
    # sharing a group changes no number, and few groups keep the step's Python overhead small.
    # (One stacked tensor per parameter would round differently: the fused kernel's vector body
    # and its scalar tail differ, and where a member's values fall depends on the group.)
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for mod, c in zip(models, configs, strict=True):
        groups.setdefault((c.lr, c.weight_decay), []).extend(mod.parameters())
    optimiser = torch.optim.AdamW(
        [{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()], fused=True
    )
    gens = [torch.Generator().manual_seed(c.seed) for c in configs]
    forward = _Forward(models, inputs, rng_states)
    history: list[list[float]] = [[] for _ in range(m)]
    failed: list[TrainingDivergedError | None] = [None] * m
    active = list(range(m))
    for model in models:
        model.train()
    for epoch in range(config.epochs):
        orders = torch.stack([torch.randperm(n, generator=g) for g in gens]) if batch < n else None
        totals = [0.0] * m
        for step in range(steps_per_epoch):
            idx = None if orders is None else orders[:, step * batch : (step + 1) * batch]
            preds = forward(active, idx)
            values = []
            for i, pred in zip(active, preds, strict=True):
                with rng_state(rng_states, i):
                    states[i].epoch = epoch
                    values.append(losses[i](pred, targets[i] if idx is None else targets[i][idx[i]], states[i]))
            stacked = torch.stack(values)
            finite = [math.isfinite(v) for v in stacked.tolist()]
            if not all(finite):
                for i, ok, v in zip(active, finite, stacked.tolist(), strict=True):
                    if not ok:
                        failed[i] = TrainingDivergedError(
                            f"Training diverged: loss '{losses[i].name}' became {v} at epoch {epoch + 1}; "
                            f"lower the learning rate (lr={configs[i].lr}) or check the loss parameters."
                        )
                values = [v for v, ok in zip(values, finite, strict=True) if ok]
                active = [i for i, ok in zip(active, finite, strict=True) if ok]
                if not active:
                    break
                stacked = torch.stack(values)
            for i, v in zip(active, stacked.tolist(), strict=True):
                totals[i] += v
            optimiser.zero_grad(set_to_none=True)
            # Each value depends on its own member's parameters only: the sum's gradient is each one's own.
            stacked.sum().backward()
            optimiser.step()
            for s in states:
                s.iteration += 1
        for i in active:
            history[i].append(totals[i] / steps_per_epoch)
        if not active:
            break
    for model in models:
        model.eval()
    return [f if f is not None else h for f, h in zip(failed, history, strict=True)]


SUBCHUNK = 1024  # items per stacked scoring pass: its activations stay in a core's L2 cache


def predict_members(
    models: Sequence[nn.Module],
    n: int,
    make_batch: Callable[[int, slice], Sequence[torch.Tensor]],
    *,
    chunk: int = 16384,
    threads: int = 1,
) -> list[np.ndarray | TrainingDivergedError]:
    """Score ``n`` items with every model, in chunks (inputs built per chunk, so large spaces never
    sit in memory as floats); ``make_batch(i, sl)`` gives model i's inputs (members may share them).
    A model with NaN/inf scores gets the error in its place."""
    torch.set_num_threads(max(1, int(threads)))
    out = [np.empty(n, dtype=np.float64) for _ in models]
    for model in models:
        model.eval()
    with torch.inference_mode():
        for start in range(0, n, chunk):
            sl = slice(start, min(n, start + chunk))
            if is_stackable(models):
                for i, scores in enumerate(_stacked_scores(models, sl, make_batch)):
                    out[i][sl] = scores
                continue
            for i, model in enumerate(models):
                out[i][sl] = model(*make_batch(i, sl)).double().numpy()
    bad = TrainingDivergedError(
        "The trained predictor produced NaN/inf scores; lower the learning rate or check the loss parameters."
    )
    return [o if np.all(np.isfinite(o)) else bad for o in out]


def _stacked_scores(models, sl: slice, make_batch) -> list[np.ndarray]:
    """Scores of one chunk, exactly as ``model(*make_batch(i, sl))`` gives them, computed faster.

    The body runs in sub-chunks of ``SUBCHUNK`` items whose input-only ``constants`` members
    sharing their inputs share (every op before the last layer treats items independently, so
    sub-chunking changes no bit); the 1-output last layer then runs on the whole chunk as in
    ``forward``, since its matmul's rounding depends on the number of rows.
    """
    features: list[list[torch.Tensor]] = [[] for _ in models]
    for s in range(sl.start, sl.stop, SUBCHUNK):
        sub = slice(s, min(sl.stop, s + SUBCHUNK))
        last: tuple = (None, None)  # (inputs, their constants): members sharing inputs reuse them
        for i, model in enumerate(models):
            inputs = make_batch(i, sub)
            if last[0] is not inputs:
                last = (inputs, tuple(c[None] for c in model.constants(*inputs)))
            features[i].append(type(model).features_stacked([model], last[1], no_dropout)[0])
    return [
        torch.addmm(m.out_layer.bias, torch.cat(f), m.out_layer.weight.t()).squeeze(-1).double().numpy()
        for m, f in zip(models, features, strict=True)
    ]


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed the global torch RNG (init, dropout) with ``seed``; restore the caller's state after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class NeuralPredictor(Predictor):
    """Base of the torch predictors: resolves the loss, seeds, trains with ``train_members``, scores in chunks.

    Subclasses implement ``_source`` (the raw inputs of an ArchSet: a GraphBatch or an
    encoding matrix, fetched once), ``_tensors`` (model inputs for a slice of it) and
    ``_build`` (the torch module, built after ``_prepare`` has seen the training inputs).
    """

    supports_loss = True
    default_loss = "mse"
    fits_in_groups: ClassVar[bool] = True  # the executor may fit cells differing by seed/loss together (fit_members)
    # lr None: 3e-3, or for predictors with ``loss_lr`` the loss's ``default_lr`` (docs/LOSSES.md).
    loss_lr: ClassVar[bool] = False
    train_params: ClassVar[dict[str, Any]] = {"epochs": 300, "batch_size": 1024, "lr": None, "weight_decay": 1e-4}
    predict_chunk: ClassVar[int] = 8192  # measured: larger chunks fall out of cache and run slower
    shares_inputs: ClassVar[bool] = False  # True: ``_tensors`` depends on the member only through ``_tensors_key``

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
        (error,) = fit_members([self], [archs], [y])
        if error is not None:
            raise error

    def predict(self, archs: ArchSet) -> np.ndarray:
        (out,) = predict_members_of([self], archs)
        if isinstance(out, TrainingDivergedError):
            raise out
        return out


def fit_members(
    predictors: Sequence[NeuralPredictor], archsets: Sequence[ArchSet], ys: Sequence[np.ndarray]
) -> list[TrainingDivergedError | None]:
    """Fit predictors of one class and one model shape and schedule (their seeds, training rows and
    losses may differ) together.

    Each member ends exactly as its own ``fit`` would leave it (init and dropout under its
    seed, its minibatch order, its loss and learning rate): the group changes how fast, never
    what. Returns each member's divergence error or None.
    """
    first = predictors[0]
    if any(type(p) is not type(first) for p in predictors):
        raise ConfigError("Predictors fitted together must be of one class; group cells by predictor.")
    models, inputs, losses, rng_states, configs = [], [], [], [], []
    for p, archs, y in zip(predictors, archsets, ys, strict=True):
        if len(y) != len(archs) or len(y) < 2:
            raise ConfigError(
                f"Predictor '{p.name}' needs at least 2 training architectures with one score each, "
                f"got {len(archs)} architectures and {len(y)} scores."
            )
        loss = p.resolved_loss()
        source = p._source(archs)
        p._prepare(source)
        with seeded(p.seed):
            p.model = p._build()
            if p.init_state is not None:  # warm start (search strategies): weights from an earlier fit
                p.model.load_state_dict(p.init_state)
            rng_states.append(torch.get_rng_state())
        models.append(p.model)
        inputs.append(p._tensors(source, slice(None)))
        losses.append(loss)
        configs.append(p.train_config(loss))
    ys = [np.asarray(y, dtype=np.float64) for y in ys]
    outs = train_members(models, inputs, ys, losses, configs, rng_states)
    errors: list[TrainingDivergedError | None] = []
    for p, out in zip(predictors, outs, strict=True):
        if isinstance(out, TrainingDivergedError):
            p.model, p.history = None, []
            errors.append(out)
        else:
            p.history = out
            errors.append(None)
    return errors


def predict_members_of(predictors: Sequence[NeuralPredictor], archs: ArchSet) -> list[np.ndarray | TrainingDivergedError]:
    """Score ``archs`` with every fitted predictor (fetching the inputs once; graph inputs built once per chunk)."""
    first = predictors[0]
    for p in predictors:
        if p.model is None:
            raise ConfigError(f"Predictor '{p.name}' must be fit before predict; call fit(archs, y) first.")
    source = first._source(archs)
    cache: dict = {}  # the current chunk's inputs, per distinct ``_tensors_key``

    def make_batch(i: int, sl: slice):
        p = predictors[i]
        if not p.shares_inputs:
            return p._tensors(source, sl)
        key = (sl.start, p._tensors_key())
        if key not in cache:
            if any(k[0] != sl.start for k in cache):
                cache.clear()
            cache[key] = p._tensors(source, sl)
        return cache[key]

    return predict_members(
        [p.model for p in predictors], len(archs), make_batch, chunk=first.predict_chunk, threads=first.threads
    )


class GraphPredictor(NeuralPredictor):
    """A NeuralPredictor over dense padded graphs (node-op one-hot + adjacency + mask)."""

    inputs = "graph"
    default_encoding = "graph"

    def _prepare(self, source) -> None:
        self.op_names = tuple(source.op_names)

    shares_inputs = True

    def _tensors_key(self):
        return self.op_names

    def _tensors(self, source, sl: slice):
        if tuple(source.op_names) != self.op_names:
            raise ConfigError(
                f"Predictor '{self.name}' was fit on op vocabulary {self.op_names} but got {tuple(source.op_names)}; "
                "predict on architectures of the same search space."
            )
        return graph_tensors(source, sl)
