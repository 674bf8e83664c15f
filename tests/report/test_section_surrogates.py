"""The "Surrogates" report section on synthetic rows that follow the contract (SURROGATES_SCHEMA):
within-task curves, cross-task heat maps and few-shot curves, search curves and tables, and each
claim check reproduced, not reproduced and not applicable."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pandas as pd
import pytest
from nasbench_harness.report import build_report
from nasbench_harness.report.context import ReportContext
from nasbench_harness.studies import matrices, own_rows, studies
from nasbench_harness.studies.surrogates import section as surrogates
from report_rows import _cell, make_rows, write_store

SEEDS = range(5)
SIZES = (20, 50, 100, 200)
N_EVAL = {"nb201/cifar10": 15625, "nb201/svhn": 199}
REGRESSOR = "random_forest"
CHECKS = ["within", "across", "lm", "filter", "objective"]


def _noise(*key, scale=0.01) -> float:
    return scale * np.random.default_rng(zlib.crc32(repr(key).encode())).normal()


def _shared(seed: int) -> float:
    """A per-seed offset every method shares (same training sample / initial sample): pairs resolve."""
    return 0.03 * np.sin(1.7 * seed + 0.3)


def _base(task, label, predictor, encoding, budget, seed, matrix="paper-surrogates") -> dict:
    row = _cell(task, label, budget, seed, "ok", "")
    row["key"] = f"{row['key'][:40]}{zlib.crc32(repr((label, predictor, encoding, matrix)).encode()):08x}"
    row.update(matrix=matrix, predictor=predictor, encoding=encoding, loss="", method=label,
               eval_is_test=task != "nb201/svhn", finished_at="2026-11-30T10:00:00")
    return row


def _metrics(tau: float, n_eval: int) -> dict:
    return {"kendall_tau": tau, "spearman": min(1.0, 1.3 * tau), "precision@0.1": tau / 2, "precision@1": tau / 1.5,
            "precision@5": tau / 1.2, "precision@10": tau, "n_eval": n_eval, "fit_seconds": 0.5, "predict_seconds": 0.1}


def within(taus: dict | None = None, lm_path: str | None = None, lm_tau: float = 0.3) -> list[dict]:
    """``predict`` rows: tau = family level + growth with size + shared seed offset + own noise."""
    taus = taus or {"graf+zc": 0.6, "graf": 0.5, "zc": 0.4, "onehot": 0.3}
    params = json.dumps({"loss": {}, "predictor": {"model_path": lm_path} if lm_path else {}}, sort_keys=True)
    out = []
    for task, n_eval in N_EVAL.items():
        for b in SIZES:
            for s in SEEDS:
                grow = 0.05 * np.log2(b / 20)
                fams = [(f"RF {e}", REGRESSOR, e, t) for e, t in taus.items()] + [("LM", "lm", "", lm_tau)]
                for label, predictor, encoding, tau in fams:
                    row = _base(task, label, predictor, encoding, b, s) | _metrics(tau + grow + _shared(s) + _noise(task, label, b, s), n_eval)
                    row.update(params=params if predictor == "lm" else "{}", n_train=b)
                    out.append(row)
    return out


def transfer(surrogate_gap: float = 0.05, shots=(0, 10, 50), families=(("graf+zc", REGRESSOR), ("onehot", REGRESSOR)),
             noise: bool = True) -> list[dict]:
    """``transfer`` rows: every ordered pair of NB201 datasets plus svhn as a target; the surrogate's tau is
    the baseline's plus ``surrogate_gap`` (plus a shared seed offset and noise)."""
    pairs = [(s, t) for s in ("nb201/cifar10", "nb201/cifar100") for t in ("nb201/cifar10", "nb201/cifar100", "nb201/svhn") if s != t]
    out = []
    for source, target in pairs:
        base_tau = 0.7 if target != "nb201/svhn" else 0.4
        for k in shots:
            for s in SEEDS:
                pp = {"mode": "predict", "source": source, "source_budget": "all"}
                rows = [("source accuracy", "none", "", base_tau + 0.001 * k, True)]
                rows += [(f"RF {e}", p, e, base_tau + surrogate_gap + 0.002 * k + noise * (_shared(s) + _noise(source, target, e, k, s)), False)
                         for e, p in families]
                for label, predictor, encoding, tau, baseline in rows:
                    row = _base(target, label, predictor, encoding, k, s) | _metrics(tau, N_EVAL.get(target, 15625) - k)
                    row.update(protocol="transfer", protocol_params=json.dumps(pp, sort_keys=True), mode="predict", source_task=source,
                               source_n=15625, target_shots=k, baseline=baseline, n_train=15625 + k)
                    row["key"] += f"{zlib.crc32(source.encode()):08x}"
                    out.append(row)
    return out


