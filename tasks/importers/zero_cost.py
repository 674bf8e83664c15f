"""Zero-cost proxy importer (NAS-Bench-Suite-Zero): adds ``zc.*`` columns to imported spaces.

Sources: NASLib's Suite-Zero files ``zc_<space>.json`` (``{task: {arch: {<proxy>:
{"score", "time"}, "val_accuracy", ...}}}``, ~725 archs per task, 12 proxies) and the
merged full-coverage runs ``zc_full_coverage_long.csv.gz`` (one row per space, task and
arch; blank = not computed). Where both give a score the full-coverage run wins.

Columns written, per NASLib task ``<task>`` (named as the space's datasets, e.g.
``cifar10``, ``ImageNet16-120``, ``class_object``, ``svhn``)::

    <task>.zc.<proxy>   the proxy scored on that task
    zc.<proxy>          the space's primary task (NB101/NB201/DARTS: cifar10;
                        TransNAS: class_object, the task with the most full-coverage proxies),
                        which the space-wide ``zc`` encoding uses

NASLib architecture encodings are converted to each space's canonical id: NB201 via
``from_naslib`` (its own edge and op order), NB101 spec tuples (n x n matrix + n op codes)
via the module hash, DARTS compact tuples via the DARTS space, TransNAS micro tuples
(digits in id order, ops 0..3 as in the id) and macro tuples (module digits padded with
zeros). The last two were checked against the imported TransNAS validation accuracies
(exact match on every cell).

This importer only ADDS columns to rows of spaces that are already imported (it runs
after the space importers: its sort key ``zc`` follows every space name). Scores for a
space that is not imported are skipped and reported in the result's notes; existing
values of a column are kept where the new files have none.
"""

from __future__ import annotations

import ast
import gzip
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from nasbench_harness.errors import DataError, HarnessError
from nasbench_harness.tasks.cache import SourceFile
from nasbench_harness.tasks.importers import Importer, ImportResult, csv_header

PROXIES = (
    "epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm",
    "nwot", "params", "plain", "snip", "synflow", "zen",
)  # fmt: skip
LONG_HEAD = "search_space,task,naslib_idx,naslib_arch,val_accuracy"
# NASLib search-space name -> (our space, primary task)
SPACES = {
    "nasbench201": ("nb201", "cifar10"),
    "nasbench101": ("nb101", "cifar10"),
    "nasbench301": ("darts", "cifar10"),
    "transbench101_micro": ("tnb101-micro", "class_object"),
    "transbench101_macro": ("tnb101-macro", "class_object"),
}
_JSON_NAME = re.compile(r"^zc_(nasbench201|nasbench101|nasbench301|transbench101_micro|transbench101_macro)\.json$")


# ------------------------------------------------------------------ arch conversions
def _tuple(text: str):
    value = ast.literal_eval(str(text))

    def fix(v):
        return tuple(fix(x) for x in v) if isinstance(v, (list, tuple)) else v

    return fix(value)


def _nb201(text: str) -> str:
    from nasbench_harness.tasks.spaces.nb201 import from_naslib

    return from_naslib(_tuple(text))


def _nb101(text: str) -> str:
    from nasbench_harness.tasks.importers.nb101 import NASLIB_OPS
    from nasbench_harness.tasks.spaces.nb101 import spec_hash

    spec = _tuple(text)  # n*n adjacency values then n op codes, n = 2..7 (pruned cells are smaller)
    n = next((k for k in range(2, 8) if k * k + k == len(spec)), None)
    if n is None:
        raise ValueError("not an n*n + n NB101 spec")
    digest = spec_hash(np.array(spec[: n * n], dtype=np.int64).reshape(n, n), [NASLIB_OPS[i] for i in spec[n * n :]])
    if digest is None:
        raise ValueError("not a valid NB101 cell after pruning")
    return digest


def _darts(text: str) -> str:
    from nasbench_harness.registry import get_search_space

    return get_search_space("darts").canonical_id(str(_tuple(text)))


