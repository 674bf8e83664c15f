"""The transferable-surrogates study (within-task, cross-task, surrogate search, LM): paper-surrogates."""

from nasbench_harness.studies import Study, StudySection


class SurrogateStudy(Study):
    """Transferable surrogates: within-task, cross-task, surrogate search, LM (paper-surrogates)."""

    name = "surrogates"
    title = "Transferable surrogates"
    matrices = ("paper-surrogates.yaml",)
    published = {"surrogates": "published.yaml"}
    checks = (f"{__name__}.checks",)
    sections = (StudySection("surrogates", "Surrogates", 70, f"{__name__}.section", "paper-surrogates"),)
