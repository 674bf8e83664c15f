"""Meta-NAS transfer importers: NB201 source tasks, Suite-Zero 9x tasks, MetaD2A meta-training set."""

from __future__ import annotations

import numpy as np
import pytest
from nasbench_harness.errors import DataError
from nasbench_harness.tasks.cache import DataCache
from nasbench_harness.tasks.catalog import load_task
from nasbench_harness.tasks.importers import import_paths
from nasbench_harness.tasks.importers.transfer import load_metad2a


@pytest.fixture(scope="module")
def transfer_cache(cache_for):
    cache_for("nb201")
    return cache_for("transfer")


def test_source_tasks_add_naslib_validation_columns(transfer_cache):
    table = transfer_cache.read_table("nb201")
    assert len(table) == 15625
    assert round(table["cifar10-valid.val_acc_naslib"].max(), 2) == 91.57
    assert round(table["cifar100.val_acc_naslib"].max(), 2) == 73.26
    assert round(table["ImageNet16-120.val_acc_naslib"].max(), 2) == 47.33
    best = table.loc[table["cifar10-valid.val_acc_naslib"].idxmax(), "arch_id"]
    assert best == "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    # NASLib's numbers are the same benchmark: near-perfectly correlated with the v1.1 validation accuracy
    assert np.corrcoef(table["cifar10-valid.val_acc_naslib"], table["cifar10-valid.val_acc"])[0, 1] > 0.99


@pytest.mark.parametrize(("task", "best"), [("nb201/svhn", 96.75), ("nb201/ninapro", 93.17), ("nb201/scifar100", 36.51)])
def test_suite_zero_9x_tasks_load(transfer_cache, task, best):
    t = load_task(task, transfer_cache)
    assert len(t) == 199
    assert not t.eval_is_test
    assert round(float(t.eval.max()), 2) == best
    assert t.extras.notna().all().all() and t.extras.shape[1] == 13


def test_suite_zero_9x_other_spaces(transfer_cache):
    assert round(transfer_cache.read_table("darts")["svhn.val_acc"].max(), 2) == 97.51
    micro = transfer_cache.read_table("tnb101-micro")
    assert micro["svhn.val_acc"].notna().sum() == 192
    assert round(micro["svhn.val_acc"].max(), 2) == 96.47


def test_metad2a_table_and_classes(transfer_cache):
    table, classes = load_metad2a(transfer_cache)
    assert classes.shape == (5000, 20) and classes.min() >= 1 and classes.max() <= 600
    assert table["task_id"].nunique() == 3031
    assert table["arch"].nunique() == 1553
    assert len(table) == 4628  # 4,630 rows less 2 repeated (task, cell) pairs
    assert round(table["acc"].min(), 2) == 40.99 and round(table["acc"].max(), 2) == 86.0
    assert (table["task_id"] < len(classes)).all()


def test_class_list_alone_is_refused(shared_data, tmp_path):
    with pytest.raises(DataError, match="together with"):
        import_paths([shared_data / "meta_nas_transfer" / "metad2a_meta_train_task_classes.json"], DataCache(tmp_path))


def test_disagreeing_arch_columns_are_refused(shared_data, tmp_path):
    lines = (shared_data / "meta_nas_transfer" / "suite_zero_9x_tasks.csv").read_text().splitlines()
    row = lines[1].replace("(3, 3, 3, 0, 1, 4)", "(3, 3, 3, 0, 1, 2)")
    assert row != lines[1]
    bad = tmp_path / "x9.csv"
    bad.write_text("\n".join([lines[0], row, *lines[2:]]) + "\n")
    cache = DataCache(tmp_path / "c")
    with pytest.raises(DataError, match="disagree"):
        import_paths([bad], cache)
    assert cache.spaces() == []
