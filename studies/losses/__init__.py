"""The loss-function study (Ji et al., "Loss Functions for Predictor-based NAS"): the loss
comparison (paper-losses) and the paper's search experiments with PWLNAS (paper-search)."""

from nasbench_harness.studies import Study, StudySection


class LossStudy(Study):
    """The loss-function paper: the loss comparison (paper-losses) and its PWLNAS searches (paper-search)."""

    name = "losses"
    title = "Loss functions for predictor-based NAS"
    matrices = ("paper-losses.yaml", "paper-search.yaml")
    published = {"losses": "published.yaml", "search": "published-search.yaml"}
    checks = (f"{__name__}.checks", f"{__name__}.search_checks")
    sections = (
        StudySection("losses", "Loss functions", 40, f"{__name__}.section", "paper-losses"),
        StudySection("search", "Search", 60, f"{__name__}.search_section", "paper-search"),
    )
