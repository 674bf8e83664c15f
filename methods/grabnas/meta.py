"""Meta-training data, meta-training and the on-disk cache of GraB-NAS's models.

Two settings (``setting`` protocol param):

- ``metad2a`` (the paper's): MetaD2A's database of ImageNet-32 sub-tasks x NB201 cells
  (cache table ``nb201-metad2a``: ~3,000 sub-tasks, ~4,600 rows, median one row per
  sub-task, plus each sub-task's 20 class ids; no image features). The same models serve
  every target dataset (fold ``all``).
- ``loo``: leave one NB201 dataset out: meta-train on the *train metric* (validation
  accuracy) of the two NB201 datasets that are not the target (fold = the target). These are
  strongly correlated with the target, so the support set alone is near-optimal there.

The models of one (setting, fold, seed) are trained once and stored under
``<data cache>/_models/grabnas/`` with a key of the setting, fold, seed, sizes, the digest
of this package's code and the checksums of the tables used; the D-VAE (label-free, trained
on the NB201 cells) is shared by every setting and fold of a seed.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from nasbench_harness import artefacts
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.grabnas.dvae import DVAE, DVAEConfig, NB201Codec, autoencoder_quality, embed, train_dvae
from nasbench_harness.methods.grabnas.surrogate import DeepKernelGP, SurrogateConfig

SETTINGS = ("metad2a", "loo")
NB201_DATASETS = {  # target dataset -> its task (the train metric is read from the task spec)
    "cifar10": "nb201/cifar10",
    "cifar100": "nb201/cifar100",
    "ImageNet16-120": "nb201/ImageNet16-120",
}
MODEL_DIR = Path("_models") / "grabnas"
RANKED = 200  # cells kept in the support ranking (a pruned candidate set skips some of its head)


@dataclass(frozen=True)
class MetaConfig:
    dvae_hidden: int = 64
    dvae_latent: int = 16
    dvae_epochs: int = 4
    dvae_held_out: int = 1000  # cells never seen by the D-VAE, for its reconstruction accuracy
    dvae_train_cells: int = 0  # 0: every other NB201 cell (tests use a few hundred)
    dvae_batch: int = 64
    dvae_lr: float = 5e-3
    meta_steps: int = 150
    batch_pairs: int = 1000  # the paper's minibatch bound: an exact kernel over all pairs would not fit
    support: int = 5  # B: support-set size
    token_dim: int = 32
    feature_dim: int = 16


DEFAULT_CONFIG = MetaConfig()  # tests swap in TEST_CONFIG
TEST_CONFIG = MetaConfig(  # tiny sizes for tests: seconds, not minutes; decodes still mostly valid
    dvae_hidden=16, dvae_latent=6, dvae_epochs=4, dvae_held_out=50, dvae_train_cells=600, dvae_batch=32, dvae_lr=1e-2,
    meta_steps=4, batch_pairs=120, token_dim=8, feature_dim=4,
)


# Named D-VAE sizes (the strategies' ``dvae_scale`` param; None keeps DEFAULT_CONFIG's). "paper" is the
# D-VAE paper's hidden 501 and latent 56, with the epochs that fit this session on a shared core (2.3 CPU-minutes an
# epoch on one core) and a smaller Adam rate for the 60x larger GRUs; see studies/grabnas/README.md.
DVAE_SCALES = {
    "small": {"dvae_hidden": 64, "dvae_latent": 16, "dvae_epochs": 4, "dvae_lr": 5e-3},
    "small-20ep": {"dvae_hidden": 64, "dvae_latent": 16, "dvae_epochs": 20, "dvae_lr": 5e-3},
    "paper": {"dvae_hidden": 501, "dvae_latent": 56, "dvae_epochs": 8, "dvae_lr": 1e-3},
}


def scaled(cfg: MetaConfig, scale: str | None) -> MetaConfig:
    """``cfg`` with the D-VAE sizes of ``scale`` (a ``DVAE_SCALES`` name; None: unchanged)."""
    if scale is None:
        return cfg
    if scale not in DVAE_SCALES:
        raise ConfigError(f"GraB-NAS's dvae_scale must be one of {list(DVAE_SCALES)}, got {scale!r}.")
    return replace(cfg, **DVAE_SCALES[scale])


def code_digest(pattern: str = "*.py") -> str:
    """Token digest of this package's source files matching ``pattern`` (part of every model key)."""
    return artefacts.code_digest(Path(__file__).parent.glob(pattern))


