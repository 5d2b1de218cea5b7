"""The study report: every figure (or why it is missing) under a summary, as one offline HTML file or PNGs."""

from __future__ import annotations

import contextlib
import functools
import html
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from momentum_search.dashboards._cell_comparison import get_cell_comparison_info, plot_cell_comparison
from momentum_search.dashboards._confirmation import ConfirmationInfo, confirmation_html, get_confirmation_info
from momentum_search.dashboards._fits import ImportanceGroup, Surface, fit_importances, interpolate
from momentum_search.dashboards._gradient_flow import get_gradient_flow_info, plot_gradient_flow
from momentum_search.dashboards._history import get_history_info, plot_history
from momentum_search.dashboards._html import STYLE, fmt, html_table
from momentum_search.dashboards._importances import importance_info, importance_scopes, plot_importances
from momentum_search.dashboards._learning_curves import get_curves_info, plot_learning_curves
from momentum_search.dashboards._momentum_zero import get_momentum_zero_info, plot_momentum_zero
from momentum_search.dashboards._mu_s_map import get_mu_s_map_info, mu_s_cells, mu_s_surface_input, plot_mu_s_map
from momentum_search.dashboards._pareto_front import get_pareto_info, plot_pareto_front
from momentum_search.dashboards._slice import get_slice_info, plot_slice, searched_parameters
from momentum_search.dashboards._summary import SummaryInfo, get_summary_info
from momentum_search.dashboards._time_to import time_to_html
from momentum_search.dashboards._trials import (
    LABELS,
    Axes,
    FigureUnavailableError,
    StudyTrials,
    format_params,
    read_trials,
)
from momentum_search.dashboards._worker import Worker
from momentum_search.search import SUMMARY_ATTRS, searched_per_kind

if TYPE_CHECKING:
    import optuna
    import plotly.graph_objects as go

PNG_SCALE = 2  # device pixels per CSS pixel: sharp on high-density screens and in print


class BrowserNotFoundError(RuntimeError):
    """No Chrome or Chromium to render PNGs with."""


class Section(NamedTuple):
    """One figure of the report, or the reason it could not be drawn."""

    key: str  # HTML id, dashboard graph id and PNG file name: letters, digits, '-' only
    title: str
    figure: go.Figure | None
    reason: str | None
    html: str = ""  # a table or sentences under the figure


class StudyReport(NamedTuple):
    study: str
    header: dict[str, str]  # task, cells, budget, ... from the stored spec
    summary: SummaryInfo
    sections: list[Section]
    confirmation: ConfirmationInfo | None = None  # None: not a single-objective momentum-search study


