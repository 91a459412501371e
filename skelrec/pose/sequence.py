"""The result of running a pose estimator over a video: :class:`PoseSequence`.

It keeps the estimator's raw output (MediaPipe's 33 landmarks, image and world coordinates, visibility) for ``M``
tracked persons over ``T`` processed frames, plus what is needed to interpret it (frame times, video size, whether
the video is mirrored). :meth:`PoseSequence.to_skeleton` turns it into the skelrec array convention
``(M, T, V, 3)`` of any layout (:mod:`skelrec.skeleton`). Frames without a person are kept (``present`` False,
zeros), never dropped, so frame ``t`` always matches ``times[t]``.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skelrec.errors import DataFormatError
from skelrec.files import atomic_write_stream
from skelrec.skeleton import convert, from_mediapipe_world, get_layout

__all__ = ["POSE_SUFFIX", "PoseSequence"]

POSE_SUFFIX = ".npz"
"""Suffix of a pose file (:meth:`PoseSequence.save`): what ``skelrec label`` and ``skelrec teach`` read as poses."""

_FORMAT_VERSION = 1
_ARRAYS = ("image", "world", "visibility", "present", "times", "frame_index")


@dataclass
class PoseSequence:
    """Landmarks of ``M`` persons over ``T`` frames, as the estimator gave them.

    Attributes:
        image: ``(M, T, V, 3)`` float32: x, y normalized to [0, 1] of the frame width/height (x right, y down),
            z relative depth (MediaPipe: same scale as x, smaller is closer, hip-centred).
        world: ``(M, T, V, 3)`` float32 metric coordinates as the estimator gives them (MediaPipe: metres, origin
            between the hips, x image-right, y down, z away from the camera).
        visibility: ``(M, T, V)`` float32 in [0, 1].
        present: ``(M, T)`` bool: person ``m`` was detected in frame ``t``; where False all values are zero.
        times: ``(T,)`` float64 presentation time of each processed frame in seconds (from the video's PTS).
        frame_index: ``(T,)`` int64 index of each processed frame in the original video.
        fps: frame rate of the source video (processed frames are ``stride`` apart).
        width: display width of the source video in pixels (``image`` x times ``width`` gives pixels).
        height: display height of the source video in pixels.
        mirrored: the video is mirrored (selfie/webcam previews, Kinect colour frames such as NTU RGB+D); estimator
            side labels are then swapped by :meth:`to_skeleton` and :meth:`image_joints`.
        layout: layout of the landmarks (``"mediapipe33"``).
        source: the video file, or ``""`` when the frames did not come from a file.
        settings: estimator name and settings, frame stride, max_side: everything that produced the landmarks.
    """

    image: np.ndarray
    world: np.ndarray
    visibility: np.ndarray
    present: np.ndarray
    times: np.ndarray
    frame_index: np.ndarray
    fps: float
    width: int
    height: int
    mirrored: bool = False
    layout: str = "mediapipe33"
    source: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.image = np.asarray(self.image, np.float32)
        self.world = np.asarray(self.world, np.float32)
        self.visibility = np.asarray(self.visibility, np.float32)
        self.present = np.asarray(self.present, bool)
        self.times = np.asarray(self.times, np.float64)
        self.frame_index = np.asarray(self.frame_index, np.int64)
        m, t, v = (*self.present.shape, get_layout(self.layout).num_joints)
        for name, shape in (("image", (m, t, v, 3)), ("world", (m, t, v, 3)), ("visibility", (m, t, v))):
            if getattr(self, name).shape != shape:
                raise ValueError(f"PoseSequence.{name} has shape {getattr(self, name).shape}, expected {shape}")
        if self.times.shape != (t,) or self.frame_index.shape != (t,):
            raise ValueError(f"PoseSequence.times/frame_index must have shape ({t},)")

    @property
    def num_persons(self) -> int:
        return int(self.present.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.present.shape[1])

    @property
    def detection_rate(self) -> float:
        """Fraction of frames in which at least one person was found."""
        return float(self.present.any(axis=0).mean()) if self.num_frames else 0.0

    def with_mirrored(self, mirrored: bool) -> PoseSequence:
        """The same landmarks, interpreted as coming from a mirrored (or unmirrored) video."""
        return dataclasses.replace(self, mirrored=mirrored)

    def _side_fixed(self, values: np.ndarray) -> np.ndarray:
        """Swap left/right landmark labels on mirrored videos, where the estimator names the sides wrongly."""
        return values[..., get_layout(self.layout).flip_index, :] if self.mirrored else values

    def to_skeleton(self, layout: str = "ntu25", *, confidence: bool = False) -> np.ndarray:
        """World landmarks in skelrec axes and ``layout`` order: ``(M, T, V, 3)`` (``(M, T, V, 4)`` with confidence).

        Uses :func:`skelrec.skeleton.from_mediapipe_world` (axes, mirroring) then :func:`skelrec.skeleton.convert`;
        frames where a person is absent are zero.
        """
        xyz = from_mediapipe_world(self.world, mirrored=self.mirrored, layout=self.layout)
        if confidence:
            vis = self._side_fixed(self.visibility[..., None])
            xyz = np.concatenate([xyz, vis], axis=-1)
        out = convert(xyz, self.layout, layout)
        out[~self.present] = 0.0
        return out

    def image_joints(self, layout: str = "ntu25") -> np.ndarray:
        """Image landmarks ``(M, T, V, 3)`` (normalized x, y, relative z) with anatomical side labels, in ``layout``.

        Multiply x by :attr:`width` and y by :attr:`height` for pixels. Absent frames are zero.
        """
        out = convert(self._side_fixed(self.image), self.layout, layout)
        out[~self.present] = 0.0
        return out

    # ----------------------------------------------------------------------------------------------------------
    # storage
    # ----------------------------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` file atomically (a temporary file renamed into place); returns the path."""
        meta = {
            "format_version": _FORMAT_VERSION,
            **{k: getattr(self, k) for k in ("fps", "width", "height", "mirrored", "layout", "source", "settings")},
        }
        arrays = {k: getattr(self, k) for k in _ARRAYS}
        return atomic_write_stream(path, lambda f: np.savez_compressed(f, meta=np.array(json.dumps(meta)), **arrays))

    @classmethod
    def load(cls, path: str | Path) -> PoseSequence:
        """Read a file written by :meth:`save`.

        Raises:
            DataFormatError: the file is not a pose file of this version.
        """
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                arrays = {k: z[k] for k in _ARRAYS}
        except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as e:
            raise DataFormatError(path, f"not a readable pose file ({e})", expected="an .npz written by skelrec") from e
        if meta.pop("format_version", None) != _FORMAT_VERSION:
            raise DataFormatError(path, "pose file of another format version", expected=f"version {_FORMAT_VERSION}")
        return cls(**arrays, **meta)
