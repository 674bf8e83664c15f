"""GraB-NAS (paper Algorithm 1) and its meta-NAS baselines as strategies of the search protocol.

All four share the meta-trained models of ``methods/grabnas`` (D-VAE, set encoder, deep-kernel
GP; one set per (setting, fold, seed), cached on disk) and the same start: the support set,
the top-B cells by mean meta-training accuracy, evaluated on the target (charged). Then:

- ``grabnas``: ``bo_rounds`` (T_BO) BO steps (exact GP on everything observed, expected
  improvement over the unqueried candidates), then each iteration one BO step and one
  gradient-ascent step: the latent
  embedding of the best cell so far is moved up the GP's posterior mean and decoded; the
  decoded cell is evaluated if it is new (from the full table, even when it lies outside a
  pruned candidate set). Invalid decodes and decodes of already-evaluated cells are counted;
  the ascent continues (up to ``retries`` more times) and the decode is then given up: nothing
  is substituted, the iteration just has no ascent evaluation. Every decode is counted once by
  what it gave (``n_decodes`` = invalid + known + unlabelled + novel, docs/GRABNAS.md);
  ``ascent_steps: 1, retries: 0`` is Algorithm 1's single step. ``dvae_scale`` picks the
  D-VAE's size (methods/grabnas/meta.py ``DVAE_SCALES``).
- ``grabnas_knn``: the paper's Table 2 ablation: the candidate nearest (latent distance) to
  the ascended embedding instead of the decoder.
- ``tnas``: TNAS-like: the same surrogate and BO, no ascent, no decoder.
- ``metad2a``: MetaD2A-like: conditioned once, on the support set's (embedding, accuracy)
  pairs (set encoder input and GP context), then no feedback from the target: it decodes
  ``generate`` latent points drawn around the support set's embeddings, ranks the valid new
  cells by the meta-trained GP's posterior mean and evaluates them in that order.

``prune_top`` (pruned-space experiment): the k best cells by the *eval* metric leave the
candidate set (BO, KNN and the support set may only pick from what remains); decoded or
generated cells are still evaluated from the full table. The search protocol makes that set
(``ctx.candidates``) and the eval-metric columns of the row (``remaining_best_eval``,
``best_eval_queried``): the strategy never sees the eval metric.

Deviations from the paper (studies/grabnas/README.md lists them with the rest):

- labels are standardised globally over all meta-training tasks for meta-training, but per
  target (over the target's queried cells) at meta-test (``_task_vec``, ``_posterior``);
- MetaD2A-style meta-training sub-tasks carry 1-2 rows each (methods/grabnas/meta.py), so
  the set encoder sees at most one performance token per task in meta-training and the
  support set's five at meta-test;
- the ascent is ``ascent_steps`` (20) Adam steps of ``ascent_lr`` (0.2) per try with up to
  ``retries`` (3) retries after an invalid or already-evaluated decode, where Algorithm 1 takes
  one gradient step and no retry (which never left its start cell here: studies/grabnas/README.md).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.strategies.base import Oracle, SearchContext, Strategy
from nasbench_harness.methods.strategies.guided import expected_improvement


class MetaBO(Strategy):
    """The shared machinery: meta-trained models, support set, GP posterior, EI."""

    needs_predictor = False
    default_params: ClassVar[dict[str, Any]] = {
        "setting": "metad2a",
        "prune_top": 0,
        "bo_rounds": 10,  # T_BO: BO-only rounds before the hybrid iterations (the paper gives no value; set a priori)
        "ascent_steps": 20,
        "ascent_lr": 0.2,  # chosen on the meta-training development task (studies/grabnas/README.md, Generation); 0.05 before
        "retries": 3,  # 0 with ascent_steps 1: Algorithm 1's single step
        "dvae_scale": None,  # a methods/grabnas/meta.py DVAE_SCALES name; None: its DEFAULT_CONFIG
    }
    positive_int_params = ("ascent_steps",)
    uses_ascent = False
    uses_decoder = False

    def __init__(self, **params) -> None:
        super().__init__(**params)
        for key in ("prune_top", "bo_rounds", "retries"):
            k = self.params[key]
            if isinstance(k, bool) or not isinstance(k, int) or k < 0:
                raise ConfigError(f"The {self.name} strategy's '{key}' must be a non-negative integer, got {k!r}.")
        from nasbench_harness.methods.grabnas.meta import DVAE_SCALES, SETTINGS

        if self.params["setting"] not in SETTINGS:
            raise ConfigError(f"The {self.name} strategy's 'setting' must be one of {list(SETTINGS)}, got {self.params['setting']!r}.")
        if self.params["dvae_scale"] is not None and self.params["dvae_scale"] not in DVAE_SCALES:
            raise ConfigError(f"The {self.name} strategy's 'dvae_scale' must be one of {list(DVAE_SCALES)}, got {self.params['dvae_scale']!r}.")
        self.stats: dict[str, Any] = {}

    # -- setup ----------------------------------------------------------------------------
    def _prepare(self, oracle: Oracle, ctx: SearchContext) -> None:
        import torch
        from nasbench_harness.methods.grabnas.meta import load_or_train

        self.models = ctx.timed(lambda: load_or_train(self.params["setting"], ctx.task_name, ctx.seed, cache=ctx.data_cache, threads=ctx.threads,
                                                      scale=self.params["dvae_scale"]))
        index = {a: i for i, a in enumerate(self.models.ids.tolist())}
        self.pool_emb = torch.as_tensor(self.models.emb[[index[a] for a in oracle.ids(np.arange(oracle.n_pool))]])
        self.candidate = np.ones(oracle.n_pool, bool) if ctx.candidates is None else ctx.candidates
        # n_decodes: every decode (each try of each ascent; every generated sample); it splits into
        # n_invalid_decodes, n_decoded_known (already queried, or an isomorph of a queried cell),
        # n_decoded_unlabelled (a valid cell the task has no value for) and n_decoded (novel: charged)
        self.stats = {"n_ascents": 0, "n_decodes": 0, "ascent_distance": 0.0, "n_decoded": 0, "n_invalid_decodes": 0, "n_decoded_known": 0, "n_decoded_start": 0,
                      "n_decoded_unlabelled": 0, "n_outside_candidates": 0, "decoded_ids": []}

    def _support(self, oracle: Oracle) -> np.ndarray:
        """Evaluate the top-B cells (by mean meta-training accuracy) that are in the candidate set."""
        got = oracle.rows_of(self.models.ranking, validate=False)
        rows = [int(r) for r in got if r >= 0 and self.candidate[r]][: self.models.support]
        oracle.query_rows(rows)
        return np.asarray(rows, np.int64)

    def _task_vec(self, oracle: Oracle):
        """The set encoder on the support set's performance tokens (no class tokens for a target)."""
        import torch

        rows = oracle.trace_rows
        y = oracle.queried_scores
        ys = (y - y.mean()) / (y.std() + 1e-9)
        perf = torch.cat([self.pool_emb[rows], torch.as_tensor(ys, dtype=torch.float32)[:, None]], 1)[None]
        with torch.no_grad():
            return self.models.gp.encoder(torch.zeros(1, 1, dtype=torch.long), perf, torch.ones(1, len(rows), dtype=torch.bool))[0]

    def _posterior(self, oracle: Oracle, task_vec):
        import torch
        from nasbench_harness.methods.grabnas.surrogate import Posterior

        y = oracle.queried_scores
        ys = torch.as_tensor((y - y.mean()) / (y.std() + 1e-9), dtype=torch.float32)
        with torch.no_grad():
            return Posterior(self.models.gp, task_vec, self.pool_emb[oracle.trace_rows], ys)

    # -- steps ----------------------------------------------------------------------------
    def _bo_step(self, oracle: Oracle, ctx: SearchContext, task_vec) -> None:
        import torch

        pool = np.flatnonzero(self.candidate & ~oracle.is_queried(np.arange(oracle.n_pool)))
        if not len(pool):
            return
        post = ctx.timed(lambda: self._posterior(oracle, task_vec))
        with torch.no_grad():
            mean, var = ctx.timed(lambda: post.mean_var(self.pool_emb[pool]))
        y = oracle.queried_scores
        best = float(((y - y.mean()) / (y.std() + 1e-9)).max())
        ei = expected_improvement(mean.numpy().astype(np.float64), np.sqrt(var.numpy()).astype(np.float64), best)
        oracle.query_row(int(pool[int(np.argmax(ei))]))

    def _ascend(self, post, z0, steps: int):
        import torch

        z = z0.clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=self.params["ascent_lr"])
        for _ in range(steps):
            opt.zero_grad()
            (-post.mean_var(z[None])[0].sum()).backward()
            opt.step()
        return z.detach()

    def _ascent_step(self, oracle: Oracle, ctx: SearchContext, task_vec) -> None:
        """Gradient ascent from the best cell's embedding; decode (or KNN) and evaluate if new."""
        from nasbench_harness.methods.grabnas.dvae import decode_ids

        post = ctx.timed(lambda: self._posterior(oracle, task_vec))
        start_row = int(oracle.trace_rows[int(np.argmax(oracle.queried_scores))])
        z = start = self.pool_emb[start_row]
        self.stats["n_ascents"] += 1
        for _ in range(self.params["retries"] + 1):
            z = ctx.timed(lambda z=z: self._ascend(post, z, self.params["ascent_steps"]))
            if not self.uses_decoder:
                self._query_nearest(oracle, z)
                return
            arch = ctx.timed(lambda z=z: decode_ids(self.models.dvae, self.models.codec, z[None].numpy()))[0]
            self.stats["n_decodes"] += 1
            self.stats["ascent_distance"] += float((z - start).norm())  # summed here, a mean per decode in the row
            if arch is None:
                self.stats["n_invalid_decodes"] += 1
                continue
            if self._query_decoded(oracle, arch, start_row):
                return
            # an already-evaluated cell (often the start itself): ascend further, as for an invalid decode

    def _query_nearest(self, oracle: Oracle, z) -> None:
        import torch

        pool = np.flatnonzero(self.candidate & ~oracle.is_queried(np.arange(oracle.n_pool)))
        if len(pool):
            d = torch.cdist(z[None], self.pool_emb[pool])[0]
            oracle.query_row(int(pool[int(torch.argmin(d))]))

    def _query_decoded(self, oracle: Oracle, arch: str, start_row: int | None = None) -> bool:
        """Evaluate a decoded/generated cell if new; True when it was charged. ``start_row``: the
        ascent's start (a decode back to it, or an isomorph of it, is counted in n_decoded_start too)."""
        row = int(oracle.rows_of([arch], validate=False)[0])
        if row < 0:  # a valid cell without a label in this task (counted by the oracle as a redraw)
            self.stats["n_decoded_unlabelled"] += 1
            return False
        if oracle.is_queried(np.array([row]))[0]:
            self.stats["n_decoded_known"] += 1
            self.stats["n_decoded_start"] += int(start_row is not None and oracle.groups([row])[0] == oracle.groups([start_row])[0])
            return False
        oracle.query_row(row)
        self.stats["n_decoded"] += 1
        self.stats["n_outside_candidates"] += int(not self.candidate[row])
        self.stats["decoded_ids"].append(arch)
        return True

    def search(self, oracle: Oracle, ctx: SearchContext) -> None:
        self._prepare(oracle, ctx)
        self._support(oracle)
        task_vec = ctx.timed(lambda: self._task_vec(oracle))
        rounds = 0
        while not oracle.exhausted:
            before = oracle.n_queries
            self._bo_step(oracle, ctx, task_vec)
            rounds += 1
            if self.uses_ascent and rounds > self.params["bo_rounds"] and not oracle.exhausted:
                self._ascent_step(oracle, ctx, task_vec)
            if oracle.n_queries == before:
                return  # candidate set used up and nothing new decoded: the protocol reports the shortfall

    # -- result columns -------------------------------------------------------------------
    def row_extras(self, oracle: Oracle) -> dict:
        """Columns of this strategy's own (the protocol adds the eval-metric ones)."""
        keep = getattr(self, "candidate", np.ones(oracle.n_pool, bool))
        models = getattr(self, "models", None)
        info = models.info if models is not None else {}
        return {
            "setting": self.params["setting"],
            "prune_top": int(self.params["prune_top"]),
            **{k: v for k, v in self.stats.items() if k != "decoded_ids"},
            "ascent_distance": self.stats.get("ascent_distance", 0.0) / max(self.stats.get("n_decodes", 0), 1) if self.uses_decoder else np.nan,
            "decoded_ids": list(self.stats.get("decoded_ids", [])),
            "n_queried_outside_candidates": int((~keep[oracle.trace_rows]).sum()),
            "dvae_hidden": int(models.dvae.cfg.hidden) if models is not None else -1,
            "dvae_latent": int(models.dvae.cfg.latent) if models is not None else -1,
            "dvae_reconstruction": float(info.get("reconstruction", np.nan)),
            "dvae_validity": float(info.get("validity", np.nan)),
            "meta_seconds": float(info.get("meta_seconds", np.nan)),
            "dvae_seconds": float(info.get("dvae_seconds", np.nan)),
        }


