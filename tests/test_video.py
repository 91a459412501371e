"""skelrec.video: streaming decode, true timestamps, rotation, downscaling, and clear errors for bad files."""

from __future__ import annotations

import gc
import inspect
import threading
import weakref
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from skelrec import video
from skelrec.errors import SkelrecError
from skelrec.video import Frame, open_video, write_video

W, H = 96, 64


def _pattern(i: int, w: int = W, h: int = H) -> np.ndarray:
    """Frame ``i``: grey level 8*i everywhere, a white 8x8 square at the top-left corner."""
    img = np.full((h, w, 3), (8 * i) % 256, np.uint8)
    img[:8, :8] = 255
    return img


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_video(tmp_path / "clip.mp4", (_pattern(i) for i in range(24)), fps=24)


def test_reader_reports_metadata_and_yields_frames_with_times(clip: Path):
    reader = open_video(clip)
    assert (reader.width, reader.height, reader.fps, reader.frame_count, reader.rotation) == (W, H, 24, 24, 0)
    assert reader.duration == pytest.approx(1.0, abs=0.05)
    frames = list(reader)
    assert [f.index for f in frames] == list(range(24))
    np.testing.assert_allclose([f.time_s for f in frames], np.arange(24) / 24, atol=1e-6)
    assert all(isinstance(f, Frame) and f.rgb.shape == (H, W, 3) and f.rgb.dtype == np.uint8 for f in frames)
    # H.264 is lossy: compare the grey level away from the white corner
    assert [int(f.rgb[40, 60, 0]) // 8 for f in frames[:5]] == pytest.approx([0, 1, 2, 3, 4], abs=1)
    assert len(list(reader)) == 24  # re-iterable: decodes again from the start


def test_stride_max_side_and_max_frames_keep_original_indices_and_times(clip: Path):
    reader = open_video(clip, stride=5, max_side=48, max_frames=3)
    frames = list(reader)
    assert [f.index for f in frames] == [0, 5, 10]
    np.testing.assert_allclose([f.time_s for f in frames], [0, 5 / 24, 10 / 24], atol=1e-6)
    assert frames[0].rgb.shape == (32, 48, 3) and reader.output_size == (48, 32)
    assert (reader.width, reader.height) == (W, H)  # metadata stays the original size
    assert open_video(clip, max_side=1000).output_size == (W, H)  # never upscales


def test_iteration_is_lazy_and_keeps_no_frames_alive(tmp_path: Path):
    """Memory does not grow with video length: frames are decoded on demand and released once the caller drops them."""
    path = write_video(tmp_path / "long.mp4", (_pattern(i) for i in range(120)))
    frames = iter(open_video(path))
    assert inspect.getgeneratorstate(frames) == inspect.GEN_CREATED
    first = next(frames)
    assert first.index == 0 and inspect.getgeneratorstate(frames) == inspect.GEN_SUSPENDED
    alive = [weakref.ref(first), weakref.ref(first.rgb)]
    del first
    for frame in frames:
        if frame.index == 60:  # mid-way: every earlier frame is gone, so nothing accumulates
            gc.collect()
            assert len(alive) == 120 and sum(r() is not None for r in alive) == 0
        alive += [weakref.ref(frame), weakref.ref(frame.rgb)]
    assert frame.index == 119


def test_display_rotation_is_applied(tmp_path: Path):
    path = write_video(tmp_path / "portrait.mp4", (_pattern(i) for i in range(3)), rotation=90)
    reader = open_video(path)
    assert (reader.rotation, reader.width, reader.height) == (90, H, W)
    rgb = next(iter(reader)).rgb
    assert rgb.shape == (W, H, 3)
    # a 90 degree counter-clockwise turn moves the white top-left corner to the bottom-left
    assert rgb[-4, 3].min() > 200 and rgb[3, 3].max() < 100
    assert open_video(path, max_side=48).output_size == (32, 48)


def test_variable_frame_rate_keeps_presentation_times(tmp_path: Path):
    times_ms = [0, 33, 66, 200, 233, 500, 533]
    path = tmp_path / "vfr.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(_pattern(i), format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            c.mux(s.encode(frame))
        c.mux(s.encode(None))
    frames = list(open_video(path))
    np.testing.assert_allclose([f.time_s for f in frames], np.array(times_ms) / 1000, atol=2e-3)
    assert [f.index for f in open_video(path, stride=3)] == [0, 3, 6]


def test_avi_with_b_frames_gets_times_in_display_order(tmp_path: Path):
    """AVI stores no presentation times: the PTS FFmpeg reports follow decode order; DTS are used instead."""
    path = tmp_path / "bframes.avi"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25, options={"bf": "2"})
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for i in range(20):
            c.mux(s.encode(av.VideoFrame.from_ndarray(_pattern(i), format="rgb24")))
        c.mux(s.encode(None))
    reader = open_video(path)
    assert reader.info.clock in ("dts", "index")
    np.testing.assert_allclose([f.time_s for f in reader], np.arange(20) / 25, atol=1e-6)


def _truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def _noise_video(path: Path, codec: str, n: int = 30) -> Path:
    rng = np.random.default_rng(0)
    return write_video(path, (rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(n)), codec=codec)


