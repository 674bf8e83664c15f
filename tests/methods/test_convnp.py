"""ConvNP: equivariance of SetConv + CNN, synthetic tasks and splits, rank averaging, learning."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.base import ArchSet
from nasbench_harness.methods.convnp import (
    ConvNPModel,
    ConvNPPredictor,
    ResCNN,
    SetConv,
    average_rank_scores,
    context_masks,
    default_task_length,
    margin_ranking_loss,
    meta_batches,
    synthetic_tasks,
)
from scipy.stats import kendalltau

# A small CNN keeps the learning tests fast: the meta-feature MLP is what has to learn there.
SMALL = {"channels": 8, "grid_size": 32, "blocks": 1, "n_latent": 2}


def fake_task(n: int = 400, d: int = 6, seed: int = 0):
    """Features in [0, 1]^d and a smooth score of them (plus a little noise)."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, d)).astype(np.float32)
    y = np.sin(2.5 * X[:, 0]) + 0.8 * X[:, 1] ** 2 - 0.5 * X[:, 2] + 0.02 * rng.standard_normal(n)
    return SimpleNamespace(ids=np.arange(n).astype(str), encoding=lambda kind: X), y


# -- equivariance -------------------------------------------------------------------------
@pytest.mark.parametrize("separable", [False, True])
def test_setconv_and_cnn_are_translation_equivariant_on_the_grid(separable):
    torch.manual_seed(0)
    grid = torch.linspace(-3, 3, 121)
    step = float(grid[1] - grid[0])
    enc, cnn = SetConv(2 * step), ResCNN(2, 8, 4, blocks=2, kernel=5, separable=separable)
    x = torch.tensor([[-0.5, 0.1, 0.4]])
    y = torch.tensor([[0.3, -1.0, 2.0]])
    m = torch.ones_like(x)
    shift = 7
    h0 = cnn(enc(x, y, m, grid))
    h1 = cnn(enc(x + shift * step, y, m, grid))
    # Away from the borders, shifting the inputs by k grid steps shifts the features by k.
    inner = slice(30, 80)
    torch.testing.assert_close(h1[..., 30 + shift : 80 + shift], h0[..., inner], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(h1[..., inner], h0[..., inner])  # and it is a real shift


def test_setconv_has_density_channel_and_normalised_signal():
    grid = torch.linspace(-1, 1, 41)
    enc = SetConv(0.1)
    x, y = torch.tensor([[0.0, 0.5]]), torch.tensor([[2.0, 2.0]])
    out = enc(x, y, torch.tensor([[1.0, 0.0]]), grid)  # second point masked out
    density, signal = out[0, 0], out[0, 1]
    assert int(density.argmax()) == 20  # peaks at the one context point
    assert density[30] < 1e-3  # the masked point contributes nothing
    assert torch.allclose(signal[15:26], torch.full((11,), 2.0), atol=1e-3)


def test_rbf_floor_changes_no_weight_that_matters():
    """The exponent floor (a CPU speed fix) only replaces weights below 1e-26."""
    from nasbench_harness.methods.convnp import rbf

    d = torch.linspace(-3, 3, 2001)
    log_scale = torch.tensor(np.log(0.05), dtype=torch.float32)
    exact = torch.exp(-0.5 * (d / 0.05) ** 2)
    w = rbf(d, log_scale)
    tiny = exact < 1e-20
    assert float((w[tiny] - exact[tiny]).abs().max()) < 1e-25 and float(w.min()) > 0
    torch.testing.assert_close(w[~tiny], exact[~tiny])


# -- synthetic tasks and splits -----------------------------------------------------------
def test_task_length_follows_the_paper():
    assert default_task_length(172) == 86 and default_task_length(860) == 86
    assert default_task_length(90) == 90 and default_task_length(50) == 50


def test_synthetic_tasks_resample_with_replacement_and_are_reproducible():
    a = synthetic_tasks(172, 10000, 86, np.random.default_rng(3))
    b = synthetic_tasks(172, 10000, 86, np.random.default_rng(3))
    assert a.shape == (10000, 86) and a.min() >= 0 and a.max() < 172
    np.testing.assert_array_equal(a, b)
    dup = np.mean([len(np.unique(r)) < 86 for r in a[:200]])
    assert dup > 0.9  # with replacement: repeats within a task are the rule
    assert len(np.unique(a)) == 172


def test_context_masks_sizes_freshness_and_reproducibility():
    batch_of = np.repeat(np.arange(200), 16)  # 200 batches of 16 tasks
    masks = context_masks(batch_of, 86, 10, np.random.default_rng(0)).reshape(200, 16, 86)
    counts = masks.sum(2)
    assert (counts == counts[:, :1]).all()  # one count per batch
    assert counts.min() >= 1 and counts.max() <= 10
    assert len(set(counts[:, 0].tolist())) == 10  # every count 1..10 occurs
    assert len({m.tobytes() for m in masks.reshape(-1, 86)}) > 2500  # fresh positions per task (k = 1 allows only 86)
    # Context positions are drawn uniformly over the task (no position favoured).
    freq = masks.mean((0, 1)) / masks.mean()
    assert np.abs(freq - 1).max() < 0.35
    np.testing.assert_array_equal(context_masks(batch_of, 86, 10, np.random.default_rng(0)).reshape(200, 16, 86), masks)


def test_vectorised_batches_equal_the_per_task_reference_construction():
    """meta_batches builds every step at once; a plain loop over batches and tasks with the
    same draws (tasks, epoch order, one count per batch, one key row per task) gives the same."""
    n, n_tasks, length, bs, epochs, kmax = 30, 40, 12, 16, 2, 5
    rows, masks = meta_batches(n, n_tasks=n_tasks, length=length, batch_size=bs, epochs=epochs, max_context=kmax, split=True, synthetic=True, rng=np.random.default_rng(7))
    rng = np.random.default_rng(7)
    tasks = rng.integers(0, n, size=(n_tasks, length))
    ref_rows = [tasks[i] for _ in range(epochs) for i in rng.permutation(n_tasks)]
    n_batches = epochs * -(-n_tasks // bs)
    ks = rng.integers(1, kmax + 1, size=n_batches)
    keys = rng.random((epochs * n_tasks, length))
    ref_masks, t = [], 0
    for e in range(epochs):
        for b, start in enumerate(range(0, n_tasks, bs)):
            for _ in range(start, min(start + bs, n_tasks)):
                m = np.zeros(length, dtype=bool)
                m[np.argsort(keys[t])[: ks[e * -(-n_tasks // bs) + b]]] = True
                ref_masks.append(m)
                t += 1
    np.testing.assert_array_equal(rows, np.array(ref_rows))
    np.testing.assert_array_equal(masks, np.array(ref_masks))


def test_batches_cover_every_task_once_per_epoch_with_disjoint_context():
    p = ConvNPPredictor(seed=1, n_tasks=100, batch_size=16)
    rows_seen = []
    for rows, mask in p.batches(172, np.random.default_rng(0)):
        assert rows.shape[1] == 86 and mask.shape == rows.shape
        ctx = mask.sum(1)
        assert (ctx >= 1).all() and (ctx <= 10).all()
        rows_seen.append(rows)
    assert sum(len(r) for r in rows_seen) == 100
    assert [len(r) for r in rows_seen] == [16] * 6 + [4]


def test_no_split_and_no_synthetic_flags():
    p = ConvNPPredictor(seed=1, n_tasks=32, split=False, synthetic_tasks=False)
    for rows, mask in p.batches(50, np.random.default_rng(0)):
        assert mask.all()
        for r in rows:  # the observed set itself, reshuffled
            np.testing.assert_array_equal(np.sort(r), np.arange(50))


def test_prediction_contexts_match_the_meta_training_context_sizes():
    p = ConvNPPredictor(seed=3)
    ctx = p.prediction_contexts(90)
    assert ctx.shape == (27, 10)  # ceil(3 * 90 / 10) sets of max_context points
    assert all(len(set(c.tolist())) == 10 for c in ctx)  # no repeats within a set
    assert len(np.unique(ctx)) > 80  # together they cover (nearly) all observed points
    np.testing.assert_array_equal(ConvNPPredictor(seed=3).prediction_contexts(90), ctx)
    assert not np.array_equal(ConvNPPredictor(seed=4).prediction_contexts(90), ctx)
    np.testing.assert_array_equal(ConvNPPredictor(predict_context="all").prediction_contexts(5), [[0, 1, 2, 3, 4]])
    np.testing.assert_array_equal(ConvNPPredictor(split=False).prediction_contexts(5), [[0, 1, 2, 3, 4]])


def test_bad_params_raise_config_errors():
    with pytest.raises(ConfigError, match="objective"):
        ConvNPPredictor(objective="nll")
    with pytest.raises(ConfigError, match="n_latent"):
        ConvNPPredictor(n_latent=0)
    with pytest.raises(ConfigError, match="task_length"):
        ConvNPPredictor(task_length=1)
    with pytest.raises(ConfigError, match="dropout"):
        ConvNPPredictor(dropout=1.0)
    with pytest.raises(ConfigError, match="input_norm"):
        ConvNPPredictor(input_norm="batch")
    with pytest.raises(ConfigError, match="predict_context"):
        ConvNPPredictor(predict_context="half")


def test_predict_before_fit_and_divergence_are_harness_errors():
    from nasbench_harness.methods.neural.training import TrainingDivergedError

    task, y = fake_task(60)
    with pytest.raises(ConfigError, match="before predict"):
        ConvNPPredictor(seed=0).predict(ArchSet(task, np.arange(5)))
    p = ConvNPPredictor(seed=0, n_tasks=32, lr=1e12)
    with pytest.raises(TrainingDivergedError, match="diverged"):
        p.fit(ArchSet(task, np.arange(40)), y[:40])


# -- objectives and rank averaging --------------------------------------------------------
def test_margin_ranking_loss_on_a_hand_made_case():
    y = torch.tensor([[0.0, 1.0, 2.0]])
    ordered = torch.tensor([[[0.0, 1.0, 2.0]]])  # gaps >= margin: zero loss
    assert float(margin_ranking_loss(ordered, y, 0.01)) == 0.0
    reversed_ = torch.tensor([[[2.0, 1.0, 0.0]]])  # pairs (1,0),(2,0),(2,1): hinges 1.01, 2.01, 1.01
    assert float(margin_ranking_loss(reversed_, y, 0.01)) == pytest.approx((1.01 + 2.01 + 1.01) / 3)


def test_rank_averaging_selects_on_mean_rank():
    # Three latent samples over four architectures. Arch 2 is never first but always
    # second: its mean rank is the best, although another arch wins each single sample.
    preds = np.array([[10.0, 1.0, 3.0, 0.0], [0.0, 4.0, 3.0, 1.0], [1.0, 0.0, 3.0, 4.0]])
    s = average_rank_scores(preds)
    np.testing.assert_allclose(s * 4, [(4 + 1 + 2) / 3, (2 + 4 + 1) / 3, 3, (1 + 2 + 4) / 3])
    assert int(np.argmax(s)) == 2
    assert int(np.argmax(preds.mean(0))) == 0  # averaging the predictions would pick another


# -- learning -----------------------------------------------------------------------------
def test_convnp_learns_a_smooth_function_better_than_untrained():
    task, y = fake_task()
    train = np.arange(90)
    rest = ArchSet(task, np.arange(90, len(y)))
    taus = {}
    for n_tasks in (16, 4800):  # 1 step vs 300 steps of meta-training
        p = ConvNPPredictor(seed=0, n_tasks=n_tasks, encoding="x", **SMALL)
        p.fit(ArchSet(task, train), y[train])
        taus[n_tasks] = kendalltau(p.predict(rest), y[90:]).statistic
    assert taus[4800] > 0.5
    assert taus[4800] > taus[16] + 0.2


def test_convnp_is_deterministic_and_subset_consistent():
    task, y = fake_task(200)
    train = np.arange(60)
    preds = []
    for _ in range(2):
        p = ConvNPPredictor(seed=5, n_tasks=64, n_latent=4, encoding="x")
        p.fit(ArchSet(task, train), y[train])
        preds.append(p.predict(ArchSet(task, np.arange(200))))
    np.testing.assert_array_equal(preds[0], preds[1])
    sub = np.array([150, 3, 77])
    np.testing.assert_array_equal(p.predict(ArchSet(task, sub)), preds[1][sub])
    assert np.isfinite(preds[0]).all()


@pytest.mark.parametrize("objective", ["mse", "rank", "ml", "ml_rank"])
def test_every_objective_trains(objective):
    task, y = fake_task(150)
    p = ConvNPPredictor(seed=0, n_tasks=48, n_latent=3, objective=objective, encoding="x")
    p.fit(ArchSet(task, np.arange(50)), y[:50])
    assert len(p.history) == 3 and np.isfinite(p.history).all()
    assert np.isfinite(p.predict(ArchSet(task, np.arange(150)))).all()


def test_model_shapes():
    m = ConvNPModel(5, hidden=8, channels=8, latent=4, blocks=1, kernel=3, grid_size=32)
    ref = torch.rand(40, 5)
    x = m.inputs(torch.rand(2, 10, 5), ref)
    assert float(x.detach().abs().max()) < 1.0
    mean, scale = m(x, torch.rand(2, 10), torch.ones(2, 10), 3, torch.Generator().manual_seed(0))
    assert mean.shape == scale.shape == (2, 3, 10) and (scale > 0).all()


def test_observed_input_norm_spreads_the_observed_set_over_the_grid():
    """Without it an untrained MLP puts every architecture in a sliver of the grid (the
    diagnosed failure); with it the observed set spans most of (-1, 1) whatever the MLP."""
    torch.manual_seed(0)
    feats = torch.rand(90, 10)
    spans = {}
    for norm in ("observed", "none"):
        m = ConvNPModel(10, hidden=32, channels=8, latent=4, blocks=1, kernel=3, grid_size=32, input_norm=norm)
        with torch.no_grad():
            m.feature[-1].weight.mul_(1e-3)  # a collapsed projection
            x = m.inputs(feats, feats)
        spans[norm] = float(x.max() - x.min())
    assert spans["observed"] > 1.0 and spans["none"] < 0.05


@pytest.mark.shared_data
def test_convnp_on_nb201_meta_features(cache_for):
    from nasbench_harness.tasks.catalog import load_task

    # No try/skip: the shared_data fixture skips when ../shared/data is absent; a failing NB201
    # importer or catalog is the project's own bug and must fail here.
    task = load_task("nb201/cifar10", cache_for("nb201"))
    assert task.encoding("meta").shape[1] == 10
    rows = np.random.default_rng(0).choice(len(task), 90, replace=False)
    taus = []
    for n_tasks in (16, 4800):  # one step vs 300 steps of meta-training
        p = ConvNPPredictor(seed=0, n_tasks=n_tasks, **SMALL)
        p.fit(ArchSet(task, rows), task.train_scores[rows])
        taus.append(kendalltau(p.predict(ArchSet(task, np.arange(len(task)))), task.eval_scores).statistic)
    assert taus[1] > 0.15 and taus[1] > taus[0] + 0.1, taus


def test_convnp_passes_the_predictor_conformance_checks():
    from nasbench_harness.testing import check_predictor

    out = check_predictor("convnp", params={"n_tasks": 4800, **SMALL})
    assert out["kendall_tau"] > 0.3


# -- snapshots and weight decay (issue 12 follow-up; docs/CONVNP.md) ---------------------
def test_snapshot_steps_spread_over_the_second_half_and_end_at_the_last_step():
    p = ConvNPPredictor()  # 10,000 tasks / 16 = 625 steps, 4 snapshots
    np.testing.assert_array_equal(p.snapshot_steps(90), [391, 469, 547, 625])
    np.testing.assert_array_equal(ConvNPPredictor(snapshots=1).snapshot_steps(90), [625])
    assert ConvNPPredictor().params["snapshots"] == 4
    np.testing.assert_array_equal(ConvNPPredictor(n_tasks=64).snapshot_steps(90), [2, 3, 4])  # 4 steps: 3 distinct
    np.testing.assert_array_equal(ConvNPPredictor(n_tasks=16).snapshot_steps(90), [1])
    with pytest.raises(ConfigError, match="snapshots"):
        ConvNPPredictor(snapshots=0)
    with pytest.raises(ConfigError, match="weight_decay"):
        ConvNPPredictor(weight_decay=-1)


def test_snapshots_are_kept_and_rank_averaged():
    task, y = fake_task(150)
    one = ConvNPPredictor(seed=2, n_tasks=96, snapshots=1, encoding="x", **SMALL)
    three = ConvNPPredictor(seed=2, n_tasks=96, snapshots=3, encoding="x", **SMALL)
    for p in (one, three):
        p.fit(ArchSet(task, np.arange(50)), y[:50])
    assert len(one.snapshots) == 1 and len(three.snapshots) == 3
    everything = ArchSet(task, np.arange(150))
    # Same seed, same training: the last snapshot is the final model, so its block of the
    # three-snapshot prediction equals the one-snapshot prediction; the others differ from it.
    s1, s3 = one.sample_means(task.encoding("x")), three.sample_means(task.encoding("x"))
    assert s3.shape[0] == 3 * s1.shape[0]
    np.testing.assert_allclose(s3[-len(s1):], s1, rtol=1e-6)
    assert not np.allclose(s3[: len(s1)], s1)
    np.testing.assert_allclose(three.predict(everything), average_rank_scores(s3))
    # prediction leaves the final weights in place
    np.testing.assert_array_equal(three.sample_means(task.encoding("x")), s3)


def test_weight_decay_acts_on_the_meta_feature_mlp_only():
    p = ConvNPPredictor(weight_decay=2.0)
    m = ConvNPModel(6, hidden=8, channels=8, latent=4, blocks=1, kernel=3, grid_size=32)
    opt = p.optimizer(m)
    assert isinstance(opt, torch.optim.AdamW)
    decayed = {id(q) for g in opt.param_groups if g["weight_decay"] == 2.0 for q in g["params"]}
    assert decayed == {id(q) for q in m.feature.parameters()}
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(m.parameters()))
    assert type(ConvNPPredictor().optimizer(m)) is torch.optim.Adam
