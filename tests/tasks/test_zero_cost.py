"""Zero-cost proxy importer: columns added to imported spaces, NASLib encodings converted right."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pandas as pd
import pytest
from nasbench_harness.errors import DataError
from nasbench_harness.tasks.cache import DataCache
from nasbench_harness.tasks.importers import import_paths
from nasbench_harness.tasks.importers.zero_cost import ZeroCostImporter
from scipy.stats import spearmanr


@pytest.fixture(scope="module")
def zc_cache(cache_for):
    cache_for("nb201")
    cache_for("tnb101-micro")
    return cache_for("zc")


def test_nb201_gets_proxy_columns_on_every_row(zc_cache):
    table = zc_cache.read_table("nb201")
    assert len(table) == 15625
    assert table["zc.zen"].notna().all()  # full-coverage run
    for ds in ("cifar10", "cifar100", "ImageNet16-120"):
        assert table[f"{ds}.zc.zen"].notna().all()
        assert table[f"{ds}.zc.synflow"].notna().sum() >= 724  # Suite-Zero early file
    assert (table["zc.zen"] == table["cifar10.zc.zen"]).all()


def test_nb201_naslib_mapping_is_right(zc_cache, shared_data):
    """Known literature values: synflow ranks NB201 CIFAR-10 cells at Spearman ~0.7+, params exactly."""
    table = zc_cache.read_table("nb201")
    sub = table.dropna(subset=["zc.synflow"])
    rho = spearmanr(sub["zc.synflow"], sub["cifar10-valid.val_acc"]).statistic
    assert rho > 0.7
    from nasbench_harness.tasks.spaces.nb201 import NB201Space

    params = NB201Space().param_counts(sub["arch_id"].tolist()) / 1e6
    assert np.allclose(params, sub["zc.params"].to_numpy(), atol=1e-9)
    # the full-coverage CSV's own NASLib validation accuracy agrees with the NB201 table row by row
    long = pd.read_csv(shared_data / "zero_cost_proxies" / "zc_full_coverage_long.csv.gz")
    nas = long[(long.search_space == "nasbench201") & (long.task == "cifar10")]
    from nasbench_harness.tasks.importers.zero_cost import convert_ids

    ids = convert_ids("nb201", nas["naslib_arch"], "test")
    ours = table.set_index("arch_id").loc[ids, "cifar10-valid.val_acc"].to_numpy()
    assert np.corrcoef(ours, nas["val_accuracy"].to_numpy())[0, 1] > 0.99


def test_tnb101_micro_mapping_matches_validation_accuracy(zc_cache, shared_data):
    long = pd.read_csv(shared_data / "zero_cost_proxies" / "zc_full_coverage_long.csv.gz")
    from nasbench_harness.tasks.importers.zero_cost import convert_ids

    for space, naslib in (("tnb101-micro", "transbench101_micro"), ("tnb101-macro", "transbench101_macro")):
        assert zc_cache.has(space)
        nas = long[(long.search_space == naslib) & (long.task == "class_object")]
        ids = convert_ids(space, nas["naslib_arch"], "test")
        ours = zc_cache.read_table(space).set_index("arch_id").loc[ids, "class_object.val"].to_numpy()
        assert np.abs(ours - nas["val_accuracy"].to_numpy()).max() < 1e-3
        assert zc_cache.read_table(space)["zc.zen"].notna().all()


def test_only_adds_columns_and_reports_missing_spaces(shared_data, tmp_path):
    cache = DataCache(tmp_path / "c")
    import_paths([shared_data / "nasbench201" / "nasgraph_nasbench201_cifar10.csv"], cache)
    before = cache.read_table("nb201")
    results = import_paths([shared_data / "zero_cost_proxies" / "zc_full_coverage_long.csv.gz"], cache)
    after = cache.read_table("nb201")
    assert len(after) == len(before)
    def key(t):
        return t[before.columns].sort_values("arch_id").reset_index(drop=True)

    pd.testing.assert_frame_equal(key(after), key(before))
    notes = " ".join(results[0].notes)
    for space in ("darts", "tnb101-micro", "tnb101-macro", "nb101"):
        assert f"{space}: not imported yet" in notes
        assert not cache.has(space)


def test_existing_values_are_kept_where_new_files_have_none(shared_data, tmp_path):
    cache = DataCache(tmp_path / "c")
    import_paths([shared_data / "nasbench201" / "nasgraph_nasbench201_cifar10.csv"], cache)
    import_paths([shared_data / "zero_cost_proxies" / "suite_zero_early" / "zc_nasbench201.json"], cache)
    synflow = cache.read_table("nb201").set_index("arch_id")["zc.synflow"].dropna()
    assert len(synflow) >= 720
    import_paths([shared_data / "zero_cost_proxies" / "zc_full_coverage_long.csv.gz"], cache)
    again = cache.read_table("nb201").set_index("arch_id")
    assert again["zc.synflow"].notna().sum() == len(synflow)
    assert (again.loc[synflow.index, "zc.synflow"] == synflow).all()
    assert again["zc.zen"].notna().all()


def test_truncated_gzip_is_refused(shared_data, tmp_path):
    cache = DataCache(tmp_path / "c")
    import_paths([shared_data / "nasbench201" / "nasgraph_nasbench201_cifar10.csv"], cache)
    before = (cache.space_dir("nb201") / "table.parquet").read_bytes()
    src = shared_data / "zero_cost_proxies" / "zc_full_coverage_long.csv.gz"
    bad = tmp_path / "zc_full_coverage_long.csv.gz"
    shutil.copyfile(src, bad)
    bad.write_bytes(bad.read_bytes()[:200_000])
    with gzip.open(bad, "rt") as f:
        assert f.readline().startswith("search_space,task")
    assert ZeroCostImporter().detect(bad)
    with pytest.raises(DataError, match="truncated or corrupted"):
        import_paths([bad], cache)
    assert (cache.space_dir("nb201") / "table.parquet").read_bytes() == before
