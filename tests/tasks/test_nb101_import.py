"""NB101 importers: official TFRecords (miniature files in the exact layout), hash CSV, public subsets.

The miniature TFRecords are written here with an independent bitwise CRC32C and a hand
encoder of the ``nasbench.ModelMetrics`` protobuf, so the importer's vectorised CRC and
wire decoder are checked against separate code.
"""

from __future__ import annotations

import ast
import base64
import json
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nasbench_harness.errors import DataError
from nasbench_harness.registry import get_search_space
from nasbench_harness.tasks.cache import DataCache
from nasbench_harness.tasks.catalog import get_spec, load_task
from nasbench_harness.tasks.importers import detect, import_paths
from nasbench_harness.tasks.importers import nb101 as imp
from nasbench_harness.tasks.spaces.nb101 import enumerate_cells, spec_hash

KNOWN_HASH = "00005c142e6f48ac74fdcf73e3439874"
CSV_HEADER = ["file id", "module_hash", "trainable params", "train accuracy", "validation accuracy", "test accuracy"]


@pytest.fixture(scope="session")
def nb101_space(session_data_root):
    """The nb101 space with its cells enumerated once per session (stored in the session cache)."""
    cells = enumerate_cells()
    DataCache(session_data_root).write_arrays("nb101", "cells", **cells.to_arrays())
    space = get_search_space("nb101")
    space.forget_cells()
    space.cells(DataCache(session_data_root))
    return space


@pytest.fixture
def cells3(nb101_space):
    """Three real cells of different sizes: the README example, the smallest, one 5-vertex cell."""
    small = nb101_space.canonical_id("0100:input,output")
    bits = "01100" "00010" "00010" "00001" "00000"
    five = nb101_space.canonical_id(f"{bits}:input,conv3x3-bn-relu,maxpool3x3,conv1x1-bn-relu,output")
    return [KNOWN_HASH, small, five]


# -- independent encoders for the official layout -----------------------------------------------
def crc32c_bitwise(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def pb_double(field: int, x: float) -> bytes:
    return varint(field << 3 | 1) + struct.pack("<d", x)


def pb_bytes(field: int, data: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(data)) + data


def model_metrics(evals: list[list[float]], params: int, total: float) -> bytes:
    body = b""
    for row in evals:  # current_epoch, training_time, train, validation, test; + checkpoint path
        ev = b"".join(pb_double(i + 1, x) for i, x in enumerate(row)) + pb_bytes(6, b"/ckpt/model.ckpt-1")
        body += pb_bytes(1, ev)
    return body + varint(2 << 3 | 0) + varint(params) + pb_double(3, total)


def tf_frame(payload: bytes) -> bytes:
    head = struct.pack("<Q", len(payload))
    return head + struct.pack("<I", mask(crc32c_bitwise(head))) + payload + struct.pack("<I", mask(crc32c_bitwise(payload)))


def run_values(cell: int, epochs: int, repeat: int) -> list[float]:
    """Distinct, checkable (final time, train, val, test, half val, half test) of one run."""
    base = 0.5 + 0.1 * cell + epochs / 1000 + repeat / 100
    return [100.0 * epochs + repeat, min(base + 0.2, 1.0), base, base - 0.01, base / 2, base / 2 - 0.01]


def tfrecord_records(space, ids: list[str], epochs_list=(108,), repeats: int = 3) -> list[bytes]:
    records = []
    for c, arch in enumerate(ids):
        matrix, ops = space.spec_of(arch)
        bits = "".join(str(int(b)) for b in matrix.ravel())
        for e in epochs_list:
            for r in range(repeats):
                t, tr, va, te, hv, ht = run_values(c, e, r)
                evals = [[0.0, 0.0, 0.1, 0.1, 0.1], [e / 2, t / 2, tr / 2, hv, ht], [float(e), t, tr, va, te]]
                metrics = base64.b64encode(model_metrics(evals, 1000 + c, t + 5)).decode()
                records.append(json.dumps([arch, e, bits, ",".join(ops), metrics]).encode())
    return records


def write_tfrecord(path: Path, records: list[bytes]) -> Path:
    path.write_bytes(b"".join(tf_frame(r) for r in records))
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- CRC and protobuf primitives ------------------------------------------------------------------
def test_crc32c_matches_the_standard_check_value_and_bitwise_reference():
    assert imp.crc32c(b"123456789") == 0xE3069283 == crc32c_bitwise(b"123456789")
    rng = np.random.default_rng(0)
    chunks = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in (0, 1, 7, 8, 63, 300)]
    assert imp.crc32c_many(chunks).tolist() == [crc32c_bitwise(c) for c in chunks]
    assert imp.masked(imp.crc32c(b"abc")) == mask(crc32c_bitwise(b"abc"))
    assert imp.frame_record(b"xyz") == tf_frame(b"xyz")