def _tnb_micro(text: str) -> str:
    from nasbench_harness.tasks.spaces.tnb101 import micro_id

    digits = _tuple(text)
    if len(digits) != 6 or any(not 0 <= d <= 3 for d in digits):
        raise ValueError("not 6 op codes in 0..3")
    return micro_id(digits)


def _tnb_macro(text: str) -> str:
    from nasbench_harness.tasks.spaces.tnb101 import macro_digits, macro_id

    return macro_id(macro_digits("64-" + "".join(str(d) for d in _tuple(text) if d) + "-basic"))


CONVERTERS: dict[str, Callable[[str], str]] = {
    "nb201": _nb201,
    "nb101": _nb101,
    "darts": _darts,
    "tnb101-micro": _tnb_micro,
    "tnb101-macro": _tnb_macro,
}


def convert_ids(space: str, archs: pd.Series, what: str) -> np.ndarray:
    """Canonical ids of NASLib arch encodings (memoised per distinct encoding)."""
    convert = CONVERTERS[space]
    out = {}
    for a in pd.unique(archs.astype(str)):
        try:
            out[a] = convert(a)
        except (ValueError, SyntaxError, TypeError, IndexError, HarnessError) as exc:
            raise DataError(
                f"{what} holds '{a[:60]}', which is not a NASLib {space} architecture ({exc}); give an unmodified "
                f"NAS-Bench-Suite-Zero file."
            ) from None
    return archs.astype(str).map(out).to_numpy(dtype=str)


# ------------------------------------------------------------------------- parsing
def _long_frame(path: Path) -> pd.DataFrame:
    """(space, task, arch_id, proxy columns) rows of the full-coverage CSV."""
    try:
        raw = pd.read_csv(path, dtype={"naslib_arch": str, "search_space": str, "task": str})
    except (ValueError, OSError, EOFError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path} is not a readable zero-cost proxy table ({str(exc).splitlines()[0]}); the file is truncated "
            f"or corrupted, re-download zc_full_coverage_long.csv.gz."
        ) from None
    missing = {"search_space", "task", "naslib_arch"} - set(raw.columns)
    if missing:
        raise DataError(f"{path} lacks the columns {sorted(missing)}; expected {LONG_HEAD},<proxies>.")
    frames = []
    for (naslib_space, task), group in raw.groupby(["search_space", "task"], sort=True):
        if naslib_space not in SPACES:
            continue
        space = SPACES[naslib_space][0]
        frame = pd.DataFrame({"space": space, "task": task, "arch_id": convert_ids(space, group["naslib_arch"], str(path))})
        for p in PROXIES:
            frame[p] = pd.to_numeric(group[p], errors="coerce").to_numpy(np.float64) if p in group else np.nan
        frames.append(frame)
    if not frames:
        raise DataError(
            f"{path} has no rows of a known search space; expected its search_space column to name one of "
            f"{', '.join(SPACES)}."
        )
    return pd.concat(frames, ignore_index=True)


def _json_frame(path: Path) -> pd.DataFrame:
    naslib_space = _JSON_NAME.match(path.name).group(1)
    space = SPACES[naslib_space][0]
    try:
        data = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path} is not valid JSON ({type(exc).__name__}); the file is truncated or corrupted, re-download it."
        ) from None
    if naslib_space == "nasbench101" and isinstance(data, dict) and "nasbench101" in data:
        data = data["nasbench101"]
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise DataError(f"{path} is not a Suite-Zero file; expected {{task: {{arch: {{proxy: score, ...}}}}}}.")
    rows = []
    for task, archs in data.items():
        for arch, rec in archs.items():
            row = {"task": task, "naslib_arch": arch}
            for p in PROXIES:
                v = rec.get(p) if isinstance(rec, dict) else None
                v = v.get("score") if isinstance(v, dict) else v
                row[p] = float(v) if isinstance(v, (int, float)) else np.nan
            rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        raise DataError(f"{path} holds no architectures; give an unmodified Suite-Zero file.")
    frame.insert(0, "space", space)
    frame["arch_id"] = convert_ids(space, frame.pop("naslib_arch"), str(path))
    return frame


