"""Fixtures for the harness-core tests: the example plugin and small matrices on the toy task."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "examples" / "example-plugin"


@pytest.fixture(scope="session")
def example_plugin() -> str:
    """Make sure the example plugin (predictor ``knn``, loss ``softrank``) is installed."""
    from nasbench_harness import registry

    if "knn" not in registry.names("predictors"):
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(PLUGIN)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            pytest.skip(f"could not pip-install the example plugin: {proc.stderr.strip()[-300:]}")
        # An editable install's path hook is read at interpreter start; add it for this process.
        sys.path.insert(0, str(PLUGIN / "src"))
        importlib.invalidate_caches()
        registry.clear_caches()
    assert "knn" in registry.names("predictors")
    return "knn"


@pytest.fixture
def write_matrix(tmp_path):
    """``write_matrix(text, name="m.yaml")`` -> path of a matrix file in a temp folder."""

    def write(text: str, name: str = "m.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


TOY_MATRIX = """
name: toy
description: knn on the synthetic toy task
tasks: [toy/synthetic]
methods: [knn, {predictor: knn, params: {k: 2}}]
budgets: [0.05, 20]
seeds: 2
"""


@pytest.fixture(scope="session")
def toy_matrix_text() -> str:
    return TOY_MATRIX


@pytest.fixture
def toy_matrix(write_matrix, example_plugin) -> Path:
    return write_matrix(TOY_MATRIX, "toy.yaml")
