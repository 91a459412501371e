"""The one terminal progress-bar factory (``rich.progress``) of skelrec's long commands.

Every bar reads ``<description> ━━━━━━ 12/40 <extra columns> 0:01:02 0:03:00`` (description, bar, done/total, the
caller's columns, elapsed, remaining), on stderr, so stdout stays clean for results. A bar is off when ``enabled``
is ``False`` (a quiet run) and, by default (``enabled=None``), when stderr is not a terminal (a log file, a pipe,
a test runner): a disabled :class:`~rich.progress.Progress` accepts every call and draws nothing.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["make_progress"]


def make_progress(
    *columns: ProgressColumn | str,
    description: str = "{task.description}",
    elapsed: bool = True,
    remaining: bool = True,
    transient: bool = False,
    enabled: bool | None = None,
    console: Console | None = None,
) -> Progress:
    """A configured :class:`rich.progress.Progress` (use it as a context manager).

    Args:
        columns: columns between done/total and the times; a string is a :class:`TextColumn` format
            (e.g. ``"loss {task.fields[loss]}"``).
        description: the first column's format (``"[bold]train"`` for a fixed label).
        elapsed, remaining: show the elapsed and the estimated remaining time.
        transient: remove the bars when the progress stops.
        enabled: ``True`` always draw, ``False`` never (quiet), ``None`` only when the console is a terminal.
        console: where to draw; default a stderr console.
    """
    console = console or Console(stderr=True)
    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        *(TextColumn(c) if isinstance(c, str) else c for c in columns),
        *([TimeElapsedColumn()] if elapsed else []),
        *([TimeRemainingColumn()] if remaining else []),
        console=console,
        transient=transient,
        disable=not (console.is_terminal if enabled is None else enabled),
    )
