"""The protocol contract: what one run (cell) does, with its params and hooks declared.

A protocol subclasses ``Protocol``, implements ``run(cell, task, threads=...)`` and is
registered under the entry-point group ``nasbench_harness.protocols`` like every other
kind. The matrix parser asks it, through the hooks below, which ``protocol_params`` it
accepts, whether a cell may have no predictor and what such a cell is labelled, the
smallest count budget, and whether a task suits it; each hook has a default, so a new
protocol declares only what differs. ``rows`` is what the runner calls: ``run`` plus the
columns every protocol's rows carry (``loss_category`` where the cell trains with a loss).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from nasbench_harness.errors import ConfigError


class Protocol(ABC):
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # protocol_params it accepts (name -> what it does); None: open, check_params decides alone.
    params: ClassVar[dict[str, str] | None] = {}
    min_budget: ClassVar[int] = 2  # smallest count budget the matrix accepts
    budget_leaves: ClassVar[int] = 0  # architectures a count budget must leave of its task (e.g. to evaluate on)

    def check_params(self, params: dict) -> None:
        """ConfigError for params the protocol does not accept (static: no data is loaded)."""
        if self.params is None:
            return
        unknown = set(params) - set(self.params)
        if unknown:
            raise ConfigError(
                f"The {self.name} protocol got unknown protocol_params {sorted(unknown)}; it accepts {sorted(self.params)}."
            )

    def predictor_free_label(self, params: dict) -> str | None:
        """The method label of cells that need no predictor under ``params`` (``predictor: none``
        is then the only valid predictor); None: the params need a predictor."""
        return None

    def baseline_label(self, params: dict) -> str | None:
        """The label of an optional predictor-free baseline cell besides named predictors (None: none)."""
        return None

    def check_task(self, params: dict, task_name: str) -> None:
        """ConfigError when ``task_name`` does not suit ``params`` (checked per task, before any data loads)."""
        return None

    def related_tasks(self, params: dict) -> list[str]:
        """Tasks a cell reads besides its own (e.g. a transfer's source): their data enters its run key."""
        return []

    @abstractmethod
    def run(self, cell, task, *, threads: int = 1) -> list[dict]:
        """The result rows of one cell on its loaded task (``threads``: the cores it may use)."""

    def rows(self, cell, task, *, threads: int = 1) -> list[dict]:
        """``run``'s rows with the columns common to every protocol (what the runner stores)."""
        common = self.row_columns(cell)
        return [{**common, **r} for r in self.run(cell, task, threads=threads)]

    def row_columns(self, cell) -> dict:
        """``loss_category`` (the loss class's ``category``) where the cell trains with a loss."""
        if not cell.loss:
            return {}
        from nasbench_harness import registry

        return {"loss_category": registry.load("losses", cell.loss).category}


def get_protocol(name: str) -> Protocol:
    """The per-process instance of the registered protocol ``name`` (RegistryError when unknown)."""
    from nasbench_harness import registry

    return _instance(registry.load("protocols", name))


_INSTANCES: dict[type, Protocol] = {}


def _instance(cls: type) -> Protocol:
    if cls not in _INSTANCES:
        _INSTANCES[cls] = cls()
    return _INSTANCES[cls]