def _curve(gb: float, end: float, tau: float, length: int) -> np.ndarray:
    """Best-so-far eval values rising towards ``end``, reaching it (a step) once within 0.05 of it."""
    c = end - (gb - 5 - end) * -np.exp(-np.arange(length) / tau)
    return np.where(c > end - 0.05, end, c)


def search(filter_gap=0.2, filter_tau=8.0, objective_gap=0.8, objective_k=10, tasks=("nb201/cifar10", "nb201/svhn")) -> list[dict]:
    """Search rows: RE ends 0.5 below the global best with time constant 20; the filter and the objective as asked."""
    gbs = {"nb201/cifar10": 94.37, "nb201/svhn": 96.0}
    runs = [("RE", "evolution", 0.5, 20.0, 100), ("RE + surrogate filter", "surrogate_filter", filter_gap, filter_tau, 100),
            ("surrogate objective", "surrogate_objective", objective_gap, 0.5, objective_k)]
    out = []
    for task in tasks:
        gb = gbs[task]
        for label, strategy, gap, tau, n in runs:
            for s in SEEDS:
                end = min(gb, gb - gap + 3 * _shared(s) + _noise(task, label, s, scale=0.02))
                curve = _curve(gb, end, tau, n)
                row = _base(task, label, "none", "", 100, s)
                row.update(protocol="search", protocol_params=json.dumps({"strategy": strategy}), strategy=strategy,
                           higher_is_better=True, n_queries=n, n_redraws=0, best_arch=f"a{s}", best_train=end, best_eval=end,
                           global_best_eval=gb, global_best_train=gb, regret=gb - end, queries_to_optimum=n + 1,
                           found_optimum=False, curve_eval=list(curve), curve_train=list(curve), n_train=n, n_eval=0)
                out.append(row)
    return out


def frame(*parts) -> pd.DataFrame:
    return pd.DataFrame([r for p in parts for r in p])


class ChecksContext(ReportContext):
    """Every figure is built but not encoded (a placeholder): the claim tests read tables and checks."""

    def figure(self, fig, caption=None, fmt="svg", *, tight=True) -> str:
        return f"<figure>{self.escape(caption or '')}</figure>"


def render(df: pd.DataFrame, context=ChecksContext) -> tuple[str | None, dict]:
    ctx = context(df)
    html = surrogates.render(df, ctx)
    return html, dict(zip(CHECKS, (c["state"] for c in ctx.checks), strict=True)) if ctx.checks else {}


@pytest.fixture(scope="module")
def full():
    df = frame(within(lm_path="/models/tiny-bert", lm_tau=0.5), transfer(), search())
    return render(df, ReportContext)


def test_section_renders_every_block(full):
    html, _ = full
    for text in ("Within-task prediction", "Cross-task prediction", "Zero-shot: source x target", "Few-shot",
                 "Search with transferred surrogates", "The abstract's claims, checked", "Cost"):
        assert text in html, text
    # within: one panel per task; cross: a heat map per (space, surrogate) and few-shot per target; search: per target;
    # and the within-task methods' critical-difference diagram
    assert html.count("data:image/svg") == 2 + 2 + 3 + 2 + 1
    assert "Within-task methods ranked by Kendall τ" in html
    for label in ("nb201 · GRAF+ZC", "nb201 · one-hot", "GRAF+ZC", "one-hot", "Precision@0.1%", "Precision@5%"):
        assert label in html, label
    for csv in ("surrogates-within-paired.csv", "surrogates-cross-paired.csv", "surrogates-search-final.csv",
                "surrogates-search-paired.csv", "surrogates-search-speedup.csv", "surrogates-cost.csv", "surrogates-within-nb201-svhn.csv"):
        assert csv in html, csv
    assert "queries to RE&#39;s final (KM median)" in html and "speed-up (geo. mean)" in html


