"""Verdicts on the papers' claims: five levels, each with the evidence behind it.

Every claim check of every study returns a ``Verdict`` built by ``judge`` from ``Part``s
(``compare`` or ``equivalent``) and the cells it lacks (``Missing``). The levels:

- ``reproduced``: every deciding part's mean is in the paper's direction AND resolved by the
  paired test, Holm-corrected across the claim's parts;
- ``direction_agrees``: in the direction, not resolved;
- ``direction_disagrees``: not in the direction (a tie is not the paper's direction), not resolved;
- ``contradicted``: resolved against the paper;
- ``insufficient_evidence``: cells the claim is about are missing (``missing`` names them and
  the command that adds them).

A claim over several parts ("on all search spaces") takes its weakest part, in the order
contradicted < direction_disagrees < insufficient_evidence < direction_agrees < reproduced: a
resolved counter-example decides an "all" claim even while other cells are missing, and a claim
with missing cells is never better than insufficient.

The test is the paired t-test on the per-block differences, a block being one (task, budget,
seed): it gives the effect's 95 % interval from the same test that decides (the report's paired
tables use it too), and unlike the Wilcoxon signed-rank test it can resolve a difference at the
5 seeds some studies run (Wilcoxon's smallest two-sided p over 5 pairs is 0.0625). A claim of
closeness uses an equivalence margin fixed in advance, tested by TOST (two one-sided t-tests).

Open settings (a value the paper leaves open, e.g. the learning rate): ``with_setting`` adds to a
verdict the claim judged at each other value of the setting, each with its own Holm correction. The
deciding value alone sets the level; ``depends_on`` names the settings whose values' verdicts differ,
the note gives each value's outcome, and a value without rows is listed in ``missing`` under the
setting's name (``Missing.setting``): it leaves the dependency unjudged, never the verdict, except for
a *blocking* setting (``Setting.blocking``: the setting is part of the claim's question, as the reading
of y is for ``gt_weighting``, which asks which reading reproduces the paper), whose missing cells make
the verdict insufficient like the deciding ones.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05
LEVELS = ("reproduced", "direction_agrees", "direction_disagrees", "contradicted", "insufficient_evidence")
_STRENGTH = {"contradicted": 0, "direction_disagrees": 1, "insufficient_evidence": 2, "direction_agrees": 3, "reproduced": 4}
STATISTIC = ("paired t-test on the per-(task, budget, seed) differences, two-sided, Holm-corrected across the "
             "claim's parts at alpha 0.05; a closeness claim uses TOST against its margin")
CLI = "nasbench-harness"


def weakest(levels) -> str:
    """The weakest of ``levels`` (an "on all X" claim); insufficient_evidence when there are none."""
    levels = list(levels)
    return min(levels, key=_STRENGTH.__getitem__) if levels else "insufficient_evidence"


def holm(pvalues) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given); NaN stays NaN."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, math.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m, running = len(order), 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return out.tolist()


@dataclass
class Missing:
    """Cells a claim needs and has no rows for, with the command that runs them. ``setting``: the open
    setting whose sensitivity runs they are ("" = cells the verdict rests on: they make it insufficient;
    a setting's cells only leave its dependency unjudged)."""

    what: str
    command: str
    setting: str = ""

    def as_dict(self) -> dict:
        return {"what": self.what, "command": self.command, "setting": self.setting or None}


def run_command(matrix: str, **filters) -> str:
    """``nasbench-harness run --matrix M --filter field=a,b ...`` for the cells a claim lacks."""
    parts = [f"{CLI} run --matrix {matrix}"]
    for fld, values in filters.items():
        values = values if isinstance(values, list | tuple) else [values]
        parts.append(f"--filter {fld}={','.join(f'{v:g}' if isinstance(v, float) else str(v) for v in values)}")
    return " ".join(parts)


@dataclass
class Part:
    """One paired comparison of a claim: ``a`` against ``b`` over common blocks, oriented so that a
    positive ``diff`` is the paper's direction (``a`` better than ``b`` by more than ``margin``, or,
    for ``kind="equivalent"``, ``a`` within ``margin`` of ``b``)."""

    label: str
    task: str
    budget: float | None
    n: int
    mean_a: float
    mean_b: float
    diff: float  # mean of the oriented difference a - b (sign flipped when lower is better)
    low: float
    high: float
    p: float  # the test of the mean's side: two-sided t, or TOST / outside-margin for closeness
    kind: str = "better"
    margin: float = 0.0
    seeds: tuple = ()
    deciding: bool = True  # False: shown "beyond the paper", never changes the verdict
    p_holm: float = math.nan
    level: str = "insufficient_evidence"

    @property
    def in_direction(self) -> bool:
        if self.kind == "equivalent":
            return abs(self.diff) < self.margin
        return self.diff > self.margin  # a tie is not the paper's direction

    def as_dict(self) -> dict:
        return {"part": self.label, "task": self.task, "budget": self.budget, "n": self.n, "mean_a": _num(self.mean_a),
                "mean_b": _num(self.mean_b), "effect": _num(self.diff), "low": _num(self.low), "high": _num(self.high),
                "margin": self.margin, "kind": self.kind, "p": _num(self.p), "p_holm": _num(self.p_holm),
                "verdict": self.level, "beyond_paper": not self.deciding}


def _num(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _paired(a: pd.Series, b: pd.Series, higher_is_better: bool) -> tuple[np.ndarray, float, float, tuple]:
    """Oriented differences over the blocks (index entries) both sides have, with both means."""
    both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").astype(float).dropna()
    d = (both["a"] - both["b"]).to_numpy()
    d = np.where(np.abs(d) < 1e-12, 0.0, d)  # rounding noise of equal values is a tie
    seeds = tuple(sorted({k[-1] if isinstance(k, tuple) else k for k in both.index}))
    return (d if higher_is_better else -d), float(both["a"].mean()), float(both["b"].mean()), seeds


def _constant(x: np.ndarray) -> bool:
    """No spread beyond rounding (the t statistic would be noise or undefined)."""
    return bool(np.ptp(x) <= 1e-12 * max(1.0, float(np.abs(x).max())))


def _t_p(d: np.ndarray, shift: float, alternative: str) -> float:
    """p of the one-sample t-test of ``d - shift`` (a constant difference decides by its sign)."""
    x = d - shift
    if _constant(x):
        c = float(x.mean()) if abs(x.mean()) > 1e-12 else 0.0
        if alternative == "two-sided":
            return 1.0 if c == 0 else 0.0
        return 0.0 if c != 0 and (c > 0) == (alternative == "greater") else 1.0
    return float(stats.ttest_1samp(x, 0.0, alternative=alternative).pvalue)


def _mean(d: np.ndarray) -> float:
    """The mean difference; rounding noise around zero is a tie (exactly 0)."""
    m = float(d.mean())
    return 0.0 if abs(m) <= 1e-12 * max(1.0, float(np.abs(d).max())) else m


def _interval(d: np.ndarray) -> tuple[float, float]:
    m = _mean(d)
    if _constant(d):
        return m, m
    lo, hi = stats.t.interval(0.95, d.size - 1, loc=m, scale=stats.sem(d))
    return float(lo), float(hi)


def compare(a: pd.Series, b: pd.Series, *, label: str, task: str, budget=None, higher_is_better: bool,
            margin: float = 0.0, deciding: bool = True) -> Part | None:
    """``a`` better than ``b`` (by more than ``margin``, in the metric's units), paired over the
    blocks (the Series' index: seed, or (task, budget, seed)) both have; None below two blocks."""
    d, ma, mb, seeds = _paired(a, b, higher_is_better)
    if d.size < 2:
        return None
    low, high = _interval(d)
    return Part(label, task, budget, int(d.size), ma, mb, _mean(d), low, high, _t_p(d, margin, "two-sided"),
                margin=margin, seeds=seeds, deciding=deciding)


def equivalent(a: pd.Series, b: pd.Series, *, label: str, task: str, budget=None, margin: float,
               deciding: bool = True) -> Part | None:
    """``a`` within ``margin`` of ``b`` (TOST): resolved equivalent when both one-sided tests reject;
    resolved apart when the interval lies outside the margin on the mean's side."""
    d, ma, mb, seeds = _paired(a, b, True)
    if d.size < 2:
        return None
    low, high = _interval(d)
    m = _mean(d)
    if abs(m) < margin:
        p = max(_t_p(d, -margin, "greater"), _t_p(d, margin, "less"))
    else:
        p = _t_p(d, margin, "greater") if m > 0 else _t_p(d, -margin, "less")
    return Part(label, task, budget, int(d.size), ma, mb, m, low, high, p, kind="equivalent", margin=margin,
                seeds=seeds, deciding=deciding)


def _level(part: Part) -> str:
    resolved = math.isfinite(part.p_holm) and part.p_holm < ALPHA
    if part.in_direction:
        return "reproduced" if resolved else "direction_agrees"
    return "contradicted" if resolved else "direction_disagrees"


@dataclass
class Verdict:
    """A claim's verdict and its evidence; ``as_dict`` is its claims.json object."""

    study: str
    claim: str
    sentence: str
    rule: str
    parts: list[Part] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    portions: list[float] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    statistic: str = STATISTIC
    note: str = ""  # anything else the panel should say (a reading the rule made, a part left out)

    @property
    def deciding(self) -> list[Part]:
        return [p for p in self.parts if p.deciding]

    @property
    def lacking(self) -> list[Missing]:
        """The missing cells the verdict rests on (not an open setting's sensitivity runs)."""
        return [m for m in self.missing if not m.setting]

    @property
    def verdict(self) -> str:
        levels = [p.level for p in self.deciding]
        if self.lacking or not levels:
            levels.append("insufficient_evidence")
        return weakest(levels)

    @property
    def seeds(self) -> list:
        return sorted({s for p in self.deciding for s in p.seeds})

    @property
    def effect(self) -> dict | None:
        """The deciding part the verdict comes from (its weakest), with its 95 % interval."""
        parts = self.deciding
        if not parts:
            return None
        p = min(parts, key=lambda q: (_STRENGTH[q.level], q.diff - q.margin if q.kind == "better" else -abs(q.diff)))
        return {"part": p.label, "estimate": _num(p.diff), "low": _num(p.low), "high": _num(p.high), "level": 0.95,
                "margin": p.margin, "kind": p.kind}

    def as_dict(self) -> dict:
        return {"study": self.study, "claim": self.claim, "sentence": self.sentence, "verdict": self.verdict,
                "rule": self.rule, "effect": self.effect, "tasks": self.tasks, "seeds": self.seeds,
                "per_task": [p.as_dict() for p in self.parts], "missing": [m.as_dict() for m in self.missing],
                "statistic": self.statistic, "depends_on": list(self.depends_on), "note": self.note or None}


def judge(study: str, claim: str, sentence: str, rule: str, parts, missing=(), **extra) -> Verdict:
    """The claim's verdict from its parts (None entries, comparisons with under two blocks, are
    dropped by the caller as missing); Holm runs over the deciding parts, and separately over
    the parts shown beyond the paper."""
    parts = [p for p in parts if p is not None]
    for group in ([p for p in parts if p.deciding], [p for p in parts if not p.deciding]):
        for p, adj in zip(group, holm([q.p for q in group])):
            p.p_holm = adj
            p.level = _level(p)
    tasks = extra.pop("tasks", None) or list(dict.fromkeys(p.task for p in parts if p.deciding))
    portions = extra.pop("portions", None) or sorted({p.budget for p in parts if p.deciding and p.budget is not None})
    return Verdict(study, claim, sentence, rule, parts, list(missing), tasks, portions, **extra)


@dataclass(frozen=True)
class Setting:
    """An open setting a claim is judged under each value of (issue 20): ``name`` is what ``depends_on``
    lists, ``decides`` the value the verdict rests on; ``about`` opens the note, ``noun`` and ``phrase``
    word it ("No rate reproduces ...", "reproduced at lr: ..."). ``blocking``: the setting is part of the
    claim's question, so its missing cells make the verdict insufficient like the deciding ones."""

    name: str
    decides: str
    about: str
    noun: str
    phrase: str
    blocking: bool = False


def with_setting(main: Verdict, setting: Setting, others: dict[str, Verdict], finding: str = "the paper's claim") -> Verdict:
    """``main`` (the claim judged at ``setting.decides``) with the claim judged at each other value of
    the setting (``others``, value -> Verdict, each with its own Holm correction). Their parts are shown
    and never decide; their missing cells are listed under the setting's name; ``depends_on`` gains the
    setting when the verdicts of the values judged differ (a value lacking cells is not judged); the
    note gives each value's outcome. Chained calls add one setting each."""
    outcomes = {setting.decides: main, **others}
    judged = {value: v.verdict for value, v in outcomes.items() if not v.lacking}
    unjudged = [value for value in outcomes if value not in judged]
    winners = [value for value, level in judged.items() if level == "reproduced"]
    if winners:
        which = f"{finding[0].upper()}{finding[1:]} is reproduced {setting.phrase}: {', '.join(winners)}."
    else:
        which = f"No {setting.noun}{' judged so far' if unjudged else ''} reproduces {finding}."
    if unjudged:
        which += f" Without rows (see Missing): {', '.join(unjudged)}."
    each = "; ".join(f"{value}: {v.verdict.replace('_', ' ')}" for value, v in outcomes.items())
    tag = "" if setting.blocking else setting.name
    # A part or missing cell that every value shares (rows the setting does not touch) is listed once.
    seen_parts, seen_missing = {p.label for p in main.parts}, {m.what for m in main.missing}
    parts, missing = list(main.parts), list(main.missing)
    for v in others.values():
        parts += [dataclasses.replace(p, deciding=False) for p in v.parts if p.label not in seen_parts]
        missing += [dataclasses.replace(m, setting=m.setting or tag) for m in v.missing if m.what not in seen_missing]
        seen_parts.update(p.label for p in v.parts)
        seen_missing.update(m.what for m in v.missing)
    depends = [*main.depends_on, *([setting.name] if len(set(judged.values())) > 1 else [])]
    return dataclasses.replace(
        main, parts=parts, missing=missing, depends_on=list(dict.fromkeys(depends)),
        note=" ".join(filter(None, [main.note, f"{setting.about}: {each}. {which}"])))


def _seed_text(seeds) -> str:
    if not seeds:
        return "no seeds"
    ints = [int(s) for s in seeds]
    contiguous = ints == list(range(ints[0], ints[0] + len(ints)))
    return f"seeds {ints[0]}-{ints[-1]} ({len(ints)})" if contiguous and len(ints) > 2 else "seeds " + ", ".join(map(str, ints))


def _part_text(p: Part) -> str:
    tag = " [beyond the paper: does not change the verdict]" if not p.deciding else ""
    want = f"within ±{p.margin:g}" if p.kind == "equivalent" else (f"> {p.margin:g}" if p.margin else "> 0")
    return (f"{p.label}: {p.mean_a:.4g} vs {p.mean_b:.4g}, effect {p.diff:+.4g} (95% CI [{p.low:+.4g}, {p.high:+.4g}], "
            f"wanted {want}), n={p.n}, p={p.p:.2g}, Holm p={p.p_holm:.2g} → {p.level.replace('_', ' ')}{tag}")


def panel_parts(v: Verdict, format_budget=str) -> list[str]:
    """The lines of a claim panel: rule, what was read, effect, each part, what is missing."""
    lines = [f"Rule (fixed in advance): {v.rule}"]
    portions = ", ".join(format_budget(b) for b in v.portions)
    lines.append(f"Read: {', '.join(v.tasks) or 'no task'}" + (f" at {portions}" if portions else "") + f"; {_seed_text(v.seeds)}.")
    if v.effect:
        e = v.effect
        lines.append(f"Effect (the deciding part, {e['part']}): {e['estimate']:+.4g}, 95% CI [{e['low']:+.4g}, {e['high']:+.4g}].")
    lines += [_part_text(p) for p in v.parts]
    lines += [f"Missing{f' ({m.setting} sensitivity, does not change the verdict)' if m.setting else ''}: {m.what} — add with "
              f"`{m.command}`" for m in v.missing]
    if v.note:
        lines.append(v.note)
    lines.append(f"Test: {v.statistic}.")
    return lines
