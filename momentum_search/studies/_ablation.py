"""Ablations: the study set that asks whether what a momentum cell gains comes from momentum.

The momentum state ``v_t = μ v_{t-1} + s a_t`` changes two things at once: it adds a recurrence in
``μ``, and it multiplies the input drive's steady-state gain by ``g = s/(1-μ)``. The set separates
them; every arm trains one configuration with the same epochs, seeds and fixed trainer settings:

- ``search``: the momentum cell over ``(μ, g)`` (TPE, the first seed), which picks the gain ``g*``
  to hold and a ``μ*`` (skipped when the gain is given);
- ``plain``: the plain cell;
- ``gain``: the momentum cell at ``μ = 0, s = g*``, i.e. the plain cell with its input scaled by ``g*``;
- ``momentum``: the momentum cell at each ``μ`` with ``g*`` held (``s = g*(1-μ)``);
- ``learnable``: the learnable-momentum cell, its ``μ`` and ``s`` trained from ``μ*, g*``;
- ``chrono``: the plain cell with chrono initialisation (LSTM and GRU bases only);
- ``janet``, ``ur-lstm``: the simpler related cells the reviewers named (LSTM base only).

Each arm (and the search) is a study of its own, named ``SET.ARM``, with user attr ``ablation``
(set, arm, role, and its μ) so that reports find the set in the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from momentum_search._quiet import quiet_optuna
from momentum_search.search import GAIN
from momentum_search.store import open_storage
from momentum_search.studies._launch import launch
from momentum_search.studies._spec import SpecError, StudySpec, parse_spec
from momentum_search.studies._study import create_or_resume, load
from momentum_search.studies._workers import LaunchResult, Progress
from momentum_search.trainers import CELL_KINDS, TASK_INFO

if TYPE_CHECKING:
    import optuna

ABLATION_ATTR = "ablation"
DEFAULT_MUS = (0.3, 0.6, 0.9)
MU_RANGE = (0.0, 0.95)
GAIN_RANGE = (0.1, 10.0)  # searched on a log scale
CHRONO_BASES = ("lstm", "gru")
RELATED_CELLS = ("janet", "ur-lstm")  # JANET (van der Westhuizen & Lasenby 2018), UR-LSTM (Gu et al. 2020)


@dataclass(frozen=True)
class ArmPlan:
    """One study of the set: its role (search, plain, gain, momentum, learnable, chrono), label and spec."""

    role: str
    label: str
    spec: StudySpec
    mu: float | None = None


@dataclass(frozen=True)
class AblationPlan:
    """What ``ablate`` runs: the set's name and base settings; ``arms`` need the gain, so they are
    built by :meth:`arms` once the search (or the user) has given it."""

    name: str
    task: str
    task_params: dict[str, Any]
    cell: str
    seeds: tuple[int, ...]
    epochs: int | None
    fixed: dict[str, Any]
    mus: tuple[float, ...]
    search_trials: int

    @property
    def base(self) -> str:
        return CELL_KINDS[self.cell].base

    def search(self) -> ArmPlan:
        """The (μ, g) search on the first seed."""
        spec = self._spec(
            "search",
            self.cell,
            {},
            trials=self.search_trials,
            seeds=self.seeds[:1],
            space={
                "mu": {"low": MU_RANGE[0], "high": MU_RANGE[1]},
                GAIN: {"low": GAIN_RANGE[0], "high": GAIN_RANGE[1], "log": True},
            },
        )
        return ArmPlan("search", "search", spec)

    def arms(self, gain: float, mu_star: float) -> list[ArmPlan]:
        """Every arm, with the gain ``gain`` held and the learnable arm started from ``mu_star``."""
        base = self.base
        arms = [
            ArmPlan("plain", base, self._spec("plain", base, {})),
            ArmPlan("gain", "μ = 0", self._spec("gain", self.cell, {"mu": 0.0, GAIN: gain}), mu=0.0),
        ]
        for mu in self.mus:
            spec = self._spec(f"mu-{mu:g}", self.cell, {"mu": mu, GAIN: gain})
            arms.append(ArmPlan("momentum", f"μ = {mu:g}", spec, mu=mu))
        learnable = f"learnable-momentum-{base}"
        arms.append(
            ArmPlan("learnable", "learned μ", self._spec("learnable", learnable, {"mu": mu_star, GAIN: gain}), mu=mu_star)
        )
        if base in CHRONO_BASES:
            arms.append(ArmPlan("chrono", f"{base} chrono", self._spec("chrono", base, {"init": "chrono"})))
        if base == "lstm":
            # The simpler, stronger related work the reviewers named, each with its paper's initialisation.
            arms += [ArmPlan(cell, cell, self._spec(cell, cell, {})) for cell in RELATED_CELLS]
        return arms

    def _spec(
        self,
        suffix: str,
        cell: str,
        fixed: dict[str, Any],
        *,
        trials: int = 1,
        seeds: tuple[int, ...] | None = None,
        space: dict[str, Any] | None = None,
    ) -> StudySpec:
        data = {
            "name": f"{self.name}.{suffix}",
            "description": f"ablation {self.name}: {suffix}",
            "task": self.task,
            "task_params": self.task_params,
            "cells": [cell],
            "space": space or {},
            "fixed": {**self.fixed, **fixed},
            "budget": {"trials": trials, "epochs": self.epochs},
            "seeds": list(seeds or self.seeds),
        }
        return parse_spec(data, source="ablate options")


def plan_ablation(
    *,
    task: str,
    cell: str,
    name: str | None = None,
    task_params: dict[str, Any] | None = None,
    seeds: int = 3,
    epochs: int | None = None,
    fixed: dict[str, Any] | None = None,
    mus: Sequence[float] = DEFAULT_MUS,
    search_trials: int = 16,
) -> AblationPlan:
    """Check the options and plan the set (nothing is written).

    Raises:
        SpecError: an unknown task, a cell that is not a momentum kind (``momentum-*``), fewer than 2
            seeds, a μ outside [0, 1), or fixed settings that decide what the arms vary.
    """
    if task not in TASK_INFO:
        raise SpecError(f"task: unknown task {task!r}; known tasks: {', '.join(TASK_INFO)}")
    kind = CELL_KINDS.get(cell)
    if kind is None or kind.variant != "momentum":
        momentum = ", ".join(name for name, k in CELL_KINDS.items() if k.variant == "momentum")
        raise SpecError(f"cell: ablate takes a momentum kind ({momentum}), got {cell!r}")
    if seeds < 2:
        raise SpecError(f"seeds: a verdict's interval needs at least 2 seeds per arm, got {seeds}")
    if not mus or not all(0 <= mu < 1 for mu in mus):
        raise SpecError(f"mu: each μ must satisfy 0 ≤ μ < 1, got {list(mus)}")
    fixed = dict(fixed or {})
    varied = sorted(set(fixed) & {"mu", "s", GAIN, "init", "t_max"})
    if varied:
        raise SpecError(f"fixed: {', '.join(varied)} are what the arms set; leave them out")
    if search_trials < 1:
        raise SpecError(f"search_trials: must be ≥ 1, got {search_trials}")
    plan = AblationPlan(
        name=name or f"ablate-{task}-{cell}",
        task=task,
        task_params=dict(task_params or {}),
        cell=cell,
        seeds=tuple(range(seeds)),
        epochs=epochs,
        fixed=fixed,
        search_trials=search_trials,
        mus=tuple(mu for mu in dict.fromkeys(mus) if mu != 0),  # μ = 0 is the gain arm
    )
    plan.search()  # validates the shared settings (task params, fixed values, epochs) as a spec
    return plan


@dataclass(frozen=True)
class AblationRun:
    """What :func:`run_ablation` did: the gain held and where it came from, and each study's launch."""

    name: str
    gain: float
    mu_star: float
    gain_source: str  # "search" (its best trial's number follows) or "given"
    launches: list[tuple[ArmPlan, LaunchResult]]


