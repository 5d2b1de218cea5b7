"""Export the best configurations of a study as complete trainer configs with their provenance.

An exported document is what `momentum-search train --config FILE` reads: the resolved trainer
config under `config`, and under `provenance` where it came from and what it scored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, overload

import momentum_search
from momentum_search.search import SUMMARY_ATTRS, Ranks, TrialRecord, best_trials, ranked
from momentum_search.store import mask_url, open_storage, resolve_url
from momentum_search.studies._confirmation import Confirmation, candidate_roles, held_study, read_confirmation
from momentum_search.studies._study import confirmation_name, load, standings, study_spec, trial_records

if TYPE_CHECKING:
    import optuna


_R = TypeVar("_R", bound=Ranks)


class NothingToExportError(LookupError):
    """The study has no complete trial."""


@dataclass(frozen=True)
class ExportedConfig:
    """One trial's trainer config, ready to retrain, and where it came from."""

    config: dict[str, Any]
    provenance: dict[str, Any]

    def document(self) -> dict[str, Any]:
        return {"config": self.config, "provenance": self.provenance}

    def comment(self) -> str:
        """What retraining gives: exactly the trial's value on its own seed, the spread on others."""
        p = self.provenance
        seed_values = p["seed_values"]
        lines = [
            f"momentum-search export of study {p['study']!r}, trial {p['trial']} ({p['cell']}), momentum-search {p['version']}.",
            f"Retraining with seed {self.config['seed']} (momentum-search train --config FILE) reproduces the "
            f"trial's validation {p['metric']} {_num(seed_values[0])} exactly on CPU "
            f"(torch threads: {self.config['threads'] or 'default'}).",
        ]
        confirmed = p.get("confirmed")
        if confirmed is not None:
            low, high = confirmed["ci95"]
            lines.append(
                f"Confirmed on {len(confirmed['seeds'])} held-out seeds {confirmed['seeds']}: {_num(confirmed['mean'])} "
                f"(95 % CI {_num(low)} … {_num(high)}); expect that, not the search value, on new seeds."
            )
        else:
            lines.append("Not confirmed on held-out seeds: the search value is optimistic (run momentum-search confirm).")
        if len(seed_values) > 1:
            lines.append(
                f"Across its {len(seed_values)} seeds {p['seeds']} the trial scored {_num(p['value'])} ± "
                f"{_num(p['value_std'])} (mean ± std): expect that spread on other seeds."
            )
        else:
            lines.append("It was trained on one seed: retrain with --seeds N to see the spread across seeds.")
        return "".join(f"# {line}\n" for line in lines)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


@overload
def select_trials(study: optuna.Study, *, top: int = 1, per_cell: bool = False, trials: None = None) -> list[TrialRecord]: ...
@overload
def select_trials(study: optuna.Study, *, top: int = 1, per_cell: bool = False, trials: Sequence[_R]) -> list[_R]: ...
def select_trials(
    study: optuna.Study, *, top: int = 1, per_cell: bool = False, trials: Sequence[Ranks] | None = None
) -> list[Any]:
    """The trials to export: the Pareto front for two objectives, else the best `top`, or each
    cell kind's best with `per_cell`. A twin (a trial that copied an earlier one's result) is the same
    configuration as that trial and never exported beside it. Chosen among ``trials`` (records or
    standings; by default the COMPLETE ones, their summary attrs read).

    Raises:
        NothingToExportError: the study has no complete trial.
        ValueError: `top` < 1.
    """
    if top < 1:
        raise ValueError(f"top must be ≥ 1, got {top}")
    if trials is None:
        trials = trial_records(study, states=("COMPLETE",), user_attrs=SUMMARY_ATTRS, system_attrs=(), curves=False)
    complete = [t for t in trials if t.complete]
    if not complete:
        raise NothingToExportError(f"study {study.study_name!r} has no complete trial to export yet")
    directions = [d.name.lower() for d in study.directions]
    if len(directions) > 1:
        return best_trials(complete, directions)
    order = ranked(complete, directions[0])
    if per_cell:
        best: dict[str | None, Ranks] = {}
        for trial in order:
            best.setdefault(trial.cell, trial)
        return list(best.values())
    return order[:top]


def _export(study: optuna.Study, trial: TrialRecord, storage_url: str, confirmation: Confirmation | None) -> ExportedConfig:
    spec = study_spec(study)
    assert trial.values is not None and trial.config is not None
    provenance = {
        "study": study.study_name,
        "trial": trial.number,
        "cell": trial.cell,
        "params": trial.point,
        "storage": mask_url(storage_url),
        "metric": trial.metric,
        "direction": spec.objective.direction,
        "value": trial.value,
        "value_std": trial.value_std,
        "seeds": list(trial.seeds),
        "seed_values": list(trial.seed_values),
        "test_value": trial.test_value,
        "train_time": trial.train_time,
        "version": trial.version,
        "exported_by": momentum_search.__version__,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if len(trial.values) > 1:
        provenance["values"] = list(trial.values)
    else:
        provenance["confirmed"] = _confirmed(confirmation, trial)
    return ExportedConfig(config=dict(trial.config), provenance=provenance)


def export_study(name: str, *, storage: str | None = None, top: int = 1, per_cell: bool = False) -> list[ExportedConfig]:
    """Export study `name`'s best configuration(s); see :func:`select_trials`. They and the
    confirmation's candidates are chosen from every trial's standing (:func:`standings`), then only
    those trials are read whole.

    Raises:
        StorageError, StudyNotFoundError, NothingToExportError, ValueError: one line each.
    """
    url = resolve_url(storage)
    study = load(open_storage(url, read_only=True), name)
    ranks = standings(study)
    wanted = {t.number for t in select_trials(study, top=top, per_cell=per_cell, trials=ranks)}
    held = held_study(study) if len(study.directions) == 1 else None
    if held is not None:
        direction = study.directions[0].name.lower()
        wanted |= {t.number for t, _ in candidate_roles(ranks, direction=direction, top=held[1])}
    # The same rules on just these trials give the same answers: every trial they pick is here.
    records = trial_records(study, numbers=wanted, curves=False)
    chosen = select_trials(study, top=top, per_cell=per_cell, trials=records)
    confirmation = None if held is None else read_confirmation(study, records, held=held)
    return [_export(study, trial, url, confirmation) for trial in chosen]


def _confirmed(confirmation: Confirmation | None, trial: TrialRecord) -> dict[str, Any] | None:
    """The trial's configuration on held-out seeds, if it was confirmed."""
    row = None if confirmation is None else confirmation.of_params(trial.point)
    if confirmation is None or row is None or not row.confirmed:
        return None
    low, high = row.interval or (None, None)
    return {
        "study": confirmation_name(confirmation.study),
        "trial": row.number,
        "seeds": list(row.seeds),
        "seed_values": list(row.seed_values),
        "mean": row.mean,
        "ci95": [low, high],
        "test_mean": row.test_mean,
    }
