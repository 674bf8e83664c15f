"""Protocols: what one run (cell) does. Each is a ``base.Protocol`` subclass registered under
the entry-point group ``nasbench_harness.protocols`` (built-ins in pyproject.toml, like any plugin).
"""

from __future__ import annotations

from nasbench_harness.protocols.base import Protocol, get_protocol

__all__ = ["Protocol", "get_protocol"]
