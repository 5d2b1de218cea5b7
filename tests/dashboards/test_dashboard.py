"""Our figures and summary saved into optuna-dashboard, and the real dashboard serving them to Chromium."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from typing import Any

from known_studies import SEEDS, StudyBuilder, grid_objective
from optuna_dashboard import get_note

from momentum_search.dashboards import GRAPH_PREFIX, build_report, publish
from momentum_search.studies import open_storage


def small_study(make_study: Any, name: str) -> StudyBuilder:
    builder = make_study(name)
    builder.add("lstm", [0.3, 0.31, 0.32])
    for mu, s in ((0.0, 0.3), (0.6, 0.3), (0.0, 0.6), (0.6, 0.6)):
        builder.add("momentum-lstm", [grid_objective(mu, s, seed) for seed in SEEDS], mu=mu, s=s)
    return builder


def system_attrs(builder: StudyBuilder) -> dict[str, Any]:
    storage = open_storage(builder.url)
    return storage.get_study_system_attrs(storage.get_study_id_from_name(builder.study.study_name))


def saved_figures(builder: StudyBuilder) -> dict[str, dict[str, Any]]:
    """The figures saved in the study, read back the way the dashboard reads them."""
    from optuna_dashboard._custom_plot_data import get_plotly_graph_objects

    return {key: json.loads(value) for key, value in get_plotly_graph_objects(system_attrs(builder)).items()}


def test_publish_saves_figures_and_note_once(make_study: Any) -> None:
    builder = small_study(make_study, "pub")
    study = builder.study
    report = build_report(study, gradient_flow=False)
    drawn = [s.key for s in report.sections if s.figure is not None]

    first = publish(study, report)
    attrs_after_first = system_attrs(builder)
    second = publish(study, build_report(study, gradient_flow=False))

    assert first == second == (study.study_name, len(drawn), len(report.sections) - len(drawn))
    assert system_attrs(builder) == attrs_after_first  # nothing piles up on a second launch
    figures = saved_figures(builder)
    assert sorted(figures) == sorted(GRAPH_PREFIX + key for key in drawn)
    heatmap = figures[GRAPH_PREFIX + "mu-s-momentum-lstm"]["data"][0]
    assert heatmap["x"] == ["0", "0.1", "0.3", "0.6", "0.9"]
    assert system_attrs(builder)["dashboard:note_ver"] == 1
    note = get_note(study)
    assert "| momentum-lstm | 2 | μ=0.6, s=0.3 |" in note and "Pareto front: the study has one objective" in note

    # New trials change the summary: the note gets a new version, the figures are overwritten in place.
    builder.add("momentum-lstm", [0.01, 0.02, 0.03], mu=0.9, s=0.1)
    publish(study, build_report(study, gradient_flow=False))
    assert system_attrs(builder)["dashboard:note_ver"] == 2
    assert "| momentum-lstm | 5 | μ=0.9, s=0.1 |" in get_note(study)
    assert sorted(saved_figures(builder)) == sorted(GRAPH_PREFIX + key for key in drawn)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"dashboard exited with {process.returncode}: {process.stderr.read()}")  # type: ignore[union-attr]
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"dashboard did not listen on port {port} within {timeout} s")


def test_dashboard_serves_the_study_and_our_figures_to_chromium(make_study: Any, browser: Any) -> None:
    builder = small_study(make_study, "served")
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "momentum_search.cli",
        "dashboard",
        "--storage",
        builder.url,
        "--port",
        str(port),
        "--no-gradient-flow",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_port(port, process, timeout=60)
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/dashboard/studies/{builder.study._study_id}")
        figure = page.locator(f'[id="user-defined-plot:{GRAPH_PREFIX}mu-s-momentum-lstm"]')
        figure.locator(".main-svg").first.wait_for(timeout=30_000)
        assert "momentum-lstm: mse over μ × s" in figure.inner_text()
        page.get_by_text("served (id=").wait_for(timeout=10_000)
        page.close()
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert f"optuna-dashboard on http://127.0.0.1:{port}/dashboard/" in stderr
    assert "study served: 8 figures saved" in stderr


def test_a_read_only_dashboard_refuses_to_delete_a_study(make_study: Any) -> None:
    import urllib.error
    import urllib.request

    builder = small_study(make_study, "kept")
    study_id = builder.study._study_id
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "momentum_search.cli",
        "dashboard",
        "--storage",
        builder.url,
        "--port",
        str(port),
        "--no-gradient-flow",
        "--read-only",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_port(port, process, timeout=60)
        base = f"http://127.0.0.1:{port}/api/studies"
        with urllib.request.urlopen(f"{base}/{study_id}") as response:
            assert json.loads(response.read())["name"] == "kept"
        for method in ("DELETE", "POST", "PUT"):
            request = urllib.request.Request(f"{base}/{study_id}", method=method, data=b"{}")
            try:
                urllib.request.urlopen(request)
                raise AssertionError(f"{method} was served")
            except urllib.error.HTTPError as refused:
                assert refused.code == 405 and refused.headers["Allow"] == "GET, HEAD"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert f"optuna-dashboard read-only on http://127.0.0.1:{port}/dashboard/" in stderr
    assert [study.study_name for study in open_storage(builder.url).get_all_studies()] == ["kept"]
