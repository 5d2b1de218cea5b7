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

This module is the read side (what a confirmation is, and reading one); ``_confirm.py`` runs one.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from momentum_search.search import (
    SUMMARY_ATTRS,
    Ranks,
    TrialRecord,
    point_key,
    ranked,
    searched_per_kind,
    trial_params,
)
from momentum_search.store import (
    storage_of,
    stored_trials,
)
from momentum_search.studies._spec import StudySpec
from momentum_search.studies._study import (
    confirmation_name,
    load,
    study_spec,
    trial_records,
)
from momentum_search.trainers import CELL_KINDS

if TYPE_CHECKING:
    import optuna
    from optuna.storages import RDBStorage


CONFIRMS_ATTR = "confirms"  # on a confirmation study: the search study it confirms
TOP_ATTR = "confirm_top"  # on a confirmation study: the K of its last run
HELD_OUT_FROM = 1000  # held-out seeds are the first integers from here on that the search did not use
DEFAULT_TOP = 3
DEFAULT_SEEDS = 5
CONFIDENCE = 0.95
_R = TypeVar("_R", bound=Ranks)


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
    return Candidate(
        source=trial.number,
        cell=trial.cell,
        params=trial.point,
        search_value=trial.value,
        search_seeds=trial.seeds,
        roles=tuple(roles),
        baseline=CELL_KINDS[trial.cell].baseline,
    )


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
        rows.append(
            Confirmed(
                candidate,
                record.number,
                record.state,
                record.seeds,
                record.seed_values,
                record.seed_test_values,
                record.reason,
                record.seed_histories,
                record.seed_wall_times,
            )
        )
    return Confirmation(name, spec.objective.metric, spec.objective.direction, study_spec(held).seeds, rows, searched)
