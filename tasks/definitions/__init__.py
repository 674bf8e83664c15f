"""Built-in task definitions: every *.yaml file here (registered under nasbench_harness.tasks)."""