def build_report(
    study: optuna.Study, *, gradient_flow: bool = True, axes: Axes | None = None, worker: Worker | None = None
) -> StudyReport:
    """Compute every figure of ``study``; a figure the data cannot support becomes its reason.

    Args:
        study: a momentum-search study (its stored spec fills the header; without one the header is short).
        gradient_flow: build each cell kind's best model and run one batch through it (a second or so per
            kind, plus loading the task's data); False leaves the figure out.
        axes: draw the drive scale as ``"s"`` or as ``"gain"``, g = s/(1−μ), each computed per trial from
            its stored config (see :meth:`StudyTrials.on_axis`); None: the one the study searched.
        worker: runs the importances' and the maps' fits (see :class:`Worker`), started ahead; None: here.

    Raises:
        ValueError: ``axes`` is neither "s" nor "gain".
    """
    worker = worker or Worker(None)
    # The figures' attrs only: a trial's histories, learned values and trainer config are most of its bytes.
    needed = {*SUMMARY_ATTRS, "seed_values", "train_time"}
    needed |= {"config"} if axes is not None else set()  # a change of axis computes s or g from the config
    needed |= {"gradient_flow"} if gradient_flow else set()
    needed |= {"seed_histories"} if len(study.directions) > 1 else set()  # no intermediate values: the curves
    trials = read_trials(study, user_attrs=needed, drawn_curves=True)
    confirmation = _confirmation(study, trials)  # on the stored parameters, before any change of axis
    if axes is not None:
        trials = trials.on_axis(axes)
    axis, label = trials.axis, LABELS[trials.axis]
    # The fits go to the worker first and their figures are drawn last: it fits while the others are drawn.
    scopes, skipped = importance_scopes(trials)
    map_cells = mu_s_cells(trials)
    surfaces = {cell: found for cell in map_cells if (found := mu_s_surface_input(trials, cell)) is not None}
    worker.submit([(fit_importances, (scopes, trials.direction)), *((interpolate, found) for found in surfaces.values())])
    groups: list[ImportanceGroup] = []  # the worker's results, in once the other figures are drawn
    meshes: dict[str, Surface] = {}  # by cell

    def fitted_map(cell: str) -> Callable[[], Section]:
        return lambda: _section(
            f"mu-{axis}-{cell}",
            f"μ × {label} map: {cell}",
            lambda t: get_mu_s_map_info(t, cell, surface=meshes.get(cell)),
            plot_mu_s_map,
            trials,
        )

    cells = _section(
        "cells", "Cell against cell", lambda t: get_cell_comparison_info(t, confirmation), plot_cell_comparison, trials
    )
    if confirmation is not None and confirmation.times:
        cells = cells._replace(
            html="<h4>Time to the plain cell's confirmed value (held-out seeds)</h4>" + time_to_html(confirmation.times)
        )
    # A callable is a section drawn once the worker's results are in.
    sections: list[Section | Callable[[], Section]] = [
        cells,
        _section(
            "momentum-vs-zero", f"μ = 0 against μ > 0 at the best {label}", get_momentum_zero_info, plot_momentum_zero, trials
        ),
    ]
    sections += [fitted_map(cell) for cell in map_cells]
    if not map_cells:
        sections.append(
            Section(
                f"mu-{axis}",
                f"μ × {label} map",
                None,
                f"no cell kind in this study has complete trials searching both μ and {label}",
            )
        )
    searched = searched_parameters(trials)
    # μ, the drive scale (s or g), β, ε and F always get a place (a missing one says why); lr and hidden size when searched.
    for param in [p for p in LABELS if p in ("mu", axis, "beta", "eps", "restart") or p in searched]:
        sections.append(
            _section(
                f"slice-{param.replace('_', '-')}",
                f"Slice: {LABELS[param]}",
                functools.partial(get_slice_info, param=param),
                plot_slice,
                trials,
            )
        )
    sections += [
        lambda: _section(
            "importances", "Parameter importances", lambda t: importance_info(t.metric, groups, skipped), plot_importances, trials
        ),
        _section("history", "Optimization history", get_history_info, plot_history, trials),
        _section("learning-curves", "Learning curves", get_curves_info, plot_learning_curves, trials),
    ]
    if gradient_flow:
        sections.append(_section("gradient-flow", "Gradient flow", get_gradient_flow_info, plot_gradient_flow, trials))
    else:
        sections.append(Section("gradient-flow", "Gradient flow", None, "skipped (--no-gradient-flow)"))
    sections.append(_section("pareto-front", "Pareto front", get_pareto_info, plot_pareto_front, trials))
    header, summary = _header(study), get_summary_info(trials)
    importances, *surfaces_fitted = worker.results()
    groups += importances
    meshes.update(zip(surfaces, surfaces_fitted, strict=True))
    drawn = [section if isinstance(section, Section) else section() for section in sections]
    return StudyReport(study.study_name, header, summary, drawn, confirmation)


def _confirmation(study: optuna.Study, trials: StudyTrials) -> ConfirmationInfo | None:
    from momentum_search.studies import StudyNotFoundError, read_confirmation

    if trials.objectives > 1:
        return None
    try:
        return get_confirmation_info(read_confirmation(study, trials.trials, searched=searched_per_kind(trials.trials)))
    except StudyNotFoundError:  # not made by momentum-search: no spec, no candidates
        return None


def report_study(
    name: str, *, storage: str | None = None, gradient_flow: bool = True, axes: Axes | None = None, worker: Worker | None = None
) -> StudyReport:
    """:func:`build_report` of study ``name`` in ``storage`` (see ``studies.resolve_url``).

    ``worker``: see :func:`build_report`; None starts one (:meth:`Worker.start`) before the store is opened.

    Raises:
        StudyNotFoundError, StorageError: no such study, or the storage cannot be opened.
    """
    import optuna

    from momentum_search.studies import load_study, open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with contextlib.nullcontext(worker) if worker is not None else Worker.start() as started:
        study = load_study(open_storage(storage, read_only=True), name)
        return build_report(study, gradient_flow=gradient_flow, axes=axes, worker=started)


def _section(
    key: str, title: str, get_info: Callable[[StudyTrials], Any], render: Callable[[Any], go.Figure], trials: StudyTrials
) -> Section:
    try:
        return Section(key, title, render(get_info(trials)), None)
    except FigureUnavailableError as error:
        return Section(key, title, None, str(error))


def _header(study: optuna.Study) -> dict[str, str]:
    from momentum_search.studies import StudyNotFoundError, study_spec

    try:
        spec = study_spec(study)
    except StudyNotFoundError:
        return {}
    header = {
        "task": spec.task + (f" ({format_params(spec.task_params)})" if spec.task_params else ""),
        "cells": ", ".join(spec.cells),
        "objective": " and ".join(f"{m} ({d})" for m, d in zip([spec.objective.metric, "train_time"], spec.objective.directions)),
        "budget": f"{spec.trials} trials" + (f", {spec.budget.epochs} epochs each" if spec.budget.epochs else ""),
        "seeds": ", ".join(str(s) for s in spec.seeds) + (f", raced ({spec.racing.test})" if spec.racing else ""),
        "sampler": f"{spec.sampler.name}, pruner {spec.pruner.name}",
    }
    if spec.description:
        header = {"description": spec.description, **header}
    return header


