"""Confirmation: the search's best configurations retrained on held-out seeds that no search trial used.

A study's best value is the maximum over many noisy runs, so it is biased upwards (the winner's
curse). Confirmation retrains the candidates — the ``top`` K configurations, each cell kind's best
(the plain kinds' best are the baselines), and for kinds searched at μ = 0 the best at μ = 0 and
at μ > 0 — on fresh seeds, and the views lead with those values.

Confirmations are trials of their own, in the study ``NAME.confirm``: each holds its source trial's
parameters exactly and the source's number in user attr ``source``, and every held-out seed's
values. The ordinary workers train them one held-out seed at a time, as trials of the study
``NAME.confirm.seeds`` (one per candidate and seed, so that every worker has work until the last
seed: three candidates' five seeds one after another left one of two workers idle a third of the
time); once a candidate's seeds are all trained they are merged into its trial of ``NAME.confirm``,
which reads exactly as one trial that trained them all (and as those stored before). The seed
study is deleted once every candidate is merged. Which candidates a study has is recomputed from the
search trials whenever it is read, so a search resumed after confirming shows its new best as not
confirmed until ``confirm`` runs again; that run trains only what is not confirmed yet.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from momentum_search.search import (
    REASON_ATTR,
    SOURCE_ATTR,
    SUMMARY_ATTRS,
    TRIAL_SEEDS_ATTR,
    WORKER_ATTR,
    Ranks,
    TrialRecord,
    finished_attrs,
    merged_attrs,
    point_key,
    ranked,
    searched_per_kind,
    trial_params,
)
from momentum_search._quiet import quiet_optuna
from momentum_search.studies._lifecycle import (
    create_or_resume,
    load,
    stored_trials,
    study_spec,
    trial_records,
)
from momentum_search.studies._spec import SpecError, StudySpec, parse_spec
from momentum_search.store import open_storage, storage_of
from momentum_search.trainers import CELL_KINDS

if TYPE_CHECKING:
    import optuna
    from optuna.storages import RDBStorage
    from optuna.trial import FrozenTrial

    from momentum_search.studies._launch import LaunchResult, Progress

SUFFIX = ".confirm"
SEEDS_SUFFIX = ".seeds"  # after SUFFIX: the study of the held-out seeds' trainings, one trial each
CONFIRMS_ATTR = "confirms"  # on a confirmation study: the search study it confirms
TOP_ATTR = "confirm_top"  # on a confirmation study: the K of its last run
HELD_OUT_FROM = 1000  # held-out seeds are the first integers from here on that the search did not use
DEFAULT_TOP = 3
DEFAULT_SEEDS = 5
CONFIDENCE = 0.95
_R = TypeVar("_R", bound=Ranks)


def confirmation_name(study: str) -> str:
    return study + SUFFIX


def seed_runs_name(study: str) -> str:
    """The study where ``study``'s candidates train on their held-out seeds, one trial per seed."""
    return confirmation_name(study) + SEEDS_SUFFIX


def held_out_seeds(search_seeds: Sequence[int], n: int) -> tuple[int, ...]:
    """``n`` seeds from ``HELD_OUT_FROM`` on, skipping any of ``search_seeds``."""
    seeds: list[int] = []
    seed = HELD_OUT_FROM
    while len(seeds) < n:
        if seed not in search_seeds:
            seeds.append(seed)
        seed += 1
    return tuple(seeds)


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student's t interval of the mean of ``values``; None for fewer than 2 (one seed has no spread)."""
    # stdtrit is the t quantile scipy.stats.t.ppf calls, without scipy.stats's half-second import.
    from scipy.special import stdtrit

    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    half = stdtrit(len(values) - 1, 0.5 + confidence / 2) * statistics.stdev(values) / math.sqrt(len(values))
    return mean - float(half), mean + float(half)


# ---- candidates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A search trial to confirm and why (``roles``, e.g. "top 1", "best lstm", "best μ = 0")."""

    source: int  # the search trial's number
    cell: str
    params: dict[str, Any]  # the search trial's parameters, the cell included
    search_value: float  # its mean over the search seeds: the optimistic value
    search_seeds: tuple[int, ...]
    roles: tuple[str, ...]
    baseline: bool  # a plain kind: the reference of its base cell's verdicts


