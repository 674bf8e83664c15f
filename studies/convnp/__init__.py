"""The ConvNP study (predictor-guided selection with a convolutional neural process): paper-convnp."""

from nasbench_harness.studies import Study, StudySection


class ConvNPStudy(Study):
    """ConvNP against meta-feature regressors, graph predictors, RS and RE (paper-convnp)."""

    name = "convnp"
    title = "ConvNP"
    matrices = ("paper-convnp.yaml",)
    published = {"convnp": "published.yaml"}
    checks = (f"{__name__}.checks",)
    sections = (StudySection("convnp", "ConvNP", 50, f"{__name__}.section", "paper-convnp"),)
