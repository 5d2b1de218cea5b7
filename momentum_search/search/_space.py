"""The conditional search space: the cell kind first, then only the parameters that kind uses.

The cell kind is itself a categorical parameter named ``cell``, so one study compares cells (by
default the engines queue each trial with its kind fixed, so that the kinds share the budget: see
``OptunaEngine.top_up`` and the sampler's ``kinds``); every other parameter keeps one distribution across kinds (``mu`` means the
same range for ``momentum-lstm`` and ``adam-lstm``), which is what Optuna needs to learn from all
trials at once.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from momentum_search.search._gain import GAIN, takes_gain
from momentum_search.trainers import CELL_KINDS, Integer, Real

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

Parameter = Literal["mu", "s", "beta", "eps", "restart", "lr", "hidden_size", "g"]
CELL_PARAMETER = "cell"


@dataclass(frozen=True)
class _Domain:
    """Where a parameter's values may lie: ``low``/``high`` bounds, each inclusive or not."""

    integer: bool
    low: float
    high: float = math.inf
    low_inclusive: bool = True
    high_inclusive: bool = False
    log: bool = False  # the default scale when a range does not say

    def contains(self, value: float) -> bool:
        above = value >= self.low if self.low_inclusive else value > self.low
        below = value <= self.high if self.high_inclusive else value < self.high
        return above and below

    def describe(self, name: str) -> str:
        kind = "integer " if self.integer else ""
        left = f"{self.low:g} {'≤' if self.low_inclusive else '<'} "
        right = f" {'≤' if self.high_inclusive else '<'} {self.high:g}" if math.isfinite(self.high) else ""
        return f"{kind}{left}{name}{right}"


# The ranges of docs/momentum-cells.md; eps and lr span decades, so they default to a log scale.
DOMAINS: dict[str, _Domain] = {
    "mu": _Domain(integer=False, low=0.0, high=1.0),
    "s": _Domain(integer=False, low=0.0, low_inclusive=False),
    "beta": _Domain(integer=False, low=0.0, high=1.0),
    "eps": _Domain(integer=False, low=0.0, low_inclusive=False, log=True),
    "restart": _Domain(integer=True, low=0),  # 0: never restart
    "lr": _Domain(integer=False, low=0.0, low_inclusive=False, log=True),
    "hidden_size": _Domain(integer=True, low=1),
    GAIN: _Domain(integer=False, low=0.0, low_inclusive=False),  # s/(1−μ), see _gain.py
}
# Parameters every cell kind uses; the momentum ones (mu, s, beta, eps, restart) depend on the kind.
SHARED_PARAMETERS = ("lr", "hidden_size")


class Dimension(BaseModel):
    """One searched parameter: a range (``low``, ``high``, optional ``log`` and ``step``) or explicit ``points``.

    Points are sampled as a categorical choice, and they are what the ``grid`` sampler visits.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    low: Real | None = None
    high: Real | None = None
    log: bool | None = None
    step: Real | None = Field(default=None, gt=0)
    points: tuple[Integer | Real, ...] | None = Field(default=None, min_length=1)

    @field_validator("points")
    @classmethod
    def _distinct(cls, points: tuple[int | float, ...] | None) -> tuple[int | float, ...] | None:
        if points is not None and len(set(points)) != len(points):
            raise ValueError(f"points must be distinct, got {list(points)}")
        return points

    @model_validator(mode="after")
    def _range_or_points(self) -> Dimension:
        has_range = self.low is not None or self.high is not None
        if self.points is not None:
            if has_range or self.log is not None or self.step is not None:
                raise ValueError("give either points or a range (low, high, log, step), not both")
        elif self.low is None or self.high is None:
            raise ValueError("a range needs both low and high (or give points instead)")
        elif self.low > self.high:
            raise ValueError(f"low ({self.low:g}) must not exceed high ({self.high:g})")
        elif self.log and self.step is not None:
            raise ValueError("a log-scale range cannot have a step")
        return self

    def check(self, name: str) -> None:
        """Raise ValueError unless every value this dimension can take is allowed for parameter ``name``."""
        domain = DOMAINS[name]
        values = self.points if self.points is not None else (self.low, self.high)
        for value in values:
            assert value is not None  # a range has both ends, see _range_or_points
            if not domain.contains(value):
                raise ValueError(f"{value:g} is outside the allowed range {domain.describe(name)}")
            if domain.integer and value != int(value):
                raise ValueError(f"{value:g} is not an integer; {name} takes {domain.describe(name)}")
        if domain.integer and self.step is not None and self.step != int(self.step):
            raise ValueError(f"step {self.step:g} is not an integer; {name} takes {domain.describe(name)}")
        if self.points is None and self._log(name) and self.low is not None and self.low <= 0:
            raise ValueError(f"a log-scale range needs low > 0, got {self.low:g}")

    def _log(self, name: str) -> bool:
        return DOMAINS[name].log if self.log is None else self.log

    def distribution(self, name: str) -> BaseDistribution:
        """The Optuna distribution of parameter ``name`` (call :meth:`check` first)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        integer = DOMAINS[name].integer
        if self.points is not None:
            return CategoricalDistribution([int(p) if integer else float(p) for p in self.points])
        assert self.low is not None and self.high is not None
        if integer:
            step = 1 if self.step is None else int(self.step)
            return IntDistribution(int(self.low), int(self.high), log=self._log(name), step=step)
        return FloatDistribution(self.low, self.high, log=self._log(name), step=self.step)


