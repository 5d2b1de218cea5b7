"""What every figure shares: one colour per cell kind, the axis titles, hover texts and the layout."""

from __future__ import annotations

from typing import TYPE_CHECKING

from momentum_search.dashboards._trials import LABELS
from momentum_search.search import GAIN
from momentum_search.trainers import CELL_KINDS

if TYPE_CHECKING:
    import plotly.graph_objects as go

PRUNED_COLOR = "black"
# A hue per drive (the usual study compares drives on one base cell), lighter or darker per base cell.
_VARIANT_COLORS = {"plain": (31, 119, 180), "momentum": (44, 160, 44), "nag": (148, 103, 189),
                   "sr": (140, 86, 75), "adam": (255, 127, 14), "rmsprop": (214, 39, 40),
                   "learnable-momentum": (23, 190, 207), "nesterov": (227, 119, 194)}  # fmt: skip
_BASE_SHADES = {"lstm": 0.0, "gru": -0.4, "rnn": 0.35, "exprnn": 0.6, "janet": -0.65, "ur-lstm": 0.2}  # < 0 towards black, > 0 towards white


def color(cell: str | None) -> str:
    """One colour per cell kind, the same in every figure and every study."""
    if cell not in CELL_KINDS:
        return "#7f7f7f"
    kind = CELL_KINDS[cell]
    shade = _BASE_SHADES[kind.base]
    target = 255 if shade > 0 else 0
    r, g, b = (round(c + abs(shade) * (target - c)) for c in _VARIANT_COLORS[kind.variant])
    return f"#{r:02x}{g:02x}{b:02x}"


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