def test_every_claim_is_reproduced_on_rows_built_to_support_it(full):
    html, states = full
    # The LM claim is about "within and across datasets": the rows hold no zero-shot LM transfer, so it names that.
    assert states == {**dict.fromkeys(CHECKS, "pass"), "lm": "unknown"}, states
    assert "Missing: zero-shot transfer rows of a pre-trained LM" in html
    for evidence in ("GRAF+ZC vs one-hot, pooled over cells", "GRAF+ZC vs source accuracy, pooled over pairs",
                     "final regret: filter vs RE", "log speed-up over RE, against log 10"):
        assert evidence in html, evidence


def test_validation_judged_tasks_and_substitutions_are_stated(full):
    html, _ = full
    assert "Judged on validation, not test: nb201/svhn" in html
    assert "not on the paper&#39;s grammar space" in html and "labelled &#39;LM (from scratch)&#39;" in html


def test_precision_column_holds_enough_cells():
    df = pd.DataFrame(within())
    assert surrogates.precision_column(df[df["task"] == "nb201/cifar10"]) == "precision@0.1"  # 16 of 15,625
    assert surrogates.precision_column(df[df["task"] == "nb201/svhn"]) == "precision@5"  # 10 of 199


def test_families_come_from_columns_and_the_lm_says_from_scratch_without_model_path():
    df = surrogates.within_rows(frame(within()).assign(method="some label"))
    assert set(df["family"]) == {"GRAF+ZC", "GRAF", "ZC", "one-hot", "LM (from scratch)"}
    two = frame(within(taus={"graf": 0.5}), [r | {"predictor": "xgboost", "key": r["key"] + "x"} for r in within(taus={"graf": 0.5})])
    assert {"GRAF · random_forest", "GRAF · xgboost"} <= set(surrogates.within_rows(two)["family"])
    # the study's dataset-qualified proxies (zc.<dataset>) belong to the zc families
    assert [surrogates.encoding_key(e) for e in ("zc.svhn", "graf+zc.svhn", "zc.svhn+graf", "onehot")] == ["zc", "graf+zc", "graf+zc", "onehot"]


def test_within_and_across_claims_fail_when_the_rows_contradict_them():
    parts = within(taus={"graf+zc": 0.45, "graf": 0.5, "zc": 0.4, "onehot": 0.3}), transfer(surrogate_gap=-0.05)
    html, states = render(frame(*parts))
    assert states["within"] == "fail" and states["across"] == "fail", states
    assert "GRAF better" in html and "source accuracy better" in html


def test_a_within_claim_with_unresolved_differences_is_not_reproduced():
    """GRAF+ZC equal to GRAF on average: every comparison with GRAF is unresolved, so it never beats its part."""
    html, states = render(frame(within(taus={"graf+zc": 0.5, "graf": 0.5, "zc": 0.4, "onehot": 0.3})))
    assert states["within"] == "fail" and "not resolved" in html


def test_lm_claim_is_not_applicable_from_scratch_and_judged_with_a_checkpoint():
    _, states = render(frame(within()))
    assert states["lm"] == "unknown"
    _, states = render(frame(within(lm_path="/models/tiny-bert", lm_tau=0.2)))
    assert states["lm"] == "fail"  # resolved below one-hot within task decides it, whatever is missing across tasks
    html, states = render(frame(within(lm_path="/models/tiny-bert", lm_tau=0.5)))
    assert states["lm"] == "unknown" and "LM vs one-hot, within task, pooled" in html


def test_search_claims_fail_when_the_surrogates_do_not_help():
    # filter ends worse than RE and the objective's result is reached by RE within a few queries
    html, states = render(frame(search(filter_gap=0.8, filter_tau=20.0, objective_gap=3.0)))
    assert states["filter"] == "fail" and states["objective"] == "fail", states
    assert "RE better" in html


def test_objective_speedup_is_judged_against_the_fixed_factor():
    """A 5x speed-up is large but not the 10x fixed in advance: not reproduced."""
    comps = surrogates.search_comparisons(*surrogates.search_rows(frame(search(objective_gap=2.0)), ReportContext(pd.DataFrame())))
    obj = [c for c in comps if c["strategy"] == "surrogate_objective"]
    speed = [np.exp(c["log_speedup"].diff) for c in obj]
    assert all(2 < s < 10 for s in speed), speed
    _, states = render(frame(search(objective_gap=2.0)))
    assert states["objective"] == "fail"


