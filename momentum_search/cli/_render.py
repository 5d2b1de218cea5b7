"""What the commands print: rich tables and lines on stdout, JSON with ``--json``, progress on stderr.

Commands hand the library's results to these functions, so that each table's layout is decided here
once; a command prints at most a line of its own. Rich, Typer and the standard library are imported at
module level, the library only inside the functions that need it (and for type checking).
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from momentum_search.dashboards import AblationInfo, ConfirmationInfo, StudyReport, Verdict
    from momentum_search.search import TrialCounts
    from momentum_search.studies import Confirmation, LaunchResult, PresetInfo, Progress, StudySummary, TrialRow
    from momentum_search.trainers import TrainResult

console = Console()
err_console = Console(stderr=True)

# Rich lays out every cell of a table (about 1 ms a row here, 15 s for 10,000 trials), so longer trial lists
# print as plain aligned columns.
RICH_TABLE_ROWS = 500
_NUMERIC_COLUMNS = ("trial", "seeds", "epochs", "time [s]")
# What a trial table leaves out, first to last, where the terminal is too narrow for all of it.
_OPTIONAL_TRIAL_COLUMNS = ("time [s]", "epochs", "test", "seeds")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def line(text: str) -> None:
    """One line on stdout, as written (no markup highlighting, no wrapping of paths)."""
    console.print(text, highlight=False, soft_wrap=True)


def note(text: str) -> None:
    """One line on stderr: what a long-running command is doing, or how to go on."""
    err_console.print(text, highlight=False, soft_wrap=True)


def error(message: str) -> None:
    # The message is text: `pkg.mod:train:` is no emoji code, `[data]` or `[1, 6]` no markup.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True, emoji=False)


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Collection[str] = ()) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        # Only short numbers refuse to wrap: on a narrow terminal the text columns share the width
        # instead of the parameters being squeezed to nothing.
        right = column in numeric
        table.add_column(escape(column), justify="right" if right else "left", no_wrap=right)  # "[s]" is markup
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    return table


def fitted(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    numeric: Collection[str] = (),
    optional: Sequence[str] = (),
) -> RenderableType:
    """A table that cuts no name or number to "…" at the console's width (a pipe, a CI log and a default
    terminal have 80 columns).

    The whole table as rich lays it out where it fits; else each column as wide as its longest word at
    least, the text wrapped at spaces (rich would squeeze the widest columns below that); else without as
    few of the ``optional`` columns (left out first to last) as it takes, its caption naming them; else
    every row stacked as ``column  value`` lines.
    """
    for count in range(len(optional) + 1):
        left_out = optional[:count]
        kept = [i for i, column in enumerate(columns) if column not in left_out]
        names, cells = [columns[i] for i in kept], [[row[i] for i in kept] for row in rows]
        widths = _widths(names, cells, numeric)
        if widths is None:
            continue
        table = _table(title, names, cells, numeric=numeric)
        for laid_out, width in zip(table.columns, widths, strict=True):
            laid_out.width = width
        if left_out:
            table.caption = escape(f"{', '.join(left_out)}: left out to fit {console.width} columns (--json has them)")
            table.caption_justify = "left"
        return table
    blocks: list[RenderableType] = [Text(title, style="table.title")]
    for row in rows:
        stacked = Table.grid(padding=(0, 2))
        stacked.add_column(style="bold", no_wrap=True)
        stacked.add_column(overflow="fold")
        for column, cell in zip(columns, row, strict=True):
            stacked.add_row(Text(column), Text(cell))
        blocks += [Text(), stacked]
    return Group(*blocks)


def _widths(columns: Sequence[str], rows: Sequence[Sequence[str]], numeric: Collection[str]) -> list[int | None] | None:
    """Each column's width in a table of :func:`_table`'s box at the console's width: None each where the
    whole table fits (rich lays it out), else at least each column's longest word (its whole text for a
    number) with the room left shared in proportion to what each would use; None when even that is too wide."""
    room = console.width - (3 * len(columns) + 1)  # a space either side of each column and a rule between
    shortest, longest = [], []
    for index, column in enumerate(columns):
        texts = [column, *(row[index] for row in rows)]
        longest.append(max(cell_len(line) for text in texts for line in text.splitlines() or [""]))
        words = [cell_len(word) for text in texts for word in (text.splitlines() if column in numeric else text.split())]
        shortest.append(max(words, default=0))
    if sum(longest) <= room:
        return [None] * len(columns)
    spare = room - sum(shortest)
    if spare < 0:
        return None
    wanted = [high - low for low, high in zip(shortest, longest, strict=True)]
    extra = [spare * want // sum(wanted) for want in wanted]
    return [low + more for low, more in zip(shortest, extra, strict=True)]


# ---- train ------------------------------------------------------------------------------------


def task_inferred(task: str, params: dict[str, Any]) -> None:
    """For the user's own data, what its file implies (head, classes, metric), on stderr; else nothing."""
    from momentum_search.trainers.tasks import DATA_TASK
    from momentum_search.trainers.tasks import describe_data as describe

    if task == DATA_TASK:
        err_console.print(escape(describe(params)), highlight=False, soft_wrap=True, emoji=False)


