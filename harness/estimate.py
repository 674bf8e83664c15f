"""What cells cost: a model learned from stored timings, cost families, a stratified sample.

A cell's cost is assumed to depend on its *stratum*, the method as the runner executes it
(protocol, protocol params, predictor, predictor params; not the loss, which changes a
GCN's cost little) in one search space, and within a stratum on the training-set size n
as a power law ``seconds = exp(a) * n**b``. ``CostModel`` fits that per stratum from the
stored rows (least squares in log-log; the slope is pooled over the method's spaces when
a stratum holds one size only) and falls back, for a cell with no stored stratum, to the
method's pooled fit, then to the predictor's rows (same protocol and search strategy, any
params) in that space, then in any space, and last to the priors in ``runner`` (per
predictor, per search strategy, for tuned regressors). Each estimate says which level it
came from (its *basis*), so `run --dry-run` can show how much of a projection is measured.

Timings: ``cpu_seconds`` (CPU time of the worker during the cell, what the cell costs on a
dedicated core) where stored, else ``total_seconds`` (wall time, inflated on a loaded
machine); ``CostModel(rows, column="total_seconds")`` models wall time instead, its priors
scaled by the median wall/CPU ratio of the stored rows (the load they ran under).

``sample_cells`` picks K cells of every stratum (from the smallest to the largest training
size, so the log-log fit has a range; K = 1: the median) deterministically: `run --sample K` stores them, and
a following `run --dry-run` projects the whole matrix from them.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from nasbench_harness.cell import NO_PREDICTOR, Cell, canonical_json

# Families that `full` states a time budget for (docs/FULL.md); every cell belongs to one. A
# predictor declares its family (``Predictor.cost_family``); a family not listed here sorts last.
FAMILIES = ("GCN family", "ConvNP", "CAP/CARL/NP", "tuned regressors", "regressors", "LM", "search", "other")
NO_PREDICTOR_PRIOR_SECONDS = 1.0  # a predictor-free baseline cell (random search, regularised evolution)
MIN_SLOPE, MAX_SLOPE = 0.0, 1.5  # cost never falls with n; above n^1.5 a fit is noise at these sizes
BASES = ("stratum", "method", "predictor+space", "predictor", "prior")


def cell_family(cell: Cell) -> str:
    """The cost family of a cell: search protocols and predictor-free baselines are "search";
    a regressor tuned by cross-validation (``params.tune``) is a "tuned regressor"."""
    if cell.protocol == "search" or cell.predictor == NO_PREDICTOR:
        return "search"
    family = _declared("predictors", cell.predictor).get("cost_family", "other")
    if family == "regressors" and cell.params.get("tune"):
        return "tuned regressors"
    return family


def method_key(protocol: str, protocol_params: dict, predictor: str, params: dict) -> str:
    """What a cell's cost depends on besides its space and training size."""
    return canonical_json([protocol, protocol_params, predictor, params])


def predictor_key(protocol: str, protocol_params: dict, predictor: str) -> str:
    """The method without its params: a fallback never crosses protocols or search strategies
    (a search cell fits its predictor many times; a predict cell once)."""
    return canonical_json([protocol, protocol_params.get("strategy", ""), predictor])


def cell_method_key(cell: Cell) -> str:
    return method_key(cell.protocol, cell.protocol_params, cell.predictor, cell.params)


def stratum(cell: Cell) -> tuple[str, str]:
    """(method key, search space): the unit the cost model fits and the sample covers."""
    return cell_method_key(cell), cell.task.split("/", 1)[0]


def train_size(cell: Cell, task_size: int | None) -> float:
    """The cell's training-set size (a fraction of the task, or a count), as the protocols use it."""
    if isinstance(cell.budget, float):
        return float(max(2, round(cell.budget * task_size))) if task_size else float("nan")
    return float(cell.budget)


def _declared(kind: str, name: str) -> dict:
    """What a registered class declares (``listing.metadata``: read without importing it once cached)."""
    from nasbench_harness.listing import metadata

    return metadata(kind, name)


