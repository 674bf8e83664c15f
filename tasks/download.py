"""Fetch public benchmark files named in ``downloads.yaml``: resumable, checksummed, offline-aware.

``fetch`` downloads one catalogued file into a folder: a ``<target>.part`` file grows
across attempts and runs (HTTP ``Range`` requests resume it), then the size and the pin
(sha256, or the git blob id where only that was published) are checked before it is
renamed to ``<target>``; ``check_format`` then asks the importers whether the file is in
the catalogued format. Importing is left to the caller (``data download`` hands the
files to the same importers as ``data import``). Only the standard library is used.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

import yaml
from nasbench_harness.errors import ConfigError, DataError, did_you_mean

CATALOGUE = Path(__file__).with_name("downloads.yaml")
DOWNLOADS_ENV = "NASBENCH_HARNESS_DOWNLOADS"
CHUNK = 1 << 20
PROGRESS_EVERY = 64 << 20
_HEX = {"sha256": re.compile(r"^[0-9a-f]{64}$"), "git_blob": re.compile(r"^[0-9a-f]{40}$")}


@dataclass(frozen=True)
class RemoteFile:
    target: str
    urls: tuple[str, ...]
    importer: str = ""  # the importer that must recognise the file (see tasks/importers)
    bytes: int | None = None
    sha256: str | None = None
    git_blob: str | None = None
    unpinned: str = ""


@dataclass(frozen=True)
class Dataset:
    name: str
    space: str
    title: str
    files: tuple[RemoteFile, ...] = ()
    manual: str = ""  # why there is nothing to fetch, and what to do instead
    in_all: bool = True
    included: bool = False  # ships with an installed dependency: nothing to fetch, nothing missing


# ------------------------------------------------------------------------- catalogue
def _remote_file(raw: dict, where: str) -> RemoteFile:
    if not isinstance(raw, dict) or not all(raw.get(k) for k in ("target", "urls", "importer")):
        raise ConfigError(f"{where} needs a 'target' file name, a list of 'urls' and the 'importer' that reads it.")
    spec = RemoteFile(
        target=str(raw["target"]),
        urls=tuple(str(u) for u in raw["urls"]),
        importer=str(raw["importer"]),
        bytes=int(raw["bytes"]) if raw.get("bytes") is not None else None,
        sha256=raw.get("sha256"),
        git_blob=raw.get("git_blob"),
        unpinned=str(raw.get("unpinned", "")),
    )
    for kind, pattern in _HEX.items():
        value = getattr(spec, kind)
        if value is not None and not pattern.match(str(value)):
            raise ConfigError(f"{where}: {kind} {value!r} is not a lower-case hex digest of the right length.")
    if spec.sha256 is None and spec.git_blob is None and not spec.unpinned:
        raise ConfigError(f"{where} has no sha256 or git_blob; pin the file or say in 'unpinned' what checks it instead.")
    if Path(spec.target).name != spec.target:
        raise ConfigError(f"{where}: target {spec.target!r} must be a plain file name, not a path.")
    return spec


def load_catalogue(path: Path | None = None) -> dict[str, Dataset]:
    """The datasets of ``downloads.yaml`` (or of a user's catalogue in the same format)."""
    path = Path(path) if path is not None else CATALOGUE
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"Cannot read the download catalogue {path} ({exc.__class__.__name__}); give a YAML file in the format of downloads.yaml.") from None
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"The download catalogue {path} must map dataset names to entries, as downloads.yaml does.")
    out = {}
    for name, entry in raw.items():
        where = f"Dataset '{name}' in {path}"
        if not isinstance(entry, dict) or "space" not in entry or ("files" in entry) == ("manual" in entry):
            raise ConfigError(f"{where} needs a 'space' and either 'files' or 'manual'.")
        files = tuple(_remote_file(f, f"{where}, file {i + 1},") for i, f in enumerate(entry.get("files") or []))
        out[str(name)] = Dataset(
            name=str(name),
            space=str(entry["space"]),
            title=str(entry.get("title", "")),
            files=files,
            manual=str(entry.get("manual", "")),
            in_all=bool(entry.get("in_all", True)),
            included=bool(entry.get("included", False)),
        )
    return out


def select(catalogue: dict[str, Dataset], names: list[str]) -> list[Dataset]:
    """Datasets for the names given (``all`` = every fetchable one marked in_all), in catalogue order."""
    chosen = set()
    for name in names:
        if name == "all":
            chosen |= {n for n, d in catalogue.items() if d.in_all and d.files}
        elif name in catalogue:
            chosen.add(name)
        else:
            raise ConfigError(
                f"Unknown dataset '{name}' for `data download`; choose 'all' or one of {', '.join(catalogue)}."
                f"{did_you_mean(name, catalogue)}"
            )
    return [d for n, d in catalogue.items() if n in chosen]


def names_for_space(space: str, catalogue: dict[str, Dataset] | None = None) -> list[str]:
    """Catalogue names that import into ``space`` (for error messages)."""
    return [n for n, d in (catalogue or load_catalogue()).items() if d.space == space]


def downloads_dir() -> Path:
    """Where downloaded files are kept: $NASBENCH_HARNESS_DOWNLOADS, else beside the user's data cache."""
    from platformdirs import user_cache_dir

    env = os.environ.get(DOWNLOADS_ENV)
    return Path(env).expanduser() if env else Path(user_cache_dir("nasbench-harness")) / "downloads"


