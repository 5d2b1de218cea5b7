"""`studies show` at 80 columns (a pipe, a CI log, a default terminal) cuts no cell name or number to "…";
a wide terminal keeps the tables as they were."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from known_studies import StudyBuilder
from rich.cells import cell_len
from typer.testing import CliRunner

from momentum_search.cli import _render, app

KINDS = ("lstm", "momentum-lstm", "learnable-momentum-lstm")
RANGES = {"mu": {"low": 0.0, "high": 0.9}, "s": {"low": 0.1, "high": 2.0, "log": True}}


@pytest.fixture
def show(make_study: Callable[..., StudyBuilder], monkeypatch: pytest.MonkeyPatch) -> Callable[[int], str]:
    """`studies show` of a study of the longest kind names, at a console width."""
    builder = make_study(
        "narrow", cells=list(KINDS), space=RANGES, sampler={"name": "random", "seed": 0}, budget={"trials": 3, "epochs": 3}
    )
    builder.add("lstm", [0.30123, 0.32345, 0.34567])
    builder.add("momentum-lstm", [0.21234, 0.22345, 0.23456], mu=0.61234, s=0.34567)
    builder.add("learnable-momentum-lstm", [0.25678, 0.26789, 0.27891], mu=0.45678, s=1.23456)

    def shown(width: int) -> str:
        monkeypatch.setattr(_render.console, "width", width)
        result = CliRunner().invoke(app, ["studies", "show", "narrow", "--storage", builder.url])
        assert result.exit_code == 0, result.output
        return result.stdout

    return shown


def test_at_80_columns_every_name_and_number_is_whole(show: Callable[[int], str]) -> None:
    out = show(80)
    assert max(cell_len(line) for line in out.splitlines()) <= 80
    assert not re.search(r"\S…", out), out  # rich's mark of a cut word ("moment…"); a range's " … " is not one
    words = re.split(r"[\s│┃,;()]+", out)
    for kind in KINDS:
        assert words.count(kind) >= 2, (kind, out)  # in the confirmation and in the trials
    # Each trial's mean, its parameters and the confirmation's search values.
    for number in ("0.3235", "0.2235", "0.2679", "μ=0.612", "s=0.346", "mu=0.457", "s=1.23"):
        assert number in words, (number, out)
    assert "confirmation (held-out seeds)" in out and "time [s]" in out  # a left-out column is named


def test_a_wide_terminal_keeps_the_tables(show: Callable[[int], str]) -> None:
    lines = show(250).splitlines()
    # Each table's header on one line, every column in it.
    assert any(all(name in line for name in ("cell", "why", "parameters", "verdict vs plain cell")) for line in lines)
    assert any(all(name in line for name in ("trial", "state", "seeds", "test", "epochs", "time [s]")) for line in lines)
    assert any("learnable-momentum-lstm" in line and "best learnable-momentum-lstm" in line for line in lines)
