"""Every loss on hand-made cases with known answers, gradients, weightings and the piecewise switch."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.base import TrainState
from nasbench_harness.methods.losses import (
    ExponentialWeightedLoss,
    HingeRankingLoss,
    ListMLELoss,
    LogisticRankingLoss,
    MAPELoss,
    MSELoss,
    MSESequenceRankingLoss,
    PiecewiseLoss,
    WARPLoss,
    importance_weights,
    true_ranks,
)
from nasbench_harness.registry import load, names

ALL = ["mse", "hr", "logistic", "mse_sr", "listmle", "ew", "mape", "warp", "pw"]
T = torch.tensor([0.9, 0.1, 0.5, 0.3], dtype=torch.float64)


# The paper's categorisation (Section 3), written out here: not derived from the classes under test.
PAPER_CATEGORIES = {"mse": "regression", "hr": "ranking", "logistic": "ranking", "mse_sr": "ranking", "listmle": "ranking",
                    "ew": "weighted", "mape": "weighted", "warp": "weighted", "pw": "piecewise"}


def test_all_losses_registered_with_the_papers_categories():
    assert set(ALL) <= set(names("losses"))
    for name in ALL:
        cls = load("losses", name)
        assert cls.formula and cls.description and cls.category == PAPER_CATEGORIES[name], name


def test_the_report_reads_categories_from_the_loss_classes(example_plugin):
    """A loss the report has never heard of (the example plugin's) gets its declared category."""
    from nasbench_harness.studies.losses.section import loss_category

    assert {n: loss_category()[n] for n in ALL} == PAPER_CATEGORIES
    assert loss_category()["softrank"] == "ranking"


@pytest.mark.parametrize("name", ALL)
def test_gradients_flow_and_loss_is_finite(name):
    pred = torch.tensor([0.2, 0.4, 0.1, 0.8], dtype=torch.float64, requires_grad=True)
    value = load("losses", name)()(pred, T, TrainState(n_train=10))
    assert value.ndim == 0 and torch.isfinite(value) and value.item() > 0
    value.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


E = math.e
SIG = E / (1 + E)  # sigmoid(1)
W_BEST, W_WORST = 2 * E / (1 + E), 2 / (1 + E)  # EXP-GT weights of targets (1, 0), normalised to mean 1
# One reversed pair worked by hand: targets (1, 0) (item 0 is better), predictions (0, 1).
# Each loss's value and gradient (d/dp0, d/dp1); descent must raise p0 and lower p1.
REVERSED_PAIR = {
    "mse": (1.0, (-1.0, 1.0)),  # ((0-1)^2 + (1-0)^2) / 2
    "hr": (1.1, (-1.0, 1.0)),  # margin 0.1 - (p0 - p1) over the one pair
    "logistic": (math.log1p(E), (-SIG, SIG)),  # softplus(-(p0 - p1))
    "mse_sr": (3.0, (-2.0, 2.0)),  # MSE 1 + |(p0 - p1) - (y0 - y1)| = 1 + |-1 - 1|
    "listmle": (math.log1p(E) / 2, (-SIG / 2, SIG / 2)),  # (log(e^0 + e^1) - 0 + (1 - 1)) / 2
    "ew": (1.0, (-W_BEST, W_WORST)),  # mean of w * (p - y)^2: the better item's error weighs more
    "mape": ((1 / 0.1 + 1 / 1.1) / 2, (-5.0, 1 / 2.2)),  # |p - y| / (1 + 0.1 - y)
    "warp": (1.1 * W_BEST / 2, (-W_BEST / 2, W_BEST / 2)),  # item 0: 1 violator, L(1)/1 = 1, hinge 1.1
    "pw": ((1 / 0.1 + 1 / 1.1) / 2, (-5.0, 1 / 2.2)),  # 150 training architectures >= 100: past hr, on mape
}


@pytest.mark.parametrize("name", ALL)
def test_each_loss_on_a_reversed_pair_worked_by_hand(name):
    pred = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    value = load("losses", name)()(pred, torch.tensor([1.0, 0.0], dtype=torch.float64), TrainState(n_train=150))
    expected, grad = REVERSED_PAIR[name]
    assert value.item() == pytest.approx(expected, rel=1e-12)
    value.backward()
    np.testing.assert_allclose(pred.grad.numpy(), grad, rtol=1e-12)
    assert pred.grad[0] < 0 < pred.grad[1]  # a gradient step ranks the better architecture higher


EXACT_MINIMUM = [n for n in ALL if PAPER_CATEGORIES[n] in ("regression", "weighted") and n != "warp"]


@pytest.mark.parametrize("name", EXACT_MINIMUM)
def test_exact_prediction_is_a_minimum_of_regression_and_weighted_losses(name):
    pred = T.clone().requires_grad_(True)
    value = load("losses", name)()(pred, T, TrainState())
    assert value.item() == pytest.approx(0.0, abs=1e-12)
    value.backward()
    assert pred.grad.abs().max().item() == pytest.approx(0.0, abs=1e-12)


def test_mse():
    assert MSELoss()(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0]), None).item() == pytest.approx(2.5)


