"""Language-model surrogate ``lm``: a small BERT encoder over op-level tokens, fine-tuned as a regressor.

The transferable-surrogates paper fine-tunes an off-the-shelf pre-trained language model on
architecture strings. No pre-trained weights can be fetched here (nothing touches the network:
offline mode is forced and every load is ``local_files_only``), so:

- ``model_path`` (a local folder written by ``save_pretrained``) loads any checkpoint with
  ``AutoModel``; when the folder also holds a tokenizer, each architecture is rendered as text
  (its op-level tokens joined by spaces, e.g. ``nor_conv_3x3 skip_connect ...``) and tokenised
  by it; otherwise the op vocabulary's ids index the checkpoint's embeddings (resized if smaller).
- without it the method is "LM (from scratch)": a fresh ``transformers.BertModel``
  (``LMPredictor.label_for(params)`` gives the label; a report tells the two apart by the
  ``params`` column: ``model_path`` present or not).

Tokens come from each space's own API, never from parsing one id format: spaces whose wiring is
fixed by position (NB201, TransNAS micro and macro) give the sequence of their ``to_graph`` node
ops between input and output; DARTS gives its genotype (``darts.parse``): per cell, each of the
8 edges as (op, ``<input``) pairs; every other space (NB101, NAS-Bench-Graph, plugins) gives, per
``to_graph`` node in topological order, its op followed by one ``<j`` token per predecessor j.

Self-supervised pre-training (masked-token modelling, ``pretrain``) runs only where the strings
carry structure a model can learn. NB201 and TransNAS micro are the full Cartesian product of
their per-edge op choices: every op is independent of the others, so the best masked-token
guess is the position's op frequency and pre-training cannot learn anything; this is checked
exactly (unique token rows == product of per-position choices) and pre-training is skipped.
Elsewhere (NB101's 423,624 cells, NAS-Bench-Graph, TransNAS macro, DARTS genotypes sampled by
``DartsSpace.sample``) the encoder is pre-trained on the space's strings and its masked-token
accuracy on held-out strings is compared with the op-frequency baseline (the better of the
per-position and the global most frequent token): with ``pretrain: auto`` the weights are used
only when they beat the baseline by more than two standard errors. Pre-trained weights (with
that measurement) are cached per (space, seed, model and pre-training config) beside the
task's data cache in ``_models/lm/`` (safetensors, atomic write, keyed by the config, this
file's digest and the space's data checksum).

Fine-tuning reuses the project's one training loop (``NeuralPredictor``/``train_model``:
min-max scaled targets, AdamW, any registered loss, NaN -> ``TrainingDivergedError``). So does
pre-training: the masked-token model returns each sequence's cross-entropy as its "score" and a
loss that averages it, so no second loop exists.

Hyper-parameters (lr, epochs, size, dropout) were chosen by Kendall tau on TransNAS-Bench-101
micro ``class_scene`` (validation metric, 156 training cells, 3 seeds): a task outside those the
LM is compared on, never their eval metric (docs/LM.md).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from nasbench_harness import artefacts
from nasbench_harness.errors import ConfigError, HarnessError
from nasbench_harness.methods.base import ArchSet
from nasbench_harness.methods.neural.training import NeuralPredictor, TrainConfig, seeded, train_model
from torch import nn

# Nothing is ever fetched: set before transformers / huggingface_hub read them (and every load
# also passes local_files_only=True, in case they were imported earlier).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD, UNK, CLS, SEP, MASK = range(len(SPECIAL))
MODEL_DIR = Path("_models") / "lm"
PRETRAIN_CHOICES = ("auto", "true", "false")


# ------------------------------------------------------------------------------ tokens
@dataclass(frozen=True)
class Tokens:
    """Token ids of some architectures: (n, L) int64, PAD-padded, [CLS] first; ``vocab`` names the ids."""

    ids: np.ndarray
    vocab: tuple[str, ...]

    def texts(self) -> list[str]:
        """Each architecture as text: its op-level words joined by spaces (special tokens dropped)."""
        words = np.array(self.vocab, dtype=object)
        return [" ".join(words[row[row >= len(SPECIAL)]]) for row in self.ids]


def _pack(grid: np.ndarray) -> np.ndarray:
    """Rows of token ids with PAD gaps -> left-packed rows, [CLS] prepended, trimmed to the longest."""
    order = np.argsort(grid == PAD, axis=1, kind="stable")
    packed = np.take_along_axis(grid, order, axis=1)
    width = int((packed != PAD).sum(axis=1).max(initial=0))
    return np.concatenate([np.full((len(grid), 1), CLS, np.int64), packed[:, :width]], axis=1)


def op_sequence_tokens(space, ids) -> Tokens:
    """The ops of the ``to_graph`` nodes between input and output, in node order (wiring fixed by position)."""
    g = space.to_graph(list(ids))
    names = tuple(g.op_names)
    fixed = [names.index(n) for n in ("input", "output") if n in names]
    keep = (g.ops >= 0) & ~np.isin(g.ops, fixed)
    grid = np.where(keep, g.ops.astype(np.int64) + len(SPECIAL), PAD)
    return Tokens(_pack(grid), SPECIAL + names)


def graph_tokens(space, ids) -> Tokens:
    """Per ``to_graph`` node (topological order): its op, then ``<j`` for every predecessor j."""
    g = space.to_graph(list(ids))
    names = tuple(g.op_names)
    n, size = g.ops.shape
    base = len(SPECIAL) + len(names)
    grid = np.full((n, size, size + 1), PAD, np.int64)
    grid[:, :, 0] = np.where(g.ops >= 0, g.ops.astype(np.int64) + len(SPECIAL), PAD)
    # grid[b, i, 1 + j] = "<j" when j -> i is an edge
    grid[:, :, 1:] = np.where(g.adj.transpose(0, 2, 1) > 0, base + np.arange(size), PAD)
    vocab = SPECIAL + names + tuple(f"<{j}" for j in range(size))
    return Tokens(_pack(grid.reshape(n, -1)), vocab)


def darts_tokens(space, ids) -> Tokens:
    """DARTS genotypes (``darts.parse``): per cell, its 8 edges as (op, ``<input``) pairs; [SEP] between cells."""
    from nasbench_harness.tasks.spaces import darts

    geno = np.array([darts.parse(a) for a in ids], np.int64).reshape(len(ids), 2, 8, 2)
    n_ops = len(darts.OPS)
    ops = geno[..., 1] + len(SPECIAL)
    inputs = geno[..., 0] + len(SPECIAL) + n_ops
    pairs = np.stack([ops, inputs], axis=-1).reshape(len(ids), 2, 16)
    sep = np.full((len(ids), 1), SEP, np.int64)
    row = np.concatenate([np.full((len(ids), 1), CLS, np.int64), pairs[:, 0], sep, pairs[:, 1]], axis=1)
    vocab = SPECIAL + tuple(darts.OPS) + tuple(f"<{j}" for j in range(6))
    return Tokens(row, vocab)


# Spaces whose wiring is fixed by the op positions, and spaces with a native compact form; any
# other space (NB101, NAS-Bench-Graph, plugins) is tokenised from its graph.
TOKENISERS = {
    "nb201": op_sequence_tokens,
    "tnb101-micro": op_sequence_tokens,
    "tnb101-macro": op_sequence_tokens,
    "darts": darts_tokens,
}


def tokenise(space, ids) -> Tokens:
    return TOKENISERS.get(space.name, graph_tokens)(space, ids)


def is_product_space(tokens: Tokens) -> bool:
    """True when the rows are exactly every combination of the per-position choices.

    Then each position is independent of the others: the best masked-token guess is the
    position's own frequency, so masked-token pre-training has nothing to learn.
    """
    ids = tokens.ids
    if (ids == PAD).any():
        return False
    choices = [len(np.unique(ids[:, j])) for j in range(ids.shape[1])]
    n_unique = len(np.unique(ids, axis=0))
    return n_unique == int(np.prod(np.asarray(choices, dtype=np.float64)))


# ------------------------------------------------------------------------------ models
def max_positions(space) -> int:
    """Position-table size: the longest token row any tokeniser makes for the space (graph tokens: every node
    with every predecessor), so pre-training, fine-tuning and scoring share one table."""
    return max(64, int(space.max_nodes) * (int(space.max_nodes) + 1) + 2)


def bert_config(vocab_size: int, max_len: int, p: dict):
    from transformers import BertConfig

    hidden = int(p["hidden"])
    return BertConfig(
        vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=int(p["layers"]),
        num_attention_heads=int(p["heads"]), intermediate_size=2 * hidden,
        hidden_dropout_prob=float(p["dropout"]), attention_probs_dropout_prob=float(p["dropout"]),
        max_position_embeddings=max_len, type_vocab_size=1, pad_token_id=PAD,
    )


class LMRegressor(nn.Module):
    """Any transformers encoder + a linear head on the mean of its token states -> one score per architecture."""

    def __init__(self, encoder: nn.Module, hidden: int, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp_min(1.0)
        return self.head(self.drop(pooled)).squeeze(-1)


class MaskedTokenModel(nn.Module):
    """BERT masked-LM whose "score" is each sequence's masked-token cross-entropy (for the shared loop).

    Masks ``mask_prob`` of the op tokens of each sequence (at least one) with [MASK], drawing from
    the global torch RNG, which the shared loop seeds and keeps per member.
    """

    def __init__(self, config, mask_prob: float) -> None:
        super().__init__()
        from transformers import BertForMaskedLM

        self.mlm = BertForMaskedLM(config)
        self.mask_prob = mask_prob

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        masked, labels = mask_tokens(input_ids, self.mask_prob, None)
        logits = self.mlm(input_ids=masked, attention_mask=(input_ids != PAD).long()).logits
        ce = nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100, reduction="none")
        chosen = (labels != -100).to(ce.dtype)
        return (ce * chosen).sum(1) / chosen.sum(1).clamp_min(1.0)


def mask_tokens(input_ids: torch.Tensor, prob: float, gen: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """([MASK]-ed ids, labels with -100 where not masked); at least one op token per sequence is masked."""
    maskable = input_ids >= len(SPECIAL)
    draw = torch.rand(input_ids.shape, generator=gen)
    chosen = maskable & (draw < prob)
    # force the maskable token with the smallest draw where nothing was chosen
    forced = torch.where(maskable, draw, torch.full_like(draw, 2.0)).argmin(1)
    none = ~chosen.any(1) & maskable.any(1)
    chosen[none, forced[none]] = True
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    return torch.where(chosen, torch.full_like(input_ids, MASK), input_ids), labels


# --------------------------------------------------------------------------- pre-training
@dataclass(frozen=True)
class PretrainConfig:
    hidden: int
    layers: int
    heads: int
    dropout: float
    pool: int  # strings drawn from the space for training (the rest of the universe unused)
    held_out: int  # strings never trained on, for the masked-token accuracy
    epochs: int
    batch_size: int
    lr: float
    mask_prob: float = 0.15


CODE_DIGEST = artefacts.code_digest([Path(__file__)])
_MEMO: dict[str, tuple[dict | None, dict]] = {}  # key -> (encoder state or None, info)


def universe_ids(space, seed: int, size: int) -> np.ndarray:
    """Strings of the space to pre-train on: its enumeration (a seeded sample of ``size``), or seeded draws."""
    rng = np.random.default_rng(seed)
    if getattr(space, "finite", True):
        try:
            ids = space.enumerate()
        except NotImplementedError:
            ids = None
        if ids is not None:
            return ids if len(ids) <= size else ids[np.sort(rng.choice(len(ids), size, replace=False))]
    if hasattr(space, "sample"):
        return space.sample(size, rng)
    raise ConfigError(f"Space '{space.name}' can neither enumerate nor sample architectures; use pretrain: 'false'.")


def _key(space, cfg: PretrainConfig, seed: int, cache) -> str:
    try:
        data = space.data_checksum(cache) if cache is not None else "no-cache"
    except HarnessError:  # a space with no table of its own (synthetic): its strings come from code alone
        data = "no-table"
    parts = {"space": space.name, "seed": seed, "cfg": asdict(cfg), "code": CODE_DIGEST, "data": data}
    return artefacts.key(parts)


def _baseline(train: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the op-frequency guess on the masked positions: the better of per-position and global majority."""
    rows, cols = np.nonzero(labels != -100)
    truth = labels[rows, cols]
    op = train >= len(SPECIAL)
    counts = np.zeros((train.shape[1], int(max(train.max(), truth.max())) + 1), np.int64)
    np.add.at(counts, (np.nonzero(op)[1], train[op]), 1)
    per_position = (counts.argmax(1)[cols] == truth).mean()
    overall = (counts.sum(0).argmax() == truth).mean()
    return float(max(per_position, overall))


