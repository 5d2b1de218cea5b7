"""The gain parametrisation: ``g = s/(1−μ)`` instead of the drive scale ``s``.

On a constant input drive ``a`` the momentum state ``v_t = μ v_{t-1} + s a`` settles at ``g·a``, so
comparing μ at a fixed s confounds momentum with gain; a study that searches (or fixes) g holds the
gain while μ varies, and each trial runs ``s = g(1−μ)``.

Which kinds take g: every kind whose hyperparameters include s. A kind with μ as well (momentum, adam,
any kind with both) converts with its μ; a kind without μ reads g as s (μ = 0). That is exact for
rmsprop, which is adam at μ = 0; nag's and sr's μ_t schedules have no single steady state, so for them g
is the drive scale alone. Kinds without s do not use g, as nag does not use μ.
"""

from __future__ import annotations

from momentum_search.trainers import CELL_KINDS

GAIN = "g"


def takes_gain(cell: str) -> bool:
    """Whether cell kind ``cell`` has a drive scale s, and so takes the gain g."""
    return "s" in CELL_KINDS[cell].hyperparameters


def _mu(cell: str, mu: float | None) -> float:
    kind = CELL_KINDS[cell]
    if "mu" not in kind.hyperparameters:
        return 0.0
    return kind.defaults["mu"] if mu is None else mu


def drive_scale(cell: str, *, g: float, mu: float | None) -> float:
    """The s that gives kind ``cell`` the gain ``g`` at ``mu`` (None: the kind's default μ)."""
    return g * (1.0 - _mu(cell, mu))


def gain(cell: str, *, s: float | None, mu: float | None) -> float | None:
    """``s/(1−μ)`` of kind ``cell`` (None for s or μ: the kind's default); None for a kind without s."""
    if not takes_gain(cell):
        return None
    return (CELL_KINDS[cell].defaults["s"] if s is None else s) / (1.0 - _mu(cell, mu))
