"""Loss functions for differentiable performance predictors (the loss-function study).

Every loss takes 1-D tensors ``pred`` (predicted scores) and ``target`` (true scores, higher
is better) for one batch and returns a scalar. The shared training loop
(methods/neural/training.py) min-max scales targets to [0, 1] over the training set first,
so defaults such as margins and the MAPE baseline are expressed on that scale.

Pairwise losses build the full (B, B) matrix of pairs at once: no Python loop over pairs.
Formulas, defaults and the reasons for them are in docs/LOSSES.md.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.base import Loss, TrainState

WEIGHTINGS = ("GT", "EXP-GT", "Ranking")
# What y means in the GT and EXP-GT weights (the paper writes y and exp(y) without saying):
# 'minmax' the training target as the loss sees it (min-max scaled over the training set; the
# default, today's behaviour), 'percent' the raw score (accuracy in % on NB201), 'fraction'
# the raw score / 100. docs/LOSSES.md shows what the weights look like under each.
WEIGHT_TARGETS = ("minmax", "percent", "fraction")
# Learning rate a predictor uses with a loss when its own ``lr`` is not set (docs/LOSSES.md).
# Each loss's own ``default_lr`` is the GCN's rate on a space its table
# (methods/neural/gcn_lr.py, chosen per space by methods/neural/lr_selection.py) does not name;
# these were chosen on NB201 alone (CHANGELOG.md, 2026-11-30, "Per-loss learning rates").
DEFAULT_LR = 3e-3


# -- shared helpers -----------------------------------------------------------------------
def _zero(pred: torch.Tensor) -> torch.Tensor:
    """A zero that keeps the graph connected (a batch with no informative pair)."""
    return pred.sum() * 0.0


def better_pairs(target: torch.Tensor) -> torch.Tensor:
    """(B, B) bool: ``[i, j]`` is True when architecture i is truly better than j."""
    return target[:, None] > target[None, :]


def true_ranks(target: torch.Tensor) -> torch.Tensor:
    """1-based rank of each target (1 = best); ties get distinct consecutive ranks."""
    order = torch.argsort(target, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks[order] = torch.arange(1, len(target) + 1, device=target.device)
    return ranks.to(target.dtype)


def weight_scores(target: torch.Tensor, reading: str, target_range: tuple[float, float] | None) -> torch.Tensor:
    """The y of the GT / EXP-GT weights under ``reading`` (WEIGHT_TARGETS), from the min-max
    scaled ``target`` and the raw training range ``(lo, hi)`` it was scaled with."""
    t = target.detach()
    if reading == "minmax":
        return t
    if target_range is None:
        raise ConfigError(f"weight_target={reading!r} needs the raw training range; this predictor does not pass it.")
    lo, hi = target_range
    raw = lo + t.double() * (hi - lo)
    return (raw if reading == "percent" else raw / 100.0).to(t.dtype)


def importance_weights(target: torch.Tensor, weighting: str, reading: str = "minmax",
                       target_range: tuple[float, float] | None = None) -> torch.Tensor:
    """Per-architecture weights, normalised to mean 1 (no gradient).

    'GT': the ground truth y; 'EXP-GT': exp(y); 'Ranking': 1 - (r - 1) / n with r the true
    rank in the batch (1 = best). All three increase with the true score. y is read as
    ``reading`` says (``weight_scores``); the default, 'minmax', is the scaled target itself.
    """
    t = weight_scores(target, reading, target_range) if weighting != "Ranking" else target.detach()
    if weighting == "GT":
        w = t.clamp_min(0.0)
    elif weighting == "EXP-GT":
        # exp(y - max y): the same after dividing by the mean, but no overflow (exp(89) is inf
        # in float32) when a caller passes unscaled scores such as accuracies in %.
        w = torch.exp(t - t.max())
    elif weighting == "Ranking":
        w = 1.0 - (true_ranks(t) - 1.0) / len(t)
    else:
        raise ConfigError(f"Unknown weighting '{weighting}'; expected one of {list(WEIGHTINGS)}.")
    return w / w.mean().clamp_min(1e-12)


def _check_weighting(name: str, params: dict[str, Any]) -> None:
    if params["weighting"] not in WEIGHTINGS:
        raise ConfigError(
            f"Loss '{name}' got weighting={params['weighting']!r}; set it to one of {list(WEIGHTINGS)}."
        )
    if params["weight_target"] not in WEIGHT_TARGETS:
        raise ConfigError(
            f"Loss '{name}' got weight_target={params['weight_target']!r}; set it to one of {list(WEIGHT_TARGETS)}."
        )


def _weights(loss: Loss, target: torch.Tensor, state: TrainState | None) -> torch.Tensor:
    """``importance_weights`` with the loss's ``weighting`` and ``weight_target``."""
    p = loss.params
    return importance_weights(target, p["weighting"], p["weight_target"], state.target_range if state else None)


