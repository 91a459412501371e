"""Keep person identities stable across frames: per-frame detections -> ``M`` fixed track slots.

A multi-person estimator returns its detections in no particular order, so detection 0 in one frame may be a
different person than detection 0 in the next. :class:`PersonTracker` assigns each detection to one of
``max_tracks`` slots by greedy matching of person boxes against each slot's last box: first by overlap (IoU), then,
for what remains, by distance of the box centres (fast motion or a stride of several frames). Unmatched detections
take a free slot (largest person first); a slot whose person has been gone for ``max_age`` frames becomes free
again. It is deliberately simple: no motion model, no appearance features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Detection", "PersonTracker", "box_iou", "landmark_box"]

_VISIBLE = 0.5  # landmarks above this visibility define a person's box


@dataclass
class Detection:
    """One person found in one frame, in the estimator's own layout (``V`` landmarks).

    Attributes:
        image: ``(V, 3)`` normalized image coordinates: x, y in [0, 1] of the frame width/height, relative depth z.
        world: ``(V, 3)`` metric coordinates as the estimator gives them (MediaPipe: metres, hip-centred).
        visibility: ``(V,)`` per-landmark visibility/confidence in [0, 1].
    """

    image: np.ndarray
    world: np.ndarray
    visibility: np.ndarray

    @property
    def box(self) -> np.ndarray:
        """``(4,)`` box ``x0, y0, x1, y1`` (normalized) around the landmarks; see :func:`landmark_box`."""
        return landmark_box(self.image, self.visibility)


def landmark_box(image: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """``(V, 2+)`` landmarks and ``(V,)`` visibility -> ``(4,)`` box over the visible ones (all when none is)."""
    keep = visibility > _VISIBLE
    pts = image[keep, :2] if keep.sum() >= 2 else image[:, :2]
    return np.concatenate([pts.min(axis=0), pts.max(axis=0)]).astype(np.float32)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union of boxes ``a`` (N, 4) and ``b`` (K, 4) -> (N, K)."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=-1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=-1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def _centers(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, :2] + boxes[:, 2:]) / 2


class PersonTracker:
    """Greedy IoU-then-centroid matching of person boxes to ``max_tracks`` stable slots.

    Args:
        max_tracks: number of slots ``M``; detections beyond the free slots are dropped (smallest boxes first).
        min_iou: a detection continues a track when their boxes overlap at least this much ...
        max_center_distance: ... or, failing that, when the box centres are at most this far apart (in units of
            the frame size).
        max_age: frames a slot stays reserved for a person who is not seen; after that a new person may take it.
    """

    def __init__(
        self, max_tracks: int, *, min_iou: float = 0.1, max_center_distance: float = 0.15, max_age: int = 30
    ) -> None:
        if max_tracks < 1:
            raise ValueError(f"max_tracks must be >= 1, got {max_tracks}")
        self.max_tracks, self.min_iou, self.max_center_distance, self.max_age = (
            max_tracks,
            min_iou,
            max_center_distance,
            max_age,
        )
        self.boxes = np.zeros((max_tracks, 4), np.float32)  # last box of each slot
        self.last_seen = np.full(max_tracks, -1, dtype=np.int64)  # frame of the last match, -1 = never used
        self.frame = -1

    def update(self, boxes: Sequence[np.ndarray]) -> list[int]:
        """Match this frame's boxes (each ``(4,)``) to slots; returns the slot of every box (``-1``: dropped)."""
        self.frame += 1
        slots = [-1] * len(boxes)
        if not boxes:
            return slots
        det = np.stack(boxes).astype(np.float32)
        live = np.flatnonzero((self.last_seen >= 0) & (self.frame - self.last_seen <= self.max_age))
        if live.size:
            iou = box_iou(det, self.boxes[live])
            self._greedy(slots, live, np.where(iou >= self.min_iou, -iou, np.inf))
            dist = np.linalg.norm(_centers(det)[:, None] - _centers(self.boxes[live])[None], axis=-1)
            self._greedy(slots, live, np.where(dist <= self.max_center_distance, dist, np.inf))
        free = [s for s in range(self.max_tracks) if s not in live and s not in slots]
        area = np.prod(det[:, 2:] - det[:, :2], axis=-1)
        for d in np.argsort(-area):
            if slots[d] < 0 and free:
                slots[d] = free.pop(0)
        for d, s in enumerate(slots):
            if s >= 0:
                self.boxes[s], self.last_seen[s] = det[d], self.frame
        return slots

    def _greedy(self, slots: list[int], live: np.ndarray, cost: np.ndarray) -> None:
        """Assign (detection, live slot) pairs in increasing ``cost`` (N, L); ``inf`` never matches."""
        taken = set(slots)
        for d, j in zip(*np.unravel_index(np.argsort(cost, axis=None), cost.shape), strict=True):
            if not np.isfinite(cost[d, j]):
                break
            if slots[d] < 0 and int(live[j]) not in taken:
                slots[d] = int(live[j])
                taken.add(slots[d])
