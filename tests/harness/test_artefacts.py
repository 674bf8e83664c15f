"""Keyed, atomically written artefacts (harness/artefacts.py): the one scheme of the on-disk caches."""

from __future__ import annotations

import pytest
from nasbench_harness import artefacts


def test_code_digest_ignores_comments_and_docstrings_but_not_code(tmp_path):
    f = tmp_path / "model.py"
    f.write_text('"""A model."""\n\nWIDTH = 8  # hidden units\n')
    before = artefacts.code_digest([f])
    f.write_text('"""A model, documented again."""\n\n# a new comment\nWIDTH = 8\n')
    assert artefacts.code_digest([f]) == before
    f.write_text('"""A model."""\n\nWIDTH = 16\n')
    assert artefacts.code_digest([f]) != before


def test_a_failed_write_leaves_the_previous_artefact_and_no_temporary_file(tmp_path):
    target = tmp_path / "models" / "gp-1.pt"
    artefacts.write_bytes(target, b"first")

    def broken(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        artefacts.write_atomic(target, broken)
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["gp-1.pt"]


def test_proxy_chunks_keep_the_keys_of_the_chunks_already_computed():
    from nasbench_harness.tasks.proxies.job import Chunk

    # recorded before the artefacts helper: computed chunk files must still be found
    assert Chunk("synflow", "", ("synflow",), ("a", "b")).digest == "93d9f0ba3c0e3fbd1194"
