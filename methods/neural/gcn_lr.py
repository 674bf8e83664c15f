"""The GCN's learning rate per (search space, loss), read by methods/neural/gcn.py only.

Made by methods/neural/lr_selection.py (its docstring and docs/LOSSES.md give the rule, the
full table), on 2026-12-07, with::

    python -m nasbench_harness.methods.neural.lr_selection --families nb101 nb201 tnb101-micro tnb101-macro nbgraph darts --checkpoint ck-final.json --no-fit --out lr.json --module gcn_lr.py

The runs that scored the folds, and their CPU time: CHANGELOG.md ("GCN learning rates per space").
A space or loss missing here trains at the loss's ``default_lr`` (methods/losses.py).
"""

GCN_LR: dict[str, dict[str, float]] = {
    "nb101": {"mse": 0.01, "hr": 0.03, "logistic": 0.01, "mse_sr": 0.01, "listmle": 0.003, "ew": 0.01, "mape": 0.01, "warp": 0.003},  # tuned on its own folds
    "nb201": {"mse": 0.01, "hr": 0.01, "logistic": 0.03, "mse_sr": 0.03, "listmle": 0.01, "ew": 0.003, "mape": 0.01, "warp": 0.01},  # tuned on its own folds
    "tnb101-micro": {"mse": 0.01, "hr": 0.003, "logistic": 0.01, "mse_sr": 0.01, "listmle": 0.01, "ew": 0.01, "mape": 0.01, "warp": 0.01},  # pooled choice (too few training cells to tune)
    "tnb101-macro": {"mse": 0.01, "hr": 0.003, "logistic": 0.01, "mse_sr": 0.01, "listmle": 0.01, "ew": 0.01, "mape": 0.01, "warp": 0.01},  # pooled choice (too few training cells to tune)
    "nbgraph": {"mse": 0.003, "hr": 0.003, "logistic": 0.01, "mse_sr": 0.01, "listmle": 0.03, "ew": 0.01, "mape": 0.01, "warp": 0.03},  # tuned on its own folds
    "darts": {"mse": 0.01, "hr": 0.003, "logistic": 0.01, "mse_sr": 0.01, "listmle": 0.01, "ew": 0.01, "mape": 0.01, "warp": 0.01},  # pooled choice (too few training cells to tune)
}
