"""Open set: the similarity below which a clip is "unknown", calibrated so that other people are accepted.

Rule: ``s_i`` is the held-out similarity of every example to its own action (cross-validation without that
example: :meth:`~skelrec.teach.validation.HeldOutScores.own_similarities`, examples of actions with at least two
clips). The threshold is

    threshold = ratio * max(min(s), 0)

with ``ratio = DEFAULT_RATIO = 0.4``: a clip is a taught action when it is at least 40 % as similar to it as the
least typical of the examples was to the others of its action. Similarities are cosines of centred features
(:class:`~skelrec.teach.methods.Prototype`), so 0 is "unrelated"; a negative ``min(s)`` (an example unlike its own
action) gives threshold 0.

Why not the examples' own spread: the examples usually come from ONE person, and a held-out example of that person
is far more similar to the rest than the same action by someone else. The former rule
``mean(s) - 1 * max(std(s), 0.05)`` accepted only 21-53 % of the known-action clips of other people on UTD-MHAD
(``former_rule`` in the results below) -- the user-reported symptom of every clip of other people labelled
``unknown`` -- and no ``sigmas`` up to 4 reached 95 % there (65 % at 3 actions, a preliminary run).

How ``ratio`` was chosen: ``benchmarks/fewshot.py --cross-person --cross-person-episodes 20``
(``benchmarks/results/fewshot_cross_person.json``) teaches 1, 2, 3 or 5 actions from 3 clips of ONE subject with
``skelrec teach``'s defaults and queries every clip of the other subjects. Tuned on UTD-MHAD's cross-subject test
subjects (2, 4, 6, 8: people the default model never saw), its even-numbered actions only: the largest ratio of
0.3-0.8 that accepts >= 95 % of the known-action queries at every number of actions (0.4: 96.2-100 %; 0.5 fell
to 93.2 % at 2 actions). Held out: UTD-MHAD's odd-numbered actions (0.4: 98.9-100 % accepted, 46-92 % of the
untaught actions' clips rejected) and NW-UCLA's actions and people (99.0-99.9 % accepted at 1, 3 and 5 actions, 93.6
% at 2; only 1-11 % of untaught clips rejected: the default model's features barely separate NW-UCLA's actions,
AUROC 0.62-0.86). How many clips of untaught actions any threshold can reject is bounded by that AUROC. A
threshold relative to the typical example (``r * mean(s)``) traded the two about as well in a preliminary run;
the least typical example was kept as the reference because it already measures how much one action varies.

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

DEFAULT_RATIO = 0.4


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
