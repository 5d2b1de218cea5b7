"""Parameter importances: fANOVA and PED-ANOVA over the whole study and within each cell kind."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from momentum_search.dashboards._fits import ImportanceGroup, Sample, fit_importances, varying
from momentum_search.dashboards._style import new_figure
from momentum_search.dashboards._trials import LABELS, FigureUnavailableError, StudyTrials
from momentum_search.search import CELL_PARAMETER

if TYPE_CHECKING:
    import plotly.graph_objects as go

# Importances settle long before this many trials, while handing the trials to the evaluators and fitting
# them grow with the study (3.5 s for a 10,000-trial study's four scopes here).
IMPORTANCE_TRIALS = 1000


class ImportanceInfo(NamedTuple):
    metric: str
    groups: list[ImportanceGroup]
    skipped: list[str]  # scopes without enough data, each with why


ALL_CELLS = "all cell kinds"


def get_importance_info(trials: StudyTrials, *, seed: int = 0) -> ImportanceInfo:
    """fANOVA and PED-ANOVA importances over all trials, and within each cell kind.

    Across kinds the momentum parameters are conditional: fANOVA sees only the parameters every
    trial has (the cell kind and any shared one), PED-ANOVA all of them. Within one kind both see
    its parameters. Only parameters whose value varies are assessed. A scope of more than
    ``IMPORTANCE_TRIALS`` complete trials is assessed on a random sample of that many (``seed``).
    """
    scopes, skipped = importance_scopes(trials, seed=seed)
    return importance_info(trials.metric, fit_importances(scopes, trials.direction, seed=seed), skipped)


def importance_scopes(trials: StudyTrials, *, seed: int = 0) -> tuple[list[tuple[str, list[Sample]]], list[str]]:
    """What :func:`get_importance_info` fits (see there): each scope with its sampled trials, and the
    scopes without enough data, each with why."""
    import random

    complete = [t for t in trials.frozen if t.state.name == "COMPLETE"]
    scopes = [(ALL_CELLS, complete)] if len(trials.cells) > 1 else []
    scopes += [(cell, [t for t in complete if t.params.get(CELL_PARAMETER) == cell]) for cell in trials.cells]
    fitted: list[tuple[str, list[Sample]]] = []
    skipped: list[str] = []
    for scope, frozen in scopes:
        if len(frozen) > IMPORTANCE_TRIALS:
            frozen = sorted(random.Random(seed).sample(frozen, IMPORTANCE_TRIALS), key=lambda t: t.number)
        if len(frozen) < 2 or not varying(frozen, everywhere=False):
            skipped.append(f"{scope}: needs ≥ 2 complete trials with a varying parameter ({len(frozen)} complete)")
            continue
        fitted.append((scope, [Sample(t.number, t.params, t.distributions, t.values[0]) for t in frozen]))
    return fitted, skipped


def importance_info(metric: str, groups: list[ImportanceGroup], skipped: list[str]) -> ImportanceInfo:
    """The figure's data from :func:`fit_importances` of :func:`importance_scopes`."""
    if not groups:
        raise FigureUnavailableError("importances need ≥ 2 complete trials with a varying parameter; " + "; ".join(skipped))
    return ImportanceInfo(metric, groups, skipped)


def plot_importances(info: ImportanceInfo) -> go.Figure:
    """Horizontal bars: each scope's parameters, one bar per evaluator."""
    import plotly.graph_objects as go

    rows = list(dict.fromkeys((g.scope, p) for g in info.groups for p in g.importances))
    labels = [f"{scope} · {LABELS.get(param, param)}" for scope, param in rows]
    figure = new_figure(
        f"Importance of each parameter for {info.metric}",
        xaxis={"title": {"text": "importance (normalised per scope)"}, "range": [0, 1.05]},
        yaxis={"autorange": "reversed"},
        barmode="group",
        height=max(320, 60 + 34 * len(rows)),
    )
    for evaluator, color in (("fANOVA", "#1f77b4"), ("PED-ANOVA", "#ff7f0e")):
        groups = {g.scope: g for g in info.groups if g.evaluator == evaluator}
        values = [groups[scope].importances.get(param) if scope in groups else None for scope, param in rows]
        figure.add_trace(
            go.Bar(
                x=values,
                y=labels,
                orientation="h",
                name=evaluator,
                marker={"color": color},
                hovertemplate=f"{evaluator}: %{{x:.3f}}<extra>%{{y}}</extra>",
            )
        )
    return figure
