"""Graph predictor baselines of the ConvNP paper: NP (Wen et al.), CAP and CARL (Ji et al.).

All three read dense padded cell graphs (``ArchSet.graphs()``), train on CPU with torch,
seeded from ``seed`` and limited to ``threads``; targets are min-max scaled to [0, 1]
(``normalise_targets``), and a non-finite loss stops training with ``TrainingDivergedError``.

- ``neural_predictor`` (Wen et al. 2020): a 3-layer bidirectional GCN over one-hot node
  operations, global mean pooling and a fully connected head, trained by MSE (hidden 144,
  Adam lr 1e-4, weight decay 3e-4, 300 epochs, as in the reference implementation; batch
  16 instead of 10).
- ``cap`` (Ji et al. 2024, context-aware predictor): a GIN encoder first pre-trained
  without labels on the unlabelled pool by *context prediction*: a node's embedding must
  match the pooled embedding of its context (the nodes one or two undirected hops away,
  from a separate shallow context GIN) of the same graph and not of another graph (binary
  cross-entropy with a shuffled negative); then fine-tuned with a pairwise logistic ranking
  loss on the labelled architectures. FLAGGED: context radius (1..2 hops), pre-training
  size (2,000 graphs) and epochs are our choices; the paper's exact context definition was
  not available here.
- ``carl`` (Ji et al. 2025, causality-guided representation learning): node embeddings
  (GIN) are split by a learned soft node mask into a *causal* part (mask-weighted pooling)
  and a *spurious* part (the complement). The causal part predicts performance (pairwise
  ranking + MSE); the spurious part is pushed to carry no performance information (its head
  must predict the batch mean); and an intervention combines each architecture's causal
  part with another architecture's spurious part, whose prediction must still rank like
  the causal one. FLAGGED: this follows the paper's described idea (separate critical and
  redundant substructures, intervene on the redundant ones); its exact losses and weights
  could not be established and are our choices (all weights 1).
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import numpy as np
import torch
from nasbench_harness.methods.neural.layers import (
    DenseGINConv,
    DenseGraphConv,
    gcn_adjacency,
    graph_tensors,
    masked_mean,
    mlp_head,
)
from nasbench_harness.methods.neural.training import GraphPredictor, TrainConfig, train_model
from torch import nn


def pairwise_logistic(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean of log(1 + exp(-(p_i - p_j))) over pairs with y_i > y_j."""
    better = (y[:, None] > y[None, :]).float()
    loss = torch.nn.functional.softplus(-(pred[:, None] - pred[None, :])) * better
    return loss.sum() / better.sum().clamp_min(1.0)


class GraphEncoder(nn.Module):
    """Stacked dense graph layers -> node embeddings (B, N, H)."""

    def __init__(self, n_ops: int, hidden: int, layers: int, kind: str) -> None:
        super().__init__()
        self.gcn = kind == "gcn"
        layer = DenseGraphConv if self.gcn else DenseGINConv
        dims = [n_ops] + [hidden] * layers
        self.layers = nn.ModuleList(layer(a, b) for a, b in itertools.pairwise(dims))

    def forward(self, x, adj, mask):
        if self.gcn:  # the normalised adjacencies are the same for every layer: build them once
            adjs = gcn_adjacency(adj, mask)
            for layer in self.layers:
                x = layer.propagate(x, adjs, mask)
            return x
        for layer in self.layers:
            x = layer(x, adj, mask)
        return x


class _GraphBaseline(GraphPredictor):
    """NP, CAP and CARL: the shared loop (``NeuralPredictor``) with the reference code's Adam,
    a fixed objective instead of a registered loss, and a fresh minibatch order every epoch."""

    supports_loss = False
    default_loss = None
    always_shuffle = True
    predict_chunk = 4096

    def _optimiser(self, config: TrainConfig) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


