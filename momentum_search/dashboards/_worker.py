"""A child process that runs the report's numeric fits (:mod:`._fits`) beside the report.

Importing what the fits need takes longer than anything else a report does: optuna.importance pulls in
scikit-learn, SciPy and pandas, 2 s of a 10,000-trial report, before fits of about 1 s. A child started
before the store is opened imports them while this process reads the trials, then fits what it is
handed while this process draws the other figures.

Whatever goes wrong with the child (it cannot start, dies, takes too long, answers garbage), the calls
run in this process instead: the same functions on the same arguments, so the same report, only slower.
The child's own output (a traceback included) goes to a pipe that only a debug log line reads.

Run as ``python -m momentum_search.dashboards._worker``: it reads one pickled list of calls on stdin,
writes the pickled list of their results on stdout.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

_log = logging.getLogger(__name__)

# What the child imports while it waits for its calls: the importances' evaluators and the maps' interpolation.
PRELOADED = ("optuna.importance", "scipy.interpolate")
# Seconds the child may take past the moment its results are wanted; the fits themselves take seconds.
TIMEOUT = 120.0

Call = tuple[Callable[..., Any], tuple[Any, ...]]


class Worker:
    """Runs one batch of calls (:meth:`submit`, then :meth:`results`) in a child process, or here.

    A context manager: leaving it ends a child whose results were never asked for.
    """

    def __init__(self, command: Sequence[str] | None) -> None:
        """Start ``command`` as the child (see :func:`child_command`); None runs the calls here."""
        self._calls: list[Call] = []
        self._sender: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None
        if command is not None:
            try:
                self._process = subprocess.Popen(
                    list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                )
            except (OSError, ValueError) as error:
                _log.debug("cannot start the worker (%s); the fits run here", error)

    @classmethod
    def start(cls) -> Worker:
        """A worker with a child process where it pays: this process has not imported what the child would,
        and a core is free. On a busy machine the child's own imports (0.7 s of CPU: the interpreter, Optuna,
        numpy) only add to the work; a 10,000-trial report took 15 s in-process and 21 s with it at load 4 to 5.
        """
        imported = all(name in sys.modules for name in PRELOADED)
        busy = os.getloadavg()[0] >= (os.cpu_count() or 1)
        return cls(None if imported or busy else child_command())

    @property
    def in_child(self) -> bool:
        """Whether a child process runs the calls (until :meth:`results` collects it)."""
        return self._process is not None

    def submit(self, calls: list[Call]) -> None:
        """Hand ``calls`` over; the child starts on them at once, and :meth:`results` returns theirs."""
        self._calls = calls
        if self._process is not None:
            # A thread writes: the child reads once its imports are done, and a pipe holds only 64 KiB.
            self._sender = threading.Thread(target=_send, args=(self._process, pickle.dumps(calls)), daemon=True)
            self._sender.start()

    def results(self) -> list[Any]:
        """The results of the submitted calls, in their order: the child's, or else computed here."""
        found = self._collect()
        return [function(*args) for function, args in self._calls] if found is None else found

    def _collect(self) -> list[Any] | None:
        process, self._process = self._process, None
        if process is None:
            return None
        try:
            if self._sender is not None:
                self._sender.join(TIMEOUT)
                if self._sender.is_alive():
                    raise subprocess.TimeoutExpired(process.args, TIMEOUT)
            out, err = process.communicate(timeout=TIMEOUT)
            if process.returncode != 0:
                raise ChildProcessError(f"exit {process.returncode}: {err.decode(errors='replace').strip()[-500:]}")
            results = pickle.loads(out)
            if not isinstance(results, list) or len(results) != len(self._calls):
                raise ValueError(f"answered {type(results).__name__} for {len(self._calls)} calls")
            return results
        except Exception as error:  # any failure of the child costs time, never the report
            _log.debug("the worker failed (%s); the fits run here", error)
            _end(process)
            return None

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if self._process is not None:
            _end(self._process)
            self._process = None


def child_command() -> list[str]:
    """The command line of the child process."""
    return [sys.executable, "-m", __name__]


def _send(process: subprocess.Popen[bytes], payload: bytes) -> None:
    assert process.stdin is not None
    try:
        process.stdin.write(payload)
        process.stdin.flush()
    except (OSError, ValueError):  # the child died (or was ended): collecting it finds out and falls back
        pass


def _end(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.communicate()


def main() -> None:
    """The child: import what the fits need, read the calls, write their results."""
    import importlib

    # Our results own stdout; whatever a library prints goes to stderr, with the rest of the child's output.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    for name in PRELOADED:
        importlib.import_module(name)
    calls: list[Call] = pickle.load(sys.stdin.buffer)
    pickle.dump([function(*args) for function, args in calls], out)
    out.flush()


if __name__ == "__main__":
    main()