def _prior(cell: Cell) -> float:
    """The cost of a cell of which nothing is timed: its search strategy's ``prior_seconds``, else
    its predictor's (``tuned_prior_seconds`` with ``tune: true``), else a predictor-free cell's."""
    from nasbench_harness.methods.base import Predictor

    strategy = cell.protocol_params.get("strategy")
    if cell.protocol == "search" and isinstance(strategy, str):
        seconds = _declared("strategies", strategy).get("prior_seconds")
        if seconds is not None:
            return float(seconds)
    if cell.predictor == NO_PREDICTOR:
        return NO_PREDICTOR_PRIOR_SECONDS
    declared = _declared("predictors", cell.predictor)
    if cell.params.get("tune"):
        return float(declared.get("tuned_prior_seconds", Predictor.tuned_prior_seconds))
    return float(declared.get("prior_seconds", Predictor.prior_seconds))


# -- the model --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Fit:
    """log(seconds) = a + b * log(n); ``smear`` turns the fitted geometric mean into a mean
    (Duan's smearing: the mean of exp(residual)), since a matrix's time is a sum of cells."""

    a: float
    b: float
    smear: float = 1.0

    def at(self, n: float) -> float:
        log_n = math.log(n) if n > 0 and math.isfinite(n) else 0.0
        return float(math.exp(self.a + self.b * log_n) * self.smear)


def _spans(logn: np.ndarray) -> bool:
    known = logn[np.isfinite(logn)]
    return len(known) >= 2 and float(np.ptp(known)) > math.log(1.2)


def _fit(logn: np.ndarray, logs: np.ndarray, fallback_slope: float | None = None, *, pooled: bool = False) -> _Fit:
    """Least squares in log-log when the rows span several sizes; otherwise (or when ``pooled``
    says the slope was fitted across groups) only the intercept, under ``fallback_slope``
    (0 when None: the cost taken as flat in n)."""
    known = np.isfinite(logn)
    if _spans(logn) and not (pooled and fallback_slope is not None):
        b = float(np.clip(np.polyfit(logn[known], logs[known], 1)[0], MIN_SLOPE, MAX_SLOPE))
    else:
        b = fallback_slope or 0.0
    if not known.any():
        a, b = float(np.mean(logs)), 0.0
        resid = logs - a
    else:
        a = float(np.mean(logs[known] - b * logn[known]))
        resid = logs[known] - a - b * logn[known]
    return _Fit(a, b, float(np.mean(np.exp(resid))))


def _pooled_slope(groups: Iterable[tuple[np.ndarray, np.ndarray]]) -> float | None:
    """One slope for several groups (each with its own intercept): least squares on the
    within-group deviations; None when no group spans more than one size."""
    xs, ys = [], []
    for logn, logs in groups:
        known = np.isfinite(logn)
        if _spans(logn):
            xs.append(logn[known] - logn[known].mean())
            ys.append(logs[known] - logs[known].mean())
    if not xs:
        return None
    x, y = np.concatenate(xs), np.concatenate(ys)
    return float(np.clip((x @ y) / (x @ x), MIN_SLOPE, MAX_SLOPE))


def _row_params(raw: str) -> dict:
    """The predictor params of a stored row (its ``params`` column holds predictor and loss params)."""
    try:
        value = json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        return {}
    return value.get("predictor", {}) if isinstance(value, dict) else {}


def _row_protocol_params(raw: str) -> dict:
    try:
        value = json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


TIMING_COLUMNS = ["protocol", "protocol_params", "predictor", "params", "space", "budget", "n_train", "total_seconds", "cpu_seconds"]