def test_bad_inputs_raise_one_line_errors(tmp_path: Path):
    from PIL import Image

    (tmp_path / "notes.txt").write_text("not a video\n" * 50)
    Image.fromarray(_pattern(0)).save(tmp_path / "photo.png")
    (tmp_path / "noise.bin").write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, np.uint8).tobytes())
    _truncated(_noise_video(tmp_path / "full.mp4", "libx264"), tmp_path / "cut.mp4")
    with av.open(str(tmp_path / "empty.avi"), "w") as c:  # a header and no frames
        s = c.add_stream("mpeg4", rate=30)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        c.start_encoding()
    cases = {
        "missing.mp4": "no such video file",
        ".": "is a folder",
        "notes.txt": "not a video",
        "photo.png": "still image",
        "noise.bin": "not a readable video",
        "cut.mp4": "not a readable video",
        "empty.avi": "no video frames",
    }
    for name, message in cases.items():
        with pytest.raises(SkelrecError, match=message) as err:
            open_video(tmp_path / name)
        assert "\n" not in str(err.value) and str(tmp_path / name) in str(err.value)


def test_truncated_avi_fails_when_its_end_is_reached(tmp_path: Path):
    cut = _truncated(_noise_video(tmp_path / "full.avi", "mpeg4"), tmp_path / "cut.avi")
    reader = open_video(cut)  # the header is intact, the first frames decode
    with pytest.raises(SkelrecError, match=r"ends after \d+ of 30 frames"):
        list(reader)
    assert len(list(open_video(cut, max_frames=3))) == 3  # stopping early never reaches the cut


def test_bad_arguments():
    with pytest.raises(SkelrecError, match="stride"):
        open_video("x.mp4", stride=0)
    with pytest.raises(SkelrecError, match="max_side"):
        open_video("x.mp4", max_side=4)
    with pytest.raises(SkelrecError, match="prefetch"):
        open_video("x.mp4", prefetch=-1)


def _live_webm(path: Path, n: int = 45, *, packet_durations: bool = True) -> Path:
    """VP8 WebM muxed as a live stream: no duration in the header, like browser (MediaRecorder) webcam recordings.

    ``packet_durations=False`` also clears each packet's duration (remuxed), as in MediaRecorder's SimpleBlocks.
    """
    encoded = path.with_name(f"encoded-{path.name}")
    with av.open(str(encoded if not packet_durations else path), "w", options={"live": "1"}) as c:
        s = c.add_stream("libvpx", rate=30)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(_pattern(i), format="rgb24")
            frame.pts, frame.time_base = round(i * 1000 / 30), Fraction(1, 1000)
            c.mux(s.encode(frame))
        c.mux(s.encode(None))
    if packet_durations:
        return path
    with av.open(str(encoded)) as src, av.open(str(path), "w", options={"live": "1"}) as out:
        dst = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.size:
                packet.duration, packet.stream = 0, dst
                out.mux(packet)
    return path


@pytest.mark.parametrize("packet_durations", [True, False])
def test_webm_without_duration_is_measured_from_its_packets(tmp_path: Path, packet_durations: bool):
    path = _live_webm(tmp_path / "webcam.webm", packet_durations=packet_durations)
    with av.open(str(path)) as c:  # the premise: FFmpeg finds no duration (open_video used to report 1 frame)
        assert c.duration is None and c.streams.video[0].duration is None and c.streams.video[0].frames == 0
    reader = open_video(path)
    assert (reader.fps, reader.frame_count, reader.info.frame_count_exact) == (30, 45, False)
    assert reader.duration == pytest.approx(1.5, abs=2e-3)
    frames = list(reader)
    assert [f.index for f in frames] == list(range(45))
    np.testing.assert_allclose([f.time_s for f in frames], np.arange(45) / 30, atol=1e-3)


