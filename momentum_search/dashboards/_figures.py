"""Renderers: each turns one info (see ``_info.py``) into a plotly figure, computing nothing new."""

from __future__ import annotations

from typing import TYPE_CHECKING

from momentum_search.dashboards._info import (
    CellComparisonInfo,
    Curve,
    CurvesInfo,
    GradientFlowInfo,
    HistoryInfo,
    ImportanceInfo,
    MomentumZeroInfo,
    MuSMapInfo,
    ParetoInfo,
    SliceInfo,
)
from momentum_search.dashboards._trials import LABELS
from momentum_search.search import GAIN
from momentum_search.trainers import CELL_KINDS

if TYPE_CHECKING:
    import plotly.graph_objects as go

PRUNED_COLOR = "black"
# A hue per drive (the usual study compares drives on one base cell), lighter or darker per base cell.
_VARIANT_COLORS = {"plain": (31, 119, 180), "momentum": (44, 160, 44), "nag": (148, 103, 189),
                   "sr": (140, 86, 75), "adam": (255, 127, 14), "rmsprop": (214, 39, 40),
                   "learnable-momentum": (23, 190, 207)}  # fmt: skip
_BASE_SHADES = {"lstm": 0.0, "gru": -0.4, "rnn": 0.35, "exprnn": 0.6}  # < 0 towards black, > 0 towards white


def _color(cell: str | None) -> str:
    """One colour per cell kind, the same in every figure and every study."""
    if cell not in CELL_KINDS:
        return "#7f7f7f"
    kind = CELL_KINDS[cell]
    shade = _BASE_SHADES[kind.base]
    target = 255 if shade > 0 else 0
    r, g, b = (round(c + abs(shade) * (target - c)) for c in _VARIANT_COLORS[kind.variant])
    return f"#{r:02x}{g:02x}{b:02x}"


def _better(direction: str) -> str:
    return "higher is better" if direction == "maximize" else "lower is better"


def _axis_title(param: str) -> str:
    return "g = s/(1−μ)" if param == GAIN else LABELS[param]


def _with_seeds(value: float, std: float | None, seeds: int) -> str:
    """A value with the seeds behind it, and its spread only where there is one."""
    return f"{value:.4g} ± {std:.2g} ({seeds} seeds)" if std is not None else f"{value:.4g} ({seeds} seed{'s' * (seeds != 1)})"


def _figure(title: str, **layout: object) -> go.Figure:
    import plotly.graph_objects as go

    figure = go.Figure()
    defaults = {"template": "plotly_white", "height": 480, "margin": {"t": 70, "l": 70, "r": 30, "b": 60}}
    figure.update_layout(title={"text": title}, **{**defaults, **layout})
    return figure