# -- Wen et al.'s neural predictor --------------------------------------------------------
class _NPModel(nn.Module):
    def __init__(self, n_ops: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.encoder = GraphEncoder(n_ops, hidden, layers, "gcn")
        self.head = mlp_head(hidden, hidden)

    def forward(self, x, adj, mask):
        return self.head(masked_mean(self.encoder(x, adj, mask), mask)).squeeze(-1)


class WenNeuralPredictor(_GraphBaseline):
    """Wen et al.'s GCN neural predictor (regression by MSE)."""

    name = "neural_predictor"
    cost_family = "CAP/CARL/NP"
    prior_seconds = 11.0
    description = "Wen et al. (2020) neural predictor: bidirectional GCN + mean pooling + FC, MSE."
    default_params: ClassVar[dict[str, Any]] = {"hidden": 144, "layers": 3, "epochs": 300, "lr": 1e-4, "weight_decay": 3e-4, "batch_size": 16}

    def _build(self) -> nn.Module:
        return _NPModel(len(self.op_names), self.params["hidden"], self.params["layers"])

    def _batch_loss(self, inputs, target, state, gen) -> torch.Tensor:
        return ((self.model(*inputs) - target) ** 2).mean()


# -- CAP: context-aware pre-training + pairwise fine-tuning -------------------------------
def context_rings(adj: torch.Tensor, mask: torch.Tensor, inner: int = 1, outer: int = 2) -> torch.Tensor:
    """(B, N, N) float: 1 where node j is ``inner``..``outer`` undirected hops from node i."""
    und = ((adj + adj.transpose(1, 2)) > 0).float()
    eye = torch.diag_embed(mask)
    reach = eye.clone()
    dist_le = [reach]
    for _ in range(outer):
        reach = ((reach @ und + reach) > 0).float()
        dist_le.append(reach)
    rings = dist_le[outer] - dist_le[inner - 1]
    return rings * mask[:, :, None] * mask[:, None, :]


class _CAPModel(nn.Module):
    def __init__(self, n_ops: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.encoder = GraphEncoder(n_ops, hidden, layers, "gin")
        self.context = GraphEncoder(n_ops, hidden, 2, "gin")
        self.head = mlp_head(hidden, hidden)

    def forward(self, x, adj, mask):
        return self.head(masked_mean(self.encoder(x, adj, mask), mask)).squeeze(-1)

    def context_loss(self, x, adj, mask, gen) -> torch.Tensor:
        h = self.encoder(x, adj, mask)  # (B, N, H) node ("centre") embeddings
        c = self.context(x, adj, mask)
        rings = context_rings(adj, mask)
        ctx = (rings @ c) / rings.sum(-1, keepdim=True).clamp_min(1.0)  # pooled context per node
        has = (rings.sum(-1) > 0).float() * mask
        neg = ctx[torch.randperm(len(x), generator=gen)]  # context of another graph
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        pos_l = bce((h * ctx).sum(-1), torch.ones_like(has), reduction="none")
        neg_l = bce((h * neg).sum(-1), torch.zeros_like(has), reduction="none")
        return ((pos_l + neg_l) * has).sum() / has.sum().clamp_min(1.0)


class CAPPredictor(_GraphBaseline):
    """Context-aware predictor: self-supervised context pre-training on unlabelled graphs, pairwise fine-tuning."""

    name = "cap"
    cost_family = "CAP/CARL/NP"
    prior_seconds = 5.0
    description = "CAP (Ji et al. 2024): GIN pre-trained by context prediction on unlabelled architectures, then pairwise ranking fine-tuning."
    uses_unlabeled = True
    default_params: ClassVar[dict[str, Any]] = {
        "hidden": 64, "layers": 3, "pretrain_size": 2000, "pretrain_epochs": 10, "pretrain_batch": 128,
        "epochs": 200, "lr": 1e-3, "weight_decay": 1e-4, "batch_size": 32,
    }

    def _build(self) -> nn.Module:
        return _CAPModel(len(self.op_names), self.params["hidden"], self.params["layers"])

    def _pretrain(self, inputs, unlabeled, gen) -> None:
        """Context prediction on up to ``pretrain_size`` unlabelled graphs plus the training graphs
        (encoder and context GIN), through the same loop; fine-tuning continues ``gen``."""
        p = self.params
        if unlabeled is None or not len(unlabeled) or p["pretrain_epochs"] <= 0:
            return
        pick = np.random.default_rng(self.seed).permutation(len(unlabeled))[: p["pretrain_size"]]
        pool = graph_tensors(unlabeled.subset(np.sort(pick)).graphs())
        pool = tuple(torch.cat([u, t]) for u, t in zip(pool, inputs, strict=True))
        model = self.model
        config = TrainConfig(epochs=int(p["pretrain_epochs"]), batch_size=int(p["pretrain_batch"]), lr=p["lr"], seed=self.seed, threads=self.threads)
        optimiser = torch.optim.Adam([*model.encoder.parameters(), *model.context.parameters()], lr=p["lr"])
        train_model(
            model, pool, None, config, lambda rows, y, state, g: model.context_loss(*rows, g),
            optimiser=optimiser, gen=gen, always_shuffle=True, loss_name="cap context prediction",
        )

    def _optimiser(self, config: TrainConfig) -> torch.optim.Optimizer:
        """Fine-tuning: the encoder and the head (the context GIN served pre-training only)."""
        params = [*self.model.encoder.parameters(), *self.model.head.parameters()]
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)

    def _batch_loss(self, inputs, target, state, gen) -> torch.Tensor:
        return pairwise_logistic(self.model(*inputs), target)


# -- CARL: causal / spurious split with intervention --------------------------------------
class _CARLModel(nn.Module):
    def __init__(self, n_ops: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.encoder = GraphEncoder(n_ops, hidden, layers, "gin")
        self.gate = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.causal_head = mlp_head(hidden, hidden)
        self.spurious_head = mlp_head(hidden, hidden)
        self.joint_head = mlp_head(2 * hidden, hidden)

    def parts(self, x, adj, mask):
        h = self.encoder(x, adj, mask)
        a = torch.sigmoid(self.gate(h)).squeeze(-1) * mask  # soft "critical node" mask
        denom_c = a.sum(1, keepdim=True).clamp_min(1e-6)
        denom_s = (mask - a).sum(1, keepdim=True).clamp_min(1e-6)
        causal = (a[..., None] * h).sum(1) / denom_c
        spurious = ((mask - a)[..., None] * h).sum(1) / denom_s
        return causal, spurious

    def forward(self, x, adj, mask):
        causal, _ = self.parts(x, adj, mask)
        return self.causal_head(causal).squeeze(-1)

    def loss(self, x, adj, mask, y, gen) -> torch.Tensor:
        causal, spurious = self.parts(x, adj, mask)
        pred = self.causal_head(causal).squeeze(-1)
        fit = pairwise_logistic(pred, y) + ((pred - y) ** 2).mean()
        # The spurious part must carry no performance signal: its best guess is the mean.
        uninformative = ((self.spurious_head(spurious).squeeze(-1) - y.mean()) ** 2).mean()
        # Intervention: own causal part + another architecture's spurious part keeps the ranking.
        swapped = spurious[torch.randperm(len(y), generator=gen)]
        joint = self.joint_head(torch.cat([causal, swapped], dim=-1)).squeeze(-1)
        return fit + uninformative + pairwise_logistic(joint, y)


class CARLPredictor(_GraphBaseline):
    """Causality-guided representation learning: rank on the causal part, intervene on the spurious part."""

    name = "carl"
    cost_family = "CAP/CARL/NP"
    prior_seconds = 14.0
    description = "CARL (Ji et al. 2025): GIN node embeddings split into causal and spurious parts; ranking on the causal part with interventions."
    default_params: ClassVar[dict[str, Any]] = {"hidden": 64, "layers": 3, "epochs": 200, "lr": 1e-3, "weight_decay": 1e-4, "batch_size": 32}

    def _build(self) -> nn.Module:
        return _CARLModel(len(self.op_names), self.params["hidden"], self.params["layers"])

    def _batch_loss(self, inputs, target, state, gen) -> torch.Tensor:
        return self.model.loss(*inputs, target, gen)
