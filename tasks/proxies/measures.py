"""Zero-cost proxies of NAS-Bench-201 networks.

Data-free (every cell, every dataset):
- ``params``: trainable parameters, exact (``NB201Space.param_counts``), in millions as
  NAS-Bench-Suite-Zero stores them.
- ``flops``: analytic multiply-accumulate count x 2 of every convolution and the
  classifier for one input image (32x32, or 16x16 for ImageNet16-120), in millions: the
  convention of ``torch.utils.flop_counter.FlopCounterMode`` (checked against it in the
  tests). BN, ReLU, pooling and additions are not counted.
- ``synflow`` (Tanaka et al. 2020), as the zero-cost references compute it: BN layers
  removed (run as identities), every parameter replaced by its absolute value, float64,
  one all-ones input, R = sum of the logits; score = sum over conv and linear weights of
  |theta * dR/dtheta|, stored as its natural log, and 0 when it is 0 (NASLib's convention:
  cells whose output is cut off by ``none`` have no flow). With positive
  weights and inputs every ReLU is the identity, so the score depends on the weights'
  magnitudes only. Weights: PyTorch's default initialisation under a fixed seed.

Batch-based, on ONE fixed synthetic batch (no image data is available offline): standard
normal images and uniform random labels drawn from a fixed seed, BN in training mode,
cross-entropy loss. ``nwot`` (NASWOT: log-determinant of the Hamming-kernel of the ReLU
input signs), ``jacov`` (eigenvalue score of the input-Jacobian correlation), ``epe_nas``
(per-class Jacobian correlations), ``snip`` (sum |theta * dL/dtheta|), ``grad_norm`` (sum of
per-layer gradient L2 norms), ``plain`` (sum theta * dL/dtheta), ``fisher`` (per-channel
0.5 * mean over the batch of (sum over positions of activation * its gradient)^2, at every
conv/linear output), ``grasp`` (sum of -theta * (H g)). Weight sums run over conv and
linear weights, as the references do. One forward pass feeds nwot, jacov, epe_nas (its
input-Jacobian) and the loss gradients of snip, grad_norm, plain and fisher; grasp needs
its own Hessian-vector product.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from nasbench_harness.tasks.proxies.nb201_net import CELLS_PER_STAGE, CHANNELS, INPUT_SIZE, NUM_CLASSES, build
from torch import nn

DATA_FREE = ("params", "flops", "synflow")
BATCH = ("nwot", "jacov", "epe_nas", "snip", "grad_norm", "plain", "fisher", "grasp")
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
INIT_SEED = 0  # weights of every network
BATCH_SEED = 0  # the synthetic batch
BATCH_SIZE = 64  # NAS-Bench-Suite-Zero's batch size


# ------------------------------------------------------------------------ data-free
def params_m(space, ids, dataset: str) -> np.ndarray:
    """Exact trainable parameters in millions."""
    return space.param_counts(list(ids), num_classes=NUM_CLASSES[dataset]) / 1e6


def flops_m(space, ids, dataset: str) -> np.ndarray:
    """Analytic FLOPs (2 x multiply-accumulates of convs and classifier) in millions, vectorised."""
    ops6 = space.ops_matrix(list(ids))
    k2 = np.array([0, 0, 1, 9, 0], dtype=np.int64)[ops6].sum(axis=1)  # sum of k*k over the edges
    side = INPUT_SIZE[dataset]
    c0 = CHANNELS[0]
    fixed = 3 * c0 * 9 * side * side  # stem
    cells = np.zeros(len(ops6), dtype=np.int64)
    for s, c in enumerate(CHANNELS):
        hw = (side >> s) ** 2
        cells += CELLS_PER_STAGE * c * c * hw * k2
        if s:  # residual reduction: conv3x3 stride 2, conv3x3, 1x1 shortcut, all at the output size
            c_in = CHANNELS[s - 1]
            fixed += (c_in * c * 9 + c * c * 9 + c_in * c) * hw
    fixed += CHANNELS[-1] * NUM_CLASSES[dataset]
    return 2.0 * (cells + fixed) / 1e6


def _weights(net: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def synflow_all(arch: str, datasets=DATASETS, seed: int = INIT_SEED) -> dict[str, float]:
    """log synflow of ``arch`` for each dataset, sharing one body between them.

    ``build`` creates the body before the classifier, so the networks of every dataset
    share the body weights; each dataset's classifier is drawn from the RNG state the
    body leaves, exactly as ``build(arch, dataset)`` would. The score is then the standard
    definition for each dataset's own network (checked against it in the tests).
    """
    net = build(arch, datasets[0], bn=False, seed=seed).double()
    out = {}
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    body = [w for w in _weights(net) if w is not net.classifier.weight]
    by_size: dict[int, torch.Tensor] = {}
    for ds in datasets:
        classifier = _classifier_for(net, ds)
        side = INPUT_SIZE[ds]
        if side not in by_size:
            by_size[side] = net.features(torch.ones(1, 3, side, side, dtype=torch.float64))
        feats = by_size[side]
        logits = F.linear(feats, classifier.weight, classifier.bias)
        grads = torch.autograd.grad(logits.sum(), [*body, classifier.weight], retain_graph=True)
        score = sum(float((w.detach() * g).abs().sum()) for w, g in zip([*body, classifier.weight], grads, strict=True))
        out[ds] = _log(score)
    return out


def _classifier_for(net, dataset: str) -> nn.Linear:
    """The classifier ``build`` gives ``dataset``'s network with ``net``'s seed, as float64 absolute values."""
    torch.random.set_rng_state(net.rng_after_body)
    lin = nn.Linear(CHANNELS[-1], NUM_CLASSES[dataset]).double()
    with torch.no_grad():
        lin.weight.abs_()
        lin.bias.abs_()
    return lin


def synflow_reference(arch: str, dataset: str, seed: int = INIT_SEED) -> float:
    """log synflow by the plain definition on ``dataset``'s own network (for the tests)."""
    net = build(arch, dataset, bn=False, seed=seed).double()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    side = INPUT_SIZE[dataset]
    net(torch.ones(1, 3, side, side, dtype=torch.float64)).sum().backward()
    return _log(sum(float((w.detach() * w.grad).abs().sum()) for w in _weights(net)))


