"""Turn result rows into the report's numbers: metric metadata, mean ± std over seeds, ranks.

Everything here is a vectorised pandas ``groupby``; 100,000 result rows aggregate in well
under a second. Aggregates keep the run keys of the rows they summarise (``keys``), so
every number in the report traces back to stored result rows.

A *comparison* is one leaderboard: the rows that share ``protocol``, ``protocol_params``
and ``task`` (``search`` rows: ``protocol`` and ``task``; see ``METHOD_PARAM_PROTOCOLS``).
Within it, one table per ``budget``; one row per ``method``.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from nasbench_harness.errors import ResultStoreError

# Result-row columns that are not metrics even when numeric (see docs/ARCHITECTURE.md).
SCHEMA_COLUMNS = frozenset(
    [
        "key",
        "matrix",
        "protocol",
        "protocol_params",
        "task",
        "space",
        "dataset",
        "predictor",
        "encoding",
        "loss",
        "method",
        "params",
        "budget",
        "n_train",
        "n_eval",
        "seed",
        "status",
        "error",
        "eval_is_test",
        "code_version",
        "data_checksum",
        "versions",
        "finished_at",
        "schema_version",  # provenance (harness/schema.py), not a metric
        "machine",
        # search rows (docs/SEARCH.md): descriptors of the run or the task, not metrics to rank on
        "n_queries",
        "global_best_eval",
        "global_best_train",
    ]
)
COMPARISON = ["protocol", "protocol_params", "task"]
# Protocols whose params belong to the method (a search strategy and its settings, one matrix block
# per strategy): their rows share one leaderboard per task instead of one per strategy.
METHOD_PARAM_PROTOCOLS = frozenset({"search"})
PER_METHOD = "per method"


@dataclass(frozen=True)
class MetricInfo:
    """How to show and compare one metric column."""

    name: str
    label: str
    higher_is_better: bool
    group: str  # column group in leaderboards: Ranking, Top-K, Error, Search, Cost, Other
    description: str = ""
    task_units: bool = False  # in the task's eval-metric units (direction follows the task)


_GROUP_ORDER = ["Ranking", "Top-K", "Error", "Search", "Cost", "Other"]
_DESCRIPTIONS = {
    "kendall_tau": "Kendall rank correlation between predicted and true scores on the evaluation set.",
    "spearman": "Spearman rank correlation between predicted and true scores.",
    "pearson": "Pearson linear correlation between predicted and true scores.",
    "mae": "Mean absolute error between predictions and true values.",
    "rmse": "Root mean squared error between predictions and true values.",
    "precision@": "Share of the true top-T% architectures among the predicted top-T%.",
    "n@": "Best true rank (1 = the best architecture) among the top-K predicted; lower is better.",
    "recall@": "Share of the true top-k architectures found among the predicted top-k.",
    "best_eval_queried": ("Best eval metric among every architecture the search queried (picked with the eval metric, "
                          "so no search could report it without test labels; task units)."),
    "best_of_top": "Eval metric of the best architecture among the top-K predicted (task units).",
    "best_": "Eval metric of the best architecture found by the search (task units).",
    "_seconds": "Wall time in seconds.",
    "regret": "Distance of the found architecture's eval metric to the task's global best (task units).",
    "queries_to_optimum": "Query at which the global best was first queried; budget + 1 when never (censored).",
    "n_redraws": "Proposals outside the labelled pool that were redrawn (not charged).",
    "fit_share": "Share of the run's wall time spent fitting and scoring predictors.",
}


def _builtin_info(name: str) -> MetricInfo:
    """Direction and grouping from the metric's name, for metrics.py-independent defaults."""
    lower = name.lower()
    desc = next((d for k, d in _DESCRIPTIONS.items() if lower == k or lower.startswith(k) or lower.endswith(k)), "")
    if lower.endswith("_seconds"):
        return MetricInfo(name, name.replace("_seconds", " s").replace("_", " "), False, "Cost", desc)
    if lower.startswith("n@"):
        return MetricInfo(name, f"N@{name[2:]}", False, "Top-K", desc)
    if lower in {"mae", "rmse", "mse", "mape"}:
        return MetricInfo(name, name.upper(), False, "Error", desc)
    if lower in {"kendall_tau", "spearman", "pearson"}:
        label = {"kendall_tau": "Kendall τ", "spearman": "Spearman ρ", "pearson": "Pearson r"}[lower]
        return MetricInfo(name, label, True, "Ranking", desc)
    if lower.startswith("precision@"):
        return MetricInfo(name, f"Precision@{name[10:]}%", True, "Top-K", desc)
    if lower.startswith("recall@"):
        return MetricInfo(name, f"Recall@{name[7:]}", True, "Top-K", desc)
    if lower in {"regret", "queries_to_optimum"}:
        return MetricInfo(name, name.replace("_", " "), False, "Search", desc)
    if lower in {"n_redraws", "fit_share"}:
        return MetricInfo(name, name.replace("_", " "), False, "Cost", desc)
    if lower.startswith("best_of_top"):
        return MetricInfo(name, f"Best of top-{name[11:]}", True, "Top-K", desc, task_units=True)
    if lower.startswith("best_"):
        return MetricInfo(name, name, True, "Search", desc, task_units=True)
    return MetricInfo(name, name, True, "Other", desc)


