"""Verdicts: is one arm better than another, by how much, and how sure, from the arms' per-seed values.

An arm is one configuration trained on several seeds (e.g. μ = 0.6 at a fixed gain). The difference
of means gets a confidence interval, Welch's t interval by default or a percentile bootstrap, and
the verdict follows from the interval alone: "better" or "worse" when it excludes 0, else "not
distinguishable". Every sentence carries its interval and its numbers of seeds.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from momentum_search.dashboards._html import html_table

Method = Literal["welch", "bootstrap"]
Outcome = Literal["better", "worse", "not distinguishable", "cannot compare"]
METHODS: tuple[Method, ...] = ("welch", "bootstrap")
DIRECTIONS = ("maximize", "minimize")
PERCENT_METRICS = ("accuracy",)  # reported in percent; their Δ is in percentage points
BOOTSTRAP_RESAMPLES = 10_000


@dataclass(frozen=True)
class Arm:
    """One configuration's per-seed values of the metric (e.g. each seed's best validation value)."""

    label: str
    values: Sequence[float]


@dataclass(frozen=True)
class Verdict:
    """``arm`` against ``reference``: ``diff`` = mean(arm) − mean(reference) in the metric's unit, and
    its confidence interval ``low`` … ``high`` (NaN when an arm has fewer than 2 seeds)."""

    arm: str
    reference: str
    metric: str
    outcome: Outcome
    diff: float
    low: float
    high: float
    n_arm: int
    n_reference: int
    method: Method
    confidence: float
    sentence: str


def compare(
    arm: Arm,
    reference: Arm,
    *,
    metric: str,
    direction: str,
    method: Method = "welch",
    confidence: float = 0.95,
    seed: int = 0,
    context: str | None = None,
) -> Verdict:
    """Compare ``arm`` with ``reference`` on ``metric``, which is to ``direction`` (maximize or minimize).

    ``method="welch"``: Welch's t interval (unequal variances, Welch–Satterthwaite degrees of freedom).
    ``method="bootstrap"``: the percentile interval of the difference of means over
    ``BOOTSTRAP_RESAMPLES`` resamples of each arm, drawn with ``seed`` (same seed, same interval).
    ``context`` opens the sentence, e.g. "at matched gain".

    Raises:
        ValueError: an unknown direction or method, a confidence outside (0, 1), or a value that is not finite.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}; got {direction!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    a, b = _values(arm), _values(reference)
    diff = float(a.mean() - b.mean()) if a.size and b.size else math.nan
    level = f"{100 * confidence:g} %"
    common = dict(
        arm=arm.label,
        reference=reference.label,
        metric=metric,
        n_arm=a.size,
        n_reference=b.size,
        method=method,
        confidence=confidence,
    )
    prefix = f"{context}, " if context else ""
    short = [f"{x.label} has {_seeds(n)}" for x, n in ((arm, a.size), (reference, b.size)) if n < 2]
    if short:
        sentence = (
            f"{prefix}{arm.label} cannot be compared with {reference.label}: {' and '.join(short)}, "
            f"and a {level} interval needs at least 2 seeds in each arm"
        )
        return Verdict(outcome="cannot compare", diff=diff, low=math.nan, high=math.nan, sentence=sentence, **common)  # type: ignore[arg-type]
    low, high = welch_interval(a, b, confidence) if method == "welch" else bootstrap_interval(a, b, confidence, seed=seed)
    outcome: Outcome = "not distinguishable"
    if low > 0 or high < 0:
        outcome = "better" if (diff > 0) == (direction == "maximize") else "worse"
    relation = {"better": "is better than", "worse": "is worse than", "not distinguishable": "is not distinguishable from"}
    seeds = f"{a.size} seeds each" if a.size == b.size else f"{a.size} and {b.size} seeds"
    kind = "" if method == "welch" else "bootstrap "
    d, lo, hi = format_interval(diff, low, high, metric)
    sentence = (
        f"{prefix}{arm.label} {relation[outcome]} {reference.label} (Δ {metric} = {d}, {level} {kind}CI {lo} … {hi}, {seeds})"
    )
    return Verdict(outcome=outcome, diff=diff, low=low, high=high, sentence=sentence, **common)  # type: ignore[arg-type]


def compare_arms(arms: Sequence[Arm], reference: Arm, **options: Any) -> list[Verdict]:
    """:func:`compare` (with ``options``) of every arm but the reference itself (by label) with ``reference``."""
    return [compare(arm, reference, **options) for arm in arms if arm.label != reference.label]


def welch_interval(a: np.ndarray, b: np.ndarray, confidence: float) -> tuple[float, float]:
    """Welch's t interval of mean(a) − mean(b), each with at least 2 values."""
    from scipy.special import stdtrit  # scipy.stats.t.ppf's own quantile, without scipy.stats's import

    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff = float(a.mean() - b.mean())
    if va + vb == 0:  # every seed gave the same value in both arms: no spread to widen the difference
        return diff, diff
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(stdtrit(dof, 0.5 + confidence / 2) * math.sqrt(va + vb))
    return diff - half, diff + half


def bootstrap_interval(
    a: np.ndarray, b: np.ndarray, confidence: float, *, seed: int, resamples: int = BOOTSTRAP_RESAMPLES
) -> tuple[float, float]:
    """The percentile bootstrap interval of mean(a) − mean(b), each arm resampled on its own."""
    rng = np.random.default_rng(seed)
    diffs = rng.choice(a, (resamples, a.size)).mean(axis=1) - rng.choice(b, (resamples, b.size)).mean(axis=1)
    low, high = np.quantile(diffs, [0.5 - confidence / 2, 0.5 + confidence / 2])
    return float(low), float(high)


def format_interval(diff: float, low: float, high: float, metric: str) -> tuple[str, str, str]:
    """Δ and its interval as signed numbers with one precision: 3 significant digits of the interval's
    width (of Δ when the interval is a point), and " %" after Δ for a metric in percent."""
    scale = next((x for x in (high - low, abs(diff)) if math.isfinite(x) and x > 0), 1.0)
    decimals = max(0, 2 - math.floor(math.log10(scale)))

    def signed(x: float) -> str:
        return "–" if math.isnan(x) else f"{x:+.{decimals}f}".replace("-", "−")

    unit = " %" if metric in PERCENT_METRICS else ""
    return signed(diff) + unit, signed(low), signed(high)


def verdicts_html(verdicts: Sequence[Verdict]) -> str:
    """The verdicts as an HTML table (arm, reference, Δ, interval, seeds, verdict) and their sentences,
    a fragment for a report page (its style is the report's)."""

    if not verdicts:
        return '<p class="unavailable">No arm to compare.</p>'
    first = verdicts[0]
    columns = ["arm", "reference", f"Δ {first.metric}", f"{100 * first.confidence:g} % CI ({first.method})", "seeds", "verdict"]
    rows = []
    for v in verdicts:
        d, lo, hi = format_interval(v.diff, v.low, v.high, v.metric)
        # No difference without its interval: a comparison that cannot be made shows neither.
        shown = ["–", "–"] if math.isnan(v.low) else [d, f"{lo} … {hi}"]
        rows.append([v.arm, v.reference, *shown, f"{v.n_arm} / {v.n_reference}", v.outcome])
    sentences = "".join(f"<li>{html.escape(v.sentence)}</li>" for v in verdicts)
    return html_table(columns, rows, numeric={2, 3, 4}) + f"<ul>{sentences}</ul>"


def _values(arm: Arm) -> np.ndarray:
    values = np.asarray(arm.values, dtype=float)
    if values.ndim != 1 or not np.isfinite(values).all():
        raise ValueError(f"arm {arm.label!r}: values must be a sequence of finite numbers, got {list(arm.values)!r}")
    return values


def _seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"
