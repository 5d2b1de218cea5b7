"""Time to accuracy (R2: "compare the computation cost to reach similar accuracy").

For an arm against a reference arm: the epochs and seconds each of the arm's seeds needed to reach the
reference's value, and for the reference itself the epochs and seconds each seed needed to reach its
own best (its whole useful training). Each side gets a 95 % interval over seeds and the two a verdict,
as the paper answered with minutes to reach the LSTM's accuracy. A seed's seconds are its training
time in proportion to its epochs (epochs of one run take alike long); a seed that never reached the
value within its epochs makes the comparison impossible, and the sentence says so.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import NamedTuple

from momentum_search.dashboards._html import html_table
from momentum_search.dashboards._verdicts import Arm, Verdict, compare

Histories = Sequence[Sequence[float | None]]


class TimeTo(NamedTuple):
    label: str
    target: str  # what was reached, e.g. "lstm's 53.67" or "its own best"
    epochs: list[int | None]  # per seed; None: never reached
    seconds: list[float | None]

    @property
    def reached(self) -> list[int]:
        return [e for e in self.epochs if e is not None]


def _reaches(value: float | None, threshold: float, direction: str) -> bool:
    return value is not None and math.isfinite(value) and (value >= threshold if direction == "maximize" else value <= threshold)


def _seconds(epoch: int | None, history: Sequence[float | None], wall_times: Sequence[float], seed: int) -> float | None:
    if epoch is None or seed >= len(wall_times) or not history:
        return None
    return wall_times[seed] * epoch / len(history)


def time_to(
    label: str, histories: Histories, wall_times: Sequence[float], threshold: float, *, direction: str, target: str
) -> TimeTo:
    """The first epoch (from 1) at which each seed's validation value reached ``threshold``."""
    epochs = [next((e for e, v in enumerate(h, start=1) if _reaches(v, threshold, direction)), None) for h in histories]
    seconds = [_seconds(e, h, wall_times, i) for i, (e, h) in enumerate(zip(epochs, histories, strict=True))]
    return TimeTo(label, target, epochs, seconds)


def time_to_best(label: str, histories: Histories, wall_times: Sequence[float], *, direction: str) -> TimeTo:
    """The epoch at which each seed reached its own best validation value: its useful training."""
    pick = max if direction == "maximize" else min
    epochs: list[int | None] = []
    for history in histories:
        finite = [v for v in history if v is not None and math.isfinite(v)]
        epochs.append(history.index(pick(finite)) + 1 if finite else None)  # the earliest epoch of the best value
    seconds = [_seconds(e, h, wall_times, i) for i, (e, h) in enumerate(zip(epochs, histories, strict=True))]
    return TimeTo(label, "its own best", epochs, seconds)


def compare_times(arm: TimeTo, reference: TimeTo, *, unit: str) -> Verdict:
    """``arm`` against ``reference`` in ``unit`` ("epochs" or "seconds"): fewer is better."""
    values = {"epochs": lambda t: t.epochs, "seconds": lambda t: t.seconds}[unit]
    a, b = values(arm), values(reference)
    missing = [
        f"{t.label}: {sum(v is None for v in vs)} of {len(vs)} seeds never reached {t.target}"
        for t, vs in ((arm, a), (reference, b))
        if any(v is None for v in vs)
    ]
    if missing:
        sentence = f"{unit} to reach: {arm.label} cannot be compared with {reference.label} ({'; '.join(missing)})"
        return Verdict(
            arm.label,
            reference.label,
            unit,
            "cannot compare",
            math.nan,
            math.nan,
            math.nan,
            len(a),
            len(b),
            "welch",
            0.95,
            sentence,
        )
    return compare(
        Arm(arm.label, a),
        Arm(reference.label, b),
        metric=unit,
        direction="minimize",
        context=f"{unit} to reach {arm.target} (the reference: {reference.target})",
    )


def time_to_html(rows: Sequence[tuple[TimeTo, TimeTo]]) -> str:
    """A table of (arm, reference) pairs: seeds that reached, epochs and seconds with 95 % intervals, verdicts."""
    from momentum_search.studies import mean_interval

    def cell(values: Sequence[float | None], digits: str) -> str:
        reached = [v for v in values if v is not None]
        if not reached:
            return "–"
        mean = sum(reached) / len(reached)
        interval = mean_interval(reached)
        spread = "" if interval is None else f" [{interval[0]:{digits}}, {interval[1]:{digits}}]"
        return f"{mean:{digits}}{spread}"

    table, sentences = [], []
    for arm, reference in rows:
        verdicts = [compare_times(arm, reference, unit=unit) for unit in ("epochs", "seconds")]
        for t in (arm, reference):
            table.append(
                [
                    t.label,
                    t.target,
                    f"{len(t.reached)} / {len(t.epochs)}",
                    cell(t.epochs, ".3g"),
                    cell(t.seconds, ".3g"),
                    verdicts[0].outcome if t is arm else "reference",
                ]
            )
        sentences += [v.sentence for v in verdicts]
    columns = ["arm", "reaching", "seeds reached", "epochs [95 % CI]", "seconds [95 % CI]", "epochs verdict"]
    return (
        html_table(columns, table, numeric={2, 3, 4})
        + "<ul>"
        + "".join(f"<li>{html.escape(s)}</li>" for s in sentences)
        + "</ul>"
    )
