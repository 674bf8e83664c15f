"""ConvNP: the meta-learned Convolutional Neural Process predictor (docs/CONVNP.md).

Performance prediction as conditional function inference: a two-layer MLP maps each
architecture's meta-feature vector to a scalar, standardised over the observed set and
squashed into (-1, 1); a SetConv encoder places the context set (x_c, y_c) on a uniform grid
with a density channel; a residual CNN turns it into the mean and scale of per-grid-point
latent variables; L latent samples are each decoded by a second residual CNN and read at
the target inputs by an RBF interpolation, giving L predictive means (and scales) per target.

Meta-training (the paper's settings): 10,000 synthetic tasks made by resampling the
observed architectures with replacement to a fixed length (shuffled order), one epoch in
batches of 16, each batch with a fresh random context/target split (1..10 context points,
the whole task as target), all built at once as arrays; the objective is MSE + lambda *
pairwise margin ranking (Eqs. 5-7), or one of the ablations (``mse``, ``rank``, ``ml`` =
Eq. 2's likelihood, ``ml_rank``).

Prediction: random sets of 10 observed architectures (the context sizes meta-training
shows) are the contexts, each giving L predictions over the task's universe, under each of
4 snapshots of the weights taken over the epoch's second half (steps 391, 469, 547, 625 of
625; ``snapshots: 1`` = the final weights only); every prediction is ranked and the ranks
averaged (Algorithm 1, step 6). ``predict`` returns the
mean rank divided by the universe size (higher = better), so the score of an architecture
does not depend on which other architectures are asked for at the same time.

Why the input standardisation, the hidden-layer dropout and the 10-point prediction contexts
(studies/convnp/README.md, "Diagnosis and fix"): without them the MLP squeezed every architecture
onto a few grid points, overfitted the observed set, and the decoder met context sizes it
never saw in training. Other choices the paper leaves open (flagged there): targets min-max
scaled to [0, 1] over the observed set; grid of 64 points on [-1.2, 1.2]; 16 CNN channels,
16 latent channels, 4 residual blocks of two full convolutions with kernel 5
(``separable: true`` gives Dubois et al.'s depthwise-separable blocks); L = 4 latent samples
(the paper selects L per dataset); one context count per batch; the ML objective uses the
same lambda.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.base import ArchSet, Predictor
from nasbench_harness.methods.neural.training import (
    TrainingDivergedError,
    normalise_targets,
    seeded,
)
from scipy.stats import rankdata
from torch import nn

OBJECTIVES = ("mse_rank", "mse", "rank", "ml", "ml_rank")
INPUT_NORMS = ("observed", "none")
PREDICT_CONTEXTS = ("subsets", "all")


# -- synthetic tasks and context/target splits ------------------------------------------
def default_task_length(n: int) -> int:
    """The paper's task length: 86, or the whole observed set when it has at most 90 points."""
    return n if n <= 90 else 86


