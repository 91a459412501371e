"""skelrec.labeling: windows, smoothing, segments, writers, the Labeler (synthetic poses and the real MediaPipe path)
and the overlay renderer.

The classifier checkpoints are built here: a tiny transformer fitted in a second on synthetic MediaPipe poses of
three postures (left arm raised, right arm raised, both arms down). They exist to test the pipeline, not as models.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import torch

from skelrec.config import DataConfig, config_to_dict
from skelrec.datasets.transforms import build_transform
from skelrec.errors import SkelrecError
from skelrec.hub import CheckpointConfig, architecture, save_checkpoint
from skelrec.labeling import (
    NO_ACTION,
    NO_PERSON,
    NO_PERSON_FOUND,
    Decision,
    Labeler,
    ModelInput,
    PoseOptions,
    Smoothing,
    clip_seconds,
    decide,
    merge_segments,
    parse_formats,
    plan_windows,
    write_outputs,
)
from skelrec.labeling.batch import collect_jobs, label_batch
from skelrec.labeling.render import OverlayPainter, render_overlay
from skelrec.labeling.writers import srt_time
from skelrec.models import Classifier, build_encoder, build_head
from skelrec.pose import PoseSequence
from skelrec.skeleton import Normalization, get_layout, normalize, resample_frames
from skelrec.video import open_video, write_video

MP = get_layout("mediapipe33")
LABELS = ["raise left", "raise right", "rest"]
FPS = 20.0
CLIP = 16

# ------------------------------------------------------------------------------------------------------------------
# Synthetic MediaPipe poses (world landmarks: metres, hip-centred, x image-right, y down, z away).
# A person facing the camera has their left side on the image right: left_* joints have x > 0.
# ------------------------------------------------------------------------------------------------------------------

_HALF = {  # (x, y, z) of the left-side joint; the right side mirrors x
    "eye_inner": (0.02, -0.65, -0.09),
    "eye": (0.035, -0.65, -0.09),
    "eye_outer": (0.05, -0.65, -0.08),
    "ear": (0.08, -0.63, 0.0),
    "shoulder": (0.18, -0.45, 0.0),
    "hip": (0.1, 0.0, 0.0),
    "knee": (0.1, 0.42, 0.0),
    "ankle": (0.1, 0.82, 0.02),
    "heel": (0.1, 0.86, 0.05),
    "foot_index": (0.1, 0.88, -0.08),
}
_ARM = {
    "down": {"elbow": (0.22, -0.2, 0.0), "wrist": (0.24, 0.02, 0.0)},
    "up": {"elbow": (0.22, -0.7, 0.0), "wrist": (0.24, -0.95, 0.0)},
}


def posture(left: str, right: str) -> np.ndarray:
    """``(33, 3)`` MediaPipe world landmarks with each arm ``"up"`` or ``"down"``."""
    out = np.zeros((33, 3), np.float32)
    out[MP.index("nose")] = (0.0, -0.62, -0.1)
    out[MP.index("mouth_left")], out[MP.index("mouth_right")] = (0.025, -0.58, -0.09), (-0.025, -0.58, -0.09)
    for side, sign, arm in (("left", 1, left), ("right", -1, right)):
        joints = {**_HALF, **_ARM[arm]}
        for name, (x, y, z) in joints.items():
            out[MP.index(f"{side}_{name}")] = (sign * x, y, z)
        wx, wy, wz = joints["wrist"]
        tip = -0.06 if arm == "up" else 0.06
        for finger in ("pinky", "index", "thumb"):
            out[MP.index(f"{side}_{finger}")] = (sign * wx, wy + tip, wz)
    return out


POSTURES = {"raise left": ("up", "down"), "raise right": ("down", "up"), "rest": ("down", "down")}


def synthetic_poses(
    script: Sequence[tuple[str | None, float]], *, fps: float = FPS, seed: int = 0, mirrored: bool = False
) -> PoseSequence:
    """A one-person sequence from ``[(posture name or None for nobody, seconds), ...]`` with small jitter."""
    rng = np.random.default_rng(seed)
    rows, present = [], []
    for name, seconds in script:
        for _ in range(round(seconds * fps)):
            rows.append(posture(*POSTURES[name]) if name else np.zeros((33, 3), np.float32))
            present.append(name is not None)
    world = np.stack(rows)[None] * rng.uniform(0.9, 1.1)
    world += rng.normal(0, 0.01, world.shape).astype(np.float32)
    pres = np.array(present)[None]
    world[~pres] = 0
    t = world.shape[1]
    image = np.zeros_like(world)
    image[..., :2] = world[..., :2] * 0.35 + 0.5
    image[~pres] = 0
    return PoseSequence(
        image=image,
        world=world,
        visibility=np.where(pres[..., None], 0.9, 0.0) * np.ones((1, t, 33), np.float32),
        present=pres,
        times=np.arange(t) / fps,
        frame_index=np.arange(t),
        fps=fps,
        width=256,
        height=256,
        mirrored=mirrored,
        source="",
    )


# ------------------------------------------------------------------------------------------------------------------
# Checkpoints.
# ------------------------------------------------------------------------------------------------------------------


def tiny_classifier(classes: int = 3, channels: int = 3, joints: int = 25) -> Classifier:
    torch.manual_seed(0)
    encoder = build_encoder(
        "transformer", in_channels=channels, num_joints=joints, num_frames=CLIP, depth=1, embed_dim=16, num_heads=2
    )
    return Classifier(encoder, build_head("linear", in_dim=16, num_classes=classes, batch_norm=False))


def checkpoint_config(model: Classifier, **fields: Any) -> dict[str, Any]:
    return {
        **architecture(model),
        "layout": "ntu25",
        "normalization": {"center": "frame", "scale": "torso"},
        "clip_length": CLIP,
        "num_persons": 1,
        "labels": LABELS,
        "clip_seconds": 1.0,
        **fields,
    }


def save_model(folder: Path, model: Classifier | torch.nn.Module, config: dict[str, Any]) -> Path:
    return save_checkpoint(folder, model.state_dict(), config)


def fit_posture_model(folder: Path) -> Path:
    """Fit the tiny classifier on windows of synthetic postures, through the labeler's own input pipeline."""
    model = tiny_classifier()
    config = checkpoint_config(model)
    spec = ModelInput.from_config(CheckpointConfig.coerce(config), source="test", in_channels=3)
    xs, ms, ys = [], [], []
    for seed in range(12):
        for y, name in enumerate(LABELS):
            skel = synthetic_poses([(name, 1.0)], seed=100 * seed + y).to_skeleton("ntu25")
            x, m = spec(skel)
            xs.append(x), ms.append(m), ys.append(y)
    x, m, y = torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ms)), torch.tensor(ys)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread is ~15x faster than two on a busy 2-core machine
    try:
        for _ in range(80):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x, m), y).backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    with torch.no_grad():
        assert (model(x, m).argmax(-1) == y).float().mean() == 1.0
    return save_model(folder, model, config)


