"""A preview every browser can play, for uploads it cannot (an AVI, an MPEG-4 Part 2 or HEVC stream, ...).

Browsers play H.264, VP8/VP9 and AV1 video in MP4 or WebM containers; an uploaded video in anything else would show
as an error in the page. :func:`browser_preview` leaves playable videos alone and transcodes the others to a small
H.264 MP4 with PyAV. The preview is only shown: the app labels the original upload.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from skelrec.files import atomic_write
from skelrec.video import VideoInfo, open_video, write_video

__all__ = ["PLAYABLE", "PREVIEW_MAX_SIDE", "browser_playable", "browser_preview"]

PLAYABLE = {
    "mov,mp4,m4a,3gp,3g2,mj2": {"h264", "av1"},
    "matroska,webm": {"vp8", "vp9", "av1"},
}
"""FFmpeg demuxer name -> the video codecs browsers (Chromium, Firefox, Safari) play in that container."""

PREVIEW_MAX_SIDE = 640
"""Longer side of a transcoded preview, in pixels (a preview, not the video labelled)."""


def browser_playable(info: VideoInfo) -> bool:
    """Whether a browser's ``<video>`` element plays this video as it is."""
    return info.codec in PLAYABLE.get(info.container, set())


def browser_preview(video: str | Path, folder: str | Path) -> Path:
    """``video`` itself when browsers play it; else an H.264 MP4 of it in ``folder`` with the same stem.

    Raises:
        SkelrecError: ``video`` is missing, not a video or not decodable (:func:`~skelrec.video.open_video`).
    """
    reader = open_video(video, max_side=PREVIEW_MAX_SIDE)
    if browser_playable(reader.info):
        return Path(video)
    dest = Path(folder) / f"{Path(video).stem}.mp4"
    dest.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(dest, lambda tmp: write_video(tmp, _even(f.rgb for f in reader), fps=reader.info.fps or 30.0))


def _even(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Frames cropped to even width and height (H.264 in 4:2:0 needs them)."""
    for rgb in frames:
        h, w = rgb.shape[:2]
        yield rgb[: h - h % 2, : w - w % 2]
