"""GraB-NAS's models: D-VAE codec and training, the deep-kernel GP, meta-training and its cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.grabnas import meta
from nasbench_harness.methods.grabnas.dvae import DVAE, DVAEConfig, NB201Codec, decode_ids, train_dvae
from nasbench_harness.methods.grabnas.surrogate import DeepKernelGP, Posterior, SurrogateConfig

TINY = meta.TEST_CONFIG


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def codec():
    return NB201Codec()


def test_codec_round_trip_and_invalid_graphs(codec):
    ids = codec.space.enumerate()[[0, 17, 4000, 15624]].tolist()
    types, adj = codec.to_graphs(ids)
    types, adj = types.numpy(), adj.numpy().astype(np.int8)
    assert codec.to_ids(types, adj) == [codec.space.canonical_id(a) for a in ids]
    bad_edge, bad_type, bad_out = adj.copy(), types.copy(), types.copy()
    bad_edge[0, 1, 2] = 1  # an edge NB201's op-node graph does not have
    bad_type[1, 3] = 0  # an inner node typed "input"
    bad_out[2, 7] = 1  # the last node is not the output
    assert codec.to_ids(types, bad_edge)[0] is None
    assert codec.to_ids(bad_type, adj)[1] is None
    assert codec.to_ids(bad_out, adj)[2] is None


def test_dvae_training_lowers_held_out_loss_and_decodes_structure(codec):
    ids = codec.space.enumerate()
    rng = np.random.default_rng(0)
    train, held = ids[rng.permutation(len(ids))[:600]].tolist(), ids[:100].tolist()
    types, adj = codec.to_graphs(held)
    torch.manual_seed(1)
    before = DVAE(DVAEConfig(codec.n_types, codec.n_nodes, 16, 6))
    with torch.no_grad():
        loss0 = before.reconstruction_loss(before.encode(types, adj)[0], types, adj).mean()
    model = train_dvae(codec, train, seed=1, hidden=16, latent=6, epochs=4, batch=32, lr=1e-2)
    with torch.no_grad():
        loss1 = model.reconstruction_loss(model.encode(types, adj)[0], types, adj).mean()
    assert loss1 < 0.8 * loss0
    # the fixed NB201 structure (node positions, edges) is learned: decodes from random points are mostly valid
    z = np.random.default_rng(2).standard_normal((100, 6)).astype(np.float32)
    assert sum(d is not None for d in decode_ids(model, codec, z)) >= 50


def test_gp_posterior_fits_observations():
    torch.manual_seed(0)
    gp = DeepKernelGP(SurrogateConfig(arch_dim=4, token_dim=8, feature_dim=4))
    with torch.no_grad():
        gp.log_noise.fill_(-9.0)
        gp.log_ls.fill_(-2.0)  # short length scale: the 12 random points are far apart in feature space
        arch = torch.randn(12, 4)
        y = torch.randn(12)
        task = torch.zeros(gp.cfg.task_dim)
        post = Posterior(gp, task, arch, y)
        mean, var = post.mean_var(arch)
        _, far_var = post.mean_var(arch + 50.0)
    assert torch.allclose(mean, y, atol=1e-2)
    assert float(var.max()) < 0.05 < float(far_var.min())


def test_meta_training_lowers_the_marginal_likelihood_loss():
    # synthetic tasks: y depends on the architecture embedding, shifted per task; tokens make the shift learnable
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((300, 4)).astype(np.float32)
    n_tasks = 40
    task = np.repeat(np.arange(n_tasks), 30)
    arch = rng.integers(0, 300, size=len(task))
    y = np.sin(emb[arch, 0] * 2) + emb[arch, 1] + 0.05 * rng.standard_normal(len(task))
    classes = rng.integers(1, 50, size=(n_tasks, 5))
    data = meta.MetaData(task, arch, (y - y.mean()) / y.std(), classes, np.zeros(300))
    gp = DeepKernelGP(SurrogateConfig(arch_dim=4, n_classes=50, token_dim=8, feature_dim=4))
    cfg = meta.MetaConfig(meta_steps=60, batch_pairs=200)
    trace = meta.meta_train(gp, data, emb, cfg, seed=0)
    assert all(np.isfinite(trace))
    assert np.mean(trace[-10:]) < np.mean(trace[:5]) - 0.2


def test_meta_batches_respect_the_pair_bound_and_keep_tokens_apart_from_targets():
    rng = np.random.default_rng(0)
    task = np.repeat(np.arange(30), 4)
    data = meta.MetaData(task, np.arange(120), rng.standard_normal(120), np.ones((30, 3), np.int64), np.zeros(120))
    emb = np.eye(120, dtype=np.float32)
    b = data.sample(emb, rng, batch_pairs=50, support=2)
    assert len(b.y) <= 50
    for t in range(b.classes.shape[0]):  # a task's performance tokens are never its GP targets
        tokens = {int(i) for i in b.perf[t, b.perf_mask[t], :-1].argmax(1)}
        targets = {int(i) for i in b.arch[b.task_of == t].argmax(1)}
        assert not tokens & targets


def test_unknown_setting_and_task_are_refused():
    with pytest.raises(ConfigError, match="setting"):
        meta.fold_of("imagenet", "nb201/cifar10")
    with pytest.raises(ConfigError, match="NB201"):
        meta.fold_of("loo", "nb101/cifar10")


def test_models_are_trained_once_per_setting_fold_seed(cache_for, monkeypatch):
    cache_for("nb201")
    cache = cache_for("transfer")
    monkeypatch.setattr(meta, "DEFAULT_CONFIG", TINY)
    first = meta.load_or_train("metad2a", "nb201/cifar10", 0, cache=cache)
    again = meta.load_or_train("metad2a", "nb201/cifar100", 0, cache=cache)  # same fold "all": read from disk
    assert first.info == again.info
    assert len(first.ranking) == meta.RANKED and first.support == 5
    for a, b in zip(first.gp.state_dict().values(), again.gp.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    loo = meta.load_or_train("loo", "nb201/cifar10", 0, cache=cache)
    assert loo.info["key"] != first.info["key"]
    files = sorted(p.name.split("-")[0] for p in (cache.root / meta.MODEL_DIR).glob("*.pt"))
    assert files == ["dvae", "gp", "gp"]  # one D-VAE per seed, one surrogate per (setting, fold, seed)


def test_surrogate_is_the_same_whether_its_dvae_was_trained_here_or_read_from_disk(cache_for, monkeypatch, tmp_path):
    """A worker that reads the D-VAE another process trained, after cells of its own that drew
    random numbers, meta-trains the surrogate the key names (the fixed block's GraB-NAS cells
    moved when the GP's initial weights came from whatever the global generator held)."""
    cache = cache_for("nb201")
    monkeypatch.setattr(meta, "DEFAULT_CONFIG", TINY)
    monkeypatch.setattr(meta, "MODEL_DIR", tmp_path)  # absolute: a models folder of this test's own
    trained_here = meta.load_or_train("loo", "nb201/cifar10", 0, cache=cache)
    for path in tmp_path.glob("gp-*.pt"):
        path.unlink()
    torch.manual_seed(123)
    torch.rand(7)  # another cell's draws in the same worker
    dvae_from_disk = meta.load_or_train("loo", "nb201/cifar10", 0, cache=cache)
    assert dvae_from_disk.info["nll_first"] == trained_here.info["nll_first"]
    for a, b in zip(trained_here.gp.state_dict().values(), dvae_from_disk.gp.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_dvae_training_killed_after_an_epoch_resumes_to_the_uninterrupted_weights(codec, tmp_path, monkeypatch):
    """The paper-scale D-VAE trains for hours across sessions: a run killed after its first epoch
    resumes from the per-epoch checkpoint and ends with the weights of an uninterrupted run."""
    ids = codec.space.enumerate()[:160].tolist()
    kw = {"seed": 3, "hidden": 8, "latent": 4, "epochs": 3, "batch": 32, "lr": 1e-2}
    whole = train_dvae(codec, ids, **kw)
    checkpoint = tmp_path / "dvae.ckpt"
    real_write, writes = meta.artefacts.write_atomic, []

    def killed_after_first_epoch(target, write):
        writes.append(target)
        real_write(target, write)
        if len(writes) == 1:
            raise KeyboardInterrupt  # the session ends here

    monkeypatch.setattr("nasbench_harness.methods.grabnas.dvae.artefacts.write_atomic", killed_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_dvae(codec, ids, **kw, checkpoint=checkpoint)
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 1
    torch.manual_seed(99)  # the next session's process has drawn other numbers
    resumed = train_dvae(codec, ids, **kw, checkpoint=checkpoint)
    assert len(writes) == 3  # epochs 2 and 3 only: epoch 1 was not trained again
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_dvae_scale_names_the_model_sizes():
    assert meta.scaled(TINY, None) == TINY
    paper = meta.scaled(TINY, "paper")
    assert (paper.dvae_hidden, paper.dvae_latent) == (501, 56) and paper.meta_steps == TINY.meta_steps
    with pytest.raises(ConfigError, match="dvae_scale"):
        meta.scaled(TINY, "huge")