def test_hinge_zero_when_ordered_beyond_margin_and_exact_otherwise():
    hr = HingeRankingLoss(margin=0.1)
    ordered = T * 10  # same order, all gaps >= 2 > margin
    assert hr(ordered, T, None).item() == 0.0
    # Reversed 2 items: one pair, loss = margin - (p_better - p_worse) = 0.1 - (0 - 1) = 1.1
    assert hr(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0]), None).item() == pytest.approx(1.1)
    # Ties in the target are not pairs: nothing to rank.
    assert hr(torch.tensor([0.3, 0.7]), torch.tensor([0.5, 0.5]), None).item() == 0.0


def test_logistic_ranking_matches_formula():
    pred, target = torch.tensor([0.0, 2.0, 1.0]), torch.tensor([3.0, 2.0, 1.0])
    pairs = [(0, 1), (0, 2), (1, 2)]
    expected = np.mean([math.log1p(math.exp(-(pred[i] - pred[j]).item())) for i, j in pairs])
    assert LogisticRankingLoss()(pred, target, None).item() == pytest.approx(expected, rel=1e-6)
    assert LogisticRankingLoss()(torch.tensor([100.0, 0.0]), torch.tensor([1.0, 0.0]), None).item() < 1e-20


def test_mse_sr_is_mse_plus_gap_error():
    pred, target = torch.tensor([0.0, 1.0, 0.5]), torch.tensor([0.2, 0.6, 0.4])
    mse = torch.mean((pred - target) ** 2).item()
    gaps = [abs((pred[i] - pred[j]) - (target[i] - target[j])).item() for i, j in [(0, 1), (0, 2), (1, 2)]]
    assert MSESequenceRankingLoss(sr_weight=0.5)(pred, target, None).item() == pytest.approx(mse + 0.5 * np.mean(gaps))
    # A prediction shifted by a constant has exact gaps: only the MSE part remains.
    assert MSESequenceRankingLoss()(target + 1, target, None).item() == pytest.approx(1.0)


def test_listmle_matches_brute_force_on_four_items():
    pred = torch.tensor([0.3, -1.2, 2.0, 0.7], dtype=torch.float64)
    order = sorted(range(4), key=lambda i: -T[i].item())
    s = [pred[i].item() for i in order]
    nll = -sum(s[k] - math.log(sum(math.exp(v) for v in s[k:])) for k in range(4))
    assert ListMLELoss()(pred, T, None).item() == pytest.approx(nll / 4, rel=1e-12)
    # Plackett-Luce over every permutation sums to one: the true order is the likeliest only when scores agree.
    probs = []
    for perm in itertools.permutations(range(4)):
        v = [pred[i].item() for i in perm]
        probs.append(math.prod(math.exp(v[k]) / sum(math.exp(u) for u in v[k:]) for k in range(4)))
    assert sum(probs) == pytest.approx(1.0)


def test_listmle_is_stable_for_huge_scores():
    pred = torch.tensor([1e4, -1e4, 5e3], dtype=torch.float64)
    assert torch.isfinite(ListMLELoss()(pred, torch.tensor([1.0, 0.0, 0.5], dtype=torch.float64), None))


