"""``run --matrix full --as KIND=NAME``: a newly registered method on the cells its kind takes part in.

A matrix's cells are read as slots (where a method of the kind ran) and refilled with the new
method, through the matrix's own block expansion (``matrix.expand_blocks``: names, params and
labels are checked as in a matrix file):

- ``predictor=NAME``: every ``predict`` slot (protocol params, task, budget, seed) where a
  predictor of NAME's cost family ran (``Predictor.cost_family``; for an encoding-based
  regressor, the regressors block and the surrogate study's within-task XGB slots), with
  NAME at its defaults;
- ``loss=NAME``: every ``predict`` slot of the loss study's predictor (``LOSS_PREDICTOR``)
  with a loss, at its params and encoding, with the loss NAME at its defaults;
- ``strategy=NAME``: every ``search`` slot (task, budget, seed); a predictor-free strategy runs
  once per slot, a predictor-guided one with each predictor (params, encoding, loss) that a
  guided strategy used there.

The cells belong to the matrix ``<matrix>+<NAME>`` (their own partition in a kept store), so
``report`` ranks them beside the reference rows of the same slots.
"""

from __future__ import annotations

import json
from collections import defaultdict

from nasbench_harness.cell import NO_PREDICTOR, Cell, canonical_json
from nasbench_harness.errors import ConfigError
from nasbench_harness.matrix import Matrix, expand_blocks

KINDS = {"predictor": "predictors", "loss": "losses", "strategy": "strategies"}
LOSS_PREDICTOR = "gcn"  # the loss study's predictor (studies/losses)


def parse(spec: str) -> tuple[str, str]:
    """``KIND=NAME`` -> (kind, registered name), or one sentence."""
    from nasbench_harness import registry
    from nasbench_harness.errors import did_you_mean

    kind, _, name = spec.partition("=")
    kind, name = kind.strip(), name.strip()
    if kind not in KINDS or not name:
        raise ConfigError(f"--as takes KIND=NAME with KIND one of {list(KINDS)} (e.g. --as predictor=knn), got '{spec}'.")
    known = registry.names(KINDS[kind])
    if name not in known:
        raise ConfigError(f"No {kind} '{name}' is registered (see `nasbench-harness list {KINDS[kind]}`).{did_you_mean(name, known)}")
    return kind, name


def _slot_blocks(slots: dict[tuple, set[str]], protocol: str, method_of) -> list[dict]:
    """One block per (protocol params, budget, seed, method source) with its tasks."""
    return [
        {"protocol": protocol, "protocol_params": json.loads(pp), "tasks": sorted(tasks), "budgets": [budget], "seeds": [seed], "methods": [method_of(src)]}
        for (pp, budget, seed, src), tasks in slots.items()
    ]


def _group(cells: list[Cell], pp_of, source_of) -> dict[tuple, set[str]]:
    slots: dict[tuple, set[str]] = defaultdict(set)
    for c in cells:
        slots[(canonical_json(pp_of(c)), c.budget, c.seed, source_of(c))].add(c.task)
    return dict(sorted(slots.items(), key=lambda kv: (kv[0][0], float(kv[0][1]), kv[0][2], str(kv[0][3]))))


def _predictor_blocks(cells: list[Cell], name: str) -> list[dict]:
    from nasbench_harness.estimate import _declared, cell_family

    family = _declared("predictors", name).get("cost_family", "other")
    mine = [c for c in cells if c.protocol == "predict" and c.predictor != NO_PREDICTOR and cell_family(c) == family]
    return _slot_blocks(_group(mine, lambda c: c.protocol_params, lambda c: None), "predict", lambda _: {"predictor": name})


def _loss_blocks(cells: list[Cell], name: str) -> list[dict]:
    mine = [c for c in cells if c.protocol == "predict" and c.predictor == LOSS_PREDICTOR and c.loss]
    slots = _group(mine, lambda c: c.protocol_params, lambda c: (c.predictor, canonical_json(c.params), c.encoding))
    return _slot_blocks(slots, "predict", lambda src: {"predictor": src[0], "params": json.loads(src[1]), "encoding": src[2], "loss": name})


def _strategy_blocks(cells: list[Cell], name: str) -> list[dict]:
    from nasbench_harness.methods.strategies import strategy_class

    guided = strategy_class(name).needs_predictor
    mine = [c for c in cells if c.protocol == "search" and (c.predictor != NO_PREDICTOR) == guided]
    if not guided:
        return _slot_blocks(_group(mine, lambda c: {"strategy": name}, lambda c: None), "search", lambda _: {"predictor": NO_PREDICTOR})
    source = lambda c: (c.predictor, canonical_json(c.params), c.encoding, c.loss, canonical_json(c.loss_params))  # noqa: E731

    def method(src) -> dict:
        m = {"predictor": src[0], "params": json.loads(src[1]), "encoding": src[2], "loss": src[3], "loss_params": json.loads(src[4])}
        return {**m, "label": f"{name}-{Cell('search', '', src[0], src[2], 1, 0, loss=src[3]).method}"}

    return _slot_blocks(_group(mine, lambda c: {"strategy": name}, source), "search", method)


BLOCKS = {"predictor": _predictor_blocks, "loss": _loss_blocks, "strategy": _strategy_blocks}


def restrict(m: Matrix, spec: str) -> Matrix:
    """The matrix ``m`` as the cells that the method ``spec`` (``KIND=NAME``) takes part in."""
    kind, name = parse(spec)
    blocks = BLOCKS[kind](m.cells, name)
    if not blocks:
        raise ConfigError(f"Matrix '{m.name}' has no cells where a {kind} like '{name}' takes part; run it with a matrix that does.")
    label = f"{m.name}+{name}"
    return Matrix(label, m.path, f"{name} on the {kind} cells of {m.name}", expand_blocks(label, m.path, blocks, f"--as {spec}"), m.files)