def candidates(trials: Sequence[TrialRecord], *, direction: str, top: int) -> list[Candidate]:
    """The search trials worth confirming, best first, each configuration once with all its roles.

    The top K come from the COMPLETE trials. A kind whose every configuration lost the seed race
    is still confirmed: its best raced trial (by its mean over the seeds it ran) stands for it. A
    trial that copied a twin's result is the same configuration as the twin and is left out.
    """
    return [_candidate(trial, roles) for trial, roles in candidate_roles(trials, direction=direction, top=top)]


def candidate_roles(trials: Sequence[_R], *, direction: str, top: int) -> list[tuple[_R, list[str]]]:
    """:func:`candidates`' trials with their roles; ranking alone chooses them, so standings do too."""
    # COMPLETE first, then those that lost the race; within each, best first.
    order = ranked((t for t in trials if t.complete or t.raced), direction)
    order.sort(key=lambda t: not t.complete)
    roles: dict[int, list[str]] = {}
    for rank, trial in enumerate([t for t in order if t.complete][:top], start=1):
        roles.setdefault(trial.number, []).append(f"top {rank}")
    for cell in dict.fromkeys(str(t.cell) for t in order):
        of_cell = [t for t in order if t.cell == cell]
        picks = [(of_cell[0], f"best {cell}")]
        if any(t.params.get("mu") == 0 for t in of_cell):
            # The paper's question, asked fairly: each side's best, chosen on the search seeds.
            picks.append((next(t for t in of_cell if t.params["mu"] == 0), f"best μ = 0 ({cell})"))
            picks += [(t, f"best μ > 0 ({cell})") for t in of_cell if t.params["mu"] > 0][:1]
        for trial, role in picks:
            roles.setdefault(trial.number, []).append(role)
    return [(trial, roles[trial.number]) for trial in order if trial.number in roles]


def _candidate(trial: TrialRecord, roles: Sequence[str]) -> Candidate:
    assert trial.cell is not None and trial.value is not None
    return Candidate(source=trial.number, cell=trial.cell, params=trial.point, search_value=trial.value,
                     search_seeds=trial.seeds, roles=tuple(roles), baseline=CELL_KINDS[trial.cell].baseline)  # fmt: skip


# ---- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Confirmed:
    """A candidate and, once retrained on the held-out seeds, its values there."""

    candidate: Candidate
    number: int | None = None  # the confirmation trial; None while not confirmed
    state: str | None = None  # its state (COMPLETE when confirmed)
    seeds: tuple[int, ...] = ()
    seed_values: tuple[float, ...] = ()
    test_values: tuple[float, ...] = ()
    reason: str | None = None
    histories: tuple[tuple[float | None, ...], ...] = ()  # each seed's validation value per epoch
    wall_times: tuple[float, ...] = ()  # each seed's training time [s]; () for trials stored before it was

    @property
    def confirmed(self) -> bool:
        return self.state == "COMPLETE" and len(self.seed_values) == len(self.seeds) > 0

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.seed_values) if self.confirmed else None

    @property
    def test_mean(self) -> float | None:
        return statistics.fmean(self.test_values) if self.confirmed and self.test_values else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return mean_interval(self.seed_values) if self.confirmed else None


@dataclass(frozen=True)
class Confirmation:
    """A study's candidates with their confirmed values (see :func:`read_confirmation`)."""

    study: str
    metric: str
    direction: str
    seeds: tuple[int, ...]  # the held-out seeds; () before the first confirmation
    rows: list[Confirmed] = field(default_factory=list)
    searched: dict[str, int] = field(default_factory=dict)  # configurations trained per kind (searched_per_kind); {}: not read

    @property
    def complete(self) -> bool:
        """Whether every candidate is confirmed."""
        return bool(self.rows) and all(row.confirmed for row in self.rows)

    def with_role(self, role: str) -> Confirmed | None:
        return next((row for row in self.rows if role in row.candidate.roles), None)

    def of_params(self, params: dict[str, Any]) -> Confirmed | None:
        """The candidate with exactly ``params`` (the cell included), if it is one."""
        return next((row for row in self.rows if row.candidate.params == params), None)

    def baseline_of(self, cell: str) -> Confirmed | None:
        """The plain cell of ``cell``'s base (lstm for momentum-lstm), if the study has one."""
        return self.with_role(f"best {CELL_KINDS[cell].base}")


