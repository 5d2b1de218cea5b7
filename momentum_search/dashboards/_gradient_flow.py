"""Gradient flow: ‖∂L/∂h_t‖ over time of each kind's best configuration (the paper's Fig. 2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from momentum_search.dashboards._style import color
from momentum_search.dashboards._trials import FigureUnavailableError, StudyTrials

if TYPE_CHECKING:
    import plotly.graph_objects as go


class FlowSeries(NamedTuple):
    cell: str
    number: int  # the trial (its first seed) the norms were measured on
    t: list[int]  # time steps, 1..T (evenly thinned for long sequences)
    init: list[float]  # ‖∂L/∂h_t‖ at initialisation
    trained: list[float]  # ‖∂L/∂h_t‖ of the best validation epoch's model
    loss_init: float  # the loss L the norms are taken of, on the same batch
    loss_trained: float
    epochs: list[int]  # the trial's first-seed validation curve, drawn beside it
    values: list[float | None]  # None where an epoch diverged
    label: str | None = None  # the legend's name; default "CELL (trial N)"


class GradientFlowInfo(NamedTuple):
    metric: str
    series: list[FlowSeries]


def get_gradient_flow_info(trials: StudyTrials) -> GradientFlowInfo:
    """‖∂L/∂h_t‖ of the last layer over time for the best configuration of each cell kind (the
    paper's Fig. 2), after training and at initialisation, with the loss it is taken of and the
    trial's validation curve: each trial measured it on its first seed's first validation batch.
    """
    series = []
    for cell in trials.cells:
        best = trials.best(t for t in trials.complete(cell) if t.gradient_flow and "trained" in t.gradient_flow)
        if best is None:
            continue
        flow = best.gradient_flow
        assert flow is not None  # chosen among those with one
        init, trained = flow["init"], flow["trained"]
        series.append(
            FlowSeries(
                cell,
                best.number,
                trained["t"],
                init["norms"],
                trained["norms"],
                init["loss"],
                trained["loss"],
                [epoch for epoch, _ in best.curve],
                [value for _, value in best.curve],
            )
        )
    if not series:
        raise FigureUnavailableError("no complete trial recorded its gradient flow (trials before momentum-search 0.2 did not)")
    return GradientFlowInfo(trials.metric, series)


def plot_gradient_flow(info: GradientFlowInfo) -> go.Figure:
    """Left: ‖∂L/∂h_t‖ over time steps, log scale, of each kind's best configuration after training
    (solid) and at initialisation (dotted), the loss L in the legend; right: that trial's validation curve."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.62, 0.38],
        horizontal_spacing=0.1,
        subplot_titles=("‖∂L/∂h_t‖ on a validation batch", f"validation {info.metric} (first seed)"),
    )
    figure.update_layout(
        template="plotly_white",
        height=480,
        margin={"t": 90, "l": 70, "r": 30, "b": 60},
        title={"text": "Gradient flow after training (solid) and at initialisation (dotted), best configuration per cell kind"},
    )
    for series in info.series:
        hue = color(series.cell)
        for norms, loss, when, dash in (
            (series.trained, series.loss_trained, "trained", "solid"),
            (series.init, series.loss_init, "init", "dot"),
        ):
            # A log axis cannot show 0 (steps the loss does not reach): leave them out.
            points = [(t, v) for t, v in zip(series.t, norms, strict=True) if v > 0]
            figure.add_trace(
                go.Scatter(
                    x=[t for t, _ in points],
                    y=[v for _, v in points],
                    mode="lines",
                    legendgroup=series.cell,
                    name=f"{series.label or f'{series.cell} (trial {series.number})'} {when}, L = {loss:.3g}",
                    line={"color": hue, "dash": dash},
                    hovertemplate=f"t %{{x}}: %{{y:.3g}}<extra>{series.cell} {when}</extra>",
                ),
                row=1,
                col=1,
            )
        figure.add_trace(
            go.Scatter(
                x=series.epochs,
                y=series.values,
                mode="lines+markers",
                legendgroup=series.cell,
                showlegend=False,
                line={"color": hue},
                hovertemplate=f"epoch %{{x}}: %{{y:.4g}}<extra>{series.cell}</extra>",
            ),
            row=1,
            col=2,
        )
    figure.update_xaxes(title_text="time step t", row=1, col=1)
    figure.update_yaxes(title_text="‖∂L/∂h_t‖", type="log", row=1, col=1)
    figure.update_xaxes(title_text="epoch", row=1, col=2)
    figure.update_yaxes(title_text=info.metric, row=1, col=2)
    return figure
