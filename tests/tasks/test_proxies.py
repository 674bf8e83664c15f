"""In-project zero-cost proxies of NB201 (tasks/proxies): network, measures, resumable job, CLI, zc encoding."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from nasbench_harness.cli_data import data_app
from nasbench_harness.errors import DataError
from nasbench_harness.registry import get_search_space
from nasbench_harness.tasks import encodings as enc
from nasbench_harness.tasks.cache import DataCache
from nasbench_harness.tasks.proxies import job
from nasbench_harness.tasks.proxies import measures as M
from nasbench_harness.tasks.proxies.nb201_net import INPUT_SIZE, NUM_CLASSES, build, n_params
from nasbench_harness.tasks.spaces.nb201 import EDGES, OPS, arch_str
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

SPACE = get_search_space("nb201")
IDS = SPACE.enumerate()
RNG = np.random.default_rng(0)
SAMPLE = IDS[RNG.choice(len(IDS), 12, replace=False)]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


# ------------------------------------------------------------------------ network
def test_network_params_equal_the_exact_counts_for_every_cell():
    """Torch counts per (edge, op) + the skeleton reproduce param_counts on all 15,625 cells.

    A cell's parameters are the sum of its edges' (the edges' modules are disjoint), so the
    30 single-edge networks give every cell's count; random whole cells check the sum.
    """
    for ds, k in NUM_CLASSES.items():
        base = n_params(build(arch_str([0] * 6), ds, seed=None))
        per = np.zeros((len(EDGES), len(OPS)), dtype=np.int64)
        for e in range(len(EDGES)):
            for o in range(1, len(OPS)):
                ops = [0] * 6
                ops[e] = o
                per[e, o] = n_params(build(arch_str(ops), ds, seed=None)) - base
        ops6 = SPACE.ops_matrix(list(IDS))
        torch_counts = base + per[np.arange(6), ops6].sum(axis=1)
        np.testing.assert_array_equal(torch_counts, SPACE.param_counts(list(IDS), num_classes=k))
        for a in SAMPLE[:4]:
            assert n_params(build(a, ds, seed=None)) == SPACE.param_counts([a], num_classes=k)[0]


def test_network_shapes_and_same_seed_same_weights():
    a = SAMPLE[0]
    for ds in ("cifar10", "ImageNet16-120"):
        side = INPUT_SIZE[ds]
        assert build(a, ds)(torch.zeros(2, 3, side, side)).shape == (2, NUM_CLASSES[ds])
    one, two = build(a, seed=3), build(a, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(one.parameters(), two.parameters(), strict=True))
    no_bn = build(a, bn=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in no_bn.modules())


# ------------------------------------------------------------------------ data-free
def test_analytic_flops_equal_torch_flop_counter():
    for ds in M.DATASETS:
        side = INPUT_SIZE[ds]
        for a in SAMPLE[:2]:
            with FlopCounterMode(display=False) as counter:
                build(a, ds, seed=None).eval()(torch.zeros(1, 3, side, side))
            assert M.flops_m(SPACE, [a], ds)[0] == pytest.approx(counter.get_total_flops() / 1e6, abs=1e-9)


def test_shared_body_synflow_equals_the_plain_definition_per_dataset():
    for a in (SAMPLE[1],):
        shared = M.synflow_all(a)
        for ds in M.DATASETS:
            assert shared[ds] == pytest.approx(M.synflow_reference(a, ds), rel=1e-12)


def test_synflow_orders_by_capacity_and_is_zero_without_flow():
    """Positive weights and inputs: more convolutions on the paths means more synaptic flow."""
    skip_only = M.synflow_all(arch_str([0, 0, 0, 1, 0, 0]))["cifar10"]  # node 3 = skip(input)
    one_conv = M.synflow_all(arch_str([0, 0, 0, 3, 0, 0]))["cifar10"]
    assert 0 < skip_only < one_conv
    assert M.synflow_all(arch_str([1, 0, 0, 0, 0, 1]))["cifar10"] == 0.0  # node 2 is all zeros: output cut off


# ------------------------------------------------------------------------ batch-based
def test_batch_proxies_are_deterministic_and_consistent():
    batch = M.synthetic_batch("cifar10", size=8)
    a = arch_str([1, 2, 0, 4, 3, 1])
    one = M.batch_proxies(a, "cifar10", batch=batch)
    two = M.batch_proxies(a, "cifar10", batch=batch)
    assert one == two and set(one) == set(M.BATCH)
    assert all(math.isfinite(v) for v in one.values())
    assert one["snip"] >= abs(one["plain"]) and one["grad_norm"] > 0 and one["fisher"] >= 0
    assert 0 < one["nwot"] <= 8 * math.log(8 * 1e6)  # log det of a PSD kernel with entries <= #units


def test_jacobian_scores_on_known_matrices():
    k = 1e-5
    eye_like = np.eye(4) * 3 + 1  # rows with pairwise correlation -1/3: not identity, but known spectrum
    v = np.linalg.eigvalsh(np.corrcoef(eye_like))
    assert M._jacov(eye_like) == pytest.approx(-np.sum(np.log(v + k) + 1 / (v + k)))
    labels = np.array([0, 0, 1, 1])
    jac = np.array([[1.0, 2, 3], [2, 4, 6.1], [1, 0, 1], [0, 1, 0]])
    s0 = np.sum(np.log(np.abs(np.corrcoef(jac[:2])) + k))
    s1 = np.sum(np.log(np.abs(np.corrcoef(jac[2:])) + k))
    assert M._epe_nas(jac, labels, 10) == pytest.approx(2 * abs(s0 - s1) / 2)


# ------------------------------------------------------------------------ job + CLI
def _tiny_cache(tmp_path, published: int = 0) -> DataCache:
    """An nb201 cache with every arch id (and ``published`` Suite-Zero synflow values)."""
    cache = DataCache(tmp_path / "data")
    table = pd.DataFrame({"arch_id": IDS, "cifar10-valid.val_acc": np.linspace(0, 90, len(IDS))})
    if published:
        table["cifar10.zc.synflow"] = np.where(np.arange(len(IDS)) < published, 1.0, np.nan)
    cache.write_table("nb201", table, sources=[], importer="test", importer_version=1)
    return cache


def _proxy_table(cache) -> pd.DataFrame:
    t = cache.read_table("nb201")
    cols = sorted(c for c in t.columns if ".computed." in c or ".synthetic." in c)
    return t.dropna(subset=cols, how="all")[["arch_id", *cols]].sort_values("arch_id").reset_index(drop=True)


def test_job_interrupted_then_resumed_gives_the_same_result(tmp_path, monkeypatch):
    monkeypatch.setitem(job.CHUNK_CELLS, "synflow", 1)
    cache = _tiny_cache(tmp_path / "a")
    seen = []

    def stop_after_two(chunk):
        seen.append(chunk)
        if len(seen) == 2:
            raise KeyboardInterrupt  # like Ctrl-C: finished chunks stay, the rest is lost

    with pytest.raises(KeyboardInterrupt):  # process-parallel: the workers are stopped at once
        job.run("nb201", cache, M.DATA_FREE, sample=4, jobs=2, on_chunk=stop_after_two)
    assert not cache.read_table("nb201").columns.str.contains("computed").any()  # nothing merged yet
    starts = []
    summary = job.run("nb201", cache, M.DATA_FREE, sample=4, on_start=lambda n, done: starts.append((n, done)))
    (total, kept), = starts  # 1 analytic + 4 synflow chunks; at least the 2 reported ones were kept
    assert total == 5 and 2 <= kept < 5 and summary["computed"] == total - kept
    again = job.run("nb201", cache, M.DATA_FREE, sample=4)
    assert again["computed"] == 0
    fresh = _tiny_cache(tmp_path / "b")
    job.run("nb201", fresh, M.DATA_FREE, sample=4)  # one process, uninterrupted
    resumed, straight = _proxy_table(cache), _proxy_table(fresh)
    pd.testing.assert_frame_equal(resumed, straight)
    assert straight["zc.computed.synflow"].notna().sum() == 4
    manifest = cache.manifest("nb201")
    assert manifest["importers"]["zc-proxies"] == job.JOB_VERSION
    assert any(s["path"].endswith(job.RESULT) and len(s["sha256"]) == 64 for s in manifest["sources"])
    assert cache.verify("nb201") == []


def test_batch_job_on_suite_zero_cells(tmp_path, monkeypatch):
    monkeypatch.setattr(M, "BATCH_SIZE", 4)
    cache = _tiny_cache(tmp_path, published=3)
    job.run("nb201", cache, ("snip", "nwot"), cells="suite-zero", datasets=["cifar10"])
    got = _proxy_table(cache)
    assert len(got) == 3 and list(got.columns) == [
        "arch_id", "cifar10.zc.synthetic.nwot", "cifar10.zc.synthetic.snip", "zc.synthetic.nwot", "zc.synthetic.snip"
    ]  # fmt: skip
    assert set(got["arch_id"]) == set(IDS[:3])
    assert job._sample(IDS, 5).tolist() == job._sample(IDS, 5).tolist() != sorted(IDS)[:5]


def test_cli_bad_input_is_one_sentence_and_exit_2(tmp_path):
    cache = _tiny_cache(tmp_path)
    runner = CliRunner()
    for args, needle in (
        (["proxies", "darts"], "nb201 only"),
        (["proxies", "nb201", "--proxies", "synflw"], "Unknown proxy 'synflw'"),
        (["proxies", "nb201", "--cells", "some"], "--cells must be"),
        (["proxies", "nb201", "--jobs", "0"], "--jobs must be"),
        (["proxies", "nb201", "--sample", "0"], "--sample must be"),
        (["proxies", "nb201", "--cells", "suite-zero"], "needs the published Suite-Zero"),
    ):
        result = runner.invoke(data_app, [*args, "--data-dir", str(cache.root)])
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.output and "Traceback" not in result.output


# ------------------------------------------------------------------------ zc encoding
class TableSpace:
    name = "nb201"

    def __init__(self, table):
        self.table = table

    def load_table(self, cache):
        return self.table


def test_zc_uses_computed_columns_and_drops_partial_published_ones():
    ids = np.array([f"x{i}" for i in range(20)])
    table = pd.DataFrame({
        "arch_id": ids,
        "zc.zen": np.arange(20.0),
        "zc.snip": [1.0] + [np.nan] * 19,  # published on 1 of 20 cells
        "zc.synthetic.snip": [2.0] * 2 + [np.nan] * 18,  # batch proxy run on a few cells
    })  # fmt: skip
    with pytest.raises(DataError, match=r"nasbench-harness data proxies nb201"):
        enc.compute_encoding(TableSpace(table), "zc", ids)  # no computed set: the old refusal
    table["zc.computed.params"] = np.arange(20.0) * 2
    X = enc.compute_encoding(TableSpace(table), "zc", ids)
    np.testing.assert_array_equal(X, np.c_[np.arange(20.0) * 2, np.arange(20.0)])  # computed.params, zen
    table.loc[5:, "zc.computed.synflow"] = 1.0  # a partial computed column still refuses
    with pytest.raises(DataError, match=r"zc.computed.synflow' \(75.0%.*resumes where it stopped"):
        enc.compute_encoding(TableSpace(table), "zc", ids)


# ------------------------------------------------------------------------ real data
def test_params_and_flops_against_published_suite_zero(shared_data):
    from nasbench_harness.tasks.importers.zero_cost import _json_frame
    from scipy.stats import spearmanr

    published = _json_frame(shared_data / "zero_cost_proxies" / "suite_zero_early" / "zc_nasbench201.json")
    for ds in M.DATASETS:
        rows = published[published["task"] == ds].dropna(subset=["params", "flops"])
        assert len(rows) > 700
        np.testing.assert_allclose(M.params_m(SPACE, rows["arch_id"], ds), rows["params"], rtol=0, atol=1e-9)
        # published FLOPs (tensorwatch) count BN, ReLU, pooling too: same order, not equal
        assert spearmanr(M.flops_m(SPACE, rows["arch_id"], ds), rows["flops"])[0] > 0.99
