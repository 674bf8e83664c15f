"""NAS-Bench-101 importers: the official TFRecords, the hash+accuracy CSV, and two public subsets.

Formats (all produce the ``nb101`` table keyed by the official module hash):

- ``nasbench_only108.tfrecord`` / ``nasbench_full.tfrecord`` (google-research/nasbench),
  read WITHOUT TensorFlow. TFRecord framing: u64 length, masked CRC32C of the length,
  payload, masked CRC32C of the payload (both CRCs verified, vectorised). Each payload is
  JSON ``[module_hash, epochs, adjacency bits, "op,op,...", base64 ModelMetrics]``; the
  ``ModelMetrics`` protobuf is decoded by a minimal wire-format reader. One record is
  one training run (3 repeats per cell and epoch budget); repeats are averaged.
- a hash+accuracy CSV like ``nasbench_only108.csv`` (``module_hash``, ``trainable params``,
  ``train/validation/test accuracy`` at 108 epochs, each already the mean of 3 repeats).
- ``data-20k.json`` of tiga1231/nasbench-vis: 20,001 hashes with 4/12/36/108-epoch
  validation accuracy (one repeat: it equals the official third repeat), training time
  and parameters.
- NASLib's ``zc_nasbench101.json``: unpruned 7x7 specs with validation accuracy (one
  random repeat each), params (millions), FLOPs (millions) and zero-cost proxies. Specs are
  pruned and hashed; several specs of one cell are averaged.

Units: accuracies are stored in percent (the official files store fractions, x100),
``params`` as a count, ``train_seconds`` in seconds, ``flops`` in MFLOPs.

Columns: ``cifar10.val_acc`` / ``cifar10.test_acc`` / ``cifar10.train_acc`` (108 epochs),
``cifar10.val_acc_<e>ep`` / ``cifar10.test_acc_<e>ep`` (e = 4, 12, 36, and 54 = halfway of
the 108-epoch run), ``train_seconds`` / ``train_seconds_<e>ep``, ``params``, ``flops``,
``zc.<proxy>``, ``repeats`` (runs averaged at 108 epochs).

Precedence when several sources cover one cell: the official files (mean of 3 repeats)
override; the single-repeat subsets only fill cells and columns still missing.
"""

from __future__ import annotations

import ast
import base64
import binascii
import json
import math
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from nasbench_harness.errors import DataError
from nasbench_harness.tasks.cache import SourceFile
from nasbench_harness.tasks.importers import Importer, ImportResult
from nasbench_harness.tasks.spaces import nb101 as space_mod

SPACE = "nb101"
DATASET = "cifar10"
EPOCHS = (4, 12, 36, 108)
NASLIB_OPS = ("input", "output", "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu")


# -- CRC32C (Castagnoli), vectorised over many records --------------------------------------
def _crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0x82F63B78), table >> 1).astype(np.uint32)
    return table


_CRC = _crc_table()
_ZERO_RUN: list[int] = [0xFFFFFFFF]  # raw register after k zero bytes from the initial value


def _zero_run(length: int) -> int:
    while len(_ZERO_RUN) <= length:
        c = _ZERO_RUN[-1]
        _ZERO_RUN.append(int(_CRC[c & 0xFF]) ^ (c >> 8))
    return _ZERO_RUN[length]


def crc32c_many(chunks: list[bytes]) -> np.ndarray:
    """CRC32C of every byte string, computed in lock-step across all of them.

    The CRC register update is linear, so the CRC of a message equals the raw CRC (start
    0) of the message left-padded with zeros, XOR the register after ``len`` zero bytes
    from the standard initial value: every record is processed column by column.
    """
    if not chunks:
        return np.zeros(0, np.uint32)
    lengths = np.fromiter((len(c) for c in chunks), np.int64, len(chunks))
    width = int(lengths.max())
    buf = np.zeros((len(chunks), width), np.uint8)
    flat = np.frombuffer(b"".join(chunks), np.uint8)
    rows_idx = np.repeat(np.arange(len(chunks)), lengths)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    buf[rows_idx, (width - lengths)[rows_idx] + np.arange(len(flat)) - starts] = flat
    crc = np.zeros(len(chunks), np.uint32)
    for j in range(width):
        crc = _CRC[(crc ^ buf[:, j]) & 0xFF] ^ (crc >> 8)
    zero = np.array([_zero_run(int(n)) for n in lengths], np.uint32)
    return crc ^ zero ^ np.uint32(0xFFFFFFFF)


