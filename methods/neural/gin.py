"""GIN predictor: graph isomorphism network layers (direction-aware sums), sum+mean readout, MLP head."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from nasbench_harness.methods.neural.layers import DenseGINConv, masked_mean, mlp_head
from nasbench_harness.methods.neural.training import GraphPredictor, NeuralPredictor
from torch import nn


class GINModel(nn.Module):
    def __init__(self, n_ops: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Linear(n_ops, hidden)
        self.convs = nn.ModuleList(DenseGINConv(hidden, hidden) for _ in range(layers))
        self.head = mlp_head(2 * hidden, hidden, dropout)

    def forward(self, x: torch.Tensor, adj: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.embed(x) * mask[..., None]
        for conv in self.convs:
            h = conv(h, adj, mask)
        # GIN's injective readout is a sum; the mean beside it keeps cells of different sizes comparable.
        pooled = torch.cat([(h * mask[..., None]).sum(1), masked_mean(h, mask)], dim=-1)
        return self.head(pooled).squeeze(-1)


class GINPredictor(GraphPredictor):
    name = "gin"
    cost_family = "GCN family"
    prior_seconds = 4.0
    description = "Graph isomorphism network predictor (dense batched GIN); trains on any loss."
    default_params: ClassVar[dict[str, Any]] = {**NeuralPredictor.train_params, "hidden": 64, "layers": 3, "dropout": 0.0}

    def _build(self) -> nn.Module:
        p = self.params
        return GINModel(len(self.op_names), int(p["hidden"]), int(p["layers"]), float(p["dropout"]))