def pretrain(space, seed: int, cfg: PretrainConfig, threads: int = 1) -> tuple[dict, dict]:
    """Masked-token pre-training on the space's strings: (encoder state, info with held-out accuracy vs baseline)."""
    t0 = time.perf_counter()
    ids = universe_ids(space, seed, cfg.pool + cfg.held_out)
    tokens = tokenise(space, ids)
    perm = np.random.default_rng(seed + 1).permutation(len(ids))
    n_held = min(cfg.held_out, len(ids) // 5)  # small spaces (TransNAS macro: 3,256) keep most strings for training
    held, train = tokens.ids[perm[:n_held]], tokens.ids[perm[n_held:]]
    config = bert_config(len(tokens.vocab), max_positions(space), asdict(cfg))
    tc = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=0.01, seed=seed, threads=threads)
    with seeded(seed):
        model = MaskedTokenModel(config, cfg.mask_prob)
        # The model's "score" is each sequence's masked-token cross-entropy: the batch loss is their mean.
        out = train_model(model, (torch.as_tensor(train),), None, tc, lambda rows, y, state, gen: model(*rows).mean(), loss_name="masked_tokens")
    held_t = torch.as_tensor(held)
    masked, labels = mask_tokens(held_t, cfg.mask_prob, torch.Generator().manual_seed(seed + 2))
    model.eval()
    with torch.inference_mode():
        logits = model.mlm(input_ids=masked, attention_mask=(held_t != PAD).long()).logits
    chosen = labels != -100
    acc = float((logits.argmax(-1)[chosen] == labels[chosen]).float().mean())
    base = _baseline(train, labels.numpy())
    m = int(chosen.sum())
    se = float(np.sqrt(max(base * (1 - base), 1e-12) / m))
    info = {
        "mlm_accuracy": acc, "baseline_accuracy": base, "masked_tokens": m, "standard_error": se,
        "learns": bool(acc - base > 2 * se), "train_strings": len(train), "final_loss": float(out[-1]),
        "seconds": time.perf_counter() - t0, "vocab": list(tokens.vocab),
    }
    return model.mlm.bert.state_dict(), info


