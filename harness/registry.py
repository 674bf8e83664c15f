"""One lazy registry over entry points for every kind a package can add.

Each kind has its entry-point group (``nasbench_harness.<kind>``): predictors, losses,
search spaces, strategies, protocols and importers name a class (``module:Class``) that
must subclass the kind's base class; tasks and matrices name a folder (a module, whose
folder's ``*.yaml`` files are read) or a file; report sections and studies name a module.
Built-ins are declared in this project's pyproject.toml exactly like a third-party
plugin's. Nothing is imported until a name is used or listed; two distributions declaring
the same name is an error, and so is a plugin that fails to import or is not of its kind's
base class (each reported with the distribution that declared it).
"""

from __future__ import annotations

import functools
import importlib
import sys
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Generic, TypeVar

from nasbench_harness.errors import RegistryError, did_you_mean

T = TypeVar("T")
PREFIX = "nasbench_harness."
BUILTIN_DIST = "nasbench-harness"


@dataclass(frozen=True)
class PluginInfo:
    kind: str
    name: str
    value: str  # "module:attr" (or "module" for a folder or a module)
    dist: str  # distribution that declared it


def _dist_name(ep: EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else "?"


def _import_attr(path: str):
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


class Registry(Generic[T]):
    """The entries of one kind: ``names``, ``info``, ``load`` (memoised) and ``describe``.

    ``base`` ("module:Class") is the class every entry must subclass; None for kinds whose
    entries are folders, files or modules.
    """

    def __init__(self, kind: str, singular: str, base: str | None = None) -> None:
        self.kind, self.singular, self.base = kind, singular, base
        self.group = PREFIX + kind

    # -- discovery ----------------------------------------------------------------------------
    @functools.cached_property
    def _entries(self) -> dict[str, tuple[EntryPoint, ...]]:
        found: dict[str, list[EntryPoint]] = {}
        seen: set[tuple[str, str]] = set()
        for ep in entry_points(group=self.group):
            # The same distribution can be visible twice (e.g. editable + sys.path); dedupe.
            if (ep.name, ep.value) in seen:
                continue
            seen.add((ep.name, ep.value))
            found.setdefault(ep.name, []).append(ep)
        return {k: tuple(v) for k, v in found.items()}

    def names(self) -> list[str]:
        return sorted(self._entries)

    def info(self, name: str) -> PluginInfo:
        ep = self._lookup(name)
        return PluginInfo(self.kind, name, ep.value, _dist_name(ep))

    def _lookup(self, name: str) -> EntryPoint:
        eps = self._entries
        if name not in eps:
            raise RegistryError(
                f"Unknown {self.singular} '{name}'; `nasbench-harness list {self.kind.replace('_', '-')}` shows the "
                f"registered ones.{did_you_mean(name, eps)}"
            )
        if len(eps[name]) > 1:
            owners = ", ".join(f"{_dist_name(e)} ({e.value})" for e in eps[name])
            raise RegistryError(
                f"The {self.singular} name '{name}' is registered by more than one package: {owners}; "
                f"uninstall one or rename its entry point."
            )
        return eps[name][0]

    # -- loading ------------------------------------------------------------------------------
    @functools.cache  # noqa: B019 - registries live as long as the process (clear() empties it)
    def load(self, name: str) -> T:
        """The registered object for ``name``; imported on first use."""
        ep = self._lookup(name)
        try:
            obj = ep.load()
        except (Exception, SystemExit) as exc:  # a broken plugin must not take the harness down with a traceback
            raise RegistryError(
                f"The {self.singular} plugin '{name}' from package {_dist_name(ep)} ({ep.value}) failed to import: "
                f"{type(exc).__name__}: {exc}; fix or uninstall that package."
            ) from exc
        if self.base is not None:
            base = _import_attr(self.base)
            if not (isinstance(obj, type) and issubclass(obj, base)):
                raise RegistryError(
                    f"The {self.singular} plugin '{name}' from package {_dist_name(ep)} ({ep.value}) is not a subclass "
                    f"of {self.base.replace(':', '.')}; fix that package."
                )
            if getattr(obj, "name", name) != name:
                obj.name = name  # the registry name is authoritative: results are recorded under it
        return obj

    def describe(self, name: str) -> str:
        obj = self.load(name)
        return getattr(obj, "description", "") or (obj.__doc__ or "").strip().split("\n")[0]

    def clear(self) -> None:
        self.__dict__.pop("_entries", None)
        type(self).load.cache_clear()


# kind -> (singular for messages, base class every entry subclasses or None)
KINDS: dict[str, tuple[str, str | None]] = {
    "predictors": ("predictor", "nasbench_harness.methods.base:Predictor"),
    "losses": ("loss", "nasbench_harness.methods.base:Loss"),
    "search_spaces": ("search space", "nasbench_harness.tasks.spaces.base:SearchSpace"),
    "strategies": ("strategy", "nasbench_harness.methods.strategies.base:Strategy"),
    "protocols": ("protocol", "nasbench_harness.protocols.base:Protocol"),
    "importers": ("importer", "nasbench_harness.tasks.importers:Importer"),
    "tasks": ("task folder", None),
    "matrices": ("matrix folder", None),
    "report_sections": ("report section", None),
    "studies": ("study", None),
}
REGISTRIES: dict[str, Registry] = {kind: Registry(kind, singular, base) for kind, (singular, base) in KINDS.items()}
GROUPS = {kind: reg.group for kind, reg in REGISTRIES.items()}


def registry(kind: str) -> Registry:
    if kind not in REGISTRIES:
        raise RegistryError(f"Unknown plugin kind '{kind}'; expected one of {sorted(REGISTRIES)}.")
    return REGISTRIES[kind]


def names(kind: str) -> list[str]:
    return registry(kind).names()


def info(kind: str, name: str) -> PluginInfo:
    return registry(kind).info(name)


def load(kind: str, name: str):
    """The registered class (module, or folder) for ``name``; imported on first use."""
    return registry(kind).load(name)


def describe(kind: str, name: str) -> str:
    return registry(kind).describe(name)


def is_builtin(kind: str, name: str) -> bool:
    return info(kind, name).dist == BUILTIN_DIST


def yaml_files(kind: str) -> list[tuple[PluginInfo, Path]]:
    """Every ``*.yaml`` file of the folders (or the files) registered under ``kind`` (tasks,
    matrices), with the entry that provides it: by entry name, then by file name. An entry
    names a package (its folder) or a path."""
    out = []
    for name in names(kind):
        obj = load(kind, name)
        root = Path(str(resources.files(obj))) if isinstance(obj, ModuleType) else Path(str(obj))
        if not root.exists():
            raise RegistryError(f"The {registry(kind).singular} '{name}' of package {info(kind, name).dist} names {root}, which does not exist; fix that package.")
        files = [root] if root.is_file() else sorted(root.glob("*.yaml"))
        out += [(info(kind, name), f) for f in files]
    return out


@functools.cache
def get_search_space(name: str):
    """The per-process singleton instance of search space ``name``."""
    return load("search_spaces", name)()


def clear_caches() -> None:
    """Forget discovered entry points (tests that install plugins at run time)."""
    for reg in REGISTRIES.values():
        reg.clear()
    get_search_space.cache_clear()
    listing = sys.modules.get("nasbench_harness.listing")
    if listing is not None:
        listing._by_name.cache_clear()
    catalog = sys.modules.get("nasbench_harness.tasks.catalog")  # task definitions read from registered folders
    if catalog is not None:
        catalog.task_specs.cache_clear()
        catalog._definitions.cache_clear()
