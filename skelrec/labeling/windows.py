"""Sliding windows over a pose sequence, in seconds of the video's own clock.

A window covers the processed frames whose presentation time lies in ``[start, end)``. Windows start at the first
frame and every ``stride`` seconds after it while they fit; when the last one stops short of the end of the video a
final window is aligned to the end, and a video shorter than one window gets a single window over all of it.
Because windows are placed by time stamps, variable frame rates and frame strides change how many frames a window
holds, not how long it lasts. Each window also owns a *slot*, the stretch of the timeline it labels: from half-way
to the previous window's centre to half-way to the next one's, so consecutive slots tile ``[first frame, end)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from skelrec.errors import SkelrecError

__all__ = ["Window", "frame_period", "plan_windows", "visible_fraction"]


@dataclass(frozen=True)
class Window:
    """One window of the sequence.

    Attributes:
        start: time of the window's start in seconds.
        end: time of its end (exclusive) in seconds.
        first: index of its first frame in the pose sequence.
        stop: one past the index of its last frame (``first == stop``: no frame falls in the window).
        slot_start: start of the part of the timeline this window labels.
        slot_end: end of that part.
    """

    start: float
    end: float
    first: int
    stop: int
    slot_start: float
    slot_end: float

    @property
    def frames(self) -> slice:
        return slice(self.first, self.stop)

    @property
    def center(self) -> float:
        return (self.start + self.end) / 2


def frame_period(times: np.ndarray, fps: float) -> float:
    """Typical time between processed frames: the median step of ``times``, else ``1 / fps``."""
    steps = np.diff(times)
    steps = steps[steps > 0]
    if steps.size:
        return float(np.median(steps))
    return 1.0 / fps if fps > 0 else 1.0 / 30.0


def plan_windows(times: np.ndarray, *, length: float, stride: float, end: float | None = None) -> list[Window]:
    """Windows of ``length`` seconds every ``stride`` seconds over frames at ``times`` (see the module docstring).

    Args:
        times: ``(T,)`` increasing frame times in seconds.
        length: window length in seconds.
        stride: seconds between window starts.
        end: end of the labelled time line (default: the last time plus one frame period).
    """
    if length <= 0 or stride <= 0:
        raise SkelrecError(f"window length and stride must be > 0 seconds, got {length} and {stride}")
    times = np.asarray(times, np.float64)
    if times.size == 0:
        return []
    t0 = float(times[0])
    end = float(times[-1] + frame_period(times, 30.0)) if end is None else float(end)
    starts = list(_starts(t0, end, length, stride))
    centres = np.array([min(s + length, end) + s for s in starts]) / 2
    bounds = np.concatenate([[t0], (centres[1:] + centres[:-1]) / 2, [end]])
    windows = []
    for i, s in enumerate(starts):
        e = min(s + length, end)
        first, stop = np.searchsorted(times, [s, e], side="left")
        windows.append(Window(s, e, int(first), int(stop), float(bounds[i]), float(bounds[i + 1])))
    return windows


def _starts(t0: float, end: float, length: float, stride: float) -> Iterator[float]:
    if end - t0 <= length:
        yield t0
        return
    k, eps = 0, 1e-9
    while t0 + k * stride + length <= end + eps:
        yield t0 + k * stride
        k += 1
    last = t0 + (k - 1) * stride
    if last + length < end - eps:
        yield end - length


def visible_fraction(present: np.ndarray, window: Window) -> float:
    """Fraction of the window's frames in which at least one person was found (0 for a window without frames)."""
    frames = present[:, window.frames]
    return float(frames.any(axis=0).mean()) if frames.shape[1] else 0.0