def _check_non_negative(name: str, params: dict[str, Any], *keys: str) -> None:
    for key in keys:
        value = params[key]
        if not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"Loss '{name}' needs a non-negative number for '{key}', got {value!r}.")


# -- regression ---------------------------------------------------------------------------
class MSELoss(Loss):
    """Mean squared error between predicted and true (normalised) scores."""

    name = "mse"
    category = "regression"
    description = "Mean squared error (regression)."
    formula = "mean_i (p_i - y_i)^2"
    default_lr: ClassVar[float | None] = 1e-2

    def __call__(self, pred, target, state: TrainState | None = None):
        return torch.mean((pred - target) ** 2)


# -- pairwise ranking ---------------------------------------------------------------------
class HingeRankingLoss(Loss):
    """Pairwise hinge ranking (GATES / TA-GATES): penalise better-worse pairs closer than a margin."""

    name = "hr"
    category = "ranking"
    description = "Pairwise hinge ranking loss with a margin (ranking)."
    formula = "mean_{(i,j): y_i > y_j} max(0, m - (p_i - p_j))"
    default_params: ClassVar[dict[str, Any]] = {"margin": 0.1}
    default_lr: ClassVar[float | None] = 3e-2

    def __init__(self, **params):
        super().__init__(**params)
        _check_non_negative(self.name, self.params, "margin")

    def __call__(self, pred, target, state: TrainState | None = None):
        pairs = better_pairs(target)
        if not pairs.any():
            return _zero(pred)
        diff = pred[:, None] - pred[None, :]
        return F.relu(self.params["margin"] - diff)[pairs].mean()


class LogisticRankingLoss(Loss):
    """Pairwise logistic ranking (ReNAS): a smooth, margin-free pairwise loss."""

    name = "logistic"
    category = "ranking"
    description = "Pairwise logistic ranking loss (ranking)."
    formula = "mean_{(i,j): y_i > y_j} log(1 + exp(-s (p_i - p_j)))"
    default_params: ClassVar[dict[str, Any]] = {"scale": 1.0}
    default_lr: ClassVar[float | None] = 3e-2

    def __init__(self, **params):
        super().__init__(**params)
        _check_non_negative(self.name, self.params, "scale")

    def __call__(self, pred, target, state: TrainState | None = None):
        pairs = better_pairs(target)
        if not pairs.any():
            return _zero(pred)
        diff = pred[:, None] - pred[None, :]
        return F.softplus(-self.params["scale"] * diff)[pairs].mean()


class MSESequenceRankingLoss(Loss):
    """MSE plus NAR-Former's sequence-ranking term: predicted gaps should match true gaps."""

    name = "mse_sr"
    category = "ranking"
    description = "MSE + pairwise sequence ranking (hybrid of regression and ranking)."
    formula = "mean_i (p_i - y_i)^2 + lambda * mean_{i<j} |(p_i - p_j) - (y_i - y_j)|"
    default_lr: ClassVar[float | None] = 1e-2
    default_params: ClassVar[dict[str, Any]] = {"sr_weight": 1.0}

    def __init__(self, **params):
        super().__init__(**params)
        _check_non_negative(self.name, self.params, "sr_weight")

    def __call__(self, pred, target, state: TrainState | None = None):
        mse = torch.mean((pred - target) ** 2)
        n = len(pred)
        if n < 2:
            return mse
        gap = (pred[:, None] - pred[None, :]) - (target[:, None] - target[None, :])
        i, j = torch.triu_indices(n, n, offset=1)
        return mse + self.params["sr_weight"] * gap[i, j].abs().mean()


