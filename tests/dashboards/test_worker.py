"""The report's fits in a child process: the same report as in-process, and in-process whenever the child fails."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
from known_studies import StudyBuilder
from typer.testing import CliRunner

from momentum_search.cli import app
from momentum_search.dashboards import StudyReport, Worker, build_report, to_html
from momentum_search.dashboards import _worker
from momentum_search.dashboards._worker import child_command

LOGGER = "momentum_search.dashboards._worker"


@pytest.fixture(scope="module")
def in_process(range_study: StudyBuilder) -> str:
    # The ranges study has both fits: importances over μ and s, and an interpolated μ × s surface.
    report = build_report(range_study.study, gradient_flow=False)
    assert {"importances", "mu-s-momentum-lstm"} <= {s.key for s in report.sections if s.figure is not None}
    return to_html(report)


def _through(command: list[str], study: StudyBuilder) -> StudyReport:
    with Worker(command) as worker:
        return build_report(study.study, gradient_flow=False, worker=worker)


def test_the_child_fits_the_same_report(range_study: StudyBuilder, in_process: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        report = _through(child_command(), range_study)
    assert not [r for r in caplog.records if r.name == LOGGER]  # the child answered: no fallback
    assert to_html(report) == in_process


@pytest.mark.parametrize(
    "code",
    [
        "import sys; sys.exit(3)",  # dies
        "raise RuntimeError('boom')",  # dies with a traceback
        "import sys; sys.stdin.buffer.read(); print('garbage')",  # answers something that is not a pickle
        "import pickle, sys; pickle.load(sys.stdin.buffer); pickle.dump([], sys.stdout.buffer)",  # too few results
    ],
)
def test_a_failing_child_falls_back_to_the_same_report(
    code: str, range_study: StudyBuilder, in_process: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        report = _through([sys.executable, "-c", code], range_study)
    assert [r.getMessage().startswith("the worker failed") for r in caplog.records if r.name == LOGGER] == [True]
    assert to_html(report) == in_process
    err = capfd.readouterr().err
    assert "Traceback" not in err and "garbage" not in err  # the child's output stays in its pipes


def test_a_child_that_cannot_start_or_hangs_falls_back(
    range_study: StudyBuilder, in_process: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert to_html(_through([str(tmp_path / "no-python")], range_study)) == in_process
    monkeypatch.setattr(_worker, "TIMEOUT", 0.5)
    assert to_html(_through([sys.executable, "-c", "import time; time.sleep(60)"], range_study)) == in_process


def test_plot_writes_the_same_report_through_its_child(
    range_study: StudyBuilder, in_process: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import momentum_search.cli._render as render

    monkeypatch.setattr(render.console, "width", 200)
    # The child even where this test process has imported the fits' modules already (Worker.start would not).
    monkeypatch.setattr(Worker, "start", classmethod(lambda cls: cls(child_command())))
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["plot", "ranges", "--storage", range_study.url, "--out", str(out), "--no-gradient-flow"])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == in_process


def test_the_child_starts_only_where_a_core_is_free(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _worker.PRELOADED:  # as in a new `plot` process
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(_worker.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(_worker.os, "getloadavg", lambda: (2.5, 2.5, 2.5))
    with Worker.start() as busy:
        assert not busy.in_child
    monkeypatch.setattr(_worker.os, "getloadavg", lambda: (1.5, 2.5, 2.5))
    with Worker.start() as free:
        assert free.in_child
