"""Overlay drawing: the skeleton, the current label and a timeline bar on the frames of a labelled video.

Used by ``skelrec label --overlay`` and by the app. :class:`OverlayPainter` draws on one RGB frame;
:func:`render_overlay` streams a whole video through it into an H.264 MP4 (``yuv420p``, playable in browsers),
encoded by FFmpeg's libx264 through PyAV (the ``av`` wheel bundles FFmpeg; no system ffmpeg is needed).

Colours are fixed per class index (a Tableau-like palette), never derived from ``hash()``: the same label has the
same colour in every run and in the app. Drawing uses OpenCV (installed with MediaPipe).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from skelrec.files import atomic_write
from skelrec.labeling.result import LabelResult
from skelrec.labeling.segments import Segment
from skelrec.skeleton import get_layout
from skelrec.video import Frame, open_video, write_video

__all__ = ["OVERLAY_MAX_SIDE", "PALETTE", "OverlayPainter", "label_colour", "render_overlay", "timeline_strip"]

OVERLAY_MAX_SIDE = 720
"""Longer side of overlay videos in pixels (larger inputs are downscaled; encoding 1080p on a CPU is slow)."""

PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
    (227, 119, 194), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120), (152, 223, 138),
    (255, 152, 150), (197, 176, 213), (196, 156, 148), (247, 182, 210), (219, 219, 141), (158, 218, 229),
)  # fmt: skip
STATE_COLOURS = {"no_person": (70, 70, 70), "uncertain": (150, 150, 150)}
LEFT, RIGHT, MIDDLE = (255, 160, 40), (40, 200, 255), (240, 240, 240)  # skeleton colours by body side
_MIN_VISIBILITY = 0.3


def label_colour(labels: list[str], segment: Segment) -> tuple[int, int, int]:
    """RGB colour of a segment: by its class index for actions, grey for ``no person`` / ``no action``."""
    if segment.state in STATE_COLOURS:
        return STATE_COLOURS[segment.state]
    return PALETTE[labels.index(segment.label) % len(PALETTE)] if segment.label in labels else MIDDLE


def timeline_strip(result: LabelResult, width: int, height: int, end: float) -> np.ndarray:
    """``(height, width, 3)`` uint8 bar of the segments over ``[0, end]`` seconds."""
    strip = np.full((height, width, 3), 30, np.uint8)
    for seg in result.segments:
        x0, x1 = (round(min(max(t / end, 0.0), 1.0) * width) for t in (seg.start, seg.end))
        strip[:, x0 : max(x1, x0 + 1)] = label_colour(result.labels, seg)
    return strip


class OverlayPainter:
    """Draws a :class:`LabelResult` on frames of ``size`` ``(width, height)`` pixels.

    Args:
        result: the labels, with its pose sequence (``result.poses``).
        size: the size of the frames that will be painted.
    """

    def __init__(self, result: LabelResult, size: tuple[int, int]) -> None:
        if result.poses is None:
            raise ValueError("the result carries no pose sequence to draw")
        self.result, self.size = result, size
        poses = result.poses
        layout = get_layout(result.model["layout"])
        self.bones = layout.bones
        self.side = [_side_colour(n) for n in layout.joints]
        w, h = size
        self.points = poses.image_joints(layout.name)[..., :2] * np.array([w, h], np.float32)  # (M, T, V, 2)
        self.visibility = poses.to_skeleton(layout.name, confidence=True)[..., 3]  # (M, T, V)
        self.present, self.frame_index = poses.present, poses.frame_index
        self.step = int(np.median(np.diff(self.frame_index))) if len(self.frame_index) > 1 else 1
        self.end = max(result.segments[-1].end if result.segments else 0.0, 1e-3)
        self.bar_h = max(6, h // 28)
        self.scale = max(0.4, h / 720 * 0.9)
        self.strip = timeline_strip(result, w, self.bar_h, self.end)

    def row(self, frame_index: int) -> int | None:
        """The pose row for a video frame: the last processed frame at or before it, within one stride."""
        r = int(np.searchsorted(self.frame_index, frame_index, side="right")) - 1
        return r if r >= 0 and frame_index - self.frame_index[r] < self.step else None

    def paint(self, rgb: np.ndarray, frame_index: int, time_s: float) -> np.ndarray:
        """A copy of ``rgb`` ``(H, W, 3)`` with skeleton, current label and timeline drawn."""
        img = np.ascontiguousarray(rgb).copy()
        r = self.row(frame_index)
        if r is not None:
            for m in np.flatnonzero(self.present[:, r]):
                self._skeleton(img, self.points[m, r], self.visibility[m, r])
        self._label(img, self.result.label_at(time_s))
        self._timeline(img, time_s)
        return img

    def _skeleton(self, img: np.ndarray, pts: np.ndarray, vis: np.ndarray) -> None:
        thick = max(2, round(2 * self.scale))
        ok = vis >= _MIN_VISIBILITY
        for c, p in self.bones:
            if ok[c] and ok[p]:
                a, b = tuple(np.round(pts[c]).astype(int)), tuple(np.round(pts[p]).astype(int))
                cv2.line(img, a, b, self.side[c], thick, cv2.LINE_AA)
        for j in np.flatnonzero(ok):
            cv2.circle(img, tuple(np.round(pts[j]).astype(int)), thick + 1, self.side[j], -1, cv2.LINE_AA)

    def _label(self, img: np.ndarray, seg: Segment | None) -> None:
        if seg is None:
            return
        text = seg.label if seg.score is None else f"{seg.label}  {seg.score:.2f}"
        font, thick = cv2.FONT_HERSHEY_SIMPLEX, max(1, round(2 * self.scale))
        (tw, th), base = cv2.getTextSize(text, font, self.scale, thick)
        pad = max(4, round(6 * self.scale))
        x1, y1 = min(img.shape[1] - 1, tw + 3 * pad), th + base + 2 * pad
        box = img[:y1, :x1].astype(np.float32)
        img[:y1, :x1] = (0.45 * box + 0.55 * np.array(label_colour(self.result.labels, seg))).astype(np.uint8)
        cv2.putText(img, text, (pad + pad // 2, th + pad), font, self.scale, (255, 255, 255), thick, cv2.LINE_AA)

    def _timeline(self, img: np.ndarray, time_s: float) -> None:
        h, w = img.shape[:2]
        img[h - self.bar_h :] = self.strip[:, :w]
        x = round(min(max(time_s / self.end, 0.0), 1.0) * (w - 1))
        img[h - self.bar_h - 3 :, max(0, x - 1) : x + 2] = 255


def _side_colour(joint: str) -> tuple[int, int, int]:
    return LEFT if joint.startswith("left_") else RIGHT if joint.startswith("right_") else MIDDLE


def render_overlay(
    video: str | Path,
    result: LabelResult,
    out_path: str | Path,
    *,
    max_side: int | None = OVERLAY_MAX_SIDE,
    progress: Callable[[str, int, int], None] | None = None,
) -> Path:
    """Write ``video`` with ``result`` drawn on it as an H.264 MP4 at ``out_path`` (atomically); returns the path.

    Only the labelled part of the video is rendered (all of it unless the poses were limited to ``max_frames``).
    """
    poses = result.poses
    if poses is None or poses.num_frames == 0:
        raise ValueError("the result carries no pose frames to draw")
    step = int(np.median(np.diff(poses.frame_index))) if poses.num_frames > 1 else 1
    last = int(poses.frame_index[-1]) + step
    reader = open_video(video, max_side=max_side, max_frames=last)
    w, h = reader.output_size
    painter = OverlayPainter(result, (w, h))
    total = min(reader.frame_count, last)

    def frames() -> Iterator[np.ndarray]:
        frame: Frame
        for n, frame in enumerate(reader, start=1):
            yield _even(painter.paint(frame.rgb, frame.index, frame.time_s))
            if progress is not None:
                progress("render", n, total)

    return atomic_write(Path(out_path), lambda tmp: write_video(tmp, frames(), fps=reader.fps))


def _even(rgb: np.ndarray) -> np.ndarray:
    """Pad by one edge row/column where needed: H.264 in yuv420p needs even width and height."""
    h, w = rgb.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return rgb
    return np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
