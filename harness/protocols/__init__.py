"""Protocols: what one run (cell) does. Each is a plain function ``(cell, task) -> list[dict]``;
the runner also passes ``threads=`` when the function accepts it.

Registered here by name -> "module:function" and imported lazily.
"""

from __future__ import annotations

import importlib

from nasbench_harness.errors import ConfigError, did_you_mean

PROTOCOLS: dict[str, tuple[str, str]] = {
    # name: ("module:function", one-line description)
    "predict": (
        "nasbench_harness.protocols.predict:run",
        "Fit on N sampled architectures, score an evaluation set, compute ranking metrics.",
    ),
    "select": (
        "nasbench_harness.protocols.select:run",
        "Observe N sampled architectures, spend K more evaluations chosen by a predictor, "
        "random search or regularised evolution; report the best found.",
    ),
    "search": (
        "nasbench_harness.protocols.search:run",
        "A registered strategy spends a query budget one architecture at a time; anytime best-found, regret, "
        "queries to the global best.",
    ),
    "transfer": (
        "nasbench_harness.protocols.transfer:run",
        "Fit on a source task of the same space (plus N target shots), predict the target task; "
        "or the source's own accuracies as the prediction (predictor none).",
    ),
}


def get_protocol(name: str):
    if name not in PROTOCOLS:
        raise ConfigError(
            f"Unknown protocol '{name}'; `nasbench-harness list protocols` shows the known ones."
            f"{did_you_mean(name, PROTOCOLS)}"
        )
    module, func = PROTOCOLS[name][0].split(":")
    return getattr(importlib.import_module(module), func)
