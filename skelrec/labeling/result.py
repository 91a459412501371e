"""The result of labeling one video: :class:`LabelResult`, and its JSON form (the ``<stem>.json`` file)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skelrec import __version__
from skelrec.labeling.segments import Decision, Segment
from skelrec.labeling.windows import Window
from skelrec.pose.sequence import PoseSequence

__all__ = ["NO_PERSON_FOUND", "TOO_SHORT_STATUS", "LabelResult", "PoseStats"]

NO_PERSON_FOUND = "no person found"
TOO_SHORT_STATUS = "too_short"
"""Status of a video shorter than the model needs (see :attr:`skelrec.labeling.Labeler.min_seconds`)."""


@dataclass(frozen=True)
class PoseStats:
    """How well the pose estimator saw people in the video.

    Attributes:
        backend: pose estimator settings (backend name, version, thresholds, frame stride ...).
        frames_processed: frames run through the estimator (every ``stride``-th frame).
        frames_with_person: processed frames in which at least one person was found.
        persons: person tracks in the sequence.
        first_seen: time (s) of the first frame with a person, ``None`` when there is none.
        last_seen: time (s) of the last frame with a person.
    """

    backend: dict[str, Any]
    frames_processed: int
    frames_with_person: int
    persons: int
    first_seen: float | None
    last_seen: float | None

    @property
    def detection_rate(self) -> float:
        return self.frames_with_person / self.frames_processed if self.frames_processed else 0.0

    @classmethod
    def of(cls, poses: PoseSequence) -> PoseStats:
        return cls.of_skeleton(poses.present, poses.times, dict(poses.settings))

    @classmethod
    def of_skeleton(cls, present: np.ndarray, times: np.ndarray, backend: dict[str, Any]) -> PoseStats:
        """Statistics of ``present`` ``(M, T)`` at frame ``times`` ``(T,)``; ``backend`` says where poses came from."""
        seen = present.any(axis=0)
        when = times[seen]
        return cls(
            backend=backend,
            frames_processed=int(present.shape[1]),
            frames_with_person=int(seen.sum()),
            persons=int(present.shape[0]),
            first_seen=float(when[0]) if when.size else None,
            last_seen=float(when[-1]) if when.size else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames_processed": self.frames_processed,
            "frames_with_person": self.frames_with_person,
            "detection_rate": round(self.detection_rate, 4),
            "persons": self.persons,
            "first_seen": _round(self.first_seen),
            "last_seen": _round(self.last_seen),
            "estimator": self.backend,
        }


@dataclass
class LabelResult:
    """Labels of one video over time.

    Attributes:
        video: the video file (or the pose file's source video).
        fps: the video's frame rate.
        frames: number of frames of the video.
        duration: length of the video in seconds.
        labels: the model's class names (columns of ``probabilities``).
        model: where the model came from and what it takes (source, commit, layout, clip length and seconds).
        settings: the labeling settings (window, stride, smoothing, thresholds, frame stride, mirrored, device).
        windows: the ``W`` windows.
        probabilities: ``(W, K)`` class probabilities of every window (zeros where no person was in view).
        smoothed: ``(W, K)`` the same after temporal smoothing.
        visible: ``(W,)`` fraction of each window's frames with a person.
        decisions: the state, label and score of every window.
        segments: the merged segments.
        pose: pose statistics.
        poses: the pose sequence the labels were computed from (for drawing; not written to JSON).
        top_k: classes listed per window in :meth:`to_dict`.
        notice: a one-line explanation of a status other than ``ok`` that the labeler decided (``too_short``).
    """

    video: str
    fps: float
    frames: int
    duration: float
    labels: list[str]
    model: dict[str, Any]
    settings: dict[str, Any]
    windows: list[Window]
    probabilities: np.ndarray
    smoothed: np.ndarray
    visible: np.ndarray
    decisions: list[Decision]
    segments: list[Segment]
    pose: PoseStats
    poses: PoseSequence | None = field(default=None, repr=False)
    top_k: int = 5
    notice: str | None = None

    @property
    def status(self) -> str:
        """``"ok"``; :data:`NO_PERSON_FOUND` when the pose estimator found nobody in any frame; else
        :data:`TOO_SHORT_STATUS` when the video is shorter than the model needs (no window is labelled)."""
        if not self.pose.frames_with_person:
            return NO_PERSON_FOUND
        return TOO_SHORT_STATUS if any(d.state == "too_short" for d in self.decisions) else "ok"

    def top(self, probs: np.ndarray, k: int | None = None) -> list[dict[str, Any]]:
        """The ``k`` most likely classes of a probability vector ``(K,)`` as ``[{label, score}]``."""
        k = self.top_k if k is None else k
        order = np.argsort(-probs, kind="stable")[:k]
        return [{"label": self.labels[i], "score": round(float(probs[i]), 4)} for i in order]

    def summary(self, k: int | None = None) -> list[dict[str, Any]]:
        """Top-``k`` classes of the whole video: mean probabilities over the windows with a person in view."""
        seen = np.array([d.state not in ("no_person", "too_short") for d in self.decisions], bool)
        if not seen.any():
            return []
        return self.top(self.probabilities[seen].mean(axis=0), k)

    def label_at(self, time_s: float) -> Segment | None:
        """The segment covering ``time_s`` (``None`` outside the labelled time line)."""
        for seg in self.segments:
            if seg.start <= time_s < seg.end:
                return seg
        return None

    def window_dicts(self) -> list[dict[str, Any]]:
        rows = []
        for w, d, probs, seen in zip(self.windows, self.decisions, self.probabilities, self.visible, strict=True):
            rows.append(
                {
                    "start": round(w.start, 3),
                    "end": round(w.end, 3),
                    "visible": round(float(seen), 3),
                    "state": d.state,
                    "label": d.label,
                    "score": _round(d.score, 4),
                    "top": [] if d.state in ("no_person", "too_short") else self.top(probs),
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        """The JSON document written to ``<stem>.json``."""
        return {
            "video": self.video,
            "status": self.status,
            **({"notice": self.notice} if self.notice else {}),
            "fps": round(self.fps, 4),
            "frames": self.frames,
            "duration": round(self.duration, 3),
            "model": self.model,
            "settings": self.settings,
            "pose": self.pose.to_dict(),
            "summary": self.summary(),
            "segments": [s.to_dict() for s in self.segments],
            "windows": self.window_dicts(),
            "skelrec_version": __version__,
        }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)
