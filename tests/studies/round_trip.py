"""The round trip a study of the user's own problem must make: launch, confirm, plot, export, and retrain
the export to the stored number (the data and the own-loop tests share it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import yaml
from typer.testing import CliRunner

from momentum_search.cli import app

runner = CliRunner()


def write_spec(tmp_path: Path, spec: dict[str, Any]) -> str:
    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def round_trip(tmp_path: Path, spec: dict[str, Any], *options: str) -> tuple[optuna.Study, dict[str, Any], str]:
    """Launch `spec` (with `options`, e.g. `--workers 2`), which confirms; plot it, export its best trial
    and retrain that: the study, the exported document and the launch's stderr."""
    url, name = f"sqlite:///{tmp_path / 'round-trip.db'}", spec["name"]
    launched = runner.invoke(app, ["launch", write_spec(tmp_path, spec), *options, "--storage", url])
    assert launched.exit_code == 0, launched.output
    assert "confirmation (held-out seeds)" in launched.stdout
    study = optuna.load_study(study_name=name, storage=url)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert {t.user_attrs["config"]["cell"] for t in complete} == set(spec["cells"])
    report = tmp_path / "report.html"
    assert runner.invoke(app, ["plot", name, "--storage", url, "--out", str(report)]).exit_code == 0
    assert report.stat().st_size > 10_000
    best = tmp_path / "best.yaml"
    assert runner.invoke(app, ["export", name, "--storage", url, "--out", str(best)]).exit_code == 0
    document = yaml.safe_load(best.read_text())
    retrained = runner.invoke(app, ["train", "--config", str(best), "--json"])
    assert retrained.exit_code == 0, retrained.output
    trial = study.trials[document["provenance"]["trial"]]
    assert json.loads(retrained.stdout)["runs"][0]["best_value"] == trial.user_attrs["seed_values"][0]
    return study, document, launched.stderr
