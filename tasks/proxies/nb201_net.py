"""The NAS-Bench-201 network (C=16, N=5) in torch, built from an official cell string.

Macro skeleton (Dong & Yang, ICLR 2020): a stem (3x3 conv 3->16, BN); three stages of
five cells at 16, 32 and 64 channels, a residual reduction block between stages (two
ReLU-conv3x3-BN, the first with stride 2, plus a shortcut of a 2x2 average pool and a 1x1
conv); then BN, ReLU, global average pooling and a linear classifier. In a cell, node
``i`` is the sum of one op applied to every earlier node; the output is node 3.

Ops: ``none`` (zeros), ``skip_connect`` (identity), ``nor_conv_1x1``/``nor_conv_3x3``
(ReLU, conv without bias, BN), ``avg_pool_3x3`` (stride 1, padding 1, padding not counted).

``bn=False`` builds the same network with every BatchNorm replaced by the identity: what
the synflow references score (they run BN layers as no-ops). ``relu`` modules are real
``nn.ReLU`` instances so that forward hooks (NASWOT) see every one.
"""

from __future__ import annotations

import torch
from nasbench_harness.tasks.spaces.nb201 import EDGES, OPS, op_indices
from torch import nn

CHANNELS = (16, 32, 64)
CELLS_PER_STAGE = 5
NUM_CLASSES = {"cifar10": 10, "cifar10-valid": 10, "cifar100": 100, "ImageNet16-120": 120}
INPUT_SIZE = {"cifar10": 32, "cifar10-valid": 32, "cifar100": 32, "ImageNet16-120": 16}


def _norm(c: int, bn: bool) -> nn.Module:
    return nn.BatchNorm2d(c) if bn else nn.Identity()


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, k: int, stride: int, bn: bool):
        super().__init__(nn.ReLU(), nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False), _norm(c_out, bn))


class Zero(nn.Module):
    def forward(self, x):
        return x.mul(0.0)  # keeps the graph connected, as the benchmark's op does


def make_op(name: str, c: int, bn: bool) -> nn.Module:
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1, 1, bn)
    if name == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3, 1, bn)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 op {name}")


class Cell(nn.Module):
    def __init__(self, ops: tuple[int, ...], c: int, bn: bool):
        super().__init__()
        self.edges = nn.ModuleList(make_op(OPS[o], c, bn) for o in ops)

    def forward(self, x):
        nodes = [x]
        for node in (1, 2, 3):
            nodes.append(sum(self.edges[e](nodes[src]) for e, (src, dst) in enumerate(EDGES) if dst == node))
        return nodes[3]


class ResidualReduction(nn.Module):
    """Halves the resolution and doubles the channels between stages (ResNet basic block)."""

    def __init__(self, c_in: int, c_out: int, bn: bool):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, bn)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, bn)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x):
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


class NB201Network(nn.Module):
    def __init__(self, arch: str, num_classes: int = 10, bn: bool = True):
        super().__init__()
        ops = op_indices(arch)
        self.arch = arch
        self.stem = nn.Sequential(nn.Conv2d(3, CHANNELS[0], 3, padding=1, bias=False), _norm(CHANNELS[0], bn))
        layers: list[nn.Module] = []
        for s, c in enumerate(CHANNELS):
            if s:
                layers.append(ResidualReduction(CHANNELS[s - 1], c, bn))
            layers += [Cell(ops, c, bn) for _ in range(CELLS_PER_STAGE)]
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(_norm(CHANNELS[-1], bn), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.rng_after_body = torch.random.get_rng_state()  # lets synflow draw other datasets' classifiers
        self.classifier = nn.Linear(CHANNELS[-1], num_classes)

    def features(self, x):
        """Pooled 64-d features (before the classifier)."""
        return self.pool(self.lastact(self.cells(self.stem(x)))).flatten(1)

    def forward(self, x):
        return self.classifier(self.features(x))


def build(arch: str, dataset: str = "cifar10", bn: bool = True, seed: int | None = 0) -> NB201Network:
    """The network of ``arch`` for ``dataset``'s class count, initialised from ``seed``.

    PyTorch's default initialisation under a fixed seed: the same cell always gets the same
    weights, whatever process or chunk computes it. Body layers are created before the
    classifier, so networks for datasets of equal resolution share their body weights.
    """
    if seed is not None:
        torch.manual_seed(seed)
    return NB201Network(arch, NUM_CLASSES[dataset], bn=bn)


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
