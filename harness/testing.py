"""Conformance checks any predictor, loss, strategy or search-space plugin can run against itself.

    from nasbench_harness.testing import check_loss, check_predictor, check_search_space, check_strategy
    check_predictor(MyPredictor)          # or a registered name: check_predictor("knn")
    check_loss(MyLoss); check_strategy(MyStrategy); check_search_space(MySpace)

Each raises ``AssertionError`` naming the broken rule; ``predictor_checks`` gives the predictor's
rules one by one (a test suite parametrizes over them). By default they run on ``toy_task``:
a small synthetic search space of 6-node cell DAGs whose score is a fixed, learnable
function of the structure, so the checks need no benchmark data. Pass ``task=`` to check
on a real task (``load_task("nbgraph/cora")``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence

import numpy as np
from nasbench_harness.errors import ConfigError, HarnessError
from nasbench_harness.methods.base import ArchSet, Loss, Predictor, TrainState
from nasbench_harness.tasks.spaces.toy import ToySpace, search_toy_task, toy_task

__all__ = ["PREDICTOR_RULES", "ToySpace", "check_loss", "check_predictor", "check_search_space", "check_strategy",
           "predictor_checks", "search_toy_task", "toy_task"]

INPUTS = ("encoding", "graph", "encoding+graph")


def _resolve(kind: str, obj):
    if isinstance(obj, str):
        from nasbench_harness import registry

        return registry.load(kind, obj)
    return obj


def _kendall(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


class _PredictorCase:
    """One predictor under test: its class, the task and split, and its fits (each made once,
    on first use, and shared by the rules that read them)."""

    def __init__(self, predictor, *, task=None, n_train: int = 60, encoding: str | None = None, losses: Sequence[str] = (),
                 min_tau: float | None = 0.1, params: dict | None = None) -> None:
        self.cls = _resolve("predictors", predictor)
        self.name = getattr(self.cls, "name", "") or getattr(self.cls, "__name__", str(predictor))
        self._task, self.n_train, self._encoding = task, n_train, encoding
        self.losses, self.min_tau, self.params = tuple(losses), min_tau, dict(params or {})
        self.facts: dict = {}

    @functools.cached_property
    def task(self):
        return self._task or toy_task()

    @functools.cached_property
    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.random.default_rng(0).permutation(len(self.task))
        return np.sort(order[: self.n_train]), np.sort(order[self.n_train :])

    def fit_predict(self, seed: int, loss=None, y: np.ndarray | None = None):
        train, evaluate = self.rows
        p = self.cls(seed=seed, encoding=self._encoding or self.cls.default_encoding, loss=loss, **self.params)
        unlabeled = ArchSet(self.task, evaluate) if self.cls.uses_unlabeled else None
        p.fit(ArchSet(self.task, train), self.task.train_scores[train].copy() if y is None else y, unlabeled=unlabeled)
        return p.predict(ArchSet(self.task, evaluate)), p

    @functools.cached_property
    def first(self):
        """(predictions, fitted predictor, the training scores it was given) of a seed-7 fit."""
        y = self.task.train_scores[self.rows[0]].copy()
        pred, fitted = self.fit_predict(7, y=y)
        return pred, fitted, y


def _rule_declares_valid_attributes(c: _PredictorCase) -> None:
    cls, name = c.cls, c.name
    assert isinstance(cls, type) and issubclass(cls, Predictor), f"{name}: must subclass nasbench_harness.methods.base.Predictor"
    assert cls.inputs in INPUTS, f"{name}: inputs must be one of {INPUTS}, not {cls.inputs!r}"
    assert isinstance(cls.default_params, dict), f"{name}: default_params must be a dict"
    assert isinstance(cls.default_encoding, str) and cls.default_encoding, f"{name}: default_encoding must name an encoding"
    assert (cls.description or cls.__doc__ or "").strip(), f"{name}: needs a description (shown by `list predictors`)"
    assert isinstance(cls.cost_family, str) and cls.cost_family, f"{name}: cost_family must name a family (harness/estimate.py)"
    for attr in ("prior_seconds", "tuned_prior_seconds"):
        assert isinstance(getattr(cls, attr), (int, float)) and getattr(cls, attr) > 0, f"{name}: {attr} must be a positive number of seconds"
    if cls.supports_loss:
        assert cls.default_loss is None or isinstance(cls.default_loss, str), f"{name}: default_loss must be a loss name or None"


def _refuses_unknown_params(name: str, build: Callable[[], object]) -> None:
    try:
        build()
    except ConfigError:
        return
    raise AssertionError(f"{name}: an unknown parameter must raise ConfigError")


def _rule_rejects_unknown_params(c: _PredictorCase) -> None:
    _refuses_unknown_params(c.name, lambda: c.cls(seed=0, __not_a_param__=1))


def _rule_one_finite_float_each(c: _PredictorCase) -> None:
    pred, n_eval = c.first[0], len(c.rows[1])
    assert isinstance(pred, np.ndarray), f"{c.name}: predict must return a numpy array, not {type(pred).__name__}"
    assert pred.shape == (n_eval,), f"{c.name}: predict must return shape ({n_eval},), got {pred.shape}"
    assert np.issubdtype(pred.dtype, np.floating), f"{c.name}: predictions must be floats, got {pred.dtype}"
    assert np.isfinite(pred).all(), f"{c.name}: predictions must be finite"


def _rule_leaves_inputs_unmodified(c: _PredictorCase) -> None:
    y = c.first[2]
    assert np.array_equal(y, c.task.train_scores[c.rows[0]]), f"{c.name}: fit must not modify the training scores in place"


def _rule_same_seed_same_predictions(c: _PredictorCase) -> None:
    again, _ = c.fit_predict(7)
    assert np.allclose(c.first[0], again, rtol=1e-6, atol=1e-9), f"{c.name}: the same seed must give the same predictions"


def _rule_subset_of_predictions(c: _PredictorCase) -> None:
    pred, fitted, _ = c.first
    sub = np.arange(0, len(c.rows[1]), 3)
    part = fitted.predict(ArchSet(c.task, c.rows[1][sub]))
    assert np.allclose(part, pred[sub], rtol=1e-4, atol=1e-6), f"{c.name}: predicting a subset must equal the subset of the predictions"


def _rule_learns(c: _PredictorCase) -> None:
    tau = _kendall(c.task.eval_scores[c.rows[1]], c.first[0])
    c.facts.update(kendall_tau=tau, n_eval=len(c.rows[1]))
    if c.min_tau is not None:
        assert tau > c.min_tau, f"{c.name}: Kendall tau {tau:.3f} on the held-out rows is not above {c.min_tau}; it does not learn"


def _rule_trains_with_each_loss(c: _PredictorCase) -> None:
    for loss_name in c.losses if c.cls.supports_loss else ():
        out, _ = c.fit_predict(7, loss=_resolve("losses", loss_name)())
        assert np.isfinite(out).all(), f"{c.name}: predictions trained with loss '{loss_name}' must be finite"


# The Predictor contract, one named rule each (a test suite parametrizes over them: one test id per rule).
PREDICTOR_RULES = (
    ("declares-valid-attributes", _rule_declares_valid_attributes),
    ("rejects-unknown-params", _rule_rejects_unknown_params),
    ("one-finite-float-per-architecture", _rule_one_finite_float_each),
    ("leaves-inputs-unmodified", _rule_leaves_inputs_unmodified),
    ("same-seed-same-predictions", _rule_same_seed_same_predictions),
    ("subset-of-predictions", _rule_subset_of_predictions),
    ("learns", _rule_learns),
    ("trains-with-each-loss", _rule_trains_with_each_loss),
)


@functools.lru_cache(maxsize=2)
def _predictor_case(predictor, options: str) -> _PredictorCase:
    """Cases shared by consecutive rule tests of one predictor (their fits are made once)."""
    return _PredictorCase(predictor, **json.loads(options))


def predictor_checks(predictor, **options) -> list[tuple[str, Callable[[], None]]]:
    """(rule name, check) pairs for ``predictor`` (a class or a registered name); each check raises
    AssertionError naming the broken rule. ``options`` as for ``check_predictor`` (JSON-able: no task)."""
    key = json.dumps(options, sort_keys=True)
    return [(name, functools.partial(lambda rule: rule(_predictor_case(predictor, key)), rule)) for name, rule in PREDICTOR_RULES]


def check_predictor(predictor, *, task=None, n_train: int = 60, encoding: str | None = None, losses: Sequence[str] = (), min_tau: float | None = 0.1, params: dict | None = None) -> dict:
    """Check a predictor class (or registered name) against every rule of ``PREDICTOR_RULES``.

    Rules: declared attributes are valid; unknown params raise ConfigError; fit/predict
    return one finite float per architecture; inputs are not modified; the same seed gives
    the same predictions; the prediction of a subset equals the subset of a prediction;
    (``min_tau``) it learns: Kendall tau on held-out rows above ``min_tau``; every loss in
    ``losses`` trains when the predictor ``supports_loss``.
    Returns measured facts (tau, n_eval) for the caller to print.
    """
    case = _PredictorCase(predictor, task=task, n_train=n_train, encoding=encoding, losses=losses, min_tau=min_tau, params=params)
    for _, rule in PREDICTOR_RULES:
        rule(case)
    return case.facts


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
    _refuses_unknown_params(name, lambda: cls(__not_a_param__=1))
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


# -- strategies -------------------------------------------------------------------------------
def _search(cls, task, budget: int, seed: int):
    """The oracle after ``cls`` searched ``task`` with ``budget`` queries (ridge on one-hot when it needs a predictor)."""
    from nasbench_harness import registry
    from nasbench_harness.methods.strategies.base import BudgetExhausted, Oracle, SearchContext

    factory = None
    if cls.needs_predictor:
        ridge = registry.load("predictors", "ridge")

        def factory(loss=None, seed_offset: int = 0):
            return ridge(seed=seed + seed_offset, encoding="onehot")

    oracle = Oracle(task, budget, cls.name)
    ctx = SearchContext(rng=np.random.default_rng([seed, 1]), initial_order=np.random.default_rng([seed, 2]).permutation(len(task)),
                        task_name=task.name, new_predictor=factory, predictor_name="ridge" if factory else "none", seed=seed)
    try:
        cls().search(oracle, ctx)
    except BudgetExhausted:
        pass
    return oracle


def check_strategy(strategy, *, task=None, budget: int = 30) -> dict:
    """Check a search strategy class (or registered name) against the Strategy contract.

    Rules: it subclasses Strategy with a description, default params and valid cost and
    select metadata; unknown params raise ConfigError; a search spends exactly the budget
    (on ``search_toy_task``, whose pool is a part of its space); the same seed gives the same
    queries; with a ``select_label``, ``extend`` picks K unseen architectures after an observed sample.
    """
    from nasbench_harness.methods.strategies.base import Strategy

    cls = _resolve("strategies", strategy)
    name = getattr(cls, "name", "") or getattr(cls, "__name__", str(strategy))
    assert isinstance(cls, type) and issubclass(cls, Strategy), f"{name}: must subclass nasbench_harness.methods.strategies.base.Strategy"
    assert (cls.description or cls.__doc__ or "").strip(), f"{name}: needs a description (shown by `list strategies`)"
    assert isinstance(cls.default_params, dict), f"{name}: default_params must be a dict"
    assert set(cls.positive_int_params) <= set(cls.default_params), f"{name}: positive_int_params must name default_params"
    assert cls.prior_seconds is None or cls.prior_seconds > 0, f"{name}: prior_seconds must be None or a positive number of seconds"
    assert cls.select_label is None or (isinstance(cls.select_label, str) and cls.select_label), f"{name}: select_label must be None or a label"
    _refuses_unknown_params(name, lambda: cls(__not_a_param__=1))
    task = task or search_toy_task()
    first = _search(cls, task, budget, 0)
    assert first.n_queries == budget, f"{name}: spent {first.n_queries} of a budget of {budget} queries; a search must spend it all"
    again = _search(cls, task, budget, 0)
    assert np.array_equal(first.trace_rows, again.trace_rows), f"{name}: the same seed must give the same queries"
    if cls.select_label is not None:
        observed = np.random.default_rng(3).permutation(len(task))[:20]
        chosen = np.asarray(cls.extend(task, observed, 10, np.random.default_rng(4), {}))
        assert len(chosen) == 10 and len(set(chosen.tolist())) == 10, f"{name}: extend must choose K distinct architectures"
        assert not set(chosen.tolist()) & set(observed.tolist()), f"{name}: extend must choose unseen architectures only"
    return {"best_found": float(first.queried_scores.max())}


# -- search spaces ----------------------------------------------------------------------------
def _sample_ids(space, n: int) -> np.ndarray:
    """``n`` ids of the space: from its enumeration when finite and enumerable, else its table."""
    try:
        universe = space.enumerate()
    except NotImplementedError:
        universe = space.load_table(None)["arch_id"].to_numpy(dtype=str)
    return np.sort(np.random.default_rng(0).choice(universe, size=min(n, len(universe)), replace=False))


def check_search_space(space, *, ids: Sequence[str] | None = None, n: int = 200) -> dict:
    """Check a search space class (or registered name) against the SearchSpace contract.

    Rules: it subclasses SearchSpace with a name, description, op vocabulary (with "input"
    and "output") and node count; ids are canonical (canonicalising twice changes nothing)
    and an invalid id is a HarnessError; graphs are node-labelled DAGs in topological order,
    padded after the output; a mutant is another valid id, among the listed neighbours when
    the space lists them; the one-hot encoding gives one finite row per architecture; a
    declared ``size`` is the enumeration's length. ``ids`` default to ``n`` drawn from the
    enumeration (or an embedded space's table).
    """
    from nasbench_harness.tasks.encodings import compute_encoding
    from nasbench_harness.tasks.spaces.base import SearchSpace

    cls = _resolve("search_spaces", space)
    name = getattr(cls, "name", "") or getattr(cls, "__name__", str(space))
    assert isinstance(cls, type) and issubclass(cls, SearchSpace), f"{name}: must subclass nasbench_harness.tasks.spaces.base.SearchSpace"
    assert isinstance(cls.name, str) and cls.name, f"{name}: needs a name"
    assert (cls.description or cls.__doc__ or "").strip(), f"{name}: needs a description (shown by `list search-spaces`)"
    assert {"input", "output"} <= set(cls.op_names), f"{name}: op_names must hold 'input' and 'output'"
    assert isinstance(cls.max_nodes, int) and cls.max_nodes >= 2, f"{name}: max_nodes must be an int of at least 2"
    assert cls.size is None or (isinstance(cls.size, int) and cls.size > 0), f"{name}: size must be None or a positive int"
    sp = cls()
    ids = np.asarray(ids if ids is not None else _sample_ids(sp, n), dtype=str)
    canon = [sp.canonical_id(a) for a in ids]
    assert canon == [sp.canonical_id(a) for a in canon], f"{name}: canonical_id must be idempotent"
    try:
        sp.canonical_id("not an architecture id")
    except HarnessError:
        pass
    else:
        raise AssertionError(f"{name}: canonical_id of an invalid id must raise a HarnessError (ConfigError or DataError)")
    g = sp.to_graph(canon)
    assert len(g) == len(canon) and g.max_nodes <= cls.max_nodes, f"{name}: to_graph must give one graph of at most max_nodes nodes per id"
    assert not np.tril(g.adj).any(), f"{name}: graph nodes must be in topological order (edges i -> j with i < j only)"
    real = g.ops >= 0
    assert (real[:, :-1] >= real[:, 1:]).all(), f"{name}: padding nodes (op -1) must come after the real ones"
    assert (g.ops < len(g.op_names)).all(), f"{name}: node ops must index op_names"
    rng = np.random.default_rng(0)
    for a in canon[:20]:
        child = sp.mutate(a, rng)
        assert child != a and sp.canonical_id(child) == child, f"{name}: mutate({a!r}) must give another canonical id, got {child!r}"
        try:
            listed = sp.neighbours(a)
        except NotImplementedError:
            continue
        assert child in listed, f"{name}: the mutant {child!r} of {a!r} is not among its listed neighbours"
    enc = compute_encoding(sp, "onehot", np.asarray(canon))
    assert enc.shape[0] == len(canon) and np.isfinite(enc).all(), f"{name}: the onehot encoding must give one finite row per architecture"
    if cls.size is not None and cls.size <= 100_000:
        try:
            assert len(sp.enumerate()) == cls.size, f"{name}: size {cls.size} differs from the enumeration's {len(sp.enumerate())}"
        except NotImplementedError:
            pass
    return {"ids": len(canon), "onehot_width": int(enc.shape[1])}