@pytest.fixture(scope="module")
def posture_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit_posture_model(tmp_path_factory.mktemp("models") / "postures")


@pytest.fixture(scope="module")
def labeler(posture_model: Path) -> Labeler:
    return Labeler.from_pretrained(posture_model, device="cpu", smoothing="moving_average:3", min_confidence=0.5)


# ------------------------------------------------------------------------------------------------------------------
# Windows, smoothing, decisions, segments.
# ------------------------------------------------------------------------------------------------------------------


def test_windows_tile_the_time_line():
    times = np.arange(100) / 20  # 5 s at 20 fps
    ws = plan_windows(times, length=1.0, stride=0.5)
    assert [w.start for w in ws] == [0.5 * k for k in range(9)] and ws[-1].end == 5.0
    assert all(w.stop - w.first == 20 for w in ws)
    assert ws[0].slot_start == 0.0 and ws[-1].slot_end == 5.0
    assert all(a.slot_end == b.slot_start for a, b in itertools.pairwise(ws))
    # the last window is aligned to the end when the stride does not reach it
    ws = plan_windows(times[:90], length=1.0, stride=0.75)
    assert [w.start for w in ws][-2:] == [3.0, 3.5] and ws[-1].end == 4.5
    # shorter than a window: one window over everything
    (w,) = plan_windows(times[:10], length=1.0, stride=0.5)
    assert (w.start, w.end, w.first, w.stop) == (0.0, 0.5, 0, 10)
    # variable frame rate: windows are seconds, frame counts follow the clock
    vfr = np.concatenate([np.arange(20) / 20, 1 + np.arange(40) / 40])
    ws = plan_windows(vfr, length=1.0, stride=1.0)
    assert [w.stop - w.first for w in ws] == [20, 40]
    with pytest.raises(SkelrecError, match="must be > 0"):
        plan_windows(times, length=0, stride=1)
    assert plan_windows(np.zeros(0), length=1, stride=1) == []