@functools.cache
def metric_info(name: str) -> MetricInfo:
    """Direction, label and description of a metric: metrics.py's definition where it has
    one (the prediction metrics), name rules for the rest (search and cost columns)."""
    from nasbench_harness import metrics

    info = _builtin_info(name)
    try:
        defined = metrics.metric_info(name)
    except metrics.MetricInputError:  # not a prediction metric
        return info
    return MetricInfo(name, info.label, defined.higher_is_better, info.group, defined.description, info.task_units)


def higher_is_better(metric: str, task_higher_is_better: bool = True) -> bool:
    """Direction of ``metric`` on a task; task-unit metrics flip on lower-is-better tasks."""
    info = metric_info(metric)
    return info.higher_is_better if not info.task_units else (info.higher_is_better == task_higher_is_better)


_FIRST = {"kendall_tau": 0, "spearman": 1, "pearson": 2, "precision@": 0, "recall@": 1, "n@": 2, "best_of_top": 3}


def _metric_sort_key(name: str) -> tuple:
    info = metric_info(name)
    number = re.search(r"(\d+(?:\.\d+)?)$", name)
    stem = re.sub(r"[\d.]+$", "", name)
    return (_GROUP_ORDER.index(info.group), _FIRST.get(stem, 9), stem, float(number.group(1)) if number else 0.0, name)


def metric_columns(df: pd.DataFrame) -> list[str]:
    """Numeric non-schema columns that hold at least one value, in display order."""
    cols = [
        c
        for c in df.columns
        if c not in SCHEMA_COLUMNS and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
    ]
    cols = [c for c in cols if df[c].notna().any()]
    return sorted(cols, key=_metric_sort_key)


