"""MediaPipe Pose backends (BlazePose, 33 landmarks, layout ``mediapipe33``).

* ``mediapipe`` (:class:`MediaPipePoseEstimator`): the legacy ``mediapipe.solutions.pose.Pose`` graph in video
  (tracking) mode. Its models ship inside the ``mediapipe==0.10.21`` wheel, so it runs offline. One person.
* ``mediapipe_tasks`` (:class:`MediaPipeTasksPoseEstimator`): the MediaPipe Tasks ``PoseLandmarker``, which finds
  several people per frame. Its model is not in the wheel: download a ``pose_landmarker_{lite,full,heavy}.task``
  file from https://ai.google.dev/edge/mediapipe/solutions/vision/pose_landmarker and pass its path. This backend
  has not been run with a real model in skelrec's tests (none is available offline); its detections go through the
  same tracker and sequence code as the legacy backend.

The mediapipe package is imported only when a detector is created (it takes about half a second).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from skelrec.errors import SkelrecError
from skelrec.pose.base import FrameDetector, PoseEstimator, register_pose_backend
from skelrec.pose.native_log import quiet_native_stderr
from skelrec.pose.tracking import Detection
from skelrec.video import Frame

__all__ = ["MediaPipePoseEstimator", "MediaPipeTasksPoseEstimator"]

_TASKS_MODEL_URL = "https://ai.google.dev/edge/mediapipe/solutions/vision/pose_landmarker"


def _mediapipe_version() -> str:
    from importlib.metadata import version

    return version("mediapipe")


def _check_confidence(**values: float) -> None:
    for name, v in values.items():
        if not 0.0 <= v <= 1.0:
            raise SkelrecError(f"pose option {name} must be between 0 and 1, got {v}")


def _detection(image: Sequence[Any], world: Sequence[Any]) -> Detection:
    """MediaPipe landmark lists (objects with x, y, z, visibility) -> :class:`Detection`."""
    return Detection(
        image=np.array([(p.x, p.y, p.z) for p in image], np.float32),
        world=np.array([(p.x, p.y, p.z) for p in world], np.float32),
        visibility=np.array([p.visibility or 0.0 for p in image], np.float32),
    )


@register_pose_backend
class MediaPipePoseEstimator(PoseEstimator):
    """Single-person MediaPipe Pose (legacy solutions API) in video mode: detect once, then track.

    Args:
        min_detection_confidence: person detector threshold.
        min_tracking_confidence: below this landmark-tracking confidence the detector runs again on the next frame.
        smooth_landmarks: MediaPipe's temporal filter over landmarks.
        model_complexity: 1 (full). 0 (lite) and 2 (heavy) need model downloads and do not work offline.
    """

    name: ClassVar[str] = "mediapipe"

    def __init__(
        self,
        *,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        smooth_landmarks: bool = True,
        model_complexity: int = 1,
    ) -> None:
        _check_confidence(
            min_detection_confidence=min_detection_confidence, min_tracking_confidence=min_tracking_confidence
        )
        if model_complexity != 1:
            raise SkelrecError(
                f"MediaPipe model_complexity={model_complexity} needs a model download that mediapipe 0.10.21 "
                "cannot do offline; use model_complexity=1"
            )
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self.smooth_landmarks = smooth_landmarks
        self.model_complexity = model_complexity

    @property
    def max_persons(self) -> int:
        return 1

    def settings(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "mediapipe": _mediapipe_version(),
            "model_complexity": self.model_complexity,
            "min_detection_confidence": self.min_detection_confidence,
            "min_tracking_confidence": self.min_tracking_confidence,
            "smooth_landmarks": self.smooth_landmarks,
        }

    @contextmanager
    def detector(self) -> Iterator[FrameDetector]:
        import mediapipe as mp  # here, not at the top: 0.65 s that importing skelrec.pose should not cost

        with ExitStack() as quiet:  # the graph logs start-up notices (from its threads) until landmarks come out once
            quiet.enter_context(quiet_native_stderr())
            pose = mp.solutions.pose.Pose(
                static_image_mode=False,
                model_complexity=self.model_complexity,
                smooth_landmarks=self.smooth_landmarks,
                enable_segmentation=False,
                min_detection_confidence=self.min_detection_confidence,
                min_tracking_confidence=self.min_tracking_confidence,
            )

            def detect(frame: Frame) -> list[Detection]:
                result = pose.process(frame.rgb)
                if result.pose_landmarks is None:
                    return []
                quiet.close()  # started: later lines are shown as they come
                return [_detection(result.pose_landmarks.landmark, result.pose_world_landmarks.landmark)]

            try:
                yield detect
            finally:
                pose.close()


@register_pose_backend
class MediaPipeTasksPoseEstimator(PoseEstimator):
    """Multi-person MediaPipe Tasks ``PoseLandmarker`` (video running mode) with a user-supplied ``.task`` model.

    Args:
        model_path: a ``pose_landmarker_*.task`` file (see the module docstring for where to get one).
        max_persons: maximum number of people per frame (``num_poses``) and number of tracks ``M``.
        min_detection_confidence: person detector threshold.
        min_presence_confidence: pose presence threshold.
        min_tracking_confidence: below this the detector runs again on the next frame.
    """

    name: ClassVar[str] = "mediapipe_tasks"

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        max_persons: int = 2,
        min_detection_confidence: float = 0.5,
        min_presence_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ) -> None:
        if model_path is None or not Path(model_path).is_file():
            raise SkelrecError(
                f"the mediapipe_tasks pose backend needs a PoseLandmarker model file, got {model_path}; "
                f"download pose_landmarker_full.task from {_TASKS_MODEL_URL} and pass its path as model_path"
            )
        if max_persons < 1:
            raise SkelrecError(f"max_persons must be >= 1, got {max_persons}")
        _check_confidence(
            min_detection_confidence=min_detection_confidence,
            min_presence_confidence=min_presence_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )
        self.model_path = Path(model_path)
        self._max_persons = max_persons
        self.min_detection_confidence = min_detection_confidence
        self.min_presence_confidence = min_presence_confidence
        self.min_tracking_confidence = min_tracking_confidence

    @property
    def max_persons(self) -> int:
        return self._max_persons

    def settings(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "mediapipe": _mediapipe_version(),
            "model": self.model_path.name,
            "model_bytes": self.model_path.stat().st_size,
            "max_persons": self.max_persons,
            "min_detection_confidence": self.min_detection_confidence,
            "min_presence_confidence": self.min_presence_confidence,
            "min_tracking_confidence": self.min_tracking_confidence,
        }

    @contextmanager
    def detector(self) -> Iterator[FrameDetector]:
        import mediapipe as mp  # here, not at the top: 0.65 s that importing skelrec.pose should not cost
        from mediapipe.tasks.python.core.base_options import BaseOptions
        from mediapipe.tasks.python.vision import PoseLandmarker, PoseLandmarkerOptions, RunningMode

        options = PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=RunningMode.VIDEO,
            num_poses=self.max_persons,
            min_pose_detection_confidence=self.min_detection_confidence,
            min_pose_presence_confidence=self.min_presence_confidence,
            min_tracking_confidence=self.min_tracking_confidence,
        )
        try:
            with quiet_native_stderr():
                landmarker = PoseLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as e:
            raise SkelrecError(
                f"{self.model_path}: not a usable PoseLandmarker model ({e}); "
                f"download pose_landmarker_full.task from {_TASKS_MODEL_URL}"
            ) from None
        last_ms = -1

        def detect(frame: Frame) -> list[Detection]:
            nonlocal last_ms
            last_ms = max(last_ms + 1, round(frame.time_s * 1000))  # VIDEO mode needs increasing timestamps
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=frame.rgb)
            result = landmarker.detect_for_video(image, last_ms)
            return [_detection(i, w) for i, w in zip(result.pose_landmarks, result.pose_world_landmarks, strict=True)]

        try:
            yield detect
        finally:
            landmarker.close()
