"""D-VAE graph autoencoder (Zhang et al., 2019) for fixed-size cell DAGs (NB201's op-node graph).

Encoder: nodes are visited in topological order; each node's state is a GRU update of its
type one-hot with the gated sum of its predecessors' states (gate ``sigmoid(W_g h)``, message
``W_m h``); a second GRU does the same in reverse order over successors. The forward state of
the last node and the reverse state of the first node are concatenated and projected to the
latent mean and log-variance.

Decoder (sequential, teacher-forced in training): from ``h0 = tanh(W z)`` it adds one node
at a time: a node-type MLP reads the graph state (the latest node's state), the new node's
provisional state is a GRU update of its type from the graph state, an edge MLP scores an
edge from every earlier node to it, and the node's final state is the GRU update of its type
with the gated sum over its chosen predecessors. Scaled vs. D-VAE: edges into a new node are
scored in parallel from its provisional state (D-VAE adds them one by one, re-updating the
state after each) and the hidden state is small (default 64 instead of 501, latent 16
instead of 56) so that training takes minutes on one CPU core.

All graphs of a space have the same node count and topological order here (NB201: input,
six edge-op nodes, output), so a whole batch is processed step by step in lockstep.
A decoded graph is *valid* only if its types and edges form a graph of the space
(``NB201Codec.to_ids``); invalid decodes are returned as ``None``, never replaced.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from nasbench_harness import artefacts
from torch import nn


@dataclass(frozen=True)
class DVAEConfig:
    n_types: int
    n_nodes: int
    hidden: int = 64
    latent: int = 16
    beta: float = 0.005  # KL weight (D-VAE uses 0.005)


class GatedAggregate(nn.Module):
    """Gated sum of neighbour states: sum_u mask[u] * sigmoid(W_g h_u) * (W_m h_u)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.gate = nn.Linear(hidden, hidden)
        self.msg = nn.Linear(hidden, hidden, bias=False)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # states (B, k, H), mask (B, k) -> (B, H)
        if states.shape[1] == 0:
            return states.new_zeros(states.shape[0], states.shape[2])
        return (mask.unsqueeze(-1) * torch.sigmoid(self.gate(states)) * self.msg(states)).sum(1)


