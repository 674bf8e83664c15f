"""Transformer predictor in the spirit of PINAT: attention over node tokens, biased by the adjacency.

Tokens are op embeddings plus a depth embedding (longest-path distance from the input,
which is permutation invariant unlike an index position) plus one graph-conv message
(PINAT's local, permutation-invariant branch); each layer's attention logits get
a learned bias per head for "edge i->j", "edge j->i", "same node" and "not adjacent".
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from nasbench_harness.methods.neural.layers import (
    AdjacencyBiasedAttention,
    DenseGraphConv,
    masked_mean,
    mlp_head,
)
from nasbench_harness.methods.neural.training import GraphPredictor, NeuralPredictor
from torch import nn


def node_depth(adj: torch.Tensor) -> torch.Tensor:
    """(B, N) longest-path depth of every node from the sources (N Bellman-style rounds, batched)."""
    depth = torch.zeros(adj.shape[:2], dtype=adj.dtype)
    for _ in range(adj.shape[1] - 1):
        depth = torch.maximum(depth, ((depth[..., None] + 1) * adj).amax(1))
    return depth.long()


class TransformerModel(nn.Module):
    def __init__(self, n_ops: int, max_nodes: int, hidden: int, layers: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Linear(n_ops, hidden)
        self.depth = nn.Embedding(max_nodes + 1, hidden)
        self.local = DenseGraphConv(n_ops, hidden)  # PINAT's permutation-invariant local branch
        self.blocks = nn.ModuleList(AdjacencyBiasedAttention(hidden, heads, 2 * hidden, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)
        self.head = mlp_head(hidden, hidden, dropout)

    def forward(self, x: torch.Tensor, adj: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        depth = node_depth(adj).clamp_max(self.depth.num_embeddings - 1)
        h = (self.embed(x) + self.depth(depth) + self.local(x, adj, mask)) * mask[..., None]
        for block in self.blocks:
            h = block(h, adj, mask)
        return self.head(masked_mean(self.norm(h), mask)).squeeze(-1)


class TransformerPredictor(GraphPredictor):
    name = "transformer"
    cost_family = "GCN family"
    prior_seconds = 6.0
    description = "Transformer predictor (adjacency-biased attention over node tokens, PINAT-style); trains on any loss."
    default_params: ClassVar[dict[str, Any]] = {
        **NeuralPredictor.train_params, "hidden": 32, "layers": 2, "heads": 4, "dropout": 0.0,
    }

    def _prepare(self, source) -> None:
        super()._prepare(source)
        self.max_nodes = source.max_nodes

    def _build(self) -> nn.Module:
        p = self.params
        return TransformerModel(
            len(self.op_names), self.max_nodes, int(p["hidden"]), int(p["layers"]), int(p["heads"]), float(p["dropout"])
        )