def load_or_pretrain(space, seed: int, cfg: PretrainConfig, cache, threads: int = 1) -> tuple[dict | None, dict]:
    """Pre-trained encoder weights of (space, seed, cfg): from memory, from ``<cache>/_models/lm``, or trained now.

    Returns (state or None when the space is a product space, info). ``cache`` None (synthetic
    tasks) keeps the weights in memory only.
    """
    key = _key(space, cfg, seed, cache)
    if key in _MEMO:
        return _MEMO[key]
    path = cache.root / MODEL_DIR / f"{space.name}-{seed}-{key}.safetensors" if cache is not None else None
    if path is not None and path.is_file():
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as f:
            info = json.loads(f.metadata()["info"])
        result = (load_file(str(path)), info)
    else:
        state, info = pretrain(space, seed, cfg, threads)
        if path is not None:
            from safetensors.torch import save_file

            tensors = {k: v.contiguous() for k, v in state.items()}
            artefacts.write_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata={"info": json.dumps(info)}))
        result = (state, info)
    _MEMO[key] = result
    return result


@functools.cache
def _is_product(space) -> bool:
    try:
        ids = space.enumerate() if getattr(space, "finite", True) else None
    except NotImplementedError:
        ids = None
    if ids is None or (tokenise(space, ids[:1000]).ids == PAD).any():  # ragged rows: not a product (cheap)
        return False
    return is_product_space(tokenise(space, ids))