def test_protobuf_decoder_reads_model_metrics():
    evals = [[0.0, 0.0, 0.1, 0.2, 0.3], [54.0, 10.5, 0.8, 0.7, 0.69], [108.0, 21.0, 1.0, 0.93, 0.92]]
    buf = model_metrics(evals, 8_555_530, 42.5) + varint(9 << 3 | 0) + varint(5)  # unknown field skipped
    rows, params, total = imp.decode_model_metrics(buf)
    assert rows == evals and params == 8_555_530 and total == 42.5
    assert imp.decode_model_metrics(varint(2 << 3) + varint(-5))[1] == -5  # int32 sign extension
    with pytest.raises(ValueError):
        imp.decode_model_metrics(buf[:-3])


# -- official TFRecords ----------------------------------------------------------------------------
@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_only108_tfrecord_imports_means_of_repeats(tmp_path, nb101_space, cells3):
    path = write_tfrecord(tmp_path / "nasbench_only108.tfrecord", tfrecord_records(nb101_space, cells3))
    assert detect(path).name == "nb101-tfrecord"
    cache = DataCache(tmp_path / "cache")
    (res,) = import_paths([path], cache)
    assert res.rows == 3
    df = cache.read_table("nb101").set_index("arch_id").loc[cells3]
    for c in range(3):
        runs = np.array([run_values(c, 108, r) for r in range(3)])
        assert df["cifar10.val_acc"].iloc[c] == pytest.approx(100 * runs[:, 2].mean())
        assert df["cifar10.test_acc"].iloc[c] == pytest.approx(100 * runs[:, 3].mean())
        assert df["cifar10.train_acc"].iloc[c] == pytest.approx(100 * runs[:, 1].mean())
        assert df["cifar10.val_acc_54ep"].iloc[c] == pytest.approx(100 * runs[:, 4].mean())
        assert df["train_seconds"].iloc[c] == pytest.approx(runs[:, 0].mean())
        assert df["params"].iloc[c] == 1000 + c and df["repeats"].iloc[c] == 3
    assert "cifar10.val_acc_4ep" not in df.columns
    assert (cache.space_dir("nb101") / "cells.npz").is_file()
    task = load_task("nb101/cifar10", cache)
    assert task.eval_is_test and task.eval_metric == "cifar10.test_acc" and len(task) == 3


@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_full_tfrecord_adds_earlier_epochs(tmp_path, nb101_space, cells3):
    records = tfrecord_records(nb101_space, cells3[:2], epochs_list=(4, 12, 36, 108))
    path = write_tfrecord(tmp_path / "nasbench_full.tfrecord", records)
    cache = DataCache(tmp_path / "cache")
    import_paths([path], cache)
    df = cache.read_table("nb101").set_index("arch_id").loc[cells3[:2]]
    for e in (4, 12, 36):
        runs = np.array([run_values(1, e, r) for r in range(3)])
        assert df[f"cifar10.val_acc_{e}ep"].iloc[1] == pytest.approx(100 * runs[:, 2].mean())
        assert df[f"cifar10.test_acc_{e}ep"].iloc[1] == pytest.approx(100 * runs[:, 3].mean())
        assert df[f"train_seconds_{e}ep"].iloc[1] == pytest.approx(runs[:, 0].mean())


@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_tfrecord_without_the_suffix_is_sniffed(tmp_path, nb101_space, cells3):
    path = write_tfrecord(tmp_path / "records.bin", tfrecord_records(nb101_space, cells3[:1]))
    assert detect(path).name == "nb101-tfrecord"


