"""Temporal action detection scores: mean average precision at temporal IoU thresholds, as PKU-MMD defines it.

Protocol (Liu et al., "PKU-MMD: A Large Scale Benchmark for Continuous Multi-Modal Human Action Understanding", 2017,
Sec. 5 "Evaluation protocols", and its evaluation script ``evaluate.py`` in github.com/ECHO960/PKU-MMD):

* a detection is ``(video, label, [start, end), score)``; its temporal IoU with a ground-truth instance of the same
  video is ``|intersection| / |union|`` of the two frame intervals (:func:`temporal_iou`);
* per class, the detections of all videos are ranked by score (highest first); a detection is a true positive when
  its IoU with a not-yet-matched ground-truth instance of the same class and video reaches the threshold ``theta``
  (the best-overlapping unmatched one is taken), else a false positive (:func:`match_detections`);
* AP is the area under the *interpolated* precision-recall curve: the precision at recall ``r`` is the highest
  precision at any recall ``>= r`` (:func:`average_precision`); mAP (the paper's ``mAP_a``) averages AP over the
  classes that have ground truth in the evaluated videos (:func:`detection_map`).

Deliberate differences from the authors' script, which is Python 2 and scores every phase-1 class:

* one-to-one matching: the script counts every detection that overlaps *some* instance of its class by ``theta``
  as correct, so duplicate detections of one instance are all true positives; here the second is a false positive
  (the rule of the paper's text, PASCAL VOC and ActivityNet);
* the script's precision step for a true positive uses the precision of the ranking *without* that detection,
  and averages over 52 label slots (slot 0 is never used); here each true positive contributes the interpolated
  precision at its own rank, and classes without ground truth are left out rather than counted as 0.

Inputs are plain frame numbers (``end`` exclusive), so the module is independent of the labeler and of file formats.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from skelrec.errors import SkelrecError

__all__ = [
    "IOU_EPSILON",
    "DetectionScores",
    "Instance",
    "average_precision",
    "detection_map",
    "match_detections",
    "temporal_iou",
]

IOU_EPSILON = 1e-9
"""An IoU within this of the threshold reaches it (``0.1 + 0.2`` is not ``0.3`` in floating point)."""


@dataclass(frozen=True)
class Instance:
    """One action interval of one video: ground truth (``score`` ``None``) or a detection.

    Attributes:
        video: the video (stream) it belongs to.
        label: its class name.
        start: first frame.
        end: one past the last frame (``end > start``).
        score: the detection's confidence (ranks the detections of a class); ``None`` for ground truth.
    """

    video: str
    label: str
    start: float
    end: float
    score: float | None = None

    def __post_init__(self) -> None:
        if not self.end > self.start:
            raise SkelrecError(
                f"{self.video}: interval [{self.start}, {self.end}) of {self.label!r} is empty; end must exceed start"
            )


def temporal_iou(a: Instance, b: Instance) -> float:
    """Intersection over union of the frame intervals ``[start, end)`` of ``a`` and ``b`` (0 when disjoint)."""
    inter = min(a.end, b.end) - max(a.start, b.start)
    if inter <= 0:
        return 0.0
    return inter / (max(a.end, b.end) - min(a.start, b.start))


def match_detections(detections: Sequence[Instance], truths: Sequence[Instance], theta: float) -> np.ndarray:
    """True/false positive of each detection of ONE class, in ranked order (score descending, ties in input order).

    Each detection, best first, takes the unmatched ground-truth instance of its video with the highest IoU; it is a
    true positive when that IoU reaches ``theta``, and the instance is then matched (a later detection of the same
    instance is a false positive).

    Returns:
        ``(D,)`` bool, the hits of the detections sorted by descending score.
    """
    by_video: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(truths):
        by_video[t.video].append(i)
    matched = np.zeros(len(truths), bool)
    hits = np.zeros(len(detections), bool)
    for rank, det in enumerate(_ranked(detections)):
        candidates = [i for i in by_video.get(det.video, []) if not matched[i]]
        if not candidates:
            continue
        ious = [temporal_iou(det, truths[i]) for i in candidates]
        best = int(np.argmax(ious))
        if ious[best] >= theta - IOU_EPSILON:
            matched[candidates[best]] = True
            hits[rank] = True
    return hits


def average_precision(hits: Sequence[bool] | np.ndarray, num_truths: int) -> float:
    """Interpolated AP of ranked detections: ``sum over true positives of max(precision at rank >= k) / num_truths``.

    Args:
        hits: ``(D,)`` true positive flags, best-scored detection first.
        num_truths: ground-truth instances of the class (> 0).
    """
    if num_truths <= 0:
        raise SkelrecError("average precision needs at least one ground-truth instance")
    hits = np.asarray(hits, bool)
    if not hits.any():
        return 0.0
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]  # highest precision at this recall or beyond
    return float(envelope[hits].sum() / num_truths)


@dataclass
class DetectionScores:
    """AP per class and threshold, and their means.

    Attributes:
        thresholds: the temporal IoU thresholds.
        per_class: class -> {``"instances"``: ground truth, ``"detections"``: count, ``"ap"``: {theta: AP}}.
        mean_ap: {theta: mAP over the classes of ``per_class``}.
    """

    thresholds: tuple[float, ...]
    per_class: dict[str, dict[str, Any]]
    mean_ap: dict[float, float]

    def to_dict(self, digits: int = 4) -> dict[str, Any]:
        """JSON-ready: thresholds become keys like ``"0.5"``."""
        return {
            "classes": len(self.per_class),
            "map": {f"{t:g}": round(v, digits) for t, v in self.mean_ap.items()},
            "per_class": {
                name: {**row, "ap": {f"{t:g}": round(v, digits) for t, v in row["ap"].items()}}
                for name, row in self.per_class.items()
            },
        }


def detection_map(
    detections: Iterable[Instance],
    truths: Iterable[Instance],
    thresholds: Sequence[float] = (0.1, 0.3, 0.5),
    *,
    classes: Iterable[str] | None = None,
) -> DetectionScores:
    """mAP of ``detections`` against ``truths`` at each temporal IoU threshold (module docstring).

    Args:
        detections: scored detections of any videos and classes.
        truths: ground-truth instances.
        thresholds: temporal IoU thresholds ``theta``.
        classes: average over these classes only (each must have ground truth); default: every class with ground
            truth. Detections of other classes are ignored.

    Raises:
        SkelrecError: no ground truth, a detection without a score, or a chosen class without ground truth.
    """
    truths = list(truths)
    detections = list(detections)
    if not truths:
        raise SkelrecError("no ground-truth instances to score detections against")
    if any(d.score is None for d in detections):
        raise SkelrecError("every detection needs a score to be ranked")
    gt: dict[str, list[Instance]] = defaultdict(list)
    for t in truths:
        gt[t.label].append(t)
    chosen = list(dict.fromkeys(classes)) if classes is not None else sorted(gt)
    missing = [c for c in chosen if c not in gt]
    if missing:
        raise SkelrecError(f"classes {missing} have no ground truth in the evaluated videos; leave them out")
    dets: dict[str, list[Instance]] = defaultdict(list)
    for d in detections:
        dets[d.label].append(d)
    per_class = {
        name: {
            "instances": len(gt[name]),
            "detections": len(dets[name]),
            "ap": {t: average_precision(match_detections(dets[name], gt[name], t), len(gt[name])) for t in thresholds},
        }
        for name in chosen
    }
    mean_ap = {t: float(np.mean([row["ap"][t] for row in per_class.values()])) for t in thresholds}
    return DetectionScores(tuple(thresholds), per_class, mean_ap)


def _ranked(detections: Sequence[Instance]) -> list[Instance]:
    return sorted(detections, key=lambda d: -float(d.score or 0.0))  # stable: ties keep their input order
