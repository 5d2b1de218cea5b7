"""What every figure shares: one colour per cell kind, the axis titles, hover texts and the layout."""

from __future__ import annotations

from typing import TYPE_CHECKING

from momentum_search.dashboards._trials import LABELS
from momentum_search.search import GAIN
from momentum_search.trainers import CELL_KINDS

if TYPE_CHECKING:
    import plotly.graph_objects as go

PRUNED_COLOR = "black"


def color(cell: str | None) -> str:
    """One colour per cell kind, the same in every figure and every study (the registry's), grey for no kind."""
    return CELL_KINDS[cell].color if cell in CELL_KINDS else "#7f7f7f"


def better_hint(direction: str) -> str:
    return "higher is better" if direction == "maximize" else "lower is better"


def axis_title(param: str) -> str:
    return "g = s/(1−μ)" if param == GAIN else LABELS[param]


def with_seeds(value: float, std: float | None, seeds: int) -> str:
    """A value with the seeds behind it, and its spread only where there is one."""
    return f"{value:.4g} ± {std:.2g} ({seeds} seeds)" if std is not None else f"{value:.4g} ({seeds} seed{'s' * (seeds != 1)})"


def new_figure(title: str, **layout: object) -> go.Figure:
    import plotly.graph_objects as go

    figure = go.Figure()
    defaults = {"template": "plotly_white", "height": 480, "margin": {"t": 70, "l": 70, "r": 30, "b": 60}}
    figure.update_layout(title={"text": title}, **{**defaults, **layout})
    return figure
