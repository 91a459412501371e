"""How poses are extracted from a video: :class:`PoseOptions`, shared by ``skelrec label``, ``skelrec teach`` and
the ``video_folder`` dataset reader, so all three run the estimator the same way (and share pose cache entries)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from skelrec.errors import SkelrecError

__all__ = ["MIN_SIDE", "PoseOptions"]

MIN_SIDE = 16
"""Smallest ``max_side`` in pixels (the video reader refuses smaller ones too)."""


@dataclass(frozen=True)
class PoseOptions:
    """How poses are extracted from a video.

    Attributes:
        backend: pose backend name (:data:`skelrec.pose.POSE_BACKENDS`).
        options: keyword options of the backend (thresholds, model file ...).
        frame_stride: run the estimator on every ``frame_stride``-th frame.
        max_side: downscale frames to at most this many pixels on the longer side before estimation.
        max_frames: process at most this many frames (after the stride); ``None`` = the whole video.
    """

    backend: str = "mediapipe"
    options: Mapping[str, Any] = field(default_factory=dict)
    frame_stride: int = 1
    max_side: int | None = None
    max_frames: int | None = None

    def __post_init__(self) -> None:
        if self.frame_stride < 1:
            raise SkelrecError(
                f"frame stride must be >= 1 (pose estimation on every N-th frame), got {self.frame_stride}; "
                "1 uses every frame"
            )
        if self.max_frames is not None and self.max_frames < 1:
            raise SkelrecError(
                f"max_frames must be >= 1 (frames to process), got {self.max_frames}; leave it unset for all frames"
            )
        if self.max_side is not None and self.max_side < MIN_SIDE:
            raise SkelrecError(
                f"max_side (longer side of the frames given to the pose estimator) must be at least {MIN_SIDE} "
                f"pixels, got {self.max_side}; e.g. 640, or leave it unset for the full size"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "options": dict(self.options),
            "frame_stride": self.frame_stride,
            "max_side": self.max_side,
            "max_frames": self.max_frames,
        }
