"""The report's numeric fits: parameter importances (fANOVA, PED-ANOVA) and the μ × s maps' surfaces.

They import what costs most of a report's time (optuna.importance pulls in scikit-learn, SciPy and
pandas; the surfaces SciPy's interpolation), so :mod:`._worker` runs them in a child process while the
report reads the store. Their arguments and results are plain data, small to hand over, and this
module imports nothing of the store, so the child stays lean.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

INTERPOLATION_STEPS = 40  # contour resolution along each axis
# fANOVA walks every split of its forest in pure Python; with Optuna's default trees (64, up to 64 levels)
# that takes 3.5 s for 250 trials and 150 s for 2,300 on this machine. Trees of 6 levels, 32 of them,
# rank μ, s, β alike (within 0.02 of the default's importances from 50 to 2,300 trials) in 0.2-0.5 s.
FANOVA_TREES = 32
FANOVA_DEPTH = 6


class Sample(NamedTuple):
    """What the importance evaluators read of one COMPLETE trial."""

    number: int
    params: dict[str, Any]
    distributions: dict[str, Any]  # optuna.distributions.BaseDistribution by parameter
    value: float  # the metric: a two-objective study's importances are those of its metric


class ImportanceGroup(NamedTuple):
    scope: str  # "all cell kinds" or one kind
    evaluator: str  # "fANOVA" or "PED-ANOVA"
    trials: int
    importances: dict[str, float]  # normalised to sum 1, most important first


def fit_importances(scopes: Sequence[tuple[str, Sequence[Sample]]], direction: str, *, seed: int = 0) -> list[ImportanceGroup]:
    """fANOVA and PED-ANOVA importances of each scope's samples, which must hold ≥ 2 trials and a varying
    parameter. fANOVA assesses the parameters every sample has, PED-ANOVA all of them; only parameters
    whose value varies are assessed."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

    groups: list[ImportanceGroup] = []
    for scope, samples in scopes:
        study = _served(samples, direction)
        evaluators = (
            (
                "fANOVA",
                FanovaImportanceEvaluator(n_trees=FANOVA_TREES, max_depth=FANOVA_DEPTH, seed=seed),
                varying(samples, everywhere=True),
            ),
            # The default target quantile (0.1) leaves fewer than the 2 trials PED-ANOVA needs in small studies.
            (
                "PED-ANOVA",
                PedAnovaImportanceEvaluator(target_quantile=min(0.5, max(0.1, 2.5 / len(samples)))),
                varying(samples, everywhere=False),
            ),
        )
        for name, evaluator, params in evaluators:
            if params:
                with warnings.catch_warnings():
                    # PED-ANOVA warns of thin regimes in small studies; the figure is meant for those too.
                    warnings.simplefilter("ignore", UserWarning)
                    # No ``target``: the served study holds the metric as its one value, with its direction.
                    # PED-ANOVA reads a ``target`` as lower-is-better, which in a maximised study ranked the
                    # parameters by how they drive the worst trials.
                    importances = optuna.importance.get_param_importances(study, evaluator=evaluator, params=params)
                groups.append(ImportanceGroup(scope, name, len(samples), dict(importances)))
    return groups


def varying(samples: Sequence[Any], *, everywhere: bool) -> list[str]:
    """Parameters of ``samples`` (anything with ``params``) taking two values or more (present in every
    one if ``everywhere``)."""
    names = dict.fromkeys(name for t in samples for name in t.params)
    found = []
    for name in names:
        values = [t.params[name] for t in samples if name in t.params]
        if (not everywhere or len(values) == len(samples)) and len(set(values)) > 1:
            found.append(name)
    return found


def _served(samples: Sequence[Sample], direction: str) -> Any:
    """A study whose storage hands the evaluators ``samples`` as COMPLETE trials, without copying them.

    Optuna's importances take a study; copying 1,000 trials into an in-memory one (``add_trials``
    validates and deep-copies each) took 1.8 s of a 10,000-trial report. ``InMemoryStorage`` and
    ``get_all_trials`` are public, and the evaluators read the trials through that call alone.
    """
    import optuna
    from optuna.trial import FrozenTrial, TrialState

    frozen = [
        FrozenTrial(
            number=s.number,
            state=TrialState.COMPLETE,
            value=s.value,
            datetime_start=None,
            datetime_complete=None,
            params=s.params,
            distributions=s.distributions,
            user_attrs={},
            system_attrs={},
            intermediate_values={},
            trial_id=s.number,
        )
        for s in samples
    ]

    class Served(optuna.storages.InMemoryStorage):
        def get_all_trials(self, study_id: int, deepcopy: bool = True, states: Any = None) -> list[Any]:
            return [t for t in frozen if states is None or t.state in states]

    storage = Served()
    storage.create_new_study([optuna.study.StudyDirection[direction.upper()]], "importances")
    return optuna.load_study(study_name="importances", storage=storage)


# The mesh's μ axis, its s axis, and its values by s then μ (None outside the points' hull), or None for no surface.
Surface = tuple[list[float], list[float], list[list[float | None]] | None]


def interpolate(mu: list[float], s: list[float], values: list[float], s_log: bool) -> Surface:
    """The linear interpolation of ``values`` at (μ, s) on a regular INTERPOLATION_STEPS² mesh over their
    range (s in log space if ``s_log``): the mesh's μ and s axes, and its values (None outside the points'
    convex hull), or None when the points span no area."""
    import numpy as np
    from scipy.interpolate import griddata
    from scipy.spatial import QhullError
    from threadpoolctl import threadpool_limits

    y = np.log10(s) if s_log else np.asarray(s, dtype=float)
    x = np.asarray(mu, dtype=float)
    mu_axis = np.linspace(x.min(), x.max(), INTERPOLATION_STEPS)
    y_axis = np.linspace(y.min(), y.max(), INTERPOLATION_STEPS)
    s_axis = 10**y_axis if s_log else y_axis
    # Linear interpolation needs a triangle: three trials not on one line (and a non-empty range).
    if x.min() == x.max() or y.min() == y.max() or len(values) < 3:
        return mu_axis.tolist(), s_axis.tolist(), None
    # Scale both axes to [0, 1] so that the triangulation does not favour the longer one.
    scaled = np.column_stack([(x - x.min()) / np.ptp(x), (y - y.min()) / np.ptp(y)])
    mesh = np.meshgrid(np.linspace(0, 1, INTERPOLATION_STEPS), np.linspace(0, 1, INTERPOLATION_STEPS))
    try:
        # The triangulation makes a tiny LAPACK call per triangle; with BLAS threads (next to torch's OpenMP
        # pool) each call wakes them, which took 15 s per map instead of 0.02 s on two busy cores.
        with threadpool_limits(limits=1, user_api="blas"):
            z = griddata(scaled, np.asarray(values, dtype=float), tuple(mesh), method="linear")
    except (QhullError, ValueError):
        return mu_axis.tolist(), s_axis.tolist(), None
    rows = [[None if math.isnan(v) else float(v) for v in row] for row in z]
    return mu_axis.tolist(), s_axis.tolist(), rows
