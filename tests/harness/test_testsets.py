"""The loss paper's mutation-based test set: sizes, seeds, single-edit mutants, determinism."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from nasbench_harness.errors import ConfigError
from nasbench_harness.protocols.testsets import mutation_test_set


class ToySpace:
    """Strings of 4 digits in 0..3 (256 archs); a single edit changes one digit."""

    def __init__(self, listable: bool = True) -> None:
        self.listable = listable

    def neighbours(self, arch_id: str) -> list[str]:
        if not self.listable:
            raise NotImplementedError
        return [arch_id[:i] + d + arch_id[i + 1 :] for i in range(4) for d in "0123" if d != arch_id[i]]

    def mutate(self, arch_id: str, rng: np.random.Generator) -> str:
        i = int(rng.integers(4))
        d = rng.choice([c for c in "0123" if c != arch_id[i]])
        return arch_id[:i] + d + arch_id[i + 1 :]


class ToyTask:
    name = "toy/digits"

    def __init__(self, listable: bool = True, drop_every: int = 0) -> None:
        ids = ["".join(p) for p in itertools.product("0123", repeat=4)]
        if drop_every:
            ids = [a for k, a in enumerate(ids) if k % drop_every]  # a subset, like NB101's 20k cells
        self.ids = np.array(ids)
        self.space = ToySpace(listable)
        self.train_scores = np.array([sum(int(c) * 10**-k for k, c in enumerate(a)) for a in ids])
        self._row = {a: i for i, a in enumerate(ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def rows_of(self, arch_ids) -> np.ndarray:
        return np.fromiter((self._row.get(a, -1) for a in arch_ids), dtype=np.int64)


def hamming(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b))


def _check(task, rows, n_mutants, seed=0, n_initial=50, n_seeds=10):
    assert len(rows) == n_mutants and len(set(rows.tolist())) == n_mutants
    rng = np.random.default_rng(seed)
    initial = rng.choice(len(task), size=n_initial, replace=False)
    seeds = initial[np.argsort(-task.train_scores[initial])[:n_seeds]]
    assert not set(rows.tolist()) & set(initial.tolist())
    for r in rows:  # every test architecture is one edit away from some seed
        assert min(hamming(task.ids[r], task.ids[s]) for s in seeds) == 1
    return seeds


@pytest.mark.parametrize("listable", [True, False])
def test_mutation_test_set_shape_and_neighbourhood(listable):
    task = ToyTask(listable=listable)
    kw = {"n_initial": 20, "n_seeds": 5, "n_mutants": 40}
    rows = mutation_test_set(task, np.random.default_rng(0), **kw)
    seeds = _check(task, rows, 40, n_initial=20, n_seeds=5)
    # Round-robin: every seed contributes.
    per_seed = [sum(hamming(task.ids[r], task.ids[s]) == 1 for r in rows) for s in seeds]
    assert min(per_seed) >= 1


def test_paper_defaults_on_a_subset_task():
    task = ToyTask(drop_every=7)  # mutants outside the task are skipped
    rows = mutation_test_set(task, np.random.default_rng(1), n_initial=50, n_seeds=10, n_mutants=40)
    _check(task, rows, 40, seed=1, n_initial=50, n_seeds=10)


def test_same_rng_same_set_and_different_rng_differs():
    task = ToyTask()
    a = mutation_test_set(task, np.random.default_rng(5), n_initial=30, n_seeds=5, n_mutants=50)
    b = mutation_test_set(task, np.random.default_rng(5), n_initial=30, n_seeds=5, n_mutants=50)
    c = mutation_test_set(task, np.random.default_rng(6), n_initial=30, n_seeds=5, n_mutants=50)
    np.testing.assert_array_equal(a, b)
    assert set(a.tolist()) != set(c.tolist())


def test_small_neighbourhood_gives_a_smaller_set_not_padding():
    task = ToyTask()
    rows = mutation_test_set(task, np.random.default_rng(0), n_initial=3, n_seeds=1, n_mutants=200)
    assert 0 < len(rows) <= 12  # one seed has 12 neighbours


@pytest.mark.parametrize("kw", [{"n_seeds": 0}, {"n_initial": 10, "n_seeds": 20}, {"n_initial": 10_000}, {"n_mutants": 2.5}])
def test_bad_parameters(kw):
    with pytest.raises(ConfigError):
        mutation_test_set(ToyTask(), np.random.default_rng(0), **kw)


def test_on_real_transnas_micro(cache_for):
    from nasbench_harness.tasks.catalog import load_task

    task = load_task("tnb101-micro/class_scene", cache_for("tnb101-micro"))
    rows = mutation_test_set(task, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    initial = rng.choice(len(task), size=50, replace=False)
    seeds = initial[np.argsort(-task.train_scores[initial], kind="stable")[:10]]
    pool = set(task.rows_of([m for s in seeds for m in task.space.neighbours(task.ids[s])]).tolist()) - set(initial.tolist())
    # A micro cell has 18 neighbours, so 10 seeds reach fewer than 200 distinct mutants: all of them are taken.
    assert len(rows) == min(200, len(pool)) and set(rows.tolist()) == pool


def test_on_real_nb201(cache_for):
    from nasbench_harness.tasks.catalog import load_task

    task = load_task("nb201/cifar10", cache_for("nb201"))
    rows = mutation_test_set(task, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    initial = rng.choice(len(task), size=50, replace=False)
    seeds = initial[np.argsort(-task.train_scores[initial], kind="stable")[:10]]
    pool = set(task.rows_of([m for s in seeds for m in task.space.neighbours(task.ids[s])]).tolist()) - set(initial.tolist())
    # An NB201 cell has 24 single-edit neighbours: 10 seeds reach 200 distinct mutants, as in the paper.
    assert len(rows) == 200 and set(rows.tolist()) <= pool
    assert task.eval_scores[rows].std() > 0


def test_excluded_rows_are_never_taken():
    task = ToyTask()
    full = mutation_test_set(task, np.random.default_rng(2), n_initial=30, n_seeds=5, n_mutants=50)
    banned = full[::2]
    rows = mutation_test_set(task, np.random.default_rng(2), n_initial=30, n_seeds=5, n_mutants=50, exclude=banned)
    assert len(rows) > 0 and not np.isin(rows, banned).any()
