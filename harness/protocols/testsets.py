"""Special evaluation sets for the ``predict`` protocol.

``mutation_test_set`` is the loss-function paper's mutation-based test set (following
White et al., 2021): 50 random initial architectures, the 10 best of them (by the train
metric, which is what a search would know) as seeds, and 200 single-edit mutants of the
seeds as the test set. It measures how well a predictor tells apart close neighbours, the
situation of evolutionary and local search.
"""

from __future__ import annotations

import numpy as np
from nasbench_harness.errors import ConfigError


def _seed_mutants(task, seed_id: str, rng: np.random.Generator, tries: int) -> list[str]:
    """Distinct single-edit neighbours of ``seed_id`` in random order.

    Spaces that list their neighbours give all of them, shuffled; the others are asked
    for ``tries`` random mutations (duplicates dropped).
    """
    try:
        ids = list(task.space.neighbours(seed_id))
        return [ids[i] for i in rng.permutation(len(ids))]
    except NotImplementedError:
        seen: dict[str, None] = {}
        for _ in range(tries):
            seen.setdefault(task.space.mutate(seed_id, rng), None)
        return list(seen)


def mutation_test_set(
    task,
    rng: np.random.Generator,
    n_initial: int = 50,
    n_seeds: int = 10,
    n_mutants: int = 200,
    *,
    exclude=None,
) -> np.ndarray:
    """Task rows of ``n_mutants`` distinct single-edit mutants of the best ``n_seeds`` of ``n_initial`` random rows.

    Mutants are taken round-robin over the seeds (best seed first), so each seed contributes
    about ``n_mutants / n_seeds``; mutants missing from the task (e.g. outside the NB101
    subset) are skipped, as are the initial architectures themselves and the rows in
    ``exclude`` (the predictor's training rows: a test set holds only unseen architectures).
    When the seeds' whole neighbourhoods hold fewer mutants, the set is smaller (never
    padded with non-mutants).
    """
    for name, value in (("n_initial", n_initial), ("n_seeds", n_seeds), ("n_mutants", n_mutants)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"mutation_test_set needs a positive integer {name}, got {value!r}.")
    n = len(task)
    if n_initial > n or n_seeds > n_initial:
        raise ConfigError(
            f"mutation_test_set needs n_seeds <= n_initial <= the task's {n} architectures, "
            f"got n_seeds={n_seeds}, n_initial={n_initial}."
        )
    initial = rng.choice(n, size=n_initial, replace=False)
    train = np.asarray(task.train_scores)[initial]
    seeds = initial[np.argsort(-train, kind="stable")[:n_seeds]]
    tries = 4 * -(-n_mutants // n_seeds)
    queues = []
    for row in seeds:
        cand = _seed_mutants(task, str(task.ids[row]), rng, tries)
        rows = task.rows_of(cand) if cand else np.empty(0, dtype=np.int64)
        queues.append([int(r) for r in rows if r >= 0])
    taken: dict[int, None] = {}
    excluded = {int(r) for r in initial}
    if exclude is not None:
        excluded.update(int(r) for r in np.asarray(exclude).reshape(-1))
    pos = [0] * len(queues)
    while len(taken) < n_mutants:
        progressed = False
        for q, queue in enumerate(queues):
            while pos[q] < len(queue):
                r = queue[pos[q]]
                pos[q] += 1
                if r not in taken and r not in excluded:
                    taken[r] = None
                    progressed = True
                    break
            if len(taken) >= n_mutants:
                break
        if not progressed:
            break
    if not taken:
        raise ConfigError(
            f"No single-edit mutant of the seed architectures is in task '{task.name}'; "
            "use eval_set: space for this task."
        )
    return np.fromiter(taken, dtype=np.int64)
