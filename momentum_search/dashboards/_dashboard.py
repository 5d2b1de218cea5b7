"""optuna-dashboard on a study storage, with our figures and summary saved next to Optuna's own views."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from momentum_search.dashboards._confirmation import confirmation_cells, confirmation_columns, headline
from momentum_search.dashboards._report import StudyReport, build_report, summary_columns, summary_rows

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

    import optuna

GRAPH_PREFIX = "momentum-search-"  # ids of our saved figures; a fixed id overwrites instead of adding


class Published(NamedTuple):
    study: str
    figures: int  # saved into the study
    missing: int  # could not be drawn (the note says why)


def to_markdown(report: StudyReport) -> str:
    """The report's summary as the study note of optuna-dashboard (Markdown)."""
    summary = report.summary

    def table(columns: list[str], rows: list[list[str]]) -> list[str]:
        cells = [c.replace("|", "\\|") for c in columns]
        lines = ["| " + " | ".join(cells) + " |", "|" + "---|" * len(cells)]
        return lines + ["| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in rows]

    lines = [f"## momentum-search: {report.study}", ""]
    lines += [f"- **{key}**: {value}" for key, value in report.header.items()]
    lines += ["", "### Trials by state", ""]
    lines += table(list(summary.states), [[str(n) for n in summary.states.values()]])
    if report.confirmation is not None:
        info = report.confirmation
        lines += ["", "### Confirmed on held-out seeds", "", headline(info), ""]
        lines += table(confirmation_columns(info), confirmation_cells(info))
        lines += [""] + [f"- {verdict.sentence}" for verdict in info.verdicts]
    lines += ["", "### Best search trial per cell kind (optimistic: the best of the search's noisy runs)", ""]
    lines += table(summary_columns(report), summary_rows(report)) if summary.best else ["No trial has completed yet."]
    missing = [s for s in report.sections if s.figure is None]
    if missing:
        lines += ["", "### Figures not drawn", ""] + [f"- {s.title}: {s.reason}" for s in missing]
    lines += ["", "_Written by `momentum-search dashboard` at each launch: edits here are overwritten._"]
    return "\n".join(lines)


def publish(study: optuna.Study, report: StudyReport) -> Published:
    """Save the report's figures and summary into ``study`` for optuna-dashboard.

    Idempotent: figures keep fixed ids (``momentum-search-<key>``), so a second launch overwrites
    them, and the note is written only when its text changed (each write is a new note version).
    """
    from optuna_dashboard import get_note, save_note, save_plotly_graph_object

    drawn = [s for s in report.sections if s.figure is not None]
    for section in drawn:
        save_plotly_graph_object(study, section.figure, graph_object_id=GRAPH_PREFIX + section.key)
    note = to_markdown(report)
    if get_note(study) != note:
        save_note(study, note)
    return Published(study.study_name, len(drawn), len(report.sections) - len(drawn))


def publish_all(storage: str | None = None, *, gradient_flow: bool = True) -> list[Published]:
    """:func:`publish` every momentum-search study in ``storage`` (studies without a stored spec are left alone)."""
    import optuna

    from momentum_search.studies import SPEC_ATTR, open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    backend = open_storage(storage)
    published = []
    for summary in optuna.get_all_study_summaries(backend, include_best_trial=False):
        if SPEC_ATTR in summary.user_attrs:
            study = optuna.load_study(study_name=summary.study_name, storage=backend)
            published.append(publish(study, build_report(study, gradient_flow=gradient_flow)))
    return published


def serve(storage: str | None = None, *, host: str = "127.0.0.1", port: int = 8080, read_only: bool = False) -> None:
    """Run optuna-dashboard on ``storage`` until interrupted (blocks); ``read_only`` refuses every
    request that could change a study (see :func:`read_only_app`).

    Raises:
        OSError: the address cannot be bound (port in use, unknown host).
    """
    from wsgiref.simple_server import make_server

    from optuna_dashboard import wsgi

    from momentum_search.studies import open_storage

    if not 0 < port < 65536:
        raise ValueError(f"port must be in 1..65535, got {port}")
    app = wsgi(open_storage(storage))
    with make_server(host, port, read_only_app(app) if read_only else app) as server:
        server.serve_forever()


def read_only_app(app: WSGIApplication) -> WSGIApplication:
    """``app`` answering 405 to every method but GET and HEAD.

    optuna-dashboard has no login, and its API changes studies on POST, PUT, PATCH and DELETE (an
    anonymous ``DELETE /api/studies/1`` deletes study 1); its pages and figures are all GETs.
    """

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") in ("GET", "HEAD"):
            return app(environ, start_response)
        start_response("405 Method Not Allowed", [("Content-Type", "text/plain; charset=utf-8"), ("Allow", "GET, HEAD")])
        return [b"read-only dashboard: only GET and HEAD are allowed\n"]

    return guarded
