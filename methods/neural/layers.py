"""Dense, batched graph layers over padded DAGs (GraphBatch): graph conv, GIN, adjacency-biased attention.

Inputs everywhere: ``x`` (B, N, F) node features, ``adj`` (B, N, N) float with adj[b, i, j] = 1
for an edge i -> j, ``mask`` (B, N) float with 1 for real nodes and 0 for padding. Dense
batched matmuls are the fastest form for cells of at most a few dozen nodes on a CPU.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def graph_tensors(graphs, sl=slice(None)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ops one-hot (B, N, V), adjacency (B, N, N), node mask (B, N)) float32 tensors of a GraphBatch slice."""
    ops = np.asarray(graphs.ops[sl])
    n_ops = len(graphs.op_names)
    eye = np.eye(n_ops + 1, dtype=np.float32)[:, :n_ops]  # row n_ops (padding) is all zero
    x = torch.from_numpy(eye[np.where(ops >= 0, ops, n_ops)])
    adj = torch.from_numpy(graphs.adj[sl].astype(np.float32))
    return x, adj, torch.from_numpy((ops >= 0).astype(np.float32))


def _row_normalise(a: torch.Tensor) -> torch.Tensor:
    return a / a.sum(-1, keepdim=True).clamp_min(1.0)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real nodes: (B, N, F) -> (B, F)."""
    return (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1.0)


def gcn_adjacency(adj: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(norm(A^T + I), norm(A + I)): gather from predecessors, and from successors.

    Computed once per forward pass and shared by every DenseGraphConv layer.
    """
    eye = torch.diag_embed(mask)
    return _row_normalise(adj.transpose(1, 2) + eye), _row_normalise(adj + eye)


class DenseGraphConv(nn.Module):
    """Bidirectional GCN layer (Wen et al.'s neural predictor): messages along and against edges.

    h' = ReLU([norm(A^T + I) h | norm(A + I) h] W + b), rows normalised by degree so that a
    node's update does not grow with its fan-in. Aggregating before the linear map is the
    same function as ``A h W_fwd + A^T h W_bwd`` and about twice as fast on a CPU (one
    matmul on concatenated features instead of two plus a sum).
    """

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.lin = nn.Linear(2 * d_in, d_out)

    @staticmethod
    def aggregate(x: torch.Tensor, adjs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """[norm(A^T + I) h | norm(A + I) h]: what the linear map takes."""
        a_in, a_out = adjs
        return torch.cat([torch.einsum("bij,bjd->bid", a_in, x), torch.einsum("bij,bjd->bid", a_out, x)], dim=-1)

    def propagate(self, x: torch.Tensor, adjs: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.lin(self.aggregate(x, adjs))) * mask[..., None]

    def forward(self, x, adj, mask):
        return self.propagate(x, gcn_adjacency(adj, mask), mask)


class DenseGINConv(nn.Module):
    """GIN layer (Xu et al.): h' = MLP((1 + eps) h + sum of predecessor and successor features)."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.eps = nn.Parameter(torch.zeros(1))
        self.mlp = nn.Sequential(nn.Linear(2 * d_in, d_out), nn.ReLU(), nn.Linear(d_out, d_out))

    def forward(self, x, adj, mask):
        preds = adj.transpose(1, 2) @ x
        succs = adj @ x
        # Direction matters in a cell, so predecessors and successors are summed separately.
        h = torch.cat([(1 + self.eps) * x + preds, succs], dim=-1)
        return torch.relu(self.mlp(h)) * mask[..., None]


class AdjacencyBiasedAttention(nn.Module):
    """Multi-head self-attention over node tokens with a learned bias per head and relation.

    Relations of (i, j): edge i -> j, edge j -> i, same node, none. The bias is added to the
    attention logits (PINAT/Graphormer style), so attention starts structure-aware and can
    still look at any node; padding keys are masked out.
    """

    def __init__(self, d: int, heads: int, ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d % heads:
            raise ValueError("hidden size must be divisible by the number of heads")
        self.h, self.dk = heads, d // heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.rel_bias = nn.Parameter(torch.zeros(heads, 4))
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.ReLU(), nn.Linear(ff, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, adj, mask):
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.h, self.dk).permute(2, 0, 3, 1, 4)
        logits = q @ k.transpose(-1, -2) / math.sqrt(self.dk)  # (B, H, N, N)
        # Relation bias per head: edge i->j, edge j->i, same node, otherwise (broadcast, no one-hot tensor).
        eye = torch.eye(n, dtype=x.dtype)
        adj_t = adj.transpose(1, 2)
        other = 1 - (adj + adj_t + eye).clamp_max(1.0)
        b0, b1, b2, b3 = (self.rel_bias[:, r, None, None] for r in range(4))
        logits = logits + b0 * adj[:, None] + b1 * adj_t[:, None] + b2 * eye + b3 * other[:, None]
        logits = logits.masked_fill(mask[:, None, None, :] == 0, float("-inf"))
        attn = self.drop(torch.softmax(logits, dim=-1))
        h = (attn @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.drop(self.out(h))
        x = x + self.drop(self.ff(self.norm2(x)))
        return x * mask[..., None]


def linear_bmm(x: torch.Tensor, lin: nn.Linear) -> torch.Tensor:
    """``lin(x)`` computed as one ``torch.baddbmm`` over a batch of one matrix.

    Same values as ``lin(x)`` forward, but its backward runs other kernels and rounds the
    gradients differently: the GCN predictor's stored numbers were trained this way.
    """
    flat = x.reshape(1, -1, x.shape[-1])
    out = torch.baddbmm(lin.bias[None, None, :], flat, lin.weight[None].transpose(1, 2))
    return out.reshape(*x.shape[:-1], out.shape[-1])


def mlp_head(d_in: int, hidden: int, dropout: float = 0.0) -> nn.Sequential:
    """Two-layer regression head to one score."""
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))
