"""Conformance checks any predictor or loss plugin can run against itself.

    from nasbench_harness.testing import check_predictor, check_loss
    check_predictor(MyPredictor)          # or a registered name: check_predictor("knn")
    check_loss(MyLoss)

Both raise ``AssertionError`` naming the broken rule. By default they run on ``toy_task``:
a small synthetic search space of 6-node cell DAGs whose score is a fixed, learnable
function of the structure, so the checks need no benchmark data. Pass ``task=`` to check
on a real task (``load_task("nbgraph/cora")``).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.base import ArchSet, Loss, Predictor, TrainState
from nasbench_harness.tasks.spaces.base import GraphBatch, SearchSpace

INPUTS = ("encoding", "graph", "encoding+graph")


class ToySpace(SearchSpace):
    """6-node cells: input, four operation nodes, output; a chain plus optional skip edges.

    Ids look like ``"0121-0110100110"``: four op digits, then one bit per optional edge.
    """

    name = "toy"
    description = "Synthetic 6-node cell space for conformance tests (no benchmark data)."
    ops = ("conv3x3", "conv1x1", "maxpool")
    op_names = ("input", "output", *ops)
    max_nodes = 6
    meta_params_proxy = True  # no parameter data: the meta encoding uses the kernel-area proxy
    # Optional edges: every i < j except the chain edges i -> i+1.
    edges = tuple((i, j) for i in range(6) for j in range(i + 2, 6))

    def canonical_id(self, arch_id: str) -> str:
        ops, _, bits = arch_id.partition("-")
        if len(ops) != 4 or len(bits) != len(self.edges) or set(ops) - set("012") or set(bits) - set("01"):
            raise ConfigError(f"'{arch_id}' is not a toy-space id; expected 4 op digits (0-2), '-', {len(self.edges)} edge bits.")
        return arch_id

    def iso_hash(self, arch_id: str) -> str:
        return hashlib.sha256(self.canonical_id(arch_id).encode()).hexdigest()

    def to_graph(self, arch_ids: Sequence[str]) -> GraphBatch:
        n = len(arch_ids)
        codes = np.array([list(a.replace("-", "")) for a in arch_ids], dtype=np.int16).reshape(n, -1)
        adj = np.zeros((n, 6, 6), dtype=np.uint8)
        idx = np.arange(5)
        adj[:, idx, idx + 1] = 1
        for k, (i, j) in enumerate(self.edges):
            adj[:, i, j] = codes[:, 4 + k]
        ops = np.empty((n, 6), dtype=np.int16)
        ops[:, 0], ops[:, 5] = 0, 1
        ops[:, 1:5] = codes[:, :4] + 2
        return GraphBatch(adj, ops, self.op_names)

    def mutate(self, arch_id: str, rng: np.random.Generator) -> str:
        chars = list(self.canonical_id(arch_id).replace("-", ""))
        pos = int(rng.integers(len(chars)))
        if pos < 4:
            chars[pos] = str((int(chars[pos]) + 1 + int(rng.integers(2))) % 3)
        else:
            chars[pos] = "1" if chars[pos] == "0" else "0"
        return "".join(chars[:4]) + "-" + "".join(chars[4:])

    def neighbours(self, arch_id: str) -> list[str]:
        """Every id one op change or one edge flip away (what ``mutate`` draws from)."""
        chars = list(self.canonical_id(arch_id).replace("-", ""))
        out = []
        for pos, c in enumerate(chars):
            for alt in ("012".replace(c, "") if pos < 4 else ("1" if c == "0" else "0")):
                new = chars[:pos] + [alt] + chars[pos + 1 :]
                out.append("".join(new[:4]) + "-" + "".join(new[4:]))
        return out

    def enumerate(self) -> np.ndarray:
        ops = ["".join(p) for p in itertools.product("012", repeat=4)]
        bits = ["".join(b) for b in itertools.product("01", repeat=len(self.edges))]
        return np.array([f"{o}-{b}" for o in ops for b in bits])

    def encode_onehot(self, arch_ids) -> np.ndarray:
        g = self.to_graph(list(arch_ids))
        iu = np.triu_indices(6, 1)
        return np.concatenate([g.adj[:, iu[0], iu[1]], g.one_hot_ops()[:, 1:5].reshape(len(g), -1)], axis=1).astype(np.float32)

    def encoding(self, kind: str, arch_ids: np.ndarray, universe_key: str, cache=None) -> np.ndarray:
        own = getattr(self, f"encode_{kind}", None)
        if own is None:
            return super().encoding(kind, arch_ids, universe_key, cache)
        key = (kind, universe_key)
        if key not in self._memo:
            self._memo[key] = own(arch_ids)
        return self._memo[key]


def _toy_scores(space: ToySpace, ids: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A learnable structural score (op mix, depth, skip edges, one interaction) + noise."""
    g = space.to_graph(list(ids))
    ops = g.one_hot_ops()[:, 1:5, 2:]  # (n, 4, 3)
    counts = ops.sum(axis=1)
    skips = g.adj.reshape(len(g), -1).sum(axis=1) - 5
    conv_first = ops[:, 0, 0] * ops[:, 1, 1]
    base = 60 + 3.0 * counts[:, 0] + 1.5 * counts[:, 1] - 2.0 * counts[:, 2] + 0.8 * skips + 2.5 * conv_first
    rng = np.random.default_rng(seed)
    train = base + rng.normal(0, 0.5, len(ids))
    test = base + rng.normal(0, 0.5, len(ids))
    return train, test


