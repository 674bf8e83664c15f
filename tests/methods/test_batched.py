"""Batched training of the torch predictors (``fit_members``): a member's numbers never depend on its group.

Each test compares predictions bit for bit: a member fitted alone (a group of one through the
same stacked code), in a group of 5 (split over stacks of 2) and in a group of 30 (other
seeds, other training rows, other losses beside it), and a plain one-model torch loop
written out here as the reference (the model's own ``forward``, as the code before stacking ran it).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nasbench_harness.methods.base import ArchSet
from nasbench_harness.methods.neural import training
from nasbench_harness.methods.neural.stacked import is_stackable
from nasbench_harness.methods.neural.training import fit_members, normalise_targets, predict_members_of, seeded
from nasbench_harness.registry import load
from nasbench_harness.testing import toy_task

EPOCHS = 8


@pytest.fixture(scope="module")
def task():
    return toy_task()


def rows(task, seed: int, k: int = 30) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(len(task), size=k, replace=False))


def predictors(name: str, seeds, losses=("mse",), **params):
    cls = load("predictors", name)
    return [cls(seed=s, loss=load("losses", losses[i % len(losses)])(), epochs=EPOCHS, **{"hidden": 16, **params}) for i, s in enumerate(seeds)]


def fit_and_score(task, preds) -> list[np.ndarray]:
    seeds = [p.seed for p in preds]
    errors = fit_members(preds, [ArchSet(task, rows(task, s)) for s in seeds], [task.train_scores[rows(task, s)] for s in seeds])
    assert errors == [None] * len(preds)
    return predict_members_of(preds, ArchSet(task, np.arange(len(task))))


@pytest.mark.parametrize(
    ("name", "params", "losses"),
    [
        ("gcn", {}, ("mse", "listmle", "hr")),  # stacked: one pass over all members, losses mixed
        ("ap", {}, ("mse",)),  # stacked, flat encoding standardised per member
        ("gcn", {"dropout": 0.3, "batch_size": 16}, ("mse", "hr")),  # stacked: own dropout draws, own minibatches
        ("ap", {"dropout": 0.2, "batch_size": 8}, ("mape", "listmle")),
        ("gin", {"hidden": 16}, ("logistic",)),  # not stackable: members one after another
        ("transformer", {"hidden": 16}, ("mse",)),
    ],
)
def test_a_member_gets_the_same_numbers_alone_in_5_and_in_30(task, name, params, losses, monkeypatch):
    seeds = list(range(100, 130))
    in_30 = fit_and_score(task, predictors(name, seeds, losses, **params))
    monkeypatch.setattr(training, "STACK_SIZE", 2)  # the 5 run as stacks of 2, 2 and 1
    in_5 = fit_and_score(task, predictors(name, seeds[3:8], losses[3 % len(losses):] + losses[: 3 % len(losses)], **params))
    alone = fit_and_score(task, predictors(name, [seeds[3]], losses[3 % len(losses):], **params))[0]
    np.testing.assert_array_equal(in_30[3], alone)
    np.testing.assert_array_equal(in_5[0], alone)
    for i in range(5):
        np.testing.assert_array_equal(in_5[i], in_30[3 + i])
    assert len({float(p[0]) for p in in_30}) > 20  # the members really differ


def test_gcn_and_ap_stack_and_the_others_do_not():
    assert not is_stackable([torch.nn.Linear(2, 2)])
    from nasbench_harness.methods.neural.ap import APModel
    from nasbench_harness.methods.neural.gcn import GCNModel
    from nasbench_harness.methods.neural.gin import GINModel

    assert is_stackable([GCNModel(5, 8, 2, 0.0), GCNModel(5, 8, 2, 0.0)])
    assert is_stackable([APModel(6, 8, 2, 0.0)])
    assert not is_stackable([GINModel(5, 8, 2, 0.0)])
    assert not is_stackable([GCNModel(5, 8, 2, 0.0), APModel(6, 8, 2, 0.0)])


@pytest.mark.parametrize("name", ["gcn", "ap"])
def test_group_equals_a_plain_one_model_torch_loop(task, name, monkeypatch):
    """The reference: the model's own forward, AdamW, one exact full-batch step per epoch, scored
    in the predictor's chunks (the stacked scoring's sub-chunks are made small here to be exercised)."""
    from nasbench_harness.methods.base import TrainState

    monkeypatch.setattr(training, "SUBCHUNK", 64)
    chunk = 250
    preds = predictors(name, [7, 8, 9], ("mse", "hr", "mse"))
    for p in preds:
        p.predict_chunk = chunk
    grouped = fit_and_score(task, preds)
    for i, seed in enumerate([7, 8, 9]):
        p = predictors(name, [seed], (("mse", "hr", "mse")[i],))[0]
        archs = ArchSet(task, rows(task, seed))
        source = p._source(archs)
        p._prepare(source)
        loss = p.resolved_loss()
        config = p.train_config(loss)
        x = p._tensors(source, slice(None))
        y = torch.as_tensor(normalise_targets(task.train_scores[rows(task, seed)]), dtype=torch.float32)
        with seeded(seed):
            model = p._build()
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)
        state = TrainState(n_iterations=EPOCHS, n_epochs=EPOCHS, n_train=len(y))
        for epoch in range(EPOCHS):
            state.epoch = epoch
            value = loss(model(*x), y, state)
            opt.zero_grad()
            value.backward()
            opt.step()
            state.iteration += 1
        model.eval()
        source = p._source(ArchSet(task, np.arange(len(task))))
        with torch.inference_mode():
            ref = np.concatenate([
                model(*p._tensors(source, slice(s, s + chunk))).double().numpy() for s in range(0, len(task), chunk)
            ])
        np.testing.assert_array_equal(grouped[i], ref)


def test_a_diverging_member_fails_alone_and_the_others_are_unchanged(task):
    seeds = [1, 2, 3]
    preds = predictors("gcn", seeds)
    preds[1] = predictors("gcn", [2], lr=1e38)[0]
    errors = fit_members(preds, [ArchSet(task, rows(task, s)) for s in seeds], [task.train_scores[rows(task, s)] for s in seeds])
    assert errors[0] is None and errors[2] is None
    assert "Training diverged" in str(errors[1]) and preds[1].model is None
    with pytest.raises(Exception, match="diverged"):
        predictors("gcn", [2], lr=1e38)[0].fit(ArchSet(task, rows(task, 2)), task.train_scores[rows(task, 2)])
    scores = predict_members_of([preds[0], preds[2]], ArchSet(task, np.arange(len(task))))
    np.testing.assert_array_equal(scores[1], fit_and_score(task, predictors("gcn", [3]))[0])


def test_batched_fits_are_deterministic(task):
    a = fit_and_score(task, predictors("ap", range(4)))
    b = fit_and_score(task, predictors("ap", range(4)))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
