"""The app's example video: a public-domain photo of a person, filmed by a swaying camera.

The photo (``data/astronaut.jpg``: NASA's portrait of astronaut Eileen Collins, public domain, as distributed by
scikit-image as ``skimage.data.astronaut``) ships with the app, so a plain install offers the example.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from skelrec.files import atomic_write
from skelrec.paths import user_cache_dir
from skelrec.video import write_video

__all__ = ["EXAMPLE_CAPTION", "PHOTO", "example_clip", "render_example_clip"]

log = logging.getLogger(__name__)

PHOTO = Path(__file__).resolve().parent / "data" / "astronaut.jpg"
"""The photo, ``(512, 512)`` RGB, JPEG quality 90 (68 kB)."""

EXAMPLE_CAPTION = (
    "Example: a public-domain photo of an astronaut (head to waist), filmed by a swaying handheld camera. "
    "The person holds still."
)
"""What the example clip is (not what a model should say about it)."""


@functools.cache
def _photo() -> np.ndarray:
    """The photo as ``(512, 512, 3)`` uint8 RGB."""
    bgr = cv2.imread(str(PHOTO), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"{PHOTO}: the example photo is missing from the installed app")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _astronaut_frames(seconds: float, fps: float, size: int, phase: float) -> Iterator[np.ndarray]:
    """The photo's crop swaying like a handheld camera: ``(size, size, 3)`` uint8 RGB frames."""
    img = _photo()
    for i in range(round(seconds * fps)):
        a = 2 * np.pi * i / fps + phase
        dx, dy = round(20 * np.sin(a)), round(10 * np.cos(a))
        crop = img[10 + dy : 480 + dy, 20 + dx : 470 + dx]
        yield cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def render_example_clip(
    path: str | Path, *, seconds: float = 2.0, fps: float = 30.0, size: int = 256, phase: float = 0.0
) -> Path:
    """Write an H.264 clip of the astronaut photo moving like a handheld camera.

    A real person for the pose estimator, but a still photo: it shows the pipeline, not an action. ``phase``
    (radians) shifts the sway, giving a different file.
    """
    return atomic_write(Path(path), lambda tmp: write_video(tmp, _astronaut_frames(seconds, fps, size, phase), fps=fps))


def example_clip(folder: str | Path | None = None) -> Path | None:
    """The app's example video in ``folder`` (default: ``<skelrec cache>/examples``), rendered on first use.

    ``None`` (logged) when it cannot be written, e.g. a read-only cache folder.
    """
    path = Path(folder or user_cache_dir() / "examples") / "astronaut.mp4"
    if path.is_file():
        return path
    try:
        return render_example_clip(path)
    except OSError as err:
        log.warning("no example video: %s", err)
        return None
