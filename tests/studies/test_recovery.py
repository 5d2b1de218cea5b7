"""A Ray launch SIGKILLed mid-study (its driver, the only process writing its trials) and launched again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from study_specs import tiny_spec
from test_storage import SLOW_TRIAL
from optuna.trial import TrialState

from momentum_search.studies import open_storage


def _launch_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "momentum_search.cli", "launch", *args, "--engine", "ray"]


@pytest.mark.xdist_group("ray")  # one Ray runtime at a time (see pyproject.toml: --dist loadgroup)
def test_a_killed_ray_launch_is_reaped_and_finished_by_the_next(
    server_databases: dict[str, str | None], study_name: str, tmp_path: Path
) -> None:
    url = server_databases["postgresql"]
    if url is None:
        pytest.skip("postgresql server not reachable on 127.0.0.1")
    budget = 3
    spec = tmp_path / "spec.yaml"
    # One cell: no baseline, which a sampler may draw again while it runs (then both train, by design).
    changes = {**SLOW_TRIAL, "budget": {"trials": budget, "epochs": 3}, "cells": ["momentum-lstm"]}
    spec.write_text(yaml.safe_dump(tiny_spec(study_name, **changes, scheduler={"name": "none"})))
    # A session of its own: what the killed driver's Ray runtime leaves behind is ended with it below.
    driver = subprocess.Popen(
        _launch_command(str(spec), "--storage", url), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        study = None
        deadline = time.monotonic() + 180
        while True:
            assert driver.poll() is None and time.monotonic() < deadline, "the launch ended before it was killed"
            if study is None and study_name in optuna.get_all_study_names(open_storage(url)):
                study = optuna.load_study(study_name=study_name, storage=open_storage(url))
            if study is not None and any(t.intermediate_values for t in study.get_trials(states=(TrialState.RUNNING,))):
                break
            time.sleep(0.2)
        driver.send_signal(signal.SIGKILL)  # mid-trial: an epoch reported
        driver.wait()
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    running = [t.number for t in study.get_trials(states=(TrialState.RUNNING,))]
    assert running  # left behind, with a heartbeat that has not gone stale yet

    relaunch = subprocess.run(
        _launch_command("--study", study_name, "--storage", url),
        start_new_session=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert relaunch.returncode == 0, relaunch.stderr
    trials = optuna.load_study(study_name=study_name, storage=open_storage(url)).get_trials()
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == budget
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert [t.number for t in failed] == running
    for trial in failed:
        assert trial.user_attrs["reason"] == f"owner lost: process {trial.system_attrs['owner']} is gone"
        (copy,) = [t for t in trials if t.system_attrs.get("retry_history") == [trial.number]]
        assert copy.params == trial.params and copy in finished
    # No configuration ran twice, apart from the killed trials' retries.
    assert len({tuple(sorted(t.params.items())) for t in finished}) == budget
