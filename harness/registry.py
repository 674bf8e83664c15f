"""Lazy plugin registry over entry points.

Predictors, losses, search spaces and search strategies are found through the entry-point
groups ``nasbench_harness.predictors``, ``nasbench_harness.losses``,
``nasbench_harness.search_spaces`` and ``nasbench_harness.strategies``. Built-ins are declared in this project's
pyproject.toml exactly like a third-party plugin's. Nothing is imported until a name is
used or listed; two distributions declaring the same name is an error, and so is a
plugin that fails to import (reported with the distribution that declared it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from nasbench_harness.errors import RegistryError, did_you_mean

GROUPS = {
    "predictors": "nasbench_harness.predictors",
    "losses": "nasbench_harness.losses",
    "search_spaces": "nasbench_harness.search_spaces",
    "strategies": "nasbench_harness.strategies",
}


@dataclass(frozen=True)
class PluginInfo:
    kind: str
    name: str
    value: str  # "module:attr"
    dist: str  # distribution that declared it


def _dist_name(ep: EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else "?"


@functools.cache
def _entry_points(kind: str) -> dict[str, tuple[EntryPoint, ...]]:
    if kind not in GROUPS:
        raise RegistryError(f"Unknown plugin kind '{kind}'; expected one of {sorted(GROUPS)}.")
    found: dict[str, list[EntryPoint]] = {}
    seen: set[tuple[str, str]] = set()
    for ep in entry_points(group=GROUPS[kind]):
        # The same distribution can be visible twice (e.g. editable + sys.path); dedupe.
        if (ep.name, ep.value) in seen:
            continue
        seen.add((ep.name, ep.value))
        found.setdefault(ep.name, []).append(ep)
    return {k: tuple(v) for k, v in found.items()}


def names(kind: str) -> list[str]:
    return sorted(_entry_points(kind))


def info(kind: str, name: str) -> PluginInfo:
    eps = _lookup(kind, name)
    return PluginInfo(kind, name, eps.value, _dist_name(eps))


def _lookup(kind: str, name: str) -> EntryPoint:
    eps = _entry_points(kind)
    if name not in eps:
        singular = {"strategies": "strategy", "losses": "loss"}.get(kind, kind.rstrip("s").replace("_", " "))
        raise RegistryError(
            f"Unknown {singular} '{name}'; `nasbench-harness list {kind.replace('_', '-')}` shows the "
            f"registered ones.{did_you_mean(name, eps)}"
        )
    if len(eps[name]) > 1:
        owners = ", ".join(f"{_dist_name(e)} ({e.value})" for e in eps[name])
        raise RegistryError(
            f"The {kind} name '{name}' is registered by more than one package: {owners}; "
            f"uninstall one or rename its entry point."
        )
    return eps[name][0]


@functools.cache
def load(kind: str, name: str):
    """The registered class (or factory) for ``name``; imported on first use."""
    ep = _lookup(kind, name)
    try:
        obj = ep.load()
    except (Exception, SystemExit) as exc:  # a broken plugin must not take the harness down with a traceback
        raise RegistryError(
            f"The {kind} plugin '{name}' from package {_dist_name(ep)} ({ep.value}) failed to import: "
            f"{type(exc).__name__}: {exc}; fix or uninstall that package."
        ) from exc
    if getattr(obj, "name", name) != name:
        # Keep the registry name authoritative so results are recorded under it.
        try:
            obj.name = name
        except (AttributeError, TypeError):
            pass
    return obj


def describe(kind: str, name: str) -> str:
    obj = load(kind, name)
    doc = getattr(obj, "description", "") or (obj.__doc__ or "").strip().split("\n")[0]
    return doc


@functools.cache
def get_search_space(name: str):
    """The per-process singleton instance of search space ``name``."""
    return load("search_spaces", name)()


def clear_caches() -> None:
    """Forget discovered entry points (tests that install plugins at run time)."""
    _entry_points.cache_clear()
    load.cache_clear()
    get_search_space.cache_clear()
