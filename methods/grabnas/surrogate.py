"""GraB-NAS's task-aware deep-kernel GP surrogate and its set-based task encoder.

- ``SetEncoder``: the paper's dataset encoder is two stacked Set Transformers (images within a
  class, then classes), each SAB + PMA. We have no images, so the inner level is replaced by a
  learned embedding per class id (MetaD2A's ImageNet-32 sub-tasks list their 20 class ids), and
  the outer SAB + PMA pools a set of *tokens*: class tokens and performance tokens, the latter
  an MLP of (architecture embedding, standardised accuracy) of a task's support pairs. A target
  dataset (cifar10, ...) has no ImageNet-32 class ids, so it is described by its support set's
  performance tokens only; meta-training drops class tokens at random so the encoder learns
  to work from performance tokens alone. A learned null token is always present (no set is
  empty). Someone with image features can replace ``class_tokens`` by a real inner Set
  Transformer.
- ``DeepKernelGP``: an MLP fuses the task vector and the architecture embedding; a Matern-5/2
  kernel on the fused features (learned length scale, output scale, noise) defines a GP with
  zero mean on standardised accuracies. Meta-training maximises the exact log marginal
  likelihood of minibatches of at most ~1,000 (task, architecture) pairs; meta-testing is an
  exact GP on the target's observed pairs (the hyperparameters and MLPs stay fixed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class SurrogateConfig:
    arch_dim: int
    n_classes: int = 1001  # MetaD2A's ImageNet-32 class ids are 1..1000 at most (600 used); 0 pads
    token_dim: int = 32
    heads: int = 4
    task_dim: int = 16
    feature_dim: int = 16
    hidden: int = 64


class MAB(nn.Module):
    """Multihead attention block of the Set Transformer: LN(H + FF(H)), H = LN(X + MHA(X, Y))."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.att = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x, y, pad=None):
        h = self.ln1(x + self.att(x, y, y, key_padding_mask=pad, need_weights=False)[0])
        return self.ln2(h + self.ff(h))


class SetEncoder(nn.Module):
    """SAB over the tokens, PMA with one seed vector, linear map to the task vector."""

    def __init__(self, cfg: SurrogateConfig) -> None:
        super().__init__()
        d = cfg.token_dim
        self.class_emb = nn.Embedding(cfg.n_classes, d, padding_idx=0)
        self.perf = nn.Sequential(nn.Linear(cfg.arch_dim + 1, d), nn.ReLU(), nn.Linear(d, d))
        self.null = nn.Parameter(torch.randn(1, 1, d) * 0.1)
        self.sab = MAB(d, cfg.heads)
        self.seed = nn.Parameter(torch.randn(1, 1, d) * 0.1)
        self.pma = MAB(d, cfg.heads)
        self.out = nn.Linear(d, cfg.task_dim)

    def forward(self, classes: torch.Tensor, perf: torch.Tensor, perf_mask: torch.Tensor) -> torch.Tensor:
        """classes (T, c) long (0 = absent), perf (T, k, arch_dim + 1), perf_mask (T, k) bool (True = present)
        -> (T, task_dim)."""
        t = classes.shape[0]
        tokens = torch.cat([self.null.expand(t, 1, -1), self.class_emb(classes), self.perf(perf)], dim=1)
        pad = torch.cat([torch.zeros(t, 1, dtype=torch.bool), classes == 0, ~perf_mask], dim=1)
        h = self.sab(tokens, tokens, pad)
        return self.out(self.pma(self.seed.expand(t, 1, -1), h, pad)[:, 0])


def matern52(a: torch.Tensor, b: torch.Tensor, lengthscale, outputscale) -> torch.Tensor:
    d = torch.cdist(a / lengthscale, b / lengthscale).clamp_min(1e-9)
    s5 = math.sqrt(5.0) * d
    return outputscale * (1 + s5 + s5 * s5 / 3) * torch.exp(-s5)


class DeepKernelGP(nn.Module):
    def __init__(self, cfg: SurrogateConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = SetEncoder(cfg)
        self.fuse = nn.Sequential(
            nn.Linear(cfg.task_dim + cfg.arch_dim, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.feature_dim)
        )
        self.log_ls = nn.Parameter(torch.zeros(()))
        self.log_os = nn.Parameter(torch.zeros(()))
        self.log_noise = nn.Parameter(torch.tensor(-2.0))

    def features(self, task_vec: torch.Tensor, arch: torch.Tensor) -> torch.Tensor:
        """task_vec (n, task_dim) or (task_dim,), arch (n, arch_dim) -> fused (n, feature_dim)."""
        if task_vec.dim() == 1:
            task_vec = task_vec.expand(arch.shape[0], -1)
        return self.fuse(torch.cat([task_vec, arch], dim=1))

    def kernel(self, a, b):
        return matern52(a, b, self.log_ls.exp(), self.log_os.exp())

    def noise(self):
        return self.log_noise.exp() + 1e-4

    def neg_mll(self, feats: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Negative exact log marginal likelihood per point (paper Eq. 10) of zero-mean y."""
        n = len(y)
        k = self.kernel(feats, feats) + self.noise() * torch.eye(n)
        chol = torch.linalg.cholesky(k)
        alpha = torch.cholesky_solve(y.unsqueeze(1), chol)
        nll = 0.5 * (y.unsqueeze(0) @ alpha).squeeze() + torch.log(torch.diagonal(chol)).sum() + 0.5 * n * math.log(2 * math.pi)
        return nll / n


class Posterior:
    """Exact GP posterior on a target's observed (fused feature, standardised y) pairs."""

    def __init__(self, model: DeepKernelGP, task_vec: torch.Tensor, arch_obs: torch.Tensor, y_obs: torch.Tensor) -> None:
        self.model, self.task_vec = model, task_vec
        self.x = model.features(task_vec, arch_obs)
        k = model.kernel(self.x, self.x) + model.noise() * torch.eye(len(y_obs))
        self.chol = torch.linalg.cholesky(k)
        self.alpha = torch.cholesky_solve(y_obs.unsqueeze(1), self.chol)

    def mean_var(self, arch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.model.features(self.task_vec, arch)
        ks = self.model.kernel(f, self.x)
        mean = (ks @ self.alpha).squeeze(1)
        v = torch.cholesky_solve(ks.T, self.chol)
        var = (self.model.log_os.exp() - (ks * v.T).sum(1)).clamp_min(1e-9)
        return mean, var
