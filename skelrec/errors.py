"""Errors users can act on. The CLI prints them as one line and exits non-zero, without a traceback."""

from __future__ import annotations

from pathlib import Path


class SkelrecError(Exception):
    """An error caused by input, configuration or environment, whose message names the problem and the fix."""


class DataFormatError(SkelrecError):
    """A dataset file that does not have the expected format.

    The message reads ``<file>:<line>: <what was wrong>; expected <what>`` (line omitted when not meaningful).
    """

    def __init__(self, path: str | Path, problem: str, *, expected: str | None = None, line: int | None = None):
        self.path, self.problem, self.expected, self.line = str(path), problem, expected, line
        where = f"{path}:{line}" if line is not None else str(path)
        msg = f"{where}: {problem}"
        if expected:
            msg += f"; expected {expected}"
        super().__init__(msg)
