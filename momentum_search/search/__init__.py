"""Search spaces per cell kind, and the engine that turns a study into trials calling the trainer."""

from __future__ import annotations

from momentum_search._quiet import allow_experimental
from momentum_search.search._gain import GAIN, drive_scale, gain, takes_gain
from momentum_search.search._objective import FIXABLE_FIELDS, Evaluation, TrialPlan, evaluate
from momentum_search.search._optuna import (
    REASON_ATTR,
    OptunaEngine,
    TrialCounts,
    count_trials,
    point_key,
    trial_params,
)
from momentum_search.search._racing import RacingSpec, RacingTest
from momentum_search.search._record import (
    ENGINE_ATTR,
    REUSED_FROM_ATTR,
    SOURCE_ATTR,
    STANDING_ATTRS,
    STANDING_PARAMS,
    SUMMARY_ATTRS,
    TRIAL_SEEDS_ATTR,
    WORKER_ATTR,
    Ranks,
    Standing,
    TrialRecord,
    best,
    best_trials,
    better,
    evaluation_attrs,
    finished_attrs,
    merged_attrs,
    pareto_front,
    ranked,
    searched_per_kind,
    twin_attrs,
)
from momentum_search.search._recovery import OWNER_ATTR, fail_orphaned_trials
from momentum_search.search._ray import RayEngine, RayRun, check_address
from momentum_search.search._ray_books import LiveTrial
from momentum_search.search._samplers import PrunerName, PrunerSpec, SamplerName, SamplerSpec
from momentum_search.search._schedulers import SchedulerName, SchedulerSpec
from momentum_search.search._space import CELL_PARAMETER, DOMAINS, Dimension, Parameter, SearchSpace
from momentum_search.store import fail_stale_trials

__all__ = [
    "CELL_PARAMETER",
    "DOMAINS",
    "ENGINE_ATTR",
    "FIXABLE_FIELDS",
    "GAIN",
    "OWNER_ATTR",
    "REASON_ATTR",
    "REUSED_FROM_ATTR",
    "SOURCE_ATTR",
    "STANDING_ATTRS",
    "STANDING_PARAMS",
    "SUMMARY_ATTRS",
    "TRIAL_SEEDS_ATTR",
    "WORKER_ATTR",
    "Dimension",
    "Evaluation",
    "LiveTrial",
    "OptunaEngine",
    "Parameter",
    "PrunerName",
    "PrunerSpec",
    "RacingSpec",
    "RacingTest",
    "Ranks",
    "RayEngine",
    "RayRun",
    "SamplerName",
    "SamplerSpec",
    "SchedulerName",
    "SchedulerSpec",
    "SearchSpace",
    "Standing",
    "TrialCounts",
    "TrialPlan",
    "TrialRecord",
    "check_address",
    "allow_experimental",
    "best",
    "best_trials",
    "better",
    "count_trials",
    "drive_scale",
    "evaluate",
    "evaluation_attrs",
    "fail_orphaned_trials",
    "fail_stale_trials",
    "finished_attrs",
    "gain",
    "merged_attrs",
    "pareto_front",
    "point_key",
    "ranked",
    "searched_per_kind",
    "takes_gain",
    "trial_params",
    "twin_attrs",
]