class SearchSpace(BaseModel):
    """Cell kinds and the dimensions searched; each kind samples only the dimensions it uses.

    Example:
        ``SearchSpace(cells=("lstm", "sr-lstm"), dimensions={"s": Dimension(low=0.1, high=1),
        "restart": Dimension(low=1, high=50)})``: ``lstm`` trials sample only ``cell``; ``sr-lstm``
        trials sample ``cell``, ``s`` and ``restart``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cells: tuple[str, ...] = Field(min_length=1)
    dimensions: dict[Parameter, Dimension] = Field(default_factory=dict)

    @field_validator("cells")
    @classmethod
    def _known_cells(cls, cells: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [cell for cell in cells if cell not in CELL_KINDS]
        if unknown:
            raise ValueError(f"unknown cell kind(s) {', '.join(unknown)}; known kinds: {', '.join(CELL_KINDS)}")
        if len(set(cells)) != len(cells):
            raise ValueError(f"cell kinds must be distinct, got {list(cells)}")
        return cells

    @model_validator(mode="after")
    def _dimensions_fit_cells(self) -> SearchSpace:
        if "s" in self.dimensions and GAIN in self.dimensions:
            raise ValueError("space: search s or g (the gain s/(1−μ), which sets s), not both")
        for name, dimension in self.dimensions.items():
            try:
                dimension.check(name)
            except ValueError as error:
                raise ValueError(f"space.{name}: {error}") from None
            if not any(name in self.parameters(cell) for cell in self.cells):
                users = [kind for kind in CELL_KINDS if self.uses(kind, name)]
                raise ValueError(
                    f"space.{name}: none of the cells {', '.join(self.cells)} uses {name}; kinds that do: {', '.join(users)}"
                )
        return self

    @staticmethod
    def uses(cell: str, name: str) -> bool:
        """Whether cell kind ``cell`` takes parameter ``name`` at all (searched or fixed)."""
        if name == GAIN:
            return takes_gain(cell)
        return name in SHARED_PARAMETERS or name in CELL_KINDS[cell].hyperparameters

    def parameters(self, cell: str) -> tuple[str, ...]:
        """The dimensions a trial of ``cell`` samples, in a fixed order."""
        return tuple(name for name in self.dimensions if self.uses(cell, name))

    def distributions(self) -> dict[str, BaseDistribution]:
        """Every parameter's distribution, ``cell`` included."""
        from optuna.distributions import CategoricalDistribution

        found: dict[str, BaseDistribution] = {CELL_PARAMETER: CategoricalDistribution(list(self.cells))}
        found.update({name: dim.distribution(name) for name, dim in self.dimensions.items()})
        return found

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Sample ``cell``, then the dimensions that cell uses; returns ``{"cell": ..., name: value}``."""
        distributions = self.distributions()
        cell = trial.suggest_categorical(CELL_PARAMETER, list(self.cells))
        params: dict[str, Any] = {CELL_PARAMETER: cell}
        for name in self.parameters(cell):
            params[name] = _suggest(trial, name, distributions[name])
        return params

    def grid(self) -> list[dict[str, Any]]:
        """Every point of the grid, cell by cell: the product of the points of the dimensions it uses.

        Raises:
            ValueError: a dimension is a range, not explicit points.
        """
        ranges = [name for name, dim in self.dimensions.items() if dim.points is None]
        if ranges:
            raise ValueError(
                f"the grid sampler needs explicit points for every dimension; "
                f"{', '.join(f'space.{name}' for name in ranges)} is a range"
            )
        distributions = self.distributions()
        points: list[dict[str, Any]] = []
        for cell in self.cells:
            names = self.parameters(cell)
            choices = [distributions[name].choices for name in names]  # type: ignore[attr-defined]
            for values in itertools.product(*choices):
                points.append({CELL_PARAMETER: cell, **dict(zip(names, values, strict=True))})
        return points


def _suggest(trial: optuna.Trial, name: str, distribution: BaseDistribution) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high, step=distribution.step, log=distribution.log)
    assert isinstance(distribution, FloatDistribution)
    return trial.suggest_float(name, distribution.low, distribution.high, step=distribution.step, log=distribution.log)