# -- listwise ranking ---------------------------------------------------------------------
class ListMLELoss(Loss):
    """ListMLE (Xia et al. 2008): negative log Plackett-Luce likelihood of the true order."""

    name = "listmle"
    category = "ranking"
    description = "Listwise ranking loss: ListMLE (ranking)."
    formula = "(1/n) sum_k [ log sum_{l>=k} exp(s p_{pi(l)}) - s p_{pi(k)} ], pi = true order"
    default_lr: ClassVar[float | None] = 3e-2
    default_params: ClassVar[dict[str, Any]] = {"scale": 1.0}

    def __init__(self, **params):
        super().__init__(**params)
        _check_non_negative(self.name, self.params, "scale")

    def __call__(self, pred, target, state: TrainState | None = None):
        order = torch.argsort(target, descending=True, stable=True)
        s = self.params["scale"] * pred[order]
        # log sum_{l >= k} exp(s_l): a reversed cumulative logsumexp, stable for large scores.
        tail = torch.flip(torch.logcumsumexp(torch.flip(s, [0]), 0), [0])
        return torch.mean(tail - s)


# -- weighted -----------------------------------------------------------------------------
class ExponentialWeightedLoss(Loss):
    """EW (BONAS): squared error weighted towards well-performing architectures.

    ``weighting`` chooses the weights (GT, EXP-GT, Ranking); ``weight_target`` what y is in
    them (WEIGHT_TARGETS: 'minmax' by default, 'percent', 'fraction'). The squared error
    itself is always on the min-max scaled target.
    """

    name = "ew"
    category = "weighted"
    description = "Exponentially weighted MSE (weighted)."
    formula = "sum_i w_i (p_i - y_i)^2 / sum_i w_i, w from `weighting` (default exp(y_i))"
    default_lr: ClassVar[float | None] = 1e-2
    default_params: ClassVar[dict[str, Any]] = {"weighting": "EXP-GT", "weight_target": "minmax"}

    def __init__(self, **params):
        super().__init__(**params)
        _check_weighting(self.name, self.params)

    def __call__(self, pred, target, state: TrainState | None = None):
        w = _weights(self, target, state)
        return torch.mean(w * (pred - target) ** 2)


class MAPELoss(Loss):
    """MAPE with a baseline (BANANAS): relative error against the distance to an upper bound.

    BANANAS divides the error by (error - lower bound); with higher-is-better scores in
    [0, 1] that is |p - y| / (1 + baseline - y): the closer an architecture is to the best,
    the more its error counts.
    """

    name = "mape"
    category = "weighted"
    description = "Mean absolute percentage error against a baseline (weighted)."
    formula = "mean_i |p_i - y_i| / (1 + b - y_i)"
    default_lr: ClassVar[float | None] = 1e-2
    default_params: ClassVar[dict[str, Any]] = {"baseline": 0.1}

    def __init__(self, **params):
        super().__init__(**params)
        if not isinstance(self.params["baseline"], (int, float)) or self.params["baseline"] <= 0:
            raise ConfigError(f"Loss 'mape' needs a positive 'baseline', got {self.params['baseline']!r}.")

    def __call__(self, pred, target, state: TrainState | None = None):
        denom = (1.0 + self.params["baseline"]) - target.detach()
        return torch.mean((pred - target).abs() / denom.clamp_min(1e-6))


def _harmonic(k: torch.Tensor) -> torch.Tensor:
    """H(k) = sum_{s=1..k} 1/s for a tensor of non-negative integer counts."""
    n_max = int(k.max().item()) if k.numel() else 0
    table = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(1.0 / torch.arange(1, n_max + 1, dtype=torch.float64), 0)])
    return table[k.long()]


