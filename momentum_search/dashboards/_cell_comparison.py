"""Cell against cell: each kind's best configuration, on held-out seeds once confirmed."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, NamedTuple

from momentum_search.dashboards._confirmation import ConfirmationInfo, ConfirmationRow
from momentum_search.dashboards._style import better_hint, color, new_figure
from momentum_search.dashboards._trials import FigureUnavailableError, StudyTrials, is_baseline

if TYPE_CHECKING:
    import plotly.graph_objects as go


class CellStats(NamedTuple):
    cell: str
    baseline: bool  # a plain kind: no momentum, μ = 0
    trials: int  # COMPLETE trials
    best_number: int
    best: float  # the search's value of the kind's best trial: optimistic
    best_std: float | None  # seed spread of the best trial; None for one seed
    best_seeds: int
    best_test: float | None
    mean: float  # over the kind's COMPLETE trials
    std: float | None  # sample spread over those trials; None for one
    confirmed: ConfirmationRow | None  # the kind's best retrained on held-out seeds, once confirmed


class CellComparisonInfo(NamedTuple):
    metric: str
    direction: str
    rows: list[CellStats]  # kinds with at least one COMPLETE trial, in the study's order
    missing: list[str]  # kinds without one
    held_out: int  # held-out seeds behind the confirmed values (0: none confirmed)


def get_cell_comparison_info(trials: StudyTrials, confirmation: ConfirmationInfo | None = None) -> CellComparisonInfo:
    """Each kind's best search trial, and its value on held-out seeds where ``confirmation`` has it."""
    confirmed = {
        row.cell: row
        for row in (confirmation.rows if confirmation else [])
        if f"best {row.cell}" in row.roles and row.mean is not None
    }
    rows, missing = [], []
    for cell in trials.cells:
        records = trials.complete(cell)
        best = trials.best(records)
        if best is None:
            missing.append(cell)
            continue
        values = [t.value for t in records if t.value is not None]
        rows.append(
            CellStats(
                cell,
                is_baseline(cell),
                len(records),
                best.number,
                best.scored,
                best.std if len(best.seed_values) > 1 else None,
                len(best.seed_values),
                best.test_value,
                statistics.fmean(values),
                statistics.stdev(values) if len(values) > 1 else None,
                confirmed.get(cell),
            )
        )
    if not rows:
        raise FigureUnavailableError("no complete trial yet")
    held_out = max((row.seeds for row in confirmed.values()), default=0)
    return CellComparisonInfo(trials.metric, trials.direction, rows, missing, held_out)


def plot_cell_comparison(info: CellComparisonInfo) -> go.Figure:
    """Bars: each kind's best configuration retrained on held-out seeds (95 % interval), once confirmed;
    hatched bars: its value in the search (optimistic), ± its seed spread when it had several seeds;
    diamonds' bars: mean ± std over the kind's trials. Every bar says how many seeds or trials it holds."""
    import plotly.graph_objects as go

    labels = [f"{r.cell} (baseline)" if r.baseline else r.cell for r in info.rows]
    colors = [color(r.cell) for r in info.rows]
    title = "confirmed on held-out seeds" if info.held_out else "search values only, not confirmed (optimistic)"
    figure = new_figure(
        f"Is it momentum? {info.metric} of each cell kind ({better_hint(info.direction)}), {title}",
        xaxis={"title": {"text": "cell kind"}},
        yaxis={"title": {"text": info.metric}},
        barmode="group",
    )
    if info.held_out:
        rows = [r.confirmed for r in info.rows]
        figure.add_trace(
            go.Bar(
                x=labels,
                y=[None if c is None else c.mean for c in rows],
                name="confirmed: mean on held-out seeds, 95 % CI",
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "visible": True,
                    "array": [None if c is None else c.high - c.mean for c in rows],  # type: ignore[operator]
                    "arrayminus": [None if c is None else c.mean - c.low for c in rows],  # type: ignore[operator]
                },
                marker={"color": colors},
                text=["not confirmed" if c is None else f"{c.mean:.4g}<br>n={c.seeds}" for c in rows],
                textposition="inside",
                insidetextanchor="start",
                customdata=[["–", "–", "–"] if c is None else [c.source, f"{c.low:.4g} … {c.high:.4g}", c.seeds] for c in rows],
                hovertemplate="trial %{customdata[0]} confirmed: %{y:.4g}, 95 % CI %{customdata[1]} "
                "(%{customdata[2]} held-out seeds)<extra>%{x}</extra>",
            )
        )
    figure.add_trace(
        go.Bar(
            x=labels,
            y=[r.best for r in info.rows],
            name="search best (optimistic), ± std over its seeds",
            error_y={"type": "data", "array": [r.best_std for r in info.rows], "visible": True},
            marker={
                "color": colors,
                "opacity": 0.55 if info.held_out else 1.0,
                "pattern": {"shape": "x" if info.held_out else ""},
            },
            text=[f"{r.best:.4g}<br>n={r.best_seeds}" for r in info.rows],
            textposition="inside",
            insidetextanchor="start",
            customdata=[[r.best_number, r.best_seeds, "–" if r.best_test is None else f"{r.best_test:.4g}"] for r in info.rows],
            hovertemplate="search best: trial %{customdata[0]}, %{y:.4g} on %{customdata[1]} seed(s), "
            "test %{customdata[2]}<extra>%{x}</extra>",
        )
    )
    figure.add_trace(
        go.Bar(
            x=labels,
            y=[r.mean for r in info.rows],
            name="mean ± std over the kind's trials",
            error_y={"type": "data", "array": [r.std for r in info.rows], "visible": True},
            marker={"color": colors, "opacity": 0.3, "pattern": {"shape": "/"}},
            customdata=[r.trials for r in info.rows],
            text=[f"{r.mean:.4g}<br>{r.trials} trials" for r in info.rows],
            textposition="inside",
            insidetextanchor="start",
            hovertemplate="mean of %{customdata} trials: %{y:.4g}<extra>%{x}</extra>",
        )
    )
    return figure