# ------------------------------------------------------------------------------ checkpoints
_CHECKPOINTS: dict[str, tuple[nn.Module, Any]] = {}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def load_checkpoint(path: str) -> tuple[nn.Module, Any]:
    """(encoder, tokenizer or None) of a local checkpoint folder, read once per process; never the network."""
    if path not in _CHECKPOINTS:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging

        logging.disable_progress_bar()  # a cell's log is not a terminal

        try:
            encoder = AutoModel.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"model_path '{path}' is not a loadable transformers checkpoint ({type(exc).__name__}); "
                "give a folder written by save_pretrained (config.json + weights)."
            ) from None
        tokenizer = None  # no tokenizer files: the op vocabulary is used
        # Only a folder that holds a tokenizer: otherwise AutoTokenizer builds an empty default one from the config.
        if any((Path(path) / f).is_file() for f in TOKENIZER_FILES):
            try:
                tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            except (OSError, ValueError, TypeError) as exc:
                raise ConfigError(
                    f"The tokenizer in model_path '{path}' cannot be loaded ({type(exc).__name__}); fix or remove its "
                    "tokenizer files (the op vocabulary is used when there are none)."
                ) from None
        _CHECKPOINTS[path] = (encoder, tokenizer)
    return _CHECKPOINTS[path]


