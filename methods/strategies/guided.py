"""Predictor-guided search strategies: NPENAS, PWLNAS, BANANAS, and GP Bayesian optimisation.

All share one loop (``GuidedSearch``): a random initial sample of ``n_init`` (the cell's
shared sample), then per iteration fit a model on everything queried so far, mutate the best
``n_parents`` queried architectures into a candidate pool of unqueried pool members, score
the pool in one batch and query the ``k`` best by the acquisition. Defaults and their
sources are in docs/SEARCH.md.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import numpy as np
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.strategies.base import Oracle, SearchContext, Strategy, mutation_pool, top_parents


class CandidateScoringFailed(ConfigError):
    """A model returned non-finite or misshaped scores for the candidate pool."""


def _checked(scores, n: int, what: str) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if scores.shape[0] != n or not np.all(np.isfinite(scores)):
        raise CandidateScoringFailed(
            f"The {what} returned {scores.shape[0]} scores ({int((~np.isfinite(scores)).sum())} non-finite) for "
            f"{n} candidates; check the predictor's parameters (e.g. a lower learning rate)."
        )
    return scores


def top_k(pool: np.ndarray, acquisition: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """The ``k`` pool rows with the highest acquisition; ties in random order, never by row."""
    shuffle = rng.permutation(len(pool))
    order = shuffle[np.argsort(-acquisition[shuffle], kind="stable")]
    return pool[order[:k]]


class GuidedSearch(Strategy):
    """The shared loop; subclasses implement ``acquisition(oracle, ctx, iteration, pool)``."""

    needs_predictor = True
    default_params: ClassVar[dict[str, Any]] = {"n_init": 10, "k": 10, "n_parents": 10, "mutations_per_parent": 10, "candidates": "mutation"}
    positive_int_params = ("n_init", "k", "n_parents", "mutations_per_parent")
    CANDIDATES = ("mutation", "pool")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        if self.params["candidates"] not in self.CANDIDATES:
            raise ConfigError(
                f"The {self.name} strategy's 'candidates' must be one of {list(self.CANDIDATES)} (mutation: mutants of the best "
                f"queried; pool: every unqueried stored architecture, for sparse pools such as DARTS), got {self.params['candidates']!r}."
            )

    def acquisition(self, oracle: Oracle, ctx: SearchContext, iteration: int, pool: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def candidates(self, oracle: Oracle, ctx: SearchContext) -> np.ndarray:
        p = self.params
        if p["candidates"] == "pool":
            return oracle.unqueried()
        pool = mutation_pool(oracle, top_parents(oracle, p["n_parents"]), p["mutations_per_parent"], ctx.rng)
        if len(pool) < p["k"]:  # the parents' neighbourhoods are used up: widen with random unqueried ones
            fresh = np.setdiff1d(oracle.unqueried(), pool)
            extra = ctx.rng.choice(fresh, size=min(len(fresh), p["k"] * p["mutations_per_parent"]), replace=False)
            pool = np.concatenate([pool, extra.astype(np.int64)])
        return pool

    def search(self, oracle: Oracle, ctx: SearchContext) -> None:
        ctx.initial_sample(oracle, self.params["n_init"])
        iteration = 0
        while not oracle.exhausted:
            pool = self.candidates(oracle, ctx)
            if not len(pool):
                return
            score = self.acquisition(oracle, ctx, iteration, pool)
            oracle.query_rows(top_k(pool, score, min(self.params["k"], oracle.remaining), ctx.rng))
            iteration += 1


def fit_predictor(oracle: Oracle, ctx: SearchContext, *, loss=None, seed_offset: int = 0, warm_from=None, warm_epochs: float = 1.0):
    """A predictor from the cell (``loss`` overrides the cell's), fit on everything queried.

    ``warm_from``: a previously fit neural predictor whose weights initialise this one, which
    then trains for ``warm_epochs`` (a fraction) of its epochs.
    """
    if ctx.new_predictor is None:
        raise ConfigError("This strategy needs a predictor but the cell gives none; name a registered predictor in the method.")
    predictor = ctx.new_predictor(loss=loss, seed_offset=seed_offset)
    if warm_from is not None and getattr(warm_from, "model", None) is not None and hasattr(predictor, "init_state"):
        predictor.init_state = warm_from.model.state_dict()
        predictor.params["epochs"] = max(1, int(round(int(predictor.params["epochs"]) * warm_epochs)))
    rows = oracle.trace_rows
    ctx.timed(lambda: predictor.fit(oracle.archset(rows), oracle.queried_scores))
    return predictor


class NPENAS(GuidedSearch):
    """Neural-predictor-guided evolution (NPENAS, Wei et al. 2022) as the loss paper runs it:
    the cell's predictor and loss, refit every iteration, top-k of the mutation pool by prediction."""

    name = "npenas"
    prior_seconds = 10.0
    description = "Predictor-guided evolution (NPENAS): refit the predictor each iteration, query the top-k mutants."
    # warm_start: 0 = refit from scratch each iteration (the paper's loop); a fraction f in (0, 1]
    # = start from the previous iteration's weights and train f x epochs (neural predictors).
    default_params: ClassVar[dict[str, Any]] = {**GuidedSearch.default_params, "warm_start": 0.0}

    def __init__(self, **params) -> None:
        super().__init__(**params)
        w = self.params["warm_start"]
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w <= 1:
            raise ConfigError(f"The {self.name} strategy's 'warm_start' must be 0 (off) or a fraction of the epochs in (0, 1], got {w!r}.")

    def search(self, oracle: Oracle, ctx: SearchContext) -> None:
        self._previous = None
        super().search(oracle, ctx)

    def loss_for(self, ctx: SearchContext, iteration: int):
        return None  # the cell's loss

    def acquisition(self, oracle: Oracle, ctx: SearchContext, iteration: int, pool: np.ndarray) -> np.ndarray:
        warm = self.params["warm_start"]
        previous = self._previous if warm else None
        predictor = fit_predictor(oracle, ctx, loss=self.loss_for(ctx, iteration), seed_offset=iteration, warm_from=previous,
                                  warm_epochs=float(warm or 1.0))
        self._previous = predictor
        return _checked(ctx.timed(lambda: predictor.predict(oracle.archset(pool))), len(pool), "predictor")


# The loss paper's PW pairs (warm-up loss, weighted loss) per search space (its Section 4.3).
# Spaces the paper did not search use its general recommendation, HR then MAPE (Section 5).
PW_PAIRS = {"nb201": ("hr", "mape"), "nb101": ("listmle", "warp"), "darts": ("hr", "mape")}
PW_TNB_MICRO = {"jigsaw": ("mse", "ew")}
PW_FALLBACK = ("hr", "mape")


def pw_pair(task_name: str) -> tuple[str, str]:
    space, _, dataset = task_name.partition("/")
    if space == "tnb101-micro":
        return PW_TNB_MICRO.get(dataset, ("hr", "warp"))
    return PW_PAIRS.get(space, PW_FALLBACK)


def warmup_iterations(warmup, budget: int, n_init: int, k: int) -> int:
    """Iterations trained with the warm-up loss: an int count, or a fraction of the search's iterations."""
    if isinstance(warmup, float):
        return int(math.ceil(warmup * max(0, math.ceil((budget - n_init) / k))))
    return int(warmup)


class PWLNAS(NPENAS):
    """PWLNAS (the loss paper): NPENAS whose loss switches by search iteration from a warm-up
    loss to a weighted one. The cell's loss must be ``pw``; its ``first``/``second`` (and their
    params) override the per-space pair; its own ``switch``/``threshold`` are not used here.

    ``warmup``: iterations with the warm-up loss, an int, or a float fraction of the search's
    iterations. Default 0.5: half the iterations, a prior (the paper gives no number and
    we did not tune it on any eval metric).
    """

    name = "pwlnas"
    prior_seconds = 10.0
    description = "PWLNAS: NPENAS with a piecewise loss switching from a warm-up loss to a weighted one by search iteration."
    default_params: ClassVar[dict[str, Any]] = {**NPENAS.default_params, "warmup": 0.5}

    def __init__(self, **params) -> None:
        super().__init__(**params)
        w = self.params["warmup"]
        if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 or (isinstance(w, float) and w > 1):
            raise ConfigError(f"The pwlnas strategy's 'warmup' must be an int count of iterations or a fraction in [0, 1], got {w!r}.")

    def losses(self, ctx: SearchContext):
        from nasbench_harness import registry

        if ctx.loss_name != "pw":
            raise ConfigError(
                f"The pwlnas strategy trains with the piecewise loss but the cell's loss is '{ctx.loss_name}'; "
                f"write 'loss: pw' (for a single loss use strategy npenas)."
            )
        lp = dict(ctx.loss_params)
        if {"switch", "threshold"} & set(lp):
            raise ConfigError("pwlnas switches losses by search iteration; remove 'switch'/'threshold' from loss_params and set protocol_params.warmup instead.")
        first, second = pw_pair(ctx.task_name)
        first, second = lp.get("first", first), lp.get("second", second)
        return (registry.load("losses", first)(**dict(lp.get("first_params") or {})),
                registry.load("losses", second)(**dict(lp.get("second_params") or {})))

    def search(self, oracle: Oracle, ctx: SearchContext) -> None:
        p = self.params
        self._losses = self.losses(ctx)
        self._switch = warmup_iterations(p["warmup"], oracle.budget, p["n_init"], p["k"])
        super().search(oracle, ctx)

    def loss_for(self, ctx: SearchContext, iteration: int):
        return self._losses[0] if iteration < self._switch else self._losses[1]


class BANANAS(GuidedSearch):
    """BANANAS (White et al. 2021): an ensemble of the cell's neural predictor (5 seeds, meant for
    the path encoding), independent Thompson sampling over a mutation-based candidate pool."""

    name = "bananas"
    prior_seconds = 20.0
    description = "BANANAS: neural ensemble on the path encoding, independent Thompson sampling, mutation acquisition."
    default_params: ClassVar[dict[str, Any]] = {**GuidedSearch.default_params, "ensemble": 5}
    positive_int_params = (*GuidedSearch.positive_int_params, "ensemble")

    def acquisition(self, oracle: Oracle, ctx: SearchContext, iteration: int, pool: np.ndarray) -> np.ndarray:
        m = self.params["ensemble"]
        preds = np.empty((m, len(pool)))
        for j in range(m):
            member = fit_predictor(oracle, ctx, seed_offset=iteration * m + j)
            preds[j] = _checked(ctx.timed(lambda f=member: f.predict(oracle.archset(pool))), len(pool), "ensemble member")
        # Independent Thompson sampling: one draw per candidate from N(ensemble mean, ensemble std).
        return preds.mean(0) + preds.std(0, ddof=1 if m > 1 else 0) * ctx.rng.standard_normal(len(pool))


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float) -> np.ndarray:
    from scipy.stats import norm

    sigma = np.maximum(sigma, 1e-12)
    z = (mu - best) / sigma
    return (mu - best) * norm.cdf(z) + sigma * norm.pdf(z)


