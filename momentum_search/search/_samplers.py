"""Which Optuna sampler proposes the next configuration, and which pruner stops unpromising trials."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from momentum_search._quiet import allow_experimental

if TYPE_CHECKING:
    import optuna

SamplerName = Literal["tpe", "gp", "cmaes", "random", "qmc", "grid", "nsga2"]
PrunerName = Literal["median", "hyperband", "successive-halving", "none"]
# Samplers that optimise one objective only; the others handle a Pareto front too.
_SINGLE_OBJECTIVE_SAMPLERS = frozenset({"gp", "cmaes"})
_STARTUP_SAMPLERS = frozenset({"tpe", "gp", "cmaes"})


def check_options(spec: BaseModel, what: str, allowed: dict[str, set[str]]) -> None:
    """Raise ValueError if ``spec`` (a pruner or scheduler with a ``name``) sets an option its name does not take."""
    name = spec.name  # type: ignore[attr-defined]
    takes = allowed.get(name or "", set())
    given = {key for key in type(spec).model_fields if key != "name" and getattr(spec, key) is not None}
    if given - takes:
        raise ValueError(
            f"option(s) {', '.join(sorted(given - takes))} do not apply to {what} {name}; "
            f"it takes {', '.join(sorted(takes)) or 'none'}"
        )


class SamplerSpec(BaseModel):
    """The sampler: ``name``, its ``seed``, and for tpe/gp/cmaes the random trials before it models.

    ``name=None`` picks ``tpe`` for one objective and ``nsga2`` for a Pareto front. ``grid`` visits
    the explicit ``points`` of every dimension exactly once (see :meth:`SearchSpace.grid`).

    ``kinds``: ``shared`` queues each trial with its cell kind fixed, so that the kinds with something
    to search share the budget evenly (what a comparison of kinds wants); ``sampled`` lets the sampler
    choose the kind as well, so that it can spend more on a promising one (what a search for the best
    configuration may want), at the price of twins once a plain cell leads. Plain baselines run first
    either way.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: SamplerName | None = None
    seed: int | None = Field(default=0, ge=0)
    n_startup_trials: int | None = Field(default=None, ge=0)
    kinds: Literal["shared", "sampled"] = "shared"

    @model_validator(mode="after")
    def _options_fit_sampler(self) -> SamplerSpec:
        if self.n_startup_trials is not None and self.name not in _STARTUP_SAMPLERS:
            raise ValueError(f"n_startup_trials applies to samplers {', '.join(sorted(_STARTUP_SAMPLERS))}, not {self.name}")
        if self.kinds == "sampled" and self.name == "grid":
            raise ValueError("kinds: sampled does not apply to the grid sampler, which visits every kind's points")
        return self

    def resolved(self, *, objectives: int) -> SamplerSpec:
        """A copy with the name filled in, checked against the number of objectives.

        Raises:
            ValueError: a single-objective sampler (gp, cmaes) for two objectives.
        """
        name = self.name or ("tpe" if objectives == 1 else "nsga2")
        if objectives > 1 and name in _SINGLE_OBJECTIVE_SAMPLERS:
            raise ValueError(
                f"sampler.name: {name} optimises one objective; with train_time as a second objective use "
                f"one of nsga2, tpe, random, qmc, grid"
            )
        if name == "cmaes":
            _require_cmaes()
        return self.model_copy(update={"name": name})

    def build(self, *, trial_number: int) -> optuna.samplers.BaseSampler:
        """The sampler for trial ``trial_number`` of a study (``name`` must be resolved).

        Samplers keep no state between trials that the storage does not hold, so each trial gets a
        fresh one seeded with ``seed + trial_number``: a single worker replays the same study, and
        parallel workers do not propose the same random startup points. QMC is the exception: its
        scrambling must stay the same across trials, so it keeps ``seed``.
        """
        import optuna

        seed = None if self.seed is None else self.seed + trial_number
        startup: dict[str, Any] = {} if self.n_startup_trials is None else {"n_startup_trials": self.n_startup_trials}
        with allow_experimental():
            if self.name == "tpe":
                return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True, **startup)
            if self.name == "gp":
                return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False, **startup)
            if self.name == "cmaes":
                return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False, **startup)
            if self.name == "qmc":
                return optuna.samplers.QMCSampler(
                    seed=self.seed, scramble=True, warn_asynchronous_seeding=False, warn_independent_sampling=False
                )
            if self.name == "nsga2":
                return optuna.samplers.NSGAIISampler(seed=seed)
            # random, and grid: grid trials are enqueued with every parameter fixed, so nothing is sampled.
            return optuna.samplers.RandomSampler(seed=seed)


def _require_cmaes() -> None:
    try:
        import cmaes  # noqa: F401
    except ImportError:
        raise ValueError("sampler.name: cmaes needs the 'cmaes' package (pip install cmaes)") from None


class PrunerSpec(BaseModel):
    """The pruner, fed the first seed's validation metric after every epoch (step = epoch, from 1).

    ``name=None`` picks ``median`` for one objective and ``none`` for two (Optuna cannot prune
    multi-objective trials). Options: ``n_startup_trials`` and ``n_warmup_steps`` for median,
    ``min_resource`` and ``reduction_factor`` for hyperband and successive-halving.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: PrunerName | None = None
    n_startup_trials: int | None = Field(default=None, ge=0)
    n_warmup_steps: int | None = Field(default=None, ge=0)
    min_resource: int | None = Field(default=None, ge=1)
    reduction_factor: int | None = Field(default=None, ge=2)

    @model_validator(mode="after")
    def _options_fit_pruner(self) -> PrunerSpec:
        check_options(
            self,
            "pruner",
            {
                "median": {"n_startup_trials", "n_warmup_steps"},
                "hyperband": {"min_resource", "reduction_factor"},
                "successive-halving": {"min_resource", "reduction_factor"},
            },
        )
        return self

    def resolved(self, *, objectives: int) -> PrunerSpec:
        """A copy with the name filled in.

        Raises:
            ValueError: a pruner other than ``none`` with two objectives.
        """
        if objectives > 1 and self.name not in (None, "none"):
            raise ValueError(f"pruner.name: {self.name} cannot prune a two-objective study; use none")
        return self.model_copy(update={"name": self.name or ("median" if objectives == 1 else "none")})

    def build(self, *, max_epochs: int) -> optuna.pruners.BasePruner:
        """The pruner (``name`` must be resolved); ``max_epochs`` bounds hyperband's resource."""
        import optuna

        if self.name == "median":
            return optuna.pruners.MedianPruner(
                n_startup_trials=5 if self.n_startup_trials is None else self.n_startup_trials,
                n_warmup_steps=self.n_warmup_steps or 0,
            )
        if self.name == "hyperband":
            return optuna.pruners.HyperbandPruner(
                min_resource=self.min_resource or 1,
                max_resource=max_epochs,
                reduction_factor=self.reduction_factor or 3,
            )
        if self.name == "successive-halving":
            return optuna.pruners.SuccessiveHalvingPruner(
                min_resource=self.min_resource or 1, reduction_factor=self.reduction_factor or 4
            )
        return optuna.pruners.NopPruner()
