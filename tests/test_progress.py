"""skelrec.progress: the one progress-bar factory."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.progress import MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from skelrec.progress import make_progress


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=100), out


def test_columns_in_order_with_caller_columns_between_count_and_times():
    console, _ = _console(True)
    bar = make_progress("loss {task.fields[loss]}", description="[bold]train", console=console)
    kinds = [type(c) for c in bar.columns]
    assert kinds[2] is MofNCompleteColumn and kinds[-2:] == [TimeElapsedColumn, TimeRemainingColumn]
    assert isinstance(bar.columns[3], TextColumn) and bar.columns[3].text_format == "loss {task.fields[loss]}"
    assert len(make_progress(elapsed=False, remaining=False, console=console).columns) == 3


@pytest.mark.parametrize(
    ("terminal", "enabled", "drawn"),
    [(True, None, True), (False, None, False), (True, False, False), (False, True, True)],
)
def test_draws_on_a_terminal_and_is_silent_when_quiet_or_not_a_terminal(terminal, enabled, drawn):
    console, out = _console(terminal)
    with make_progress(enabled=enabled, console=console) as bar:
        bar.add_task("videos", total=3, completed=2)
    assert ("videos" in out.getvalue()) is drawn