def plot_mu_s_map(info: MuSMapInfo) -> go.Figure:
    """Heat map of the grid (mean ± std in each cell), or a contour with the trials as points."""
    import plotly.graph_objects as go

    label = LABELS[info.axis]
    yaxis = {"title": {"text": _axis_title(info.axis)}}
    colorbar = {"title": {"text": info.metric}}
    # Yellow is better either way: the scale flips for metrics to minimise.
    scale = {"colorscale": "Viridis", "reversescale": info.direction == "minimize"}
    mark = "□" if info.grid else "★"
    title = f"{info.cell}: {info.metric} over μ × {label} ({_better(info.direction)}; best {mark} trial {info.best.number})"
    if info.grid:
        figure = _figure(title, xaxis={"title": {"text": "μ"}, "type": "category"}, yaxis={**yaxis, "type": "category"})
        assert info.z is not None and info.z_std is not None
        text = [
            ["" if v is None else f"{v:.4g}" + ("" if sd is None else f"<br>± {sd:.2g}") for v, sd in zip(row, row_std, strict=True)]
            for row, row_std in zip(info.z, info.z_std, strict=True)
        ]  # fmt: skip
        seeds = {p.seeds for p in info.points}
        title += f", {'/'.join(map(str, sorted(seeds)))} seed(s) per cell"
        figure.add_trace(go.Heatmap(
            x=[f"{m:g}" for m in info.mu], y=[f"{s:g}" for s in info.s], z=info.z, text=text,
            texttemplate="%{text}", colorbar=colorbar, hovertemplate=f"μ %{{x}}, {label} %{{y}}<br>%{{text}}<extra></extra>",
            name=info.cell, **scale,
        ))  # fmt: skip
        # Outline the best cell rather than cover its numbers (category i sits at coordinate i).
        j, i = info.mu.index(info.best.mu), info.s.index(info.best.s)
        figure.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5,
                         line={"color": "black", "width": 3})  # fmt: skip
        return figure
    if info.note:
        title += f"<br><sup>{info.note}</sup>"
    figure = _figure(title, xaxis={"title": {"text": "μ"}}, showlegend=False,
                     yaxis={**yaxis, "type": "log" if info.s_log else "linear"})  # fmt: skip
    if info.z is not None:
        figure.add_trace(go.Contour(
            x=info.mu, y=info.s, z=info.z, colorbar=colorbar, name="interpolated", connectgaps=False,
            hovertemplate=f"μ %{{x:.3g}}, {label} %{{y:.3g}}<br>interpolated %{{z:.4g}}<extra></extra>", **scale,
        ))  # fmt: skip
    figure.add_trace(go.Scatter(
        x=[p.mu for p in info.points], y=[p.s for p in info.points], mode="markers" if info.z is not None else "markers+text",
        name="trials", text=[f"{p.value:.3g}" for p in info.points], textposition="top center",
        marker={"color": [p.value for p in info.points], "size": 9, "line": {"width": 1, "color": "white"},
                "showscale": info.z is None, "colorbar": colorbar, **scale},
        customdata=[[p.number, _with_seeds(p.value, p.std, p.seeds)] for p in info.points],
        hovertemplate=f"trial %{{customdata[0]}}: μ %{{x:.3g}}, {label} %{{y:.3g}}<br>%{{customdata[1]}}<extra></extra>",
    ))  # fmt: skip
    best = info.best
    figure.add_trace(go.Scatter(
        x=[best.mu], y=[best.s], mode="markers", name=f"best (trial {best.number})", showlegend=False,
        marker={"symbol": "star", "size": 16, "color": "white", "line": {"width": 1.5, "color": "black"}},
        hovertemplate=f"best: trial {best.number}<br>{_with_seeds(best.value, best.std, best.seeds)}<extra></extra>",
    ))  # fmt: skip
    return figure


def plot_slice(info: SliceInfo) -> go.Figure:
    """The objective against one parameter, error bars = spread over seeds."""
    import plotly.graph_objects as go

    label = LABELS[info.param]
    figure = _figure(
        f"{info.metric} against {label} ({_better(info.direction)}; error bars: std over seeds)",
        xaxis={"title": {"text": _axis_title(info.param)}, "type": "log" if info.log else "linear"},
        yaxis={"title": {"text": info.metric}},
    )
    for series in info.series:
        figure.add_trace(go.Scatter(
            x=series.x, y=series.y, mode="markers", name=series.cell,
            error_y={"type": "data", "array": series.std, "visible": True},
            marker={"color": _color(series.cell), "size": 8},
            customdata=[[n, _with_seeds(y, sd, k)] for n, y, sd, k in zip(series.numbers, series.y, series.std, series.seeds, strict=True)],
            hovertemplate=f"trial %{{customdata[0]}}: {label} %{{x:.3g}}<br>%{{customdata[1]}}<extra>{series.cell}</extra>",
        ))  # fmt: skip
    return figure