def _b_frame_clip(path: Path, times_ms: list[int]) -> Path:
    """H.264 in MP4 with up to 3 B-frames between references (non-reference B-frames), at the given times."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30, options={"bf": "3", "b-pyramid": "none"})
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(_pattern(i), format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            c.mux(s.encode(frame))
        c.mux(s.encode(None))
    return path


@pytest.mark.parametrize("stride", [2, 3, 4])
def test_stride_leaves_unneeded_frames_undecoded_and_keeps_the_right_ones(tmp_path: Path, stride: int):
    """With true PTS, non-reference frames that the stride drops are not decoded; kept frames are unchanged."""
    times_ms = [round(1000 * i / 30) + (40 if i >= 20 else 0) for i in range(48)]  # a 40 ms gap: variable rate
    path = _b_frame_clip(tmp_path / "bframes.mp4", times_ms)
    everything = list(open_video(path, prefetch=0))
    strided = list(open_video(path, stride=stride, max_side=48))
    assert [f.index for f in strided] == list(range(0, 48, stride))
    np.testing.assert_allclose([f.time_s for f in strided], np.array(times_ms[::stride]) / 1000, atol=1e-6)
    for f in strided:  # the same picture as a full decode shows at that index (scaled the same way)
        full = everything[f.index]
        assert full.index == f.index and f.rgb.shape == (32, 48, 3)
        assert abs(int(f.rgb[20, 30, 0]) - int(full.rgb[40, 60, 0])) <= 2
    decoder = video._Decoder(path, skip_stride=stride)
    decoded = [index for index, _ in decoder]
    assert len(decoded) < 48 and decoder.count == 48  # frames were skipped, and counted
    assert set(range(0, 48, stride)) <= set(decoded)  # every kept frame was decoded


def test_opening_decodes_only_what_it_needs(tmp_path: Path, clip: Path, monkeypatch: pytest.MonkeyPatch):
    """Metadata and packet stamps come from demuxing; one frame is decoded (more only for AVI's clock)."""
    decoded: list[int] = []
    all_frames = video._Decoder._decode_all

    def counting(self, codec, packets):  # type: ignore[no-untyped-def]
        for item in all_frames(self, codec, packets):
            decoded.append(item[0])
            yield item

    monkeypatch.setattr(video._Decoder, "_decode_all", counting)
    open_video(clip)
    assert decoded == [0]
    decoded.clear()
    avi = tmp_path / "bframes.avi"
    with av.open(str(avi), "w") as c:
        s = c.add_stream("libx264", rate=25, options={"bf": "2"})
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for i in range(40):
            c.mux(s.encode(av.VideoFrame.from_ndarray(_pattern(i), format="rgb24")))
        c.mux(s.encode(None))
    assert open_video(avi).info.clock == "dts" and 1 < len(decoded) <= 16


def test_prefetching_gives_the_same_frames_and_stops_with_the_caller(clip: Path):
    def workers() -> int:
        return sum(t.name == "skelrec-video-decode" for t in threading.enumerate())

    ahead, inline = list(open_video(clip, max_side=48)), list(open_video(clip, max_side=48, prefetch=0))
    assert [(f.index, f.time_s) for f in ahead] == [(f.index, f.time_s) for f in inline]
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(ahead, inline, strict=True))
    frames = iter(open_video(clip, prefetch=2))
    next(frames)
    assert workers() == 1
    frames.close()  # the caller stops early: the decoding thread ends and the file is closed
    assert workers() == 0


@pytest.mark.slow
@pytest.mark.shared_data
def test_real_videos(shared_data: Path):
    vtest = open_video(shared_data / "videos/opencv_samples/vtest.avi", stride=10, max_frames=5)
    assert (vtest.width, vtest.height, vtest.fps, vtest.frame_count) == (768, 576, 10, 795)
    assert [(f.index, round(f.time_s, 3)) for f in vtest] == [(i, i / 10) for i in range(0, 50, 10)]
    # H.264 with B-frames in AVI (Kinect colour video of NTU RGB+D): 103 frames, times in order
    ntu = open_video(shared_data / "videos/ntu_rgbd/S001C001P001R001A001_rgb.avi", max_side=256)
    times = np.array([f.time_s for f in ntu])
    assert len(times) == 103 and ntu.output_size == (256, 144)
    np.testing.assert_allclose(times, np.arange(103) / 30, atol=1e-6)
    # stride 2 on 1080p: every other frame, true times (its kept frames are B-frames: all frames are decoded)
    sample = open_video(shared_data / "videos/mmaction2/ntu_sample.avi", stride=2)
    assert (sample.width, sample.height, sample.frame_count, sample.info.clock) == (1920, 1080, 72, "dts")
    assert [(f.index, round(f.time_s, 6)) for f in sample] == [(i, round(i / 30, 6)) for i in range(0, 72, 2)]


@pytest.mark.slow
@pytest.mark.shared_data
def test_real_mp4_with_b_frames_skips_frames_without_changing_kept_ones(shared_data: Path):
    path = shared_data / "videos/mmaction2/demo_test_video_structuralize.mp4"  # 426x240, 300 frames, B-frames
    everything = {f.index: f for f in open_video(path, max_side=128, prefetch=0)}
    strided = list(open_video(path, stride=3, max_side=128))
    assert [f.index for f in strided] == list(range(0, 300, 3))
    for f in strided:
        assert f.time_s == everything[f.index].time_s and np.array_equal(f.rgb, everything[f.index].rgb)
    decoder = video._Decoder(path, skip_stride=3)
    assert sum(1 for _ in decoder) < 250 and decoder.count == 300


def test_a_video_with_an_audio_track_opens_and_decodes(tmp_path: Path):
    """Browser webcam recordings carry audio beside the video: the other streams are skipped, not an error."""
    path = tmp_path / "with_audio.webm"
    with av.open(str(path), "w") as c:
        video = c.add_stream("libvpx", rate=30)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = c.add_stream("libopus", rate=48000)
        samples = np.zeros((1, 960), np.float32)
        for i in range(30):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 8, np.uint8), format="rgb24")
            for packet in video.encode(frame):
                c.mux(packet)
            sound = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
            sound.sample_rate, sound.pts = 48000, i * 960
            for packet in audio.encode(sound):
                c.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode():
                c.mux(packet)
    reader = open_video(path)
    assert len(list(reader)) == 30 and reader.duration == pytest.approx(1.0, abs=0.05)
