"""GCN predictor: the uniform graph-convolution predictor of the loss-function study.

Dense batched adjacency, a few bidirectional graph-conv layers (Wen et al. / BRP-NAS
lineage), mean pooling over real nodes, and a two-layer MLP head giving one score.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import torch
from nasbench_harness.methods.neural.layers import (
    DenseGraphConv,
    gcn_adjacency,
    masked_mean,
    mlp_head,
)
from nasbench_harness.methods.neural.stacked import Dropout, member_linear
from nasbench_harness.methods.neural.training import GraphPredictor, NeuralPredictor
from torch import nn


class GCNModel(nn.Module):
    stackable = True  # members train as one stacked model (methods/neural/stacked.py)

    def __init__(self, n_ops: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        dims = [n_ops] + [hidden] * layers
        self.convs = nn.ModuleList(DenseGraphConv(a, b) for a, b in itertools.pairwise(dims))
        self.head = mlp_head(hidden, hidden, dropout)

    def forward(self, x: torch.Tensor, adj: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        adjs = gcn_adjacency(adj, mask)
        for conv in self.convs:
            x = conv.propagate(x, adjs, mask)
        return self.head(masked_mean(x, mask)).squeeze(-1)

    def constants(self, x: torch.Tensor, adj: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """What ``forward`` computes from the inputs alone: the normalised adjacencies, the first
        layer's aggregation of the (constant) op one-hots, and the node counts of the mean pool."""
        a_in, a_out = gcn_adjacency(adj, mask)
        first = torch.cat([torch.einsum("bij,bjd->bid", a_in, x), torch.einsum("bij,bjd->bid", a_out, x)], dim=-1)
        return first, a_in, a_out, mask, mask.sum(1, keepdim=True).clamp_min(1.0)

    @staticmethod
    def features_stacked(models, consts, drop: Dropout) -> torch.Tensor:
        """``forward`` of M members on stacked ``constants`` (M, b, ...), op for op, up to the
        1-output ``out_layer``: (M, b, hidden).

        Multiplying by an all-ones node mask changes no bit, so it is skipped when no cell is padded.
        """
        agg, a_in, a_out, mask, count = consts
        real = None if bool(mask.all()) else mask[..., None]
        h = agg
        for layer in range(len(models[0].convs)):
            if layer:
                agg = torch.cat([torch.einsum("mbij,mbjd->mbid", a_in, h), torch.einsum("mbij,mbjd->mbid", a_out, h)], -1)
            h = torch.relu(member_linear(agg, [m.convs[layer].lin for m in models]))
            if real is not None:
                h = h * real
        pooled = (h if real is None else h * real).sum(2) / count
        return drop(torch.relu(member_linear(pooled, [m.head[0] for m in models])), models[0].head[2].p)

    @property
    def out_layer(self) -> nn.Linear:
        return self.head[3]


class GCNPredictor(GraphPredictor):
    name = "gcn"
    description = "Graph convolutional predictor (dense batched GCN, mean pool, MLP head); trains on any loss."
    default_params: ClassVar[dict[str, Any]] = {**NeuralPredictor.train_params, "hidden": 64, "layers": 3, "dropout": 0.0}
    loss_lr = True  # the study's uniform predictor: each loss brings its own learning rate, as in the paper

    def _build(self) -> nn.Module:
        p = self.params
        return GCNModel(len(self.op_names), int(p["hidden"]), int(p["layers"]), float(p["dropout"]))