def plot_importances(info: ImportanceInfo) -> go.Figure:
    """Horizontal bars: each scope's parameters, one bar per evaluator."""
    import plotly.graph_objects as go

    rows = list(dict.fromkeys((g.scope, p) for g in info.groups for p in g.importances))
    labels = [f"{scope} · {LABELS.get(param, param)}" for scope, param in rows]
    figure = _figure(
        f"Importance of each parameter for {info.metric}",
        xaxis={"title": {"text": "importance (normalised per scope)"}, "range": [0, 1.05]},
        yaxis={"autorange": "reversed"}, barmode="group", height=max(320, 60 + 34 * len(rows)),
    )  # fmt: skip
    for evaluator, color in (("fANOVA", "#1f77b4"), ("PED-ANOVA", "#ff7f0e")):
        groups = {g.scope: g for g in info.groups if g.evaluator == evaluator}
        values = [groups[scope].importances.get(param) if scope in groups else None for scope, param in rows]
        figure.add_trace(go.Bar(
            x=values, y=labels, orientation="h", name=evaluator, marker={"color": color},
            hovertemplate=f"{evaluator}: %{{x:.3f}}<extra>%{{y}}</extra>",
        ))  # fmt: skip
    return figure


def plot_history(info: HistoryInfo) -> go.Figure:
    """Each complete trial's value and the best so far; pruned trials at their last reported value."""
    import plotly.graph_objects as go

    figure = _figure(f"Optimization history ({info.metric}, {_better(info.direction)})",
                     xaxis={"title": {"text": "trial"}}, yaxis={"title": {"text": info.metric}})  # fmt: skip
    for cell in dict.fromkeys(info.cells):
        picked = [i for i, c in enumerate(info.cells) if c == cell]
        figure.add_trace(go.Scatter(
            x=[info.numbers[i] for i in picked], y=[info.values[i] for i in picked], mode="markers",
            name=str(cell), marker={"color": _color(cell), "size": 8},
            hovertemplate="trial %{x}: %{y:.4g}<extra>" + str(cell) + "</extra>",
        ))  # fmt: skip
    if info.pruned_numbers:
        figure.add_trace(go.Scatter(
            x=info.pruned_numbers, y=info.pruned_values, mode="markers", name="pruned (last value)",
            marker={"symbol": "x", "color": PRUNED_COLOR, "size": 8},
            hovertemplate="trial %{x} pruned at %{y:.4g}<extra></extra>",
        ))  # fmt: skip
    figure.add_trace(go.Scatter(x=info.numbers, y=info.best_so_far, mode="lines", name="best so far",
                                line={"shape": "hv", "color": "black"}))  # fmt: skip
    return figure


def plot_learning_curves(info: CurvesInfo) -> go.Figure:
    """Validation metric per epoch of every trial (first seed); pruned ones dashed, ending in ×."""
    import numpy as np
    import plotly.graph_objects as go

    figure = _figure(f"Learning curves: validation {info.metric} per epoch (first seed; pruned dashed, ×)",
                     xaxis={"title": {"text": "epoch"}}, yaxis={"title": {"text": info.metric}})  # fmt: skip
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
        figure.add_trace(go.Scatter(
            x=x, y=y, mode="lines", name=str(cell), legendgroup=str(cell), showlegend=cell not in shown, opacity=0.8,
            line={"color": _color(cell), "dash": "dash" if state == "PRUNED" else "solid", "width": 1.5}, customdata=numbers,
            hovertemplate=f"trial %{{customdata:d}} ({state.lower()}) epoch %{{x}}: %{{y:.4g}}<extra>{cell}</extra>",
        ))  # fmt: skip
        shown.add(cell)
    ends = [c for c in info.curves if c.state == "PRUNED"]
    if ends:
        figure.add_trace(go.Scatter(
            x=[c.epochs[-1] for c in ends], y=[c.values[-1] for c in ends], mode="markers", name="pruned",
            marker={"symbol": "x", "color": PRUNED_COLOR, "size": 9},
            customdata=[[c.number, c.reason or ""] for c in ends],
            hovertemplate="trial %{customdata[0]} %{customdata[1]}<extra></extra>",
        ))  # fmt: skip
    return figure