def test_speedup_counts_the_queries_each_run_needed_to_reach_the_common_level():
    curve_re = np.array([90.0, 91.0, 92.0, 92.0, 93.0])
    curve_m = np.array([91.0, 93.0, 93.5])
    assert surrogates.first_reach(curve_re, 93.0, lower_is_better=False) == 5
    assert surrogates.first_reach(curve_m, 93.0, lower_is_better=False) == 2
    assert np.isnan(surrogates.first_reach(curve_re, 93.5, lower_is_better=False))
    c = surrogates.compare_to_re({0: (93.0, 1.0, curve_re)}, {0: (93.5, 0.5, curve_m)}, lower=False)
    assert c["q_re"][0] == 5 and c["q"][0] == 2 and c["to_re_final"][0] == 2  # level = RE's final (the worse one)


def test_missing_blocks_make_their_checks_not_applicable_never_failed():
    _, states = render(frame(within()))
    assert states == {"within": "pass", "across": "unknown", "lm": "unknown", "filter": "unknown", "objective": "unknown"}
    html, states = render(frame(search(tasks=("nb201/cifar10",))))
    assert states["within"] == "unknown" and states["across"] == "unknown" and states["filter"] == "pass"


def test_section_is_silent_without_its_rows():
    """The report hands the section its study's cells only: rows of other labels ("RF graf" is not a
    paper-surrogates cell) whatever their matrix column says, and another study's rows, are left out."""
    other = pd.concat([frame(within()), make_rows(methods=["gcn+hr"], failed=0)], ignore_index=True)
    own = own_rows(other, matrices()["paper-surrogates"])
    assert own.empty and surrogates.render(own, ReportContext(own)) is None


def test_report_renders_the_section_from_the_store(tmp_path):
    small = [r for r in within(taus={"graf+zc": 0.6, "onehot": 0.3}) if r["task"] == "nb201/cifar10" and r["budget"] in (20, 200)]
    df = frame(small, transfer(shots=(0,), families=(("graf+zc", REGRESSOR),)))
    html = build_report(write_store(tmp_path / "results", df), tmp_path / "out").read_text()
    assert 'id="section-surrogates"' in html and "Cross-task prediction" in html
    # the study's declared deviations, rendered by the report (not by the section) at the section's top
    section = html.split('id="section-surrogates"', 1)[1].split("</section>", 1)[0]
    declared = matrices_study("paper-surrogates").deviations("paper-surrogates")
    assert f'<details class="deviations"><summary>Deviations from the paper ({len(declared)})</summary>' in section
    assert all(ReportContext.escape(d.ours) in section for d in declared)
    assert section.index("Deviations from the paper") < section.index("Cross-task prediction")


def matrices_study(matrix: str):
    return next(s for s in studies() if matrix in s.matrix_paths())


def test_largest_source_sample_is_kept_per_side_and_baselines_pair_per_budget():
    """NAS-Bench-Graph style: the surrogate sees 2,000 source cells, the baseline all of them; a smaller
    surrogate sample of the same pair is left out. Baseline rows exist at every target budget."""
    rows = transfer(shots=(0, 10), families=(("graf", REGRESSOR),))
    small = [r | {"source_n": 500, "key": r["key"] + "s"} for r in rows if not r["baseline"]]
    df = surrogates.transfer_rows(frame([r | {"source_n": 2000 if not r["baseline"] else 26206} for r in rows], small))
    assert set(df.loc[~df["baseline"], "source_n"]) == {2000} and set(df.loc[df["baseline"], "source_n"]) == {26206}
    pairs = surrogates.cross_pairs(df, shots=10)
    assert len(pairs) == 4 and all(r["seeds"] == len(SEEDS) and r["verdict"] == "GRAF better" for r in pairs)


def test_a_resolved_but_negligible_tau_gain_is_a_tie_and_identical_pairs_are_named():
    """Surrogates 1e-5 above the baseline on every seed (no noise): resolved, but below min_gain, so not a win."""
    html, states = render(frame(transfer(surrogate_gap=1e-5, noise=False)))
    assert states["across"] == "fail" and "tie (|A − B| &lt; 0.01)" in html
    assert "equals the baseline&#39;s within 0.001 on nb201/cifar10 → nb201/cifar100" in html


def test_the_sentences_are_quoted_from_the_abstract(shared_papers):
    from nasbench_harness.studies.surrogates import checks

    text = " ".join((shared_papers / "transferrable-surrogates-abstract.txt").read_text(encoding="utf-8").split())
    for claim, sentence in checks.SENTENCES.items():
        assert sentence in text, claim