def synthetic_tasks(n: int, n_tasks: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """(n_tasks, length) row indices into the observed set: resampled with replacement, random order."""
    return rng.integers(0, n, size=(n_tasks, length))


def context_masks(batch_of: np.ndarray, length: int, max_context: int, rng: np.random.Generator) -> np.ndarray:
    """(tasks, length) bool context masks for every task at once, the task's batch given by ``batch_of``.

    One context count k in 1..max_context per batch (drawn for all batches first), then k
    fresh random positions per task: a position is context when its rank among the task's
    uniform keys is below k. The whole task is the target set, so masks only mark context:
    this follows the paper's Sec. 5.2 ("the entire task is the target set"), where its Sec. 4.2
    describes context and target sets as an exclusive split (a documented deviation).
    """
    kmax = min(max_context, length - 1) if length > 1 else 1
    k = rng.integers(1, kmax + 1, size=int(batch_of.max()) + 1)
    ranks = np.argsort(np.argsort(rng.random((len(batch_of), length)), axis=1), axis=1)
    return ranks < k[batch_of][:, None]


def meta_batches(n: int, *, n_tasks: int, length: int, batch_size: int, epochs: int, max_context: int, split: bool, synthetic: bool, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Every step's tasks, built at once: row indices (S, T) and context masks (S, T), S = epochs * n_tasks.

    Consecutive runs of ``batch_size`` rows are one step's batch (the last of an epoch may be
    shorter). Tasks are resampled with replacement (``synthetic``) or the observed set itself
    reshuffled; each epoch visits every task once in a fresh order.
    """
    if synthetic:
        tasks = synthetic_tasks(n, n_tasks, length, rng)
    else:  # the observed set itself, reshuffled, as every task
        tasks = np.argsort(rng.random((n_tasks, n)), axis=1)
    rows = np.concatenate([tasks[rng.permutation(n_tasks)] for _ in range(epochs)])
    if not split:
        return rows, np.ones(rows.shape, dtype=bool)
    per_epoch = -(-n_tasks // batch_size)
    batch_of = (np.arange(n_tasks) // batch_size)[None, :] + per_epoch * np.arange(epochs)[:, None]
    return rows, context_masks(batch_of.reshape(-1), rows.shape[1], max_context, rng)


# -- the model ----------------------------------------------------------------------------
def rbf(d: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    # The exponent is floored at -60 (weight 1e-26, i.e. zero here): below that, exp's underflow
    # path and the denormals it feeds into the matmuls make a step several times slower on CPU.
    return torch.exp((-0.5 * (d / log_scale.exp()) ** 2).clamp_min(-60.0))


class SetConv(nn.Module):
    """Context set -> grid: a density channel and the density-normalised signal channel."""

    def __init__(self, length_scale: float) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(length_scale)))

    def forward(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        """x, y, mask (B, T) -> (B, 2, G)."""
        w = rbf(grid[None, :, None] - x[:, None, :], self.log_scale) * mask[:, None, :]  # (B, G, T)
        density = w.sum(-1)
        signal = (w @ y[..., None]).squeeze(-1) / (density + 1e-6)
        return torch.stack([density, signal], dim=1)


class ResBlock(nn.Module):
    """Residual block of two convolutions (depthwise-separable ones, as in Dubois et al., when ``separable``)."""

    def __init__(self, channels: int, kernel: int, separable: bool = True) -> None:
        super().__init__()
        groups = channels if separable else 1
        self.dw1 = nn.Conv1d(channels, channels, kernel, padding=kernel // 2, groups=groups)
        self.pw1 = nn.Conv1d(channels, channels, 1) if separable else nn.Identity()
        self.dw2 = nn.Conv1d(channels, channels, kernel, padding=kernel // 2, groups=groups)
        self.pw2 = nn.Conv1d(channels, channels, 1) if separable else nn.Identity()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.pw2(self.dw2(torch.relu(self.pw1(self.dw1(torch.relu(h))))))


class ResCNN(nn.Module):
    """1x1 in, residual conv blocks, 1x1 out; zero padding keeps it shift-equivariant in the interior."""

    def __init__(self, c_in: int, channels: int, c_out: int, blocks: int, kernel: int, separable: bool = True) -> None:
        super().__init__()
        self.inp = nn.Conv1d(c_in, channels, 1)
        self.blocks = nn.Sequential(*(ResBlock(channels, kernel, separable) for _ in range(blocks)))
        self.out = nn.Conv1d(channels, c_out, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.blocks(self.inp(h))))


class ConvNPModel(nn.Module):
    def __init__(self, d_in: int, *, hidden: int, channels: int, latent: int, blocks: int, kernel: int, grid_size: int, separable: bool = True, x_range: float = 1.2, input_norm: str = "observed", dropout: float = 0.0) -> None:
        super().__init__()
        self.feature = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))
        self.input_norm = input_norm
        self.register_buffer("grid", torch.linspace(-x_range, x_range, grid_size))
        spacing = 2 * x_range / (grid_size - 1)
        self.encoder = SetConv(2 * spacing)
        self.encoder_cnn = ResCNN(2, channels, 2 * latent, blocks, kernel, separable)
        self.decoder_cnn = ResCNN(latent, channels, 2, blocks, kernel, separable)  # (mean, raw scale) on the grid
        self.read_log_scale = nn.Parameter(torch.tensor(math.log(2 * spacing)))
        self.latent = latent

    def raw_inputs(self, feats: torch.Tensor) -> torch.Tensor:
        """Meta-features (..., d) -> the MLP's unsquashed scalar (...)."""
        return self.feature(feats).squeeze(-1)

    def squash(self, z: torch.Tensor, z_ref: torch.Tensor) -> torch.Tensor:
        """MLP scalars -> inputs in (-1, 1) on the grid.

        ``observed``: standardised by the mean and std of the observed set's scalars ``z_ref``
        first, so the observed architectures always spread over the grid (without it the MLP's
        outputs sit in a sliver of it: studies/convnp/README.md, "Diagnosis"); ``none``: tanh only.
        """
        if self.input_norm == "observed":
            z = (z - z_ref.mean()) / (z_ref.std() + 1e-6)
        return torch.tanh(z)

    def inputs(self, feats: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Meta-features (..., d) -> scalar inputs (...), normalised on the observed features ``ref`` (n, d)."""
        return self.squash(self.raw_inputs(feats), self.raw_inputs(ref))

    def latent_dist(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-grid-point latent mean and scale, each (B, latent, G)."""
        h = self.encoder_cnn(self.encoder(x, y, mask, self.grid))
        mu, raw = h.split(self.latent, dim=1)
        return mu, 0.1 + 0.9 * torch.sigmoid(raw)

    def read_weights(self, x: torch.Tensor) -> torch.Tensor:
        """(..., T) target inputs -> (..., T, G) normalised RBF weights onto the grid."""
        w = rbf(x[..., None] - self.grid, self.read_log_scale)
        return w / (w.sum(-1, keepdim=True) + 1e-8)

    def forward(self, x_all: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, n_latent: int, gen: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs x_all (B, T) (context = mask, targets = all) -> means and scales (B, L, T)."""
        mu, sigma = self.latent_dist(x_all, y, mask)
        b, c, g = mu.shape
        eps = torch.randn((b, n_latent, c, g), generator=gen)
        z = (mu[:, None] + sigma[:, None] * eps).reshape(b * n_latent, c, g)
        out = self.decoder_cnn(z).reshape(b, n_latent, 2, g)
        read = self.read_weights(x_all)  # (B, T, G)
        on_targets = torch.einsum("blcg,btg->blct", out, read)
        return on_targets[:, :, 0], 0.01 + torch.nn.functional.softplus(on_targets[:, :, 1])


# -- objectives ---------------------------------------------------------------------------
def mse_loss(mean: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Eq. 5 averaged over tasks, latent samples and targets: mean (B, L, T), y (B, T)."""
    return ((mean - y[:, None, :]) ** 2).mean()


def margin_ranking_loss(mean: torch.Tensor, y: torch.Tensor, margin: float) -> torch.Tensor:
    """Eq. 6: mean over ordered target pairs (y_i > y_j) of max(0, margin - (pred_i - pred_j))."""
    better = y[:, :, None] > y[:, None, :]  # (B, T, T)
    # margin - (pred_i - pred_j), built in place: this (B, L, T, T) tensor is the step's largest.
    hinge = (mean[:, :, None, :] - mean[:, :, :, None]).add_(margin).relu_()
    return (hinge * better[:, None]).sum() / (better.sum() * mean.shape[1]).clamp_min(1.0)


def ml_loss(mean: torch.Tensor, scale: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Eq. 2: -log (1/L sum_l prod_t N(y_t; mean, scale)), per target point."""
    logp = torch.distributions.Normal(mean, scale).log_prob(y[:, None, :]).sum(-1)  # (B, L)
    ll = torch.logsumexp(logp, dim=1) - math.log(mean.shape[1])
    return -(ll / y.shape[1]).mean()


def objective(name: str, mean, scale, y, lam: float, margin: float) -> torch.Tensor:
    if name == "mse":
        return mse_loss(mean, y)
    if name == "rank":
        return margin_ranking_loss(mean, y, margin)
    if name == "ml":
        return ml_loss(mean, scale, y)
    if name == "ml_rank":
        return ml_loss(mean, scale, y) + lam * margin_ranking_loss(mean, y, margin)
    return mse_loss(mean, y) + lam * margin_ranking_loss(mean, y, margin)


def average_rank_scores(preds: np.ndarray) -> np.ndarray:
    """(L, M) predictions -> (M,) mean ascending rank / M (ties averaged): higher = better."""
    ranks = rankdata(preds, axis=1, method="average")
    return ranks.mean(axis=0) / preds.shape[1]


# -- the predictor ------------------------------------------------------------------------
class ConvNPPredictor(Predictor):
    """Meta-learned Convolutional Neural Process on the paper's meta-features."""

    name = "convnp"
    cost_family = "ConvNP"
    prior_seconds = 20.0
    description = "ConvNP meta-learned on synthetic resampled tasks with context/target splits (MSE + ranking), rank-averaged over latent samples."
    inputs = "encoding"
    default_encoding = "meta"
    default_params: ClassVar[dict[str, Any]] = {
        "objective": "mse_rank",
        "lam": 1000.0,
        "margin": 0.01,
        "n_tasks": 10000,
        "task_length": None,  # None: 86, or the observed-set size when it is at most 90
        "max_context": 10,
        "batch_size": 16,
        "lr": 1e-3,
        "epochs": 1,
        "n_latent": 4,
        "split": True,
        "synthetic_tasks": True,
        "grid_size": 64,
        "channels": 16,
        "latent_channels": 16,
        "blocks": 4,
        "kernel": 5,
        "separable": False,  # True: depthwise-separable convolutions (Dubois et al.; slower on CPU)
        "hidden": 32,
        "dropout": 0.3,  # on the meta-feature MLP's hidden layer during meta-training (0: none)
        "input_norm": "observed",  # "none": the MLP's tanh output as is (as first implemented)
        "predict_context": "subsets",  # "all": every observed architecture as one context set
        "weight_decay": 0.0,  # decoupled (AdamW) weight decay on the meta-feature MLP only (0: plain Adam)
        "snapshots": 4,  # rank-average this many checkpoints spread over the epoch's second half (1: final only)
    }

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        p = self.params
        if p["objective"] not in OBJECTIVES:
            raise ConfigError(f"ConvNP objective '{p['objective']}' is unknown; expected one of {list(OBJECTIVES)}.")
        for key in ("n_tasks", "max_context", "batch_size", "epochs", "n_latent", "grid_size", "channels", "latent_channels", "blocks", "kernel", "hidden", "snapshots"):
            if not isinstance(p[key], int) or p[key] < 1:
                raise ConfigError(f"ConvNP parameter '{key}' must be a positive integer, got {p[key]!r}.")
        if isinstance(p["dropout"], bool) or not isinstance(p["dropout"], (int, float)) or not 0 <= p["dropout"] < 1:
            raise ConfigError(f"ConvNP dropout must be a number in [0, 1), got {p['dropout']!r}.")
        if isinstance(p["weight_decay"], bool) or not isinstance(p["weight_decay"], (int, float)) or p["weight_decay"] < 0:
            raise ConfigError(f"ConvNP weight_decay must be a number >= 0, got {p['weight_decay']!r}.")
        if p["input_norm"] not in INPUT_NORMS:
            raise ConfigError(f"ConvNP input_norm '{p['input_norm']}' is unknown; expected one of {list(INPUT_NORMS)}.")
        if p["predict_context"] not in PREDICT_CONTEXTS:
            raise ConfigError(f"ConvNP predict_context '{p['predict_context']}' is unknown; expected one of {list(PREDICT_CONTEXTS)}.")
        if p["task_length"] is not None and (not isinstance(p["task_length"], int) or p["task_length"] < 2):
            raise ConfigError(f"ConvNP task_length must be an integer >= 2 or null (automatic), got {p['task_length']!r}.")
        self.model: ConvNPModel | None = None
        self.history: list[float] = []
        self.snapshots: list[dict[str, torch.Tensor]] = []
        self._memo: dict[int, np.ndarray] = {}

    # -- training --
    def task_length(self, n: int) -> int:
        return self.params["task_length"] or default_task_length(n)

    def batches(self, n: int, rng: np.random.Generator):
        """Yield (task row indices (B, T), context mask (B, T)) for every step of meta-training."""
        p = self.params
        rows, masks = meta_batches(n, n_tasks=p["n_tasks"], length=self.task_length(n) if p["synthetic_tasks"] else n, batch_size=p["batch_size"], epochs=p["epochs"], max_context=p["max_context"], split=bool(p["split"]), synthetic=bool(p["synthetic_tasks"]), rng=rng)
        bs, per_epoch = p["batch_size"], p["n_tasks"]
        for e in range(p["epochs"]):
            for start in range(e * per_epoch, (e + 1) * per_epoch, bs):
                stop = min(start + bs, (e + 1) * per_epoch)
                yield rows[start:stop], masks[start:stop]

    def n_steps(self, n: int) -> int:
        p = self.params
        return p["epochs"] * -(-p["n_tasks"] // p["batch_size"])

    def snapshot_steps(self, n: int) -> np.ndarray:
        """Steps (1-based) whose weights are kept for prediction: ``snapshots`` evenly spaced over the
        second half of meta-training, the last step always among them (fewer in a run too short
        to have that many distinct steps there, e.g. a reduced-size test)."""
        total = self.n_steps(n)
        s = self.params["snapshots"]
        return np.unique(np.round(total - np.arange(s) * (total / 2) / max(s, 1)).astype(int))

    def optimizer(self, model: ConvNPModel) -> torch.optim.Optimizer:
        """Adam (the paper's); with ``weight_decay`` > 0, AdamW's decoupled decay on the meta-feature MLP only."""
        p = self.params
        if not p["weight_decay"]:
            return torch.optim.Adam(model.parameters(), lr=p["lr"])
        mlp = list(model.feature.parameters())
        rest = [q for q in model.parameters() if all(q is not m for m in mlp)]
        groups = [{"params": mlp, "weight_decay": float(p["weight_decay"])}, {"params": rest, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=p["lr"])

    def fit(self, archs: ArchSet, y: np.ndarray, *, unlabeled: ArchSet | None = None) -> None:
        p = self.params
        torch.set_num_threads(max(1, int(self.threads)))
        feats = torch.as_tensor(np.asarray(archs.encoding(self.encoding), dtype=np.float32))
        target = torch.as_tensor(normalise_targets(y), dtype=torch.float32)
        rng = np.random.default_rng(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        with seeded(self.seed):  # the initial weights and the dropout masks come from the seed only
            self.model = model = ConvNPModel(feats.shape[1], hidden=p["hidden"], channels=p["channels"], latent=p["latent_channels"], blocks=p["blocks"], kernel=p["kernel"], grid_size=p["grid_size"], separable=bool(p["separable"]), input_norm=p["input_norm"], dropout=float(p["dropout"]))
            opt = self.optimizer(model)
            model.train()
            self.history = []
            keep = set(self.snapshot_steps(len(y)).tolist())
            self.snapshots = []
            for step, (rows, mask) in enumerate(self.batches(len(y), rng), start=1):
                idx = torch.from_numpy(rows)
                z = model.raw_inputs(feats)  # the whole observed set: its statistics place the grid
                x = model.squash(z[idx], z)
                yt = target[idx]
                mean, scale = model(x, yt, torch.from_numpy(mask).float(), p["n_latent"], gen)
                loss = objective(p["objective"], mean, scale, yt, p["lam"], p["margin"])
                if not torch.isfinite(loss):
                    raise TrainingDivergedError(
                        f"Training diverged: the ConvNP loss became {loss.item()}; lower the learning rate (lr={p['lr']})."
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                self.history.append(float(loss.detach()))
                if step in keep:
                    self.snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        model.eval()
        self._context = (feats, target)
        self._memo = {}

    # -- prediction --
    def prediction_contexts(self, n: int) -> np.ndarray:
        """(R, k) context row sets used at prediction.

        ``predict_context: all``: one set, every observed architecture (the paper's Algorithm 1).
        ``subsets`` (default): R = ceil(3 n / k) random subsets of k = max_context observed
        architectures, the largest context meta-training ever shows: with all n as context the
        SetConv density is n/k times anything seen in training and the decoder's ranking
        collapses (studies/convnp/README.md, "Diagnosis"). Each observed point is context ~3 times.
        With ``split: false`` meta-training's context is the whole task, so it is ``all``.
        """
        if self.params["predict_context"] == "all" or not self.params["split"]:
            return np.arange(n)[None]
        k = min(self.params["max_context"], n)
        draws = -(-3 * n // k)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0xC0417]))
        return np.argsort(rng.random((draws, n)), axis=1)[:, :k]

    @torch.inference_mode()
    def sample_means(self, feats_target: np.ndarray) -> np.ndarray:
        """(S * R * L, M) predictive means of the targets: L latent samples for each of the R
        context sets, for each of the S kept snapshots of the weights (S = 1: the final model)."""
        if self.model is None:
            raise ConfigError(f"Predictor '{self.name}' must be fit before predict; call fit(archs, y) first.")
        torch.set_num_threads(max(1, int(self.threads)))
        final = {k: v.clone() for k, v in self.model.state_dict().items()}
        try:
            out = []
            for state in self.snapshots or [final]:
                self.model.load_state_dict(state)
                out.append(self.snapshot_means(feats_target))
        finally:
            self.model.load_state_dict(final)
        return np.concatenate(out)

    def snapshot_means(self, feats_target: np.ndarray) -> np.ndarray:
        """(R * L, M) predictive means of the targets under the model's current weights."""
        model = self.model
        feats, target = self._context
        gen = torch.Generator().manual_seed(self.seed + 1)
        z = model.raw_inputs(feats)
        ctx = torch.from_numpy(self.prediction_contexts(len(feats)))
        xc = model.squash(z, z)[ctx]  # (R, k)
        mu, sigma = model.latent_dist(xc, target[ctx], torch.ones_like(xc))  # (R, C, G)
        eps = torch.randn((mu.shape[0], self.params["n_latent"], *mu.shape[1:]), generator=gen)
        grid_out = model.decoder_cnn((mu[:, None] + sigma[:, None] * eps).flatten(0, 1))[:, 0]  # (R * L, G) means on the grid
        out = np.empty((grid_out.shape[0], len(feats_target)))
        chunk = 8192
        for s in range(0, len(feats_target), chunk):
            xt = model.squash(model.raw_inputs(torch.as_tensor(np.asarray(feats_target[s : s + chunk], dtype=np.float32))), z)
            out[:, s : s + chunk] = (model.read_weights(xt) @ grid_out.T).T.double().numpy()
        return out

    def universe_scores(self, task) -> np.ndarray:
        """Rank-averaged scores of every architecture of ``task`` (memoised per task)."""
        key = id(task)
        if key not in self._memo:
            self._memo[key] = average_rank_scores(self.sample_means(task.encoding(self.encoding)))
        return self._memo[key]

    def predict(self, archs: ArchSet) -> np.ndarray:
        return self.universe_scores(archs.task)[archs.rows]