def held_study(study: optuna.Study) -> tuple[optuna.Study | None, int]:
    """Search study ``study``'s confirmation study (None: never confirmed) and the K of its top K."""
    import optuna

    name, storage = confirmation_name(study.study_name), storage_of(study)
    held = load(storage, name) if name in optuna.get_all_study_names(storage) else None
    return held, DEFAULT_TOP if held is None else int(held.user_attrs.get(TOP_ATTR, DEFAULT_TOP))


def read_confirmation(
    study: optuna.Study,
    trials: Sequence[TrialRecord] | None = None,
    *,
    held: tuple[optuna.Study | None, int] | None = None,
    searched: dict[str, int] | None = None,
) -> Confirmation:
    """The candidates of search study ``study`` (its ``trials``, read if None: every candidate must be
    among them) joined with their confirmation trials; a study never confirmed has every row
    unconfirmed and no held-out seeds. ``held``: what :func:`held_study` gave, if read already.
    ``searched``: :func:`searched_per_kind` of every trial; counted here when the trials are read
    here, else left empty (``trials`` may be only some of them)."""
    spec = study_spec(study)
    if trials is None:
        trials = trial_records(study, user_attrs=SUMMARY_ATTRS, system_attrs=(), curves=False)
        searched = searched_per_kind(trials) if searched is None else searched
    assert spec.objective.direction is not None
    confirmation, top = held_study(study) if held is None else held
    chosen = candidates(trials, direction=spec.objective.direction, top=top)
    return _joined(study.study_name, spec, chosen, confirmation, searched or {})


def top_confirmation(storage: RDBStorage, name: str, spec: StudySpec, best: TrialRecord, held: str | None) -> Confirmation:
    """The search's best trial ``best`` (the top 1 candidate) alone, joined with its confirmation in
    study ``held`` (None: never confirmed): what ``studies list`` shows without reading every trial."""
    return _joined(name, spec, [_candidate(best, ["top 1"])], None if held is None else load(storage, held))


def _joined(
    name: str, spec: StudySpec, chosen: list[Candidate], held: optuna.Study | None, searched: dict[str, int] | None = None
) -> Confirmation:
    assert spec.objective.direction is not None and spec.objective.metric is not None
    searched = searched or {}
    if held is None:
        return Confirmation(name, spec.objective.metric, spec.objective.direction, (), [Confirmed(c) for c in chosen], searched)
    # The latest trial of each configuration: a failed one may have been queued again.
    retrained = {point_key(trial_params(t)): t for t in stored_trials(held)}
    rows = []
    for candidate in chosen:
        trial = retrained.get(point_key(candidate.params))
        if trial is None:
            rows.append(Confirmed(candidate))
            continue
        record = TrialRecord.of(trial)
        rows.append(Confirmed(candidate, record.number, record.state, record.seeds, record.seed_values,
                              record.seed_test_values, record.reason, record.seed_histories, record.seed_wall_times))  # fmt: skip
    return Confirmation(name, spec.objective.metric, spec.objective.direction, study_spec(held).seeds, rows, searched)


# ---- running ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfirmResult:
    confirmation: Confirmation
    queued: int  # configurations trained by this run (0: everything was confirmed already)
    launch: LaunchResult | None  # None when nothing was trained


def confirmation_spec(spec: StudySpec, *, seeds: int) -> StudySpec:
    """The spec of ``spec``'s confirmation study: the same trials on ``seeds`` held-out seeds, run to
    their last epoch, with no sampler of its own (every trial is queued with its parameters)."""
    data = spec.to_json()
    data.update(
        name=confirmation_name(spec.name),
        description=f"confirmation of {spec.name} on {seeds} held-out seeds",
        seeds=list(held_out_seeds(spec.seeds, seeds)),
        racing=None,
        confirm=None,
        sampler={"name": "random", "seed": 0},
        pruner={"name": "none"},
        scheduler={"name": "none"},
    )
    data["budget"] = {**data["budget"], "trials": 1, "timeout": None}
    return parse_spec(data, source=f"confirmation of {spec.name}")


