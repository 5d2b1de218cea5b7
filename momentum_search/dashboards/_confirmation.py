"""What every view leads with: each candidate's value on held-out seeds, its interval, and a verdict.

The data comes from :func:`momentum_search.studies.read_confirmation`; here it becomes rows with the
verdict of each confirmed kind against the plain cell of its base (momentum-lstm against lstm), and,
where the study searched μ = 0, of the best μ > 0 against the best μ = 0 (the paper's question).
A value that is not confirmed is marked as the search's optimistic value.
"""

from __future__ import annotations

import html
from typing import NamedTuple

from momentum_search.dashboards._html import html_table
from momentum_search.dashboards._time_to import TimeTo, time_to, time_to_best
from momentum_search.dashboards._trials import format_params
from momentum_search.dashboards._verdicts import Arm, Verdict, compare, format_interval
from momentum_search.search import CELL_PARAMETER
from momentum_search.studies import Confirmation, Confirmed

OPTIMISTIC = "search value, not confirmed (optimistic)"


class ConfirmationRow(NamedTuple):
    cell: str
    roles: tuple[str, ...]
    source: int  # the search trial
    params: dict[str, object]  # without the cell
    search_value: float  # mean over the search seeds: the optimistic value
    search_seeds: int
    searched: int | None  # configurations of its kind the search trained, its best chosen among them; None: not read
    status: str  # "confirmed", "not confirmed", or the confirmation trial's state and reason
    mean: float | None  # on the held-out seeds, when confirmed
    low: float | None  # its 95 % interval
    high: float | None
    seeds: int  # held-out seeds behind ``mean``
    test_mean: float | None
    baseline: bool  # a plain kind, the reference of its base's verdicts
    verdict: Verdict | None  # against the plain cell of the same base; None for a baseline or without one


class ConfirmationInfo(NamedTuple):
    study: str
    metric: str
    direction: str
    held_out: tuple[int, ...]  # () before the first confirmation
    rows: list[ConfirmationRow]
    verdicts: list[Verdict]  # against the plain cell, then μ > 0 against μ = 0
    times: list[
        tuple[TimeTo, TimeTo]
    ]  # each confirmed kind's time to its plain cell's confirmed value, and the plain cell's to its best

    @property
    def confirmed(self) -> bool:
        return bool(self.rows) and all(row.status == "confirmed" for row in self.rows)


def get_confirmation_info(confirmation: Confirmation) -> ConfirmationInfo:
    metric, direction = confirmation.metric, confirmation.direction

    def verdict(row: Confirmed, reference: Confirmed | None, context: str) -> Verdict | None:
        if reference is None or reference is row or not (row.confirmed and reference.confirmed):
            return None
        return compare(
            Arm(_label(row), row.seed_values),
            Arm(_label(reference), reference.seed_values),
            metric=metric,
            direction=direction,
            context=context,
        )

    held_out = f"on {len(confirmation.seeds)} held-out seeds"
    rows, verdicts, times = [], [], []
    for row in confirmation.rows:
        candidate = row.candidate
        baseline = confirmation.baseline_of(candidate.cell)
        against_plain = None if candidate.baseline else verdict(row, baseline, held_out)
        if against_plain is not None:
            verdicts.append(against_plain)
            assert baseline is not None and baseline.mean is not None
            target = f"{_label(baseline)}'s {baseline.mean:.4g}"
            times.append(
                (
                    time_to(_label(row), row.histories, row.wall_times, baseline.mean, direction=direction, target=target),
                    time_to_best(_label(baseline), baseline.histories, baseline.wall_times, direction=direction),
                )
            )
        interval = row.interval
        status = (
            "confirmed"
            if row.confirmed
            else "not confirmed"
            if row.state is None
            else (f"{row.state.lower()}" + (f": {row.reason}" if row.reason else ""))
        )
        rows.append(
            ConfirmationRow(
                candidate.cell,
                candidate.roles,
                candidate.source,
                {k: v for k, v in candidate.params.items() if k != CELL_PARAMETER},
                candidate.search_value,
                len(candidate.search_seeds),
                confirmation.searched.get(candidate.cell),
                status,
                row.mean,
                None if interval is None else interval[0],
                None if interval is None else interval[1],
                len(row.seed_values) if row.confirmed else 0,
                row.test_mean,
                candidate.baseline,
                against_plain,
            )
        )
    for cell in dict.fromkeys(row.candidate.cell for row in confirmation.rows):
        positive, zero = confirmation.with_role(f"best μ > 0 ({cell})"), confirmation.with_role(f"best μ = 0 ({cell})")
        if positive is not None:
            paper = verdict(positive, zero, f"{cell}, each side's best chosen on the search seeds, {held_out}")
            if paper is not None:
                verdicts.append(paper)
    return ConfirmationInfo(confirmation.study, metric, direction, confirmation.seeds, rows, verdicts, times)