def test_weightings_increase_with_the_true_score():
    for kind in ("GT", "EXP-GT", "Ranking"):
        w = importance_weights(T, kind)
        assert w.mean().item() == pytest.approx(1.0)
        assert torch.equal(torch.argsort(w), torch.argsort(T)), kind
    np.testing.assert_allclose(importance_weights(T, "GT"), T / T.mean())
    np.testing.assert_allclose(importance_weights(T, "EXP-GT"), torch.exp(T) / torch.exp(T).mean())
    ranks = true_ranks(T)  # 1 = best
    assert ranks.tolist() == [1, 4, 2, 3]
    np.testing.assert_allclose(importance_weights(T, "Ranking"), (1 - (ranks - 1) / 4) / (1 - (ranks - 1) / 4).mean())
    with pytest.raises(ConfigError, match="weighting"):
        ExponentialWeightedLoss(weighting="exp")


def test_exp_gt_weights_do_not_overflow_on_unscaled_scores():
    # The Loss contract does not require [0, 1] targets: accuracies in % must not give inf / inf = NaN.
    acc = torch.tensor([93.5, 94.2, 91.0, 88.7])  # float32: exp(94.2) overflows
    w = importance_weights(acc, "EXP-GT")
    expected = torch.exp(acc.double() - 94.2)
    np.testing.assert_allclose(w.double(), expected / expected.mean(), rtol=1e-5)
    pred = torch.tensor([90.0, 95.0, 91.0, 80.0], requires_grad=True)
    for loss in (ExponentialWeightedLoss(), WARPLoss()):
        value = loss(pred, acc, None)
        assert torch.isfinite(value) and value.item() > 0, loss.name
        value.backward()
        assert torch.isfinite(pred.grad).all()


# Targets 90, 91, 94 % as the loop passes them: min-max scaled, with the raw range (90, 94).
SCALED = torch.tensor([0.0, 0.25, 1.0])
RANGE = (90.0, 94.0)


def _best_over_median(w: torch.Tensor) -> float:
    return (w[2] / w[1]).item()


@pytest.mark.parametrize(("reading", "gt", "exp_gt"), [
    ("minmax", 1.0 / 0.25, math.exp(0.75)),      # y = 0, 0.25, 1
    ("percent", 94.0 / 91.0, math.exp(3.0)),     # y = 90, 91, 94
    ("fraction", 0.94 / 0.91, math.exp(0.03)),   # y = 0.90, 0.91, 0.94
])
def test_weight_target_readings_on_a_hand_computed_example(reading, gt, exp_gt):
    state = TrainState(target_range=RANGE)
    for weighting, ratio in (("GT", gt), ("EXP-GT", exp_gt)):
        w = ExponentialWeightedLoss(weighting=weighting, weight_target=reading)
        weights = importance_weights(SCALED, weighting, reading, RANGE)
        assert weights.mean().item() == pytest.approx(1.0)
        assert _best_over_median(weights) == pytest.approx(ratio, rel=1e-5), (reading, weighting)
        # The loss uses those weights on the scaled error: errors of 0.1 on every architecture.
        assert w(SCALED + 0.1, SCALED, state).item() == pytest.approx(0.01, rel=1e-5)
        assert w(SCALED + torch.tensor([0.0, 0.0, 0.1]), SCALED, state).item() == pytest.approx(
            weights[2].item() * 0.01 / 3, rel=1e-5)
    ranking = importance_weights(SCALED, "Ranking", reading, RANGE)  # ranks only: the reading does not matter
    assert torch.equal(ranking, importance_weights(SCALED, "Ranking"))


