"""Tables the way every command prints them: numbers right-aligned, an empty table one
"none" row rather than an empty box, and durations in the unit that reads best."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.table import Table

NUMERIC = "numeric"


def table(title: str, columns: Sequence[str | tuple[str, str]],
          rows: Sequence[Sequence[object]]) -> Table:
    """`columns`: names, or (name, NUMERIC) for a right-aligned one."""
    out = Table(title=title, title_justify="left")
    for column in columns:
        name, kind = column if isinstance(column, tuple) else (column, "")
        out.add_column(name, justify="right" if kind == NUMERIC else "left")
    for row in rows:
        out.add_row(*(_cell(value) for value in row))
    if not rows:
        out.add_row("none", *([""] * (len(columns) - 1)), style="dim")
    return out


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def console() -> Console:
    """The terminal's width on a terminal; wide enough for whole rows in a pipe or a
    file, where rich would otherwise wrap at 80 columns."""
    return Console() if sys.stdout.isatty() else Console(width=200)


@contextmanager
def counting(label: str, total: int, unit: str) -> Iterator[Callable[[int], None]]:
    """A bar with the count, the total, the rate and the time left (on a terminal;
    silent in a pipe), and a function to report how many are done so far."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    out = console()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TaskProgressColumn(), TextColumn(f"{{task.fields[rate]}} {unit}/s"),
                  TextColumn("ETA"), TimeRemainingColumn(), console=out,
                  disable=not out.is_terminal) as bar:
        task = bar.add_task(label, total=total, rate="-")

        def update(done: int) -> None:
            speed = bar.tasks[0].speed
            bar.update(task, completed=done, rate=f"{speed:,.0f}" if speed else "-")

        yield update