@functools.cache
def toy_task(n: int = 600, seed: int = 0):
    """A Task over ``n`` architectures of the toy space (deterministic for ``seed``)."""
    from nasbench_harness.tasks.catalog import Task, TaskSpec

    space = ToySpace()
    universe = space.enumerate()
    ids = np.sort(np.random.default_rng(seed).choice(universe, size=n, replace=False))
    train, test = _toy_scores(space, ids, seed)
    spec = TaskSpec(name="toy/synthetic", space="toy", dataset="synthetic", train_metric="synthetic.val_acc", eval_metric="synthetic.test_acc", unit="%")
    # The generating code is part of the data: editing it must change the run keys.
    source = Path(__file__).read_bytes()
    checksum = hashlib.sha256(f"toy:{n}:{seed}:".encode() + source).hexdigest()
    return Task(spec=spec, space=space, ids=ids, train=train, eval=test, extras=pd.DataFrame(index=range(n)), data_checksum=checksum)


@functools.cache
def search_toy_task():
    """A dense toy pool for search tests: all 81 op choices x the first 3 optional edges (648
    architectures), low noise, one best architecture. Mutants of the other edges leave the
    pool (exercising redraws), so it behaves like a stored subset of a larger space."""
    from nasbench_harness.tasks.catalog import Task, TaskSpec

    space = ToySpace()
    ops = ["".join(p) for p in itertools.product("012", repeat=4)]
    free = ["".join(b) for b in itertools.product("01", repeat=3)]
    ids = np.array(sorted(f"{o}-{b}{'0' * (len(space.edges) - 3)}" for o in ops for b in free))
    g = space.to_graph(list(ids))
    hot = g.one_hot_ops()[:, 1:5, 2:]
    counts = hot.sum(axis=1)
    base = 60 + 3.0 * counts[:, 0] + 1.5 * counts[:, 1] - 2.0 * counts[:, 2] + 0.8 * (g.adj.reshape(len(g), -1).sum(axis=1) - 5)
    base = base + 2.5 * hot[:, 0, 0] * hot[:, 1, 1]
    rng = np.random.default_rng(0)
    train, test = base + rng.normal(0, 0.1, len(ids)), base + rng.normal(0, 0.1, len(ids))
    spec = TaskSpec(name="toy/search", space="toy", dataset="search", train_metric="search.val_acc", eval_metric="search.test_acc", unit="%")
    checksum = hashlib.sha256(b"toy-search:" + Path(__file__).read_bytes()).hexdigest()
    return Task(spec=spec, space=space, ids=ids, train=train, eval=test, extras=pd.DataFrame(index=range(len(ids))), data_checksum=checksum)


