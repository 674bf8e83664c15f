"""The language-model surrogate ``lm``: tokens per space, conformance, local checkpoints, pre-training and its cache."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import torch
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods import lm
from nasbench_harness.methods.base import ArchSet
from nasbench_harness.methods.lm import LMPredictor, tokenise
from nasbench_harness.registry import get_search_space
from nasbench_harness.testing import check_predictor, toy_task

TINY = {"hidden": 16, "layers": 1, "heads": 2, "epochs": 60, "lr": 3e-3, "pretrain": "false"}
# measured: the smallest setting whose masked-token accuracy clearly beats the baseline on the toy cells
TINY_PRETRAIN = {"hidden": 32, "pretrain_pool": 3000, "pretrain_held_out": 500, "pretrain_epochs": 3, "pretrain_batch": 128, "pretrain_lr": 3e-3}


def fit_predict(params, task=None, seed=0, n=60):
    task = task or toy_task()
    rows = np.random.default_rng(0).permutation(len(task))
    model = LMPredictor(seed=seed, **params)
    model.fit(ArchSet(task, np.sort(rows[:n])), task.train_scores[np.sort(rows[:n])])
    return model, model.predict(ArchSet(task, np.sort(rows[n:])))


# -- tokens -----------------------------------------------------------------------------
def test_nb201_tokens_are_its_six_edge_ops_in_arch_string_order():
    space = get_search_space("nb201")
    arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    (text,) = tokenise(space, [arch]).texts()
    assert text == "nor_conv_3x3 none skip_connect avg_pool_3x3 nor_conv_1x1 nor_conv_3x3"


def test_tnb_macro_tokens_follow_the_module_chain_and_are_ragged():
    space = get_search_space("tnb101-macro")
    tokens = tokenise(space, ["64-41414-basic", "64-1234-basic"])
    assert tokens.texts() == [
        "channel_x2_stride_2 normal channel_x2_stride_2 normal channel_x2_stride_2",
        "normal channel_x2 stride_2 channel_x2_stride_2",
    ]
    assert tokens.ids[1, -1] == lm.PAD  # the shorter network is padded


def test_darts_tokens_are_the_genotype_pairs_of_both_cells():
    space = get_search_space("darts")
    arch = space.sample(1, np.random.default_rng(0))[0]
    tokens = tokenise(space, [arch])
    words = tokens.texts()[0].split(" ")
    normal, reduce = words[:16], words[16:]
    assert len(normal) == len(reduce) == 16
    from nasbench_harness.tasks.spaces import darts

    geno = darts.parse(arch)
    assert normal[0::2] == [darts.OPS[o] for _, o in geno[0]] and reduce[1::2] == [f"<{i}" for i, _ in geno[1]]
    assert tokens.ids[0, 17] == lm.SEP


def test_graph_tokens_list_each_node_with_its_predecessors():
    space = get_search_space("nbgraph")
    (text,) = tokenise(space, ["0,1,2,1|gcn,gin,fc,cheb"]).texts()
    # node k+1 reads link[k]; nodes nobody reads (3: fc, 4: cheb) feed the output
    assert text == "input gcn <0 gin <1 fc <2 cheb <1 output <3 <4"


def test_product_spaces_are_detected_exactly():
    """NB201 and TransNAS micro are every combination of per-edge ops: nothing to pre-train on."""
    assert lm._is_product(get_search_space("nb201"))
    assert lm._is_product(get_search_space("tnb101-micro"))
    assert not lm._is_product(get_search_space("tnb101-macro"))  # constrained counts couple the modules
    ids = get_search_space("nb201").enumerate()
    assert not lm.is_product_space(tokenise(get_search_space("nb201"), ids[:-1]))  # one cell missing


# -- conformance ----------------------------------------------------------------------------
def test_conformance_from_scratch_with_losses():
    facts = check_predictor("lm", params=TINY, losses=["hr"])
    assert facts["kendall_tau"] > 0.3


def test_label_and_params_are_validated(tmp_path):
    assert LMPredictor.label_for({}) == "LM (from scratch)"
    assert LMPredictor.label_for({"model_path": str(tmp_path)}) == "LM (fine-tuned checkpoint)"
    with pytest.raises(ConfigError, match="pretrain"):
        LMPredictor(pretrain="sometimes")
    with pytest.raises(ConfigError, match="not a local folder"):
        LMPredictor(model_path="bert-base-uncased")  # a hub name is refused, never fetched
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


def test_threads_are_the_torch_threads_it_trains_on():
    torch.set_num_threads(2)
    model, _ = fit_predict({**TINY, "epochs": 2})
    assert torch.get_num_threads() == 1 == model.threads


def test_a_diverging_cell_is_recorded_as_failed():
    from dataclasses import asdict

    from nasbench_harness.matrix import Cell
    from nasbench_harness.runner import execute_cell

    params = {**TINY, "lr": 1e30, "epochs": 20}
    cell = Cell(protocol="predict", task="toy/synthetic", predictor="lm", encoding="graph", budget=60, seed=0,
                protocol_params={"eval_set": "space"}, params=params, loss="mse")
    payload = {"cell": asdict(cell), "key": "k", "code_version": "test", "data_checksum": "x", "threads": 1}
    (row,) = execute_cell(payload)
    assert row["status"] == "failed"
    assert "diverged" in row["error"] or "NaN" in row["error"]


# -- local checkpoints --------------------------------------------------------------------------
def _tiny_checkpoint(folder, with_tokenizer: bool):
    """A random tiny BERT saved with save_pretrained, and (optionally) a word-piece tokenizer of the toy space's words."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    if with_tokenizer:
        words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "input", "output", "conv3x3", "conv1x1", "maxpool",
                 "<", *map(str, range(6))]
        pieces = Tokenizer(models.WordPiece(vocab={w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
        pieces.pre_tokenizer = pre_tokenizers.BertPreTokenizer()  # '<0' -> '<', '0'
        PreTrainedTokenizerFast(
            tokenizer_object=pieces, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
            mask_token="[MASK]",
        ).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("with_tokenizer", [True, False])
def test_a_local_checkpoint_is_fine_tuned(tmp_path, with_tokenizer):
    folder = _tiny_checkpoint(tmp_path / "ckpt", with_tokenizer)
    params = {"model_path": str(folder), "epochs": 100, "lr": 3e-3}
    facts = check_predictor("lm", params=params)
    model = LMPredictor(seed=0, **params)
    source = model._source(ArchSet(toy_task(), np.arange(3)))
    tokens = tokenise(toy_task().space, toy_task().ids[:3])
    ours = tokens.ids
    if with_tokenizer:  # the text went through the checkpoint's own word pieces: every '<j' is '<', 'j'
        assert source.input_ids.shape[1] == max(len(t.split()) + t.count("<") for t in tokens.texts())
        _, tokenizer = lm.load_checkpoint(str(folder))
        assert not (source.input_ids == tokenizer.unk_token_id).any()  # every word was in its vocabulary
    else:
        assert np.array_equal(source.input_ids.numpy(), ours)
    assert facts["kendall_tau"] > 0.1


# -- pre-training ---------------------------------------------------------------------------------
def test_pretraining_is_cached_beside_the_data_and_reloaded_exactly(tmp_path):
    from nasbench_harness.tasks.cache import DataCache

    task = dataclasses.replace(toy_task(), cache=DataCache(tmp_path))
    params = {**TINY, **TINY_PRETRAIN, "pretrain": "true"}
    lm._MEMO.clear()
    first, pred_first = fit_predict(params, task)
    (saved,) = (tmp_path / "_models" / "lm").glob("toy-0-*.safetensors")
    info = first.pretrain_info
    assert 0 < info["baseline_accuracy"] < 1 and info["masked_tokens"] > 100
    assert info["learns"] and info["mlm_accuracy"] > info["baseline_accuracy"] + 2 * info["standard_error"]
    lm._MEMO.clear()  # a new process: read from disk, not retrained
    again, pred_again = fit_predict(params, task)
    assert again.pretrain_info == info
    np.testing.assert_allclose(pred_again, pred_first, rtol=1e-6)
    assert list(saved.parent.glob("*.tmp")) == []
    _, scratch = fit_predict({**params, "pretrain": "false"}, task)
    assert not np.allclose(scratch, pred_first)


def test_auto_skips_product_spaces_and_true_refuses_them():
    from nasbench_harness.tasks.catalog import Task, TaskSpec

    space = get_search_space("nb201")
    ids = space.enumerate()[:200]
    score = np.array([t.count("conv") for t in ids], float)
    spec = TaskSpec(name="nb201/synthetic", space="nb201", dataset="synthetic", train_metric="a", eval_metric="b")
    import pandas as pd

    task = Task(spec=spec, space=space, ids=ids, train=score, eval=score, extras=pd.DataFrame(index=range(200)),
                data_checksum="x")
    model, pred = fit_predict({**TINY, "pretrain": "auto"}, task, n=100)
    assert model.pretrain_info == {"skipped": "product space"} and np.isfinite(pred).all()
    with pytest.raises(ConfigError, match="full product"):
        fit_predict({**TINY, "pretrain": "true"}, task, n=100)
