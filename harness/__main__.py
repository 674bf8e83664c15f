from nasbench_harness.cli import main

main()
