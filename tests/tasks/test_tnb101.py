"""TransNAS-Bench-101 micro/macro spaces, the CSV and official-.pth importers, and their tasks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from nasbench_harness.errors import ConfigError, DataError
from nasbench_harness.tasks.cache import DataCache
from nasbench_harness.tasks.catalog import load_task, task_specs
from nasbench_harness.tasks.importers import import_paths
from nasbench_harness.tasks.importers.tnb101 import TASK_METRIC
from nasbench_harness.tasks.spaces.tnb101 import TASKS, TNB101MacroSpace, TNB101MicroSpace, macro_valid

MICRO, MACRO = TNB101MicroSpace(), TNB101MacroSpace()


# -------------------------------------------------------------------------- search spaces
def test_enumeration_sizes_and_uniqueness():
    micro, macro = MICRO.enumerate(), MACRO.enumerate()
    assert len(micro) == 4096 and len(set(micro)) == 4096
    assert len(macro) == 3256 and len(set(macro)) == 3256
    assert all(MACRO.canonical_id(a) == a for a in macro[::97])


def test_macro_constraints_are_the_published_ones():
    # 4..6 modules, 1..4 downsampling, 1..3 channel doubling
    assert macro_valid((1, 2, 3, 4)) and macro_valid((4, 4, 4, 3, 1, 1))
    assert not macro_valid((1, 1, 1, 1))  # no downsampling, no doubling
    assert not macro_valid((3, 3, 3, 3, 3, 2))  # 5 downsampling modules
    assert not macro_valid((4, 4, 4, 4))  # 4 channel doublings
    assert not macro_valid((2, 3, 1))  # too short
    lengths = pd.Series([len(a.split("-")[1]) for a in MACRO.enumerate()]).value_counts()
    assert lengths.to_dict() == {6: 2296, 5: 750, 4: 210}


def test_canonical_ids_and_bad_ids():
    assert MICRO.canonical_id("3_32_132") == "64-41414-3_32_132"
    assert MACRO.canonical_id("64-41414-basic") == "64-41414-basic"
    for bad in ("64-41414-4_32_132", "64-41414-3_32_13", "", "hello"):
        with pytest.raises(ConfigError, match="TransNAS micro"):
            MICRO.canonical_id(bad)
    for bad in ("64-1111-basic", "64-12-basic", "64-5123-basic", "64-3333333-basic"):
        with pytest.raises(ConfigError, match="TransNAS macro"):
            MACRO.canonical_id(bad)


def test_micro_graph_is_nb201_style_node_form():
    g = MICRO.to_graph(["64-41414-3_21_100"])
    assert g.adj.shape == (1, 8, 8) and g.ops.shape == (1, 8)
    names = [g.op_names[i] for i in g.ops[0]]
    assert names == ["input", "conv3x3", "conv1x1", "skip", "skip", "none", "none", "output"]
    a = g.adj[0]
    # edge 0->1 (node 1) feeds the ops leaving cell node 1: 1->2 (node 3) and 1->3 (node 5)
    assert a[1, 3] == 1 and a[1, 5] == 1 and a[1].sum() == 2
    # the ops entering cell node 3 (nodes 4, 5, 6) feed the output; the input feeds 0->x ops
    assert a[:, 7].tolist() == [0, 0, 0, 0, 1, 1, 1, 0]
    assert a[0].tolist() == [0, 1, 1, 0, 1, 0, 0, 0]
    assert np.all(np.triu(a) == a)  # topological order


def test_macro_graph_is_padded_chain():
    g = MACRO.to_graph(["64-1234-basic", "64-412311-basic"])
    assert g.adj.shape == (2, 8, 8)
    assert g.n_nodes.tolist() == [6, 8]
    assert [g.op_names[i] for i in g.ops[0][:6]] == [
        "input", "normal", "channel_x2", "stride_2", "channel_x2_stride_2", "output"
    ]
    assert g.ops[0, 6:].tolist() == [-1, -1]
    assert g.adj[0].sum() == 5 and all(g.adj[0, i, i + 1] == 1 for i in range(5))


def test_micro_iso_hash_ignores_dead_edges_only():
    # node 1 has no outgoing edge: the op on 0->1 cannot matter
    assert MICRO.iso_hash("64-41414-3_30_303") == MICRO.iso_hash("64-41414-2_30_303")
    assert MICRO.iso_hash("64-41414-3_30_303") != MICRO.iso_hash("64-41414-3_20_303")
    # output unreachable: all such cells compute zero
    assert MICRO.iso_hash("64-41414-3_33_000") == MICRO.iso_hash("64-41414-0_00_000")
    classes = {MICRO.iso_hash(a) for a in MICRO.enumerate()}
    assert 1 < len(classes) < 4096


def test_mutate_and_neighbours_stay_in_space():
    rng = np.random.default_rng(0)
    micro_all, macro_all = set(MICRO.enumerate()), set(MACRO.enumerate())
    for a in rng.choice(MICRO.enumerate(), 50):
        nb = MICRO.neighbours(a)
        assert len(nb) == 18 and len(set(nb)) == 18 and a not in nb and set(nb) <= micro_all
        m = MICRO.mutate(a, rng)
        assert m != a and m in nb
    for a in rng.choice(MACRO.enumerate(), 50):
        nb = MACRO.neighbours(a)
        assert nb and a not in nb and set(nb) <= macro_all
        m = MACRO.mutate(a, rng)
        assert m != a and m in nb


# ---------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def tnb_cache(cache_for):
    return cache_for("tnb101-micro")


def test_imported_tables_have_published_facts(tnb_cache):
    micro = tnb_cache.read_table("tnb101-micro")
    macro = tnb_cache.read_table("tnb101-macro")
    assert len(micro) == 4096 and len(macro) == 3256
    assert set(micro["arch_id"]) == set(MICRO.enumerate())
    assert set(macro["arch_id"]) == set(MACRO.enumerate())
    assert {f"{t}.val" for t in TASKS} <= set(micro.columns)
    assert round(micro["class_scene.val"].max(), 2) == 54.94
    assert round(micro["jigsaw.val"].max(), 2) == 95.37
    assert micro.set_index("arch_id").loc["64-41414-3_32_132", "class_scene.val"] == pytest.approx(54.936, abs=1e-3)
    assert (micro["room_layout.val"] < 0).all() and (macro["room_layout.val"] < 0).all()
    assert round(macro["class_scene.val"].max(), 2) == 57.41


def test_tasks_fall_back_to_validation(tnb_cache):
    names = [n for n in task_specs() if n.startswith("tnb101-")]
    assert len(names) == 14
    task = load_task("tnb101-micro/room_layout", tnb_cache)
    assert len(task) == 4096 and task.eval_is_test is False
    assert task.eval_metric == "room_layout.val" and np.array_equal(task.train, task.eval)
    assert task.eval_scores.max() == pytest.approx(-0.601, abs=1e-3)  # higher (less negative) is better
    assert len(load_task("tnb101-macro/jigsaw", tnb_cache)) == 3256
    g = task.graphs()
    assert len(g) == 4096 and g.max_nodes == 8


# ------------------------------------------------------------------ miniature official .pth
def _metrics(task: str, valid: float, test: float, rng) -> dict:
    m = TASK_METRIC[task]
    epochs = 3
    return {
        f"train_{m}": rng.random(epochs).tolist(),
        f"valid_{m}": [*rng.random(epochs - 1).tolist(), valid],
        f"test_{m}": [*rng.random(epochs - 1).tolist(), test],
        "train_loss": rng.random(epochs).tolist(),
        "valid_loss": rng.random(epochs).tolist(),
        "test_loss": rng.random(epochs).tolist(),
        "time_elapsed": np.cumsum(rng.random(epochs)).tolist(),
    }


def mini_database(seed: int = 0) -> tuple[dict, dict]:
    """A TransNAS .pth database in the official layout for a few archs, plus the expected finals."""
    rng = np.random.default_rng(seed)
    archs = {"micro": ["64-41414-3_32_132", "64-41414-0_00_000", "64-41414-1_23_012"],
             "macro": ["64-41414-basic", "64-1234-basic"]}
    data, expected = {}, {}
    for space, ids in archs.items():
        data[space] = {}
        for arch in ids:
            data[space][arch] = {}
            for task in TASKS:
                valid, test = float(rng.random()), float(rng.random())
                expected[(space, arch, task)] = (valid, test)
                data[space][arch][task] = {
                    "total_epochs": 3,
                    "model_info": {"inference_time": float(rng.random()), "model_params": 1.5e6,
                                   "model_FLOPs": 2.5e9, "optimizer": "sgd"},
                    "metrics": _metrics(task, valid, test, rng),
                }
    database = {
        "metrics_dict": {t: sorted(data["micro"][archs["micro"][0]][t]["metrics"]) for t in TASKS},
        "info_names": ["inference_time", "model_params", "model_FLOPs", "optimizer"],
        "task_list": list(TASKS),
        "data": data,
    }
    return database, expected


@pytest.fixture
def mini_pth(tmp_path) -> tuple[Path, dict]:
    database, expected = mini_database()
    path = tmp_path / "transnas-bench_v10141024.pth"
    torch.save(database, path)
    return path, expected


def test_official_pth_import(mini_pth, tmp_path):
    path, expected = mini_pth
    cache = DataCache(tmp_path / "cache")
    results = import_paths([path], cache)
    assert [r.importer for r in results] == ["tnb101-pth"]
    micro = cache.read_table("tnb101-micro").set_index("arch_id")
    macro = cache.read_table("tnb101-macro").set_index("arch_id")
    assert len(micro) == 3 and len(macro) == 2
    for (space, arch, task), (valid, test) in expected.items():
        row = (micro if space == "micro" else macro).loc[arch]
        assert row[f"{task}.val"] == pytest.approx(valid) and row[f"{task}.test"] == pytest.approx(test)
    assert micro.loc["64-41414-3_32_132", "jigsaw.model_flops"] == 2.5e9
    assert "class_scene.optimizer" not in micro.columns  # non-numeric info is skipped
    task = load_task("tnb101-micro/class_scene", cache)
    assert task.eval_is_test is True and task.eval_metric == "class_scene.test"
    assert "class_scene.model_params" in task.extras.columns


def test_pth_with_numpy_scalars_loads_but_other_objects_do_not(tmp_path):
    import datetime

    database, expected = mini_database()
    rec = database["data"]["micro"]["64-41414-3_32_132"]["jigsaw"]
    rec["metrics"]["valid_top1"] = [np.float64(v) for v in rec["metrics"]["valid_top1"]]
    path = tmp_path / "transnas-bench_v10141024.pth"
    torch.save(database, path)
    cache = DataCache(tmp_path / "cache")
    import_paths([path], cache)
    got = cache.read_table("tnb101-micro").set_index("arch_id").loc["64-41414-3_32_132", "jigsaw.val"]
    assert got == pytest.approx(expected[("micro", "64-41414-3_32_132", "jigsaw")][0])

    database["saved_at"] = datetime.datetime(2021, 10, 14)  # arbitrary objects are never unpickled
    torch.save(database, path)
    with pytest.raises(DataError, match="not a readable TransNAS"):
        import_paths([path], DataCache(tmp_path / "other"))


def test_renamed_pth_is_sniffed(mini_pth, tmp_path):
    path, _ = mini_pth
    renamed = tmp_path / "bench.pth"
    renamed.write_bytes(path.read_bytes())
    cache = DataCache(tmp_path / "cache")
    assert import_paths([renamed], cache)[0].importer == "tnb101-pth"


def _snapshot(cache: DataCache, space: str) -> tuple[bytes, bytes]:
    d = cache.space_dir(space)
    return (d / "table.parquet").read_bytes(), (d / "manifest.json").read_bytes()


def test_bad_pth_leaves_cache_untouched(mini_pth, tmp_path):
    path, _ = mini_pth
    cache = DataCache(tmp_path / "cache")
    import_paths([path], cache)
    before = _snapshot(cache, "tnb101-micro"), _snapshot(cache, "tnb101-macro")

    truncated = tmp_path / "bad" / "transnas-bench_v10141024.pth"
    truncated.parent.mkdir()
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="not a readable TransNAS"):
        import_paths([truncated], cache)

    database, _ = mini_database()
    del database["data"]["micro"]["64-41414-1_23_012"]["jigsaw"]["metrics"]["test_top1"]
    torch.save(database, truncated)
    with pytest.raises(DataError, match="lacks the metric test_top1"):
        import_paths([truncated], cache)

    database, _ = mini_database()
    database["data"]["macro"]["64-1111-basic"] = database["data"]["macro"]["64-1234-basic"]
    torch.save(database, truncated)
    with pytest.raises(DataError, match="invalid architecture"):
        import_paths([truncated], cache)
    assert (_snapshot(cache, "tnb101-micro"), _snapshot(cache, "tnb101-macro")) == before


def test_bad_csv_leaves_cache_untouched(shared_data, tmp_path):
    good = shared_data / "transnas_bench_101" / "tnb101_micro_valid_final.csv"
    cache = DataCache(tmp_path / "cache")
    import_paths([good], cache)
    before = _snapshot(cache, "tnb101-micro")
    lines = good.read_text().splitlines(keepends=True)

    truncated = tmp_path / "tnb101_micro_valid_final.csv"
    truncated.write_text("".join(lines[:1000]))
    with pytest.raises(DataError, match="truncated"):
        import_paths([truncated], cache)

    corrupt = lines[:]
    corrupt[5] = corrupt[5].replace(corrupt[5].split(",")[-1], "not-a-number\n")
    truncated.write_text("".join(corrupt))
    with pytest.raises(DataError, match="non-numeric"):
        import_paths([truncated], cache)

    cut = "".join(lines)[: len("".join(lines)) // 2] + '\n5,"64-41414-3_32'
    truncated.write_text(cut)
    with pytest.raises(DataError):
        import_paths([truncated], cache)
    assert _snapshot(cache, "tnb101-micro") == before