def _log(score: float) -> float:
    """NASLib's scale: log of the score; 0 when the flow is 0 (a cell whose output is cut off by ``none``)."""
    return math.log(score) if score > 0 else 0.0


# ------------------------------------------------------------------------ batch-based
def synthetic_batch(dataset: str, size: int | None = None, seed: int = BATCH_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed synthetic batch: N(0, 1) images and uniform labels from ``seed`` (``BATCH_SIZE`` of them by default)."""
    size = BATCH_SIZE if size is None else size
    g = torch.Generator().manual_seed(seed)
    side = INPUT_SIZE[dataset]
    x = torch.randn(size, 3, side, side, generator=g)
    y = torch.randint(0, NUM_CLASSES[dataset], (size,), generator=g)
    return x, y


def _jacov(jac: np.ndarray, k: float = 1e-5) -> float:
    corr = np.nan_to_num(np.corrcoef(jac))
    v = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


def _epe_nas(jac: np.ndarray, labels: np.ndarray, n_classes: int, k: float = 1e-5) -> float:
    """EPE-NAS: per-class sums of log |corr| of Jacobians, then mean pairwise absolute difference."""
    per_class = []
    for c in np.unique(labels):
        rows = jac[labels == c]
        if len(rows) < 2:
            per_class.append(0.0)
            continue
        s = float(np.sum(np.log(np.abs(np.nan_to_num(np.corrcoef(rows))) + k)))
        per_class.append(s / len(rows) if n_classes > 100 else s)
    s = np.array(per_class)
    if n_classes > 100:  # the reference's rule for many classes: spread of the per-class scores
        return float(np.abs(s[:, None] - s[None, :]).sum() / max(len(s), 1) ** 2 if len(s) else 0.0)
    return float(np.abs(s[:, None] - s[None, :]).sum() / max(len(s), 1))


def batch_proxies(arch: str, dataset: str, proxies=BATCH, batch=None, seed: int = INIT_SEED) -> dict[str, float]:
    """Batch-based proxies of ``arch`` on ``dataset``'s network for the fixed synthetic batch."""
    x, y = batch if batch is not None else synthetic_batch(dataset)
    want = set(proxies)
    out: dict[str, float] = {}
    net = build(arch, dataset, bn=True, seed=seed).train()
    weights = _weights(net)
    needs_pass = want & {"nwot", "jacov", "epe_nas", "snip", "grad_norm", "plain", "fisher"}
    if needs_pass:
        out.update(_shared_pass(net, weights, x, y, needs_pass, NUM_CLASSES[dataset]))
    if "grasp" in want:
        out["grasp"] = _grasp(net, weights, x, y)
    return {p: out[p] for p in proxies}


def _shared_pass(net, weights, x, y, want, n_classes) -> dict[str, float]:
    n = len(x)
    kernel = torch.zeros(n, n, dtype=torch.float64)
    acts: list[torch.Tensor] = []
    hooks = []

    def relu_in(_m, inp, _out):
        codes = (inp[0].detach().reshape(n, -1) > 0).double()
        kernel.add_(codes @ codes.T + (1 - codes) @ (1 - codes).T)

    def keep_output(_m, _inp, out):
        out.retain_grad()
        acts.append(out)

    for m in net.modules():
        if isinstance(m, nn.ReLU) and "nwot" in want:
            hooks.append(m.register_forward_hook(relu_in))
        if isinstance(m, (nn.Conv2d, nn.Linear)) and "fisher" in want:
            hooks.append(m.register_forward_hook(keep_output))
    xin = x.clone().requires_grad_(True)
    try:
        logits = net(xin)
    finally:
        for h in hooks:
            h.remove()
    out: dict[str, float] = {}
    if "nwot" in want:
        out["nwot"] = float(torch.linalg.slogdet(kernel)[1])
    if want & {"jacov", "epe_nas"}:
        (jx,) = torch.autograd.grad(logits.sum(), xin, retain_graph=True)
        jac = jx.reshape(n, -1).double().numpy()
        if "jacov" in want:
            out["jacov"] = _jacov(jac)
        if "epe_nas" in want:
            out["epe_nas"] = _epe_nas(jac, y.numpy(), n_classes)
    if want & {"snip", "grad_norm", "plain", "fisher"}:
        net.zero_grad()
        F.cross_entropy(logits, y).backward()
        g = [w.grad for w in weights]
        out["snip"] = sum(float((w.detach() * gw).abs().sum()) for w, gw in zip(weights, g, strict=True))
        out["grad_norm"] = sum(float(gw.norm()) for gw in g)
        out["plain"] = sum(float((w.detach() * gw).sum()) for w, gw in zip(weights, g, strict=True))
        if "fisher" in want:
            total = 0.0
            for a in acts:
                if a.grad is None:
                    continue
                prod = (a * a.grad).detach()
                per = prod.sum(dim=(2, 3)) if prod.dim() == 4 else prod
                total += float(0.5 * per.pow(2).mean(0).sum())
            out["fisher"] = total
    return out


def _grasp(net, weights, x, y) -> float:
    """GraSP: -theta * (H g) summed, H the loss Hessian, g the loss gradient (both on the batch)."""
    net.zero_grad()
    g = [t.detach() for t in torch.autograd.grad(F.cross_entropy(net(x), y), weights)]
    grads = torch.autograd.grad(F.cross_entropy(net(x), y), weights, create_graph=True)
    z = sum((gr * gi).sum() for gr, gi in zip(grads, g, strict=True))
    hg = torch.autograd.grad(z, weights)
    return float(sum((-w.detach() * h).sum() for w, h in zip(weights, hg, strict=True)))
