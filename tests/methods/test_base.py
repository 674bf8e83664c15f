"""The method contract's guard rails (methods/base.py)."""

import numpy as np
import pandas as pd
import pytest
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.base import ArchSet


class _Task:
    eval_metric = "cifar10.test_acc"

    def __init__(self):
        self.extras = pd.DataFrame(
            {"zc.synflow": [1.0, 2.0, 3.0], "cifar10.test_acc_12ep": [9.0, 8.0, 7.0], "cifar10.val_acc_12ep": [4.0, 5.0, 6.0]}
        )


def test_extras_give_proxy_and_validation_columns_for_the_rows():
    archs = ArchSet(_Task(), np.array([2, 0]))
    np.testing.assert_array_equal(archs.extras(["zc.synflow", "cifar10.val_acc_12ep"]), [[3.0, 6.0], [1.0, 4.0]])


@pytest.mark.parametrize("column", ["cifar10.test_acc_12ep", "cifar10.test_acc"])
def test_extras_refuse_test_metric_columns(column):
    with pytest.raises(ConfigError, match="test-metric"):
        ArchSet(_Task(), np.array([0])).extras([column])
