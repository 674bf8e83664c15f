"""NAS-Bench-201 importers: the shared tables (known facts) and miniature official files."""

from __future__ import annotations

import bz2
import os
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nasbench_harness.errors import DataError
from nasbench_harness.tasks.cache import DataCache
from nasbench_harness.tasks.catalog import load_task
from nasbench_harness.tasks.importers import import_paths
from nasbench_harness.tasks.importers.nb201 import (
    MiniBench12EpochImporter,
    NATSTopologyImporter,
    NB201PthImporter,
    safe_read_pandas_pickle,
)
from nasbench_harness.tasks.spaces.nb201 import NB201Space

NB201 = NB201Space()
SPLITS = {  # evaluation sets per dataset in the official files
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("x-valid", "x-test", "ori-test"),
    "ImageNet16-120": ("x-valid", "x-test", "ori-test"),
}


# ------------------------------------------------------------------ the shared tables
@pytest.fixture(scope="module")
def nb201_cache(cache_for):
    return cache_for("nb201")


@pytest.mark.parametrize(
    ("task", "best_train", "best_eval"),
    [("nb201/cifar10", 91.61, 94.37), ("nb201/cifar100", 73.49, 73.51), ("nb201/ImageNet16-120", 46.73, 47.31)],
)
def test_known_best_accuracies(nb201_cache, task, best_train, best_eval):
    t = load_task(task, nb201_cache)
    assert len(t) == 15625
    assert t.eval_is_test
    assert round(float(t.train.max()), 2) == best_train
    assert round(float(t.eval.max()), 2) == best_eval


def test_cifar100_without_its_ten_best_cells(nb201_cache):
    t = load_task("nb201/cifar100", nb201_cache)
    rest = np.sort(t.eval)[:-10]
    assert round(float(rest.max()), 2) == 72.88


def test_table_columns_and_ranges(nb201_cache):
    table = nb201_cache.read_table("nb201")
    for col in ("cifar10-valid.test_acc", "cifar10.train_acc", "cifar10.train_seconds", "ImageNet16-120.test_acc_12ep"):
        assert table[col].notna().all(), col
    assert round(table["cifar10-valid.val_acc_12ep"].max(), 2) == 84.89
    assert round(table["cifar10.train_acc"].max(), 3) == 99.994
    assert 1084 < table["cifar10.train_seconds"].min() < table["cifar10.train_seconds"].max() < 6922
    # the index column is the official index
    assert (NB201.enumerate()[table["index"].to_numpy()] == table["arch_id"].to_numpy(dtype=str)).all()


def test_individual_files_agree_with_the_merged_csv(shared_data, tmp_path):
    folder = shared_data / "nasbench201"
    a, b = DataCache(tmp_path / "a"), DataCache(tmp_path / "b")
    import_paths([folder / "nb201_merged_derived.csv"], a)
    singles = [p for p in folder.iterdir() if p.suffix in (".csv", ".json", ".pd") and p.name != "nb201_merged_derived.csv"]
    import_paths(singles, b)
    ta = a.read_table("nb201").set_index("arch_id").sort_index()
    tb = b.read_table("nb201").set_index("arch_id").sort_index()
    assert set(ta.columns) <= set(tb.columns)
    for col in ta.columns:
        assert np.allclose(ta[col].to_numpy(float), tb[col].to_numpy(float), atol=1e-6), col


def test_truncated_csv_is_refused_and_cache_untouched(shared_data, tmp_path):
    cache = DataCache(tmp_path / "c")
    import_paths([shared_data / "nasbench201" / "nasgraph_nasbench201_cifar100.csv"], cache)
    before = (cache.space_dir("nb201") / "table.parquet").read_bytes()
    lines = (shared_data / "nasbench201" / "nasgraph_nasbench201_cifar10.csv").read_text().splitlines()
    bad = tmp_path / "nasbench201_cifar10.csv"
    bad.write_text("\n".join(lines[:5000]) + "\n")
    with pytest.raises(DataError, match="truncated"):
        import_paths([bad], cache)
    assert (cache.space_dir("nb201") / "table.parquet").read_bytes() == before


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_pandas_pickle_is_read_through_an_allow_list(shared_data, tmp_path, monkeypatch):
    frame = safe_read_pandas_pickle(shared_data / "nasbench201" / "bayeswatch_mini-bench-arch-cell-accs_12ep.pd")
    assert frame.shape == (15625, 8)
    evil = tmp_path / "mini-bench.pd"
    evil.write_bytes(pickle.dumps({"pandas": _Evil(), "cellstr": 1}))
    monkeypatch.chdir(tmp_path)
    assert MiniBench12EpochImporter().detect(evil)
    with pytest.raises(DataError, match="refusing to load"):
        MiniBench12EpochImporter().parse(evil)
    assert not (tmp_path / "pwned").exists()


