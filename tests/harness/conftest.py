"""Fixtures for the harness-core tests: small matrices on the toy task, runs on two executors."""

from __future__ import annotations

from pathlib import Path

import pytest


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


@pytest.fixture
def stores_on_executors(tmp_path):
    """Run a matrix file once on the serial and once on a 2-worker process executor; returns
    {executor name: (plan, summary, stored rows)} for comparing the two."""
    from nasbench_harness.executors import make_executor
    from nasbench_harness.matrix import load_matrix
    from nasbench_harness.runner import execute, plan
    from nasbench_harness.store import ResultStore

    def run(path: Path) -> dict:
        out = {}
        for name, kw in (("serial", {}), ("process", {"jobs": 2})):
            store = ResultStore(tmp_path / name)
            p = plan(load_matrix(path), store)
            with make_executor(name, **kw) as ex:
                summary = execute(p, store, ex)
            out[name] = (p, summary, store.read())
        return out

    return run


def write_plugin(root: Path, dist: str, entry_points: str, modules: dict[str, str] | None = None) -> Path:
    """A plugin distribution in ``root`` (put it on sys.path): its ``.dist-info`` with
    ``entry_points`` (the entry_points.txt text) and ``modules`` (file name -> source)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in (modules or {}).items():
        (root / name).write_text(text)
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    return root



TOY_STORE_MATRIX = "name: toy\ntasks: [toy/synthetic]\nmethods: [knn, {predictor: knn, params: {k: 2}}]\nbudgets: [10, 20]\nseeds: 2\n"


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory, example_plugin) -> Path:
    """A plain store of one run of an 8-cell toy matrix (its file beside it, ``toy.yaml``); copy it to change it."""
    from nasbench_harness.executors import SerialExecutor
    from nasbench_harness.matrix import load_matrix
    from nasbench_harness.runner import execute, plan
    from nasbench_harness.store import ResultStore

    folder = tmp_path_factory.mktemp("toy-store")
    (folder / "toy.yaml").write_text(TOY_STORE_MATRIX)
    store = ResultStore(folder / "results")
    execute(plan(load_matrix(folder / "toy.yaml"), store), store, SerialExecutor())
    return folder / "results"