def test_smoothing_methods_skip_windows_without_a_person():
    probs = np.array([[1.0, 0], [0, 1], [1, 0], [0.5, 0.5], [0, 1]], np.float32)
    valid = np.array([True, True, True, False, True])
    ma = Smoothing("moving_average", size=3)(probs, valid)
    np.testing.assert_allclose(ma[1], [2 / 3, 1 / 3], atol=1e-6)
    np.testing.assert_allclose(ma[2], [0.5, 0.5], atol=1e-6)  # the invalid neighbour does not count
    np.testing.assert_allclose(ma[3], [0, 0])
    np.testing.assert_allclose(ma[4], [0, 1])
    ema = Smoothing("ema", alpha=0.5)(probs, valid)
    np.testing.assert_allclose(ema[:3], [[1, 0], [0.5, 0.5], [0.75, 0.25]])
    np.testing.assert_allclose(ema[4], [0, 1])  # restarted after the gap
    np.testing.assert_allclose(Smoothing("none")(probs, valid)[:3], probs[:3])
    np.testing.assert_allclose(Smoothing("moving_average", size=5)(probs[:2], valid[:2]), [[0.5, 0.5]] * 2)
    assert Smoothing.parse("ema:0.3") == Smoothing("ema", alpha=0.3)
    assert Smoothing.parse("moving_average:5").size == 5
    for bad, message in (("median", "unknown smoothing"), ("ema:x", "not a number"), ("ema:2", "alpha")):
        with pytest.raises(SkelrecError, match=message):
            Smoothing.parse(bad)


def test_decisions_and_segments():
    ws = plan_windows(np.arange(60) / 10, length=1.0, stride=1.0)  # six 1 s windows
    smoothed = np.array([[0.9, 0.1], [0.8, 0.2], [0.55, 0.45], [0.1, 0.9], [0, 0], [0.2, 0.8]], np.float32)
    visible = np.array([1, 1, 1, 0.9, 0.2, 1.0])
    d = decide(smoothed, visible, ["a", "b"], min_confidence=0.6, min_visible=0.5)
    assert [x.state for x in d] == ["action", "action", "uncertain", "action", "no_person", "action"]
    assert d[2] == Decision("uncertain", NO_ACTION, pytest.approx(0.55))
    segs = merge_segments(ws, d)
    assert [(s.start, s.end, s.label) for s in segs] == [
        (0.0, 2.0, "a"),
        (2.0, 3.0, NO_ACTION),
        (3.0, 4.0, "b"),
        (4.0, 5.0, NO_PERSON),
        (5.0, 6.0, "b"),
    ]
    assert segs[0].score == pytest.approx(0.85) and segs[3].score is None


def test_a_models_own_no_action_class_is_never_an_action():
    """A classifier trained with the background class (e.g. ``build_interactions_model.py --background``): its
    windows whose top class is "no action" are no action however confident, and merge with the uncertain ones."""
    ws = plan_windows(np.arange(40) / 10, length=1.0, stride=1.0)  # four 1 s windows
    smoothed = np.array([[0.9, 0.05, 0.05], [0.1, 0.2, 0.7], [0.4, 0.3, 0.3], [0.1, 0.8, 0.1]], np.float32)
    d = decide(smoothed, np.ones(4), ["a", "b", NO_ACTION], min_confidence=0.5, min_visible=0.5)
    assert [(x.state, x.label) for x in d] == [
        ("action", "a"),
        ("uncertain", NO_ACTION),
        ("uncertain", NO_ACTION),
        ("action", "b"),
    ]
    segs = merge_segments(ws, d)
    assert [(s.start, s.end, s.label, s.state) for s in segs] == [
        (0.0, 1.0, "a", "action"),
        (1.0, 3.0, NO_ACTION, "uncertain"),
        (3.0, 4.0, "b", "action"),
    ]


