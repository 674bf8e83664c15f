"""Shared fixtures: the development data in ../shared/data and a session-wide import of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from nasbench_harness.paths import shared_data_dir

# Which ../shared/data folders make up each search space's (or add-on's) data.
SHARED_FOLDERS = {
    "nb201": ["nasbench201"],
    "nb101": ["nasbench101"],
    "tnb101-micro": ["transnas_bench_101"],
    "tnb101-macro": ["transnas_bench_101"],
    "darts": ["nas_bench_301"],
    # The zero-cost importer annotates the tables already imported: import those first.
    "zc": ["nasbench201", "transnas_bench_101", "nas_bench_301", "zero_cost_proxies"],
    "transfer": ["meta_nas_transfer"],
}

SKIP_REASON = (
    "../shared/data is not present (a user's clone): the real-benchmark tests need the "
    "development data folder beside the repository"
)


@pytest.fixture(scope="session", autouse=True)
def private_index(tmp_path_factory):
    """Cached plans and plugin rows (harness/index.py) go to a session folder, never the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NASBENCH_HARNESS_INDEX", str(tmp_path_factory.mktemp("nbh-index")))
        yield


@pytest.fixture(scope="session")
def example_plugin() -> str:
    """The example plugin (predictor ``knn``, loss ``softrank``, strategy ``hill_climb``, space
    ``minicell`` with its tasks), installed by the test command as any plugin is."""
    from nasbench_harness import registry

    assert "knn" in registry.names("predictors") and "minicell" in registry.names("search_spaces"), (
        "the example plugin is not installed (or is an older version): run `pip install -e examples/example-plugin`, "
        "as the README's test command does"
    )
    return "knn"


@pytest.fixture
def tmp_dist(tmp_path, monkeypatch):
    """``tmp_dist(name, files, entry_points)``: an installed distribution for this test only, a
    package plus its ``.dist-info`` on ``sys.path`` (no pip); the registry forgets it afterwards.
    ``files`` maps paths relative to the folder to their text; ``entry_points`` is the
    entry_points.txt text."""
    from nasbench_harness import registry

    def install(name: str, files: dict[str, str], entry_points: str) -> Path:
        for rel, text in {**files, f"{name.replace('-', '_')}-0.1.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n",
                          f"{name.replace('-', '_')}-0.1.dist-info/entry_points.txt": entry_points}.items():
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        monkeypatch.syspath_prepend(str(tmp_path))
        registry.clear_caches()
        return tmp_path

    yield install
    monkeypatch.undo()
    registry.clear_caches()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip(SKIP_REASON)
    return path


@pytest.fixture(scope="session")
def shared_papers(shared_data) -> Path:
    """The papers' text beside the benchmark data (../shared/papers): the claim checks quote it."""
    path = shared_data.parent / "papers"
    if not path.is_dir():
        pytest.skip(f"The papers' text is not at {path}.")
    return path


@pytest.fixture(scope="session")
def session_data_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("nbh-data")


@pytest.fixture(scope="session")
def cache_for(shared_data, session_data_root):
    """``cache_for(space)`` -> a DataCache in which that space's shared files are imported.

    Imports happen once per test session; NASBENCH_HARNESS_DATA points at the cache so
    that subprocess CLI calls see it too.
    """
    from nasbench_harness.tasks.cache import DataCache
    from nasbench_harness.tasks.importers import import_paths

    done: set[str] = set()
    cache = DataCache(session_data_root)

    def ensure(space: str) -> DataCache:
        for folder in SHARED_FOLDERS.get(space, []):
            if folder not in done:
                import_paths([shared_data / folder], cache)
                done.add(folder)
        return cache

    with pytest.MonkeyPatch.context() as mp:  # restored when the session ends
        mp.setenv("NASBENCH_HARNESS_DATA", str(session_data_root))
        yield ensure


@pytest.fixture
def torch_one_thread():
    """Tiny torch models: one thread is fastest and keeps a shared machine usable; restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