# ------------------------------------------------------------------------------ predictor
@dataclass(frozen=True)
class LMSource:
    """What the model reads for some architectures: token ids and attention mask."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor


class LMPredictor(NeuralPredictor):
    """BERT-style encoder over op-level tokens, fine-tuned as a regressor (see the module docstring)."""

    name = "lm"
    cost_family = "LM"
    description = (
        "Language-model surrogate: a small BERT (transformers) over op-level architecture tokens, fine-tuned as a "
        "regressor on any loss; 'LM (from scratch)' unless model_path names a local checkpoint; masked-token "
        "pre-training on the space's strings where it measurably learns (pretrain: auto)."
    )
    label_scratch: ClassVar[str] = "LM (from scratch)"
    label_checkpoint: ClassVar[str] = "LM (fine-tuned checkpoint)"
    inputs = "graph"  # tokens are built from the space's own API (graphs / genotypes), not an encoding matrix
    default_encoding = "graph"
    predict_chunk = 4096
    default_params: ClassVar[dict[str, Any]] = {
        **NeuralPredictor.train_params,
        "epochs": 800, "lr": 1e-3,  # chosen on tnb101-micro/class_scene (docs/LM.md)
        "hidden": 64, "layers": 2, "heads": 4, "dropout": 0.1,
        "model_path": None,
        "pretrain": "auto",  # "auto" | "true" | "false" (strings: quote them in YAML)
        "pretrain_pool": 100_000, "pretrain_held_out": 2000, "pretrain_epochs": 2,
        "pretrain_batch": 256, "pretrain_lr": 1e-3,
    }

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        p = self.params
        if str(p["pretrain"]).lower() not in PRETRAIN_CHOICES:
            raise ConfigError(f"Predictor 'lm' takes pretrain 'auto', 'true' or 'false', not {p['pretrain']!r}.")
        path = p["model_path"]
        if path is not None and not Path(str(path)).is_dir():
            raise ConfigError(
                f"model_path '{path}' is not a local folder; give a checkpoint folder written by save_pretrained "
                "(nothing is downloaded)."
            )
        if path is not None and str(p["pretrain"]).lower() == "true":
            raise ConfigError("Predictor 'lm' pre-trains its own encoder or loads model_path, not both; drop one.")
        self.pretrain_info: dict | None = None

    @classmethod
    def label_for(cls, params: dict) -> str:
        """The report's label: from scratch unless the params name a checkpoint."""
        return cls.label_checkpoint if params.get("model_path") else cls.label_scratch

    # -- hooks of NeuralPredictor ---------------------------------------------------------
    def _source(self, archs: ArchSet) -> LMSource:
        self._space, self._cache = archs.space, getattr(archs.task, "cache", None)
        tokens = tokenise(archs.space, archs.ids)
        if self.params["model_path"] is not None:
            encoder, tokenizer = load_checkpoint(str(self.params["model_path"]))
            if tokenizer is not None:  # cut at the checkpoint's position table, whatever the tokenizer's own limit
                limit = int(getattr(encoder.config, "max_position_embeddings", 512))
                enc = tokenizer(tokens.texts(), padding=True, truncation=True, max_length=limit, return_tensors="pt")
                return LMSource(enc["input_ids"].long(), enc["attention_mask"].long())
        ids = torch.as_tensor(tokens.ids)
        self._vocab = tokens.vocab
        return LMSource(ids, (ids != PAD).long())

    def _prepare(self, source: LMSource) -> None:
        self.pretrained = None
        mode = str(self.params["pretrain"]).lower()
        if self.params["model_path"] is not None or mode == "false":
            return
        if _is_product(self._space):
            if mode == "true":
                raise ConfigError(
                    f"Space '{self._space.name}' is the full product of its op choices: masked-token pre-training has "
                    "nothing to learn there; use pretrain 'auto' or 'false'."
                )
            self.pretrain_info = {"skipped": "product space"}
            return
        state, info = load_or_pretrain(self._space, self.seed, self.pretrain_config(), self._cache, self.threads)
        self.pretrain_info = info
        if mode == "true" or info["learns"]:
            self.pretrained = state

    def pretrain_config(self) -> PretrainConfig:
        p = self.params
        return PretrainConfig(
            hidden=int(p["hidden"]), layers=int(p["layers"]), heads=int(p["heads"]), dropout=float(p["dropout"]),
            pool=int(p["pretrain_pool"]), held_out=int(p["pretrain_held_out"]), epochs=int(p["pretrain_epochs"]),
            batch_size=int(p["pretrain_batch"]), lr=float(p["pretrain_lr"]),
        )

    def _tensors(self, source: LMSource, sl: slice) -> tuple[torch.Tensor, ...]:
        return source.input_ids[sl], source.attention_mask[sl]

    def _build(self) -> nn.Module:
        p = self.params
        if p["model_path"] is not None:
            encoder, tokenizer = load_checkpoint(str(p["model_path"]))
            encoder = copy.deepcopy(encoder)
            if tokenizer is None and encoder.get_input_embeddings().num_embeddings < len(self._vocab):
                encoder.resize_token_embeddings(len(self._vocab))
            return LMRegressor(encoder, int(encoder.config.hidden_size), float(p["dropout"]))
        from transformers import BertModel

        encoder = BertModel(bert_config(len(self._vocab), max_positions(self._space), p), add_pooling_layer=False)
        if self.pretrained is not None:
            encoder.load_state_dict(self.pretrained)
        return LMRegressor(encoder, int(p["hidden"]), float(p["dropout"]))