def timing_frame(rows: pd.DataFrame, column: str = "cpu_seconds") -> pd.DataFrame:
    """One row per stored ok cell: method key, space, predictor, log n, log seconds.

    ``column`` is the timing to model; where a row lacks it (older rows, grouped units)
    its ``total_seconds`` stands in.
    """
    out = pd.DataFrame(columns=["method", "space", "predictor", "logn", "logs"])  # predictor: ``predictor_key``
    if rows.empty or "total_seconds" not in rows.columns:
        return out
    ok = rows[rows["status"] == "ok"] if "status" in rows.columns else rows
    seconds = pd.to_numeric(ok["total_seconds"], errors="coerce")
    if column in ok.columns and column != "total_seconds":
        seconds = pd.to_numeric(ok[column], errors="coerce").fillna(seconds)
    ok = ok.assign(_s=seconds)
    ok = ok[ok["_s"] > 0]
    if ok.empty:
        return out
    n = pd.to_numeric(ok["n_train"], errors="coerce") if "n_train" in ok.columns else pd.Series(np.nan, index=ok.index)
    budget = pd.to_numeric(ok["budget"], errors="coerce")
    n = n.where(n.notna(), budget.where(budget >= 1))  # a count budget is the training size
    pparams = [_row_protocol_params(pp) for pp in ok.get("protocol_params", pd.Series("", index=ok.index))]
    methods = [
        method_key(p, pp, pred, _row_params(par))
        for p, pp, pred, par in zip(ok["protocol"], pparams, ok["predictor"], ok.get("params", pd.Series("", index=ok.index)))
    ]
    return pd.DataFrame(
        {
            "method": methods,
            "space": ok["space"].to_numpy(),
            "predictor": [predictor_key(p, pp, pred) for p, pp, pred in zip(ok["protocol"], pparams, ok["predictor"])],
            "logn": np.log(n.where(n >= 1).to_numpy(dtype=float)),  # no training size (zero-shot: 0) is unknown
            "logs": np.log(ok["_s"].to_numpy(dtype=float)),
        }
    )


def _load_factor(rows: pd.DataFrame) -> float:
    """Median wall / CPU seconds of the stored rows (1 without both): the priors are CPU
    seconds, so a wall-time estimate (and a cell's default time limit) scales them by the
    load under which the store's cells ran."""
    if rows.empty or not {"total_seconds", "cpu_seconds"} <= set(rows.columns):
        return 1.0
    wall = pd.to_numeric(rows["total_seconds"], errors="coerce")
    cpu = pd.to_numeric(rows["cpu_seconds"], errors="coerce")
    ok = (wall > 0) & (cpu > 0) & ((rows["status"] == "ok") if "status" in rows.columns else True)
    return float(max(1.0, (wall[ok] / cpu[ok]).median())) if ok.any() else 1.0


class CostModel:
    """Seconds per cell, learned from stored timings (see the module docstring)."""

    def __init__(self, rows: pd.DataFrame, column: str = "cpu_seconds") -> None:
        t = timing_frame(rows, column)
        arrays = {k: (g["logn"].to_numpy(), g["logs"].to_numpy()) for k, g in t.groupby(["method", "space"])} if len(t) else {}
        self._method_slope: dict[str, float | None] = {}
        by_method: dict[str, list] = defaultdict(list)
        for (m, _), arr in arrays.items():
            by_method[m].append(arr)
        self._method_slope = {m: _pooled_slope(groups) for m, groups in by_method.items()}
        self._stratum = {k: _fit(*arr, self._method_slope[k[0]]) for k, arr in arrays.items()}
        self._method = {m: _fit(np.concatenate([g[0] for g in gs]), np.concatenate([g[1] for g in gs]), self._method_slope[m], pooled=True) for m, gs in by_method.items()}
        self._pred_space = {k: _fit(g["logn"].to_numpy(), g["logs"].to_numpy()) for k, g in t.groupby(["predictor", "space"])} if len(t) else {}
        self._pred = {k: _fit(g["logn"].to_numpy(), g["logs"].to_numpy()) for k, g in t.groupby("predictor")} if len(t) else {}
        self.n_rows = len(t)
        self.load_factor = _load_factor(rows) if column == "total_seconds" else 1.0

    def predict_many(self, cells: list[Cell], task_sizes: dict[str, int]) -> list[tuple[float, str]]:
        """``predict`` for many cells, once per distinct (stratum, predictor, size, tuned)."""
        memo: dict[tuple, tuple[float, str]] = {}
        out = []
        for c in cells:
            key = (*stratum(c), c.predictor, train_size(c, task_sizes.get(c.task)), bool(c.params.get("tune")))
            if key not in memo:
                memo[key] = self.predict(c, task_sizes.get(c.task))
            out.append(memo[key])
        return out

    def predict(self, cell: Cell, task_size: int | None = None) -> tuple[float, str]:
        """(seconds, basis): the estimate for one cell and the level of the model it came from."""
        method, space = stratum(cell)
        n = train_size(cell, task_size)
        for basis, table, key in (
            ("stratum", self._stratum, (method, space)),
            ("method", self._method, method),
            ("predictor+space", self._pred_space, (predictor_key(cell.protocol, cell.protocol_params, cell.predictor), space)),
            ("predictor", self._pred, predictor_key(cell.protocol, cell.protocol_params, cell.predictor)),
        ):
            fit = table.get(key)
            if fit is not None:
                return fit.at(n), basis
        return _prior(cell) * self.load_factor, "prior"


