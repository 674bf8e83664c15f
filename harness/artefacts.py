"""Keyed, atomically written artefacts: the one scheme of every on-disk cache.

GraB-NAS's meta-trained models, LM's pre-trained weights, zero-cost proxy chunks and the
plan cache each store files named by ``key(parts)``: a digest of everything the file is
computed from. Code enters as ``code_digest(paths)`` (token digests: comments and
docstrings do not count, as in run keys), table data as content digests
(``DataCache.content_digest``). ``write_atomic`` puts a file in place whole or not at all,
so a killed writer never leaves a half file under a valid key.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

KEY_CHARS = 20


def key(parts) -> str:
    """The key of an artefact computed from ``parts`` (JSON data: settings, seeds, digests)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:KEY_CHARS]


def code_digest(paths: Iterable[Path]) -> str:
    """Token digest (``closure.source_digest``) over Python files, by name: what code an artefact comes from."""
    from nasbench_harness.closure import source_digest

    h = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        h.update(f"{path.name}\0{source_digest(path.read_bytes())}\0".encode())
    return h.hexdigest()[:16]


def write_atomic(target: Path, write: Callable[[Path], None]) -> Path:
    """``write(tmp)`` into a temporary file beside ``target``, synced, then renamed onto it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_bytes(target: Path, data: bytes) -> Path:
    return write_atomic(target, lambda tmp: tmp.write_bytes(data))