# ------------------------------------------------ miniature official files (exact layout)
def _trial(dataset: str, seed: int, epochs: int, rng) -> dict:
    """A ResultsCount state dict as in the official files (per-epoch dicts)."""
    names = SPLITS[dataset]
    acc = {f"{n}@{e}": float(rng.uniform(10, 95)) for n in names for e in range(epochs)}
    return {
        "name": f"infer.tiny-{dataset}",
        "dataset": dataset,
        "seed": seed,
        "epochs": epochs,
        "train_acc1es": OrderedDict((e, float(rng.uniform(10, 100))) for e in range(epochs)),
        "train_acc5es": OrderedDict((e, 99.0) for e in range(epochs)),
        "train_losses": OrderedDict((e, float(rng.uniform(0, 2))) for e in range(epochs)),
        "train_times": OrderedDict((e, float(rng.uniform(5, 20))) for e in range(epochs)),
        "eval_names": list(names),
        "eval_acc1es": acc,
        "eval_losses": {k: 1.0 for k in acc},
        "eval_times": {k: 0.5 for k in acc},
        "params": float(rng.uniform(0.07, 1.5)),
        "flop": float(rng.uniform(7, 220)),
        "latency": [float(rng.uniform(0.005, 0.03))],
        "arch_config": {"name": "infer.tiny", "C": 16, "N": 5, "num_classes": 10},
        "net_state_dict": None,
    }


def _arch_results(index: int, epochs: int, rng, seeds=(777, 888)) -> dict:
    arch = str(NB201.enumerate()[index])
    all_results = {(d, s): _trial(d, s, epochs, rng) for d in SPLITS for s in seeds}
    return {
        "arch_index": index,
        "arch_str": arch,
        "all_results": all_results,
        "dataset_seed": {d: list(seeds) for d in SPLITS},
        "clear_net_done": True,
    }


def _expected(ar: dict, dataset: str, key: str) -> float:
    """Mean over seeds of the final-epoch value, computed straight from the state dict."""
    vals = []
    for s in ar["dataset_seed"][dataset]:
        rc = ar["all_results"][(dataset, s)]
        last = rc["epochs"] - 1
        vals.append(rc["train_acc1es"][last] if key == "train" else rc["eval_acc1es"][f"{key}@{last}"])
    return float(np.mean(vals))


INDICES = (0, 11, 284, 6111)


@pytest.fixture(scope="module")
def official_infos():
    rng = np.random.default_rng(0)
    return {i: {"full": _arch_results(i, 200, rng), "less": _arch_results(i, 12, rng)} for i in INDICES}


def _check_official(table: pd.DataFrame, infos: dict, full: str, less: str) -> None:
    table = table.set_index("arch_id")
    assert len(table) == len(INDICES)
    for i, per_hp in infos.items():
        row = table.loc[str(NB201.enumerate()[i])]
        ar = per_hp[full]
        assert row["index"] == i
        assert row["cifar10-valid.val_acc"] == pytest.approx(_expected(ar, "cifar10-valid", "x-valid"))
        assert row["cifar10-valid.test_acc"] == pytest.approx(_expected(ar, "cifar10-valid", "ori-test"))
        assert row["cifar10.test_acc"] == pytest.approx(_expected(ar, "cifar10", "ori-test"))
        assert row["cifar100.test_acc"] == pytest.approx(_expected(ar, "cifar100", "x-test"))
        assert row["ImageNet16-120.val_acc"] == pytest.approx(_expected(ar, "ImageNet16-120", "x-valid"))
        assert row["ImageNet16-120.train_acc"] == pytest.approx(_expected(ar, "ImageNet16-120", "train"))
        assert row["cifar100.val_acc_12ep"] == pytest.approx(_expected(per_hp[less], "cifar100", "x-valid"))
        times = [sum(ar["all_results"][("cifar10", s)]["train_times"].values()) for s in (777, 888)]
        assert row["cifar10.train_seconds"] == pytest.approx(np.mean(times))
        assert row["cifar10-valid.params"] == pytest.approx(np.mean([ar["all_results"][("cifar10-valid", s)]["params"] for s in (777, 888)]))


def test_official_pth_miniature(official_infos, tmp_path):
    import torch

    meta = [str(a) for a in NB201.enumerate()]
    payload = {"meta_archs": meta, "arch2infos": official_infos, "evaluated_indexes": list(INDICES), "total_archs": len(meta)}
    # a trained weight tensor, as in the official file's 'full' results
    payload["arch2infos"][0]["full"]["all_results"][("cifar10", 777)]["net_state_dict"] = OrderedDict(w=torch.ones(2, 2))
    path = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    torch.save(payload, path)
    cache = DataCache(tmp_path / "cache")
    results = import_paths([path], cache)
    assert [r.importer for r in results] == ["nb201-pth"]
    _check_official(cache.read_table("nb201"), official_infos, "full", "less")
    payload["arch2infos"][0]["full"]["all_results"][("cifar10", 777)]["net_state_dict"] = None


