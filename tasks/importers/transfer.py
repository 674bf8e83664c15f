"""Meta-NAS / transfer importers for shared/data/meta_nas_transfer.

Three formats, three destinations:

- ``nb201_source_tasks_valid.csv`` (NASLib's final-epoch validation accuracy of all
  15,625 NB201 cells on the three source datasets) -> columns of the ``nb201`` table:
  ``cifar10-valid.val_acc_naslib``, ``cifar100.val_acc_naslib``,
  ``ImageNet16-120.val_acc_naslib``.
- ``suite_zero_9x_tasks.csv`` (NAS-Bench-Suite-Zero's new tasks: ~199 architectures each
  of NB201, DARTS and TransNAS micro trained on SVHN, NinaPro and Spherical CIFAR-100)
  -> columns of the ``nb201`` / ``darts`` / ``tnb101-micro`` tables:
  ``<task>.val_acc`` and ``<task>.zc.<proxy>`` (tasks ``svhn``, ``ninapro``,
  ``scifar100``; tasks ``nb201/svhn`` etc. are defined in tasks/definitions/nb201.yaml).
  The table's arch string and NASLib tuple must name the same architecture.
- ``metad2a_meta_train_predictor.csv`` + ``metad2a_meta_train_task_classes.json`` (MetaD2A's
  meta-training set: NB201 cells trained on 20-class ImageNet-32 sub-tasks) -> its own
  cache table ``nb201-metad2a`` (not a search space): one row per (sub-task, cell) with
  ``arch_id`` = ``"<task_id>:<arch string>"`` (the cache needs a unique key), ``task_id``,
  ``arch`` (canonical NB201 id), ``acc`` (%), ``flops``, ``params``, ``latency``; the
  class lists are stored next to it as arrays ``task_classes.npz`` (``classes``:
  (n_tasks, 20) int). ``load_metad2a(cache)`` returns both.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from nasbench_harness.errors import DataError, HarnessError
from nasbench_harness.tasks.cache import SourceFile
from nasbench_harness.tasks.importers import Importer, ImportResult, csv_header
from nasbench_harness.tasks.importers.nb201 import canonical_ids, check_table
from nasbench_harness.tasks.importers.zero_cost import (
    CONVERTERS,
    PROXIES,
    SPACES,
    convert_ids,
)

METAD2A = "nb201-metad2a"
SOURCE_HEAD = "naslib_idx,arch_str,naslib_op_indices,cifar10_valid"
X9_HEAD = "search_space,task,naslib_idx,arch_str,naslib_arch,val_accuracy"
METAD2A_HEAD = "task_id,arch_str,acc,flops,params,latency"
SOURCE_COLUMNS = {
    "cifar10_valid": "cifar10-valid.val_acc_naslib",
    "cifar100_valid": "cifar100.val_acc_naslib",
    "ImageNet16-120_valid": "ImageNet16-120.val_acc_naslib",
}


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path} is not a readable {what} ({str(exc).splitlines()[0]}); re-download it.") from None


def _require(raw: pd.DataFrame, cols, path: Path, what: str) -> None:
    missing = set(cols) - set(raw.columns)
    if missing:
        raise DataError(f"{path} lacks the columns {sorted(missing)}; expected the {what}.")


# ------------------------------------------------------------------- NB201 source tasks
class NB201SourceTasksImporter(Importer):
    """NASLib validation accuracies of all NB201 cells on the three source datasets."""
    detect_order = 60

    name = "nb201-source-tasks-csv"
    space = "nb201"
    version = 1
    priority = 7

    def detect(self, path: Path) -> bool:
        return csv_header(Path(path)).startswith(SOURCE_HEAD)

    def run(self, paths: list[Path], cache) -> ImportResult:
        tables = []
        for p in map(Path, paths):
            what = "NB201 source-task CSV (naslib_idx, arch_str, naslib_op_indices, <dataset>_valid)"
            raw = _read_csv(p, what)
            _require(raw, ["arch_str", "naslib_op_indices", *SOURCE_COLUMNS], p, what)
            ids = canonical_ids(raw["arch_str"], str(p))
            if (convert_ids("nb201", raw["naslib_op_indices"], str(p)) != ids).any():
                raise DataError(f"{p} has rows whose arch_str and naslib_op_indices disagree; the file is corrupted.")
            table = pd.DataFrame({"arch_id": ids, **{dst: raw[src] for src, dst in SOURCE_COLUMNS.items()}})
            tables.append(check_table(table, str(p), full=True))
        table = tables[-1]
        sources = [SourceFile.of(Path(p), "nb201-naslib-source-csv") for p in paths]
        out = cache.write_table(self.space, table, sources=sources, importer=self.name, importer_version=self.version)
        return ImportResult(self.name, self.space, list(map(Path, paths)), len(out), list(table.columns))


# ----------------------------------------------------------------- Suite-Zero 9x tasks
def parse_9x(path: Path) -> dict[str, pd.DataFrame]:
    """Per space: arch_id + ``<task>.val_acc`` + ``<task>.zc.<proxy>`` (validated)."""
    what = f"Suite-Zero 9x task table ({X9_HEAD}, <proxies>)"
    raw = _read_csv(path, what)
    _require(raw, X9_HEAD.split(","), path, what)
    out = {}
    from nasbench_harness.registry import get_search_space

    for naslib_space, group in raw.groupby("search_space", sort=True):
        if naslib_space not in SPACES:
            raise DataError(f"{path} has rows of the unknown search space '{naslib_space}'; expected {sorted(SPACES)}.")
        space = SPACES[naslib_space][0]
        ids = convert_ids(space, group["naslib_arch"], str(path))
        try:
            canon = get_search_space(space)
            named = np.array([canon.canonical_id(a) for a in group["arch_str"].astype(str)])
        except HarnessError as exc:
            raise DataError(f"{path} holds an invalid {space} architecture: {exc}") from None
        if (named != ids).any():
            raise DataError(f"{path} has {space} rows whose arch_str and naslib_arch disagree; the file is corrupted.")
        frame = group.assign(arch_id=ids)
        wide = None
        for task, g in frame.groupby("task", sort=True):
            cols = {"val_accuracy": f"{task}.val_acc", **{p: f"{task}.zc.{p}" for p in PROXIES if p in g}}
            block = g.groupby("arch_id")[list(cols)].mean().rename(columns=cols)
            wide = block if wide is None else wide.join(block, how="outer")
        table = wide.reset_index()
        acc = table[[c for c in table.columns if c.endswith(".val_acc")]].to_numpy(np.float64)
        finite = acc[np.isfinite(acc)]
        if finite.size == 0 or finite.min() < 0 or finite.max() > 100:
            raise DataError(f"{path}: {space} val_accuracy is missing or outside 0..100; the file is corrupted.")
        out[space] = table
    return out


class SuiteZero9xImporter(Importer):
    """NB201 / DARTS / TransNAS-micro cells on SVHN, NinaPro and Spherical CIFAR-100."""
    detect_order = 61

    name = "suite-zero-9x-csv"
    space = "transfer"  # writes nb201, darts and tnb101-micro
    version = 1
    priority = 0

    def detect(self, path: Path) -> bool:
        return csv_header(Path(path)).startswith(X9_HEAD)

    def run(self, paths: list[Path], cache) -> ImportResult:
        parsed = [parse_9x(Path(p)) for p in paths]  # validate everything before writing
        sources = [SourceFile.of(Path(p), "suite-zero-9x-csv") for p in paths]
        rows, columns, notes = 0, [], []
        for tables in parsed:
            for space, table in tables.items():
                cache.write_table(space, table, sources=sources, importer=self.name, importer_version=self.version)
                rows += len(table)
                columns += [c for c in table.columns if c not in columns]
                notes.append(f"{space}: {len(table)} architectures on {sorted({c.split('.')[0] for c in table.columns[1:]})}")
        return ImportResult(self.name, ",".join(parsed[0]), list(map(Path, paths)), rows, columns, notes=notes)


# ------------------------------------------------------------------------ MetaD2A
class MetaD2AImporter(Importer):
    """MetaD2A meta-training database (CSV) and its sub-task class lists (JSON)."""
    detect_order = 62

    name = "metad2a-meta-train"
    space = METAD2A
    version = 1
    priority = 0

    def detect(self, path: Path) -> bool:
        path = Path(path)
        if path.suffix.lower() == ".json":
            return "task_classes" in path.name
        return csv_header(path).startswith(METAD2A_HEAD)

    def run(self, paths: list[Path], cache) -> ImportResult:
        csvs = [Path(p) for p in paths if Path(p).suffix.lower() == ".csv"]
        jsons = [Path(p) for p in paths if Path(p).suffix.lower() == ".json"]
        if not csvs:
            raise DataError(
                f"{jsons[0]} holds only MetaD2A class lists; import it together with "
                f"metad2a_meta_train_predictor.csv (e.g. the whole folder)."
            )
        classes = _read_classes(jsons[0]) if jsons else None
        frames = []
        for p in csvs:
            what = f"MetaD2A meta-training CSV ({METAD2A_HEAD})"
            raw = _read_csv(p, what)
            _require(raw, METAD2A_HEAD.split(","), p, what)
            arch = canonical_ids(raw["arch_str"], str(p))
            task_id = pd.to_numeric(raw["task_id"], errors="coerce")
            if task_id.isna().any() or (task_id < 0).any():
                raise DataError(f"{p} has missing or negative task_id values; the file is corrupted.")
            frame = pd.DataFrame(
                {
                    "arch_id": [f"{int(t)}:{a}" for t, a in zip(task_id, arch, strict=True)],
                    "task_id": task_id.astype(np.int64).to_numpy(),
                    "arch": arch,
                    "acc": raw["acc"],
                    "flops": raw["flops"],
                    "params": raw["params"],
                    "latency": raw["latency"],
                }
            )
            frames.append(frame)
        table = pd.concat(frames, ignore_index=True).drop_duplicates("arch_id", keep="last")
        for col in ("acc", "flops", "params", "latency"):
            values = pd.to_numeric(table[col], errors="coerce").to_numpy(np.float64)
            if not np.isfinite(values).all():
                raise DataError(f"MetaD2A column '{col}' has missing or non-numeric values; re-download the CSV.")
            table[col] = values
        if (table["acc"] < 0).any() or (table["acc"] > 100).any():
            raise DataError("MetaD2A accuracies fall outside 0..100; the CSV is corrupted, re-download it.")
        if classes is not None and table["task_id"].max() >= len(classes):
            raise DataError(
                f"The MetaD2A CSV uses task_id {table['task_id'].max()} but {jsons[0]} lists only {len(classes)} "
                f"tasks; import matching files."
            )
        sources = [SourceFile.of(p, "metad2a") for p in csvs + jsons]
        out = cache.write_table(METAD2A, table, sources=sources, importer=self.name, importer_version=self.version, merge=False)
        if classes is not None:
            cache.write_arrays(METAD2A, "task_classes", classes=classes)
        notes = [f"{table['task_id'].nunique()} sub-tasks, {table['arch'].nunique()} distinct cells"]
        return ImportResult(self.name, METAD2A, csvs + jsons, len(out), list(table.columns), notes=notes)


def _read_classes(path: Path) -> np.ndarray:
    try:
        classes = np.asarray(json.loads(path.read_text()), dtype=np.int64)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise DataError(
            f"{path} is not a readable MetaD2A class list ({type(exc).__name__}); expected a JSON list of "
            f"20-class lists, re-download it."
        ) from None
    if classes.ndim != 2 or classes.shape[0] == 0:
        raise DataError(f"{path} is not a list of equal-length class lists; re-download it.")
    return classes


def load_metad2a(cache) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The MetaD2A table (task_id, arch, acc, ...) and the (n_tasks, 20) class lists if imported."""
    table = cache.read_table(METAD2A)
    try:
        classes = cache.read_arrays(METAD2A, "task_classes")["classes"]
    except DataError:
        classes = None
    return table, classes


__all__ = ["CONVERTERS", "MetaD2AImporter", "NB201SourceTasksImporter", "SuiteZero9xImporter", "load_metad2a"]
