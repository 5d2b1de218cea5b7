"""The HTML every page of the report shares: its style sheet, number formatting and tables."""

from __future__ import annotations

import html

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px;
       padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.92rem; }
th, td { padding: 0.25rem 0.7rem; border-bottom: 1px solid #e5e5e5; text-align: left; }
th { background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.15rem 1rem; margin: 0.8rem 0; }
dt { font-weight: 600; } dd { margin: 0; }
.unavailable { color: #8a5300; background: #fff7e6; border-left: 3px solid #f0a020; padding: 0.4rem 0.7rem; }
nav ul { columns: 2; } section { margin-top: 1.6rem; }
"""


def fmt(value: float | None, digits: str = ".4g") -> str:
    return "–" if value is None else format(value, digits)


def html_table(columns: list[str], rows: list[list[str]], *, numeric: set[int]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{e(v)}</td>' if i in numeric else f"<td>{e(v)}</td>" for i, v in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
