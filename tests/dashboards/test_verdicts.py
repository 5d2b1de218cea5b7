"""Verdicts: the interval of a difference of means decides, and every sentence carries it and the seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from momentum_search.dashboards import Arm, compare, compare_arms, verdicts_html

rng = np.random.default_rng(7)
HIGH = Arm("μ = 0.6", list(rng.normal(95.0, 1.0, 8)))
LOW = Arm("μ = 0", list(rng.normal(90.0, 1.5, 6)))
TRUE_DIFF = 5.0


@pytest.mark.parametrize("method", ["welch", "bootstrap"])
def test_a_large_known_difference_is_better_or_worse_by_direction(method: str) -> None:
    better = compare(HIGH, LOW, metric="accuracy", direction="maximize", method=method)  # type: ignore[arg-type]
    assert better.outcome == "better" and 0 < better.low < TRUE_DIFF < better.high
    assert better.diff == pytest.approx(np.mean(HIGH.values) - np.mean(LOW.values))
    assert (better.n_arm, better.n_reference) == (8, 6)
    # The same numbers as a loss: higher is now worse.
    worse = compare(HIGH, LOW, metric="mse", direction="minimize", method=method)  # type: ignore[arg-type]
    assert worse.outcome == "worse" and (worse.low, worse.high) == (better.low, better.high)
    assert compare(LOW, HIGH, metric="mse", direction="minimize", method=method).outcome == "better"  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["welch", "bootstrap"])
def test_identical_distributions_are_not_distinguishable(method: str) -> None:
    values = list(rng.normal(0.3, 0.02, 5))
    same = compare(Arm("a", values), Arm("b", values[::-1]), metric="mse", direction="minimize", method=method)  # type: ignore[arg-type]
    assert same.outcome == "not distinguishable" and same.low < 0 < same.high and same.diff == pytest.approx(0.0)
    draws = np.random.default_rng(3).normal(0.3, 0.02, (2, 6))
    drawn = compare(Arm("a", draws[0]), Arm("b", draws[1]), metric="mse", direction="minimize", method=method)  # type: ignore[arg-type]
    assert drawn.outcome == "not distinguishable"


def test_welch_interval_is_the_welch_satterthwaite_formula() -> None:
    a, b = np.asarray(HIGH.values), np.asarray(LOW.values)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = stats.t.ppf(0.975, dof) * math.sqrt(va + vb)
    verdict = compare(HIGH, LOW, metric="accuracy", direction="maximize")
    assert (verdict.low, verdict.high) == pytest.approx((a.mean() - b.mean() - half, a.mean() - b.mean() + half), rel=1e-12)
    scipy_interval = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (verdict.low, verdict.high) == pytest.approx((scipy_interval.low, scipy_interval.high), rel=1e-12)
    narrower = compare(HIGH, LOW, metric="accuracy", direction="maximize", confidence=0.8)
    assert verdict.low < narrower.low < narrower.high < verdict.high


def test_bootstrap_interval_is_reproducible_with_its_seed() -> None:
    first = compare(HIGH, LOW, metric="accuracy", direction="maximize", method="bootstrap", seed=11)
    again = compare(HIGH, LOW, metric="accuracy", direction="maximize", method="bootstrap", seed=11)
    other = compare(HIGH, LOW, metric="accuracy", direction="maximize", method="bootstrap", seed=12)
    assert (first.low, first.high) == (again.low, again.high) != (other.low, other.high)
    assert "95 % bootstrap CI" in first.sentence


def test_sentences_carry_the_interval_the_seeds_and_the_unit() -> None:
    verdict = compare(HIGH, LOW, metric="accuracy", direction="maximize", context="at matched gain")
    assert verdict.sentence.startswith("at matched gain, μ = 0.6 is better than μ = 0 (Δ accuracy = +")
    assert verdict.sentence.endswith(", 8 and 6 seeds)") and " %, 95 % CI +" in verdict.sentence
    same = compare(Arm("x", [0.31, 0.30, 0.33]), Arm("y", [0.32, 0.29, 0.35]), metric="mse", direction="minimize")
    assert same.sentence == "x is not distinguishable from y (Δ mse = −0.007, 95 % CI −0.069 … +0.056, 3 seeds each)"


def test_an_arm_with_fewer_than_two_seeds_cannot_be_compared() -> None:
    verdict = compare(Arm("x", [0.31]), LOW, metric="mse", direction="minimize")
    assert verdict.outcome == "cannot compare" and math.isnan(verdict.low) and math.isnan(verdict.high)
    assert verdict.sentence == (
        "x cannot be compared with μ = 0: x has 1 seed, and a 95 % interval needs at least 2 seeds in each arm"
    )
    with pytest.raises(ValueError, match="direction must be one of maximize, minimize; got 'up'"):
        compare(HIGH, LOW, metric="mse", direction="up")
    with pytest.raises(ValueError, match="arm 'x': values must be a sequence of finite numbers"):
        compare(Arm("x", [0.3, math.nan]), LOW, metric="mse", direction="minimize")


def test_arms_against_a_reference_and_their_table() -> None:
    verdicts = compare_arms([LOW, HIGH, Arm("one seed", [93.0])], LOW, metric="accuracy", direction="maximize")
    assert [(v.arm, v.outcome) for v in verdicts] == [("μ = 0.6", "better"), ("one seed", "cannot compare")]
    page = verdicts_html(verdicts)
    assert "<th>Δ accuracy</th><th>95 % CI (welch)</th>" in page
    assert '<td>one seed</td><td>μ = 0</td><td class="num">–</td><td class="num">–</td><td class="num">1 / 6</td>' in page
    assert all(v.sentence in page for v in verdicts)