def plot_cell_comparison(info: CellComparisonInfo) -> go.Figure:
    """Bars: each kind's best configuration retrained on held-out seeds (95 % interval), once confirmed;
    hatched bars: its value in the search (optimistic), ± its seed spread when it had several seeds;
    diamonds' bars: mean ± std over the kind's trials. Every bar says how many seeds or trials it holds."""
    import plotly.graph_objects as go

    labels = [f"{r.cell} (baseline)" if r.baseline else r.cell for r in info.rows]
    colors = [_color(r.cell) for r in info.rows]
    title = "confirmed on held-out seeds" if info.held_out else "search values only, not confirmed (optimistic)"
    figure = _figure(f"Is it momentum? {info.metric} of each cell kind ({_better(info.direction)}), {title}",
                     xaxis={"title": {"text": "cell kind"}}, yaxis={"title": {"text": info.metric}}, barmode="group")  # fmt: skip
    if info.held_out:
        rows = [r.confirmed for r in info.rows]
        figure.add_trace(go.Bar(
            x=labels, y=[None if c is None else c.mean for c in rows], name="confirmed: mean on held-out seeds, 95 % CI",
            error_y={"type": "data", "symmetric": False, "visible": True,
                     "array": [None if c is None else c.high - c.mean for c in rows],  # type: ignore[operator]
                     "arrayminus": [None if c is None else c.mean - c.low for c in rows]},  # type: ignore[operator]
            marker={"color": colors}, text=["not confirmed" if c is None else f"{c.mean:.4g}<br>n={c.seeds}" for c in rows],
            textposition="inside", insidetextanchor="start",
            customdata=[["–", "–", "–"] if c is None else [c.source, f"{c.low:.4g} … {c.high:.4g}", c.seeds] for c in rows],
            hovertemplate="trial %{customdata[0]} confirmed: %{y:.4g}, 95 % CI %{customdata[1]} "
                          "(%{customdata[2]} held-out seeds)<extra>%{x}</extra>",
        ))  # fmt: skip
    figure.add_trace(go.Bar(
        x=labels, y=[r.best for r in info.rows], name="search best (optimistic), ± std over its seeds",
        error_y={"type": "data", "array": [r.best_std for r in info.rows], "visible": True},
        marker={"color": colors, "opacity": 0.55 if info.held_out else 1.0, "pattern": {"shape": "x" if info.held_out else ""}},
        text=[f"{r.best:.4g}<br>n={r.best_seeds}" for r in info.rows], textposition="inside", insidetextanchor="start",
        customdata=[[r.best_number, r.best_seeds, "–" if r.best_test is None else f"{r.best_test:.4g}"] for r in info.rows],
        hovertemplate="search best: trial %{customdata[0]}, %{y:.4g} on %{customdata[1]} seed(s), "
                      "test %{customdata[2]}<extra>%{x}</extra>",
    ))  # fmt: skip
    figure.add_trace(go.Bar(
        x=labels, y=[r.mean for r in info.rows], name="mean ± std over the kind's trials",
        error_y={"type": "data", "array": [r.std for r in info.rows], "visible": True},
        marker={"color": colors, "opacity": 0.3, "pattern": {"shape": "/"}}, customdata=[r.trials for r in info.rows],
        text=[f"{r.mean:.4g}<br>{r.trials} trials" for r in info.rows], textposition="inside", insidetextanchor="start",
        hovertemplate="mean of %{customdata} trials: %{y:.4g}<extra>%{x}</extra>",
    ))  # fmt: skip
    return figure


