"""TransNAS-Bench-101 importers: the NASLib-derived CSVs and the official ``.pth`` file.

Output columns per task ``<task>.val`` (final-epoch validation metric: top-1 % for
class_scene/class_object/jigsaw, pixel accuracy % for segmentsemantic, SSIM for
normal/autoencoder, negated L2 loss for room_layout: always higher is better). The
official ``.pth`` also yields ``<task>.test`` (final-epoch test metric) and the numeric
model info (``<task>.model_params``, ``<task>.model_flops``, ...).

Official ``.pth`` layout (``torch.save`` of a dict, read by the TransNASBenchAPI)::

    {"metrics_dict": {task: [metric names]}, "info_names": [...], "task_list": [7 tasks],
     "data": {"micro" | "macro": {arch_str: {task: {"total_epochs": int,
              "model_info": {info: value}, "metrics": {metric: [value per epoch]}}}}}}
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from nasbench_harness.errors import DataError, HarnessError
from nasbench_harness.tasks.cache import SourceFile
from nasbench_harness.tasks.importers import Importer, ImportResult, join_tables
from nasbench_harness.tasks.spaces.tnb101 import TASKS, TNB101MacroSpace, TNB101MicroSpace

# Which official metric is the task's score ("valid_<m>" and "test_<m>").
TASK_METRIC = {
    "class_scene": "top1",
    "class_object": "top1",
    "jigsaw": "top1",
    "room_layout": "neg_loss",
    "segmentsemantic": "acc",
    "normal": "ssim",
    "autoencoder": "ssim",
}
CSV_COLUMNS = ("arch_str", *TASKS)
SPACES = {"micro": TNB101MicroSpace, "macro": TNB101MacroSpace}
EXPECTED_ROWS = {"micro": 4096, "macro": 3256}
_MICRO_HEAD = re.compile(r"64-41414-\d_\d\d_\d\d\d")


def _canonical(space_key: str, ids) -> list[str]:
    space = SPACES[space_key]()
    try:
        return [space.canonical_id(str(a)) for a in ids]
    except HarnessError as exc:
        raise DataError(f"The TransNAS {space_key} data holds an invalid architecture: {exc}") from None


def _check_values(frame: pd.DataFrame, what: str) -> None:
    metric_cols = [c for c in frame.columns if c != "arch_id"]
    values = frame[metric_cols].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise DataError(f"{what} has missing or non-numeric metric values; re-download the original file.")
    if frame["arch_id"].duplicated().any():
        raise DataError(f"{what} lists an architecture twice; re-download the original file.")


# ------------------------------------------------------------------------------------ CSV
def _sniff_csv(path: Path) -> str | None:
    """'micro' / 'macro' when ``path`` is a TransNAS CSV (header + first row), else None."""
    if path.suffix.lower() != ".csv":
        return None
    with open(path, encoding="utf-8", errors="replace") as f:
        header, first = f.readline(), f.readline()
    if not {"arch_str", "class_scene"} <= set(header.strip().split(",")):
        return None
    if "-basic" in first:
        return "macro"
    return "micro" if _MICRO_HEAD.search(first) else None


def read_csv(path: Path, space_key: str) -> pd.DataFrame:
    """Parse and validate one TransNAS CSV into ``arch_id`` + ``<task>.val``."""
    try:
        raw = pd.read_csv(path, usecols=list(CSV_COLUMNS))
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path} is not a readable TransNAS CSV ({str(exc).splitlines()[0]}); expected the columns "
            f"{', '.join(CSV_COLUMNS)}."
        ) from None
    table = pd.DataFrame({"arch_id": _canonical(space_key, raw["arch_str"])})
    for task in TASKS:
        table[f"{task}.val"] = pd.to_numeric(raw[task], errors="coerce").to_numpy(np.float64)
    _check_values(table, str(path))
    if len(table) != EXPECTED_ROWS[space_key]:
        raise DataError(
            f"{path} has {len(table)} architectures but the TransNAS {space_key} space has "
            f"{EXPECTED_ROWS[space_key]}; the file is truncated, re-download it."
        )
    return table


class _TNB101CSVMixin:
    """detect/run shared by the two CSV importers (a mixin, so it is not registered itself)."""

    key: str  # "micro" | "macro"
    name: str
    space: str
    version = 1

    def detect(self, path: Path) -> bool:
        return _sniff_csv(Path(path)) == self.key

    def run(self, paths: list[Path], cache) -> ImportResult:
        tables = [read_csv(Path(p), self.key) for p in paths]  # validate every file before writing
        table = join_tables(tables)
        sources = [SourceFile.of(p, "tnb101-naslib-csv") for p in paths]
        out = cache.write_table(self.space, table, sources=sources, importer=self.name, importer_version=self.version)
        return ImportResult(self.name, self.space, [Path(p) for p in paths], len(out), list(table.columns))


class TNB101MicroCSVImporter(_TNB101CSVMixin, Importer):
    detect_order = 30
    name = "tnb101-micro-csv"
    space = "tnb101-micro"
    key = "micro"


class TNB101MacroCSVImporter(_TNB101CSVMixin, Importer):
    detect_order = 31
    name = "tnb101-macro-csv"
    space = "tnb101-macro"
    key = "macro"


# ---------------------------------------------------------------------------------- .pth
def _sniff_pth(path: Path) -> bool:
    if path.suffix.lower() != ".pth":
        return False
    if "transnas" in path.name.lower():
        return True
    # Content sniff for renamed files: the pickle names the API's top-level keys.
    needle = (b"metrics_dict", b"task_list")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                pkl = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
                head = z.open(pkl).read(1 << 20) if pkl else b""
        else:
            with open(path, "rb") as f:
                head = f.read(1 << 20)
    except (OSError, zipfile.BadZipFile):
        return False
    return all(n in head for n in needle)


def _numpy_globals(path: Path) -> list | None:
    """The numpy scalar/dtype classes a checkpoint pickles (None if it needs anything else)."""
    import importlib

    import torch

    names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    if not names or not all(n.startswith("numpy.") for n in names):
        return None
    objs = []
    for name in names:
        module, _, attr = name.rpartition(".")
        objs.append(getattr(importlib.import_module(module), attr))
    # rebuilding a numpy scalar also instantiates its concrete dtype class (e.g. Float64DType)
    import numpy.dtypes

    objs += [c for c in vars(numpy.dtypes).values() if isinstance(c, type) and issubclass(c, np.dtype)]
    return objs


def _torch_load(path: Path) -> dict:
    """Load with torch's weights-only unpickler; numpy scalars (old saves) are the only extra types allowed."""
    import torch

    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            allowed = _numpy_globals(path)
            if allowed is None:
                raise
            with torch.serialization.safe_globals(allowed):
                return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt archives and unpickling
        raise DataError(
            f"{path} is not a readable TransNAS-Bench-101 .pth file ({type(exc).__name__}); expected the official "
            f"transnas-bench_v10141024.pth, re-download it."
        ) from None


