"""The optimization history: each trial's value and the best so far."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from momentum_search.dashboards._style import PRUNED_COLOR, better_hint, color, new_figure
from momentum_search.dashboards._trials import MAX_POINTS, FigureUnavailableError, StudyTrials, pruned_drawn, shown

if TYPE_CHECKING:
    import plotly.graph_objects as go


class HistoryInfo(NamedTuple):
    metric: str
    direction: str
    numbers: list[int]  # COMPLETE trials
    values: list[float]
    cells: list[str | None]
    best_so_far: list[float]  # best value among trials numbered ≤ numbers[i]
    pruned_numbers: list[int]  # PRUNED trials with a reported value
    pruned_values: list[float]  # their last reported value


def get_history_info(trials: StudyTrials) -> HistoryInfo:
    complete = sorted(trials.complete(), key=lambda t: t.number)
    if not complete:
        raise FigureUnavailableError("no complete trial yet")
    best_so_far: list[float] = []
    for t in complete:
        assert t.value is not None
        best_so_far.append(t.value if not best_so_far or trials.better(t.value, best_so_far[-1]) else best_so_far[-1])
    # Every trial counts toward the best so far; the figure draws up to MAX_POINTS of them.
    best_at = {t.number: best for t, best in zip(complete, best_so_far, strict=True)}
    complete = shown(complete, trials.direction, MAX_POINTS // 2)
    pruned = [t for t in pruned_drawn(trials.trials, trials.direction) if t.curve]
    return HistoryInfo(
        trials.metric,
        trials.direction,
        [t.number for t in complete],
        [t.scored for t in complete],
        [t.cell for t in complete],
        [best_at[t.number] for t in complete],
        [t.number for t in pruned],
        [t.curve[-1][1] for t in pruned],
    )


def plot_history(info: HistoryInfo) -> go.Figure:
    """Each complete trial's value and the best so far; pruned trials at their last reported value."""
    import plotly.graph_objects as go

    figure = new_figure(
        f"Optimization history ({info.metric}, {better_hint(info.direction)})",
        xaxis={"title": {"text": "trial"}},
        yaxis={"title": {"text": info.metric}},
    )
    for cell in dict.fromkeys(info.cells):
        picked = [i for i, c in enumerate(info.cells) if c == cell]
        figure.add_trace(
            go.Scatter(
                x=[info.numbers[i] for i in picked],
                y=[info.values[i] for i in picked],
                mode="markers",
                name=str(cell),
                marker={"color": color(cell), "size": 8},
                hovertemplate="trial %{x}: %{y:.4g}<extra>" + str(cell) + "</extra>",
            )
        )
    if info.pruned_numbers:
        figure.add_trace(
            go.Scatter(
                x=info.pruned_numbers,
                y=info.pruned_values,
                mode="markers",
                name="pruned (last value)",
                marker={"symbol": "x", "color": PRUNED_COLOR, "size": 8},
                hovertemplate="trial %{x} pruned at %{y:.4g}<extra></extra>",
            )
        )
    figure.add_trace(
        go.Scatter(x=info.numbers, y=info.best_so_far, mode="lines", name="best so far", line={"shape": "hv", "color": "black"})
    )
    return figure
