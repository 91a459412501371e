"""skelrec.pose: MediaPipe backend, PoseSequence, tracker, registry and the extraction cache."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from skelrec.errors import DataFormatError, SkelrecError
from skelrec.pose import (
    Detection,
    MediaPipePoseEstimator,
    MediaPipeTasksPoseEstimator,
    PersonTracker,
    PoseEstimator,
    PoseSequence,
    create_estimator,
    extract_poses,
)
from skelrec.pose.tracking import box_iou
from skelrec.skeleton import get_layout
from skelrec.video import Frame, write_video

MP = get_layout("mediapipe33")
NTU = get_layout("ntu25")


def astronaut_frames(n: int = 30, size: int = 256) -> Iterator[np.ndarray]:
    """The scikit-image astronaut photo (a real person), a crop window sliding right and down while it shrinks."""
    from PIL import Image
    from skimage.data import astronaut

    img = Image.fromarray(astronaut())
    for i in range(n):
        yield np.asarray(img.crop((3 * i, 2 * i, 482 + i, 492 + i)).resize((size, size)))


@pytest.fixture(scope="module")
def astronaut_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("videos") / "astronaut.mp4", astronaut_frames())


@pytest.fixture(scope="module")
def astronaut_poses(astronaut_video: Path) -> PoseSequence:
    return extract_poses(astronaut_video, MediaPipePoseEstimator())


def test_mediapipe_finds_the_astronaut(astronaut_poses: PoseSequence, astronaut_video: Path):
    seq = astronaut_poses
    assert (seq.num_persons, seq.num_frames, seq.width, seq.height, seq.fps) == (1, 30, 256, 256, 30)
    assert seq.present.mean() >= 0.8
    assert seq.source == str(astronaut_video) and seq.settings["backend"] == "mediapipe"
    np.testing.assert_allclose(seq.times, np.arange(30) / 30, atol=1e-6)
    nose = seq.image[0, seq.present[0], MP.index("nose"), :2]
    # her face is around (0.42, 0.25) of the photo; the crop slides right, so the nose moves left in the frame
    assert np.all(np.abs(nose[0] - [0.45, 0.27]) < 0.08)
    assert nose[-1, 0] < nose[0, 0] - 0.03
    # world landmarks are metres around the hip centre
    world = seq.world[0, seq.present[0]]
    hips = world[:, MP.indices(["left_hip", "right_hip"])].mean(axis=1)
    assert np.abs(hips).max() < 0.05 and 0.2 < np.abs(world).max() < 1.5
    assert seq.visibility[0, seq.present[0], MP.index("left_shoulder")].mean() > 0.9


def test_to_skeleton_gives_skelrec_axes_in_any_layout(astronaut_poses: PoseSequence):
    seq = astronaut_poses
    ntu = seq.to_skeleton("ntu25")
    assert ntu.shape == (1, 30, 25, 3) and ntu.dtype == np.float32
    t = int(np.argmax(seq.present[0]))
    head, base = ntu[0, t, NTU.index("head")], ntu[0, t, NTU.index("spine_base")]
    assert head[1] > base[1] + 0.3  # y up
    # unmirrored photo of a person facing the camera: her right shoulder is on the image left, +x in skelrec
    right, left = ntu[0, t, NTU.index("right_shoulder")], ntu[0, t, NTU.index("left_shoulder")]
    assert right[0] > left[0]
    mirrored = seq.with_mirrored(True).to_skeleton("ntu25")
    assert mirrored[0, t, NTU.index("right_shoulder"), 0] > mirrored[0, t, NTU.index("left_shoulder"), 0]
    np.testing.assert_allclose(
        mirrored[0, t, NTU.index("right_shoulder")], seq.world[0, t, MP.index("left_shoulder")] * [1, -1, 1]
    )
    assert seq.to_skeleton("coco17", confidence=True).shape == (1, 30, 17, 4)
    px = seq.image_joints("ntu25")[0, t, NTU.index("head"), :2] * [seq.width, seq.height]
    assert 80 < px[0] < 160 and 20 < px[1] < 110  # her head, in pixels of the 256x256 frames


def test_a_video_without_people_gives_an_all_absent_sequence(tmp_path: Path):
    rng = np.random.default_rng(0)
    blank = write_video(
        tmp_path / "blank.mp4", (np.full((128, 128, 3), 90 + rng.integers(0, 8), np.uint8) for _ in range(15))
    )
    seq = extract_poses(blank, MediaPipePoseEstimator())
    assert seq.num_frames == 15 and not seq.present.any() and seq.detection_rate == 0.0
    assert not seq.to_skeleton("ntu25").any() and not seq.image.any()


# ------------------------------------------------------------------------------------------------------------------
# A scripted backend: lets the shared estimate/tracking/cache code be tested without a model.
# ------------------------------------------------------------------------------------------------------------------


def person(cx: float, cy: float = 0.5, size: float = 0.2, vis: float = 0.9) -> Detection:
    """A fake 33-landmark person: landmarks spread over a box of ``size`` around ``(cx, cy)``."""
    rng = np.random.default_rng(int(cx * 1000))
    image = np.zeros((33, 3), np.float32)
    image[:, :2] = np.array([cx, cy]) + rng.uniform(-size / 2, size / 2, (33, 2))
    return Detection(image=image, world=image * 2 - 1, visibility=np.full(33, vis, np.float32))


class ScriptedEstimator(PoseEstimator):
    """Returns ``script[frame.index]`` (a list of detections) and counts frames and detector sessions."""

    name: ClassVar[str] = "scripted"

    def __init__(self, script: dict[int, list[Detection]] | None = None, persons: int = 2) -> None:
        self.script, self.persons, self.frames_seen, self.sessions = script or {}, persons, 0, 0

    @property
    def max_persons(self) -> int:
        return self.persons

    def settings(self) -> dict[str, Any]:
        return {"backend": self.name, "persons": self.persons}

    @contextmanager
    def detector(self) -> Iterator:
        self.sessions += 1

        def detect(frame: Frame) -> list[Detection]:
            self.frames_seen += 1
            return self.script.get(frame.index, [])

        yield detect


def frames(n: int) -> list[Frame]:
    return [Frame(i, i / 10, np.zeros((48, 64, 3), np.uint8)) for i in range(n)]


def test_estimate_keeps_identities_when_detection_order_changes():
    a, b = [person(0.2 + 0.01 * t) for t in range(6)], [person(0.7 - 0.01 * t, size=0.3) for t in range(6)]
    script = {t: ([a[t], b[t]] if t % 2 else [b[t], a[t]]) for t in range(6)}
    del script[3]  # nobody in frame 3
    script[4] = [b[4]]  # only b in frame 4
    seq = ScriptedEstimator(script).estimate(frames(6))
    assert seq.image.shape == (2, 6, 33, 3) and (seq.width, seq.height, seq.fps) == (64, 48, pytest.approx(10))
    # b is seen more often, so it is track 0; frames stay, absent ones are zero
    np.testing.assert_array_equal(seq.present, [[1, 1, 1, 0, 1, 1], [1, 1, 1, 0, 0, 1]])
    for t in (0, 1, 2, 5):
        np.testing.assert_array_equal(seq.image[0, t], b[t].image)
        np.testing.assert_array_equal(seq.image[1, t], a[t].image)
        np.testing.assert_array_equal(seq.world[1, t], a[t].world)
    assert not seq.image[:, 3].any() and not seq.image[1, 4].any()
    np.testing.assert_allclose(seq.times, np.arange(6) / 10)


def test_tracker_matches_by_overlap_then_centre_and_reuses_slots_after_max_age():
    tracker = PersonTracker(2, max_age=2)
    left, right = np.array([0.1, 0.1, 0.3, 0.9]), np.array([0.6, 0.1, 0.8, 0.9])
    assert tracker.update([left, right]) == [0, 1]
    assert tracker.update([right + 0.02, left + 0.02]) == [1, 0]  # overlap decides, not list order
    shifted = left + np.array([0.25, 0, 0.25, 0])  # fast motion without overlap: the nearest centre (0.1 away) wins
    assert box_iou(shifted[None], (left + 0.02)[None])[0, 0] == 0
    tracker.max_center_distance = 0.3
    assert tracker.update([shifted]) == [0]
    third = np.array([0.0, 0.0, 0.05, 0.05])
    assert tracker.update([shifted, right, third]) == [0, 1, -1]  # no free slot: dropped
    for _ in range(3):
        tracker.update([shifted])  # slot 1 is not seen for 3 frames > max_age
    assert tracker.update([shifted, third]) == [0, 1]  # ... so a new person may take it
    assert tracker.update([]) == []


def test_tracker_gives_free_slots_to_the_largest_people_first():
    tracker = PersonTracker(1)
    small, big = np.array([0.0, 0.0, 0.1, 0.1]), np.array([0.5, 0.5, 0.9, 0.9])
    assert tracker.update([small, big]) == [-1, 0]


def test_pose_sequence_save_and_load_round_trip(tmp_path: Path):
    seq = ScriptedEstimator({0: [person(0.3)], 2: [person(0.35)]}, persons=1).estimate(frames(3), mirrored=True)
    path = seq.save(tmp_path / "sub" / "poses.npz")
    back = PoseSequence.load(path)
    for name in ("image", "world", "visibility", "present", "times", "frame_index"):
        np.testing.assert_array_equal(getattr(back, name), getattr(seq, name))
    assert (back.mirrored, back.settings, back.fps, back.layout) == (True, seq.settings, seq.fps, "mediapipe33")
    assert [p.name for p in path.parent.iterdir()] == ["poses.npz"]  # no temporary file left behind
    (tmp_path / "junk.npz").write_bytes(b"not an npz")
    with pytest.raises(DataFormatError, match=r"junk\.npz: not a readable pose file"):
        PoseSequence.load(tmp_path / "junk.npz")


def test_extract_poses_cache_hit_skips_the_estimator(tmp_path: Path):
    video = write_video(tmp_path / "a.mp4", (np.full((32, 32, 3), 10 * i, np.uint8) for i in range(6)))
    est = ScriptedEstimator({1: [person(0.5)]}, persons=1)
    first = extract_poses(video, est, cache_dir=tmp_path / "cache")
    assert (est.sessions, est.frames_seen) == (1, 6) and first.present[0].tolist() == [0, 1, 0, 0, 0, 0]
    again = extract_poses(video, est, cache_dir=tmp_path / "cache", mirrored=True)
    assert (est.sessions, est.frames_seen) == (1, 6)  # loaded, not recomputed
    np.testing.assert_array_equal(again.image, first.image)
    assert again.mirrored and not first.mirrored
    moved = video.rename(tmp_path / "renamed.mp4")  # the key is the content, not the name
    assert extract_poses(moved, est, cache_dir=tmp_path / "cache").source == str(moved)
    assert est.sessions == 1
    extract_poses(moved, est, stride=2, cache_dir=tmp_path / "cache")  # other settings: computed again
    assert (est.sessions, est.frames_seen) == (2, 9)
    for entry in (tmp_path / "cache").iterdir():
        entry.write_bytes(b"damaged")
    extract_poses(moved, est, cache_dir=tmp_path / "cache")  # an unreadable entry is recomputed, not fatal
    assert est.sessions == 3
    with pytest.raises(SkelrecError, match="cannot read the video file"):
        extract_poses(tmp_path / "missing.mp4", est, cache_dir=tmp_path / "cache")


def test_registry_and_backend_options(tmp_path: Path):
    assert isinstance(create_estimator("mediapipe", min_detection_confidence=0.3), MediaPipePoseEstimator)
    with pytest.raises(SkelrecError, match=r"^unknown pose backend 'openpose'; choose from mediapipe, mediapipe_task"):
        create_estimator("openpose")
    with pytest.raises(SkelrecError, match="between 0 and 1"):
        MediaPipePoseEstimator(min_tracking_confidence=1.5)
    with pytest.raises(SkelrecError, match="model_complexity=1"):
        MediaPipePoseEstimator(model_complexity=2)
    with pytest.raises(SkelrecError, match=r"download pose_landmarker_full\.task"):
        create_estimator("mediapipe_tasks", model_path=tmp_path / "missing.task")
    junk = tmp_path / "junk.task"
    junk.write_bytes(b"not a model")
    est = MediaPipeTasksPoseEstimator(junk, max_persons=3)
    assert est.max_persons == 3 and est.settings()["model"] == "junk.task"
    with pytest.raises(SkelrecError, match=r"junk\.task: not a usable PoseLandmarker model"), est.detector():
        pass


@pytest.mark.slow
@pytest.mark.shared_data
def test_real_videos_with_and_without_people(shared_data: Path):
    videos = shared_data / "videos"
    nobody = extract_poses(videos / "opencv_samples/vtest.avi", MediaPipePoseEstimator(), max_frames=60)
    assert nobody.num_frames == 60 and not nobody.present.any()
    ntu = extract_poses(videos / "mmaction2/ntu_sample.avi", MediaPipePoseEstimator(), max_side=512)
    assert ntu.num_frames == 72 and ntu.present.all() and (ntu.width, ntu.height) == (1920, 1080)
