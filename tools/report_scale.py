"""Time the report at the size of the finished reference store, before it is finished.

    python tools/report_scale.py OUT [--reference results/reference] [--matrix NAME ...]

Writes to OUT/store a plain store shaped like the reference store once every named matrix
(default: the study matrices and `full`) is run: the stored rows, plus one row per cell not
stored yet, cloned from a random stored row of the same protocol (search rows from the
longest-budget search rows, their curves stretched to the cell's budget) with every metric
scaled by a random factor of 1 ± 5 %. These rows are for timing `report` only and are never
results: they exist in OUT alone. Then it builds the report of that store into OUT/report
twice and prints the rows, boards, wall and CPU seconds of each build. Needs the data the
matrices read imported (their run keys hash it).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

MATRICES = ["paper-search", "paper-losses", "paper-convnp", "paper-surrogates", "paper-grabnas", "full"]


def synthetic_rows(reference: Path, matrices: list[str], seed: int = 0) -> pd.DataFrame:
    from nasbench_harness.matrix import load_matrix
    from nasbench_harness.report import aggregate as A
    from nasbench_harness.runner import plan
    from nasbench_harness.store import ResultStore

    real, _ = A.load_results(reference, None)
    rng = np.random.default_rng(seed)
    have, out = set(real["key"]), [real]
    metrics = [c for c in real.columns if real[c].dtype.kind == "f" and c not in ("budget", "seed", "n_train", "n_eval")]
    for name in matrices:
        p = plan(load_matrix(name), ResultStore(reference), verify_data=False, skip_missing_data=True)
        rows = []
        for cell, key in zip(p.cells, p.keys, strict=True):
            if key in have:
                continue
            have.add(key)
            pool = real[real["protocol"] == cell.protocol]
            if pool.empty:
                continue
            if cell.protocol == "search":
                pool = pool[pool["budget"] == pool["budget"].max()]
            rows.append(_clone(pool.iloc[rng.integers(len(pool))].to_dict(), cell, key, name, metrics, rng))
        print(f"{name}: {len(rows):,} cells cloned", file=sys.stderr)
        if rows:
            out.append(pd.DataFrame(rows))
    return pd.concat(out, ignore_index=True)


def _clone(row: dict, cell, key: str, matrix: str, metrics: list[str], rng) -> dict:
    d = cell.as_dict()
    row.update(key=key, matrix=matrix, task=d["task"], space=d["task"].split("/")[0], dataset=d["task"].split("/")[1],
               predictor=d["predictor"], encoding=d["encoding"], loss=d["loss"], method=cell.method, seed=d["seed"],
               protocol_params=json.dumps(d["protocol_params"], sort_keys=True),
               params=json.dumps({"predictor": d["params"], "loss": d["loss_params"]}), status="ok", error="")
    if not isinstance(cell.budget, str):
        row["budget"] = float(cell.budget)
    if "strategy" in row:
        row["strategy"] = d["protocol_params"].get("strategy", row["strategy"])
    if cell.protocol == "search":
        n = int(float(cell.budget))
        for col in ("curve_eval", "curve_train"):
            v = np.asarray(row[col], dtype=float)
            row[col] = np.interp(np.linspace(0, len(v) - 1, n), np.arange(len(v)), v)
        row["trace_ids"] = np.array([f"a{i}" for i in range(n)])
    for col in metrics:
        if isinstance(row.get(col), float) and np.isfinite(row[col]):
            row[col] *= 1 + 0.05 * rng.normal()
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--reference", type=Path, default=Path("results/reference"))
    ap.add_argument("--matrix", action="append", help="matrices whose cells the store holds (repeatable)")
    args = ap.parse_args()
    store = args.out / "store"
    (store / "shards").mkdir(parents=True, exist_ok=True)
    for old in (store / "shards").glob("*.parquet"):
        old.unlink()
    rows = synthetic_rows(args.reference, args.matrix or MATRICES)
    rows.to_parquet(store / "shards" / "part-synthetic.parquet")
    for build in (1, 2):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nasbench_harness", "report", "--results", str(store), "--out", str(args.out / "report")],
                       check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        boards = len(list((args.out / "report" / "boards").glob("*.html")))
        print(f"build {build}: {len(rows):,} rows, {boards} boards, {wall:.1f} s wall, {cpu:.1f} CPU s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
