"""What `nasbench-harness list` shows of each registered kind, read from the registry.

Every row has ``name``, ``description`` and ``package`` (the distribution that provides
it), plus what the entry declares on its class (default params, inputs, a loss's category,
cost priors, ...). Rows of class kinds are cached under the code fingerprint (``index.py``),
so listing them, and reading their metadata (``metadata``: the cost model does), imports no
plugin, hence no torch, once computed.
"""

from __future__ import annotations

import functools

# CLI names of the registry's kinds, in the order `list` shows them.
KINDS = {
    "predictors": "predictors", "losses": "losses", "search-spaces": "search_spaces", "strategies": "strategies",
    "protocols": "protocols", "importers": "importers", "tasks": "tasks", "matrices": "matrices",
    "report-sections": "report_sections", "studies": "studies",
}  # fmt: skip
CLASS_KINDS = ("predictors", "losses", "search_spaces", "strategies", "protocols", "importers")

# The class attributes each kind's rows show (besides name, description and package).
_DECLARED = {
    "predictors": ("inputs", "default_encoding", "supports_loss", "default_loss", "default_params", "cost_family",
                   "prior_seconds", "tuned_prior_seconds"),
    "losses": ("formula", "category", "default_params"),
    "search_spaces": ("size", "embedded", "synthetic"),
    "strategies": ("needs_predictor", "default_params", "prior_seconds", "select_label"),
    "protocols": ("params", "min_budget"),
    "importers": ("space", "priority", "detect_order"),
}


def rows(kind: str) -> list[dict]:
    """The rows of ``list KIND`` (a CLI name such as ``search-spaces``, or a registry kind)."""
    group = KINDS.get(kind, kind)
    if group in CLASS_KINDS:
        from nasbench_harness import index

        return index.plugin_rows(group, lambda: _class_rows(group))
    return {"tasks": _task_rows, "matrices": _matrix_rows}.get(group, lambda: _module_rows(group))()


def metadata(kind: str, name: str) -> dict:
    """The declared attributes of one registered class, from the cached rows ({} when unknown or broken)."""
    return _by_name(kind).get(name, {})


@functools.cache
def _by_name(kind: str) -> dict[str, dict]:
    return {r["name"]: r for r in rows(kind) if not r.get("broken")}


def _entry_row(kind: str, name: str) -> tuple[dict, object]:
    """(row with name, package and description, the loaded entry); a broken entry is listed as such."""
    from nasbench_harness import registry

    row = {"name": name, "description": "", "package": ""}
    try:  # one broken plugin (import error, name collision, bad base class) is listed as such
        row["package"] = registry.info(kind, name).dist
        obj = registry.load(kind, name)
        row["description"] = str(registry.describe(kind, name))
    except Exception as exc:  # noqa: BLE001 - a plugin may raise anything
        # The error's own sentence names the packages (e.g. two declaring one name), cut for the table.
        row.update(description=f"(broken plugin) {' '.join(str(exc).split())[:300]}", error=str(exc), broken=True)
        return row, None
    return row, obj


def _class_rows(kind: str) -> list[dict]:
    from nasbench_harness import registry

    out = []
    for name in registry.names(kind):
        row, cls = _entry_row(kind, name)
        if cls is not None:
            row.update({attr: getattr(cls, attr) for attr in _DECLARED[kind]})
        out.append(row)
    return out


def _module_rows(kind: str) -> list[dict]:
    """Report sections and studies: a module each, titled by its ``TITLE``."""
    from nasbench_harness import registry

    out = []
    for name in registry.names(kind):
        row, module = _entry_row(kind, name)
        if module is not None:
            row["description"] = str(getattr(module, "TITLE", "") or row["description"])
        out.append(row)
    return out


def _task_rows() -> list[dict]:
    from nasbench_harness.tasks.catalog import task_provider, task_specs

    return [
        {"name": s.name, "description": s.description, "package": task_provider(s.name), "space": s.space,
         "dataset": s.dataset, "train_metric": s.train_metric, "eval_metric": s.eval_metric}
        for s in task_specs().values()
    ]


def _matrix_rows() -> list[dict]:
    import yaml
    from nasbench_harness.matrix import matrix_files

    out = []
    for entry, path in matrix_files():
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            doc = {}
        description = str(doc.get("description", "")) if isinstance(doc, dict) else ""
        out.append({"name": path.stem, "description": description, "package": entry.dist, "path": str(path)})
    return out
