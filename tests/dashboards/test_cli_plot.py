"""`momentum-search plot` and the errors of `plot` and `dashboard`."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from known_studies import StudyBuilder
from typer.testing import CliRunner

from momentum_search.cli import app

runner = CliRunner()


def test_plot_writes_the_report_and_lists_what_it_could_not_draw(grid_study: StudyBuilder, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["plot", "grid", "--storage", grid_study.url, "--out", str(out), "--no-gradient-flow"])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}: 8 figures" in result.stdout
    assert "not drawn: Gradient flow: skipped (--no-gradient-flow)" in result.stdout
    page = out.read_text()
    assert 'id="figure-mu-s-momentum-lstm"' in page and "<h1>Study grid</h1>" in page


def test_plot_of_an_unknown_study_fails_in_one_line(grid_study: StudyBuilder, tmp_path: Path) -> None:
    result = runner.invoke(app, ["plot", "nope", "--storage", grid_study.url, "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no study named 'nope'; studies here: grid"
    assert not (tmp_path / "r.html").exists()


def test_plot_png_without_a_browser_fails_before_any_work(
    grid_study: StudyBuilder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-chromium"))
    args = ["plot", "grid", "--storage", grid_study.url, "--out", str(tmp_path / "r.html"), "--png", str(tmp_path / "png")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "--png needs Chrome or Chromium and none was found" in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_dashboard_on_a_bad_storage_fails_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-folder' / 'studies.db'}"
    result = runner.invoke(app, ["dashboard", "--storage", url, "--port", "1"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot open storage sqlite:///") and result.stderr.count("\n") == 1


def test_dashboard_on_a_taken_port_fails_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["dashboard", "--storage", f"sqlite:///{tmp_path / 's.db'}", "--port", str(port)])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_plot_draws_on_the_gain_axis(grid_study: StudyBuilder, tmp_path: Path) -> None:
    out = tmp_path / "gain.html"
    args = ["plot", "grid", "--storage", grid_study.url, "--out", str(out), "--no-gradient-flow"]
    result = runner.invoke(app, [*args, "--axes", "gain"])
    assert result.exit_code == 0, result.output
    assert 'id="figure-mu-g-momentum-lstm"' in out.read_text()
    result = runner.invoke(app, [*args, "--axes", "mu"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: axes must be one of s, gain; got 'mu'"
