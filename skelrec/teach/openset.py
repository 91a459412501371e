"""Open set: the similarity below which a clip is "unknown", calibrated on the examples.

Rule: the held-out similarity ``s_i`` of every example to its own action (cross-validation without that example:
:meth:`~skelrec.teach.validation.HeldOutScores.own_similarities`, examples of actions with at least two clips)
estimates how similar a new clip of a taught action will be to it. The threshold is

    threshold = mean(s) - sigmas * max(std(s), MIN_SPREAD)

with ``sigmas = 1`` by default and ``MIN_SPREAD = 0.05`` (cosine units), so that two near-identical examples do
not make the model reject every clip that differs slightly from them. The default was chosen on
``benchmarks/fewshot.py`` (5-way 5-shot episodes, prototype head, the ``open_set_5shot`` rows of
``benchmarks/results/fewshot.json``, run ``--episodes 100``): with raw joint coordinates on UTD-MHAD (the
best-separated embedding there, AUROC 0.85) ``sigmas = 2`` keeps 96 % of the taught actions' clips but rejects only
43 % of other actions' clips, ``sigmas = 1`` keeps 86 % and rejects 62 %, ``sigmas = 0`` keeps 63 % and rejects
86 %. How much an open set can reject is bounded by how well the embedding separates actions: with the small
CPU-pretrained encoders (AUROC 0.53-0.66) few unknown clips are rejected at any setting that keeps most known
ones. ``std`` is the population standard deviation (``ddof=0``).

A clip whose similarity to the nearest action (prototype head) or example (kNN head) is below the threshold is
labelled :data:`~skelrec.teach.examples.UNKNOWN_LABEL` (:func:`skelrec.models.fewshot.with_unknown`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from skelrec.errors import SkelrecError
from skelrec.teach.validation import HeldOutScores

__all__ = ["DEFAULT_SIGMAS", "MIN_SPREAD", "OpenSetThreshold", "calibrate_threshold"]

DEFAULT_SIGMAS = 1.0
MIN_SPREAD = 0.05


@dataclass(frozen=True)
class OpenSetThreshold:
    """The calibrated threshold and the statistics it came from."""

    threshold: float
    mean: float
    std: float
    sigmas: float
    clips: int

    def rule(self) -> str:
        return (
            f"threshold = mean - {self.sigmas:g} * max(std, {MIN_SPREAD:g}) of the held-out similarities of "
            f"{self.clips} example clips to their own action (mean {self.mean:.4f}, std {self.std:.4f})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": round(self.threshold, 6), "mean": round(self.mean, 6), "std": round(self.std, 6),
                "sigmas": self.sigmas, "min_spread": MIN_SPREAD, "clips": self.clips, "rule": self.rule()}  # fmt: skip


def calibrate_threshold(held_out: HeldOutScores | None, *, sigmas: float = DEFAULT_SIGMAS) -> OpenSetThreshold:
    """The threshold of the module docstring.

    Raises:
        SkelrecError: no action has two clips (nothing to calibrate on).
    """
    if sigmas < 0:
        raise SkelrecError(f"open-set sigmas must be >= 0, got {sigmas}")
    own = held_out.own_similarities() if held_out is not None else np.zeros(0)
    if own.size == 0:
        raise SkelrecError(
            "open set: the 'unknown' threshold is calibrated on actions with at least two clips, and every action "
            "has one; add a second clip of an action, or teach a closed set (--closed-set) of two or more actions"
        )
    mean, std = float(own.mean()), float(own.std())
    return OpenSetThreshold(mean - sigmas * max(std, MIN_SPREAD), mean, std, sigmas, int(own.size))
