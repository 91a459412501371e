"""skelrec.video: streaming decode, true timestamps, rotation, downscaling, and clear errors for bad files."""

from __future__ import annotations

import gc
import inspect
import weakref
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

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
