"""Architecture encodings, computed once per (search space, task universe).

PLACEHOLDER CONTRACT (to be implemented): compute_encoding(space, kind, arch_ids)
returns a float32 (n, d) matrix, or a GraphBatch for kind == "graph".
"""

from __future__ import annotations

import numpy as np


def compute_encoding(space, kind: str, arch_ids: np.ndarray):
    if kind == "graph":
        return space.to_graph(list(arch_ids))
    raise NotImplementedError(kind)