def test_default_weight_target_is_todays_computation_bit_for_bit():
    # Today's weights, written out: GT = y / mean y, EXP-GT = exp(y - max y) / mean, y the scaled target.
    t = torch.tensor([0.13, 0.0, 0.71, 1.0, 0.42])
    pred = torch.tensor([0.3, 0.2, 0.5, 0.8, 0.1])
    today = {"GT": t / t.mean(), "EXP-GT": torch.exp(t - t.max()) / torch.exp(t - t.max()).mean()}
    for weighting, w in today.items():
        assert ExponentialWeightedLoss.default_params["weight_target"] == "minmax"
        ew = ExponentialWeightedLoss(weighting=weighting)
        expected = torch.mean(w * (pred - t) ** 2)
        for state in (None, TrainState(), TrainState(target_range=RANGE)):
            assert torch.equal(ew(pred, t, state), expected), weighting
            assert torch.equal(WARPLoss(weighting=weighting)(pred, t, state), WARPLoss(weighting=weighting, weight_target="minmax")(pred, t, None))


def test_weight_target_is_validated_and_needs_the_raw_range():
    for cls in (ExponentialWeightedLoss, WARPLoss):
        with pytest.raises(ConfigError, match="weight_target='percentage'.*one of"):
            cls(weight_target="percentage")
        with pytest.raises(ConfigError, match="raw training range"):
            cls(weight_target="percent")(SCALED, SCALED, TrainState())


def test_ew_weights_errors_on_good_architectures_more():
    ew = ExponentialWeightedLoss()
    target = torch.tensor([1.0, 0.0])
    err_on_best = ew(torch.tensor([0.5, 0.0]), target, None).item()
    err_on_worst = ew(torch.tensor([1.0, 0.5]), target, None).item()
    assert err_on_best == pytest.approx(0.25 * math.e / ((1 + math.e) / 2) / 2)
    assert err_on_best > err_on_worst


def test_mape_baseline_weighting():
    mape = MAPELoss(baseline=0.1)
    target = torch.tensor([1.0, 0.0])
    # |error| / (1 + b - y): 0.5 / 0.1 on the best; 0.5 / 1.1 on the worst.
    assert mape(torch.tensor([0.5, 0.0]), target, None).item() == pytest.approx(2.5)
    assert mape(torch.tensor([1.0, 0.5]), target, None).item() == pytest.approx(0.5 / 1.1 / 2)
    with pytest.raises(ConfigError):
        MAPELoss(baseline=0)


def test_warp_matches_hand_computation():
    warp = WARPLoss(margin=0.1, weighting="GT")
    target = torch.tensor([1.0, 0.5, 0.0])
    pred = torch.tensor([0.0, 0.5, 1.0])  # fully reversed
    # Best item (0): 2 violators, hinges 0.6 and 1.1, L(2)/2 = 1.5/2; item 1: 1 violator, hinge 0.6, L(1)/1 = 1.
    w = target / target.mean()
    expected = (w[0] * 0.75 * 1.7 + w[1] * 1.0 * 0.6) / 3
    assert warp(pred, target, None).item() == pytest.approx(expected.item(), rel=1e-6)
    assert warp(target * 10, target, None).item() == 0.0  # ordered beyond the margin: no violators


def test_warp_penalises_a_swap_among_the_best_more_than_a_swap_among_the_worst():
    target = torch.linspace(1, 0, 10)
    top_swapped, bottom_swapped = target.clone(), target.clone()
    top_swapped[[0, 1]] = top_swapped[[1, 0]]
    bottom_swapped[[8, 9]] = bottom_swapped[[9, 8]]
    for kind in ("GT", "EXP-GT", "Ranking"):
        warp = WARPLoss(weighting=kind)
        # Same single violated pair and hinge; only the weight of the better architecture differs.
        assert warp(top_swapped, target, None) > warp(bottom_swapped, target, None) > 0, kind


def test_warp_rank_discount_is_harmonic():
    def harmonic(k: int) -> float:
        return sum(1 / s for s in range(1, k + 1))

    for k in (1, 3, 7):
        # Architecture 0 is the best but predicted below the k others, which tie among themselves.
        target = torch.linspace(1, 0, k + 1, dtype=torch.float64)
        pred = torch.cat([torch.zeros(1), torch.ones(k)]).double()
        w = importance_weights(target, "EXP-GT")
        # Item 0: k violators with hinge 1.1 each; item m >= 1: k - m violators with hinge 0.1 (the margin).
        parts = [w[0] * harmonic(k) / k * 1.1 * k] + [w[m] * harmonic(k - m) * 0.1 for m in range(1, k + 1)]
        expected = sum(float(p) for p in parts) / (k + 1)
        assert WARPLoss()(pred, target, None).item() == pytest.approx(expected, rel=1e-9)