# -- per-family summary -------------------------------------------------------------------------
@dataclass
class FamilyCost:
    family: str
    cells: int = 0
    pending: int = 0
    seconds: float = 0.0  # summed single-core seconds of the pending cells
    bases: dict[str, int] | None = None
    done: int = 0
    done_seconds: float = 0.0  # the done cells' stored seconds (what they cost when they ran)


def family_costs(cells: list[Cell], costs: list[tuple[float, str]], done: list[Cell] = (),
                 done_seconds: list[float] = ()) -> list[FamilyCost]:
    """Pending cells' estimated seconds summed per family (in ``FAMILIES`` order, then any other),
    beside the done cells' stored seconds (a done cell without a timing counts 0)."""
    out = {f: FamilyCost(f, bases={}) for f in FAMILIES}
    for c, (s, basis) in zip(cells, costs, strict=True):
        family = cell_family(c)
        fc = out.setdefault(family, FamilyCost(family, bases={}))
        fc.pending += 1
        fc.seconds += s
        fc.bases[basis] = fc.bases.get(basis, 0) + 1
    for c, s in zip(done, done_seconds, strict=True):
        fc = out.setdefault(cell_family(c), FamilyCost(cell_family(c), bases={}))
        fc.done += 1
        fc.done_seconds += s if s == s else 0.0
    return [fc for fc in out.values() if fc.pending or fc.done]


# -- stratified sample ------------------------------------------------------------------------
def sample_cells(cells: list[Cell], k: int, task_sizes: dict[str, int] | None = None) -> list[Cell]:
    """K cells of every stratum, deterministically: a stratum's cells are ordered by training
    size (ties by a digest of the cell) and K are taken evenly from smallest to largest (K = 1:
    the median). The same matrix always gives the same sample, so a rerun resumes it."""
    if k < 1:
        from nasbench_harness.errors import ConfigError

        raise ConfigError(f"--sample needs at least 1 cell per stratum, got {k}.")
    sizes = task_sizes or {}
    strata: dict[tuple[str, str], list[Cell]] = defaultdict(list)
    for c in cells:
        strata[stratum(c)].append(c)
    per_stratum = []
    for members in strata.values():
        # Ties at a size are broken by a digest of the cell, not alphabetically: ordering by name
        # picked the same losses (ew first, warp last) in every stratum, and warp is the costliest.
        members = sorted(members, key=lambda c: (_order_size(c, sizes), hashlib.sha256(canonical_json(c.identity()).encode()).hexdigest()))
        if len(members) <= k:
            picks = range(len(members))
        elif k == 1:
            picks = [(len(members) - 1) // 2]
        else:
            picks = sorted({int(round(i)) for i in np.linspace(0, len(members) - 1, k)})
        per_stratum.append([members[i] for i in picks])
    return _round_robin(per_stratum)


def _round_robin(per_stratum: list[list[Cell]]) -> list[Cell]:
    """The strata's picks interleaved across families (in matrix order within each), so a
    sample stopped part-way has measured some strata of every family."""
    by_family: dict[str, list[Cell]] = defaultdict(list)
    for picks in per_stratum:
        by_family[cell_family(picks[0])].extend(picks)
    queues = list(by_family.values())
    out = []
    for i in range(max((len(q) for q in queues), default=0)):
        out += [q[i] for q in queues if i < len(q)]
    return out


def _order_size(cell: Cell, sizes: dict[str, int]) -> float:
    n = train_size(cell, sizes.get(cell.task))
    return n if math.isfinite(n) else float(cell.budget)