class DVAE(nn.Module):
    def __init__(self, cfg: DVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        h, t = cfg.hidden, cfg.n_types
        d = t + cfg.n_nodes  # type one-hot + position one-hot
        self.enc_fwd, self.enc_bwd = nn.GRUCell(d, h), nn.GRUCell(d, h)
        self.agg_fwd, self.agg_bwd = GatedAggregate(h), GatedAggregate(h)
        self.to_mu, self.to_logvar = nn.Linear(2 * h, cfg.latent), nn.Linear(2 * h, cfg.latent)
        nn.init.constant_(self.to_logvar.bias, -4.0)  # start with little latent noise: the encoder is used from the first step
        self.from_z = nn.Linear(cfg.latent, h)
        self.dec_gru = nn.GRUCell(d, h)
        self.dec_agg = GatedAggregate(h)
        # the type MLP also reads z (D-VAE reads it only through h0): the latent is used from the first epochs
        self.type_mlp = nn.Sequential(nn.Linear(h + cfg.latent, 2 * h), nn.ReLU(), nn.Linear(2 * h, t))
        self.edge_mlp = nn.Sequential(nn.Linear(2 * h, 2 * h), nn.ReLU(), nn.Linear(2 * h, 1))

    def _inputs(self, types: torch.Tensor, position: int = 0) -> torch.Tensor:
        """Type one-hot plus position one-hot of nodes ``position..`` (B, k, n_types + n_nodes).

        The position breaks ties D-VAE cannot: in NB201 two op nodes with the same type and
        the same predecessor have identical states, yet only one of them feeds a later node.
        """
        k = types.shape[1]
        pos = torch.eye(self.cfg.n_nodes)[position : position + k].expand(types.shape[0], k, self.cfg.n_nodes)
        return torch.cat([nn.functional.one_hot(types, self.cfg.n_types).float(), pos], dim=2)

    # -- encoder -------------------------------------------------------------------------
    def encode(self, types: torch.Tensor, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """types (B, n) long, adj (B, n, n) float (adj[u, v] = edge u -> v) -> (mu, logvar)."""
        x = self._inputs(types)
        n = types.shape[1]
        fwd: list[torch.Tensor] = []
        for v in range(n):
            prev = torch.stack(fwd, 1) if fwd else x.new_zeros(x.shape[0], 0, self.cfg.hidden)
            fwd.append(self.enc_fwd(x[:, v], self.agg_fwd(prev, adj[:, :v, v])))
        bwd: list[torch.Tensor] = []  # bwd[i] is node n-1-i
        for v in reversed(range(n)):
            succ = torch.stack(bwd[::-1], 1) if bwd else x.new_zeros(x.shape[0], 0, self.cfg.hidden)
            bwd.append(self.enc_bwd(x[:, v], self.agg_bwd(succ, adj[:, v, v + 1 :])))
        g = torch.cat([fwd[-1], bwd[-1]], dim=1)
        return self.to_mu(g), self.to_logvar(g)

    # -- decoder -------------------------------------------------------------------------
    def _step(self, h_graph, states, type_v, edges_v=None):
        """One decoder step: type logits, edge logits and the new node's state.

        With ``type_v``/``edges_v`` given (teacher forcing) the state uses them; the caller
        passes the decoded ones at generation time.
        """
        x = self._inputs(type_v.unsqueeze(1), position=len(states))[:, 0]
        provisional = self.dec_gru(x, h_graph)
        if states:
            prev = torch.stack(states, 1)
            pair = torch.cat([prev, provisional.unsqueeze(1).expand_as(prev)], dim=2)
            edge_logits = self.edge_mlp(pair).squeeze(-1)
        else:
            prev = provisional.new_zeros(provisional.shape[0], 0, self.cfg.hidden)
            edge_logits = provisional.new_zeros(provisional.shape[0], 0)
        if edges_v is None:
            edges_v = (edge_logits > 0).float()
        state = self.dec_gru(x, self.dec_agg(prev, edges_v)) if states else provisional
        return edge_logits, edges_v, state

    def reconstruction_loss(self, z, types, adj) -> torch.Tensor:
        """Teacher-forced negative log-likelihood of (types, adj) given z, summed per graph."""
        h_graph = torch.tanh(self.from_z(z))
        states: list[torch.Tensor] = []
        loss = z.new_zeros(z.shape[0])
        for v in range(types.shape[1]):
            loss = loss + nn.functional.cross_entropy(self.type_mlp(torch.cat([h_graph, z], 1)), types[:, v], reduction="none")
            edge_logits, _, state = self._step(h_graph, states, types[:, v], adj[:, :v, v])
            if v:
                bce = nn.functional.binary_cross_entropy_with_logits(edge_logits, adj[:, :v, v], reduction="none")
                loss = loss + bce.sum(1)
            states.append(state)
            h_graph = state
        return loss

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Greedy decode: (B, n) types and (B, n, n) 0/1 adjacency (validity is the codec's job)."""
        n = self.cfg.n_nodes
        h_graph = torch.tanh(self.from_z(z))
        states: list[torch.Tensor] = []
        types = torch.zeros(z.shape[0], n, dtype=torch.long)
        adj = torch.zeros(z.shape[0], n, n)
        for v in range(n):
            types[:, v] = self.type_mlp(torch.cat([h_graph, z], 1)).argmax(1)
            _, edges_v, state = self._step(h_graph, states, types[:, v])
            adj[:, :v, v] = edges_v
            states.append(state)
            h_graph = state
        return types.numpy(), adj.numpy().astype(np.int8)

    def loss(self, types, adj, rng: torch.Generator | None = None) -> torch.Tensor:
        mu, logvar = self.encode(types, adj)
        eps = torch.randn(mu.shape, generator=rng)
        z = mu + eps * torch.exp(0.5 * logvar)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
        return (self.reconstruction_loss(z, types, adj) + self.cfg.beta * kl).mean()


class NB201Codec:
    """NB201 architecture ids <-> op-node graphs (input, 6 edge-op nodes, output)."""

    def __init__(self) -> None:
        from nasbench_harness.registry import get_search_space
        from nasbench_harness.tasks.spaces.nb201 import OP_NODE_ADJ

        self.space = get_search_space("nb201")
        self.adj = OP_NODE_ADJ.astype(np.int8)
        self.n_types = len(self.space.op_names)
        self.n_nodes = self.adj.shape[0]

    def to_graphs(self, arch_ids) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.space.to_graph(list(arch_ids))
        return torch.as_tensor(np.asarray(g.ops, dtype=np.int64)), torch.as_tensor(np.asarray(g.adj, dtype=np.float32))

    def to_ids(self, types: np.ndarray, adj: np.ndarray) -> list[str | None]:
        """Canonical arch id of each decoded graph, or None when it is no NB201 cell."""
        from nasbench_harness.tasks.spaces.nb201 import arch_str

        last = self.n_types - 1
        out: list[str | None] = []
        for t, a in zip(types, adj, strict=True):
            ok = t[0] == 0 and t[-1] == last and np.all((t[1:-1] > 0) & (t[1:-1] < last)) and np.array_equal(a, self.adj)
            out.append(self.space.canonical_id(arch_str(t[1:-1] - 1)) if ok else None)
        return out


def train_dvae(
    codec: NB201Codec,
    arch_ids,
    *,
    seed: int,
    hidden: int = 64,
    latent: int = 16,
    epochs: int = 8,
    batch: int = 64,
    lr: float = 5e-3,
    checkpoint: Path | None = None,
) -> DVAE:
    """Fit a D-VAE on ``arch_ids`` (label-free) with Adam; deterministic given ``seed``.

    With ``checkpoint``, the model, optimiser and generator state are written there after every
    epoch, and a training that finds the file resumes after its last epoch: a run killed and
    restarted ends with the same weights as an uninterrupted one (the paper-scale D-VAE takes
    hours). ``model.training_time`` holds the wall and CPU seconds summed over the sessions.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = DVAE(DVAEConfig(codec.n_types, codec.n_nodes, hidden, latent))
    types, adj = codec.to_graphs(arch_ids)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    done, spent = 0, {"wall": 0.0, "cpu": 0.0}
    if checkpoint is not None and Path(checkpoint).is_file():
        blob = torch.load(checkpoint, weights_only=True)
        model.load_state_dict(blob["model"])
        opt.load_state_dict(blob["opt"])
        gen.set_state(blob["gen"])
        done, spent = int(blob["epoch"]), dict(blob["spent"])
    for epoch in range(done, epochs):
        wall, cpu = time.perf_counter(), time.process_time()
        order = torch.randperm(len(types), generator=gen)
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            opt.zero_grad()
            model.loss(types[idx], adj[idx], gen).backward()
            opt.step()
        spent = {"wall": spent["wall"] + time.perf_counter() - wall, "cpu": spent["cpu"] + time.process_time() - cpu}
        if checkpoint is not None:
            state = {"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(), "epoch": epoch + 1, "spent": spent}
            artefacts.write_atomic(Path(checkpoint), lambda tmp, state=state: torch.save(state, tmp))
    model.eval()
    model.training_time = spent
    return model


@torch.no_grad()
def embed(model: DVAE, codec: NB201Codec, arch_ids, batch: int = 2048) -> np.ndarray:
    """Latent means of ``arch_ids`` (n, latent) float32."""
    types, adj = codec.to_graphs(arch_ids)
    out = [model.encode(types[i : i + batch], adj[i : i + batch])[0] for i in range(0, len(types), batch)]
    return torch.cat(out).numpy().astype(np.float32)


def decode_ids(model: DVAE, codec: NB201Codec, z) -> list[str | None]:
    types, adj = model.decode(torch.as_tensor(np.asarray(z, dtype=np.float32)))
    return codec.to_ids(types, adj)


def autoencoder_quality(model: DVAE, codec: NB201Codec, held_out, *, n_random: int = 1000, seed: int = 0) -> dict:
    """D-VAE's measures: reconstruction accuracy of held-out cells (greedy decode of the latent
    mean equals the input) and validity / uniqueness of decodes from z ~ N(0, I)."""
    held_out = list(held_out)
    canon = [codec.space.canonical_id(a) for a in held_out]
    rec = decode_ids(model, codec, embed(model, codec, held_out))
    z = np.random.default_rng(seed).standard_normal((n_random, model.cfg.latent)).astype(np.float32)
    dec = decode_ids(model, codec, z)
    valid = [d for d in dec if d is not None]
    return {
        "reconstruction": float(np.mean([r == c for r, c in zip(rec, canon, strict=True)])),
        "validity": len(valid) / n_random,
        "uniqueness": len(set(valid)) / max(len(valid), 1),
        "n_held_out": len(held_out),
        "n_random": n_random,
    }


def latent_smoothness(model: DVAE, codec: NB201Codec, arch_ids, radii=(0.25, 0.5, 1.0, 2.0, 4.0), *, seed: int = 0) -> dict:
    """What a step of length r in a random direction from a cell's latent mean decodes to: the
    share of steps giving the same cell, another valid cell, or an invalid graph, per radius
    (the ascent needs "another valid cell" at the distances it travels)."""
    arch_ids = list(arch_ids)
    start = [codec.space.canonical_id(a) for a in arch_ids]
    z = embed(model, codec, arch_ids)
    u = np.random.default_rng(seed).standard_normal(z.shape).astype(np.float32)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    out = {}
    for r in radii:
        dec = decode_ids(model, codec, z + r * u)
        same = np.mean([d == s for d, s in zip(dec, start, strict=True)])
        invalid = np.mean([d is None for d in dec])
        out[float(r)] = {"same": float(same), "other": float(1 - same - invalid), "invalid": float(invalid)}
    return out
