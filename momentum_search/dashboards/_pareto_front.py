"""The Pareto front of the metric against training time, for studies with both objectives."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from momentum_search.dashboards._style import better_hint, color, new_figure
from momentum_search.dashboards._trials import MAX_POINTS, FigureUnavailableError, StudyTrials, shown
from momentum_search.search import pareto_front

if TYPE_CHECKING:
    import plotly.graph_objects as go


class ParetoPoint(NamedTuple):
    number: int
    cell: str | None
    value: float
    train_time: float
    on_front: bool


class ParetoInfo(NamedTuple):
    metric: str
    direction: str
    points: list[ParetoPoint]  # every COMPLETE trial


def get_pareto_info(trials: StudyTrials) -> ParetoInfo:
    if trials.objectives != 2:
        raise FigureUnavailableError("the study has one objective; add objective.train_time for a Pareto front")
    records = [t for t in trials.complete() if t.train_time is not None]
    if not records:
        raise FigureUnavailableError("no complete trial yet")

    front = {t.number for t in pareto_front(records, [trials.direction, "minimize"])}
    # The whole front, and the other trials thinned to what a scatter draws.
    others = shown([t for t in records if t.number not in front], trials.direction, max(0, MAX_POINTS - len(front)))
    records = sorted([t for t in records if t.number in front] + others, key=lambda t: t.number)
    points = [
        ParetoPoint(t.number, t.cell, t.scored, time, t.number in front) for t in records if (time := t.train_time) is not None
    ]  # all of them: filtered above
    return ParetoInfo(trials.metric, trials.direction, points)


def plot_pareto_front(info: ParetoInfo) -> go.Figure:
    """Metric against training time; the Pareto-optimal trials joined by a line."""
    import plotly.graph_objects as go

    figure = new_figure(
        f"Pareto front: {info.metric} ({better_hint(info.direction)}) against training time",
        xaxis={"title": {"text": "training time per seed [s]"}},
        yaxis={"title": {"text": info.metric}},
    )
    for cell in dict.fromkeys(p.cell for p in info.points):
        points = [p for p in info.points if p.cell == cell]
        figure.add_trace(
            go.Scatter(
                x=[p.train_time for p in points],
                y=[p.value for p in points],
                mode="markers",
                name=str(cell),
                marker={
                    "color": color(cell),
                    "size": [12 if p.on_front else 7 for p in points],
                    "line": {"width": [2 if p.on_front else 0 for p in points], "color": "black"},
                },
                customdata=[p.number for p in points],
                hovertemplate="trial %{customdata}: %{y:.4g} in %{x:.3g} s<extra>" + str(cell) + "</extra>",
            )
        )
    front = sorted((p for p in info.points if p.on_front), key=lambda p: p.train_time)
    figure.add_trace(
        go.Scatter(
            x=[p.train_time for p in front],
            y=[p.value for p in front],
            mode="lines",
            name="Pareto front",
            line={"shape": "hv", "color": "black", "dash": "dot"},
        )
    )
    return figure
