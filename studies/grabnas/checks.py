"""GraB-NAS's claims, each judged by paired tests over seeds on the section's rows."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _by_seed(df: pd.DataFrame, **where) -> pd.Series:
    for k, v in where.items():
        df = df[df[k] == v]
    return df.groupby("seed")["best_eval"].first()


def _paired(df: pd.DataFrame, task: str, a: str, b: str):
    """Paired comparison of two methods' final accuracy over the seeds both ran (same seed, same support set)."""
    from nasbench_harness.report.stats import paired

    sa, sb = _by_seed(df, task=task, base=a), _by_seed(df, task=task, base=b)
    common = sa.index.intersection(sb.index)
    return paired(sa[common].to_numpy(), sb[common].to_numpy())


def _evidence(task: str, a: str, b: str, p) -> str:
    verdict = p.verdict(a, b, lower_is_better=False)
    return f"{task}: {a} {p.mean_a:.2f} vs {b} {p.mean_b:.2f} ({p.describe('pp')}) → {verdict}"


def checks_html(ctx, df: pd.DataFrame) -> str:
    """The paper's claims, each judged by paired tests over seeds: "at least as good" fails only on a
    resolved loss; "beats"/"exceeds" needs a resolved win on every target (a 95% interval of the
    difference that covers zero is not resolved, never a win)."""
    out = []
    main = df[(df["prune_top"] == 0) & (df["setting"] == "metad2a")]
    if not main.empty:
        budget = int(main["budget"].max())
        main = main[main["budget"] == budget]
        tasks = sorted(main["task"].unique())
        for other in ("TNAS", "MetaD2A"):
            tests = [(t, _paired(main, t, "GraB-NAS", other)) for t in tasks]
            tests = [(t, p) for t, p in tests if p.n >= 2]
            ok = (not any(p.a_better(False) is False for _, p in tests)) if tests else None
            ev = "; ".join(_evidence(t, "GraB-NAS", other, p) for t, p in tests) or "fewer than two common seeds on every target"
            out.append(ctx.check(f"GraB-NAS finds architectures at least as good as {other} (setting metad2a, budget {budget}, every target; fails only on a resolved loss)", ok, ev))
        tests = [(t, _paired(main, t, "GraB-NAS", "GraB-NAS (KNN)")) for t in tasks]
        tests = [(t, p) for t, p in tests if p.n >= 2]
        ok = all(p.a_better(False) is True for _, p in tests) if tests else None
        ev = "; ".join(_evidence(t, "GraB-NAS", "GraB-NAS (KNN)", p) for t, p in tests) or "fewer than two common seeds on every target"
        out.append(ctx.check("The decoder beats KNN (GraB-NAS resolved better than GraB-NAS (KNN) on every target)", ok, ev))
    g = df[(df["prune_top"] > 0) & (df["base"] == "GraB-NAS")]
    if not g.empty:
        from nasbench_harness.report.stats import paired

        tests = []
        for (task, k), rows in g.groupby(["task", "prune_top"], sort=True):
            found = rows.groupby("seed")["best_eval"].first().to_numpy()
            remaining = float(rows["remaining_best_eval"].iloc[0])
            tests.append((f"{task} k={k}", remaining, paired(found, np.full(len(found), remaining))))
        tests = [x for x in tests if x[2].n >= 2]
        ok = all(p.a_better(False) is True for _, _, p in tests) if tests else None
        ev = "; ".join(f"{name}: found {p.mean_a:.2f} vs remaining best {rem:.2f} ({p.describe('pp')}) → {'exceeds' if p.a_better(False) else 'not resolved' if p.a_better(False) is None else 'below'}" for name, rem, p in tests)
        out.append(ctx.check("GraB-NAS exceeds the remaining best of every pruned space (resolved over seeds)", ok, ev or "fewer than two seeds"))
    return "".join(out)