def _label(row: Confirmed) -> str:
    candidate = row.candidate
    params = {k: v for k, v in candidate.params.items() if k != CELL_PARAMETER}
    return f"{candidate.cell} ({format_params(params)})" if params else candidate.cell


def confirmation_columns(info: ConfirmationInfo) -> list[str]:
    return [
        "cell",
        "why",
        "trial",
        "parameters",
        f"search {info.metric} (optimistic)",
        f"confirmed {info.metric} [95 % CI]",
        f"test {info.metric}",
        "verdict vs plain cell",
    ]


def confirmation_cells(info: ConfirmationInfo) -> list[list[str]]:
    """Table cells: every number with the seeds behind it; an unconfirmed value says it is optimistic."""
    table = []
    for row in info.rows:
        chosen = "" if row.searched is None else f"; best of {row.searched} configs" if row.searched > 1 else "; 1 config"
        search = f"{row.search_value:.4g} ({_seeds(row.search_seeds)}{chosen})"
        if row.mean is not None and row.low is not None and row.high is not None:
            confirmed = f"{row.mean:.4g} [{row.low:.4g}, {row.high:.4g}] ({_seeds(row.seeds)})"
        else:
            confirmed = row.status
        verdict = "baseline" if row.baseline else "–" if row.verdict is None else _short(row.verdict)
        table.append(
            [
                row.cell,
                ", ".join(row.roles),
                str(row.source),
                format_params(row.params) or "–",
                search,
                confirmed,
                "–" if row.test_mean is None else f"{row.test_mean:.4g}",
                verdict,
            ]
        )
    return table


def _short(verdict: Verdict) -> str:
    d, lo, hi = format_interval(verdict.diff, verdict.low, verdict.high, verdict.metric)
    return f"{verdict.outcome} (Δ {d}, CI {lo} … {hi})"


def _seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def headline(info: ConfirmationInfo) -> str:
    """One sentence above the table: confirmed on which seeds, or why the values are optimistic."""
    if info.confirmed:
        return (
            f"Confirmed on {len(info.held_out)} held-out seeds ({', '.join(map(str, info.held_out))}) that no "
            f"search trial used; intervals are 95 % t intervals of the mean."
        )
    if not info.held_out:
        return (
            f"Not confirmed: the values are the search's, the best of many noisy runs, so they are optimistic. "
            f"Run `momentum-search confirm {info.study}` to retrain them on held-out seeds."
        )
    return (
        f"Partly confirmed on {len(info.held_out)} held-out seeds; rows marked otherwise show the search's "
        f"optimistic value. Run `momentum-search confirm {info.study}` to confirm the rest."
    )


def confirmation_html(info: ConfirmationInfo) -> str:
    """The headline, the table and the verdict sentences, an HTML fragment in the report's style."""

    css = "" if info.confirmed else ' class="unavailable"'
    parts = [
        f"<p{css}>{html.escape(headline(info))}</p>",
        html_table(confirmation_columns(info), confirmation_cells(info), numeric={2, 4, 5, 6}),
    ]
    if info.verdicts:
        parts.append("<ul>" + "".join(f"<li>{html.escape(v.sentence)}</li>" for v in info.verdicts) + "</ul>")
    return "".join(parts)


def confirmation_json(info: ConfirmationInfo) -> dict[str, object]:
    """The info for ``--json``: each row with its numbers, seeds and verdict sentence."""
    rows = [
        {
            "cell": row.cell,
            "roles": list(row.roles),
            "source_trial": row.source,
            "params": row.params,
            "search_value": row.search_value,
            "search_seeds": row.search_seeds,
            "searched": row.searched,
            "status": row.status,
            "confirmed_mean": row.mean,
            "ci95": None if row.low is None else [row.low, row.high],
            "held_out_seeds": row.seeds,
            "test_mean": row.test_mean,
            "verdict": None
            if row.verdict is None
            else {
                "outcome": row.verdict.outcome,
                "diff": row.verdict.diff,
                "ci": [row.verdict.low, row.verdict.high],
                "sentence": row.verdict.sentence,
            },
        }
        for row in info.rows
    ]
    return {
        "study": info.study,
        "metric": info.metric,
        "direction": info.direction,
        "held_out": list(info.held_out),
        "confirmed": info.confirmed,
        "headline": headline(info),
        "rows": rows,
        "verdicts": [v.sentence for v in info.verdicts],
    }
