"""GCN predictor: the uniform graph-convolution predictor of the loss-function study.

Dense batched adjacency, a few bidirectional graph-conv layers (Wen et al. / BRP-NAS
lineage), mean pooling over real nodes, and a two-layer MLP head giving one score. Without an
``lr`` of its own it trains at the rate chosen for its loss on the search space it is fit on
(methods/neural/gcn_lr.py), or at the loss's ``default_lr`` on a space the table does not name.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, ClassVar

import torch
from nasbench_harness.methods.base import ArchSet, Loss
from nasbench_harness.methods.losses import PiecewiseLoss
from nasbench_harness.methods.neural.gcn_lr import GCN_LR
from nasbench_harness.methods.neural.layers import (
    DenseGraphConv,
    gcn_adjacency,
    linear_bmm,
    masked_mean,
    mlp_head,
)
from nasbench_harness.methods.neural.training import GraphPredictor, NeuralPredictor, TrainConfig
from torch import nn


class GCNModel(nn.Module):
    def __init__(self, n_ops: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        dims = [n_ops] + [hidden] * layers
        self.convs = nn.ModuleList(DenseGraphConv(a, b) for a, b in itertools.pairwise(dims))
        self.head = mlp_head(hidden, hidden, dropout)

    def forward(self, x: torch.Tensor, adj: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # The hidden linear maps run as ``linear_bmm`` (the kernels the study's numbers were
        # trained with); the 1-output layer as a plain ``nn.Linear``.
        adjs = gcn_adjacency(adj, mask)
        for conv in self.convs:
            x = torch.relu(linear_bmm(conv.aggregate(x, adjs), conv.lin)) * mask[..., None]
        hidden, relu, dropout, out = self.head
        return out(dropout(relu(linear_bmm(masked_mean(x, mask), hidden)))).squeeze(-1)


class GCNPredictor(GraphPredictor):
    name = "gcn"
    cost_family = "GCN family"
    prior_seconds = 3.0
    description = "Graph convolutional predictor (dense batched GCN, mean pool, MLP head); trains on any loss."
    default_params: ClassVar[dict[str, Any]] = {**NeuralPredictor.train_params, "hidden": 64, "layers": 3, "dropout": 0.0}
    loss_lr = True  # the study's uniform predictor: each loss brings its own learning rate, as in the paper

    def _build(self) -> nn.Module:
        p = self.params
        return GCNModel(len(self.op_names), int(p["hidden"]), int(p["layers"]), float(p["dropout"]))

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.space_name: str | None = None  # the search space of the last fit (its rate table row)

    def fit(self, archs: ArchSet, y, *, unlabeled: ArchSet | None = None) -> None:
        # Test doubles of a task may carry no search space: then no table row applies.
        self.space_name = getattr(getattr(archs.task, "space", None), "name", None)
        super().fit(archs, y, unlabeled=unlabeled)

    def table_lr(self, loss: Loss | None) -> float | None:
        """The rate chosen for ``loss`` on the fitted space (``pw``: its second loss's), None when
        the GCN has its own ``lr`` or the table has no entry."""
        if self.params["lr"] is not None or loss is None:
            return None
        name = loss.second.name if isinstance(loss, PiecewiseLoss) else loss.name
        return GCN_LR.get(self.space_name, {}).get(name)

    def train_config(self, loss: Loss | None = None) -> TrainConfig:
        config = super().train_config(loss)
        lr = self.table_lr(loss)
        return config if lr is None else dataclasses.replace(config, lr=float(lr))