# -- loading ------------------------------------------------------------------------------
def load_results(results_dir: Path | str, reference: Path | str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """All stored result rows of ``results_dir`` and the problems met reading them.

    With ``reference`` (a store such as ``results/reference``) its rows join them, and every
    row gets an ``origin``: ``reference`` when its run key is stored there, else ``local``
    (``origins`` says, per method, which code version, machine and date a local row comes from).
    Raises ResultStoreError (one sentence) when the folder holds no result rows.
    """
    from nasbench_harness.store import dedupe, with_float_gaps

    df, problems = _read_rows(Path(results_dir))
    if reference is not None:
        ref, ref_problems = _read_rows(Path(reference), allow_empty=True)  # a clone's reference may not be filled yet
        problems += ref_problems
        df = dedupe(pd.concat([df, ref], ignore_index=True))
        df["origin"] = np.where(df["key"].isin(set(ref["key"])), REFERENCE, LOCAL)
    df, superseded = latest_per_cell(normalise(with_float_gaps(df)))
    if superseded:
        problems.append(
            f"{superseded} result row(s) computed with an older code or data version of a cell that has a newer row "
            "were left out (the newest row of each cell is reported)."
        )
    return df, problems


REFERENCE, LOCAL = "reference", "local"  # a row's origin, when the report is given a reference store


def _read_rows(path: Path, allow_empty: bool = False) -> tuple[pd.DataFrame, list[str]]:
    if not path.is_dir():
        raise ResultStoreError(f"no results in {path}; run `nasbench-harness run` first (or pass --results DIR).")
    import warnings

    from nasbench_harness.store import ResultStore

    store = ResultStore(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # problems are shown in the report instead
        df = store.read()
    if (df.empty or "status" not in df.columns) and not allow_empty:
        raise ResultStoreError(f"no results in {path}; run `nasbench-harness run` first (or pass --results DIR).")
    return df, list(store.problems)


def origins(rows: pd.DataFrame, by: list[str]) -> dict[tuple, str]:
    """Per ``by`` group: ``reference``, or where its local rows were computed
    (``local: <code versions> on <hosts>, <dates>``); {} when the rows have no ``origin``."""
    if "origin" not in rows.columns:
        return {}
    out = {}
    for group, g in rows.groupby(by, sort=True, dropna=False):
        local = g[g["origin"] == LOCAL]
        if local.empty:
            out[group] = REFERENCE
            continue
        # 8 hex digits name a code version here; the full digests are in the rows table and CSV
        code = ", ".join(sorted({re.sub(r"([0-9a-f]{8})[0-9a-f]{8}", r"\1", v) for v in local["code_version"] if v})) or "code not recorded"
        hosts = ", ".join(sorted({h for h in map(_host, local["machine"]) if h})) or "machine not recorded"
        days = sorted({str(v)[:10] for v in local.get("finished_at", pd.Series(dtype=str)).dropna() if v})
        when = days[0] if len(days) == 1 else (f"{days[0]} to {days[-1]}" if days else "date not recorded")
        mixed = " (and reference rows)" if len(local) < len(g) else ""
        out[group] = f"{LOCAL}: {code} on {hosts}, {when}{mixed}"
    return out


def _host(machine: str) -> str:
    try:
        parsed = json.loads(machine) if machine else {}
    except ValueError:
        return str(machine)
    return str(parsed.get("host", "")) if isinstance(parsed, dict) else str(machine)


# What makes two rows the same cell, whatever code or data version computed them (Cell.identity,
# as stored); the label counts too, so two labels of one configuration stay apart.
CELL_COLUMNS = ("protocol", "protocol_params", "task", "predictor", "encoding", "loss", "method", "params", "budget", "seed")


def latest_per_cell(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep the newest row of each cell: a rerun after a code or data change gets a new run key,
    and averaging its row with the stale one would count that seed twice."""
    cols = [c for c in CELL_COLUMNS if c in df.columns]
    if not cols or "finished_at" not in df.columns:
        return df, 0
    order = df.sort_values("finished_at", kind="stable")
    keep = ~order.duplicated(subset=cols, keep="last")
    return df.loc[order.index[keep]].sort_index(), int((~keep).sum())


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Fill the schema columns a partial store may lack, with neutral values."""
    defaults = {
        "key": "",
        "matrix": "",
        "protocol": "predict",
        "protocol_params": "{}",
        "task": "?",
        "method": "",
        "loss": "",
        "error": "",
        "code_version": "",
        "data_checksum": "",
        "versions": "",
        "machine": "",
        "params": "",
    }
    df = df.copy()
    for col, value in defaults.items():
        if col not in df.columns:
            df[col] = value
        else:
            df[col] = df[col].fillna(value).astype(str)
    if (df["method"] == "").any() and "predictor" in df.columns:
        df["method"] = df["method"].mask(df["method"] == "", df["predictor"].astype(str))
    version = df["schema_version"] if "schema_version" in df.columns else pd.Series(1, index=df.index)
    df["schema_version"] = pd.to_numeric(version, errors="coerce").fillna(1).astype(int)  # rows written before it: 1
    for col in ("budget", "n_train", "n_eval", "seed"):
        if col not in df.columns:
            df[col] = np.nan
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df["status"] = df["status"].fillna("failed").astype(str)
    return df


# -- aggregation --------------------------------------------------------------------------
def aggregate(
    results: pd.DataFrame, by: list[str], metrics: list[str] | None = None, *, ok_only: bool = True
) -> pd.DataFrame:
    """Mean and sample std (ddof=1) of each metric over the rows of each ``by`` group.

    Returns the ``by`` columns, ``n`` (rows in the group), ``keys`` (their run keys, ";"
    separated, for provenance), ``n_train`` (mean; when present), and ``<metric>.mean``,
    ``<metric>.std`` per metric. Failed rows are left out unless ``ok_only`` is False.
    """
    df = results[results["status"] == "ok"] if ok_only and "status" in results.columns else results
    metrics = [m for m in (metrics if metrics is not None else metric_columns(df)) if m in df.columns]
    if df.empty:
        cols = [*by, "n", "keys", *[f"{m}.{s}" for m in metrics for s in ("mean", "std")]]
        return pd.DataFrame(columns=cols)
    grouped = df.groupby(by, sort=True, dropna=False)
    stats = grouped[metrics].agg(["mean", "std"]) if metrics else pd.DataFrame(index=grouped.size().index)
    stats.columns = [f"{m}.{s}" for m, s in stats.columns] if metrics else []
    out = pd.DataFrame({"n": grouped.size()})
    if "n_train" in df.columns and "n_train" not in by:
        out["n_train"] = grouped["n_train"].mean()
    out["keys"] = grouped["key"].agg(";".join) if "key" in df.columns else ""
    return out.join(stats).reset_index()


def comparisons(results: pd.DataFrame) -> list[dict]:
    """One dict per leaderboard (protocol, protocol_params, task) with a readable label and slug."""
    combos = results.assign(protocol_params=board_params(results))[COMPARISON]
    combos = combos.drop_duplicates().sort_values(["task", "protocol", "protocol_params"])
    multi = combos.groupby(["task", "protocol"])["protocol_params"].transform("nunique") > 1
    out = []
    for (protocol, params, task), several in zip(combos.itertuples(index=False, name=None), multi, strict=True):
        label = task if protocol == "predict" else f"{task} · {protocol}"
        if several:
            label += f" · {_short_params(params)}"
        slug = re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-").lower()
        out.append({"protocol": protocol, "protocol_params": params, "task": task, "label": label, "slug": slug})
    slugs = pd.Series([c["slug"] for c in out])
    for i, dup in enumerate(slugs.duplicated(keep=False)):
        if dup:
            out[i]["slug"] += f"-{i}"
    return out


def _short_params(params: str) -> str:
    try:
        obj = json.loads(params)
    except (ValueError, TypeError):
        return params
    if isinstance(obj, dict):
        return ", ".join(f"{k}={v}" for k, v in obj.items()) or "defaults"
    return str(obj)


def board_params(results: pd.DataFrame) -> pd.Series:
    """``protocol_params`` as leaderboards group rows: PER_METHOD for METHOD_PARAM_PROTOCOLS."""
    return results["protocol_params"].where(~results["protocol"].isin(METHOD_PARAM_PROTOCOLS), PER_METHOD)


def select(results: pd.DataFrame, comparison: dict) -> pd.DataFrame:
    """The rows of one comparison."""
    mask = np.ones(len(results), dtype=bool)
    for col in COMPARISON:
        values = board_params(results) if col == "protocol_params" else results[col]
        mask &= (values == comparison[col]).to_numpy()
    return results[mask]


def format_budget(budget: float) -> str:
    """A budget as asked: a fraction as a percentage, a count as an integer."""
    if pd.isna(budget):
        return "—"
    if 0 < budget < 1:
        return f"{budget * 100:g}%"
    return f"{int(budget):,}" if float(budget).is_integer() else f"{budget:g}"


def rank_within(agg: pd.DataFrame, groups: list[str], metrics: list[str], task_hib: dict[str, bool]) -> pd.DataFrame:
    """Rank of each row's mean within its group (1 = best, ties averaged), per metric."""
    ranks = agg[[*groups, "method"]].copy()
    hib_task = agg["task"].map(lambda t: task_hib.get(t, True)).to_numpy(dtype=bool)
    for m in metrics:
        col = f"{m}.mean"
        if col not in agg.columns:
            continue
        info = metric_info(m)
        # Orient so that larger is better for every row, then rank descending.
        hib = (
            np.where(hib_task, info.higher_is_better, not info.higher_is_better)
            if info.task_units
            else info.higher_is_better
        )
        oriented = agg[col] * np.where(hib, 1.0, -1.0)
        ranks[m] = oriented.groupby([agg[g] for g in groups], dropna=False).rank(ascending=False, method="average")
    return ranks


def overall_ranking(results: pd.DataFrame, metrics: list[str], task_hib: dict[str, bool]) -> pd.DataFrame:
    """Average rank of each method per metric over every (task, budget) leaderboard it is in.

    One frame per protocol would be fairer across metrics; callers pass one protocol's rows.
    Columns: method, tasks (distinct tasks covered), boards (leaderboards covered), and the
    average rank per metric (lower is better). Methods covering more leaderboards come first:
    a method ranked 1st on the one board it ran on must not sit above one ranked over all.
    """
    groups = [*COMPARISON, "budget"]
    agg = aggregate(results.assign(protocol_params=board_params(results)), groups + ["method"], metrics)
    if agg.empty:
        return pd.DataFrame(columns=["method", "tasks", "boards", *metrics])
    ranks = rank_within(agg, groups, metrics, task_hib)
    present = [m for m in metrics if m in ranks.columns]
    out = ranks.groupby("method")[present].mean()
    out.insert(0, "boards", ranks.groupby("method").size())
    out.insert(0, "tasks", ranks.groupby("method")["task"].nunique())
    first = present[0] if present else "boards"
    return out.reset_index().sort_values(["boards", first, "method"], ascending=[False, True, True], ignore_index=True)


def by_task(results: pd.DataFrame, metric: str) -> dict[float, pd.DataFrame]:
    """Per budget: one row per method, the mean of ``metric`` on each task (columns).

    The ``mean`` column averages the method's task means (NaN when it misses a task, so
    that a method is never flattered by the tasks it skipped).
    """
    ok = results[results["status"] == "ok"]
    if metric not in ok.columns or ok.empty:
        return {}
    means = ok.groupby(["budget", "method", "task"])[metric].mean().unstack("task")
    out = {}
    for budget, table in means.groupby(level="budget", sort=True):
        table = table.droplevel("budget").dropna(axis=1, how="all")
        table.insert(0, "mean over tasks", table.mean(axis=1, skipna=False))
        out[budget] = table.reset_index().rename_axis(columns=None)
    return out
