"""What every command shares: the options that recur, reading YAML and KEY=VALUE pairs, and the one way
bad input is reported (one line on stderr, exit 1, no traceback)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer
import yaml

from momentum_search.cli._render import error

StorageOption = Annotated[
    Optional[str],
    typer.Option(
        "--storage",
        envvar="MOMENTUM_SEARCH_STORAGE",
        help="SQLAlchemy URL of the study storage; default sqlite:///momentum-search.db in this folder.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
HostOption = Annotated[str, typer.Option(help="Address to bind; anything but localhost exposes the studies to the network.")]
GradientFlowOption = Annotated[
    bool,
    typer.Option(
        "--gradient-flow/--no-gradient-flow",
        help="Draw ‖∂L/∂h_t‖ over time for each cell kind's best config: one batch through the untrained model.",
    ),
]


def fail(message: str) -> NoReturn:
    """Print one line to stderr and exit 1: the CLI's only way to report bad input."""
    error(message)
    raise typer.Exit(code=1)


def error_message(exc: Exception) -> str:
    """One line for a bad-input exception; pydantic errors name the field."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        parts = []
        for item in exc.errors():
            where = ".".join(str(p) for p in item["loc"])
            message = item["msg"].removeprefix("Value error, ")
            parts.append(f"{where}: {message}" if where else message)
        return "; ".join(parts)
    return str(exc)


def study_errors() -> tuple[type[Exception], ...]:
    """The studies' bad input: a bad spec, an unreachable storage, an unknown study, any ValueError."""
    from momentum_search.studies import SpecError, StorageError, StudyNotFoundError

    return (SpecError, StorageError, StudyNotFoundError, ValueError)


@contextmanager
def reported(*errors: type[Exception]) -> Iterator[None]:
    """``errors`` raised in the block (default: :func:`study_errors`) end the command with :func:`fail`."""
    caught = errors or study_errors()
    try:
        yield
    except caught as exc:
        fail(error_message(exc))


@contextmanager
def os_error(doing: str) -> Iterator[None]:
    """An OSError in the block ends the command with :func:`fail`: ``{doing}: {the system's reason}``,
    e.g. ``cannot write report.html: Permission denied``."""
    try:
        yield
    except OSError as exc:
        fail(f"{doing}: {exc.strerror or exc}")


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except yaml.YAMLError as exc:
        fail(f"{path} is not valid YAML: {str(exc).splitlines()[0]}")
    if not isinstance(data, dict):
        fail(f"{path} must hold a mapping of settings, not {type(data).__name__}")
    return data


def parse_pairs(pairs: list[str], option: str) -> dict[str, Any]:
    """``KEY=VALUE`` options as a mapping, each value read as YAML ("50" -> 50, "true" -> True)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"{option} takes KEY=VALUE, got {pair!r}")
        params[key] = yaml.safe_load(value)
    return params
