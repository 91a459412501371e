"""The pose estimator interface and the registry of backends.

A backend implements two things: :meth:`PoseEstimator.detector`, a per-video context that turns one frame into a
list of :class:`~skelrec.pose.tracking.Detection` (persons in no particular order), and
:meth:`PoseEstimator.settings`, everything that changes its output (for caching). :meth:`PoseEstimator.estimate`
is shared: it runs the detector over a stream of frames, keeps person identities stable with
:class:`~skelrec.pose.tracking.PersonTracker` and assembles a :class:`~skelrec.pose.sequence.PoseSequence`.
Backends register themselves with :func:`register_pose_backend` and are built by name with :func:`create_estimator`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any, ClassVar, TypeVar

import numpy as np

from skelrec.pose.sequence import PoseSequence
from skelrec.pose.tracking import Detection, PersonTracker
from skelrec.registry import Registry
from skelrec.skeleton import get_layout
from skelrec.video import Frame, VideoInfo, VideoReader

__all__ = ["POSE_BACKENDS", "FrameDetector", "PoseEstimator", "create_estimator", "register_pose_backend"]

FrameDetector = Callable[[Frame], list[Detection]]


class PoseEstimator(ABC):
    """Finds up to :attr:`max_persons` people per frame and returns their landmarks in :attr:`layout`.

    Subclasses set :attr:`name` (the registry key) and implement :meth:`detector`, :meth:`settings` and
    :attr:`max_persons`.
    """

    name: ClassVar[str]
    layout: ClassVar[str] = "mediapipe33"

    @property
    @abstractmethod
    def max_persons(self) -> int:
        """Number of person tracks ``M`` of the sequences this estimator returns."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """JSON-ready description of everything that changes the output (backend, model, thresholds, version)."""

    @abstractmethod
    def detector(self) -> AbstractContextManager[FrameDetector]:
        """A context holding a fresh per-video detector (tracking state starts empty) and releasing it on exit."""

    def estimate(
        self, frames: Iterable[Frame], *, info: VideoInfo | None = None, mirrored: bool = False
    ) -> PoseSequence:
        """Run over ``frames`` (in time order) and return the landmarks of ``M`` tracked persons.

        Args:
            frames: decoded frames, e.g. a :class:`~skelrec.video.VideoReader` (its metadata is then used).
            info: video metadata (fps, display size, path) when ``frames`` is not a reader.
            mirrored: the video is mirrored (see :class:`~skelrec.pose.sequence.PoseSequence`).

        Returns:
            A sequence with one entry per frame; frames without a person have ``present`` False.
        """
        if info is None and isinstance(frames, VideoReader):
            info = frames.info
        tracks = _Tracks(self.max_persons, get_layout(self.layout).num_joints)
        with self.detector() as detect:
            for frame in frames:
                tracks.add(frame, detect(frame))
        settings = {**self.settings(), **(_reader_settings(frames) if isinstance(frames, VideoReader) else {})}
        return PoseSequence(
            **tracks.arrays(),
            fps=info.fps if info else _fps_from_times(tracks.times),
            width=info.width if info else tracks.size[0],
            height=info.height if info else tracks.size[1],
            mirrored=mirrored,
            layout=self.layout,
            source=str(info.path) if info else "",
            settings=settings,
        )


class _Tracks:
    """Per-frame detections, assigned to ``m`` track slots, accumulated into ``(M, T, ...)`` arrays."""

    def __init__(self, m: int, v: int) -> None:
        self.m, self.v, self.tracker = m, v, PersonTracker(m)
        self.image: list[np.ndarray] = []  # per frame (M, V, 3)
        self.world: list[np.ndarray] = []  # per frame (M, V, 3)
        self.visibility: list[np.ndarray] = []  # per frame (M, V)
        self.present: list[np.ndarray] = []  # per frame (M,)
        self.times: list[float] = []
        self.index: list[int] = []
        self.size = (0, 0)

    def add(self, frame: Frame, detections: list[Detection]) -> None:
        image, world = np.zeros((2, self.m, self.v, 3), np.float32)
        visibility, present = np.zeros((self.m, self.v), np.float32), np.zeros(self.m, bool)
        for d, s in zip(detections, self.tracker.update([d.box for d in detections]), strict=True):
            if s >= 0:
                image[s], world[s], visibility[s], present[s] = d.image, d.world, d.visibility, True
        for rows, value in ((self.image, image), (self.world, world), (self.visibility, visibility)):
            rows.append(value)
        self.present.append(present)
        self.times.append(frame.time_s)
        self.index.append(frame.index)
        self.size = (frame.rgb.shape[1], frame.rgb.shape[0])

    def arrays(self) -> dict[str, np.ndarray]:
        """The PoseSequence arrays, tracks ordered by how often they were seen (the main person first)."""
        m, v = self.m, self.v
        present = np.asarray(self.present, bool).reshape(-1, m).T  # (M, T)
        order = np.argsort(-present.sum(axis=1), kind="stable")

        def stack(rows: list[np.ndarray], tail: tuple[int, ...]) -> np.ndarray:
            return np.asarray(rows, np.float32).reshape(-1, m, *tail).swapaxes(0, 1)[order]

        return {
            "image": stack(self.image, (v, 3)),
            "world": stack(self.world, (v, 3)),
            "visibility": stack(self.visibility, (v,)),
            "present": present[order],
            "times": np.asarray(self.times, np.float64),
            "frame_index": np.asarray(self.index, np.int64),
        }


def _reader_settings(reader: VideoReader) -> dict[str, Any]:
    return {"stride": reader.stride, "max_side": reader.max_side, "max_frames": reader.max_frames}


def _fps_from_times(times: list[float]) -> float:
    steps = np.diff(times)
    steps = steps[steps > 0]
    return float(1.0 / np.median(steps)) if steps.size else 0.0


POSE_BACKENDS: Registry[type[PoseEstimator]] = Registry("pose backend")

E = TypeVar("E", bound=type[PoseEstimator])


def register_pose_backend(cls: E) -> E:
    """Class decorator: make a backend available to :func:`create_estimator` under ``cls.name``."""
    return POSE_BACKENDS.add(cls.name, cls)


def create_estimator(name: str = "mediapipe", **options: Any) -> PoseEstimator:
    """Build the pose backend registered as ``name`` with its keyword ``options``."""
    return POSE_BACKENDS[name](**options)
