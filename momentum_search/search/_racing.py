"""Seed racing: a configuration earns its next seed only while it can still beat the incumbent.

SMAC's intensification with seeds as its instances. The incumbent is the best COMPLETE trial; every
COMPLETE trial ran all the study's seeds, so the incumbent holds the most. A challenger trains on
the first seed (where the epoch pruner may stop it), and before each further seed its values are
compared, seed by seed, with the incumbent's on the same seeds:

- ``test: mean`` (SMAC's rule): it stops when its mean over those seeds is worse than the
  incumbent's mean over the same seeds.
- ``test: wilcoxon``: Optuna's :class:`~optuna.pruners.WilcoxonPruner` with the seeds as instances:
  it stops when a one-sided Wilcoxon signed-rank test on the paired differences says it is worse at
  level ``p``. A signed-rank test on n pairs cannot go below p = 2⁻ⁿ, so with p = 0.1 it stops
  nothing before the 4th seed: it suits studies of many seeds, ``mean`` suits few.

A challenger that runs every seed completes, whatever its mean: its value is then as well measured
as the incumbent's, and the better of the two is the incumbent from then on.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from momentum_search._quiet import allow_experimental

RacingTest = Literal["mean", "wilcoxon"]


class RacingSpec(BaseModel):
    """How seeds are raced: the ``test`` that stops a challenger, and ``p`` for the Wilcoxon test."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    test: RacingTest = "mean"
    p: float | None = Field(default=None, gt=0, lt=1)

    @model_validator(mode="after")
    def _p_for_wilcoxon(self) -> RacingSpec:
        if self.p is not None and self.test != "wilcoxon":
            raise ValueError(f"p applies to test wilcoxon, not {self.test}")
        return self

    def loses(
        self,
        challenger: Mapping[int, float],
        incumbent: Mapping[int, float],
        *,
        direction: str,
        against: str = "the incumbent",
    ) -> str | None:
        """Why ``challenger`` (seed → value) stops against ``incumbent`` (named ``against``) on their
        shared seeds, or None while it can still beat it."""
        shared = [seed for seed in challenger if seed in incumbent]
        if not shared:
            return None
        mine = statistics.fmean(challenger[seed] for seed in shared)
        theirs = statistics.fmean(incumbent[seed] for seed in shared)
        seeds = ", ".join(str(seed) for seed in shared)
        if self.test == "wilcoxon":
            p = self.p if self.p is not None else 0.1
            if not _wilcoxon_worse(challenger, incumbent, direction=direction, p=p):
                return None
            return f"mean {mine:.4g} on seeds {seeds}, worse than {against}'s {theirs:.4g} (Wilcoxon p < {p:g})"
        worse = mine < theirs if direction == "maximize" else mine > theirs
        return f"mean {mine:.4g} on seeds {seeds}, worse than {against}'s {theirs:.4g}" if worse else None


def _wilcoxon_worse(challenger: Mapping[int, float], incumbent: Mapping[int, float], *, direction: str, p: float) -> bool:
    """Optuna's WilcoxonPruner on an in-memory study that holds the incumbent, seeds as steps."""
    import optuna

    with allow_experimental():
        pruner = optuna.pruners.WilcoxonPruner(p_threshold=p)
    study = optuna.create_study(direction=optuna.study.StudyDirection[direction.upper()], pruner=pruner)
    study.add_trial(optuna.trial.create_trial(value=statistics.fmean(incumbent.values()), intermediate_values=dict(incumbent)))
    trial = study.ask()
    for seed, value in challenger.items():
        trial.report(value, step=seed)
    return trial.should_prune()
