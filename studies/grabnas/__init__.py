"""The GraB-NAS study (transferable search on NB201 with its baselines TNAS and MetaD2A): paper-grabnas."""

from nasbench_harness.studies import Study, StudySection


class GraBNASStudy(Study):
    """GraB-NAS against TNAS-like and MetaD2A-like baselines on NB201 (paper-grabnas)."""

    name = "grabnas"
    title = "GraB-NAS"
    matrices = ("paper-grabnas.yaml",)
    published = {"grabnas": "published.yaml"}
    checks = (f"{__name__}.checks",)
    sections = (StudySection("grabnas", "GraB-NAS", 60, f"{__name__}.section", "paper-grabnas"),)
