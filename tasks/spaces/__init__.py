"""Search spaces: architecture representation, identity, enumeration, mutation, graphs."""

from nasbench_harness.tasks.spaces.base import GraphBatch, SearchSpace

__all__ = ["GraphBatch", "SearchSpace"]