# ------------------------------------------------------------------------------------------------------------------
# Model input: the checkpoint's normalization, through the training evaluation pipeline.
# ------------------------------------------------------------------------------------------------------------------


def test_model_input_applies_the_checkpoint_normalization():
    skel = synthetic_poses([("raise left", 1.3)]).to_skeleton("ntu25")  # (1, 26, 25, 3)
    model = tiny_classifier()
    norm = {"center": "frame", "scale": "torso", "align": True}
    config = CheckpointConfig.coerce(checkpoint_config(model, normalization=norm))
    spec = ModelInput.from_config(config, source="t", in_channels=3)
    x, mask = spec(skel)
    assert x.shape == (1, CLIP, 25, 3) and mask.all()
    ref, ref_mask = normalize(skel, "ntu25", Normalization(**norm))
    ref, _ = resample_frames(ref, ref_mask, CLIP)
    np.testing.assert_allclose(x, ref, atol=1e-6)
    # with a training data section, its evaluation pipeline is used as is (here: a 90% centre crop, 2 persons)
    data = DataConfig(layout="ntu25", clip_length=CLIP, persons=2, normalization=Normalization(scale="torso"))
    data.test_crop = 0.9
    cfg = CheckpointConfig.coerce(checkpoint_config(model, data=config_to_dict(data), num_persons=2))
    x2, m2 = ModelInput.from_config(cfg, source="t", in_channels=3)(skel)
    ex, _ = build_transform(data, train=False)(skel)
    assert x2.shape == (2, CLIP, 25, 3) and not m2[1].any()
    np.testing.assert_array_equal(x2, ex)
    assert not np.allclose(x2[0], x)
    # window seconds: clip_seconds, else clip_length / fps, else clip_length / 30
    sixty = CheckpointConfig.coerce(checkpoint_config(model, clip_length=60, clip_seconds=None))
    assert clip_seconds(sixty.updated(clip_seconds=2.5)) == 2.5
    assert clip_seconds(sixty.updated(fps=15)) == 4.0
    assert clip_seconds(sixty) == 2.0


# ------------------------------------------------------------------------------------------------------------------
# The Labeler on synthetic poses.
# ------------------------------------------------------------------------------------------------------------------


def test_labeler_segments_follow_the_actions(labeler: Labeler):
    poses = synthetic_poses([("raise left", 2.5), ("rest", 2.5), (None, 1.0)], seed=7)
    stages: list[tuple[str, int, int]] = []
    result = labeler.label_poses(poses, progress=lambda *a: stages.append(a))
    segs = [(s.label, s.start, s.end) for s in result.segments]
    assert [s[0] for s in segs] == ["raise left", "rest", NO_PERSON], segs
    assert abs(segs[0][2] - 2.5) <= 0.5 and abs(segs[1][2] - 5.0) <= 0.5 and segs[2][2] == pytest.approx(6.0)
    assert result.segments[0].score > 0.8
    assert result.status == "ok" and result.pose.frames_with_person == 100 and result.pose.frames_processed == 120
    assert result.summary(1)[0]["label"] in ("raise left", "rest")
    assert stages and stages[-1][0] == "classify" and stages[-1][1] == stages[-1][2]
    # the no-person windows were not sent to the model
    no_person = [i for i, d in enumerate(result.decisions) if d.state == "no_person"]
    assert no_person and not result.probabilities[no_person].any()
    # on a mirrored video MediaPipe names the sides the wrong way round: the raised arm is the subject's right
    mirrored = labeler.label_poses(poses.with_mirrored(True))
    assert mirrored.segments[0].label == "raise right"
    assert mirrored.settings["mirrored"] is True


def test_low_confidence_is_no_action_and_no_person_is_said(posture_model: Path):
    strict = Labeler.from_pretrained(posture_model, device="cpu", min_confidence=1.0, smoothing="none")
    result = strict.label_poses(synthetic_poses([("rest", 2.0)]))
    assert {d.state for d in result.decisions} == {"uncertain"} and result.segments[0].label == NO_ACTION
    nobody = strict.label_poses(synthetic_poses([(None, 2.0)]))
    assert nobody.status == NO_PERSON_FOUND and [s.label for s in nobody.segments] == [NO_PERSON]
    assert nobody.summary() == [] and all(w["top"] == [] for w in nobody.window_dicts())


