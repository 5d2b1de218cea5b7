"""What the study benchmarks share: the machine's load, a PostgreSQL database of their own, tables."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.table import Table

POSTGRES_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"
# Wide when piped to a file too, so that tables keep one line per row.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def load_line() -> str:
    """Cores and load average: next to every figure, since the machine may be shared."""
    from momentum_search.studies import available_cores  # late: torch, and --help stays fast

    one, five, fifteen = os.getloadavg()
    return f"{available_cores()} cores, load average {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min)"


def machine_line() -> str:
    """The CPU and the vector instructions torch's kernels use: ratios to `nn.LSTM` (oneDNN) move with them."""
    import platform

    import torch  # late, as above

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"CPU: {model}, torch's kernels {torch.backends.cpu.get_cpu_capability()}, {os.cpu_count()} logical cores"


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], *, numeric_from: int = 1) -> None:
    """A table whose columns from ``numeric_from`` on are right-aligned numbers."""
    # Escaped: rich would read units such as "[s]" (strike-through) and "[ms]" as markup and drop them.
    table = Table(title=escape(title), title_justify="left")
    for index, column in enumerate(columns):
        table.add_column(escape(column), justify="right" if index >= numeric_from else "left")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)


@contextmanager
def postgres_database(server: str = POSTGRES_SERVER) -> Iterator[str]:
    """A fresh database on ``server`` for one benchmark run, dropped afterwards; yields its URL."""
    import sqlalchemy

    name = f"ms_bench_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        yield f"{server}/{name}"
    finally:
        with admin.connect() as connection:
            # FORCE: worker processes of an interrupted run may still hold connections.
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()
