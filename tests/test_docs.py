"""The README and the pages it leads to: what they count about the code is what the code has, every
relative link reaches its file (and heading), and the README stays a doorway that `.ci/run` reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from momentum_search.trainers import CELL_KINDS

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _stated(noun: str) -> list[tuple[str, int]]:
    """Every "N <noun>" the pages state (N in digits or a word), with the page's name."""
    found = []
    for page in PAGES:
        text = " ".join(page.read_text().split())  # a phrase may break across lines
        for match in re.finditer(rf"\b(\d+|{'|'.join(WORDS)}) {noun}\b", text, re.IGNORECASE):
            number = match.group(1).lower()
            found.append((page.name, int(number) if number.isdigit() else WORDS[number]))
    return found


@pytest.mark.parametrize(
    ("noun", "count"),
    [
        ("kinds", len(CELL_KINDS)),
        ("drives", len({kind.variant for kind in CELL_KINDS.values() if not kind.plain})),
        ("base cells", len({kind.base for kind in CELL_KINDS.values()})),
    ],
)
def test_the_pages_count_what_the_cell_registry_holds(noun: str, count: int) -> None:
    stated = _stated(noun)
    assert "README.md" in {page for page, _ in stated}, f"the README no longer says how many {noun}"
    assert {number for _, number in stated} == {count}, stated


def test_the_type_ignores_the_architecture_page_counts_are_the_packages() -> None:
    page = " ".join((ROOT / "docs" / "architecture.md").read_text().split())
    stated = re.search(r"Each of the (\d+) `# type: ignore`s", page)
    assert stated is not None
    ignores = sum(path.read_text().count("# type: ignore") for path in (ROOT / "momentum_search").rglob("*.py"))
    assert int(stated.group(1)) == ignores


def _anchors(page: Path) -> set[str]:
    """The heading anchors GitHub makes for ``page``: lower case, punctuation dropped, spaces as hyphens."""
    anchors, fenced = set(), False
    for line in page.read_text().splitlines():
        fenced ^= line.startswith("```")
        if not fenced and (heading := re.match(r"#+ (.*)", line)):
            anchors.add(re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_reaches_its_file_and_heading(page: Path) -> None:
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        reached = (page.parent / path).resolve() if path else page
        assert reached.exists(), f"{page.name}: {target}"
        if anchor:
            assert anchor in _anchors(reached), f"{page.name}: {target}"


def test_the_readme_is_a_doorway_with_the_test_command_ci_runs() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250
    # .ci/run runs the first line that starts so (grep -m1), as the README's reader would.
    assert [line for line in lines if line.startswith(".venv/bin/python -m pytest")] == [
        ".venv/bin/python -m pytest -n 2 -p no:cacheprovider"
    ]
