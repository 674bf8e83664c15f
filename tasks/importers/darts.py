"""DARTS / NAS-Bench-301 importer: the Suite-Zero 725-architecture CSV and the 11,221-arch list.

``nb301_suite_zero_early_725.csv`` -> ``cifar10.val_acc`` (NASLib's NB301 value: possibly
the NB301 surrogate's prediction, see the data MANIFEST) and the 12 zero-cost proxies as
``zc.<proxy>``. The genotype is given twice (JSON and NASLib tuples); both must agree.

``archs_nasbench301.json`` (``{index: NASLib compact genotype}``, the NB301 training-set
archs used by NAS-Bench-Suite-Zero) has no accuracies: its architectures are kept as
*unlabeled* rows (NaN metrics) with ``nb301_index``, so that semi-supervised predictors
can draw on them and proxy tables keyed by that index can join; tasks drop rows without
their metrics, so they do not change any task.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from nasbench_harness.errors import DataError, HarnessError
from nasbench_harness.tasks.cache import SourceFile
from nasbench_harness.tasks.importers import Importer, ImportResult

PROXIES = (
    "epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm", "nwot", "params", "plain", "snip", "synflow"
)
CSV_HEAD = "naslib_idx,genotype_json,naslib_arch,val_accuracy"


def _ids(values, path: Path) -> list[str]:
    from nasbench_harness.registry import get_search_space

    space = get_search_space("darts")  # the process-wide instance, not a second one built at import
    try:
        return [space.canonical_id(v) for v in values]
    except HarnessError as exc:
        raise DataError(f"{path} holds an invalid DARTS genotype: {exc}") from None


def read_csv(path: Path) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path, usecols=["genotype_json", "naslib_arch", "val_accuracy", *PROXIES])
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path} is not a readable NB301 Suite-Zero CSV ({str(exc).splitlines()[0]}); expected the columns "
            f"genotype_json, naslib_arch, val_accuracy and the 12 proxies."
        ) from None
    if raw[["genotype_json", "naslib_arch"]].isna().any().any():
        raise DataError(f"{path} has rows without a genotype; the file is truncated or corrupt, re-download it.")
    ids = _ids(raw["genotype_json"], path)
    if ids != _ids(raw["naslib_arch"], path):
        raise DataError(
            f"{path} has rows whose genotype_json and naslib_arch disagree; the file is corrupt, re-download it."
        )
    table = pd.DataFrame({"arch_id": ids, "cifar10.val_acc": pd.to_numeric(raw["val_accuracy"], errors="coerce")})
    for p in PROXIES:
        table[f"zc.{p}"] = pd.to_numeric(raw[p], errors="coerce").astype(np.float64)
    values = table.drop(columns="arch_id").to_numpy(np.float64)
    if not np.isfinite(values).all():
        raise DataError(f"{path} has missing or non-numeric values; the file is truncated or corrupt, re-download it.")
    if table["arch_id"].duplicated().any():
        raise DataError(f"{path} lists the same genotype twice; re-download the original file.")
    return table


def read_arch_list(path: Path) -> pd.DataFrame:
    try:
        obj = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path} is not valid JSON ({exc.__class__.__name__}); expected the NB301 arch list "
            f"{{index: compact genotype}}, re-download it."
        ) from None
    if not isinstance(obj, dict) or not obj:
        raise DataError(f"{path} is not an NB301 arch list; expected a JSON object {{index: compact genotype}}.")
    try:
        index = np.array([int(k) for k in obj], np.int64)
    except ValueError:
        raise DataError(f"{path} has non-integer keys; expected {{index: compact genotype}}.") from None
    table = pd.DataFrame({"arch_id": _ids(obj.values(), path), "nb301_index": pd.array(index, dtype="Int64")})
    return table.drop_duplicates("arch_id", keep="first")


def _sniff(path: Path) -> str | None:
    if path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8", errors="replace") as f:
            return "csv" if f.readline().startswith(CSV_HEAD) else None
    if path.suffix.lower() == ".json":
        if path.name == "archs_nasbench301.json":
            return "json"
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(64).replace(" ", "")
        return "json" if head.startswith('{"0":"(((') else None
    return None


class DartsNB301Importer(Importer):
    detect_order = 40
    name = "darts-nb301"
    space = "darts"
    version = 1

    def detect(self, path: Path) -> bool:
        return _sniff(Path(path)) is not None

    def run(self, paths: list[Path], cache) -> ImportResult:
        paths = [Path(p) for p in paths]
        tables, sources = [], []
        for p in paths:  # parse and validate everything before writing
            kind = _sniff(p)
            tables.append(read_csv(p) if kind == "csv" else read_arch_list(p))
            sources.append(SourceFile.of(p, f"nb301-{kind}"))
        table = tables[0]
        for other in tables[1:]:
            shared = [c for c in other.columns if c in table.columns and c != "arch_id"]
            table = table.merge(other, on="arch_id", how="outer", suffixes=("", ".new"))
            for c in shared:  # same column from two files: fill gaps
                table[c] = table[c].fillna(table.pop(f"{c}.new"))
        notes = []
        if "cifar10.val_acc" in table:
            labelled = int(table["cifar10.val_acc"].notna().sum())
            notes.append(f"{labelled} labelled, {len(table) - labelled} unlabeled architectures")
        out = cache.write_table(self.space, table, sources=sources, importer=self.name, importer_version=self.version)
        return ImportResult(self.name, self.space, paths, len(out), list(table.columns), notes=notes)
