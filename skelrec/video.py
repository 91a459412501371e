"""Streaming video decoding: frames as RGB arrays with their true timestamps.

:func:`open_video` checks a file once and returns a :class:`VideoReader`. Iterating the reader decodes the file
from the start each time and yields :class:`Frame` objects one by one, so memory does not grow with the length of
the video. Decoding uses PyAV (FFmpeg):

* opening is cheap: the container metadata, the time stamps of the first packets (read without decoding) and one
  decoded frame (it proves the file decodes and carries the display rotation). Only containers whose time stamps
  may be in decode order (AVI) have a few more frames decoded to choose the clock. A container that stores no
  duration (WebM recorded by a browser's MediaRecorder) has all its packets read, without decoding, to measure it;
* timestamps come from each frame's presentation time stamp (PTS), so variable-frame-rate videos (phones, screen
  recordings) keep their real timing; ``time_s`` counts from the first frame (AVI files store no PTS: when the ones
  FFmpeg reports are out of display order, as with B-frames, decode time stamps or ``index / fps`` are used);
* the display rotation stored in the container (phone videos shot in portrait) is applied to every frame;
* ``stride`` keeps every n-th frame: only kept frames are converted to RGB, and with true PTS the non-reference
  frames that are not kept (B-frames, usually) are not decoded at all. ``max_side`` downscales kept frames in the
  same pass as the colour conversion. Frame indices always refer to the original video;
* decoding runs in FFmpeg's own threads and, by default, a few frames ahead of the caller in a background thread
  (FFmpeg releases the GIL), so decoding overlaps the caller's work (pose estimation).

Problems with the input file raise a one-line :class:`~skelrec.errors.SkelrecError`.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import queue
import threading
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal, TypeVar

import av
import numpy as np

from skelrec.errors import SkelrecError

__all__ = ["Frame", "VideoInfo", "VideoReader", "open_video", "write_video"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Demuxers FFmpeg also uses for still images and text, which it would otherwise happily "decode" as video.
_STILL_IMAGE_FORMATS = ("image2", "image2pipe", "gif_pipe")
_TEXT_FORMATS = ("tty", "bin", "xbin", "adf", "idf")
# Demuxers whose PTS follow decode order when the codec reorders frames (B-frames): the clock is chosen by decoding.
_DECODE_ORDER_PTS_FORMATS = ("avi",)
_DEFAULT_FPS = 30.0
_HEAD_PACKETS = 48  # packets whose time stamps are read at open (demux only)
_HEAD_FRAMES = (8, 16)  # frames decoded at open when the packets cannot tell the clock: (enough if out of order, most)
# Probe frames serve only their time stamps, size and rotation: the loop filter (~20% of H.264 decoding) can go.
_PROBE_DECODER_OPTIONS = {"skip_loop_filter": "all"}
_REORDER_LOOKAHEAD = 17  # packets read ahead to know a packet's display index (H.264/HEVC reorder at most 16)
PREFETCH_FRAMES = 3  # frames decoded ahead of the caller by default
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts")
"""File suffixes (lower case) read as videos when folders are searched (``skelrec label``, ``skelrec teach``)."""


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
    """What the container says about a video, plus what its packets and first decoded frame showed.

    Attributes:
        path: the video file.
        fps: average frame rate (frames per second); frame timing itself comes from the PTS of each frame.
        frame_count: number of frames; exact when the container stores it, otherwise ``duration * fps``, or the
            number of video packets when the container stores no duration.
        frame_count_exact: whether ``frame_count`` was read from the container rather than estimated.
        duration: length in seconds; measured from the packet time stamps when the container stores none.
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
        prefetch: frames decoded ahead in a background thread (0: decode in the iterating thread).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        stride: int = 1,
        max_side: int | None = None,
        max_frames: int | None = None,
        prefetch: int = PREFETCH_FRAMES,
    ):
        if stride < 1:
            raise SkelrecError(f"frame stride must be >= 1, got {stride}")
        if max_side is not None and max_side < 16:
            raise SkelrecError(f"max_side must be at least 16 pixels, got {max_side}")
        if max_frames is not None and max_frames < 1:
            raise SkelrecError(f"max_frames must be >= 1, got {max_frames}")
        if prefetch < 0:
            raise SkelrecError(f"prefetch must be >= 0 frames, got {prefetch}")
        self.path = Path(path)
        self.stride, self.max_side, self.max_frames, self.prefetch = stride, max_side, max_frames, prefetch
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
        frames = self._frames()
        yield from _prefetched(frames, self.prefetch) if self.prefetch else frames

    def _frames(self) -> Iterator[Frame]:
        """Decode, keep every ``stride``-th frame, convert it to RGB (scaled in the same pass) and rotate it."""
        out_w, out_h = self.output_size
        if self.rotation in (90, 270):  # the decoder's frames are not rotated yet
            out_w, out_h = out_h, out_w
        size = {} if (out_w, out_h) == _coded_size(self.info) else {"width": out_w, "height": out_h}
        k = self.rotation // 90
        yielded = 0
        clock = _FrameClock(self.info.clock, self.fps)
        # skipping undecoded frames needs display indices from true PTS (see _RankedPackets)
        skip_stride = self.stride if self.info.clock == "pts" else 1
        decoder = _Decoder(self.path, skip_stride=skip_stride)
        with closing(iter(decoder)) as decoded:  # closes the file also when the caller stops early
            for index, frame in decoded:
                time_s = clock.time_s(index, frame)
                if index % self.stride:
                    continue
                rgb = frame.to_ndarray(format="rgb24", **size)  # one swscale pass: YUV -> RGB and downscaling
                if k:
                    rgb = np.rot90(rgb, k=k)
                yield Frame(index, time_s, np.ascontiguousarray(rgb))
                yielded += 1
                if self.max_frames is not None and yielded >= self.max_frames:
                    return
        self._check_complete(decoder.count)

    def _check_complete(self, decoded: int) -> None:
        """Raise when the container promised clearly more frames than could be decoded (a cut-off file)."""
        expected = self.info.frame_count if self.info.frame_count_exact else 0
        if expected - decoded > max(2, expected // 50):
            raise SkelrecError(
                f"{self.path}: video ends after {decoded} of {expected} frames (truncated or corrupt file); "
                "re-download or re-encode it (e.g. ffmpeg -i in.mp4 out.mp4)"
            )


def open_video(
    path: str | Path,
    *,
    stride: int = 1,
    max_side: int | None = None,
    max_frames: int | None = None,
    prefetch: int = PREFETCH_FRAMES,
) -> VideoReader:
    """Check ``path`` and return a streaming :class:`VideoReader` over its frames.

    Args:
        path: a video file (anything FFmpeg decodes: .mp4, .avi, .mov, .mkv, .webm ...).
        stride: keep every ``stride``-th frame.
        max_side: downscale frames so the longer side is at most this many pixels.
        max_frames: stop after this many (kept) frames.
        prefetch: frames decoded ahead in a background thread (0: decode in the iterating thread).

    Raises:
        SkelrecError: missing file, not a video (text, still image, unknown bytes), no decodable frame.
    """
    return VideoReader(path, stride=stride, max_side=max_side, max_frames=max_frames, prefetch=prefetch)


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


# ------------------------------------------------------------------------------------------------------------------
# Opening and probing.
# ------------------------------------------------------------------------------------------------------------------


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


try:
    from av.stream import Discard

    _DISCARD_ALL: object = Discard.all
except ImportError:  # PyAV < 14 takes the name
    _DISCARD_ALL = "all"


def _video_packets(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Iterator[av.Packet]:
    """The video stream's packets in decode order (demux only; other streams are skipped, flush packets dropped)."""
    for other in container.streams:
        if other.index != stream.index:
            other.discard = _DISCARD_ALL  # the demuxer drops their packets (e.g. a webcam recording's audio)
    return (packet for packet in container.demux(stream) if packet.size)


@dataclass
class _PacketScan:
    """Time stamps of a video stream's packets, read without decoding.

    Attributes:
        pts: presentation stamps of the first :data:`_HEAD_PACKETS` packets (decode order; ``None`` when missing).
        count: packets read (frames shown; packets decoded only for reference are not counted).
        first: smallest PTS seen (stream time base), ``None`` when no packet had one.
        last: largest PTS seen, the start of the last frame.
        last_duration: duration of the last frame as its packet states it (0: not stated, as in browser recordings).
    """

    pts: list[int | None] = field(default_factory=list)
    count: int = 0
    first: int | None = None
    last: int | None = None
    last_duration: int = 0

    def add(self, packet: av.Packet) -> None:
        if packet.is_discard:  # decoded for reference only, never shown (MP4 edit lists)
            return
        if self.count < _HEAD_PACKETS:
            self.pts.append(packet.pts)
        self.count += 1
        if packet.pts is None:
            return
        self.first = packet.pts if self.first is None else min(self.first, packet.pts)
        if self.last is None or packet.pts > self.last:
            self.last, self.last_duration = packet.pts, packet.duration or 0

    def span_s(self, time_base: Fraction, fps: float) -> float:
        """Seconds from the start of the first frame to the end of the last (0 without time stamps).

        A last frame of unstated duration lasts ``1 / fps``, or the mean frame interval when ``fps`` is unknown.
        """
        if self.first is None or self.last is None:
            return 0.0
        starts = float((self.last - self.first) * time_base)
        if self.last_duration:
            return starts + float(self.last_duration * time_base)
        return starts + (1 / fps if fps > 0 else starts / max(1, self.count - 1))


def _scan_packets(path: Path, container: av.container.InputContainer, *, whole: bool) -> _PacketScan:
    """Read the time stamps of the first packets, or of all of them when ``whole`` (demux only, no decoding)."""
    scan = _PacketScan()
    limit = None if whole else _HEAD_PACKETS
    try:
        for packet in itertools.islice(_video_packets(container, container.streams.video[0]), limit):
            scan.add(packet)
    except av.error.FFmpegError as e:  # a damaged tail: decoding reports it, naming the frame, when it gets there
        log.warning("%s: packets unreadable after %d (%s)", path, scan.count, e.strerror)
    return scan


def _packet_clock(container_format: str, scan: _PacketScan) -> Literal["pts"] | None:
    """``"pts"`` when the packets show usable presentation stamps; ``None`` when frames must be decoded to tell.

    Outside :data:`_DECODE_ORDER_PTS_FORMATS`, containers store the PTS of each frame, and the decoder outputs frames
    in PTS order, so present and distinct stamps are all it takes.
    """
    stamps = scan.pts
    usable = stamps and None not in stamps and len(set(stamps)) == len(stamps)
    return "pts" if usable and container_format not in _DECODE_ORDER_PTS_FORMATS else None


def _probe(path: Path) -> VideoInfo:
    """Container metadata, packet time stamps and the first decoded frame(s): rotation, clock; fail early."""
    container = _open_container(path)
    try:
        stream = container.streams.video[0]
        fmt, codec, declared = container.format.name, stream.codec_context.name, stream.frames
        rate, time_base = stream.average_rate or stream.guessed_rate or stream.base_rate, stream.time_base
        duration = _duration_s(stream, container)
        scan = _scan_packets(path, container, whole=not duration)
    finally:
        container.close()
    clock = _packet_clock(fmt, scan)
    decoder = _Decoder(path, thread_type="NONE", options=_PROBE_DECODER_OPTIONS)  # NONE: the first frame soonest
    with closing(decoder.frames()) as frames:
        first = next(frames, None)
        if first is None:
            raise SkelrecError(f"{path}: contains no video frames; expected a video with at least one frame")
        clock = clock or _clock(_head_stamps(first, frames))
    fps, count, duration = _length(path, float(rate) if rate else 0.0, declared, duration, scan, time_base)
    rotation = round(first.rotation / 90.0) * 90 % 360 if first.rotation else 0
    width, height = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
    return VideoInfo(path, fps, count, declared > 0, duration, width, height, rotation, codec, fmt, clock)


def _length(
    path: Path, fps: float, declared: int, duration: float, scan: _PacketScan, time_base: Fraction
) -> tuple[float, int, float]:
    """``(fps, frame_count, duration)`` from what the container declares (0: nothing), completed from the packets.

    A container without a duration (WebM from a browser's MediaRecorder) was scanned whole: its length is the span
    of the packets' time stamps and its frame count the number of packets.
    """
    measured = not duration and scan.span_s(time_base, fps) > 0
    if measured:
        duration = scan.span_s(time_base, fps)
        log.info("%s: no duration in the container; %.3f s measured from %d packets", path, duration, scan.count)
    if fps <= 0:
        frames_known = declared or (scan.count if measured else 0)
        fps = frames_known / duration if frames_known and duration else _DEFAULT_FPS
        log.warning("%s: no frame rate in the container; assuming %.3g fps", path, fps)
    count = declared if declared > 0 else scan.count if measured else max(1, round(duration * fps))
    return fps, count, duration or count / fps


def _duration_s(stream: av.video.stream.VideoStream, container: av.container.InputContainer) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return float(Fraction(container.duration, av.time_base))
    return 0.0


# ------------------------------------------------------------------------------------------------------------------
# Decoding.
# ------------------------------------------------------------------------------------------------------------------


class _Decoder:
    """Decoded frames of a file's first video stream, each with its index in display order.

    Args:
        path: the video file.
        skip_stride: frames whose index is not a multiple of this may be left undecoded when no other frame refers
            to them (FFmpeg's ``skip_frame="NONREF"``, set per packet); needs PTS in display order (clock ``"pts"``).
        thread_type: FFmpeg's decoder threading (``"AUTO"``: frame and slice threads; ``"NONE"``: the first frame
            comes out soonest).
        options: FFmpeg decoder options, e.g. ``{"skip_loop_filter": "all"}``.

    :attr:`count` is the number of frames of the stream passed so far (decoded or skipped).
    """

    def __init__(
        self, path: Path, *, skip_stride: int = 1, thread_type: str = "AUTO", options: dict[str, str] | None = None
    ) -> None:
        self.path, self.skip_stride, self.thread_type, self.options = path, skip_stride, thread_type, options or {}
        self.count = 0

    def frames(self) -> Iterator[av.VideoFrame]:
        """The decoded frames alone."""
        with closing(iter(self)) as indexed:
            for _, frame in indexed:
                yield frame

    def __iter__(self) -> Iterator[tuple[int, av.VideoFrame]]:
        container = _open_container(self.path)
        try:
            stream = container.streams.video[0]
            stream.thread_type = self.thread_type
            stream.codec_context.options = self.options
            flush = av.Packet()  # empty: the decoder returns the frames it still holds
            flush.time_base = stream.time_base  # which the frames take over (as from any packet)
            codec, packets = stream.codec_context, itertools.chain(_video_packets(container, stream), [flush])
            if self.skip_stride > 1:
                yield from self._decode_skipping(codec, packets)
            else:
                yield from self._decode_all(codec, packets)
        except av.error.FFmpegError as e:
            raise SkelrecError(
                f"{self.path}: cannot decode frame {self.count + 1} ({e.strerror}); the file is corrupt or "
                "truncated: re-download or re-encode it"
            ) from None
        finally:
            container.close()

    def _decode_all(self, codec: av.CodecContext, packets: Iterator[av.Packet]) -> Iterator[tuple[int, av.VideoFrame]]:
        for packet in packets:
            for frame in codec.decode(packet):
                yield self.count, frame
                self.count += 1

    def _decode_skipping(
        self, codec: av.CodecContext, packets: Iterator[av.Packet]
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        """Decode only the packets of kept frames and of frames others refer to; indices come from the PTS."""
        ranks, ahead = _RankedPackets(), deque[av.Packet]()
        for packet in packets:
            ranks.add(packet.pts if packet.size and not packet.is_discard else None)  # only shown frames count
            ahead.append(packet)
            if len(ahead) >= _REORDER_LOOKAHEAD:
                yield from self._send(codec, ahead.popleft(), ranks)
        while ahead:
            yield from self._send(codec, ahead.popleft(), ranks)
        self.count = ranks.total

    def _send(
        self, codec: av.CodecContext, packet: av.Packet, ranks: _RankedPackets
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        """Decode one packet, skipped if no frame needs it; yield ``(index, frame)`` for the frames that come out."""
        wanted = not packet.size or packet.is_discard or ranks.rank(packet.pts) % self.skip_stride == 0
        codec.skip_frame = "DEFAULT" if wanted else "NONREF"  # reference frames are decoded whatever this says
        for frame in codec.decode(packet):
            index = ranks.take(frame.pts)
            self.count = ranks.done
            yield index, frame


class _RankedPackets:
    """Display indices of frames from the PTS of the packets read so far (packets come in decode order).

    A frame's index is the number of frames shown before it: the packets with a smaller PTS. The decoder outputs
    frames in PTS order, so when a frame comes out every earlier one was read (and decoded or skipped); a packet's
    index is known once the packets that can be reordered before it (:data:`_REORDER_LOOKAHEAD`) are read.
    """

    def __init__(self) -> None:
        self.pending: list[int] = []  # sorted PTS of the frames not output yet
        self.done = 0  # frames before the pending ones (output or skipped)

    @property
    def total(self) -> int:
        return self.done + len(self.pending)

    def add(self, pts: int | None) -> None:
        if pts is not None:
            bisect.insort(self.pending, pts)

    def rank(self, pts: int | None) -> int:
        """Display index of the frame with this PTS (0, i.e. kept whatever the stride, without a PTS)."""
        return 0 if pts is None else self.done + bisect.bisect_left(self.pending, pts)

    def take(self, pts: int | None) -> int:
        """Index of an output frame; it and the frames before it (skipped ones) leave the pending list."""
        if pts is None:  # cannot be placed: the next frame
            self.done += 1
            return self.done - 1
        before = bisect.bisect_left(self.pending, pts)
        found = before < len(self.pending) and self.pending[before] == pts
        del self.pending[: before + found]
        index = self.done + before
        self.done = index + 1
        return index


def _head_stamps(first: av.VideoFrame, frames: Iterator[av.VideoFrame]) -> dict[str, list[int | None]]:
    """PTS and DTS of the first frames: :data:`_HEAD_FRAMES` of them, fewer once the PTS went out of order."""
    enough, most = _HEAD_FRAMES
    stamps: dict[str, list[int | None]] = {"pts": [], "dts": []}
    for n, frame in enumerate(itertools.chain([first], itertools.islice(frames, most - 1)), start=1):
        for clock, values in stamps.items():
            values.append(_stamp(frame, clock))
        pts = stamps["pts"]
        if n >= enough and None not in pts[-2:] and pts[-1] <= pts[-2]:  # type: ignore[operator]
            break  # the PTS are not in display order: the DTS or the index decide
    return stamps


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


def _prefetched(items: Generator[T, None, None], depth: int) -> Iterator[T]:
    """``items``, produced up to ``depth`` ahead by a background thread; its errors are raised here, in order.

    FFmpeg releases the GIL while it decodes and converts, so the caller's work overlaps decoding. Memory stays
    bounded (``depth`` items); closing this generator (the caller stops early) stops the thread and closes ``items``.
    """
    buffer: queue.Queue[tuple[bool, T | BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[bool, T | BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((False, None))
        except BaseException as e:  # handed to the consumer thread, which raises it
            put((False, e))
        finally:
            items.close()

    worker = threading.Thread(target=produce, name="skelrec-video-decode", daemon=True)
    worker.start()
    try:
        while True:
            more, value = buffer.get()
            if not more:
                if value is not None:
                    raise value  # type: ignore[misc]
                return
            yield value  # type: ignore[misc]
            del value  # hold no reference to a frame the caller has let go
    finally:
        stop.set()
        worker.join()


def _coded_size(info: VideoInfo) -> tuple[int, int]:
    """``(width, height)`` of frames as the decoder outputs them (before rotation)."""
    return (info.height, info.width) if info.rotation in (90, 270) else (info.width, info.height)


def _downscale_factor(width: int, height: int, max_side: int | None) -> float:
    longest = max(width, height)
    return 1.0 if max_side is None or longest <= max_side else max_side / longest
