"""Built-in matrices: every *.yaml file here (registered under nasbench_harness.matrices)."""