def run_ablation(
    plan: AblationPlan,
    *,
    storage: str | None = None,
    gain: float | None = None,
    workers: int = 1,
    on_start: Callable[[ArmPlan], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> AblationRun:
    """Run the set's studies in turn (each resumes if it exists); ``gain`` given skips the search.

    Arms run one after another, each one trial whose seeds train in turn on every core; the search
    uses ``workers`` local workers.

    Raises:
        SpecError, ValueError, StorageError: as :func:`launch`; a study of the same name with a
            different spec (e.g. another gain): pick another ``name`` or delete the set.
    """
    if gain is not None and not gain > 0:
        raise SpecError(f"gain: must be > 0, got {gain}")
    quiet_optuna()
    backend = open_storage(storage)
    launches: list[tuple[ArmPlan, LaunchResult]] = []

    def run(arm: ArmPlan, *, arm_workers: int = 1) -> LaunchResult:
        study, _ = create_or_resume(backend, arm.spec)
        study.set_user_attr(ABLATION_ATTR, {"set": plan.name, "arm": arm.label, "role": arm.role, "mu": arm.mu})
        if on_start is not None:
            on_start(arm)
        result = launch(arm.spec, storage=storage, workers=arm_workers, on_progress=on_progress)
        launches.append((arm, result))
        if result.interrupted:
            raise KeyboardInterrupt
        return result

    if gain is None:
        search = plan.search()
        run(search, arm_workers=workers)
        best = _best(search.spec, backend)
        gain, mu_star, source = best.params[GAIN], best.params["mu"], f"search (trial {best.number})"
    else:
        mu_star, source = 0.6, "given"  # the paper's μ for the learnable arm's start
    for arm in plan.arms(gain, mu_star):
        run(arm)
    return AblationRun(plan.name, gain, mu_star, source, launches)


def _best(spec: StudySpec, backend: Any) -> optuna.trial.FrozenTrial:
    try:
        return load(backend, spec.name).best_trial
    except ValueError:
        raise SpecError(f"study {spec.name!r}: no complete trial to take the gain from (see `studies show`)") from None
