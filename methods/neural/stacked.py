"""Members with a leading member axis: M models of one architecture computed as one model.

A model class that sets ``stackable = True`` provides
- ``constants(*inputs) -> tuple[Tensor, ...]``: what its forward computes from the inputs alone
  (a graph model's normalised adjacency and first aggregation), computed once per member
  rather than once per step, then stacked over members (``(M, n, ...)``);
- ``features_stacked(models, consts, drop) -> (M, b, d)``: every member's forward in one pass,
  up to its last layer ``out_layer`` (an ``nn.Linear`` to one score, applied by ``member_scores``).

Every op acts on each member's block alone with the kernel one model uses (batched matmuls
whose per-member result is the plain matmul's, elementwise ops, reductions inside a member)
or runs per member (the 1-output head layer, whose batched matmul rounds differently from the
plain one, and dropout, which draws from each member's own RNG state). A member's numbers
therefore do not depend on which members share its stack (tests/methods/test_batched.py).
The parameters stay the members' own tensors (stacked afresh in every forward, so gradients
flow back to each member's own parameters, and its optimiser state stays its own).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

# drop(h, p): dropout with each member's own RNG state on h's member blocks (identity when p == 0 or scoring).
Dropout = Callable[[torch.Tensor, float], torch.Tensor]


def no_dropout(h: torch.Tensor, p: float) -> torch.Tensor:
    return h


def member_linear(x: torch.Tensor, linears: Sequence[nn.Linear]) -> torch.Tensor:
    """Member i's ``linears[i]`` on block ``x[i]``: (M, ..., d_in) -> (M, ..., d_out), one batched matmul."""
    m = len(linears)
    weight = torch.stack([lin.weight for lin in linears]) if m > 1 else linears[0].weight[None]
    bias = torch.stack([lin.bias for lin in linears]) if m > 1 else linears[0].bias[None]
    flat = x.reshape(m, -1, x.shape[-1])
    out = torch.baddbmm(bias[:, None, :], flat, weight.transpose(1, 2))
    return out.reshape(*x.shape[:-1], out.shape[-1])


def member_linear_to_one(x: torch.Tensor, linears: Sequence[nn.Linear]) -> torch.Tensor:
    """The 1-output head layer per member: (M, b, d) -> (M, b). A batched matmul with one output
    column rounds differently for one member than for several, so each member gets its own ``addmm``."""
    return torch.stack([torch.addmm(lin.bias, x[i], lin.weight.t()) for i, lin in enumerate(linears)]).squeeze(-1)


def member_scores(models: Sequence[nn.Module], consts: Sequence[torch.Tensor], drop: Dropout = no_dropout) -> torch.Tensor:
    """(M, b) scores of M stackable members on stacked constants."""
    return member_linear_to_one(type(models[0]).features_stacked(models, consts, drop), [m.out_layer for m in models])


def member_dropout(rng_scope: Callable[[int], object], members: Sequence[int]) -> Dropout:
    """``drop`` for training: member j of the stack draws its mask under ``rng_scope(members[j])``
    (a context manager restoring that member's own global RNG state), as it would alone."""

    def drop(h: torch.Tensor, p: float) -> torch.Tensor:
        if p <= 0:
            return h
        parts = []
        for j, i in enumerate(members):
            with rng_scope(i):
                parts.append(F.dropout(h[j], p, training=True))
        return torch.stack(parts)

    return drop


def is_stackable(models: Sequence[nn.Module]) -> bool:
    """True when the models are of one class that declares ``stackable`` (and the stacked hooks)."""
    cls = type(models[0])
    return (
        bool(getattr(cls, "stackable", False))
        and hasattr(cls, "features_stacked")
        and all(type(m) is cls for m in models)
    )