def confirm(
    name: str,
    *,
    storage: str | None = None,
    top: int | None = None,
    seeds: int | None = None,
    workers: int = 1,
    on_progress: Callable[[Progress], None] | None = None,
    backend: RDBStorage | None = None,
) -> ConfirmResult:
    """Retrain study ``name``'s candidates on held-out seeds; those confirmed already train nothing.

    Args:
        top, seeds: the K best configurations to confirm, and how many held-out seeds (default: the
            spec's ``confirm``, else 3 and 5). A study confirmed before keeps its held-out seeds.
        workers: local workers, as for :func:`launch`.

    Raises:
        SpecError, StorageError, StudyNotFoundError, ValueError: one line each, before anything is written.
    """
    import optuna

    if top is not None and not 1 <= top <= 100:
        # 0 would confirm nothing it was asked for, and print the earlier confirmation as if it had.
        raise ValueError(f"top must be in [1, 100], got {top}")
    if seeds is not None and not 2 <= seeds <= 100:
        raise ValueError(f"seeds must be in [2, 100] (an interval needs 2), got {seeds}")
    quiet_optuna()
    backend = backend or open_storage(storage)
    study = load(backend, name)
    spec = study_spec(study)
    if CONFIRMS_ATTR in study.user_attrs:
        raise SpecError(f"study {name!r} is itself a confirmation (of {study.user_attrs[CONFIRMS_ATTR]!r})")
    if len(spec.objective.directions) > 1:
        raise SpecError(f"study {name!r} has two objectives: confirmation ranks configurations on one")
    top = top if top is not None else spec.confirm.top if spec.confirm else DEFAULT_TOP
    held = load(backend, confirmation_name(name)) if confirmation_name(name) in optuna.get_all_study_names(backend) else None
    stored = None if held is None else study_spec(held)
    if seeds is None:
        seeds = len(stored.seeds) if stored else spec.confirm.seeds if spec.confirm else DEFAULT_SEEDS
    trials = trial_records(study, user_attrs=SUMMARY_ATTRS, system_attrs=(), curves=False)
    chosen = candidates(trials, direction=spec.objective.directions[0], top=top)
    if not chosen:
        raise SpecError(f"study {name!r} has no complete trial to confirm yet")
    target = confirmation_spec(spec, seeds=seeds)
    if stored is not None:
        if stored.seeds != target.seeds:
            raise SpecError(f"study {name!r} was confirmed on {len(stored.seeds)} held-out seeds, not {seeds}; "
                            f"delete study {target.name!r} to confirm on other seeds")  # fmt: skip
        if not stored.same_search(target):
            raise SpecError(f"study {target.name!r} confirms a different spec; delete it to confirm {name!r} again")
    # A candidate is confirmed once: its merged trial finished. (A FAIL is trained again, the seeds it lacks.)
    done = {point_key(trial_params(t)) for t in (stored_trials(held) if held is not None else [])
            if t.state.name in ("COMPLETE", "PRUNED")}  # fmt: skip
    new = [c for c in chosen if point_key(c.params) not in done]
    target = target.model_copy(update={"budget": target.budget.model_copy(update={"trials": max(1, len(done) + len(new))})})
    confirmation_study, _ = create_or_resume(backend, target)
    confirmation_study.set_user_attr(CONFIRMS_ATTR, name)
    confirmation_study.set_user_attr(TOP_ATTR, top)
    result = None
    if new:
        runs, result = _train_seeds(backend, name, target, new, workers=workers, on_progress=on_progress)
        if _merge(confirmation_study, runs, new, target.seeds):
            optuna.delete_study(study_name=runs.study_name, storage=backend)
    return ConfirmResult(read_confirmation(study, trials, searched=searched_per_kind(trials)), len(new), result)


def _latest_runs(runs: optuna.Study) -> dict[tuple[Any, int], FrozenTrial]:
    """Each (configuration, held-out seed)'s latest trial in the seed study: a failed one may be queued again."""
    return {(point_key(trial_params(t)), t.user_attrs[TRIAL_SEEDS_ATTR][0]): t for t in stored_trials(runs)}


