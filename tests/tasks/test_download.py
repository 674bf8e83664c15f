"""`data download`: a local HTTP server (with Range support) stands in for the public hosts.

Covers a normal fetch + import, a resumed partial file, a connection dropped mid-file,
a truncated file on the server, a wrong checksum, the offline sentence, and the
catalogue's pins against the development copies in ../shared/data.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from nasbench_harness.cli_data import data_app
from nasbench_harness.errors import ConfigError, DataError
from nasbench_harness.tasks.cache import DataCache
from nasbench_harness.tasks.catalog import load_task
from nasbench_harness.tasks.download import RemoteFile, check_format, fetch, load_catalogue, select
from nasbench_harness.tasks.spaces.nb201 import NB201Space
from typer.testing import CliRunner

cli = CliRunner()


class Server:
    """Serves ``files`` (name -> bytes) on 127.0.0.1; honours ``Range: bytes=N-``; logs requests.

    ``drop_after[name] = n`` closes the connection after n body bytes of the first request
    for that name (Content-Length still announces the whole file).
    """

    def __init__(self, files: dict[str, bytes]):
        self.files, self.drop_after, self.log, self.ignore_range = dict(files), {}, [], False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                rng = None if server.ignore_range else self.headers.get("Range")
                server.log.append((name, self.headers.get("Range")))
                if name not in server.files:
                    self.send_error(404)
                    return
                data = server.files[name]
                start = int(rng.removeprefix("bytes=").rstrip("-")) if rng else 0
                if start >= len(data) and rng:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = data[start:]
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = server.drop_after.pop(name, None)
                self.wfile.write(body if cut is None else body[:cut])
                if cut is not None:
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def spec_for(name: str, data: bytes, url: str) -> RemoteFile:
    return RemoteFile(target=name, urls=(f"{url}/{name}",), bytes=len(data), sha256=hashlib.sha256(data).hexdigest())


def nasgraph_csv(seed: int = 0) -> tuple[bytes, np.ndarray]:
    """A NASGraph-layout NB201 CSV over all 15,625 cells with generated accuracies (the format's exact header)."""
    ids = NB201Space().enumerate()
    rng = np.random.default_rng(seed)
    val = np.round(rng.uniform(10, 70, len(ids)), 4)
    df = pd.DataFrame(
        {
            "file id": np.arange(len(ids)),
            "arch str": ids,
            "cfg name": "infer.tiny",
            "C": 16,
            "N": 5,
            "train accuracy": np.round(val + 5, 4),
            "validation accuracy": val,
            "test accuracy": np.round(val - 1, 4),
        }
    )
    return df.to_csv(index=False).encode(), val


def write_catalogue(path: Path, entries: dict) -> Path:
    path.write_text(yaml.safe_dump(entries))
    return path


def catalogue_entry(spec: RemoteFile) -> dict:
    return {
        "space": "nb201",
        "title": "test",
        "files": [{"target": spec.target, "urls": list(spec.urls), "bytes": spec.bytes, "sha256": spec.sha256, "importer": "nb201-nasgraph-csv"}],
    }


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------- fetching
def test_download_and_import_through_the_cli(tmp_path):
    data, val = nasgraph_csv()
    name = "nasgraph_nasbench201_cifar100.csv"
    with Server({name: data}) as server:
        cat = write_catalogue(tmp_path / "cat.yaml", {"tiny": catalogue_entry(spec_for(name, data, server.url))})
        args = ["download", "tiny", "--catalogue", str(cat), "--dest", str(tmp_path / "dl"), "--data-dir", str(tmp_path / "data")]
        result = cli.invoke(data_app, args)
        assert result.exit_code == 0, result.output
        assert (tmp_path / "dl" / "tiny" / name).read_bytes() == data
        table = DataCache(tmp_path / "data").read_table("nb201").set_index("arch_id")
        np.testing.assert_allclose(table.loc[NB201Space().enumerate(), "cifar100.val_acc"], val)
        again = cli.invoke(data_app, args)  # present and verified: no second request
        assert again.exit_code == 0, again.output
    assert server.log == [(name, None)]


def test_a_partial_file_is_resumed_with_a_range_request(tmp_path):
    data = bytes(range(256)) * 4000
    with Server({"blob.bin": data}) as server:
        spec = spec_for("blob.bin", data, server.url)
        (tmp_path / "blob.bin.part").write_bytes(data[:300_000])
        path = fetch(spec, tmp_path)
    assert path.read_bytes() == data and not (tmp_path / "blob.bin.part").exists()
    assert server.log == [("blob.bin", "bytes=300000-")]


def test_an_unsized_file_already_complete_in_part_is_kept(tmp_path):
    data = np.random.default_rng(4).bytes(50_000)
    with Server({"blob.bin": data}) as server:
        spec = RemoteFile("blob.bin", (f"{server.url}/blob.bin",), importer="x", unpinned="test")
        (tmp_path / "blob.bin.part").write_bytes(data)
        assert fetch(spec, tmp_path).read_bytes() == data
    assert server.log == [("blob.bin", "bytes=50000-")]


def test_a_server_without_range_support_sends_the_whole_file_again(tmp_path):
    data = np.random.default_rng(3).bytes(200_000)
    with Server({"blob.bin": data}) as server:
        server.ignore_range = True
        (tmp_path / "blob.bin.part").write_bytes(data[:1000])
        path = fetch(spec_for("blob.bin", data, server.url), tmp_path)
    assert path.read_bytes() == data  # not the first 1000 bytes twice
    assert server.log == [("blob.bin", "bytes=1000-")]


def test_a_connection_dropped_mid_file_resumes_where_it_stopped(tmp_path):
    data = np.random.default_rng(1).bytes(500_000)
    with Server({"blob.bin": data}) as server:
        server.drop_after["blob.bin"] = 123_456
        path = fetch(spec_for("blob.bin", data, server.url), tmp_path)
    assert path.read_bytes() == data
    assert server.log == [("blob.bin", None), ("blob.bin", "bytes=123456-")]


def test_a_truncated_file_on_the_server_is_refused_and_nothing_is_imported(tmp_path):
    data, _ = nasgraph_csv()
    name = "nasgraph_nasbench201_cifar10.csv"
    with Server({name: data[: len(data) // 2]}) as server:
        cat = write_catalogue(tmp_path / "cat.yaml", {"tiny": catalogue_entry(spec_for(name, data, server.url))})
        result = cli.invoke(
            data_app,
            ["download", "tiny", "--catalogue", str(cat), "--dest", str(tmp_path / "dl"), "--data-dir", str(tmp_path / "data")],
        )
    assert result.exit_code == 2
    assert "Could not download" in result.output and "ends at byte" in result.output
    assert not (tmp_path / "dl" / "tiny" / name).exists() and not (tmp_path / "dl" / "tiny" / f"{name}.part").exists()
    assert not (tmp_path / "data").exists() or DataCache(tmp_path / "data").spaces() == []


def test_a_wrong_checksum_is_refused_and_the_bytes_discarded(tmp_path):
    data = np.random.default_rng(2).bytes(10_000)
    other = bytes(reversed(data))  # same size, other bytes
    with Server({"blob.bin": other}) as server:
        with pytest.raises(DataError, match="sha256 .* instead of") as exc:
            fetch(spec_for("blob.bin", data, server.url), tmp_path)
    assert "\n" not in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def test_offline_it_names_the_url_and_where_to_put_the_file(tmp_path):
    data = b"x" * 100
    spec = spec_for("nasgraph_nasbench201_cifar10.csv", data, f"http://127.0.0.1:{unused_port()}")
    cat = write_catalogue(tmp_path / "cat.yaml", {"tiny": catalogue_entry(spec)})
    result = cli.invoke(data_app, ["download", "tiny", "--catalogue", str(cat), "--dest", str(tmp_path / "dl"), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert spec.urls[0] in text
    assert f"put the file at {tmp_path / 'dl' / 'tiny' / spec.target}" in text
    assert "`nasbench-harness data import" in text
    assert text.count(". ") == 0 and "Traceback" not in text  # one sentence


# ------------------------------------------------------------------------ catalogue
def test_catalogue_loads_and_every_fetchable_file_is_pinned_or_says_why_not():
    catalogue = load_catalogue()
    assert {"nb201", "nb101", "zc"} <= {d.name for d in select(catalogue, ["all"])}
    for d in catalogue.values():
        assert d.files or d.manual
        for f in d.files:
            assert f.sha256 or f.git_blob or f.unpinned
            assert all(u.startswith("https://") for u in f.urls)


def test_a_file_the_catalogued_importer_does_not_recognise_is_not_imported(tmp_path):
    data = b"index,arch_str,c10valid_val_200ep_v11\n"  # a merged-CSV header, not NASGraph's
    with Server({"nasgraph_nasbench201_cifar10.csv": data}) as server:
        cat = write_catalogue(tmp_path / "cat.yaml", {"tiny": catalogue_entry(spec_for("nasgraph_nasbench201_cifar10.csv", data, server.url))})
        result = cli.invoke(data_app, ["download", "tiny", "--catalogue", str(cat), "--dest", str(tmp_path / "dl"), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 2
    assert "recognised as nb201-merged-csv, not as nb201-nasgraph-csv" in " ".join(result.output.split())
    assert not (tmp_path / "data").exists() or DataCache(tmp_path / "data").spaces() == []


def test_a_catalogue_entry_without_a_pin_is_refused(tmp_path):
    entry = {"target": "a.csv", "urls": ["https://e/a.csv"], "importer": "nb201-nasgraph-csv"}
    cat = write_catalogue(tmp_path / "cat.yaml", {"x": {"space": "nb201", "files": [entry]}})
    with pytest.raises(ConfigError, match="no sha256 or git_blob"):
        load_catalogue(cat)


def test_catalogued_checksums_equal_the_shared_data_files(shared_data):
    by_name = {p.name: p for p in shared_data.rglob("*") if p.is_file()}
    checked = 0
    for d in load_catalogue().values():
        for f in d.files:
            if f.target not in by_name or f.sha256 is None:
                continue
            path = by_name[f.target]
            assert path.stat().st_size == f.bytes, f.target
            assert hashlib.sha256(path.read_bytes()).hexdigest() == f.sha256, f.target
            check_format(path, f)  # the catalogued importer recognises the file under its target name
            checked += 1
    assert checked >= 12  # nb201 (6), nb101 (2), zc (4)


def test_the_nb201_download_rebuilds_the_known_tasks(shared_data, tmp_path):
    """The real catalogue entry, served from the development copies: targets, pins and importers fit together."""
    files = {p.name: p.read_bytes() for p in (shared_data / "nasbench201").iterdir() if p.is_file()}
    with Server(files) as server:
        result = cli.invoke(
            data_app,
            ["download", "nb201", "--mirror", server.url, "--dest", str(tmp_path / "dl"), "--data-dir", str(tmp_path / "data")],
        )
    assert result.exit_code == 0, result.output
    task = load_task("nb201/cifar10", DataCache(tmp_path / "data"))
    assert len(task) == 15625 and task.eval_is_test
    assert (round(float(task.train.max()), 2), round(float(task.eval.max()), 2)) == (91.61, 94.37)


def test_a_space_without_data_names_the_download_and_the_skip_option(tmp_path):
    with pytest.raises(DataError) as exc:
        DataCache(tmp_path).read_table("nb201")
    assert "`nasbench-harness data download nb201`" in str(exc.value)
    assert "--skip-missing-data" in str(exc.value)