# ---- HTML -----------------------------------------------------------------------------------------


def summary_rows(report: StudyReport) -> list[list[str]]:
    """The best trial of each cell kind as table cells: kind, trial, parameters, value ± std, seeds, test, time."""
    return [
        [
            row.cell,
            str(row.number),
            format_params(row.params) or "–",
            f"{row.value:.4g} ± {row.std:.2g}" if row.seeds > 1 else f"{row.value:.4g}",  # one seed has no spread
            str(row.seeds),
            fmt(row.test_value),
            fmt(row.train_time, ".3g"),
        ]
        for row in report.summary.best
    ]


def summary_columns(report: StudyReport) -> list[str]:
    metric = report.summary.metric
    return ["cell", "trial", "parameters", f"valid {metric} (mean ± std)", "seeds", f"test {metric}", "time / seed [s]"]


def to_html(report: StudyReport) -> str:
    """The report as one HTML page that loads nothing from elsewhere: plotly.js is embedded."""
    import plotly.offline

    summary = report.summary
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(report.study)} · momentum-search report</title>",
        f"<style>{STYLE}</style>",
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>',
        "</head><body>",
        f"<h1>Study {e(report.study)}</h1>",
        f"<p>{e(summary.metric)} is to {e(summary.direction)}"
        + (" — two objectives with training time." if summary.objectives == 2 else ".")
        + "</p>",
    ]
    if report.header:
        parts.append("<dl>" + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in report.header.items()) + "</dl>")
    parts.append("<h2>Summary</h2><h3>Trials by state</h3>")
    parts.append(
        html_table(list(summary.states), [[str(n) for n in summary.states.values()]], numeric=set(range(len(summary.states))))
    )
    if report.confirmation is not None:
        parts.append("<h3>Confirmed on held-out seeds</h3>" + confirmation_html(report.confirmation))
    parts.append("<h3>Best search trial per cell kind (optimistic: the best of the search's noisy runs)</h3>")
    if summary.best:
        parts.append(html_table(summary_columns(report), summary_rows(report), numeric={1, 3, 4, 5, 6}))
    else:
        parts.append('<p class="unavailable">No trial has completed yet.</p>')
    drawn = [s for s in report.sections if s.figure is not None]
    missing = [s for s in report.sections if s.figure is None]
    parts.append(
        "<h2>Figures</h2><nav><ul>" + "".join(f'<li><a href="#{s.key}">{e(s.title)}</a></li>' for s in drawn) + "</ul></nav>"
    )
    if missing:
        parts.append(
            '<div class="unavailable"><strong>Not drawn:</strong><ul>'
            + "".join(f"<li>{e(s.title)}: {e(s.reason or '')}</li>" for s in missing)
            + "</ul></div>"
        )
    for section in drawn:
        assert section.figure is not None
        body = section.figure.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"figure-{section.key}",
            config={"displaylogo": False, "responsive": True},
        )
        parts.append(f'<section id="{section.key}"><h3>{e(section.title)}</h3>{body}{section.html}</section>')
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(report: StudyReport, path: str | Path) -> Path:
    """Write :func:`to_html` to ``path``; returns the path."""
    path = Path(path)
    path.write_text(to_html(report), encoding="utf-8")
    return path


# ---- PNG ------------------------------------------------------------------------------------------


def find_browser() -> str | None:
    """The Chrome or Chromium that kaleido would use: ``$BROWSER_PATH`` if set, else one on PATH."""
    from choreographer.browsers.chromium import Chromium

    override = os.environ.get("BROWSER_PATH")
    if override is not None:
        return override if os.access(override, os.X_OK) else None
    return Chromium.find_browser(skip_local=False)


def write_pngs(report: StudyReport, directory: str | Path) -> list[Path]:
    """Write each drawn figure as ``DIRECTORY/KEY.png`` through kaleido; returns the files.

    Raises:
        BrowserNotFoundError: no Chrome or Chromium is installed (kaleido renders in one).
    """
    import kaleido

    browser = find_browser()
    if browser is None:
        where = f"at BROWSER_PATH={os.environ['BROWSER_PATH']}" if "BROWSER_PATH" in os.environ else "on PATH"
        raise BrowserNotFoundError(
            f"PNG export needs Chrome or Chromium and none was found {where}; install one "
            "(e.g. apt-get install chromium) or set BROWSER_PATH to its executable"
        )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    jobs = [
        {"fig": s.figure, "path": directory / f"{s.key}.png", "opts": {"format": "png", "scale": PNG_SCALE, "width": 1100}}
        for s in report.sections
        if s.figure is not None
    ]
    # mathjax=False: kaleido would fetch MathJax from a CDN; plotly.js comes from the plotly package.
    kaleido.write_fig_from_object_sync(jobs, kopts={"mathjax": False, "path": browser}, cancel_on_error=True)
    return [job["path"] for job in jobs]
