"""Quiet the informational lines MediaPipe's native code prints on stderr when a graph starts.

MediaPipe 0.10.21 logs through absl (C++), straight to file descriptor 2, lines such as::

    INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    W0000 00:00:1796668359.270471    6911 inference_feedback_manager.cc:114] Feedback manager requires ...

once per video (each video starts a new graph), from the graph's own threads, until it has computed landmarks once.
No environment variable reaches them (``GLOG_minloglevel`` and
``TF_CPP_MIN_LOG_LEVEL`` change nothing: absl's own logging is compiled in and its threshold is not exposed to
Python). :func:`quiet_native_stderr` therefore points descriptor 2 at a temporary file for a block of code and then
writes on whatever is not such a line: errors (``E``/``F`` lines) and anything else, Python's own output included,
still reach stderr, in order, right after the block. Dropped lines are logged at DEBUG level.

Python writes to descriptor 2 as well, so its output inside the block would wait for the block's end: a program
that shows progress on stderr calls :func:`separate_python_stderr` once at start (``skelrec`` does), which moves
``sys.stderr`` to a descriptor of its own and leaves descriptor 2 to native code.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress

__all__ = ["is_native_noise", "quiet_native_stderr", "separate_python_stderr"]

log = logging.getLogger(__name__)

_NOISE = re.compile(
    rb"[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\]]+\] "  # absl/glog INFO and WARNING lines
    rb"|INFO: Created TensorFlow Lite "  # TFLite's delegate notice
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
)


def is_native_noise(line: bytes) -> bool:
    """Whether ``line`` is one of the informational native log lines that :func:`quiet_native_stderr` drops."""
    return _NOISE.match(line) is not None


def separate_python_stderr() -> None:
    """Point ``sys.stderr`` at a duplicate of descriptor 2, so capturing 2 for native code leaves Python's output
    (progress bars, log lines, errors) on the terminal. Call it before logging handlers are created."""
    if sys.stderr is None or sys.stderr is not sys.__stderr__:
        return  # already separated, or replaced by a test runner's capture
    try:
        fd = os.dup(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        return
    old = sys.stderr
    sys.stderr = open(fd, "w", buffering=1, encoding=old.encoding, errors=old.errors)  # noqa: SIM115


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Run the block with file descriptor 2 captured, then pass on every line except native INFO/WARNING noise.

    Does nothing when stderr has no file descriptor (e.g. a test runner's capture object).
    """
    try:
        sys.stderr.flush()
        fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
    except (AttributeError, OSError, ValueError):
        yield
        return
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), fd)
        try:
            yield
        finally:
            with suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            capture.seek(0)
            _pass_on(capture.read(), fd)


def _pass_on(data: bytes, fd: int) -> None:
    kept = []
    for line in data.splitlines(keepends=True):
        if is_native_noise(line):
            log.debug("mediapipe: %s", line.decode(errors="replace").rstrip())
        else:
            kept.append(line)
    view = memoryview(b"".join(kept))
    while view:
        view = view[os.write(fd, view) :]
