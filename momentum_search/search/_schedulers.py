"""Ray Tune's schedulers as a study spec names them: what stops or perturbs a running trial on Ray."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from momentum_search.search._samplers import check_options

if TYPE_CHECKING:
    from momentum_search.search._samplers import SamplerSpec
    from momentum_search.search._space import SearchSpace

SchedulerName = Literal["asha", "hyperband", "pbt", "none"]
# What population-based training perturbs; the other parameters only change when a member copies another.
PBT_PARAMETERS = ("mu", "s")


class SchedulerSpec(BaseModel):
    """How Ray Tune stops or perturbs running trials (``--engine ray``; on Optuna the pruner does this).

    - ``asha`` (the default for one objective): asynchronous successive halving; at epochs
      ``grace_period · reduction_factor^k`` a trial continues only if it is in the top
      ``1/reduction_factor`` of the trials that got there (defaults 1 and 4).
    - ``hyperband``: ASHA over several brackets of grace periods, asynchronous HyperBand as Optuna's
      HyperbandPruner runs it (defaults 1 and 3).
    - ``pbt``: population-based training; the budget's trials are the population. Every
      ``perturbation_interval`` epochs (default a quarter of the epochs) the members wait for each
      other, then each one in the bottom quarter copies the weights and configuration of one in the
      top quarter and multiplies μ and s by 0.8 or 1.2, or redraws them (probability 1/4), within
      the searched range. Needs μ or s in the space, one seed, the random sampler (which draws the
      initial population) and no timeout.
    - ``none``: every trial runs to its last epoch (the default for two objectives).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: SchedulerName | None = None
    grace_period: int | None = Field(default=None, ge=1)
    reduction_factor: int | None = Field(default=None, ge=2)
    perturbation_interval: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _options_fit_scheduler(self) -> SchedulerSpec:
        check_options(
            self,
            "scheduler",
            {
                "asha": {"grace_period", "reduction_factor"},
                "hyperband": {"grace_period", "reduction_factor"},
                "pbt": {"perturbation_interval"},
            },
        )
        return self

    def resolved(self, *, objectives: int) -> SchedulerSpec:
        """A copy with the name filled in.

        Raises:
            ValueError: a scheduler other than ``none`` with two objectives.
        """
        if objectives > 1 and self.name not in (None, "none"):
            raise ValueError(f"scheduler.name: {self.name} ranks trials by one metric; with two objectives use none")
        return self.model_copy(update={"name": self.name or ("asha" if objectives == 1 else "none")})

    def check(
        self,
        *,
        space: SearchSpace,
        sampler: SamplerSpec,
        seeds: tuple[int, ...],
        epochs: int,
        timeout: float | None = None,
    ) -> None:
        """Raise ValueError unless the scheduler can run this study (``name`` must be resolved)."""
        if self.grace_period is not None and self.grace_period > epochs:
            raise ValueError(f"scheduler.grace_period: {self.grace_period} exceeds the {epochs} epochs of a trial")
        if self.name != "pbt":
            return
        if not any(name in space.dimensions for name in PBT_PARAMETERS):
            raise ValueError("scheduler.name: pbt perturbs mu and s; search at least one of them (space.mu, space.s)")
        if len(seeds) != 1:
            raise ValueError(f"scheduler.name: pbt trains one seed per population member; got seeds {list(seeds)}")
        if sampler.name != "random":
            raise ValueError(
                f"scheduler.name: pbt draws its initial population at random; set sampler.name to random, not {sampler.name}"
            )
        if timeout is not None:
            raise ValueError("budget.timeout: does not apply to scheduler pbt, whose population trains together")

    def interval(self, epochs: int) -> int:
        """PBT's perturbation interval in epochs."""
        return self.perturbation_interval or max(1, epochs // 4)
