"""Agreement of the in-project proxies with the published Suite-Zero ones (docs/PROXIES.md).

``python -m nasbench_harness.tasks.proxies.compare [--data-dir DIR] [--dataset cifar10]``
prints, per proxy, on the cells that have both scores: the Spearman rank correlation of
ours with the published values, and of each with the dataset's validation accuracy.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

VAL_ACC = {"cifar10": "cifar10-valid.val_acc", "cifar100": "cifar100.val_acc", "ImageNet16-120": "ImageNet16-120.val_acc"}


def agreement(table: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """One row per proxy computed here (computed or synthetic) that has a published counterpart."""
    from scipy.stats import spearmanr

    rows = []
    for origin in ("computed", "synthetic"):
        prefix = f"{dataset}.zc.{origin}."
        for col in sorted(c for c in table.columns if c.startswith(prefix)):
            proxy = col[len(prefix) :]
            published = f"{dataset}.zc.{proxy}"
            if published not in table.columns:
                continue
            both = table[[col, published, VAL_ACC[dataset]]].dropna()
            if len(both) < 3:
                continue
            ours, theirs, acc = (both[c].to_numpy(np.float64) for c in (col, published, VAL_ACC[dataset]))
            rows.append({
                "proxy": proxy,
                "origin": origin,
                "cells": len(both),
                "rho(ours, published)": spearmanr(ours, theirs)[0],
                "rho(ours, val_acc)": spearmanr(ours, acc)[0],
                "rho(published, val_acc)": spearmanr(theirs, acc)[0],
            })  # fmt: skip
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    from nasbench_harness.tasks.cache import DataCache

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="cache folder (default: $NASBENCH_HARNESS_DATA or the user cache)")
    parser.add_argument("--dataset", default="cifar10", choices=sorted(VAL_ACC))
    args = parser.parse_args(argv)
    table = DataCache(args.data_dir).read_table("nb201")
    result = agreement(table, args.dataset)
    if result.empty:
        print(f"No proxy computed here has a published counterpart on {args.dataset} in this cache.")
        return
    print(result.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
