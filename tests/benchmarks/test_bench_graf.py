"""Speed of the GRAF features over a whole space (pytest-benchmark; run with
``python -m pytest tests/benchmarks/test_bench_graf.py --benchmark-enable``).

With benchmarks disabled (the default) each body runs once as a plain test. NB101's
423,624 cells are not benchmarked here (their enumeration alone takes about a minute);
CHANGELOG.md quotes a hand-run timing.
"""

from __future__ import annotations

from nasbench_harness.tasks.graf import feature_names, graf_features
from nasbench_harness.tasks.spaces.nb201 import NB201Space


def test_bench_graf_whole_nb201(benchmark):
    space = NB201Space()
    graphs = space.to_graph(list(space.enumerate()))
    X, names = benchmark.pedantic(graf_features, args=(graphs,), rounds=1, iterations=1)
    assert X.shape == (15625, 80) and names == feature_names(space.op_names)
    # The NB201 cell has 4 input->output paths (0-3, 0-1-3, 0-2-3, 0-1-2-3), of 1 to 3 ops:
    # all of them cross only conv3x3 in the all-conv3x3 cell.
    assert X[:, names.index("npaths[nor_conv_3x3]")].max() == 4
    assert X[:, names.index("maxlen[nor_conv_3x3]")].max() == 3