def mean_std(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    return statistics.fmean(finite), statistics.stdev(finite) if len(finite) > 1 else 0.0


def train_results(results: list[TrainResult], *, as_json: bool) -> None:
    """One row per seed, and their mean ± std when there are several."""
    if as_json:
        summary = {
            key: {
                name: v if math.isfinite(v) else None
                for name, v in zip(("mean", "std"), mean_std([getattr(r, key) for r in results]))
            }
            for key in ("best_value", "test_value")
        }
        print_json(
            {"metric": results[0].metric, "direction": results[0].direction, **summary, "runs": [r.to_dict() for r in results]}
        )
        return
    first = results[0]
    table = Table(title=f"{first.config.cell} on {first.config.task}  ({first.metric}, {first.direction})")
    for column in ("seed", "best valid", "epoch", "test at best", "epochs run", "time [s]", "status"):
        table.add_column(escape(column), justify="right")  # escaped: rich reads "[s]" as strike-through markup
    for r in results:
        status = "diverged" if r.diverged else "stopped" if r.stopped else "ok"
        table.add_row(
            str(r.config.seed),
            f"{r.best_value:.4f}",
            str(r.best_epoch),
            f"{r.test_value:.4f}",
            str(r.epochs_run),
            f"{r.wall_time:.1f}",
            status,
        )
    if len(results) > 1:
        (vm, vs), (tm, ts) = (mean_std([getattr(r, k) for r in results]) for k in ("best_value", "test_value"))
        table.add_section()
        table.add_row("mean ± std", f"{vm:.4f} ± {vs:.4f}", "", f"{tm:.4f} ± {ts:.4f}", "", "", "")
    console.print(table)


# ---- studies and their trials ---------------------------------------------------------------------


def format_values(values: Sequence[float] | None) -> str:
    if not values:
        return "–"
    return " / ".join(f"{v:.4g}" for v in values)


def format_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def tally(counts: TrialCounts, budget: int) -> str:
    """How far a study's budget got, and in what states; twins are said, as they trained nothing."""
    twins = f"; {_twins(counts.twins)} reused an earlier result, training nothing" if counts.twins else ""
    return (
        f"{counts.finished}/{budget} finished ({counts.complete} complete, {counts.pruned} pruned{twins}), {counts.failed} failed"
    )


def _twins(count: int) -> str:
    return f"{count} twin" if count == 1 else f"{count} twins"


def _progress_view(progress: Progress) -> Table:
    view = Table.grid()
    view.add_row(
        f"{progress.study}: {tally(progress.counts, progress.budget)}, best {format_values(progress.best_values)}, "
        f"{progress.elapsed:.0f} s"
    )
    if progress.running:
        running = Table(box=None, header_style="bold")
        for column in ("running", "cell", "parameters", "epoch", "valid"):
            running.add_column(column, justify="left" if column in ("cell", "parameters") else "right")
        for trial in progress.running:
            params = dict(trial.params)
            running.add_row(
                "–" if trial.number is None else str(trial.number),
                str(params.pop("cell", "…")),
                format_params(params),
                "–" if trial.epoch is None else str(trial.epoch),
                "–" if trial.value is None else f"{trial.value:.4g}",
            )
        view.add_row(running)
    return view


@contextmanager
def live_progress() -> Iterator[Callable[[Progress], None]]:
    """An ``on_progress`` callback that redraws the study's progress on stderr until the block ends."""
    from rich.live import Live

    with Live(console=err_console, transient=True, refresh_per_second=4) as live:
        yield lambda progress: live.update(_progress_view(progress))


def _trial_columns(metric: str, rows: Sequence[TrialRow]) -> list[str]:
    columns = ["trial", "state", "cell", "parameters", f"{metric} ± std", "seeds", "test", "epochs", "time [s]"]
    return columns + ["reason"] if any(row.reason for row in rows) else columns


def _trial_cells(row: TrialRow, reasons: bool) -> list[str]:
    value = format_values(row.values)
    if row.values is not None and row.value_std:
        value += f" ± {row.value_std:.2g}"
    cells = [
        str(row.number),
        row.state.lower(),
        row.cell or "–",
        format_params(row.params),
        value,
        str(row.seeds) if row.seeds else "–",
        "–" if row.test_value is None else f"{row.test_value:.4g}",
        "–" if row.epochs_run is None else str(row.epochs_run),
        "–" if row.wall_time is None else f"{row.wall_time:.1f}",
    ]
    return cells + [row.reason or ""] if reasons else cells


def trials(title: str, rows: Sequence[TrialRow], metric: str) -> None:
    if len(rows) <= RICH_TABLE_ROWS:
        columns = _trial_columns(metric, rows)
        cells = [_trial_cells(row, "reason" in columns) for row in rows]
        console.print(fitted(title, columns, cells, numeric=_NUMERIC_COLUMNS, optional=_OPTIONAL_TRIAL_COLUMNS))
        return
    columns = _trial_columns(metric, rows)
    lines = [columns] + [_trial_cells(row, "reason" in columns) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    aligned = (
        "  ".join(cell.rjust(w) if c in _NUMERIC_COLUMNS else cell.ljust(w) for c, cell, w in zip(columns, line, widths))
        for line in lines
    )
    typer.echo("\n".join([title, *(line.rstrip() for line in aligned)]))


def best(summary: StudySummary) -> None:
    """The search's best trial in one line; a Pareto front or tied best as a table."""
    if len(summary.best) == 1 and len(summary.directions) == 1:
        top = summary.best[0]
        spread = f" ± {top.value_std:.2g}" if top.value_std else ""
        test = "" if top.test_value is None else f", test {top.test_value:.4g}"
        params = f", {format_params(top.params)}" if top.params else ""
        console.print(
            f"search best (optimistic: the best of the search's runs): trial {top.number}, {top.cell}{params}: "
            f"{summary.metric} {format_values(top.values)}{spread} ({_seeds(top.seeds)}{test})",
            highlight=False,
        )
    elif summary.best:
        title = "Pareto front" if len(summary.directions) > 1 else "best (tied)"
        trials(title, summary.best, summary.metric)


def _best_cell(summary: StudySummary) -> str:
    """The best value for `studies list`: confirmed, with its interval, or marked as the search's."""
    if not summary.best or summary.confirmation is None:  # nothing yet, two objectives, or itself a confirmation
        return f"{format_values(summary.best[0].values)} ({_seeds(summary.best[0].seeds)})" if summary.best else "–"
    top = summary.confirmation.with_role("top 1")
    if top is not None and top.confirmed and top.interval is not None:
        low, high = top.interval
        return f"{top.mean:.4g} [{low:.4g}, {high:.4g}] ({len(top.seeds)} held-out seeds)"
    return f"{format_values(summary.best[0].values)} (search, {_seeds(summary.best[0].seeds)}, not confirmed)"


def _seeds(count: int) -> str:
    return f"{count} seed" if count == 1 else f"{count} seeds"


def study_list(summaries: list[StudySummary], *, location: str, as_json: bool) -> None:
    if as_json:
        print_json([summary.to_json(with_trials=False) for summary in summaries])
        return
    rows = [
        [
            summary.name,
            summary.task,
            ", ".join(summary.cells),
            f"{summary.counts.finished}/{summary.budget}"
            + (f" ({_twins(summary.counts.twins)})" if summary.counts.twins else ""),
            str(summary.counts.failed),
            str(summary.counts.pending),
            _best_cell(summary),
        ]
        for summary in summaries
    ]
    console.print(fitted(f"studies in {location}", ("name", "task", "cells", "finished", "failed", "pending", "best"), rows))


def _confirmation(info: ConfirmationInfo) -> None:
    """The candidates on held-out seeds with intervals and verdicts; or why their values are optimistic."""
    from momentum_search import dashboards

    console.print(escape(dashboards.headline(info)), highlight=False)
    console.print(
        fitted("confirmation (held-out seeds)", dashboards.confirmation_columns(info), dashboards.confirmation_cells(info))
    )
    for verdict in info.verdicts:
        console.print(f"- {escape(verdict.sentence)}", highlight=False)


def confirmation(confirmation: Confirmation) -> None:
    from momentum_search import dashboards

    _confirmation(dashboards.get_confirmation_info(confirmation))


def study(summary: StudySummary, *, as_json: bool) -> None:
    """`studies show`: the study in one line, its confirmation, its best trial(s) and every trial."""
    from momentum_search import dashboards

    info = None if summary.confirmation is None else dashboards.get_confirmation_info(summary.confirmation)
    if as_json:
        print_json({**summary.to_json(with_trials=True), "confirmation": info and dashboards.confirmation_json(info)})
        return
    console.print(
        f"study [bold]{summary.name}[/]: {summary.task}, cells {', '.join(summary.cells)}, "
        f"{summary.metric} ({' / '.join(summary.directions)}); {tally(summary.counts, summary.budget)}, "
        f"{summary.counts.pending} pending",
        highlight=False,
    )
    if info is not None:
        _confirmation(info)
    best(summary)
    if summary.omitted:
        shown = len(summary.trials)
        trials(f"best {shown} of {shown + summary.omitted} trials (--all lists every one)", summary.trials, summary.metric)
    else:
        trials("trials", summary.trials, summary.metric)


def launched(result: LaunchResult) -> None:
    """The one-line account of a launch: what ran where, how far the budget got."""
    verb = "resumed" if result.resumed else "created"
    ran_on = (
        f"Ray: {result.workers} trial(s) at once × {result.threads} CPU(s)"
        if result.engine == "ray"
        else f"{result.workers} worker(s) × {result.threads} thread(s)"
    )
    console.print(
        f"study [bold]{result.study}[/] ({verb}) in {result.storage}: {tally(result.progress.counts, result.progress.budget)}, "
        f"{ran_on}, {result.progress.elapsed:.0f} s",
        highlight=False,
    )


def confirmed(study_name: str, queued: int, confirmation: Confirmation, *, as_json: bool) -> None:
    """What `confirm` trained, then the confirmation as `studies show` prints it."""
    from momentum_search import dashboards

    info = dashboards.get_confirmation_info(confirmation)
    if as_json:
        print_json({"trained": queued, **dashboards.confirmation_json(info)})
        return
    trained = (
        f"trained {queued} configuration(s) on {len(info.held_out)} held-out seeds"
        if queued
        else "nothing to train: every candidate is confirmed or queued already"
    )
    console.print(f"study [bold]{escape(study_name)}[/]: {trained}", highlight=False)
    _confirmation(info)


def presets(infos: list[PresetInfo], *, as_json: bool) -> None:
    if as_json:
        print_json([info.__dict__ for info in infos])
        return
    table = Table(title="presets (launch with --preset NAME)", title_justify="left")
    for column in ("name", "task", "cells", "trials", "description"):
        table.add_column(column)
    for info in infos:
        table.add_row(info.name, info.task, ", ".join(info.cells), str(info.trials), info.description)
    console.print(table)


# ---- reports ----------------------------------------------------------------------------------


def report_written(report: StudyReport, out: Path) -> None:
    drawn = [s for s in report.sections if s.figure is not None]
    line(f"wrote {out}: {len(drawn)} figures")
    for section in report.sections:
        if section.figure is None:
            line(f"  not drawn: {section.title}: {section.reason}")


def ablation(info: AblationInfo, *, gain: float, gain_source: str, times: list[Verdict], out: Path, as_json: bool) -> None:
    """The arms' test values, the verdicts against the plain cell and the times to its accuracy."""
    from momentum_search import dashboards

    if as_json:
        print_json(
            {
                "name": info.name,
                "gain": gain,
                "gain_source": gain_source,
                "report": str(out),
                "arms": [arm._asdict() for arm in info.arms],
                "verdicts": [v.__dict__ for v in info.verdicts],
                "skipped": info.skipped,
                "time_to_plain": [v.__dict__ for v in times],
            }
        )
        return
    table = Table(title=f"ablation {info.name}: test {info.metric} per arm, g = {gain:.4g} ({gain_source})", title_justify="left")
    # The terminal gets the columns that decide; the report has them all (cell, validation values).
    shown = [0, 2, 3, 4, 6, 7, 9]
    if any(arm.state != "COMPLETE" for arm in info.arms):
        shown.insert(4, 5)
    for index in shown:
        table.add_column(dashboards.ARM_COLUMNS[index], justify="left" if index in (0, 5) else "right")
    for row in dashboards.arm_rows(info):
        table.add_row(*(row[index] for index in shown))
    console.print(table)
    for verdict in info.verdicts:
        line(f"• {verdict.sentence}")
    for skipped in info.skipped:
        line(f"  not compared: {skipped}")
    for verdict in times:
        line(f"• {verdict.sentence}")
    console.print(f"wrote {out}", highlight=False)
