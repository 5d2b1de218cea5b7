"""The registry of cell kinds: which base cell, which drive, which hyperparameters and their ranges, which
initialisations. It imports no torch: specs and the read-only commands check cells against it, and
`_cell.py` builds them from it."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, get_args

Base = Literal["lstm", "gru", "rnn", "exprnn", "janet", "ur-lstm"]
Variant = Literal["plain", "momentum", "nag", "sr", "adam", "rmsprop", "learnable-momentum", "nesterov"]

BASES: tuple[Base, ...] = ("lstm", "gru", "rnn", "exprnn", "janet", "ur-lstm")
VARIANTS: tuple[Variant, ...] = (
    "plain",
    "momentum",
    "nag",
    "sr",
    "adam",
    "rmsprop",
    "learnable-momentum",
    "nesterov",
)
# The authors' pre-activation Nesterov cell (their NesterovLSTMCell) exists for the LSTM alone.
_ONLY: dict[Variant, tuple[Base, ...]] = {"nesterov": ("lstm",)}
HYPERPARAMETERS = ("mu", "s", "beta", "eps", "restart")
Init = Literal["paper", "identity", "pytorch", "chrono", "cayley"]
INITS: tuple[Init, ...] = get_args(Init)
# The gate block that keeps the state, whose bias chrono draws: the LSTM's forget gate f, the GRU's
# update gate z (PyTorch's second blocks), JANET's forget gate s (its first).
KEEP_BLOCK: Mapping[Base, int] = MappingProxyType({"lstm": 1, "gru": 1, "janet": 0})

# The paper's defaults (MNIST settings for μ, s, F; β and ε as in RMSprop/Adam).
DEFAULTS: Mapping[str, float | int] = MappingProxyType({"mu": 0.6, "s": 0.6, "beta": 0.9, "eps": 1e-8, "restart": 2})


@dataclass(frozen=True)
class Drive:
    """What a variant's drive is, as the code around the cells asks it (the cells ask their own module).

    `plain`: the drive is the input itself, `d_t = a_t` (no momentum); a plain kind is the baseline its
    base cell's other kinds are compared with. `color`: the drive's hue in every report, or `None` for
    `DEFAULT_COLOR`, so that a drive added without one still draws.
    """

    name: str
    uses: tuple[str, ...]  # the momentum hyperparameters, in `HYPERPARAMETERS` order
    plain: bool = False
    color: tuple[int, int, int] | None = None


DEFAULT_COLOR = (127, 127, 127)
# A hue per drive: the usual study compares drives on one base cell.
DRIVES: Mapping[str, Drive] = MappingProxyType(
    {
        drive.name: drive
        for drive in (
            Drive("plain", (), plain=True, color=(31, 119, 180)),
            Drive("momentum", ("mu", "s"), color=(44, 160, 44)),
            Drive("nag", ("s",), color=(148, 103, 189)),
            Drive("sr", ("s", "restart"), color=(140, 86, 75)),
            Drive("adam", ("mu", "s", "beta", "eps"), color=(255, 127, 14)),
            Drive("rmsprop", ("s", "beta", "eps"), color=(214, 39, 40)),
            # μ and s are trained; these are their initial values.
            Drive("learnable-momentum", ("mu", "s"), color=(23, 190, 207)),
            Drive("nesterov", ("s", "restart"), color=(227, 119, 194)),
        )
    }
)
# Each base cell's shade of its drive's hue: < 0 towards black, > 0 towards white; 0 for a base not listed.
BASE_SHADES: Mapping[str, float] = MappingProxyType(
    {"lstm": 0.0, "gru": -0.4, "rnn": 0.35, "exprnn": 0.6, "janet": -0.65, "ur-lstm": 0.2}
)


_RANGES = {
    "mu": ("0 <= mu < 1", lambda v: 0 <= v < 1),
    "s": ("0 < s < inf", lambda v: 0 < v < math.inf),
    "beta": ("0 <= beta < 1", lambda v: 0 <= v < 1),
    "eps": ("0 < eps < inf", lambda v: 0 < v < math.inf),
    "restart": ("restart >= 0 (an integer; 0 never restarts)", lambda v: v >= 0),
}


@dataclass(frozen=True)
class CellKind:
    """One cell kind: a base cell (one of `BASES`) driven by one variant's drive `d_t` (see `Drive`).

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
    def drive(self) -> Drive:
        """The registered drive of the kind's variant; one without an entry uses the kind's hyperparameters,
        is not plain and draws in the default colour."""
        return DRIVES.get(self.variant) or Drive(self.variant, self.hyperparameters)

    @property
    def plain(self) -> bool:
        """Whether the drive is the input itself (`lstm`, `gru`, ...): no momentum."""
        return self.drive.plain

    @property
    def baseline(self) -> bool:
        """Whether the kind is the reference its base cell's other kinds are compared with: the plain kind.

        Not the same as having nothing to search: a kind whose hyperparameters are all fixed by a spec
        has nothing to search either, and is still compared with its baseline.
        """
        return self.plain

    @property
    def color(self) -> str:
        """`#rrggbb`: the drive's hue in the base cell's shade, the same in every figure and every study."""
        shade = BASE_SHADES.get(self.base, 0.0)
        target = 255 if shade > 0 else 0
        r, g, b = (round(c + abs(shade) * (target - c)) for c in self.drive.color or DEFAULT_COLOR)
        return f"#{r:02x}{g:02x}{b:02x}"

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

    def check_init(self, init: str, *, t_max: float | None = None, forget_bias: float | None = None) -> None:
        """Check an initialisation and its options against this kind (`MomentumCell` applies them).

        Raises:
            ValueError: `init` not in `INITS`; `init="chrono"` on a kind without a keep gate (rnn,
                exprnn, ur-lstm) or without `t_max`; `init="cayley"` on a kind other than exprnn's;
                `t_max` below 2 or without `init="chrono"`; `forget_bias` on a kind other than an LSTM's,
                with another init, or not finite.
        """
        if init not in INITS:
            raise ValueError(f"init must be one of {', '.join(map(repr, INITS))}, got {init!r}")
        if init == "chrono" and self.base not in KEEP_BLOCK:
            raise ValueError(f"init='chrono' sets a keep gate's bias; {self.name!r} has none (use an lstm, gru or janet kind)")
        if init == "cayley" and self.base != "exprnn":
            raise ValueError(f"init='cayley' draws an orthogonal U; {self.name!r} has none (use an exprnn kind)")
        if (init == "chrono") != (t_max is not None):
            raise ValueError(f"t_max is required by init='chrono' and used by it alone; got init={init!r}, t_max={t_max!r}")
        # U(1, T_max - 1) needs T_max - 1 >= 1.
        if t_max is not None and (not isinstance(t_max, numbers.Real) or isinstance(t_max, bool) or not t_max >= 2):
            raise ValueError(f"t_max must be a real number >= 2, got {t_max!r}")
        if forget_bias is not None:
            if self.base != "lstm" or init not in ("paper", "identity"):
                raise ValueError(
                    f"forget_bias sets the LSTM's forget gate under init='paper' or 'identity'; "
                    f"got kind {self.name!r}, init={init!r}"
                )
            real = isinstance(forget_bias, numbers.Real) and not isinstance(forget_bias, bool)
            if not real or not math.isfinite(forget_bias):
                raise ValueError(f"forget_bias must be a finite real number, got {forget_bias!r}")


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
    drive = DRIVES[variant]
    name = base if drive.plain else f"{variant}-{base}"
    uses = drive.uses
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