def crc32c(data: bytes) -> int:
    return int(crc32c_many([data])[0])


def masked(crc: np.ndarray | int) -> np.ndarray | int:
    """TFRecord's masked CRC: rotate right by 15 and add a constant (mod 2**32)."""
    c = np.asarray(crc, dtype=np.uint64)
    out = (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    return out.astype(np.uint32) if out.ndim else int(out)


# -- TFRecord framing ------------------------------------------------------------------------
def iter_tfrecord_chunks(path: Path, chunk_records: int = 50_000) -> Iterator[list[bytes]]:
    """Yield lists of verified record payloads; DataError on truncation or a CRC mismatch.

    Streams the file (the full benchmark is 2 GB); CRCs are checked per chunk, vectorised.
    """
    pos = 0
    with open(path, "rb") as f:
        while True:
            heads, payloads, tails, offsets = [], [], [], []
            while len(payloads) < chunk_records:
                head = f.read(12)
                if not head:
                    break
                if len(head) < 12:
                    raise _corrupt(path, f"truncated record header at byte {pos}")
                (length,) = struct.unpack_from("<Q", head)
                body = f.read(length + 4) if length < 1 << 31 else b""
                if len(body) != length + 4:
                    if struct.unpack_from("<I", head, 8)[0] != masked(crc32c(head[:8])):
                        raise _corrupt(path, f"length checksum mismatch in the record at byte {pos}")
                    raise _corrupt(path, f"truncated record at byte {pos} (needs {length} bytes)")
                heads.append(head)
                payloads.append(body[:length])
                tails.append(body[length:])
                offsets.append(pos)
                pos += 12 + length + 4
            if not payloads:
                return
            _verify_crcs(path, heads, payloads, tails, offsets)
            yield payloads


def _verify_crcs(path: Path, heads: list[bytes], payloads: list[bytes], tails: list[bytes], offsets: list[int]) -> None:
    head_stored = np.frombuffer(b"".join(h[8:12] for h in heads), "<u4")
    bad = np.flatnonzero(masked(crc32c_many([h[:8] for h in heads])) != head_stored)
    if len(bad):
        raise _corrupt(path, f"length checksum mismatch in the record at byte {offsets[bad[0]]}")
    body_stored = np.frombuffer(b"".join(tails), "<u4")
    bad = np.flatnonzero(masked(crc32c_many(payloads)) != body_stored)
    if len(bad):
        raise _corrupt(path, f"data checksum mismatch in the record at byte {offsets[bad[0]]}")


def frame_record(payload: bytes) -> bytes:
    """One TFRecord frame around ``payload`` (used to write test fixtures and exports)."""
    head = struct.pack("<Q", len(payload))
    return head + struct.pack("<I", masked(crc32c(head))) + payload + struct.pack("<I", masked(crc32c(payload)))


def _corrupt(path: Path, what: str) -> DataError:
    return DataError(
        f"{path} is not a valid NAS-Bench-101 TFRecord ({what}); the file is corrupted or truncated, "
        f"download it again (nasbench_only108.tfrecord or nasbench_full.tfrecord)."
    )


# -- protobuf wire format (just what ModelMetrics needs) ----------------------------------------
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def iter_fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) of every field; bytes for LEN, int for VARINT/I32/I64 raw."""
    pos, n = 0, len(buf)
    while pos < n:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            if pos + 8 > n:
                raise ValueError("truncated 64-bit field")
            value = buf[pos : pos + 8]
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > n:
                raise ValueError("truncated length-delimited field")
            value = buf[pos : pos + length]
            pos += length
        elif wire == 5:
            if pos + 4 > n:
                raise ValueError("truncated 32-bit field")
            value = buf[pos : pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield field, wire, value


# EvaluationData fields 1-5 are doubles: current_epoch, training_time, train/validation/test accuracy.
_EVAL_FIELDS = {1: 0, 2: 1, 3: 2, 4: 3, 5: 4}
_unpack_double = struct.Struct("<d").unpack_from


def _decode_evaluation(buf: bytes) -> list[float]:
    """EvaluationData -> [current_epoch, training_time, train, val, test] (NaN where absent)."""
    row = [math.nan] * 5
    pos, n = 0, len(buf)
    while pos < n:
        key = buf[pos]
        if key < 0x80 and key & 7 == 1 and 1 <= key >> 3 <= 5:  # fast path: a double field
            if pos + 9 > n:
                raise ValueError("truncated 64-bit field")
            row[(key >> 3) - 1] = _unpack_double(buf, pos + 1)[0]
            pos += 9
            continue
        for field, wire, value in iter_fields(buf[pos:]):  # anything else: the generic reader
            if field in _EVAL_FIELDS and wire == 1:
                row[_EVAL_FIELDS[field]] = _unpack_double(value)[0]
        break
    return row


def decode_model_metrics(buf: bytes) -> tuple[list[list[float]], int, float]:
    """Decode ``nasbench.ModelMetrics``: (evaluation rows, trainable_parameters, total_time).

    Each evaluation row is [current_epoch, training_time, train_acc, val_acc, test_acc]
    (NaN where absent). The official layout has 3 rows: start, halfway, end of training.
    """
    evals: list[list[float]] = []
    params, total = -1, math.nan
    for field, wire, value in iter_fields(buf):
        if field == 1 and wire == 2:
            evals.append(_decode_evaluation(value))
        elif field == 2 and wire == 0:
            params = value - (1 << 64) if value >= 1 << 63 else value  # int32 is sign-extended
        elif field == 3 and wire == 1:
            total = _unpack_double(value)[0]
    return evals, params, total


# -- shared helpers ---------------------------------------------------------------------------
def _cells(cache):
    """The space singleton and its enumerated cells (from ``cache`` if stored there; not written)."""
    from nasbench_harness.registry import get_search_space

    space = get_search_space(SPACE)
    return space, space.cells(cache, persist=False)


def _require_known(path: Path, hashes: np.ndarray, cache) -> None:
    """Every hash must be an enumerated NB101 cell (the join with the enumeration)."""
    _, cells = _cells(cache)
    rows = cells.rows(hashes)
    if (rows < 0).any():
        bad = hashes[rows < 0]
        raise DataError(
            f"{path} has {len(bad)} module hash(es) that are not NB101 cells (e.g. '{bad[0]}'); "
            f"give an unmodified NAS-Bench-101 file."
        )


def _valid_hashes(path: Path, keys) -> np.ndarray:
    arr = np.asarray(keys, dtype=object)
    ok = np.fromiter((isinstance(k, str) and len(k) == 32 for k in arr), bool, len(arr))
    hashes = arr.astype(str) if len(arr) else np.zeros(0, "<U32")
    if not ok.all() or not all(set(h) <= space_mod._HEX for h in hashes):
        raise DataError(f"{path} holds module hashes that are not 32-character lowercase hex; give an unmodified file.")
    return hashes.astype("<U32")


def _finite(path: Path, name: str, values, lo: float = -math.inf, hi: float = math.inf) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{path}: column '{name}' is not numeric; give an unmodified NAS-Bench-101 file.") from None
    if arr.ndim != 1 or not np.isfinite(arr).all() or (arr < lo).any() or (arr > hi).any():
        raise DataError(
            f"{path}: column '{name}' has missing or out-of-range values (expected finite values in "
            f"[{lo}, {hi}]); give an unmodified NAS-Bench-101 file."
        )
    return arr


def _write(
    cache, df: pd.DataFrame, files: list[Path], fmt: str, imp: Importer, *, override: bool, with_cells: bool = True
) -> ImportResult:
    """Store ``df`` for nb101; ``override`` decides who wins where a cell already has a value.

    With ``with_cells`` the enumerated cell structures are stored beside the table too
    (only after the table is written, so a failed import leaves the cache untouched).
    """
    out = df
    if cache.has(SPACE):
        old = cache.read_table(SPACE)
        shared = [c for c in df.columns if c != "arch_id" and c in old.columns]
        if shared:
            new_i = df.set_index("arch_id")
            old_i = old[["arch_id", *shared]].set_index("arch_id")
            # combine_first keeps the caller's values and fills its gaps from the other.
            merged = new_i.combine_first(old_i) if override else old_i.combine_first(new_i)
            out = merged[list(new_i.columns)].rename_axis("arch_id").reset_index()
    sources = [SourceFile.of(p, fmt) for p in files]
    table = cache.write_table(SPACE, out, sources=sources, importer=imp.name, importer_version=imp.version)
    if with_cells and not (cache.space_dir(SPACE) / "cells.npz").is_file():
        space, cells = _cells(cache)
        cache.write_arrays(SPACE, space.CELLS_NAME, **cells.to_arrays())
    return ImportResult(imp.name, SPACE, list(files), len(table), list(df.columns))


def _head(path: Path, n: int = 4096) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


# -- tiga1231/nasbench-vis data-20k.json --------------------------------------------------------
class NB101VisJsonImporter(Importer):
    """Module hashes with 4/12/36/108-epoch validation accuracy (nasbench-vis ``data-*.json``)."""
    detect_order = 20

    name = "nb101-vis-json"
    space = SPACE
    version = 1
    priority = 1

    KEYS = {f"{e}_final_validation_accuracy": e for e in EPOCHS}

    def detect(self, path: Path) -> bool:
        return path.suffix == ".json" and b"_final_validation_accuracy" in _head(path)

    def _parse(self, path: Path, cache) -> pd.DataFrame:
        try:
            raw = json.loads(Path(path).read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path} is not valid JSON ({exc.__class__.__name__}); the file is truncated or corrupted, download it again.") from None
        need = [*self.KEYS, "key", "trainable_parameters", "final_training_time"]
        if not isinstance(raw, dict) or any(k not in raw for k in need):
            raise DataError(f"{path} lacks the nasbench-vis columns {need}; give a nasbench-vis data JSON file.")
        n = len(raw["key"])
        if any(not isinstance(raw[k], list) or len(raw[k]) != n for k in need):
            raise DataError(f"{path}: the nasbench-vis columns have different lengths; the file is truncated or corrupted.")
        hashes = _valid_hashes(path, raw["key"])
        if len(set(hashes.tolist())) != n:
            raise DataError(f"{path} lists a module hash twice; give an unmodified nasbench-vis file.")
        _require_known(path, hashes, cache)
        df = pd.DataFrame({"arch_id": hashes})
        for key, e in self.KEYS.items():
            col = f"{DATASET}.val_acc" if e == 108 else f"{DATASET}.val_acc_{e}ep"
            df[col] = 100.0 * _finite(path, key, raw[key], 0.0, 1.0)  # fraction -> %
        df["params"] = _finite(path, "trainable_parameters", raw["trainable_parameters"], 0)
        df["train_seconds"] = _finite(path, "final_training_time", raw["final_training_time"], 0)
        return df

    def run(self, paths: list[Path], cache) -> ImportResult:
        frames = [self._parse(p, cache) for p in paths]
        df = pd.concat(frames).drop_duplicates("arch_id", keep="last").reset_index(drop=True)
        return _write(cache, df, paths, "nasbench-vis-json", self, override=False)


# -- NASLib zc_nasbench101.json -----------------------------------------------------------------
class NB101NaslibZcImporter(Importer):
    """NASLib's NB101 zero-cost file: unpruned spec tuples -> pruned cells, accuracy, proxies."""
    detect_order = 21

    name = "nb101-naslib-zc-json"
    space = SPACE
    version = 1
    priority = 2

    def detect(self, path: Path) -> bool:
        return path.suffix == ".json" and _head(path, 64).lstrip().startswith(b'{"nasbench101"')

    def _parse(self, path: Path, cache) -> pd.DataFrame:
        try:
            raw = json.loads(Path(path).read_bytes())["nasbench101"]["cifar10"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            raise DataError(
                f"{path} is not a NASLib zc_nasbench101.json file (expected {{'nasbench101': {{'cifar10': {{spec: record}}}}}}); "
                f"the file is truncated or corrupted, download it again."
            ) from None
        rows = []
        for key, rec in raw.items():
            try:
                spec = ast.literal_eval(key)
                if not (isinstance(spec, tuple) and len(spec) == 56 and isinstance(rec, dict)):
                    raise ValueError
                matrix = np.array(spec[:49], dtype=np.int64).reshape(7, 7)
                ops = [NASLIB_OPS[i] for i in spec[49:]]
            except (ValueError, SyntaxError, IndexError, TypeError):
                raise DataError(f"{path}: '{key[:60]}' is not a 56-value NB101 spec tuple; give an unmodified NASLib file.") from None
            try:
                digest = space_mod.spec_hash(matrix, ops)
            except Exception as exc:  # ConfigError for a malformed spec
                raise DataError(f"{path}: spec '{key[:60]}' is invalid ({exc}).") from None
            if digest is None:
                raise DataError(f"{path}: spec '{key[:60]}' is not a valid NB101 cell after pruning; give an unmodified NASLib file.")
            row = {"arch_id": digest}
            for name, value in rec.items():
                if not isinstance(value, (int, float)):
                    continue
                if name == "val_accuracy":
                    row[f"{DATASET}.val_acc"] = float(value)  # already in %
                elif name == "params":
                    row["params"] = float(value) * 1e6  # millions -> count
                elif name == "flops":
                    row["flops"] = float(value)
                else:
                    row[f"zc.{name}"] = float(value)
            rows.append(row)
        if not rows:
            raise DataError(f"{path} holds no NB101 cells; give a non-empty NASLib file.")
        df = pd.DataFrame(rows)
        acc = df.get(f"{DATASET}.val_acc")
        if acc is None or not np.isfinite(acc.to_numpy(float)).all() or not acc.between(0, 100).all():
            raise DataError(f"{path}: val_accuracy is missing or outside [0, 100]; give an unmodified NASLib file.")
        # Several unpruned specs can be one cell: each was one (random) repeat, so average.
        return df.groupby("arch_id", sort=True, as_index=False).mean()

    def run(self, paths: list[Path], cache) -> ImportResult:
        frames = [self._parse(p, cache) for p in paths]
        df = pd.concat(frames).groupby("arch_id", sort=True, as_index=False).mean()
        return _write(cache, df, paths, "naslib-zc-json", self, override=False, with_cells=False)


# -- hash + accuracy CSV (nasbench_only108.csv) --------------------------------------------------
class NB101HashCsvImporter(Importer):
    """``nasbench_only108.csv``: module_hash, trainable params, train/validation/test accuracy (108 ep)."""
    detect_order = 22

    name = "nb101-hash-csv"
    space = SPACE
    version = 1
    priority = 0

    COLUMNS = {
        "trainable params": "params",
        "train accuracy": f"{DATASET}.train_acc",
        "validation accuracy": f"{DATASET}.val_acc",
        "test accuracy": f"{DATASET}.test_acc",
    }

    def detect(self, path: Path) -> bool:
        if path.suffix not in (".csv", ".gz"):
            return False
        head = _head(path, 512)
        if head[:2] == b"\x1f\x8b":
            import gzip

            with gzip.open(path, "rb") as f:
                head = f.read(512)
        first = head.split(b"\n", 1)[0]
        return b"module_hash" in first and b"validation accuracy" in first

    def _parse(self, path: Path, cache) -> pd.DataFrame:
        try:
            raw = pd.read_csv(path, dtype={"module_hash": str})
        except (ValueError, OSError, EOFError, pd.errors.ParserError) as exc:
            raise DataError(f"{path} is not a readable CSV ({exc.__class__.__name__}); the file is truncated or corrupted.") from None
        missing = [c for c in ["module_hash", *self.COLUMNS] if c not in raw.columns]
        if missing:
            raise DataError(f"{path} lacks the column(s) {missing}; expected the nasbench_only108.csv layout.")
        hashes = _valid_hashes(path, raw["module_hash"].tolist())
        if len(set(hashes.tolist())) != len(hashes):
            raise DataError(f"{path} lists a module hash twice; give an unmodified nasbench_only108.csv.")
        _require_known(path, hashes, cache)
        df = pd.DataFrame({"arch_id": hashes})
        for src, dst in self.COLUMNS.items():
            if src == "trainable params":
                df[dst] = _finite(path, src, raw[src], 0)
                continue
            values = _finite(path, src, raw[src], 0.0, 100.0)
            # The official API stores fractions; a file already in % is left as is.
            df[dst] = values * 100.0 if values.max(initial=0.0) <= 1.0 else values
        return df

    def run(self, paths: list[Path], cache) -> ImportResult:
        df = pd.concat([self._parse(p, cache) for p in paths]).drop_duplicates("arch_id", keep="last")
        return _write(cache, df.reset_index(drop=True), paths, "nasbench-hash-csv", self, override=True)


# -- the official TFRecords ----------------------------------------------------------------------
# Per-record values gathered from each run (repeat): index into the accumulator's metric axis.
_RUN_METRICS = (
    "final_time", "final_train", "final_val", "final_test", "half_val", "half_test",
)


class NB101TFRecordImporter(Importer):
    """The official ``nasbench_only108.tfrecord`` / ``nasbench_full.tfrecord``, without TensorFlow."""
    detect_order = 23

    name = "nb101-tfrecord"
    space = SPACE
    version = 1
    priority = 0
    HASH_CHECKS = 2000  # cells whose stored spec is re-hashed as a sanity check

    def detect(self, path: Path) -> bool:
        if path.suffix == ".tfrecord":
            return True
        head = _head(path, 64)
        if len(head) < 14:
            return False
        return struct.unpack_from("<I", head, 8)[0] == masked(crc32c(head[:8])) and head[12:14] == b'["'

    def _parse(self, path: Path, cache) -> pd.DataFrame:
        _, cells = _cells(cache)
        n_cells = len(cells)
        sums = np.zeros((n_cells * len(EPOCHS), len(_RUN_METRICS)))
        counts = np.zeros(n_cells * len(EPOCHS))
        params = np.full(n_cells, np.nan)
        checked: dict[str, tuple[str, str]] = {}
        n_records = 0
        for payloads in iter_tfrecord_chunks(path):
            hashes, epochs, values, prm = self._decode_chunk(path, payloads, n_records, checked)
            rows = cells.rows(hashes)
            if (rows < 0).any():
                raise DataError(
                    f"{path} has module hash '{hashes[rows < 0][0]}' that is not an NB101 cell; "
                    f"give an unmodified NAS-Bench-101 TFRecord."
                )
            e_idx = np.searchsorted(EPOCHS, epochs)
            flat = rows * len(EPOCHS) + e_idx
            for k in range(len(_RUN_METRICS)):
                sums[:, k] += np.bincount(flat, weights=values[:, k], minlength=len(counts))
            counts += np.bincount(flat, minlength=len(counts))
            params[rows] = prm
            n_records += len(payloads)
        if n_records == 0:
            raise DataError(f"{path} holds no records; give a non-empty NAS-Bench-101 TFRecord.")
        self._check_specs(path, checked)
        return self._table(cells, sums, counts, params)

    def _decode_chunk(self, path, payloads, offset, checked):
        n = len(payloads)
        hashes = np.empty(n, "<U32")
        epochs = np.empty(n, np.int64)
        values = np.empty((n, len(_RUN_METRICS)))
        prm = np.empty(n)
        for i, payload in enumerate(payloads):
            try:
                module_hash, ep, adjacency, operations, metrics = json.loads(payload)
                evals, params, _ = decode_model_metrics(base64.b64decode(metrics, validate=True))
                if ep not in EPOCHS or len(evals) < 3 or not isinstance(module_hash, str) or len(module_hash) != 32:
                    raise ValueError("unexpected record content")
            except (ValueError, TypeError, binascii.Error, struct.error) as exc:
                raise DataError(
                    f"{path}: record {offset + i} is not a NAS-Bench-101 record ({exc}); the file is corrupted, download it again."
                ) from None
            half, final = evals[1], evals[2]  # evals[0] is the untrained model
            hashes[i], epochs[i], prm[i] = module_hash, ep, params
            values[i] = (final[1], final[2], final[3], final[4], half[3], half[4])
            if len(checked) < self.HASH_CHECKS and module_hash not in checked:
                checked[module_hash] = (adjacency, operations)
        if not np.isfinite(values).all():
            raise DataError(f"{path}: a record lacks accuracy or training time fields; the file is corrupted.")
        return hashes, epochs, values, prm

    @staticmethod
    def _check_specs(path: Path, checked: dict[str, tuple[str, str]]) -> None:
        """The stored adjacency and ops must hash to the record's module hash."""
        for module_hash, (adjacency, operations) in checked.items():
            try:
                matrix, ops = space_mod.parse_spec_id(f"{adjacency}:{operations}")
                digest = space_mod.spec_hash(matrix, ops)
            except Exception:
                digest = None
            if digest != module_hash:
                raise DataError(
                    f"{path}: the cell stored under module hash '{module_hash}' does not hash to it; "
                    f"the file is corrupted or not NAS-Bench-101."
                )

    @staticmethod
    def _table(cells, sums, counts, params) -> pd.DataFrame:
        n_e = len(EPOCHS)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = (sums / counts[:, None]).reshape(len(cells), n_e, len(_RUN_METRICS))
        counts = counts.reshape(len(cells), n_e)
        keep = counts.sum(1) > 0
        df = pd.DataFrame({"arch_id": cells.hashes[keep]})
        m = {name: means[keep, :, k] for k, name in enumerate(_RUN_METRICS)}
        for j, e in enumerate(EPOCHS):
            if counts[:, j].sum() == 0:
                continue  # e.g. only108: no 4/12/36-epoch runs
            sfx = "" if e == 108 else f"_{e}ep"
            df[f"{DATASET}.val_acc{sfx}"] = 100.0 * m["final_val"][:, j]
            df[f"{DATASET}.test_acc{sfx}"] = 100.0 * m["final_test"][:, j]
            df[f"train_seconds{sfx}"] = m["final_time"][:, j]
            if e == 108:
                df[f"{DATASET}.train_acc"] = 100.0 * m["final_train"][:, j]
                df[f"{DATASET}.val_acc_54ep"] = 100.0 * m["half_val"][:, j]  # halfway of 108
                df[f"{DATASET}.test_acc_54ep"] = 100.0 * m["half_test"][:, j]
                df["repeats"] = counts[keep, j]
        df["params"] = params[keep]
        return df

    def run(self, paths: list[Path], cache) -> ImportResult:
        frames = [self._parse(p, cache) for p in paths]
        df = frames[0]
        for extra in frames[1:]:  # e.g. only108 + full: later files fill and override
            df = extra.set_index("arch_id").combine_first(df.set_index("arch_id")).reset_index()
        return _write(cache, df, paths, "nasbench-tfrecord", self, override=True)


__all__ = [
    "NB101HashCsvImporter",
    "NB101NaslibZcImporter",
    "NB101TFRecordImporter",
    "NB101VisJsonImporter",
    "crc32c",
    "crc32c_many",
    "decode_model_metrics",
    "frame_record",
    "iter_tfrecord_chunks",
    "masked",
]
