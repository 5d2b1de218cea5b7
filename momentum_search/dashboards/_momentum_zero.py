"""μ = 0 against μ > 0 at each kind's best s (or g), with the plain cell of its base."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from momentum_search.dashboards._mu_s_map import mu_s_cells, mu_s_records, prefer_complete
from momentum_search.dashboards._style import axis_title, better_hint, color, new_figure, with_seeds
from momentum_search.dashboards._trials import LABELS, FigureUnavailableError, StudyTrials, TrialRecord, base_of

if TYPE_CHECKING:
    import plotly.graph_objects as go


class ZeroEntry(NamedTuple):
    label: str
    cell: str
    number: int
    mu: float | None  # None for a plain baseline, which has no μ (taken as μ = 0)
    s: float | None  # or g, as MomentumZeroInfo.axis
    value: float
    std: float | None  # None for one seed
    seeds: int


class MomentumZeroRow(NamedTuple):
    cell: str
    s: float  # the s (or g: MomentumZeroInfo.axis) of the kind's best trial
    positive: ZeroEntry | None  # best trial with μ > 0 at that s
    zero: ZeroEntry | None  # best trial with μ = 0 at that s
    baseline: ZeroEntry | None  # best trial of the plain kind of the same base cell


class MomentumZeroInfo(NamedTuple):
    metric: str
    direction: str
    axis: str  # "s", or GAIN: then μ = 0 and μ > 0 are compared at matched gain
    rows: list[MomentumZeroRow]


def get_momentum_zero_info(trials: StudyTrials) -> MomentumZeroInfo:
    """μ = 0 against μ > 0 at each kind's best s (or g, the gain: ``trials.axis``), with the plain
    baseline of its base cell as μ = 0 too.

    Trials count as "at the best s" only with exactly that s: on a grid that is a whole column of the
    μ × s map; with sampled ranges it is usually the best trial alone, and the baseline remains.
    """
    axis = trials.axis
    rows = []
    for cell in mu_s_cells(trials):
        records = prefer_complete(mu_s_records(trials, cell))
        best = trials.best(records)
        assert best is not None
        s = float(best.params[axis])
        at_s = [t for t in records if t.params[axis] == best.params[axis]]
        positive = trials.best(t for t in at_s if t.params["mu"] > 0)
        zero = trials.best(t for t in at_s if t.params["mu"] == 0)
        base = base_of(cell)
        baseline = trials.best(trials.complete(base)) if base in trials.cells else None
        rows.append(
            MomentumZeroRow(
                cell,
                s,
                _entry(positive, f"{cell} μ > 0", cell, axis),
                _entry(zero, f"{cell} μ = 0", cell, axis),
                _entry(baseline, f"{base} (plain, as μ = 0)", base, axis),
            )
        )
    if not rows:
        raise FigureUnavailableError(f"no cell kind in this study has complete trials searching both μ and {LABELS[axis]}")
    return MomentumZeroInfo(trials.metric, trials.direction, axis, rows)


def _entry(record: TrialRecord | None, label: str, cell: str, axis: str) -> ZeroEntry | None:
    if record is None:
        return None
    mu, s = record.params.get("mu"), record.params.get(axis)
    seeds = len(record.seed_values)
    return ZeroEntry(label, cell, record.number, mu, s, record.scored, record.std if seeds > 1 else None, seeds)


def plot_momentum_zero(info: MomentumZeroInfo) -> go.Figure:
    """Per kind, at its best s (or g): the best μ > 0 trial, the best μ = 0 trial, and the plain baseline."""
    import plotly.graph_objects as go

    label = LABELS[info.axis]
    x = [f"{row.cell}<br>{label} = {row.s:.3g}" for row in info.rows]
    figure = new_figure(
        f"μ = 0 against μ > 0 at the best {label} ({info.metric}, {better_hint(info.direction)}; "
        f"search values, optimistic: the confirmation table has them on held-out seeds)",
        xaxis={"title": {"text": f"cell kind at its best {axis_title(info.axis)}"}},
        yaxis={"title": {"text": info.metric}},
        barmode="group",
    )
    # Colours are the cell kinds' (the baseline's is its plain kind's); the pattern says which bar is which.
    for field, name, pattern in (
        ("positive", "μ > 0 (best)", ""),
        ("zero", f"μ = 0, same {label}", "."),
        ("baseline", "plain cell (no momentum, as μ = 0)", "/"),
    ):
        entries = [getattr(row, field) for row in info.rows]
        colors = [color(row.cell if e is None else e.cell) for row, e in zip(info.rows, entries, strict=True)]
        figure.add_trace(
            go.Bar(
                x=x,
                y=[None if e is None else e.value for e in entries],
                name=name,
                marker={"color": colors, "pattern": {"shape": pattern}},
                error_y={"type": "data", "array": [None if e is None else e.std for e in entries], "visible": True},
                text=[None if e is None else f"n={e.seeds}" for e in entries],
                textposition="inside",
                insidetextanchor="start",
                customdata=[
                    ["–", "–", "–", "–"]
                    if e is None
                    else [e.number, "–" if e.mu is None else f"{e.mu:.3g}", e.label, with_seeds(e.value, e.std, e.seeds)]
                    for e in entries
                ],
                hovertemplate="%{customdata[2]}: trial %{customdata[0]}, μ %{customdata[1]}<br>%{customdata[3]}<extra></extra>",
            )
        )
    return figure
