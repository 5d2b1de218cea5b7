"""`plot`: a study's report as one offline HTML file, and PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from momentum_search.cli import _render as render
from momentum_search.cli._common import GradientFlowOption, StorageOption, fail, os_error, reported


def plot(
    study: Annotated[str, typer.Argument(help="Study name.")],
    storage: StorageOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="HTML file to write (default: STUDY.html).")] = None,
    png: Annotated[
        Optional[Path],
        typer.Option("--png", metavar="DIR", help="Also write each figure as DIR/NAME.png (needs Chrome or Chromium)."),
    ] = None,
    gradient_flow: GradientFlowOption = True,
    axes: Annotated[
        Optional[str],
        typer.Option(help="Draw the drive scale as s or as gain, g = s/(1−μ) per trial (default: the one the study searched)."),
    ] = None,
) -> None:
    """Write a study's report: a summary table and every figure, in one HTML file that opens offline."""
    from momentum_search import dashboards

    # Check before the (possibly slow) report, not after it.
    if png is not None and dashboards.find_browser() is None:
        fail(
            "--png needs Chrome or Chromium and none was found (install one, e.g. apt-get install chromium, or set BROWSER_PATH)"
        )
    # The importances' child process starts first: its imports take longer than opening the store and reading.
    with dashboards.Worker.start() as worker, reported():
        report = dashboards.report_study(study, storage=storage, gradient_flow=gradient_flow, axes=axes, worker=worker)  # type: ignore[arg-type]
    out = out or Path(f"{study}.html")
    with os_error(f"cannot write {out}"):
        dashboards.write_html(report, out)
    render.report_written(report, out)
    if png is not None:
        with reported(dashboards.BrowserNotFoundError, OSError):
            paths = dashboards.write_pngs(report, png)
        render.line(f"wrote {len(paths)} PNG files to {png}")