def _wide(long: pd.DataFrame, primary: str) -> pd.DataFrame:
    """arch_id + ``<task>.zc.<proxy>`` + primary ``zc.<proxy>`` columns (mean over duplicates)."""
    wide = None
    for task, group in long.groupby("task", sort=True):
        g = group.groupby("arch_id", sort=True)[list(PROXIES)].mean().dropna(axis=1, how="all")
        cols = {p: f"{task}.zc.{p}" for p in g.columns}
        block = g.rename(columns=cols)
        if task == primary:
            block = block.join(g.rename(columns={p: f"zc.{p}" for p in g.columns}))
        wide = block if wide is None else wide.join(block, how="outer")
    return wide.reset_index()


# ------------------------------------------------------------------------ importer
class ZeroCostImporter(Importer):
    """Suite-Zero JSONs and the full-coverage long CSV -> ``zc.*`` columns of imported spaces."""
    detect_order = 50

    name = "zero-cost-proxies"
    space = "zc"  # sorts after every space name, so the space tables exist by then
    version = 1
    priority = 100

    def detect(self, path: Path) -> bool:
        path = Path(path)
        if path.name.endswith(".csv.gz"):
            try:
                with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
                    return f.readline().startswith(LONG_HEAD)
            except (OSError, EOFError):
                return False
        if path.suffix.lower() == ".csv":
            return csv_header(path).startswith(LONG_HEAD)
        return _JSON_NAME.match(path.name) is not None

    def run(self, paths: list[Path], cache) -> ImportResult:
        paths = [Path(p) for p in paths]
        # Full-coverage CSVs first so that _first_score takes their score where a file repeats one.
        ordered = sorted(paths, key=lambda p: (not p.name.endswith((".csv", ".csv.gz")), p.name))
        long = pd.concat([_long_frame(p) if p.name.endswith((".csv", ".csv.gz")) else _json_frame(p) for p in ordered])
        long = _first_score(long)
        notes, tables = [], {}
        for space, group in long.groupby("space", sort=True):
            if not cache.has(space):
                notes.append(
                    f"{space}: not imported yet, {group['arch_id'].nunique()} architectures' proxies skipped "
                    f"(import the {space} benchmark first, then these files again)"
                )
                continue
            primary = next(t for s, t in SPACES.values() if s == space)
            tables[space] = self._merge_into(cache, space, _wide(group, primary), notes)
        sources = [SourceFile.of(p, "suite-zero-zc") for p in paths]
        rows, columns = 0, []
        for space, table in tables.items():  # everything validated: now write
            cache.write_table(space, table, sources=sources, importer=self.name, importer_version=self.version)
            rows += len(table)
            columns += [c for c in table.columns if c != "arch_id" and c not in columns]
        return ImportResult(self.name, ",".join(tables) or "zc", paths, rows, columns, notes=notes)

    @staticmethod
    def _merge_into(cache, space: str, wide: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
        """Restrict to the space's rows; keep existing values where the new files have none."""
        existing = cache.read_table(space)
        matched = wide["arch_id"].isin(existing["arch_id"])
        out = existing[["arch_id"]].merge(wide[matched], on="arch_id", how="left")
        for col in out.columns:
            if col != "arch_id" and col in existing.columns:
                old = pd.to_numeric(existing[col], errors="coerce").to_numpy(np.float64)
                out[col] = out[col].where(out[col].notna(), old)
        notes.append(
            f"{space}: {int(matched.sum())} architectures scored, {len(out.columns) - 1} columns"
            + (f"; {int((~matched).sum())} not in the imported table were skipped" if (~matched).any() else "")
        )
        return out


def _first_score(long: pd.DataFrame) -> pd.DataFrame:
    """Per (space, task, arch): each proxy's first non-missing score in source order."""
    return long.groupby(["space", "task", "arch_id"], sort=False, as_index=False).first()
