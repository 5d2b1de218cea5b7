"""The μ × s map (or μ × g): the objective over the momentum plane of one cell kind."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, NamedTuple

from momentum_search.dashboards._fits import Surface, interpolate
from momentum_search.dashboards._style import axis_title, better_hint, new_figure, with_seeds
from momentum_search.dashboards._trials import (
    LABELS,
    MAX_POINTS,
    FigureUnavailableError,
    StudyTrials,
    TrialRecord,
    log_scale,
    shown,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

MIN_SURFACE_POINTS = 12  # distinct sampled (μ, s) points below which the map draws the points alone


class MapPoint(NamedTuple):
    number: int
    mu: float
    s: float
    value: float
    std: float | None  # None for one seed: no spread to show
    seeds: int


class MuSMapInfo(NamedTuple):
    """The objective over μ × s (or μ × g, the gain s/(1−μ): ``axis``) for one cell kind; ``s`` and
    ``s_log`` are then those of g.

    On a grid (μ and s searched as explicit points) ``z[i][j]`` is the mean over seeds at
    ``(mu[j], s[i])`` of the best trial there and ``z_std`` its seed spread (None where no trial
    completed). Otherwise ``z`` is the linear interpolation of the trials' values on a regular mesh
    (s in log space when it is searched on a log scale; None outside the trials' convex hull), or
    None altogether when the trials span no area.
    """

    cell: str
    metric: str
    direction: str
    axis: str  # "s", or GAIN
    grid: bool
    mu: list[float]
    s: list[float]
    s_log: bool
    z: list[list[float | None]] | None
    z_std: list[list[float | None]] | None
    points: list[MapPoint]  # every COMPLETE trial of the kind
    best: MapPoint
    note: str | None = None  # why no surface is drawn over sampled points


def mu_s_cells(trials: StudyTrials) -> list[str]:
    """The cell kinds whose trials search both μ and s (or g: ``trials.axis``)."""
    return [c for c in trials.cells if mu_s_records(trials, c)]


def mu_s_records(trials: StudyTrials, cell: str) -> list[TrialRecord]:
    return [t for t in trials.finished(cell) if "mu" in t.params and trials.axis in t.params]


def prefer_complete(records: list[TrialRecord]) -> list[TrialRecord]:
    # A raced trial's mean covers fewer seeds than a COMPLETE one's: it is a best only where nothing completed.
    return [r for r in records if not r.raced] or records


def get_mu_s_map_info(trials: StudyTrials, cell: str, *, surface: Surface | None = None) -> MuSMapInfo:
    """The map of ``cell``; ``surface``: :func:`interpolate` of :func:`mu_s_surface_input`, when computed
    elsewhere (the report's worker), else computed here."""
    from optuna.distributions import CategoricalDistribution

    if cell not in trials.cells:
        raise ValueError(f"cell {cell!r} is not in study {trials.name}; its cells: {', '.join(trials.cells)}")
    axis = trials.axis
    records = mu_s_records(trials, cell)
    if not records:
        raise FigureUnavailableError(f"{cell} has no complete trial that searches both μ and {LABELS[axis]}")
    top = trials.best(prefer_complete(records))
    assert top is not None  # records has a value each
    mu_dist, s_dist = trials.distributions.get("mu"), trials.distributions.get(axis)
    s_log = log_scale(s_dist)
    info = functools.partial(
        MuSMapInfo,
        cell=cell,
        metric=trials.metric,
        direction=trials.direction,
        axis=axis,
        s_log=s_log,
        best=_map_point(top, axis),
    )
    if isinstance(mu_dist, CategoricalDistribution) and isinstance(s_dist, CategoricalDistribution):
        mu_axis = sorted(float(v) for v in mu_dist.choices if isinstance(v, int | float))
        s_axis = sorted(float(v) for v in s_dist.choices if isinstance(v, int | float))
        z: list[list[float | None]] = [[None] * len(mu_axis) for _ in s_axis]
        z_std: list[list[float | None]] = [[None] * len(mu_axis) for _ in s_axis]
        for i, s in enumerate(s_axis):
            for j, mu in enumerate(mu_axis):
                here = trials.best(t for t in records if t.params["mu"] == mu and t.params[axis] == s)
                if here is not None:
                    z[i][j], z_std[i][j] = here.value, here.std if len(here.seed_values) > 1 else None
        return info(grid=True, mu=mu_axis, s=s_axis, z=z, z_std=z_std, points=_map_points(records, axis))
    distinct = len({(float(t.params["mu"]), float(t.params[axis])) for t in records})
    if distinct < MIN_SURFACE_POINTS:
        # A surface through a handful of noisy points shows the interpolation, not the landscape.
        note = (
            f"{distinct} distinct (μ, {LABELS[axis]}) points: too few for a surface (it needs "
            f"{MIN_SURFACE_POINTS}); each trial is drawn with its value"
        )
        return info(grid=False, mu=[], s=[], z=None, z_std=None, points=_map_points(records, axis), note=note)
    mu_axis, s_axis, z_mesh = surface or interpolate(*_surface_input(records, axis, s_log))
    # The surface is fitted on every trial; the figure draws up to MAX_POINTS of them over it.
    points = _map_points(shown(records, trials.direction, MAX_POINTS), axis)
    return info(grid=False, mu=mu_axis, s=s_axis, z=z_mesh, z_std=None, points=points)


def mu_s_surface_input(trials: StudyTrials, cell: str) -> tuple[list[float], list[float], list[float], bool] | None:
    """The arguments of :func:`interpolate` for ``cell``'s map; None where the map draws no surface (no
    trials, a grid, too few distinct points)."""
    from optuna.distributions import CategoricalDistribution

    records = mu_s_records(trials, cell)
    mu_dist, s_dist = trials.distributions.get("mu"), trials.distributions.get(trials.axis)
    if isinstance(mu_dist, CategoricalDistribution) and isinstance(s_dist, CategoricalDistribution):
        return None
    if len({(float(t.params["mu"]), float(t.params[trials.axis])) for t in records}) < MIN_SURFACE_POINTS:
        return None
    return _surface_input(records, trials.axis, log_scale(s_dist))


def _surface_input(records: list[TrialRecord], axis: str, s_log: bool) -> tuple[list[float], list[float], list[float], bool]:
    return (
        [float(t.params["mu"]) for t in records],
        [float(t.params[axis]) for t in records],
        [t.scored for t in records],
        s_log,
    )


def _map_points(records: list[TrialRecord], axis: str) -> list[MapPoint]:
    return [_map_point(t, axis) for t in records]


def _map_point(t: TrialRecord, axis: str) -> MapPoint:
    return MapPoint(
        t.number,
        float(t.params["mu"]),
        float(t.params[axis]),
        t.scored,
        t.std if len(t.seed_values) > 1 else None,
        len(t.seed_values),
    )


def plot_mu_s_map(info: MuSMapInfo) -> go.Figure:
    """Heat map of the grid (mean ± std in each cell), or a contour with the trials as points."""
    import plotly.graph_objects as go

    label = LABELS[info.axis]
    yaxis = {"title": {"text": axis_title(info.axis)}}
    colorbar = {"title": {"text": info.metric}}
    # Yellow is better either way: the scale flips for metrics to minimise.
    scale = {"colorscale": "Viridis", "reversescale": info.direction == "minimize"}
    mark = "□" if info.grid else "★"
    title = f"{info.cell}: {info.metric} over μ × {label} ({better_hint(info.direction)}; best {mark} trial {info.best.number})"
    if info.grid:
        figure = new_figure(title, xaxis={"title": {"text": "μ"}, "type": "category"}, yaxis={**yaxis, "type": "category"})
        assert info.z is not None and info.z_std is not None
        text = [
            [
                "" if v is None else f"{v:.4g}" + ("" if sd is None else f"<br>± {sd:.2g}")
                for v, sd in zip(row, row_std, strict=True)
            ]
            for row, row_std in zip(info.z, info.z_std, strict=True)
        ]
        seeds = {p.seeds for p in info.points}
        title += f", {'/'.join(map(str, sorted(seeds)))} seed(s) per cell"
        figure.add_trace(
            go.Heatmap(
                x=[f"{m:g}" for m in info.mu],
                y=[f"{s:g}" for s in info.s],
                z=info.z,
                text=text,
                texttemplate="%{text}",
                colorbar=colorbar,
                hovertemplate=f"μ %{{x}}, {label} %{{y}}<br>%{{text}}<extra></extra>",
                name=info.cell,
                **scale,
            )
        )
        # Outline the best cell rather than cover its numbers (category i sits at coordinate i).
        j, i = info.mu.index(info.best.mu), info.s.index(info.best.s)
        figure.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5, line={"color": "black", "width": 3})
        return figure
    if info.note:
        title += f"<br><sup>{info.note}</sup>"
    figure = new_figure(
        title, xaxis={"title": {"text": "μ"}}, showlegend=False, yaxis={**yaxis, "type": "log" if info.s_log else "linear"}
    )
    if info.z is not None:
        figure.add_trace(
            go.Contour(
                x=info.mu,
                y=info.s,
                z=info.z,
                colorbar=colorbar,
                name="interpolated",
                connectgaps=False,
                hovertemplate=f"μ %{{x:.3g}}, {label} %{{y:.3g}}<br>interpolated %{{z:.4g}}<extra></extra>",
                **scale,
            )
        )
    figure.add_trace(
        go.Scatter(
            x=[p.mu for p in info.points],
            y=[p.s for p in info.points],
            mode="markers" if info.z is not None else "markers+text",
            name="trials",
            text=[f"{p.value:.3g}" for p in info.points],
            textposition="top center",
            marker={
                "color": [p.value for p in info.points],
                "size": 9,
                "line": {"width": 1, "color": "white"},
                "showscale": info.z is None,
                "colorbar": colorbar,
                **scale,
            },
            customdata=[[p.number, with_seeds(p.value, p.std, p.seeds)] for p in info.points],
            hovertemplate=f"trial %{{customdata[0]}}: μ %{{x:.3g}}, {label} %{{y:.3g}}<br>%{{customdata[1]}}<extra></extra>",
        )
    )
    best = info.best
    figure.add_trace(
        go.Scatter(
            x=[best.mu],
            y=[best.s],
            mode="markers",
            name=f"best (trial {best.number})",
            showlegend=False,
            marker={"symbol": "star", "size": 16, "color": "white", "line": {"width": 1.5, "color": "black"}},
            hovertemplate=f"best: trial {best.number}<br>{with_seeds(best.value, best.std, best.seeds)}<extra></extra>",
        )
    )
    return figure
