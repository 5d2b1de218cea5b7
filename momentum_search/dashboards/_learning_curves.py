"""Learning curves: the validation metric per epoch of every trial's first seed."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from momentum_search.dashboards._style import PRUNED_COLOR, color, new_figure
from momentum_search.dashboards._trials import FigureUnavailableError, StudyTrials, curves_drawn

if TYPE_CHECKING:
    import plotly.graph_objects as go


class Curve(NamedTuple):
    number: int
    cell: str | None
    state: str
    epochs: list[int]
    values: list[float]
    reason: str | None


class CurvesInfo(NamedTuple):
    metric: str
    direction: str
    curves: list[Curve]  # every trial with at least one reported epoch, up to MAX_CURVES (see shown)


def get_curves_info(trials: StudyTrials) -> CurvesInfo:
    curves = [
        Curve(t.number, t.cell, t.state, [e for e, _ in t.curve], [v for _, v in t.curve], t.reason)
        for t in curves_drawn(trials.trials, trials.direction)
        if t.curve
    ]
    if not curves:
        raise FigureUnavailableError("no trial has reported a validation value yet")
    return CurvesInfo(trials.metric, trials.direction, curves)


def plot_learning_curves(info: CurvesInfo) -> go.Figure:
    """Validation metric per epoch of every trial (first seed); pruned ones dashed, ending in ×."""
    import numpy as np
    import plotly.graph_objects as go

    figure = new_figure(
        f"Learning curves: validation {info.metric} per epoch (first seed; pruned dashed, ×)",
        xaxis={"title": {"text": "epoch"}},
        yaxis={"title": {"text": info.metric}},
    )
    # One trace per cell kind and state, its curves separated by gaps (NaN), as numpy arrays: a trace per
    # trial, or lists, make the figure of a 10,000-trial study take 20 s to build.
    groups: dict[tuple[str | None, str], list[Curve]] = {}
    for curve in info.curves:
        groups.setdefault((curve.cell, curve.state), []).append(curve)
    shown: set[str | None] = set()
    for (cell, state), curves in groups.items():
        x = np.concatenate([np.array([*c.epochs, np.nan]) for c in curves])
        y = np.concatenate([np.array([*c.values, np.nan]) for c in curves])
        numbers = np.concatenate([np.full(len(c.epochs) + 1, c.number, dtype=float) for c in curves])
        figure.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                name=str(cell),
                legendgroup=str(cell),
                showlegend=cell not in shown,
                opacity=0.8,
                line={"color": color(cell), "dash": "dash" if state == "PRUNED" else "solid", "width": 1.5},
                customdata=numbers,
                hovertemplate=f"trial %{{customdata:d}} ({state.lower()}) epoch %{{x}}: %{{y:.4g}}<extra>{cell}</extra>",
            )
        )
        shown.add(cell)
    ends = [c for c in info.curves if c.state == "PRUNED"]
    if ends:
        figure.add_trace(
            go.Scatter(
                x=[c.epochs[-1] for c in ends],
                y=[c.values[-1] for c in ends],
                mode="markers",
                name="pruned",
                marker={"symbol": "x", "color": PRUNED_COLOR, "size": 9},
                customdata=[[c.number, c.reason or ""] for c in ends],
                hovertemplate="trial %{customdata[0]} %{customdata[1]}<extra></extra>",
            )
        )
    return figure