def test_piecewise_switches_by_training_set_size():
    pw = PiecewiseLoss(first="mse", second="hr", switch="n_train", threshold=50)
    pred, target = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0])
    assert pw(pred, target, TrainState(n_train=49)).item() == pytest.approx(MSELoss()(pred, target, None).item())
    assert pw(pred, target, TrainState(n_train=50)).item() == pytest.approx(HingeRankingLoss()(pred, target, None).item())


def test_piecewise_switches_by_iteration_fraction_with_sub_loss_params():
    pw = PiecewiseLoss(first="hr", second="warp", switch="fraction", threshold=0.25, first_params={"margin": 0.5})
    pred, target = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0])
    warm = [pw.in_warmup(TrainState(iteration=i, n_iterations=100)) for i in range(100)]
    assert warm.index(False) == 25 and not any(warm[25:])
    assert pw(pred, target, TrainState(iteration=0, n_iterations=100)).item() == pytest.approx(1.5)
    assert pw(pred, target, TrainState(iteration=30, n_iterations=100)).item() == pytest.approx(
        WARPLoss()(pred, target, None).item()
    )


@pytest.mark.parametrize(
    "params",
    [
        {"switch": "epoch"},
        {"switch": "fraction", "threshold": 2},
        {"first": "pw"},
        {"first": "nope"},
        {"second_params": {"margin": -1}, "second": "hr"},
    ],
)
def test_piecewise_rejects_bad_configuration(params):
    from nasbench_harness.errors import HarnessError

    with pytest.raises(HarnessError):
        PiecewiseLoss(**params)


def test_unknown_loss_parameter_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown parameter"):
        HingeRankingLoss(margn=0.1)


def test_pairwise_losses_are_vectorised_over_a_large_batch():
    # 2,000 items = ~2M pairs in one call; a Python pair loop would not finish quickly.
    g = torch.Generator().manual_seed(0)
    pred, target = torch.rand(2000, generator=g), torch.rand(2000, generator=g)
    for name in ["hr", "logistic", "mse_sr", "warp"]:
        assert torch.isfinite(load("losses", name)()(pred, target, TrainState()))


@pytest.mark.parametrize("name", ALL)
def test_loss_conformance(name):
    from nasbench_harness.testing import check_loss

    check_loss(name)


def test_paper_losses_matrix_expands(monkeypatch):
    """The paper-losses matrix validates and has the blocks the report reads (NB201 tasks stubbed if not yet defined)."""
    import collections
    import dataclasses

    from nasbench_harness.matrix import load_matrix
    from nasbench_harness.tasks import catalog

    specs = dict(catalog.task_specs())
    base = next(iter(specs.values()))
    for d in ("cifar10", "cifar100", "ImageNet16-120"):
        specs.setdefault(f"nb201/{d}", dataclasses.replace(base, name=f"nb201/{d}", space="nb201", dataset=d))
    monkeypatch.setattr(catalog, "task_specs", lambda: specs)
    cells = load_matrix("paper-losses").cells
    main = {c.task for c in cells if c.protocol_params.get("eval_set") == "space"}
    assert len(main) == 13
    assert {c.seed for c in cells} == set(range(30))
    assert {c.loss for c in cells if c.predictor == "gcn"} == set(ALL)
    assert {c.budget for c in cells if c.task == "nb101/cifar10"} >= {423}
    assert {c.predictor for c in cells} == {"gcn", "ap", "transformer"}
    labels = collections.Counter(c.method for c in cells if "[" in c.method and "pw" not in c.method and "[lr=" not in c.method)
    assert len(labels) == 6 + 8  # EW and WARP x 3 weightings; EW and WARP x GT, EXP-GT x the 2 other readings of y
    lr = {c.method for c in cells if "[lr=" in c.method}
    assert len(lr) == (8 + 6) * 3  # the lr block: the 8 losses and the 6 weighting types at each shared rate
    assert any(c.protocol_params.get("eval_set") == "mutation" for c in cells)
