"""The cell: one run (protocol x task x method x budget x seed), its seed streams and run key.

The bottom of the harness: it imports nothing of the project, so the code a cell runs (its
protocol, predictor, loss, space) can name ``Cell`` without pulling the matrix parser into
its code digest (``provenance.py``).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

NO_PREDICTOR = "none"  # the predictor of cells whose protocol params need none (search baselines)


def canonical_json(obj: Any) -> str:
    """Stable JSON (sorted keys, no spaces) used for hashing and for the params columns."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _h32(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


@dataclass(frozen=True)
class Cell:
    """One run: protocol x task x method x budget x seed."""

    protocol: str
    task: str
    predictor: str
    encoding: str
    budget: int | float
    seed: int
    protocol_params: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    loss: str = ""
    loss_params: dict = field(default_factory=dict)
    label: str = ""
    matrix: str = ""

    def as_dict(self) -> dict:
        """``dataclasses.asdict`` of the cell, several times faster (a matrix has ~10^4 cells):
        only its parameter mappings are nested, and they are copied."""
        return {f: (copy.deepcopy(v) if isinstance(v, dict) else v) for f, v in zip(_CELL_FIELDS, astuple_shallow(self))}

    def identity(self) -> dict:
        """Every field that changes the result (not the display label or matrix name)."""
        d = self.as_dict()
        d.pop("label")
        d.pop("matrix")
        d["budget"] = budget_value(self.budget)
        return d

    def run_key(self, data_digest: str, code_digest: str) -> str:
        """sha256 of the cell's identity, the digest of the data it reads and of the code it runs
        (``provenance.data_digest`` and ``provenance.code_version``); nothing else."""
        payload = canonical_json({"cell": self.identity(), "data": data_digest, "code": code_digest})
        return hashlib.sha256(payload.encode()).hexdigest()

    @property
    def method(self) -> str:
        return self.label or method_label(self.predictor, self.loss, self.encoding)

    def seed_sequence(self, stream: int = 0) -> np.random.SeedSequence:
        """Randomness from the cell's sampling fields only (task, budget, seed).

        Independent of the predictor, so every method of one seed trains on the same
        architectures (paired comparisons), and of the executor or machine.
        """
        entropy = [int(self.seed), _h32(self.task), _h32(canonical_json(budget_value(self.budget))), stream]
        return np.random.SeedSequence(entropy)

    def rng(self, stream: int = 0) -> np.random.Generator:
        return np.random.default_rng(self.seed_sequence(stream))

    def predictor_seed(self) -> int:
        return int(self.seed_sequence(stream=1).generate_state(1)[0] & 0x7FFFFFFF)


_CELL_FIELDS = tuple(f.name for f in fields(Cell))


def astuple_shallow(cell: Cell) -> tuple:
    return tuple(getattr(cell, f) for f in _CELL_FIELDS)


def budget_value(budget: int | float) -> int | float:
    """Integral budgets are counts (int); others stay fractions (float)."""
    return int(budget) if isinstance(budget, (int, np.integer)) else float(budget)


def method_label(predictor: str, loss: str, encoding: str, default_encoding: str | None = None, params: dict | None = None) -> str:
    """``predictor[(params)][+loss][@encoding]``; params and encoding only when non-default."""
    label = predictor
    if params:
        label += "(" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) + ")"
    label += f"+{loss}" if loss else ""
    if encoding and encoding != default_encoding:
        label += f"@{encoding}"
    return label