def _corrupt_variants(tmp_path: Path, space, ids) -> dict[str, tuple[Path, str]]:
    good = tfrecord_records(space, ids)
    raw = b"".join(tf_frame(r) for r in good)
    variants = {}

    def put(name: str, data: bytes, message: str):
        p = tmp_path / f"{name}.tfrecord"
        p.write_bytes(data)
        variants[name] = (p, message)

    flipped = bytearray(raw)
    flipped[40] ^= 0x01
    put("payload-bitflip", bytes(flipped), "data checksum mismatch")
    length_flip = bytearray(raw)
    length_flip[7] ^= 0x10
    put("length-bitflip", bytes(length_flip), "length checksum mismatch")
    put("truncated", raw[: len(raw) - 30], "truncated")
    put("header-only", raw[:5], "truncated record header")
    put("not-json", b"".join(tf_frame(r) for r in [b"not json at all", *good]), "not a NAS-Bench-101 record")
    bad_b64 = json.loads(good[0])
    bad_b64[4] = "!!!notbase64"
    put("bad-protobuf", tf_frame(json.dumps(bad_b64).encode()), "not a NAS-Bench-101 record")
    wrong = json.loads(good[0])
    wrong[0] = ids[1]  # hash of another cell over this cell's spec
    put("hash-mismatch", b"".join(tf_frame(r) for r in [json.dumps(wrong).encode(), *good[3:]]), "does not hash to it")
    unknown = json.loads(good[0])
    unknown[0] = "0" * 32
    put("unknown-hash", tf_frame(json.dumps(unknown).encode()), "not an NB101 cell")
    return variants


@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_corrupt_or_truncated_tfrecords_raise_and_leave_the_cache_untouched(tmp_path, nb101_space, cells3):
    cache = DataCache(tmp_path / "cache")
    import_paths([write_tfrecord(tmp_path / "ok.tfrecord", tfrecord_records(nb101_space, cells3))], cache)
    before = snapshot(cache.root)
    for name, (path, message) in _corrupt_variants(tmp_path, nb101_space, cells3).items():
        with pytest.raises(DataError, match=message) as info:
            import_paths([path], cache)
        assert str(path) in str(info.value), name
        assert snapshot(cache.root) == before, name


# -- hash + accuracy CSV ----------------------------------------------------------------------------
def write_csv(path: Path, ids: list[str], scale: float = 1.0) -> Path:
    rows = [[i, h, 1000 * (i + 1), 1.0 * scale, (0.9 - i / 100) * scale, (0.89 - i / 100) * scale] for i, h in enumerate(ids)]
    pd.DataFrame(rows, columns=CSV_HEADER).to_csv(path, index=False)
    return path


@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_hash_csv_imports_percent_and_wins_over_single_repeat_subsets(tmp_path, nb101_space, cells3):
    csv = write_csv(tmp_path / "nasbench_only108.csv", cells3[:2])
    vis = tmp_path / "data-mini.json"
    vis.write_text(
        json.dumps(
            {
                **{f"{e}_final_validation_accuracy": [0.5, 0.6] for e in (4, 12, 36, 108)},
                "final_training_time": [10.0, 20.0],
                "trainable_parameters": [7, 8],
                "key": [cells3[1], cells3[2]],
            }
        )
    )
    assert detect(csv).name == "nb101-hash-csv" and detect(vis).name == "nb101-vis-json"
    cache = DataCache(tmp_path / "cache")
    import_paths([csv], cache)
    import_paths([vis], cache)  # fills only what the CSV lacks
    df = cache.read_table("nb101").set_index("arch_id")
    assert df.loc[cells3[0], "cifar10.val_acc"] == pytest.approx(90.0)
    assert df.loc[cells3[1], "cifar10.val_acc"] == pytest.approx(89.0)  # CSV kept
    assert df.loc[cells3[1], "cifar10.val_acc_4ep"] == pytest.approx(50.0)  # new column filled
    assert df.loc[cells3[2], "cifar10.val_acc"] == pytest.approx(60.0)  # new cell added
    assert df.loc[cells3[1], "cifar10.test_acc"] == pytest.approx(88.0)
    import_paths([write_csv(tmp_path / "again.csv", cells3[1:], scale=100.0)], cache)  # already in %
    df = cache.read_table("nb101").set_index("arch_id")
    assert df.loc[cells3[1], "cifar10.val_acc"] == pytest.approx(90.0)  # official CSV overrides
    assert df.loc[cells3[2], "cifar10.val_acc"] == pytest.approx(89.0)
    assert df.loc[cells3[2], "cifar10.val_acc_4ep"] == pytest.approx(60.0)  # other columns kept


