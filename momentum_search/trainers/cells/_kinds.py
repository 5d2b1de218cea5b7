"""The registry of cell kinds: which base cell, which drive, which hyperparameters and their ranges."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

Base = Literal["lstm", "gru", "rnn", "exprnn", "janet", "ur-lstm"]
Variant = Literal["plain", "momentum", "nag", "sr", "adam", "rmsprop", "learnable-momentum", "nesterov"]

BASES: tuple[Base, ...] = ("lstm", "gru", "rnn", "exprnn", "janet", "ur-lstm")
VARIANTS: tuple[Variant, ...] = (
    "plain", "momentum", "nag", "sr", "adam", "rmsprop", "learnable-momentum", "nesterov",
)
# The authors' pre-activation Nesterov cell (their NesterovLSTMCell) exists for the LSTM alone.
_ONLY: dict[Variant, tuple[Base, ...]] = {"nesterov": ("lstm",)}
HYPERPARAMETERS = ("mu", "s", "beta", "eps", "restart")

# The paper's defaults (MNIST settings for μ, s, F; β and ε as in RMSprop/Adam).
DEFAULTS: Mapping[str, float | int] = MappingProxyType({"mu": 0.6, "s": 0.6, "beta": 0.9, "eps": 1e-8, "restart": 2})

_USES: dict[Variant, tuple[str, ...]] = {
    "plain": (),
    "momentum": ("mu", "s"),
    "nag": ("s",),
    "sr": ("s", "restart"),
    "adam": ("mu", "s", "beta", "eps"),
    "rmsprop": ("s", "beta", "eps"),
    # μ and s are trained; these are their initial values.
    "learnable-momentum": ("mu", "s"),
    "nesterov": ("s", "restart"),
}

_RANGES = {
    "mu": ("0 <= mu < 1", lambda v: 0 <= v < 1),
    "s": ("0 < s < inf", lambda v: 0 < v < math.inf),
    "beta": ("0 <= beta < 1", lambda v: 0 <= v < 1),
    "eps": ("0 < eps < inf", lambda v: 0 < v < math.inf),
    "restart": ("restart >= 0 (an integer; 0 never restarts)", lambda v: v >= 0),
}


@dataclass(frozen=True)
class CellKind:
    """One cell kind: a base cell (`lstm`, `gru`, `rnn`, `exprnn`) driven by one variant's drive `d_t`.

    `hyperparameters` lists the momentum hyperparameters the kind uses, in the order
    `("mu", "s", "beta", "eps", "restart")`; `defaults` holds the value each takes when left as `None`.
    """

    name: str
    base: Base
    variant: Variant
    hyperparameters: tuple[str, ...]
    defaults: Mapping[str, float | int] = field(hash=False)

    @property
    def gates(self) -> int:
        """`G`, the number of `H`-sized gate blocks in the input drive: 4 (LSTM, UR-LSTM), 3 (GRU),
        2 (JANET) or 1."""
        return {"lstm": 4, "gru": 3, "rnn": 1, "exprnn": 1, "janet": 2, "ur-lstm": 4}[self.base]

    @property
    def has_cell_state(self) -> bool:
        """Whether the state is `(h, c)` (LSTM, UR-LSTM) rather than `h` alone."""
        return self.base in ("lstm", "ur-lstm")

    @property
    def learnable(self) -> bool:
        """Whether the cell trains μ and s (its `mu`, `s` are then their initial values)."""
        return self.variant == "learnable-momentum"

    def __reduce__(self) -> tuple[object, tuple[str]]:
        # Copies and pickles of a kind are the registered kind itself (and `defaults`, a read-only
        # mapping, could not be pickled anyway).
        return get_kind, (self.name,)

    def resolve(self, values: Mapping[str, float | int | None]) -> dict[str, float | int]:
        """Check `values` and fill in the defaults: `{name: value}` for every hyperparameter the kind uses.

        Raises:
            ValueError: a value the kind does not use is given (not `None`), a name is unknown, or a
                value is outside its range (`0 <= mu < 1`, `s > 0`, `0 <= beta < 1`, `eps > 0`,
                `restart >= 0` an integer).
        """
        resolved: dict[str, float | int] = {}
        for name, value in values.items():
            if name not in HYPERPARAMETERS:
                raise ValueError(f"unknown hyperparameter {name!r}; expected one of: {', '.join(HYPERPARAMETERS)}")
            if value is None:
                continue
            if name not in self.hyperparameters:
                uses = ", ".join(self.hyperparameters) or "none"
                raise ValueError(f"{self.name!r} does not use {name}; it uses: {uses}")
            resolved[name] = _checked(name, value)
        return {name: resolved.get(name, self.defaults[name]) for name in self.hyperparameters}


def _checked(name: str, value: object) -> float | int:
    description, within = _RANGES[name]
    if name == "restart":
        # bool is an Integral, but `restart=True` is a mistake, not F = 1.
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise ValueError(f"restart must be an integer with {description}, got {value!r}")
        number: float | int = int(value)
    else:
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise ValueError(f"{name} must be a real number with {description}, got {value!r}")
        number = float(value)
    # NaN fails every comparison, so it is rejected here too.
    if not within(number):
        raise ValueError(f"{name} must satisfy {description}, got {value!r}")
    return number


def _kind(base: Base, variant: Variant) -> CellKind:
    name = base if variant == "plain" else f"{variant}-{base}"
    uses = _USES[variant]
    return CellKind(name, base, variant, uses, MappingProxyType({h: DEFAULTS[h] for h in uses}))


CELL_KINDS: dict[str, CellKind] = {
    kind.name: kind
    for kind in (_kind(base, variant) for base in BASES for variant in VARIANTS if base in _ONLY.get(variant, BASES))
}


def get_kind(name: str) -> CellKind:
    """The registered kind called `name`; a ValueError lists the known kinds otherwise."""
    if not isinstance(name, str) or name not in CELL_KINDS:
        raise ValueError(f"unknown cell kind {name!r}; expected one of: {', '.join(CELL_KINDS)}")
    return CELL_KINDS[name]