# Tasks that need no benchmark data, usable by name in any matrix (tests, CI, examples).
SYNTHETIC_TASKS = {"toy/synthetic": toy_task, "toy/search": search_toy_task}
SYNTHETIC_DESCRIPTIONS = {
    "toy/synthetic": "Synthetic 6-node cell space, 600 architectures, a learnable structural score (tests and CI; no data needed).",
    "toy/search": "Dense 648-architecture pool of the toy space with one best architecture (search tests; no data needed).",
}


def _resolve(kind: str, obj):
    if isinstance(obj, str):
        from nasbench_harness import registry

        return registry.load(kind, obj)
    return obj


def _kendall(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


def check_predictor(predictor, *, task=None, n_train: int = 60, encoding: str | None = None, losses: Sequence[str] = (), min_tau: float | None = 0.1, params: dict | None = None) -> dict:
    """Check a predictor class (or registered name) against the Predictor contract.

    Rules: declared attributes are valid; unknown params raise ConfigError; fit/predict
    return one finite float per architecture; the same seed gives the same predictions;
    inputs are not modified; the prediction of a subset equals the subset of a
    prediction; (``min_tau``) it learns: Kendall tau on held-out rows above ``min_tau``;
    every loss in ``losses`` trains when the predictor ``supports_loss``.
    Returns measured facts (tau, n_eval) for the caller to print.
    """
    cls = _resolve("predictors", predictor)
    name = getattr(cls, "name", "") or cls.__name__
    assert isinstance(cls, type) and issubclass(cls, Predictor), f"{name}: must subclass nasbench_harness.methods.base.Predictor"
    assert cls.inputs in INPUTS, f"{name}: inputs must be one of {INPUTS}, not {cls.inputs!r}"
    assert isinstance(cls.default_params, dict), f"{name}: default_params must be a dict"
    assert isinstance(cls.default_encoding, str) and cls.default_encoding, f"{name}: default_encoding must name an encoding"
    assert (cls.description or cls.__doc__ or "").strip(), f"{name}: needs a description (shown by `list predictors`)"
    if cls.supports_loss:
        assert cls.default_loss is None or isinstance(cls.default_loss, str), f"{name}: default_loss must be a loss name or None"
    try:
        cls(seed=0, __not_a_param__=1)
    except ConfigError:
        pass
    else:
        raise AssertionError(f"{name}: an unknown parameter must raise ConfigError")

    task = task or toy_task()
    params = params or {}
    enc = encoding or cls.default_encoding
    n = len(task)
    rng = np.random.default_rng(0)
    order = rng.permutation(n)
    train_rows, eval_rows = np.sort(order[:n_train]), np.sort(order[n_train:])
    y = task.train_scores[train_rows].copy()
    y_before = y.copy()

    def fit_predict(seed: int, loss=None, rows=eval_rows) -> np.ndarray:
        p = cls(seed=seed, encoding=enc, loss=loss, **params)
        unlabeled = ArchSet(task, eval_rows) if cls.uses_unlabeled else None
        p.fit(ArchSet(task, train_rows), y, unlabeled=unlabeled)
        out = p.predict(ArchSet(task, rows))
        return out, p

    pred, fitted = fit_predict(7)
    assert isinstance(pred, np.ndarray), f"{name}: predict must return a numpy array, not {type(pred).__name__}"
    assert pred.shape == (len(eval_rows),), f"{name}: predict must return shape ({len(eval_rows)},), got {pred.shape}"
    assert np.issubdtype(pred.dtype, np.floating), f"{name}: predictions must be floats, got {pred.dtype}"
    assert np.isfinite(pred).all(), f"{name}: predictions must be finite"
    assert np.array_equal(y, y_before), f"{name}: fit must not modify the training scores in place"
    again, _ = fit_predict(7)
    assert np.allclose(pred, again, rtol=1e-6, atol=1e-9), f"{name}: the same seed must give the same predictions"
    sub = np.arange(0, len(eval_rows), 3)
    part = fitted.predict(ArchSet(task, eval_rows[sub]))
    assert np.allclose(part, pred[sub], rtol=1e-4, atol=1e-6), f"{name}: predicting a subset must equal the subset of the predictions"
    tau = _kendall(task.eval_scores[eval_rows], pred)
    if min_tau is not None:
        assert tau > min_tau, f"{name}: Kendall tau {tau:.3f} on the held-out rows is not above {min_tau}; it does not learn"
    for loss_name in losses if cls.supports_loss else ():
        loss = _resolve("losses", loss_name)()
        out, _ = fit_predict(7, loss=loss)
        assert np.isfinite(out).all(), f"{name}: predictions trained with loss '{loss_name}' must be finite"
    return {"kendall_tau": tau, "n_eval": len(eval_rows)}


def check_loss(loss) -> dict:
    """Check a loss class (or registered name) against the Loss contract.

    Rules: unknown params raise ConfigError; on 1-D tensors it returns a finite scalar
    with finite gradients that are not all zero; predicting the targets' order costs
    less than predicting the reverse order; batches of two and tied targets work; it
    accepts training states from the first to the last iteration.
    """
    import torch

    cls = _resolve("losses", loss)
    name = getattr(cls, "name", "") or cls.__name__
    assert isinstance(cls, type) and issubclass(cls, Loss), f"{name}: must subclass nasbench_harness.methods.base.Loss"
    assert isinstance(cls.default_params, dict), f"{name}: default_params must be a dict"
    try:
        cls(__not_a_param__=1)
    except ConfigError:
        pass
    else:
        raise AssertionError(f"{name}: an unknown parameter must raise ConfigError")
    fn = cls()
    gen = torch.Generator().manual_seed(0)
    target = torch.rand(32, generator=gen, dtype=torch.float32) * 0.5 + 0.4  # accuracy-like scores
    states = [TrainState(iteration=i, n_iterations=100, epoch=i // 10, n_epochs=10, n_train=32) for i in (0, 50, 99)]

    def value(pred, tgt, state) -> torch.Tensor:
        torch.manual_seed(0)  # losses that sample pairs/negatives draw from torch's global rng
        out = fn(pred, tgt, state)
        assert isinstance(out, torch.Tensor) and out.dim() == 0, f"{name}: must return a scalar tensor"
        assert torch.isfinite(out), f"{name}: loss is not finite"
        return out

    facts = {}
    for state in states:
        pred = (torch.rand(32, generator=gen) * 0.5 + 0.4).requires_grad_(True)
        value(pred, target, state).backward()
        assert pred.grad is not None and torch.isfinite(pred.grad).all(), f"{name}: gradients must be finite"
        assert pred.grad.abs().sum() > 0, f"{name}: gradients are all zero on a random prediction"
        good = value(target.clone(), target, state)
        rank = torch.argsort(torch.argsort(target))
        reverse = torch.sort(target).values.flip(0)[rank]  # same values, reversed order
        bad = value(reverse, target, state)
        assert good < bad, f"{name}: predicting the true order ({good.item():.4g}) must cost less than the reverse order ({bad.item():.4g})"
        facts[f"good@{state.iteration}"], facts[f"bad@{state.iteration}"] = good.item(), bad.item()
    value(torch.tensor([0.5, 0.6]), torch.tensor([0.55, 0.65]), states[0])
    value(torch.tensor([0.5, 0.6, 0.7]), torch.tensor([0.6, 0.6, 0.6]), states[-1])
    return facts
