"""Streaming video decoding: frames as RGB arrays with their true timestamps.

:func:`open_video` checks a file once (it exists, is a video, has a decodable first frame) and returns a
:class:`VideoReader`. Iterating the reader decodes the file from the start each time and yields :class:`Frame`
objects one by one, so memory does not grow with the length of the video. Decoding uses PyAV (FFmpeg):

* timestamps come from each frame's presentation time stamp (PTS), so variable-frame-rate videos (phones, screen
  recordings) keep their real timing; ``time_s`` counts from the first frame (AVI files store no PTS: when the ones
  FFmpeg reports are out of display order, as with B-frames, decode time stamps or ``index / fps`` are used);
* the display rotation stored in the container (phone videos shot in portrait) is applied to every frame;
* ``stride`` keeps every n-th frame (all frames are still decoded, only the kept ones are converted to RGB) and
  ``max_side`` downscales kept frames for processing; frame indices always refer to the original video.

Problems with the input file raise a one-line :class:`~skelrec.errors.SkelrecError`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

from skelrec.errors import SkelrecError

__all__ = ["Frame", "VideoInfo", "VideoReader", "open_video", "write_video"]

log = logging.getLogger(__name__)

# Demuxers FFmpeg also uses for still images and text, which it would otherwise happily "decode" as video.
_STILL_IMAGE_FORMATS = ("image2", "image2pipe", "gif_pipe")
_TEXT_FORMATS = ("tty", "bin", "xbin", "adf", "idf")
_DEFAULT_FPS = 30.0
_TIMESTAMP_PROBE_FRAMES = 32


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    Attributes:
        index: 0-based index of the frame in the original video (before ``stride``).
        time_s: presentation time in seconds, counted from the first frame of the video.
        rgb: ``(H, W, 3)`` uint8 image, display rotation applied, downscaled to ``max_side`` if requested.
    """

    index: int
    time_s: float
    rgb: np.ndarray


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video, plus what the first decoded frame showed.

    Attributes:
        path: the video file.
        fps: average frame rate (frames per second); frame timing itself comes from the PTS of each frame.
        frame_count: number of frames; exact when the container stores it, otherwise ``duration * fps``.
        frame_count_exact: whether ``frame_count`` was read from the container rather than estimated.
        duration: length in seconds.
        width: display width in pixels (after rotation, before any ``max_side`` downscaling).
        height: display height in pixels (after rotation, before any ``max_side`` downscaling).
        rotation: counter-clockwise display rotation in degrees (0, 90, 180 or 270) applied to every frame.
        codec: FFmpeg codec name, e.g. ``"h264"``.
        container: FFmpeg demuxer name, e.g. ``"avi"``.
        clock: where frame times come from: ``"pts"`` (presentation time stamps), ``"dts"`` (decode time stamps, used
            when the container's PTS are not in display order, as in AVI files with B-frames) or ``"index"``
            (``index / fps``, when neither increases steadily).
    """

    path: Path
    fps: float
    frame_count: int
    frame_count_exact: bool
    duration: float
    width: int
    height: int
    rotation: int
    codec: str
    container: str
    clock: Literal["pts", "dts", "index"] = "pts"


class VideoReader:
    """A re-iterable, streaming sequence of :class:`Frame` objects from one video file.

    Create it with :func:`open_video`. Each ``iter(reader)`` opens the file again and decodes it from the start.

    Args:
        path: the video file.
        stride: keep every ``stride``-th frame (1 keeps all).
        max_side: downscale kept frames so their longer side is at most this many pixels (never upscales).
        max_frames: stop after yielding this many frames (``None``: the whole video).
    """

    def __init__(
        self, path: str | Path, *, stride: int = 1, max_side: int | None = None, max_frames: int | None = None
    ):
        if stride < 1:
            raise SkelrecError(f"frame stride must be >= 1, got {stride}")
        if max_side is not None and max_side < 16:
            raise SkelrecError(f"max_side must be at least 16 pixels, got {max_side}")
        if max_frames is not None and max_frames < 1:
            raise SkelrecError(f"max_frames must be >= 1, got {max_frames}")
        self.path = Path(path)
        self.stride, self.max_side, self.max_frames = stride, max_side, max_frames
        self.info = _probe(self.path)

    # metadata, forwarded from :attr:`info`
    @property
    def fps(self) -> float:
        return self.info.fps

    @property
    def frame_count(self) -> int:
        return self.info.frame_count

    @property
    def duration(self) -> float:
        return self.info.duration

    @property
    def width(self) -> int:
        return self.info.width

    @property
    def height(self) -> int:
        return self.info.height

    @property
    def rotation(self) -> int:
        return self.info.rotation

    @property
    def output_size(self) -> tuple[int, int]:
        """``(width, height)`` of the yielded frames (after rotation and ``max_side``)."""
        scale = _downscale_factor(self.width, self.height, self.max_side)
        return max(1, round(self.width * scale)), max(1, round(self.height * scale))

    def __repr__(self) -> str:
        i = self.info
        return (
            f"VideoReader({str(self.path)!r}, {i.width}x{i.height}, {i.fps:.3g} fps, {i.frame_count} frames, "
            f"stride={self.stride}, max_side={self.max_side})"
        )

    def __iter__(self) -> Iterator[Frame]:
        out_w, out_h = self.output_size
        if self.rotation in (90, 270):  # the decoder's frames are not rotated yet
            out_w, out_h = out_h, out_w
        resize = {"width": out_w, "height": out_h, "interpolation": "AREA"}
        if (out_w, out_h) == _coded_size(self.info):
            resize = {}
        k = self.rotation // 90
        yielded = decoded = 0
        clock = _FrameClock(self.info.clock, self.fps)
        with closing(_decode(self.path)) as stream:  # closes the file also when the caller stops early
            for decoded, frame in enumerate(stream, start=1):
                index = decoded - 1
                time_s = clock.time_s(index, frame)
                if index % self.stride:
                    continue
                rgb = frame.to_ndarray(format="rgb24", **resize)
                if k:
                    rgb = np.rot90(rgb, k=k)
                yield Frame(index, time_s, np.ascontiguousarray(rgb))
                yielded += 1
                if self.max_frames is not None and yielded >= self.max_frames:
                    return
        self._check_complete(decoded)

    def _check_complete(self, decoded: int) -> None:
        """Raise when the container promised clearly more frames than could be decoded (a cut-off file)."""
        expected = self.info.frame_count if self.info.frame_count_exact else 0
        if expected - decoded > max(2, expected // 50):
            raise SkelrecError(
                f"{self.path}: video ends after {decoded} of {expected} frames (truncated or corrupt file); "
                "re-download or re-encode it (e.g. ffmpeg -i in.mp4 out.mp4)"
            )


def open_video(
    path: str | Path, *, stride: int = 1, max_side: int | None = None, max_frames: int | None = None
) -> VideoReader:
    """Check ``path`` and return a streaming :class:`VideoReader` over its frames.

    Args:
        path: a video file (anything FFmpeg decodes: .mp4, .avi, .mov, .mkv, .webm ...).
        stride: keep every ``stride``-th frame.
        max_side: downscale frames so the longer side is at most this many pixels.
        max_frames: stop after this many (kept) frames.

    Raises:
        SkelrecError: missing file, not a video (text, still image, unknown bytes), no decodable frame.
    """
    return VideoReader(path, stride=stride, max_side=max_side, max_frames=max_frames)


def write_video(
    path: str | Path, frames: Iterable[np.ndarray], *, fps: float = 30.0, codec: str = "libx264", rotation: int = 0
) -> Path:
    """Encode ``(H, W, 3)`` uint8 RGB frames (streamed) into a video file; returns the path.

    Args:
        path: output file; the container follows the suffix (.mp4, .avi, .mkv ...).
        frames: RGB frames of equal size (even width and height for H.264).
        fps: constant frame rate.
        codec: FFmpeg encoder, e.g. ``"libx264"`` (H.264) or ``"mpeg4"``.
        rotation: counter-clockwise display rotation stored in the container (players and :func:`open_video` apply it).
    """
    path = Path(path)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.pix_fmt = "yuv420p"
        for i, rgb in enumerate(frames):
            if i == 0:
                stream.height, stream.width = rgb.shape[:2]
                if rotation:
                    stream.set_display_rotation(rotation)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")))
        container.mux(stream.encode(None))
    return path


def _open_container(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise SkelrecError(f"{path}: no such video file; check the path")
    if path.is_dir():
        raise SkelrecError(f"{path}: is a folder, expected a video file")
    try:
        container = av.open(str(path), mode="r")
    except av.error.FFmpegError as e:
        raise SkelrecError(
            f"{path}: not a readable video ({e.strerror}); expected a video file such as .mp4 or .avi "
            "(if it is one, it is truncated or corrupt: re-download or re-encode it)"
        ) from None
    fmt = container.format.name
    problem = None
    if fmt in _STILL_IMAGE_FORMATS or fmt.endswith("_pipe"):
        problem = f"is a still image ({fmt}), not a video"
    elif fmt in _TEXT_FORMATS:
        problem = "is a text or binary file, not a video"
    elif not container.streams.video:
        problem = "has no video stream"
    if problem:
        container.close()
        raise SkelrecError(f"{path}: {problem}; expected a video file such as .mp4 or .avi")
    return container


def _decode(path: Path) -> Iterator[av.VideoFrame]:
    """Decoded frames of the first video stream; decoder errors become :class:`SkelrecError`."""
    container = _open_container(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        index = 0
        try:
            for index, frame in enumerate(container.decode(stream)):  # noqa: B007 - index is reported on error
                yield frame
        except av.error.FFmpegError as e:
            raise SkelrecError(
                f"{path}: cannot decode frame {index + 1} ({e.strerror}); the file is corrupt or truncated: "
                "re-download or re-encode it"
            ) from None
    finally:
        container.close()


def _probe(path: Path) -> VideoInfo:
    """Read the container metadata and decode the first frames (rotation, clock; fail early on bad files)."""
    container = _open_container(path)
    try:
        stream = container.streams.video[0]
        fmt, codec, declared = container.format.name, stream.codec_context.name, stream.frames
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        duration = _duration_s(stream, container)
    finally:
        container.close()
    with closing(_decode(path)) as frames:
        first = next(frames, None)
        if first is None:
            raise SkelrecError(f"{path}: contains no video frames; expected a video with at least one frame")
        head = [first, *itertools.islice(frames, _TIMESTAMP_PROBE_FRAMES - 1)]
        stamps = {clock: [_stamp(f, clock) for f in head] for clock in ("pts", "dts")}
        del head  # decoded frames are large; keep only their stamps
    fps = float(rate) if rate else 0.0
    if fps <= 0:
        fps = declared / duration if declared and duration else _DEFAULT_FPS
        log.warning("%s: no frame rate in the container; assuming %.3g fps", path, fps)
    rotation = round(first.rotation / 90.0) * 90 % 360 if first.rotation else 0
    width, height = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
    count = declared if declared > 0 else max(1, round(duration * fps))
    duration = duration or count / fps
    return VideoInfo(path, fps, count, declared > 0, duration, width, height, rotation, codec, fmt, _clock(stamps))


def _duration_s(stream: av.video.stream.VideoStream, container: av.container.InputContainer) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return float(Fraction(container.duration, av.time_base))
    return 0.0


def _stamp(frame: av.VideoFrame, clock: str) -> int | None:
    stamp = frame.pts if clock == "pts" else frame.dts if clock == "dts" else None
    return stamp if frame.time_base is not None else None


def _clock(stamps: dict[str, list[int | None]]) -> Literal["pts", "dts", "index"]:
    """The first kind of time stamp that increases strictly over the first decoded frames (in display order).

    Missing stamps are allowed (decoders flush their last frames without a DTS) as long as most frames have one.
    """
    for clock in ("pts", "dts"):
        values = [v for v in stamps[clock] if v is not None]
        if 2 * len(values) >= len(stamps[clock]) and all(b > a for a, b in itertools.pairwise(values)):
            return clock  # type: ignore[return-value]
    return "index"


class _FrameClock:
    """Frame times in seconds from one kind of time stamp, counted from the first frame.

    A frame without a stamp is placed ``1 / fps`` per frame after the last frame that had one.
    """

    def __init__(self, clock: str, fps: float) -> None:
        self.clock, self.fps = clock, fps
        self.origin: tuple[int, float] | None = None  # (stamp, time) of the first stamped frame
        self.last = (0, 0.0)  # (index, time) of the last stamped frame

    def time_s(self, index: int, frame: av.VideoFrame) -> float:
        stamp = _stamp(frame, self.clock)
        if stamp is None:
            last_index, last_time = self.last
            return last_time + (index - last_index) / self.fps
        if self.origin is None:
            self.origin = (stamp, index / self.fps)
        time_s = self.origin[1] + float((stamp - self.origin[0]) * frame.time_base)
        self.last = (index, time_s)
        return time_s


def _coded_size(info: VideoInfo) -> tuple[int, int]:
    """``(width, height)`` of frames as the decoder outputs them (before rotation)."""
    return (info.height, info.width) if info.rotation in (90, 270) else (info.width, info.height)


def _downscale_factor(width: int, height: int, max_side: int | None) -> float:
    longest = max(width, height)
    return 1.0 if max_side is None or longest <= max_side else max_side / longest