def _train_seeds(
    backend: RDBStorage, name: str, target: StudySpec, new: list[Candidate], *, workers: int,
    on_progress: Callable[[Progress], None] | None,
) -> tuple[optuna.Study, LaunchResult | None]:  # fmt: skip
    """Queue and run, in the seed study, every held-out seed of ``new`` that has no live trial there yet
    (an interrupted or failed run left the others); returns the seed study and the launch, if any."""
    from optuna.trial import TrialState

    from momentum_search.studies._launch import launch  # here: reading a confirmation needs no worker processes

    spec = target.model_copy(update={"name": seed_runs_name(name), "description": f"{target.description}, one trial per seed"})
    runs, _ = create_or_resume(backend, spec)
    runs.set_user_attr(CONFIRMS_ATTR, name)
    live = {key for key, trial in _latest_runs(runs).items() if trial.state != TrialState.FAIL}
    for seed in target.seeds:  # seed by seed: the first seeds of every candidate come first
        for candidate in new:
            if (point_key(candidate.params), seed) not in live:
                runs.enqueue_trial(candidate.params, user_attrs={SOURCE_ATTR: candidate.source, TRIAL_SEEDS_ATTR: [seed]})
    pending = runs.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))
    if not pending:
        return runs, None
    trials = len(runs.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))) + len(pending)
    spec = spec.model_copy(update={"budget": spec.budget.model_copy(update={"trials": trials})})
    return runs, launch(spec, storage=backend.url, workers=workers, on_progress=on_progress)


def _merge(confirmation: optuna.Study, runs: optuna.Study, new: list[Candidate], seeds: Sequence[int]) -> bool:
    """Add to ``confirmation`` the trial of each candidate of ``new`` whose every seed finished in ``runs``:
    COMPLETE if every seed did, PRUNED if one diverged, FAIL if one failed (then its other seeds are
    kept for the next ``confirm``). Whether every candidate was merged as finished."""
    import optuna
    from optuna.trial import TrialState

    latest = _latest_runs(runs)
    finished = True
    for candidate in new:
        parts = [latest.get((point_key(candidate.params), seed)) for seed in seeds]
        if any(part is None or not part.state.is_finished() for part in parts):
            finished = False  # interrupted: the next confirm runs what is left
            continue
        ran = [part for part in parts if part is not None]
        states = {part.state for part in ran}
        reason = next((part.user_attrs.get(REASON_ATTR) for part in ran if part.user_attrs.get(REASON_ATTR)), None)
        if TrialState.FAIL in states:
            state, attrs, values = TrialState.FAIL, {REASON_ATTR: reason}, None
            finished = False
        else:
            state = TrialState.COMPLETE if states == {TrialState.COMPLETE} else TrialState.PRUNED
            attrs = finished_attrs(merged_attrs([part.user_attrs for part in ran]), reason=reason,
                                   worker=ran[0].user_attrs[WORKER_ATTR])  # fmt: skip
            values = [attrs["value_mean"]] if state == TrialState.COMPLETE else None
        trial = optuna.trial.create_trial(
            state=state, values=values, params=ran[0].params, distributions=ran[0].distributions,
            intermediate_values=ran[0].intermediate_values,  # the first seed's curve, as one trial reports it
            user_attrs={**attrs, SOURCE_ATTR: candidate.source, **_seed_provenance(ran)},
        )  # fmt: skip
        starts = [part.datetime_start for part in ran if part.datetime_start is not None]
        trial.datetime_start = min(starts) if starts else trial.datetime_start
        trial.datetime_complete = max(part.datetime_complete for part in ran if part.datetime_complete is not None)
        confirmation.add_trial(trial)
    return finished


def _seed_provenance(parts: Sequence[FrozenTrial]) -> dict[str, Any]:
    """Which worker trained each seed, and when (ISO start and end): seeds of one candidate run at once."""
    return {
        "seed_workers": [part.user_attrs.get(WORKER_ATTR) for part in parts],
        "seed_times": [[part.datetime_start and part.datetime_start.isoformat(),
                        part.datetime_complete and part.datetime_complete.isoformat()] for part in parts],  # fmt: skip
    }
