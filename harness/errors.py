"""User-facing errors.

Every error a user can cause (bad input, missing data, unknown names) is raised as a
``HarnessError`` whose message is one sentence: what was expected and how to fix it.
The CLI prints that sentence and exits non-zero; it never prints a traceback for them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HarnessError(Exception):
    """An error the user can fix; ``str(err)`` is the whole message shown."""

    exit_code = 2


class DataError(HarnessError):
    """Benchmark data is missing, unreadable, corrupted or changed since import."""


class MissingDataError(DataError):
    """No data is imported for a search space (not damaged data: that is a plain DataError)."""


class ConfigError(HarnessError):
    """A matrix, task definition or command-line value is invalid."""


class RegistryError(HarnessError):
    """An unknown, colliding or broken predictor/loss/search-space plugin."""


class ResultStoreError(HarnessError):
    """The results directory cannot be written or read."""


class CorruptShardWarning(UserWarning):
    """A result shard could not be read and was skipped (defined here so the CLI can
    route it without importing pandas/pyarrow at start-up)."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean X?' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""