# -------------------------------------------------------------------------- checking
def file_digests(path: Path) -> dict[str, str]:
    """sha256 and git blob id (sha1 of ``blob <size>\\0`` + content) in one read."""
    sha256, blob = hashlib.sha256(), hashlib.sha1()
    blob.update(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sha256.update(chunk)
            blob.update(chunk)
    return {"sha256": sha256.hexdigest(), "git_blob": blob.hexdigest()}


def mismatch(path: Path, spec: RemoteFile) -> str:
    """'' when ``path`` has the catalogued size and digests, else what differs."""
    size = path.stat().st_size
    if spec.bytes is not None and size != spec.bytes:
        return f"{size:,} bytes instead of {spec.bytes:,}"
    digests = file_digests(path)
    for kind in ("sha256", "git_blob"):
        want = getattr(spec, kind)
        if want is not None and digests[kind] != want:
            return f"{kind} {digests[kind]} instead of {want}"
    return ""


# ------------------------------------------------------------------------- fetching
class _Truncated(Exception):
    """The server has no more bytes although the file is not complete."""


def _request(url: str, offset: int, timeout: float):
    headers = {"User-Agent": "nasbench-harness"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _append(url: str, part: Path, spec: RemoteFile, timeout: float, progress: Callable[[str], None] | None) -> None:
    """One request: continue ``part`` from its current size to the end of what the server sends."""
    offset = part.stat().st_size if part.exists() else 0
    if spec.bytes is not None and offset >= spec.bytes:
        return  # complete (or too long: the check after download says so)
    try:
        resp = _request(url, offset, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing after offset
            if spec.bytes is None and exc.headers.get("Content-Range") == f"bytes */{offset}":
                return  # unsized file already complete (e.g. a run stopped before the rename)
            raise _Truncated() from None  # the server's file is shorter than the catalogue says
        raise
    with resp:
        if offset and resp.status != 206:
            offset = 0  # the server ignored Range: start over
        elif offset and not (resp.headers.get("Content-Range") or "").startswith(f"bytes {offset}-"):
            raise HTTPException(f"unexpected Content-Range {resp.headers.get('Content-Range')!r}")
        if progress:
            progress(f"{'resuming' if offset else 'fetching'} {spec.target} from {url}" + (f" at byte {offset:,}" if offset else ""))
        with open(part, "ab" if offset else "wb") as f:
            while chunk := resp.read(CHUNK):
                f.write(chunk)
                if progress and f.tell() % PROGRESS_EVERY < len(chunk):  # a long download says it is alive
                    progress(f"{spec.target}: {f.tell() / 1e6:,.0f} MB" + (f" of {spec.bytes / 1e6:,.0f} MB" if spec.bytes else ""))
        if resp.length:  # http.client returns b"" when the connection closes before Content-Length
            raise HTTPException(f"the connection closed {resp.length:,} bytes early")


def fetch(
    spec: RemoteFile,
    folder: Path,
    *,
    mirrors: tuple[str, ...] = (),
    attempts: int = 3,
    timeout: float = 30.0,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """``folder/<target>``, downloaded (or resumed) and checked; DataError saying what to do on failure.

    ``mirrors`` are base URLs tried before the catalogued ones (``<mirror>/<target>``).
    A file already present and matching its pin is not fetched again.
    """
    folder.mkdir(parents=True, exist_ok=True)
    final, part = folder / spec.target, folder / f"{spec.target}.part"
    if final.is_file() and not mismatch(final, spec):
        return final
    urls = [f"{m.rstrip('/')}/{spec.target}" for m in mirrors] + list(spec.urls)
    reason = ""
    for url in urls:
        for _ in range(attempts):
            try:
                _append(url, part, spec, timeout, progress)
            except _Truncated:
                reason = f"the server's copy ends at byte {part.stat().st_size:,}"
                part.unlink()
                break  # a short file on the server: resuming cannot help, try the next URL
            except (urllib.error.HTTPError, ValueError) as exc:
                reason = str(exc)
                break  # 404, forbidden, bad URL: the next URL may have it
            except (urllib.error.URLError, HTTPException, OSError) as exc:
                reason = str(getattr(exc, "reason", exc)) or exc.__class__.__name__
                if isinstance(exc, urllib.error.URLError) and not part.exists():
                    break  # no connection at all: do not wait for more attempts on this URL
                continue  # dropped mid-stream: resume from what arrived
            if spec.bytes is not None and part.stat().st_size < spec.bytes:
                reason = f"the transfer stopped at byte {part.stat().st_size:,} of {spec.bytes:,}"
                continue
            problem = mismatch(part, spec)
            if problem:
                part.unlink()  # wrong bytes cannot be resumed
                raise DataError(
                    f"{spec.target} downloaded from {url} has {problem}, so it is not the catalogued file; "
                    f"nothing was imported (run the command again, or check the URL in downloads.yaml)."
                )
            part.replace(final)
            return final
    kept = f" ({part.stat().st_size:,} bytes kept in {part} for resuming)" if part.exists() else ""
    raise DataError(
        f"Could not download {spec.target} from {spec.urls[0]} ({reason}){kept}; run the command again when "
        f"online, or fetch that URL yourself, put the file at {final} and run `nasbench-harness data import {folder}`."
    )


def check_format(path: Path, spec: RemoteFile) -> None:
    """DataError unless the importers recognise ``path`` as the catalogued importer's format."""
    from nasbench_harness.tasks.importers import detect

    found = detect(path)
    if found is None or found.name != spec.importer:
        raise DataError(
            f"{path} is recognised as {found.name if found else 'no known format'}, not as {spec.importer} as "
            f"downloads.yaml says; the catalogue entry or the file name is wrong, so nothing was imported."
        )