class GPBayesOpt(GuidedSearch):
    """Gaussian-process Bayesian optimisation with expected improvement on an encoding (a
    NASBOT-like baseline: NASBOT's optimal-transport kernel is replaced by a Matern kernel on
    the encoding). Needs no registered predictor: the GP is the strategy's own model. Batched
    like the other guided strategies (top-k EI, k=10, one GP fit per iteration): one query per
    fit costs ~10x the fits for no change the loss paper's comparison needs."""

    name = "gp_bo"
    prior_seconds = 10.0
    description = "GP + expected improvement on an encoding (NASBOT-like), mutation-based candidate pool."
    needs_predictor = False
    default_params: ClassVar[dict[str, Any]] = {**GuidedSearch.default_params, "encoding": "path", "random_candidates": 100}
    positive_int_params = (*GuidedSearch.positive_int_params, "random_candidates")

    def candidates(self, oracle: Oracle, ctx: SearchContext) -> np.ndarray:
        pool = super().candidates(oracle, ctx)
        fresh = np.setdiff1d(oracle.unqueried(), pool)
        extra = ctx.rng.choice(fresh, size=min(len(fresh), self.params["random_candidates"]), replace=False)
        return np.concatenate([pool, extra.astype(np.int64)])

    def acquisition(self, oracle: Oracle, ctx: SearchContext, iteration: int, pool: np.ndarray) -> np.ndarray:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
        from threadpoolctl import threadpool_limits

        x = oracle.encoding(self.params["encoding"])
        y = oracle.queried_scores
        kernel = ConstantKernel(1.0) * Matern(length_scale=float(np.sqrt(x.shape[1])), nu=2.5) + WhiteKernel(1e-2)
        gp = GaussianProcessRegressor(kernel=kernel, normalize_y=True, random_state=int(ctx.rng.integers(2**31)))
        with warnings.catch_warnings(), threadpool_limits(ctx.threads):  # BLAS oversubscription makes tiny GPs 10x slower
            warnings.simplefilter("ignore", ConvergenceWarning)  # hyperparameters at their bounds: expected on noise-free tables
            ctx.timed(lambda: gp.fit(x[oracle.trace_rows], y))
            mu, sigma = ctx.timed(lambda: gp.predict(x[pool], return_std=True))
        return _checked(expected_improvement(mu, sigma, float(y.max())), len(pool), "GP")
