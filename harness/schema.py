"""The result schema's version: what every reader of a store checks.

The columns and what each means are documented in ``docs/RESULTS_SCHEMA.md`` (the one
reference; bump ``SCHEMA_VERSION`` there and here together). Version 1 is every row written
before rows carried ``schema_version`` (they are read as version 1); version 2 added
``machine`` and ``schema_version`` and moved run keys to content digests.
"""

from __future__ import annotations

from nasbench_harness.errors import ResultStoreError

SCHEMA_VERSION = 2
COLUMN = "schema_version"
DOC = "docs/RESULTS_SCHEMA.md"


def check_versions(versions, where: object) -> None:
    """Refuse rows from a newer schema than this code knows, in one sentence."""
    newest = max((int(v) for v in versions if v == v and v is not None), default=1)
    if newest > SCHEMA_VERSION:
        raise ResultStoreError(
            f"The results in {where} follow result schema version {newest}, newer than this nasbench-harness "
            f"reads ({SCHEMA_VERSION}); upgrade nasbench-harness to read them."
        )