class GraBNAS(MetaBO):
    name = "grabnas"
    prior_seconds = 40.0
    description = "GraB-NAS: meta-learned deep-kernel GP BO + gradient ascent in a D-VAE latent space, decoded (Algorithm 1)."
    uses_ascent = True
    uses_decoder = True


class GraBNASKNN(MetaBO):
    name = "grabnas_knn"
    prior_seconds = 6.0
    description = "GraB-NAS with the nearest candidate to the ascended latent instead of the decoder (Table 2 ablation)."
    uses_ascent = True


class TNAS(MetaBO):
    name = "tnas"
    prior_seconds = 6.0
    description = "TNAS-like: the same meta-learned deep-kernel GP and BO, no latent ascent, no decoder."


class MetaD2A(MetaBO):
    name = "metad2a"
    prior_seconds = 2.0
    description = "MetaD2A-like: conditioned once on the support set; decodes latent samples, ranks them with the meta-trained GP, no feedback."
    default_params: ClassVar[dict[str, Any]] = {**MetaBO.default_params, "generate": 2000, "spread": 1.0}
    positive_int_params = (*MetaBO.positive_int_params, "generate")

    def search(self, oracle: Oracle, ctx: SearchContext) -> None:
        import torch
        from nasbench_harness.methods.grabnas.dvae import decode_ids

        self._prepare(oracle, ctx)
        support = self._support(oracle)
        task_vec = ctx.timed(lambda: self._task_vec(oracle))
        post = ctx.timed(lambda: self._posterior(oracle, task_vec))  # conditioned once: never refitted
        centres = self.pool_emb[support]
        spread = float(self.params["spread"])
        for _ in range(4):  # rounds of generation; wider each time the fresh cells run out
            n = self.params["generate"]
            z = centres[ctx.rng.integers(len(centres), size=n)] + spread * torch.as_tensor(
                ctx.rng.standard_normal((n, centres.shape[1])), dtype=torch.float32
            )
            decoded = ctx.timed(lambda z=z: decode_ids(self.models.dvae, self.models.codec, z.numpy()))
            self.stats["n_decodes"] += len(decoded)
            self.stats["n_invalid_decodes"] += sum(d is None for d in decoded)
            fresh = sorted({d for d in decoded if d is not None})
            rows = oracle.rows_of(fresh, validate=False)
            rows = np.unique(rows[rows >= 0])
            rows = rows[~oracle.is_queried(rows)]
            if len(rows):
                with torch.no_grad():
                    mean = ctx.timed(lambda rows=rows: post.mean_var(self.pool_emb[rows])[0].numpy())
                for r in rows[np.argsort(-mean, kind="stable")]:
                    if oracle.exhausted:
                        return
                    self._query_decoded(oracle, oracle.ids([r])[0])
            spread *= 2
