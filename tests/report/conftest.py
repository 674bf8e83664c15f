"""Fixtures of the report tests: a synthetic result store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from report_rows import make_rows, write_store


@pytest.fixture
def rows() -> pd.DataFrame:
    return make_rows()


@pytest.fixture
def results_dir(tmp_path, rows) -> Path:
    return write_store(tmp_path / "results", rows)