def _final(values, where: str) -> float:
    if isinstance(values, (int, float, np.floating, np.integer)):
        return float(values)
    if not isinstance(values, (list, tuple)) or not values:
        raise DataError(f"{where} is not a per-epoch list of numbers; the .pth file is not in the official layout.")
    return float(values[-1])


def parse_pth(obj, path: Path) -> dict[str, pd.DataFrame]:
    """Validate the official layout and build one table per space ('micro', 'macro')."""
    layout = "expected the official TransNAS-Bench-101 layout (keys data, metrics_dict, task_list)"
    if not isinstance(obj, dict) or not {"data", "metrics_dict", "task_list"} <= set(obj):
        raise DataError(f"{path} is not a TransNAS-Bench-101 database; {layout}.")
    data, metrics = obj["data"], obj["metrics_dict"]
    if not isinstance(data, dict) or not set(data) & set(SPACES):
        raise DataError(f"{path} has no 'micro' or 'macro' search space under 'data'; {layout}.")
    tables = {}
    for space_key in SPACES:
        archs = data.get(space_key)
        if archs is None:
            continue
        cols: dict[str, list[float]] = {}
        ids = list(archs)
        for arch in ids:
            per_task = archs[arch]
            for task in TASKS:
                rec = per_task.get(task) if isinstance(per_task, dict) else None
                if not isinstance(rec, dict) or "metrics" not in rec:
                    raise DataError(f"{path}: architecture {arch} has no results for task {task}; {layout}.")
                m = TASK_METRIC[task]
                for split, col in (("valid", "val"), ("test", "test")):
                    name = f"{split}_{m}"
                    if name not in rec["metrics"]:
                        raise DataError(
                            f"{path}: task {task} of {arch} lacks the metric {name} "
                            f"(has {sorted(rec['metrics'])}); {layout}."
                        )
                    cols.setdefault(f"{task}.{col}", []).append(_final(rec["metrics"][name], f"{arch}/{task}/{name}"))
                for info, value in (rec.get("model_info") or {}).items():
                    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                        cols.setdefault(f"{task}.{str(info).lower()}", []).append(float(value))
        lengths = {len(v) for v in cols.values()}
        if lengths != {len(ids)}:
            raise DataError(f"{path}: the {space_key} architectures do not all report the same model info; {layout}.")
        table = pd.DataFrame({"arch_id": _canonical(space_key, ids), **{k: np.asarray(v) for k, v in cols.items()}})
        _check_values(table, f"{path} ({space_key})")
        tables[space_key] = table
    unknown = set(metrics) - set(TASKS) if isinstance(metrics, dict) else set()
    if unknown:
        raise DataError(f"{path} lists unknown TransNAS tasks {sorted(unknown)}; {layout}.")
    return tables


class TNB101PthImporter(Importer):
    """The official ``transnas-bench_v10141024.pth`` (both spaces in one file)."""
    detect_order = 32

    name = "tnb101-pth"
    space = "tnb101-micro"  # also writes tnb101-macro
    version = 1
    priority = 1  # after the CSVs: its test columns and model info join onto them

    def detect(self, path: Path) -> bool:
        return _sniff_pth(Path(path))

    def run(self, paths: list[Path], cache) -> ImportResult:
        parsed = [(Path(p), parse_pth(_torch_load(Path(p)), Path(p))) for p in paths]  # all before writing
        rows, columns, notes = 0, [], []
        for path, tables in parsed:
            src = [SourceFile.of(path, "tnb101-pth")]
            for space_key, table in tables.items():
                space = SPACES[space_key].name
                out = cache.write_table(space, table, sources=src, importer=self.name, importer_version=self.version)
                rows += len(out)
                columns = sorted(set(columns) | set(table.columns))
                notes.append(f"{space}: {len(table)} architectures from {path.name}")
        return ImportResult(self.name, self.space, [p for p, _ in parsed], rows, columns, notes=notes)