# ------------------------------------------------------------------ meta-training data
@dataclass
class MetaBatch:
    classes: torch.Tensor  # (T, c) long, 0 = absent
    perf: torch.Tensor  # (T, k, arch_dim + 1)
    perf_mask: torch.Tensor  # (T, k) bool
    task_of: torch.Tensor  # (n,) long: task row of each query pair
    arch: torch.Tensor  # (n, arch_dim)
    y: torch.Tensor  # (n,) standardised


@dataclass
class MetaData:
    """(task, cell, standardised accuracy) triples plus each task's class ids (if any)."""

    task: np.ndarray  # (m,) task index
    arch: np.ndarray  # (m,) index into the NB201 enumeration
    y: np.ndarray  # (m,) standardised accuracy
    classes: np.ndarray  # (n_tasks, c) class ids, 0 = none
    mean_acc: np.ndarray  # (15625,) mean raw accuracy over tasks (nan where never evaluated)
    groups: list[np.ndarray] = field(default_factory=list)  # row indices of each task

    def __post_init__(self) -> None:
        order = np.argsort(self.task, kind="stable")
        bounds = np.searchsorted(self.task[order], np.arange(len(self.classes) + 1))
        self.groups = [order[bounds[i] : bounds[i + 1]] for i in range(len(self.classes))]
        self.nonempty = np.flatnonzero([len(g) > 0 for g in self.groups])

    def sample(self, emb: np.ndarray, rng: np.random.Generator, batch_pairs: int, support: int) -> MetaBatch:
        """Whole tasks until ``batch_pairs`` query pairs: a random part of each task's rows (at most
        ``support``, never all of them) become its performance tokens, the rest are GP targets;
        class tokens are dropped for half the tasks (targets have none)."""
        tasks, perf_rows, query_rows = [], [], []
        n = 0
        per_task = max(1, batch_pairs // min(len(self.nonempty), 2))  # a batch spans at least two tasks when there are
        for t in rng.permutation(self.nonempty):
            rows = rng.permutation(self.groups[t])
            k = int(rng.integers(0, min(support, len(rows) - 1) + 1)) if len(rows) > 1 else 0
            q = rows[k : k + min(per_task, batch_pairs - n)]
            tasks.append(t)
            perf_rows.append(rows[:k])
            query_rows.append(q)
            n += len(q)
            if n >= batch_pairs:
                break
        kmax = max(1, max(len(p) for p in perf_rows))
        perf = np.zeros((len(tasks), kmax, emb.shape[1] + 1), np.float32)
        mask = np.zeros((len(tasks), kmax), bool)
        for i, p in enumerate(perf_rows):
            perf[i, : len(p), :-1] = emb[self.arch[p]]
            perf[i, : len(p), -1] = self.y[p]
            mask[i, : len(p)] = True
        classes = self.classes[tasks] * (rng.random(len(tasks)) < 0.5)[:, None]
        q = np.concatenate(query_rows)
        return MetaBatch(
            torch.as_tensor(classes, dtype=torch.long),
            torch.as_tensor(perf),
            torch.as_tensor(mask),
            torch.as_tensor(np.repeat(np.arange(len(tasks)), [len(r) for r in query_rows])),
            torch.as_tensor(emb[self.arch[q]]),
            torch.as_tensor(self.y[q], dtype=torch.float32),
        )


def _index(space) -> dict[str, int]:
    return {a: i for i, a in enumerate(space.enumerate().tolist())}


def metad2a_data(cache, space) -> MetaData:
    from nasbench_harness.tasks.importers.transfer import load_metad2a

    table, classes = load_metad2a(cache)
    index = _index(space)
    arch = np.array([index[space.canonical_id(a)] for a in table["arch"]], dtype=np.int64)
    acc = table["acc"].to_numpy(np.float64)
    n_tasks = int(table["task_id"].max()) + 1
    if classes is None:  # class lists not imported: performance tokens only
        classes = np.zeros((n_tasks, 1), np.int64)
    with np.errstate(invalid="ignore"):  # cells never evaluated get nan
        mean = np.bincount(arch, acc, minlength=len(index)) / np.bincount(arch, minlength=len(index))
    # Deviations (studies/grabnas/README.md): labels are standardised globally, over every sub-task,
    # where meta-test standardises per target; and a sub-task carries 1-2 rows, so the set encoder
    # sees at most one performance token per task in meta-training but the support set's five at
    # meta-test.
    return MetaData(table["task_id"].to_numpy(np.int64), arch, (acc - acc.mean()) / acc.std(), classes, mean)


def loo_data(cache, space, target: str) -> MetaData:
    from nasbench_harness.tasks.catalog import get_spec

    others = [d for d in NB201_DATASETS if d != target]
    cols = [get_spec(NB201_DATASETS[d]).train_metric for d in others]
    table = cache.read_table("nb201", ["arch_id", *cols])
    index = _index(space)
    rows = np.array([index[a] for a in table["arch_id"]], dtype=np.int64)
    task, arch, ys, raw = [], [], [], []
    for t, col in enumerate(cols):
        v = table[col].to_numpy(np.float64)
        ok = np.isfinite(v)
        task.append(np.full(ok.sum(), t))
        arch.append(rows[ok])
        ys.append((v[ok] - v[ok].mean()) / v[ok].std())
        full = np.full(len(index), np.nan)
        full[rows[ok]] = v[ok]
        raw.append(full)
    mean = np.nanmean(np.vstack(raw), axis=0)
    return MetaData(np.concatenate(task), np.concatenate(arch), np.concatenate(ys), np.zeros((len(cols), 1), np.int64), mean)


def meta_train(model: DeepKernelGP, data: MetaData, emb: np.ndarray, cfg: MetaConfig, seed: int) -> list[float]:
    """Adam on the negative log marginal likelihood of sampled minibatches; returns the loss trace."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    trace = []
    for _ in range(cfg.meta_steps):
        b = data.sample(emb, rng, cfg.batch_pairs, cfg.support)
        tv = model.encoder(b.classes, b.perf, b.perf_mask)
        loss = model.neg_mll(model.features(tv[b.task_of], b.arch), b.y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        trace.append(float(loss.detach()))
    model.eval()
    return trace


# ------------------------------------------------------------------------- the bundle
@dataclass
class MetaModels:
    """Everything a GraB-NAS-family strategy needs for one (setting, fold, seed)."""

    codec: NB201Codec
    dvae: DVAE
    gp: DeepKernelGP
    emb: np.ndarray  # (15625, latent) D-VAE latent means in enumeration order
    ids: np.ndarray  # (15625,) NB201 ids in enumeration order
    ranking: list[str]  # cells by mean meta-training accuracy, best first (the top ``RANKED``)
    support: int  # B
    info: dict  # timings, autoencoder quality, loss trace ends, key


def fold_of(setting: str, task_name: str) -> str:
    if setting not in SETTINGS:
        raise ConfigError(f"GraB-NAS setting '{setting}' is unknown; use one of {list(SETTINGS)}.")
    dataset = task_name.split("/", 1)[-1]
    if not task_name.startswith("nb201/") or dataset not in NB201_DATASETS:
        raise ConfigError(
            f"The GraB-NAS strategies meta-test on NB201 cifar10, cifar100 or ImageNet16-120 only, not '{task_name}'; "
            f"use one of {sorted(NB201_DATASETS.values())}."
        )
    return "all" if setting == "metad2a" else dataset


def dvae_split(ids: np.ndarray, cfg: MetaConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(held-out cells, training cells) of the seed's D-VAE: the held-out ones are never seen in training."""
    perm = np.random.default_rng(seed).permutation(len(ids))
    held, train = ids[perm[: cfg.dvae_held_out]], ids[perm[cfg.dvae_held_out :]]
    return held, train[: cfg.dvae_train_cells or len(train)]


def _dvae(cache, codec: NB201Codec, cfg: MetaConfig, seed: int, folder: Path):
    dvae_cfg = {k: v for k, v in asdict(cfg).items() if k.startswith("dvae_")}
    parts = {"what": "dvae", "seed": seed, "cfg": dvae_cfg, "code": code_digest("dvae.py")}  # label-free: its own code only
    path = folder / f"dvae-{artefacts.key(parts)}.pt"
    ids = codec.space.enumerate()
    if path.is_file():
        blob = torch.load(path, weights_only=True)
        model = DVAE(DVAEConfig(**blob["cfg"]))
        model.load_state_dict(blob["state"])
        model.eval()
        return model, blob["info"]
    held, train = dvae_split(ids, cfg, seed)
    checkpoint = path.with_suffix(".ckpt")  # per-epoch state: a killed training resumes there
    model = train_dvae(codec, train.tolist(), seed=seed, hidden=cfg.dvae_hidden, latent=cfg.dvae_latent, epochs=cfg.dvae_epochs,
                       batch=cfg.dvae_batch, lr=cfg.dvae_lr, checkpoint=checkpoint)
    spent = model.training_time
    info = {"dvae_seconds": spent["wall"], "dvae_cpu_seconds": spent["cpu"], **autoencoder_quality(model, codec, held.tolist(), seed=seed)}
    artefacts.write_atomic(path, lambda tmp: torch.save({"cfg": asdict(model.cfg), "state": model.state_dict(), "info": info}, tmp))
    checkpoint.unlink(missing_ok=True)
    return model, info


def load_or_train_dvae(seed: int, cfg: MetaConfig | None = None, cache=None, scale: str | None = None):
    """The seed's D-VAE alone (trained, or resumed from its per-epoch checkpoint, on first use)
    and its info: what tools/grabnas_generation.py trains in the background."""
    from nasbench_harness.tasks.cache import DataCache

    cache = cache or DataCache()
    return _dvae(cache, NB201Codec(), scaled(cfg or DEFAULT_CONFIG, scale), seed, cache.root / MODEL_DIR)


def _seed_as_after_dvae_training(seed: int, dvae_cfg: DVAEConfig) -> None:
    """Put torch's global generator where ``train_dvae`` leaves it (seeded, then the D-VAE's
    initial weights drawn; its training draws from a generator of its own).

    The GP's initial weights come from the global generator. Without this they depend on the
    process's history: a worker that reads the D-VAE from disk (trained by another worker or
    an earlier run) after other cells would meta-train a different surrogate under the same key.
    """
    torch.manual_seed(seed)
    DVAE(dvae_cfg)  # only its draws matter


def load_or_train(setting: str, task_name: str, seed: int, cfg: MetaConfig | None = None, cache=None, threads: int = 1,
                  scale: str | None = None) -> MetaModels:
    """The (setting, fold, seed) models, trained on first use and then read from disk.

    ``cache``: the data cache the target task was loaded from (None: the default one); the
    models are stored beside its tables. ``scale``: a ``DVAE_SCALES`` name (None: ``cfg``'s sizes).
    """
    from nasbench_harness.tasks.cache import DataCache

    cfg = scaled(cfg or DEFAULT_CONFIG, scale)
    cache = cache or DataCache()
    fold = fold_of(setting, task_name)
    codec = NB201Codec()
    folder = cache.root / MODEL_DIR
    torch.set_num_threads(max(1, int(threads)))
    dvae, dvae_info = _dvae(cache, codec, cfg, seed, folder)
    tables = ["nb201-metad2a"] if setting == "metad2a" else ["nb201"]
    parts = {"setting": setting, "fold": fold, "seed": seed, "cfg": asdict(cfg), "code": code_digest(), "data": [cache.content_digest(t) for t in tables]}
    key = artefacts.key(parts)
    path = folder / f"gp-{setting}-{fold}-{seed}-{key}.pt"
    ids = codec.space.enumerate()
    emb = embed(dvae, codec, ids.tolist())
    scfg = SurrogateConfig(arch_dim=cfg.dvae_latent, token_dim=cfg.token_dim, feature_dim=cfg.feature_dim)
    _seed_as_after_dvae_training(seed, dvae.cfg)
    gp = DeepKernelGP(scfg)
    if path.is_file():
        blob = torch.load(path, weights_only=True)
        gp.load_state_dict(blob["state"])
        gp.eval()
        info, support = blob["info"], blob["support"]
    else:
        data = metad2a_data(cache, codec.space) if setting == "metad2a" else loo_data(cache, codec.space, fold)
        t0 = time.perf_counter()
        trace = meta_train(gp, data, emb, cfg, seed)
        ranked = np.argsort(-np.nan_to_num(data.mean_acc, nan=-np.inf), kind="stable")
        support = ids[ranked[:RANKED]].tolist()
        info = {"meta_seconds": time.perf_counter() - t0, "nll_first": trace[0], "nll_last": float(np.mean(trace[-10:])), "key": key}
        artefacts.write_atomic(path, lambda tmp: torch.save({"state": gp.state_dict(), "info": info, "support": support}, tmp))
    return MetaModels(codec, dvae, gp, emb, ids, list(support), cfg.support, {**dvae_info, **info})