def plot_momentum_zero(info: MomentumZeroInfo) -> go.Figure:
    """Per kind, at its best s (or g): the best μ > 0 trial, the best μ = 0 trial, and the plain baseline."""
    import plotly.graph_objects as go

    label = LABELS[info.axis]
    x = [f"{row.cell}<br>{label} = {row.s:.3g}" for row in info.rows]
    figure = _figure(f"μ = 0 against μ > 0 at the best {label} ({info.metric}, {_better(info.direction)}; "
                     f"search values, optimistic: the confirmation table has them on held-out seeds)",
                     xaxis={"title": {"text": f"cell kind at its best {_axis_title(info.axis)}"}},
                     yaxis={"title": {"text": info.metric}}, barmode="group")  # fmt: skip
    # Colours are the cell kinds' (the baseline's is its plain kind's); the pattern says which bar is which.
    for field, name, pattern in (("positive", "μ > 0 (best)", ""), ("zero", f"μ = 0, same {label}", "."),
                                 ("baseline", "plain cell (no momentum, as μ = 0)", "/")):  # fmt: skip
        entries = [getattr(row, field) for row in info.rows]
        colors = [_color(row.cell if e is None else e.cell) for row, e in zip(info.rows, entries, strict=True)]
        figure.add_trace(go.Bar(
            x=x, y=[None if e is None else e.value for e in entries], name=name,
            marker={"color": colors, "pattern": {"shape": pattern}},
            error_y={"type": "data", "array": [None if e is None else e.std for e in entries], "visible": True},
            text=[None if e is None else f"n={e.seeds}" for e in entries], textposition="inside", insidetextanchor="start",
            customdata=[["–", "–", "–", "–"] if e is None
                        else [e.number, "–" if e.mu is None else f"{e.mu:.3g}", e.label, _with_seeds(e.value, e.std, e.seeds)]
                        for e in entries],
            hovertemplate="%{customdata[2]}: trial %{customdata[0]}, μ %{customdata[1]}<br>%{customdata[3]}<extra></extra>",
        ))  # fmt: skip
    return figure


def plot_gradient_flow(info: GradientFlowInfo) -> go.Figure:
    """‖∂L/∂h_t‖ over time steps, log scale: how far back the loss reaches at initialisation."""
    import plotly.graph_objects as go

    figure = _figure(
        f"Gradient flow: ‖∂L/∂h_t‖ at initialisation, best config per cell kind ({info.task}, {info.examples} validation examples)",
        xaxis={"title": {"text": "time step t"}}, yaxis={"title": {"text": "‖∂L/∂h_t‖"}, "type": "log"},
    )  # fmt: skip
    for series in info.series:
        # A log axis cannot show 0 (steps the loss does not reach): leave them out.
        steps = [t for t, v in enumerate(series.norms, start=1) if v > 0]
        figure.add_trace(go.Scatter(
            x=steps, y=[series.norms[t - 1] for t in steps], mode="lines", name=f"{series.cell} (trial {series.number})",
            line={"color": _color(series.cell)}, hovertemplate="t %{x}: %{y:.3g}<extra>" + series.cell + "</extra>",
        ))  # fmt: skip
    return figure


def plot_pareto_front(info: ParetoInfo) -> go.Figure:
    """Metric against training time; the Pareto-optimal trials joined by a line."""
    import plotly.graph_objects as go

    figure = _figure(f"Pareto front: {info.metric} ({_better(info.direction)}) against training time",
                     xaxis={"title": {"text": "training time per seed [s]"}}, yaxis={"title": {"text": info.metric}})  # fmt: skip
    for cell in dict.fromkeys(p.cell for p in info.points):
        points = [p for p in info.points if p.cell == cell]
        figure.add_trace(go.Scatter(
            x=[p.train_time for p in points], y=[p.value for p in points], mode="markers", name=str(cell),
            marker={"color": _color(cell), "size": [12 if p.on_front else 7 for p in points],
                    "line": {"width": [2 if p.on_front else 0 for p in points], "color": "black"}},
            customdata=[p.number for p in points],
            hovertemplate="trial %{customdata}: %{y:.4g} in %{x:.3g} s<extra>" + str(cell) + "</extra>",
        ))  # fmt: skip
    front = sorted((p for p in info.points if p.on_front), key=lambda p: p.train_time)
    figure.add_trace(go.Scatter(x=[p.train_time for p in front], y=[p.value for p in front], mode="lines",
                                name="Pareto front", line={"shape": "hv", "color": "black", "dash": "dot"}))  # fmt: skip
    return figure
