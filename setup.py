"""Map the repository's top-level folders onto the single ``nasbench_harness`` namespace.

harness/ -> nasbench_harness, methods/ -> nasbench_harness.methods,
tasks/ -> nasbench_harness.tasks, studies/ -> nasbench_harness.studies. Everything else is declared in pyproject.toml.
"""

from setuptools import find_packages, setup

ROOTS = {"nasbench_harness": "harness", "nasbench_harness.methods": "methods", "nasbench_harness.tasks": "tasks",
         "nasbench_harness.studies": "studies"}

packages = []
for name, folder in ROOTS.items():
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(folder)]

setup(
    packages=packages,
    package_dir=ROOTS,
    package_data={name: ["**/*.yaml", "**/*.j2", "**/*.css", "**/*.js", "**/*.json"] for name in ROOTS},
)
