"""Video -> :class:`PoseSequence` with an on-disk cache, so a video is run through the estimator once.

The cache key combines a hash of the video's bytes (read in chunks, so any size works) with everything that
changes the landmarks: the estimator's :meth:`~skelrec.pose.base.PoseEstimator.settings`, frame stride, ``max_side``
and ``max_frames``. Renaming or moving a video keeps its cache entry; editing it or changing a setting does not.
Entries are ``.npz`` files written atomically (:meth:`PoseSequence.save`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from skelrec.errors import DataFormatError, SkelrecError
from skelrec.pose.base import PoseEstimator
from skelrec.pose.sequence import POSE_SUFFIX, PoseSequence
from skelrec.video import open_video

__all__ = ["POSE_CACHE_DIR", "cache_path", "extract_poses", "file_digest"]

log = logging.getLogger(__name__)

POSE_CACHE_DIR = ".poses"
"""Name of the pose cache folder skelrec keeps beside clips or outputs (hidden: folder scans skip it)."""

_CHUNK = 1 << 20
_KEY_VERSION = 1


def file_digest(path: str | Path) -> str:
    """Hex BLAKE2b-128 digest of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    except OSError as e:
        raise SkelrecError(f"{path}: cannot read the video file ({e.strerror}); check the path") from None
    return h.hexdigest()


def cache_path(video: str | Path, settings: dict[str, Any], cache_dir: str | Path) -> Path:
    """Where the poses of ``video`` computed with ``settings`` are cached: ``<cache_dir>/<stem>-<key>.npz``.

    The key depends on the content only; an entry written under another name of the same video is returned if
    one exists.
    """
    blob = json.dumps({"v": _KEY_VERSION, "video": file_digest(video), "settings": settings}, sort_keys=True)
    key = hashlib.blake2b(blob.encode(), digest_size=10).hexdigest()
    existing = sorted(Path(cache_dir).glob(f"*-{key}{POSE_SUFFIX}"))
    return existing[0] if existing else Path(cache_dir) / f"{Path(video).stem}-{key}{POSE_SUFFIX}"


def extract_poses(
    video: str | Path,
    estimator: PoseEstimator,
    *,
    stride: int = 1,
    max_side: int | None = None,
    max_frames: int | None = None,
    mirrored: bool = False,
    cache_dir: str | Path | None = None,
) -> PoseSequence:
    """Run ``estimator`` over ``video`` (or load the cached result) and return the landmarks of every frame.

    Args:
        video: a video file.
        estimator: the pose backend, e.g. ``create_estimator("mediapipe")``.
        stride: process every ``stride``-th frame.
        max_side: downscale frames to at most this many pixels on the longer side before estimation.
        max_frames: process at most this many frames.
        mirrored: the video is mirrored (webcam preview, Kinect/NTU footage); recorded on the result, it does not
            change the landmarks and is not part of the cache key.
        cache_dir: folder for cached results; ``None`` disables caching.

    Returns:
        A :class:`PoseSequence`; when nobody is found in any frame its ``present`` is all False.
    """

    def run() -> PoseSequence:
        reader = open_video(video, stride=stride, max_side=max_side, max_frames=max_frames)
        return estimator.estimate(reader, mirrored=mirrored)

    if cache_dir is None:
        return run()
    settings = {**estimator.settings(), "stride": stride, "max_side": max_side, "max_frames": max_frames}
    path = cache_path(video, settings, cache_dir)
    if path.exists():
        try:
            cached = PoseSequence.load(path)
            log.info("poses of %s loaded from cache %s", video, path)
            return dataclasses.replace(cached, mirrored=mirrored, source=str(video))
        except DataFormatError as e:
            log.warning("ignoring unreadable pose cache entry (%s); recomputing", e)
    result = run()
    result.save(path)
    log.info("poses of %s cached in %s", video, path)
    return result
