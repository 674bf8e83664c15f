"""``python -m nasbench_harness``: the same CLI as the ``nasbench-harness`` script."""

from nasbench_harness.cli import main

if __name__ == "__main__":  # guarded: Dask/loky workers started by spawn re-import this module
    main()
