"""The plugin's task definitions: every *.yaml file in this folder (entry point nasbench_harness.tasks)."""
