"""The report: summary and figures in one HTML file that renders with the network blocked; PNGs via kaleido."""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import plotly.offline
import pytest
from known_studies import PEAK_MU, PEAK_S, StudyBuilder

from momentum_search.dashboards import BrowserNotFoundError, StudyReport, build_report, find_browser, write_html, write_pngs


@pytest.fixture(scope="module")
def report(grid_study: StudyBuilder) -> StudyReport:
    return build_report(grid_study.study)


def test_every_figure_is_drawn_or_says_why(report: StudyReport) -> None:
    drawn = [s.key for s in report.sections if s.figure is not None]
    assert drawn == [
        "cells",
        "momentum-vs-zero",
        "mu-s-momentum-lstm",
        "slice-mu",
        "slice-s",
        "importances",
        "history",
        "learning-curves",
        "gradient-flow",
    ]
    missing = {s.key: s.reason for s in report.sections if s.figure is None}
    assert missing == {
        "slice-beta": "β is not searched by any complete trial (fixed or unused)",
        "slice-eps": "ε is not searched by any complete trial (fixed or unused)",
        "slice-restart": "F is not searched by any complete trial (fixed or unused)",
        "pareto-front": "the study has one objective; add objective.train_time for a Pareto front",
    }
    # The figure holds the info's numbers: the heat map's best cell is the known optimum.
    heatmap = next(s.figure for s in report.sections if s.key == "mu-s-momentum-lstm").data[0]
    z = heatmap.z
    best = min((v, i, j) for i, row in enumerate(z) for j, v in enumerate(row) if v is not None)
    assert (heatmap.x[best[2]], heatmap.y[best[1]]) == (f"{PEAK_MU:g}", f"{PEAK_S:g}")


def test_report_without_trials_draws_nothing_and_says_so(make_study, tmp_path: Path) -> None:
    report = build_report(make_study("empty").study, gradient_flow=False)
    assert all(s.figure is None and s.reason for s in report.sections)
    page = write_html(report, tmp_path / "empty.html").read_text()
    assert "No trial has completed yet." in page and "skipped (--no-gradient-flow)" in page


def test_html_loads_nothing_from_outside(report: StudyReport, tmp_path: Path) -> None:
    page = write_html(report, tmp_path / "report.html").read_text()
    # plotly.js is embedded whole; its code holds URL strings (its logo link, map tiles) that a page
    # without maps never loads, which the Chromium test below checks. The rest must name no URL at all.
    plotly_js = plotly.offline.get_plotlyjs()
    assert page.count(plotly_js) == 1
    rest = page.replace(plotly_js, "")
    assert not re.search(r"https?:|//[a-z0-9.-]+\.[a-z]{2,}", rest, re.IGNORECASE)
    assert "<link" not in rest.lower() and "@import" not in rest
    assert not re.search(r"<script[^>]*\bsrc=", rest)
    # The summary: states and the best configuration of each kind with its test metric.
    assert re.search(r"<th>COMPLETE</th>.*<td class=\"num\">26</td>", page, re.DOTALL)
    assert "μ=0.6, s=0.3" in page and "0.066 ± 0.016" in page and "0.076" in page


def test_html_renders_offline_in_chromium(report: StudyReport, tmp_path: Path, browser: Any) -> None:
    path = write_html(report, tmp_path / "report.html")
    page = browser.new_page()
    outside: list[str] = []

    def block(route: Any) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", block)
    page.goto(path.as_uri())
    drawn = [s.key for s in report.sections if s.figure is not None]
    for key in drawn:
        page.wait_for_selector(f"#figure-{key} .main-svg", timeout=15_000)
    assert page.locator(".js-plotly-plot").count() == len(drawn)
    # The heat map's cells show mean ± std; the best one is the known optimum.
    assert "0.066± 0.016" in page.locator("#figure-mu-s-momentum-lstm").inner_text().replace("\n", "")
    assert outside == []
    page.close()


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_png_export(report: StudyReport, tmp_path: Path) -> None:
    if find_browser() is None:
        pytest.skip("no Chrome or Chromium installed (CI installs chromium)")
    paths = write_pngs(report, tmp_path / "png")
    assert sorted(p.name for p in paths) == sorted(f"{s.key}.png" for s in report.sections if s.figure is not None)
    for path in paths:
        width, height = _png_size(path)
        assert width == 2 * 1100 and height > 400


def test_png_export_says_when_no_browser_is_installed(
    report: StudyReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-chromium"))
    with pytest.raises(BrowserNotFoundError, match="PNG export needs Chrome or Chromium and none was found at BROWSER_PATH="):
        write_pngs(report, tmp_path / "png")
    assert not (tmp_path / "png").exists()


@pytest.mark.parametrize(("axes", "axis"), [(None, "s"), ("s", "s"), ("gain", "g")])
def test_report_draws_the_drive_scale_on_either_axis(
    grid_study: StudyBuilder, tmp_path: Path, axes: str | None, axis: str
) -> None:
    report = build_report(grid_study.study, gradient_flow=False, axes=axes)  # type: ignore[arg-type]
    drawn = [s.key for s in report.sections if s.figure is not None]
    assert drawn == [
        "cells",
        "momentum-vs-zero",
        f"mu-{axis}-momentum-lstm",
        "slice-mu",
        f"slice-{axis}",
        "importances",
        "history",
        "learning-curves",
    ]
    page = write_html(report, tmp_path / "report.html").read_text()
    assert f'id="figure-mu-{axis}-momentum-lstm"' in page and f'id="figure-slice-{axis}"' in page


def test_a_kind_with_a_drive_the_report_has_never_seen_is_drawn(make_study, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from types import MappingProxyType

    from momentum_search.trainers import CELL_KINDS, CellKind

    # Registered as a new drive would be, without a colour or anything else the reports know of.
    kind = CellKind("wavy-lstm", "lstm", "wavy", ("mu", "s"), MappingProxyType({"mu": 0.6, "s": 0.6}))  # type: ignore[arg-type]
    monkeypatch.setitem(CELL_KINDS, kind.name, kind)
    builder = make_study("wavy", cells=["lstm", "wavy-lstm"])
    builder.add("lstm", [0.30, 0.32])
    builder.add("wavy-lstm", [0.20, 0.21], mu=0.6, s=0.3)
    report = build_report(builder.study, gradient_flow=False)
    cells = next(s for s in report.sections if s.key == "cells")
    assert cells.figure is not None, cells.reason
    labels, colors = cells.figure.data[0].x, cells.figure.data[0].marker.color
    assert dict(zip(labels, colors, strict=True)) == {"lstm (baseline)": CELL_KINDS["lstm"].color, "wavy-lstm": kind.color}
    assert kind.color not in {k.color for k in CELL_KINDS.values() if k is not kind}