@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_bad_csv_and_json_inputs_raise_data_error(tmp_path, nb101_space, cells3):
    cache = DataCache(tmp_path / "cache")
    unknown = write_csv(tmp_path / "unknown.csv", [cells3[0], "f" * 32])
    with pytest.raises(DataError, match="not NB101 cells"):
        import_paths([unknown], cache)
    out_of_range = tmp_path / "range.csv"
    write_csv(out_of_range, cells3[:1])
    text = out_of_range.read_text().replace(",0.9,", ",-3,")
    out_of_range.write_text(text)
    with pytest.raises(DataError, match="out-of-range"):
        import_paths([out_of_range], cache)
    trunc = tmp_path / "data-trunc.json"
    trunc.write_text('{"108_final_validation_accuracy": [0.9, 0.8')
    with pytest.raises(DataError, match="not valid JSON"):
        import_paths([trunc], cache)
    short = tmp_path / "data-short.json"
    short.write_text(json.dumps({"108_final_validation_accuracy": [0.9], "key": [KNOWN_HASH]}))
    with pytest.raises(DataError, match="lacks the nasbench-vis columns"):
        import_paths([short], cache)
    naslib = tmp_path / "zc_nasbench101.json"
    naslib.write_text('{"nasbench101": {"cifar10": {"(0, 1, 0')
    with pytest.raises(DataError, match="not a NASLib zc_nasbench101.json"):
        import_paths([naslib], cache)
    bad_spec = "(" + ", ".join(["1"] * 49 + ["0", "4", "4", "4", "4", "4", "1"]) + ")"  # lower triangle set
    naslib.write_text(json.dumps({"nasbench101": {"cifar10": {bad_spec: {"val_accuracy": 90.0}}}}))
    with pytest.raises(DataError, match="is invalid"):
        import_paths([naslib], cache)
    assert not cache.has("nb101")


# -- the shared development data ------------------------------------------------------------------
@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_shared_subsets_import(nb101_space, cache_for, shared_data):
    cache = cache_for("nb101")
    df = cache.read_table("nb101").set_index("arch_id")
    vis = json.loads((shared_data / "nasbench101" / "tiga1231_nasbench-vis_data-20k.json").read_text())
    naslib = json.loads((shared_data / "nasbench101" / "naslib_zc_nasbench101_sample500.json").read_text())
    ops = imp.NASLIB_OPS
    by_cell: dict[str, list[dict]] = {}
    for key, rec in naslib["nasbench101"]["cifar10"].items():
        t = ast.literal_eval(key)
        h = spec_hash(np.array(t[:49]).reshape(7, 7), [ops[i] for i in t[49:]])
        by_cell.setdefault(h, []).append(rec)
    assert len(by_cell) == 292  # 500 unpruned specs are 292 distinct cells
    assert len(df) == len(set(vis["key"]) | set(by_cell))
    # values from the 20k file, in percent
    assert df.loc[KNOWN_HASH, "cifar10.val_acc"] == pytest.approx(93.04887652397156)
    assert df.loc[KNOWN_HASH, "params"] == 8_555_530
    assert df.loc[KNOWN_HASH, "train_seconds"] == pytest.approx(1768.9759521484375)
    vals = 100 * np.array(vis["108_final_validation_accuracy"])
    assert df.loc[vis["key"], "cifar10.val_acc"].to_numpy() == pytest.approx(vals)
    assert df["cifar10.val_acc"].max() == pytest.approx(vals.max())
    # NASLib proxies are averaged over the specs of one cell
    h, recs = max(by_cell.items(), key=lambda kv: len(kv[1]))
    assert len(recs) > 1
    assert df.loc[h, "zc.synflow"] == pytest.approx(np.mean([r["synflow"] for r in recs]))
    only_naslib = next(h for h in by_cell if h not in set(vis["key"]))
    assert df.loc[only_naslib, "cifar10.val_acc"] == pytest.approx(np.mean([r["val_accuracy"] for r in by_cell[only_naslib]]))


@pytest.mark.slow  # needs the session enumeration (~40 s once)
def test_shared_subset_task_falls_back_to_validation(nb101_space, cache_for):
    cache = cache_for("nb101")
    task = load_task("nb101/cifar10", cache)
    assert not task.eval_is_test and task.eval_metric == "cifar10.val_acc"
    assert len(task) == cache.manifest("nb101")["rows"]
    assert np.array_equal(task.train, task.eval)
    assert "20,001" in get_spec("nb101/cifar10").notes
    assert {"params", "train_seconds", "cifar10.val_acc_36ep", "zc.synflow"} <= set(task.extras.columns)
    graphs = task.graphs()
    assert len(graphs) == len(task) and graphs.n_nodes.max() == 7


def test_shared_files_are_detected_by_their_importers(shared_data):
    folder = shared_data / "nasbench101"
    assert detect(folder / "tiga1231_nasbench-vis_data-20k.json").name == "nb101-vis-json"
    assert detect(folder / "naslib_zc_nasbench101_sample500.json").name == "nb101-naslib-zc-json"
    assert detect(folder / "MANIFEST.md") is None
