"""Open set: the similarity below which a clip is "unknown", calibrated so that other people are accepted.

Rule: ``s_i`` is the held-out similarity of every example to its own action (cross-validation without that
example: :meth:`~skelrec.teach.validation.HeldOutScores.own_similarities`, examples of actions with at least two
clips). The threshold is

    threshold = ratio * max(min(s), 0)

with ``ratio = DEFAULT_RATIO = 0.5``: a clip is a taught action when it is at least half as similar to it as the
least typical of the examples was to the others of its action. Similarities are cosines of centred features
(:class:`~skelrec.teach.methods.Prototype`), so 0 is "unrelated"; a negative ``min(s)`` (an example unlike its own
action) gives threshold 0.

Why not the examples' own spread: the examples usually come from ONE person, and a held-out example of that person
is far more similar to the rest than the same action by someone else. The former rule ``mean(s) - 1 * std(s)``
accepted only 24 % of the known-action clips of other people on UTD-MHAD (3 actions taught from 3 clips of one
subject, the default model); the user-reported symptom was every clip of other people labelled ``unknown``.

How ``ratio`` was chosen: ``benchmarks/fewshot.py --cross-person`` (``benchmarks/results/fewshot_cross_person.json``)
teaches 2, 3 or 5 actions from 3 clips of ONE subject with ``skelrec teach``'s defaults and queries the other
subjects. It was tuned on NW-UCLA's odd subjects (1, 3, 5, 7, 9: actions and people the default model never saw)
as the largest ratio that accepts >= 95 % of the known-action queries of other people at every episode size
(0.5: 96.9-99.5 %; 0.7 fell to 94.8 % at 2 actions), and is reported on the held-out even subjects of NW-UCLA and
UTD-MHAD (see that file). Over ``r * mean(s)`` (a threshold relative to the typical example) and
``mean - sigmas * std`` at any ``sigmas``, ``r * min(s)`` kept the most known clips for the unknown clips it
rejected on both datasets. How many clips of untaught actions it can reject is bounded by how well the base
model's features separate actions (the benchmark's AUROC).

A clip whose similarity to the nearest action (prototype head) or example (kNN head) is below the threshold is
labelled :data:`~skelrec.teach.examples.UNKNOWN_LABEL` (:func:`skelrec.models.fewshot.with_unknown`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from skelrec.errors import SkelrecError
from skelrec.teach.validation import HeldOutScores

__all__ = ["DEFAULT_RATIO", "OpenSetThreshold", "calibrate_threshold", "threshold_of"]

DEFAULT_RATIO = 0.5


def threshold_of(own: np.ndarray, ratio: float = DEFAULT_RATIO) -> float:
    """``ratio * max(min(own), 0)`` for held-out own-action similarities ``own`` ``(n,)`` (module docstring)."""
    return ratio * max(float(own.min()), 0.0)


@dataclass(frozen=True)
class OpenSetThreshold:
    """The calibrated threshold and the statistics it came from."""

    threshold: float
    ratio: float
    lowest: float
    mean: float
    clips: int

    def rule(self) -> str:
        return (
            f"threshold = {self.ratio:g} x the lowest held-out similarity of an example clip to its own action "
            f"({self.lowest:.4f} over {self.clips} clips, mean {self.mean:.4f}); chosen so that clips of taught "
            "actions performed by other people are accepted (benchmarks/fewshot.py --cross-person)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": round(self.threshold, 6),
            "ratio": self.ratio,
            "lowest": round(self.lowest, 6),
            "mean": round(self.mean, 6),
            "clips": self.clips,
            "rule": self.rule(),
        }


def calibrate_threshold(held_out: HeldOutScores | None, *, ratio: float = DEFAULT_RATIO) -> OpenSetThreshold:
    """The threshold of the module docstring.

    Raises:
        SkelrecError: ``ratio`` outside ``[0, 1]``, or no action has two clips (nothing to calibrate on).
    """
    if not 0 <= ratio <= 1:
        raise SkelrecError(f"open-set ratio must be in [0, 1] (a fraction of the examples' similarity), got {ratio}")
    own = held_out.own_similarities() if held_out is not None else np.zeros(0)
    if own.size == 0:
        raise SkelrecError(
            "open set: the 'unknown' threshold is calibrated on actions with at least two clips, and every action "
            "has one; add a second clip of an action, or teach a closed set (--closed-set) of two or more actions"
        )
    return OpenSetThreshold(threshold_of(own, ratio), ratio, float(own.min()), float(own.mean()), int(own.size))
