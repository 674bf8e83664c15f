"""Each study declares its deviations from its paper once (``deviations.yaml``), with every field,
including those issue 20 (item 9) names; its README points to that list instead of restating it."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from nasbench_harness import studies
from nasbench_harness.errors import ConfigError

# (study, matrix, words one entry must hold): the deviations issue 20 item 9 and the READMEs named.
NAMED = [
    ("grabnas", "paper-grabnas", ("standardises meta-training labels globally", "per target")),
    ("grabnas", "paper-grabnas", ("one performance token", "five at meta-test")),
    ("grabnas", "paper-grabnas", ("20 Adam steps", "retries = 3", "Algorithm 1")),
    ("grabnas", "paper-grabnas", ("per isomorphism class", "first-charged member")),
    ("losses", "paper-search", ("full-batch", "min-max scaled")),
    ("losses", "paper-search", ("per isomorphism class", "first-charged member")),
    ("convnp", "paper-convnp", ("Sec. 5.2", "Sec. 4.2", "exclusively")),
    ("convnp", "paper-convnp", ("Kendall tau and Recall@k", "observed ones included")),
    ("losses", "paper-losses", ("learning rate", "Supplementary Material")),
    ("losses", "paper-search", ("PWLNAS-MSE", "npenas loop")),
    ("losses", "paper-search", ("best_eval_queried", "Table 2")),
    ("losses", "paper-search", ("warm-up", "0.5")),
    ("surrogates", "paper-surrogates", ("context-free-grammar", "NAS-Bench-201")),
    ("surrogates", "paper-surrogates", ("from scratch", "language model")),
]


def _study(name: str):
    return next(s for s in studies.studies() if s.name == name)


@pytest.mark.parametrize("study", studies.studies(), ids=lambda s: s.name)
def test_every_study_declares_deviations_with_every_field(study):
    found = study.deviations()
    assert found, f"{study.name} declares no deviation"
    for d in found:
        for f in fields(d):
            assert f.name == "matrix" or getattr(d, f.name).strip(), (study.name, d.topic, f.name)
        assert d.moves_verdict.startswith(("yes", "no")), (study.name, d.topic)
        assert d.matrix in ("", *study.matrix_paths()), (study.name, d.topic, d.matrix)


@pytest.mark.parametrize(("study", "matrix", "words"), NAMED, ids=lambda x: x if isinstance(x, str) else "-".join(x)[:40])
def test_the_named_deviations_are_declared_for_their_matrix(study, matrix, words):
    texts = [" ".join((d.topic, d.paper, d.ours, d.why)) for d in _study(study).deviations(matrix)]
    assert any(all(w in t for w in words) for t in texts), (study, words)


def test_a_section_gets_its_matrix_deviations_and_the_study_wide_ones():
    losses = _study("losses")
    by_matrix = {m: {d.topic for d in losses.deviations(m)} for m in losses.matrix_paths()}
    assert "BANANAS training" in by_matrix["paper-search"] and "BANANAS training" not in by_matrix["paper-losses"]
    assert "Per-loss learning rates" in by_matrix["paper-losses"] and "Per-loss learning rates" not in by_matrix["paper-search"]
    assert set().union(*by_matrix.values()) == {d.topic for d in losses.deviations()}


@pytest.mark.parametrize("study", studies.studies(), ids=lambda s: s.name)
def test_the_readme_points_to_the_one_list(study):
    readme = (study.folder() / "README.md").read_text(encoding="utf-8")
    assert f"studies/{study.name}/deviations.yaml" in readme


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("- topic: t\n  paper: p\n  ours: o\n  why: w\n", "non-empty fields topic, paper, ours, why, moves_verdict"),
        ("- topic: t\n  paper: p\n  ours: ''\n  why: w\n  moves_verdict: no\n", "non-empty fields"),
        ("- topic: t\n  paper: p\n  ours: o\n  why: w\n  moves_verdict: 'no'\n  extra: x\n", "nothing else"),
        ("- topic: t\n  paper: p\n  ours: o\n  why: w\n  moves_verdict: maybe\n", "must start with 'yes' or 'no'"),
    ],
)
def test_an_incomplete_entry_is_one_sentence(tmp_path: Path, text, says):
    path = tmp_path / "deviations.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=says):
        studies.load_deviations(path)
