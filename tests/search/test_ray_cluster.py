"""The Ray engine on a cluster started with ``ray start --head`` on loopback, reached with ``--ray-address``."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from momentum_search.studies import open_storage

# One Ray runtime at a time: every Ray test runs on one pytest-xdist worker (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("ray")

BIN = Path(sys.executable).parent  # the ray and momentum-search commands of this environment
# Every port `ray start --head` would otherwise take at a fixed number, so that it cannot clash with
# another Ray on this machine.
PORT_OPTIONS = (
    "port",
    "dashboard-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "runtime-env-agent-port",
    "metrics-export-port",
    "node-manager-port",
    "object-manager-port",
)


def free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def processes_of(folder: str) -> list[int]:
    """The ids of the processes whose command line names ``folder`` (each Ray process names its temp dir)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if folder.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
    return found


@contextlib.contextmanager
def ray_cluster(log: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """A one-node cluster on 127.0.0.1; yields its address, the environment to reach it, its temp dir.

    Stopped on exit whatever happened, by ending the ``ray start --block`` process, which ends the
    processes it started. ``ray stop`` is not used: it ends every Ray process on the machine.
    """
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's unix sockets live under it
    ports = dict(zip(PORT_OPTIONS, free_ports(len(PORT_OPTIONS)), strict=True))
    env = {
        **os.environ,
        # The cluster's own token, for it and for the launcher (Ray clusters require one by default).
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": uuid.uuid4().hex,
        # Ray replaces 127.0.0.1 by the machine's network address; single-machine mode keeps loopback.
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    }
    command = [
        str(BIN / "ray"),
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=2",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
        *(f"--{option}={port}" for option, port in ports.items()),
    ]
    with log.open("w") as output:
        head = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        while not listening(ports["port"]):
            assert head.poll() is None, f"ray start exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"ray start did not open its port: {log.read_text()[-2000:]}"
            time.sleep(0.5)
        yield f"127.0.0.1:{ports['port']}", env, Path(temp_dir)
    finally:
        head.terminate()
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        for pid in processes_of(temp_dir):  # none, unless the head was killed before it could clean up
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_study_runs_on_a_cluster_reached_through_ray_address(tmp_path: Path) -> None:
    spec = {
        "name": "on-cluster",
        "task": "adding",
        "task_params": {"length": 10, "n_train": 128, "n_valid": 64, "n_test": 64},
        "cells": ["lstm", "momentum-lstm"],
        "space": {"mu": {"low": 0.0, "high": 0.9}},
        "fixed": {"hidden_size": 8, "batch_size": 32},
        "budget": {"trials": 3, "epochs": 2},
        "sampler": {"name": "random", "seed": 0},
        "scheduler": {"name": "none"},
    }
    spec_file = tmp_path / "study.yaml"
    spec_file.write_text(yaml.safe_dump(spec))
    url = f"sqlite:///{tmp_path / 'studies.db'}"

    with ray_cluster(tmp_path / "ray-start.log") as (address, env, temp_dir):
        launched = subprocess.run(
            [
                str(BIN / "momentum-search"),
                "launch",
                str(spec_file),
                "--storage",
                url,
                "--engine",
                "ray",
                "--ray-address",
                address,
            ],
            env={**env, "COLUMNS": "1000"},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert launched.returncode == 0, launched.stderr
        # Ray's and Tune's own logs and tables stay out of the terminal.
        assert not [line for line in launched.stderr.splitlines() if re.search(r"\b(ray|tune)\b", line, re.IGNORECASE)]
        assert "3/3 finished" in launched.stdout and "Ray: 2 trial(s) at once × 1 CPU(s)" in launched.stdout
        # The trials ran in the cluster's worker processes, which log under its temp dir by pid (a
        # trial that copies an earlier twin's result is recorded by the launcher itself).
        worker_logs = "\n".join(path.name for path in temp_dir.glob("session_*/logs/worker-*"))
        trials = optuna.load_study(study_name="on-cluster", storage=open_storage(url)).get_trials()
        trained = [trial for trial in trials if "reused_from" not in trial.user_attrs]
        assert trained
        for trial in trained:
            pid = trial.user_attrs["worker"].rsplit(":", 1)[1]
            assert f"-{pid}.out" in worker_logs

    assert [trial.state for trial in trials] == [TrialState.COMPLETE] * 3
    assert all(len(trial.intermediate_values) == 2 for trial in trials)
    assert not listening(int(address.rsplit(":", 1)[1])) and processes_of(str(temp_dir)) == []