def test_official_pth_renamed_is_detected_by_content(official_infos, tmp_path):
    import torch

    path = tmp_path / "benchmark.pth"
    torch.save({"meta_archs": [str(a) for a in NB201.enumerate()], "arch2infos": official_infos}, path)
    assert NB201PthImporter().detect(path)


def test_corrupted_pth_is_refused(official_infos, tmp_path):
    import torch

    path = tmp_path / "NAS-Bench-201-v1_0-e61699.pth"
    torch.save({"meta_archs": [], "arch2infos": official_infos}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="not a readable NAS-Bench-201 .pth"):
        import_paths([path], DataCache(tmp_path / "cache"))
    assert not (tmp_path / "cache" / "nb201").exists()


def _pbz2(path: Path, obj) -> None:
    with bz2.BZ2File(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)


def test_nats_simple_folder_miniature(official_infos, tmp_path):
    folder = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    folder.mkdir()
    _pbz2(folder / "meta.pickle.pbz2", {"meta_archs": [str(a) for a in NB201.enumerate()], "evaluated_indexes": set(INDICES)})
    for i, per_hp in official_infos.items():
        _pbz2(folder / f"{i:06d}.pickle.pbz2", {"200": per_hp["full"], "12": per_hp["less"]})
    cache = DataCache(tmp_path / "cache")
    results = import_paths([folder], cache)
    assert [(r.importer, len(r.files)) for r in results] == [("nb201-nats-tss", 5)]
    _check_official(cache.read_table("nb201"), official_infos, "full", "less")


def test_nats_single_file_miniature(official_infos, tmp_path):
    path = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    infos = {i: {"200": h["full"], "12": h["less"]} for i, h in official_infos.items()}
    _pbz2(path, {"meta_archs": [str(a) for a in NB201.enumerate()], "arch2infos": infos, "evaluated_indexes": list(INDICES)})
    cache = DataCache(tmp_path / "cache")
    import_paths([path], cache)
    _check_official(cache.read_table("nb201"), official_infos, "full", "less")


def test_nats_truncated_or_malicious_pickles_are_refused(official_infos, tmp_path):
    folder = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    folder.mkdir()
    good = folder / "000000.pickle.pbz2"
    _pbz2(good, {"200": official_infos[0]["full"]})
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 3])
    with pytest.raises(DataError, match="truncated or corrupted"):
        NATSTopologyImporter().run([good], DataCache(tmp_path / "cache"))
    evil = folder / "000011.pickle.pbz2"
    _pbz2(evil, {"200": _Evil()})
    with pytest.raises(DataError, match="refusing to load"):
        NATSTopologyImporter().run([evil], DataCache(tmp_path / "cache"))
    assert not (tmp_path / "cache" / "nb201").exists()


def test_pth_with_numpy_scalars_loads_under_weights_only(official_infos, tmp_path):
    """Old saves may hold numpy scalars: they are the only extra types the weights-only loader allows."""
    import torch
    from nasbench_harness.tasks.importers.nb201 import load_pth

    path = tmp_path / "NAS-Bench-201-v1_0-e61699.pth"
    torch.save({"meta_archs": ["x"], "arch2infos": {}, "flop": np.float64(1.5), "n": np.int64(3)}, path)
    obj = load_pth(path)
    assert obj["flop"] == 1.5 and obj["n"] == 3
    torch.save({"meta_archs": [], "arch2infos": {}, "evil": _Evil()}, path)
    with pytest.raises(DataError, match="not a readable NAS-Bench-201 .pth"):
        load_pth(path)


def test_nats_full_folder_with_weights(official_infos, tmp_path):
    """The ``-full`` archives pickle trained weights too: they are dropped, the metrics imported."""
    import copy

    import torch

    folder = tmp_path / "NATS-tss-v1_0-3ffb9-full"
    folder.mkdir()
    full = copy.deepcopy(official_infos[284]["full"])
    for rc in full["all_results"].values():
        rc["net_state_dict"] = OrderedDict(weight=torch.arange(6.0).reshape(2, 3))
    _pbz2(folder / "000284.pickle.pbz2", {"200": full, "12": official_infos[284]["less"]})
    cache = DataCache(tmp_path / "cache")
    import_paths([folder], cache)
    row = cache.read_table("nb201").set_index("arch_id").loc[str(NB201.enumerate()[284])]
    assert row["cifar100.val_acc"] == pytest.approx(_expected(full, "cifar100", "x-valid"))


def test_load_table_reads_only_the_asked_columns(nb201_cache):
    table = NB201.load_table(nb201_cache, columns=["cifar100.test_acc", "not.a.column"])
    assert list(table.columns) == ["arch_id", "cifar100.test_acc"]
    assert len(table) == 15625
    assert len(NB201.load_table(nb201_cache).columns) > 10


def test_load_table_without_import_is_one_sentence(tmp_path):
    with pytest.raises(DataError, match="No imported data for search space 'nb201'"):
        NB201.load_table(DataCache(tmp_path))