def test_window_and_stride_settings(posture_model: Path):
    lab = Labeler.from_pretrained(posture_model, device="cpu", window=2.0, stride=1.0, top_k=2)
    threads = torch.get_num_threads()
    result = lab.label_poses(synthetic_poses([("rest", 5.0)]))
    assert torch.get_num_threads() == threads  # cpu_threads=1 applies to the model calls only
    assert [(w.start, w.end) for w in result.windows] == [(0, 2), (1, 3), (2, 4), (3, 5)]
    assert all(len(w["top"]) == 2 for w in result.window_dicts())
    assert result.settings["window"] == 2.0 and result.settings["window_stride"] == 1.0
    assert Labeler.from_pretrained(posture_model, device="cpu").window == 1.0  # the checkpoint's clip_seconds


def test_checkpoints_the_labeler_cannot_use(tmp_path: Path, posture_model: Path):
    model = tiny_classifier(joints=20)
    save_model(tmp_path / "utd", model, checkpoint_config(model, layout="utd_mhad20"))
    with pytest.raises(SkelrecError, match=r"takes utd_mhad20 skeletons, which cannot be built from .* mediapipe33"):
        Labeler.from_pretrained(tmp_path / "utd", device="cpu")
    encoder = tiny_classifier().encoder
    save_model(tmp_path / "enc", encoder, {**checkpoint_config(tiny_classifier()), **architecture(encoder)})
    with pytest.raises(SkelrecError, match="without a classification head"):
        Labeler.from_pretrained(tmp_path / "enc", device="cpu")
    model = tiny_classifier()
    save_model(tmp_path / "nolabels", model, checkpoint_config(model, labels=None))
    with pytest.raises(SkelrecError, match="no list of label names"):
        Labeler.from_pretrained(tmp_path / "nolabels", device="cpu")
    save_model(tmp_path / "twolabels", model, checkpoint_config(model, labels=["a", "b"]))
    with pytest.raises(SkelrecError, match="outputs 3 classes but its config lists 2 labels"):
        Labeler.from_pretrained(tmp_path / "twolabels", device="cpu")
    with pytest.raises(SkelrecError, match=r"is not a Hub repo id .* nor an existing model folder"):
        Labeler.from_pretrained(str(tmp_path / "missing"), device="cpu")
    with pytest.raises(SkelrecError, match="unknown device"):
        Labeler.from_pretrained(posture_model, device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(SkelrecError, match="CUDA is not available"):
            Labeler.from_pretrained(posture_model, device="cuda")
    with pytest.raises(SkelrecError, match="min_confidence"):
        Labeler.from_pretrained(posture_model, device="cpu", min_confidence=2)


def test_unknown_hub_model_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(SkelrecError, match="no-such/model"):
        Labeler.from_pretrained("no-such/model", device="cpu")


# ------------------------------------------------------------------------------------------------------------------
# Output files.
# ------------------------------------------------------------------------------------------------------------------


def test_writers(tmp_path: Path, labeler: Labeler):
    result = labeler.label_poses(synthetic_poses([("raise right", 2.0), (None, 1.0)]))
    paths = write_outputs(result, tmp_path, "clip", ["srt", "csv", "json"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.csv", "clip.json", "clip.srt"]  # no temporary files
    doc = json.loads(paths["json"].read_text())
    for key in ("video", "fps", "frames", "duration", "model", "segments", "windows", "pose", "settings", "summary"):
        assert key in doc
    assert doc["frames"] == 60 and doc["duration"] == pytest.approx(3.0) and doc["model"]["labels"] == LABELS
    assert doc["pose"]["frames_with_person"] == 40 and doc["pose"]["frames_processed"] == 60
    assert doc["segments"][0]["label"] == "raise right" and doc["segments"][-1]["label"] == NO_PERSON
    assert {"start", "end", "label", "score", "top", "state", "visible"} <= set(doc["windows"][0])
    rows = paths["csv"].read_text().splitlines()
    assert rows[0] == "start,end,label,score,state" and rows[1].startswith("0.0,") and rows[-1].endswith(",,no_person")
    assert len(rows) == 1 + len(doc["segments"])
    srt = paths["srt"].read_text()
    assert srt.startswith("1\n00:00:00,000 --> 00:00:0") and "raise right (" in srt and NO_PERSON not in srt
    assert srt_time(3725.5) == "01:02:05,500"
    with pytest.raises(SkelrecError, match=r"^unknown output format 'xml'; choose from json, csv, srt$"):
        parse_formats("json,xml")
    with pytest.raises(SkelrecError, match=r"^no output format given; choose from json, csv, srt$"):
        parse_formats(" , ")


def test_label_batch_on_pose_files(tmp_path: Path, posture_model: Path):
    labeler = Labeler.from_pretrained(posture_model, device="cpu")
    poses = synthetic_poses([("raise left", 2.0)])
    poses.source = str(tmp_path / "gone.mp4")
    pose_file = poses.save(tmp_path / "in" / "clip.npz")
    out = tmp_path / "out"
    seen: list[str] = []

    class Recorder:
        def start(self, total: int) -> None:
            seen.append(f"start {total}")

        def video(self, name: str):
            return lambda stage, done, total: seen.append(stage)

        def done(self, outcome) -> None:
            seen.append(outcome.status)

    report = label_batch(labeler, [pose_file], out, formats="csv", overlay=True, progress=Recorder())
    (outcome,) = report.outcomes
    assert outcome.status == "labelled" and "no overlay: source video" in outcome.message
    assert sorted(outcome.outputs) == ["csv", "json"] and seen[0] == "start 1" and seen[-1] == "labelled"
    assert json.loads((out / "clip.json").read_text())["segments"][0]["label"] == "raise left"
    assert label_batch(labeler, [pose_file], out, formats="csv").outcomes[0].status == "skipped"
    assert label_batch(labeler, [pose_file], out, formats="csv", force=True).outcomes[0].status == "labelled"
    assert not report.failed and report.describe().endswith("1 labelled, 0 skipped, 0 failed")


def test_collect_jobs(tmp_path: Path):
    for rel in ("a/x.mp4", "b/x.mp4", "b/y.MOV", "b/.poses/z.mp4", "b/notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    (tmp_path / "empty").mkdir()
    jobs, problems = collect_jobs([tmp_path / "a", tmp_path / "b", tmp_path / "missing.mp4", tmp_path / "empty"])
    assert [(j.source.relative_to(tmp_path).as_posix(), j.stem) for j in jobs] == [
        ("a/x.mp4", "a_x"),
        ("b/x.mp4", "b_x"),
        ("b/y.MOV", "y"),
        ("missing.mp4", "missing"),
    ]
    assert [(p.source.name, p.status) for p in problems] == [("empty", "failed")]
    assert "no video files" in problems[0].message


# ------------------------------------------------------------------------------------------------------------------
# The real path: a video of a real person (scikit-image's public-domain astronaut photo), the real MediaPipe.
# ------------------------------------------------------------------------------------------------------------------


def astronaut_frames(seconds: float = 2.5, fps: float = 30, size: int = 256) -> Iterator[np.ndarray]:
    """The astronaut photo, its crop swaying left-right and up-down like a handheld camera."""
    from PIL import Image
    from skimage.data import astronaut

    img = Image.fromarray(astronaut())
    for i in range(round(seconds * fps)):
        a = 2 * np.pi * i / fps
        dx, dy = round(20 * np.sin(a)), round(10 * np.cos(a))
        yield np.asarray(img.crop((20 + dx, 10 + dy, 470 + dx, 480 + dy)).resize((size, size)))


def make_astronaut_video(path: Path, seconds: float = 2.5) -> Path:
    return write_video(path, astronaut_frames(seconds))


@pytest.fixture(scope="module")
def astronaut_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_astronaut_video(tmp_path_factory.mktemp("videos") / "astronaut.mp4")


@pytest.mark.slow
def test_real_video_end_to_end_with_overlay(tmp_path: Path, posture_model: Path, astronaut_video: Path):
    lab = Labeler.from_pretrained(posture_model, device="cpu", pose_cache=tmp_path / "poses", min_confidence=0.0)
    events: list[tuple[str, int, int]] = []
    result = lab.label(astronaut_video, progress=lambda *event: events.append(event))
    assert (result.fps, result.frames, result.duration) == (30, 75, 2.5)
    assert result.pose.frames_processed == 75 and result.pose.detection_rate >= 0.9
    assert [(w.start, w.end) for w in result.windows] == [(0, 1), (0.5, 1.5), (1, 2), (1.5, 2.5)]
    assert result.segments[0].start == 0.0 and result.segments[-1].end == pytest.approx(2.5)
    assert {s.state for s in result.segments} == {"action"}  # min_confidence 0: every window with a person
    pose_events = [e for e in events if e[0] == "pose"]
    assert len(pose_events) == 75 and pose_events[-1] == ("pose", 75, 75) and events[-1][0] == "classify"
    assert len(list((tmp_path / "poses").glob("*.npz"))) == 1
    # the cached poses are used again (no pose progress), giving the same result
    again: list[str] = []
    result2 = lab.label(astronaut_video, progress=lambda stage, done, total: again.append(stage))
    assert "pose" not in again
    np.testing.assert_allclose(result2.probabilities, result.probabilities, atol=1e-6)

    out = render_overlay(astronaut_video, result, tmp_path / "overlay.mp4")
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.name, s.codec_context.pix_fmt) == ("h264", "yuv420p")
    reader = open_video(out)
    assert (reader.frame_count, reader.width, reader.height) == (75, 256, 256)
    drawn = next(iter(reader)).rgb.astype(int)
    source = next(iter(open_video(astronaut_video))).rgb.astype(int)
    painter = OverlayPainter(result, (256, 256))
    bar = painter.bar_h
    assert np.abs(drawn[-bar + 2 :, 20:] - source[-bar + 2 :, 20:]).mean() > 30  # the timeline bar
    assert np.abs(drawn[:10, :40] - source[:10, :40]).mean() > 20  # the label box
    head = result.poses.image_joints("ntu25")[0, 0, get_layout("ntu25").index("spine_shoulder"), :2] * 256
    x, y = np.round(head).astype(int)
    assert np.abs(drawn[y - 2 : y + 3, x - 2 : x + 3] - source[y - 2 : y + 3, x - 2 : x + 3]).mean() > 20  # skeleton
    assert sorted(p.name for p in tmp_path.iterdir()) == ["overlay.mp4", "poses"]


@pytest.mark.slow
def test_pose_options_limit_the_work(tmp_path: Path, posture_model: Path, astronaut_video: Path):
    lab = Labeler.from_pretrained(posture_model, device="cpu", pose=PoseOptions(frame_stride=2, max_frames=20))
    result = lab.label(astronaut_video)
    assert result.pose.frames_processed == 20 and result.poses.frame_index[-1] == 38
    assert result.segments[-1].end == pytest.approx(40 / 30)
    out = render_overlay(astronaut_video, result, tmp_path / "short.mp4")
    assert open_video(out).frame_count == 40


@pytest.mark.slow
@pytest.mark.shared_data
def test_real_footage(shared_data: Path, posture_model: Path):
    videos = shared_data / "videos"
    lab = Labeler.from_pretrained(posture_model, device="cpu", pose=PoseOptions(max_frames=45, max_side=640))
    ntu = lab.label(videos / "mmaction2/ntu_sample.avi")  # NTU-120, 1080p, two people
    assert ntu.pose.frames_processed == 45 and ntu.pose.detection_rate == 1.0 and ntu.status == "ok"
    assert ntu.fps == 30 and ntu.frames == 72
    gym = lab.label(videos / "mmaction2/demo_test_video_structuralize.mp4")
    assert gym.pose.detection_rate > 0.8 and gym.segments
    # people too small for MediaPipe: a result that says so, not a crash
    lab = Labeler.from_pretrained(posture_model, device="cpu", pose=PoseOptions(frame_stride=5, max_frames=12))
    street = lab.label(videos / "opencv_samples/vtest.avi")
    assert street.status == NO_PERSON_FOUND and street.pose.frames_with_person == 0
    assert [s.label for s in street.segments] == [NO_PERSON] and street.segments[0].end == pytest.approx(6.0)
