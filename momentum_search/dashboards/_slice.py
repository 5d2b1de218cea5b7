"""Slices: the objective against one parameter, a series per cell kind, seeds as error bars."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from momentum_search.dashboards._style import axis_title, better_hint, color, new_figure, with_seeds
from momentum_search.dashboards._trials import LABELS, MAX_POINTS, FigureUnavailableError, StudyTrials, log_scale, shown

if TYPE_CHECKING:
    import plotly.graph_objects as go


class SliceSeries(NamedTuple):
    cell: str
    numbers: list[int]
    x: list[float]
    y: list[float]  # mean over seeds
    std: list[float | None]  # seed spread: the error bars; None for one seed
    seeds: list[int]


class SliceInfo(NamedTuple):
    param: str
    log: bool
    metric: str
    direction: str
    series: list[SliceSeries]  # one per cell kind that searches the parameter


def get_slice_info(trials: StudyTrials, param: str) -> SliceInfo:
    if param not in LABELS:
        raise ValueError(f"param must be one of {', '.join(LABELS)}; got {param!r}")
    series = []
    for cell in trials.cells:
        records = sorted((t for t in trials.finished(cell) if param in t.params), key=lambda t: t.params[param])
        records = shown(records, trials.direction, MAX_POINTS // max(1, len(trials.cells)))
        if records:
            series.append(
                SliceSeries(
                    cell,
                    [t.number for t in records],
                    [float(t.params[param]) for t in records],
                    [t.scored for t in records],
                    [t.std if len(t.seed_values) > 1 else None for t in records],
                    [len(t.seed_values) for t in records],
                )
            )
    if not series:
        raise FigureUnavailableError(f"{LABELS[param]} is not searched by any complete trial (fixed or unused)")
    return SliceInfo(param, log_scale(trials.distributions.get(param)), trials.metric, trials.direction, series)


def searched_parameters(trials: StudyTrials) -> list[str]:
    return [p for p in LABELS if any(p in t.params for t in trials.trials)]


def plot_slice(info: SliceInfo) -> go.Figure:
    """The objective against one parameter, error bars = spread over seeds."""
    import plotly.graph_objects as go

    label = LABELS[info.param]
    figure = new_figure(
        f"{info.metric} against {label} ({better_hint(info.direction)}; error bars: std over seeds)",
        xaxis={"title": {"text": axis_title(info.param)}, "type": "log" if info.log else "linear"},
        yaxis={"title": {"text": info.metric}},
    )
    for series in info.series:
        figure.add_trace(
            go.Scatter(
                x=series.x,
                y=series.y,
                mode="markers",
                name=series.cell,
                error_y={"type": "data", "array": series.std, "visible": True},
                marker={"color": color(series.cell), "size": 8},
                customdata=[
                    [n, with_seeds(y, sd, k)]
                    for n, y, sd, k in zip(series.numbers, series.y, series.std, series.seeds, strict=True)
                ],
                hovertemplate=f"trial %{{customdata[0]}}: {label} %{{x:.3g}}<br>%{{customdata[1]}}<extra>{series.cell}</extra>",
            )
        )
    return figure
