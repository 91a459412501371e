"""From smoothed window probabilities to a decision per window, and from decisions to time segments.

Every window gets one of three states:

* ``action``: a person is in view and the top smoothed probability reaches ``min_confidence``; label = that class;
* ``uncertain``: a person is in view but no class is confident enough, or the top class is the model's own
  background class (:data:`~skelrec.datasets.base.BACKGROUND_CLASS`, "no action": a model trained on the frames
  between actions); label :data:`NO_ACTION`;
* ``no_person``: a person is visible in fewer than ``min_visible`` of the window's frames; label :data:`NO_PERSON`;
* ``too_short``: the whole video is shorter than the model needs (set by the labeler, not by :func:`decide`);
  label :data:`TOO_SHORT`, never an action.

Consecutive windows with the same state and label merge into one segment spanning their slots
(:class:`~skelrec.labeling.windows.Window`); its score is the mean top probability of the merged windows
(``None`` for ``no_person``, where the model was not asked).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from skelrec.datasets.base import BACKGROUND_CLASS
from skelrec.labeling.windows import Window

__all__ = ["NO_ACTION", "NO_PERSON", "TOO_SHORT", "Decision", "Segment", "decide", "merge_segments"]

NO_PERSON = "no person"
NO_ACTION = BACKGROUND_CLASS
TOO_SHORT = "too short"
State = Literal["action", "uncertain", "no_person", "too_short"]


@dataclass(frozen=True)
class Decision:
    """What one window says: ``state``, ``label`` and the smoothed probability ``score`` of its top class."""

    state: State
    label: str
    score: float | None


@dataclass(frozen=True)
class Segment:
    """A stretch of time with one label, in seconds."""

    start: float
    end: float
    label: str
    score: float | None
    state: State = "action"

    def to_dict(self) -> dict[str, Any]:
        score = None if self.score is None else round(self.score, 4)
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "label": self.label,
            "score": score,
            "state": self.state,
        }


def decide(
    smoothed: np.ndarray, visible: np.ndarray, labels: Sequence[str], *, min_confidence: float, min_visible: float
) -> list[Decision]:
    """Decisions of ``W`` windows from smoothed probabilities ``(W, K)`` and visible fractions ``(W,)``."""
    decisions = []
    for probs, seen in zip(smoothed, visible, strict=True):
        if seen < min_visible or probs.size == 0:
            decisions.append(Decision("no_person", NO_PERSON, None))
            continue
        k = int(np.argmax(probs))
        score = float(probs[k])
        if score < min_confidence or labels[k] == NO_ACTION:
            decisions.append(Decision("uncertain", NO_ACTION, score))
        else:
            decisions.append(Decision("action", labels[k], score))
    return decisions


def merge_segments(windows: Sequence[Window], decisions: Sequence[Decision]) -> list[Segment]:
    """Merge the slots of consecutive windows with equal state and label into segments."""
    segments: list[Segment] = []
    run: list[int] = []

    def close() -> None:
        first, last = windows[run[0]], windows[run[-1]]
        d = decisions[run[0]]
        scores = [decisions[i].score for i in run]
        score = None if d.score is None else float(np.mean(scores))
        segments.append(Segment(first.slot_start, last.slot_end, d.label, score, d.state))

    for i, d in enumerate(decisions):
        if run and (d.state, d.label) != (decisions[run[-1]].state, decisions[run[-1]].label):
            close()
            run = []
        run.append(i)
    if run:
        close()
    return segments