class WARPLoss(Loss):
    """WARP (Weston et al., WSABIE) for architectures: rank-weighted pairwise hinge.

    For each architecture i, its violators are the truly worse j with p_j + m > p_i. With the
    whole batch available the rank estimate is exact (v_i = number of violators, no
    sampling); the pair losses of i are scaled by L(v_i) / v_i with L(k) = sum_{s<=k} 1/s,
    so a well-ranked i costs little and a badly ranked one a lot, and by the weight of i
    (`weighting`, with y read as `weight_target` says: see ExponentialWeightedLoss) so that
    errors on good architectures count more.
    """

    name = "warp"
    category = "weighted"
    description = "Weighted approximate-rank pairwise loss (weighted)."
    formula = "(1/n) sum_i w_i L(v_i)/v_i sum_{j: y_j < y_i} max(0, m - (p_i - p_j))"
    default_params: ClassVar[dict[str, Any]] = {"margin": 0.1, "weighting": "EXP-GT", "weight_target": "minmax"}
    default_lr: ClassVar[float | None] = 3e-3

    def __init__(self, **params):
        super().__init__(**params)
        _check_weighting(self.name, self.params)
        _check_non_negative(self.name, self.params, "margin")

    def __call__(self, pred, target, state: TrainState | None = None):
        pairs = better_pairs(target)
        if not pairs.any():
            return _zero(pred)
        hinge = F.relu(self.params["margin"] - (pred[:, None] - pred[None, :])) * pairs
        violators = (hinge.detach() > 0).sum(dim=1)
        scale = _harmonic(violators).to(pred.dtype) / violators.clamp_min(1).to(pred.dtype)
        w = _weights(self, target, state)
        return torch.mean(w * scale * hinge.sum(dim=1))


# -- piecewise ----------------------------------------------------------------------------
class PiecewiseLoss(Loss):
    """PW (PWLNAS): warm up with one loss, then switch to another.

    ``switch='n_train'``: use ``first`` while the training set has fewer than ``threshold``
    architectures (the search-time setting: the predictor is retrained as the set grows).
    ``switch='fraction'``: use ``first`` for the first ``threshold`` fraction of training
    iterations, then ``second``.
    """

    name = "pw"
    category = "piecewise"
    description = "Piecewise loss: a warm-up loss, then a second one (by training-set size or iteration)."
    formula = "first(p, y) if warm-up else second(p, y)"
    default_params: ClassVar[dict[str, Any]] = {
        "first": "hr",
        "second": "mape",
        "switch": "n_train",
        "threshold": 100,
        "first_params": {},
        "second_params": {},
    }

    def __init__(self, **params):
        super().__init__(**params)
        p = self.params
        if p["switch"] not in ("n_train", "fraction"):
            raise ConfigError(f"Loss 'pw' got switch={p['switch']!r}; set it to 'n_train' or 'fraction'.")
        if p["switch"] == "fraction" and not (isinstance(p["threshold"], (int, float)) and 0 <= p["threshold"] <= 1):
            raise ConfigError(f"Loss 'pw' with switch='fraction' needs a threshold in [0, 1], got {p['threshold']!r}.")
        if p["switch"] == "n_train" and not (isinstance(p["threshold"], (int, float)) and p["threshold"] >= 0):
            raise ConfigError(f"Loss 'pw' with switch='n_train' needs a non-negative threshold, got {p['threshold']!r}.")
        if "pw" in (p["first"], p["second"]):
            raise ConfigError("Loss 'pw' cannot contain itself; choose two other losses for 'first' and 'second'.")
        from nasbench_harness.registry import load

        self.first = load("losses", p["first"])(**dict(p["first_params"] or {}))
        self.second = load("losses", p["second"])(**dict(p["second_params"] or {}))
        # The second loss shapes the final model, so its learning rate is the one used.
        self.default_lr = getattr(self.second, "default_lr", None)

    def in_warmup(self, state: TrainState) -> bool:
        if self.params["switch"] == "n_train":
            return state.n_train < self.params["threshold"]
        return state.iteration < self.params["threshold"] * max(state.n_iterations, 1)

    def __call__(self, pred, target, state: TrainState | None = None):
        state = state or TrainState()
        return (self.first if self.in_warmup(state) else self.second)(pred, target, state)
