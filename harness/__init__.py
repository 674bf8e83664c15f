"""nasbench-harness: a benchmark harness and leaderboard for NAS performance predictors.

The installed namespace is ``nasbench_harness``; the repository keeps the core in
``harness/``, built-in methods in ``methods/`` and search spaces/tasks in ``tasks/``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nasbench-harness")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
