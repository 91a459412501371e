"""The ``video_folder`` reader: a folder of action folders of your own clips -> MediaPipe poses -> a prepared cache.

The clips are scikit-image's public-domain photos of a person (``astronaut``, ``camera``) filmed by a moving camera
(:func:`app_helpers.action_clip`), a blank video (nobody in it) and a file of garbage bytes named ``.mp4``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from app_helpers import action_clip
from test_cli_errors import assert_one_line_error, run_skelrec
from typer.testing import CliRunner

from skelrec.cli import app
from skelrec.datasets.cache import PreparedDataset
from skelrec.datasets.inspect import inspect_file
from skelrec.datasets.prepare import prepare_dataset
from skelrec.datasets.video_folder import VideoFolderReader, random_split
from skelrec.errors import SkelrecError
from skelrec.pose import MediaPipePoseEstimator
from skelrec.skeleton import convert
from skelrec.video import write_video

CLIPS = {"Wave_hand": ("astronaut", "sway"), "bow": ("camera", "tilt")}  # folder -> photo, camera motion
FRAMES = 12


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ROOT/{bow,Wave_hand}/clip{0,1}.mp4 plus ROOT/Wave_hand/blank.mp4, in which nobody can be found."""
    root = tmp_path_factory.mktemp("videos")
    for folder, (photo, motion) in CLIPS.items():
        (root / folder).mkdir()
        for seed in range(2):
            action_clip(root / folder / f"clip{seed}.mp4", photo, motion, seconds=FRAMES / 15, fps=15, seed=seed)
    write_video(root / "Wave_hand" / "blank.mp4", (np.full((64, 64, 3), 128, np.uint8) for _ in range(8)), fps=15)
    return root


@pytest.fixture(scope="module")
def cache(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``skelrec prepare video_folder`` with two worker processes, each running MediaPipe."""
    out = tmp_path_factory.mktemp("cache")
    result = CliRunner().invoke(
        app, ["prepare", "video_folder", "--raw", str(root), "--out", str(out), "--workers", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "samples   4 from 5 files" in result.output
    assert "left out  1 by the reader: no_person" in result.output
    return out


@pytest.mark.slow
def test_prepare_gives_labelled_kinect20_samples_and_a_stratified_split(cache: Path, root: Path):
    ds = PreparedDataset(cache)
    info = ds.info
    assert info["classes"] == ["bow", "Wave hand"]  # teach's rules: "_" is a space, case-insensitive order
    assert (info["layout"], info["joints"], info["persons"], info["channels"]) == ("kinect20", 20, 1, 3)
    assert info["reader_skips"] == {"no_person": 1} and not info["skipped_files"]
    samples = [ds[i] for i in range(len(ds))]
    assert [(s.name, s.label, s.label_name) for s in samples] == [
        ("bow/clip0.mp4", 0, "bow"),
        ("bow/clip1.mp4", 0, "bow"),
        ("Wave_hand/clip0.mp4", 1, "Wave hand"),
        ("Wave_hand/clip1.mp4", 1, "Wave hand"),
    ]
    for s in samples:
        assert s.data.shape == (1, FRAMES, 20, 3) and s.fps == 15.0
        assert s.meta == {
            "source": str(root / s.name),
            "folder": s.name.split("/")[0],
            "frames_with_person": FRAMES,
            "mirrored": False,
        }
        assert np.all(np.abs(s.data).sum(axis=(2, 3)) > 0)  # a person in every frame
        head_above_hips = s.data[0, :, 3, 1] - s.data[0, :, 0, 1]  # kinect20: head 3, spine base 0; y up
        assert np.all(head_above_hips > 0.2)
    split = json.loads((cache / "splits" / "random.json").read_text())
    assert len(split["train"]) == len(split["test"]) == 2
    assert sorted(samples[i].label for i in split["test"]) == [0, 1]  # one clip of each class
    assert len(list((root / ".poses").glob("*.npz"))) == 5  # every video's poses, the blank one's too


def test_force_rebuild_reuses_the_pose_cache(cache: Path, root: Path, tmp_path: Path, monkeypatch):
    """Another layout and the mirrored flag: the cached poses are used, MediaPipe does not run again."""

    def no_mediapipe(self):
        raise AssertionError("MediaPipe ran although the poses are cached")

    monkeypatch.setattr(MediaPipePoseEstimator, "detector", no_mediapipe)
    out = tmp_path / "raw33"
    for force in (False, True):
        report = prepare_dataset("video_folder", root, out, workers=1, force=force, layout="mediapipe33")
        assert report.samples == 4 and report.info["joints"] == 33 and not report.already_complete
    raw33 = np.load(out / "frames.npy")  # (F, M, 33, 3)
    np.testing.assert_allclose(convert(raw33, "mediapipe33", "kinect20"), np.load(cache / "frames.npy"), atol=1e-6)
    mirrored = prepare_dataset("video_folder", root, tmp_path / "mirrored", workers=1, mirrored=True)
    ds = PreparedDataset(tmp_path / "mirrored")
    assert mirrored.samples == 4 and all(ds.meta(i)["mirrored"] for i in range(len(ds)))
    assert not np.allclose(np.load(tmp_path / "mirrored" / "frames.npy"), np.load(cache / "frames.npy"))


@pytest.fixture
def pose_file(cache: Path, root: Path, tmp_path: Path) -> Path:
    """A skelrec pose file (a pose cache entry) of one of the clips."""
    return Path(shutil.copy(sorted((root / ".poses").glob("clip0-*.npz"))[0], tmp_path / "poses.npz"))


def test_a_corrupt_clip_is_a_one_line_error_naming_it(pose_file: Path, tmp_path: Path):
    raw = tmp_path / "raw"
    (raw / "jump").mkdir(parents=True)
    bad = raw / "jump" / "a_bad.mp4"
    bad.write_bytes(b"\x00garbage" * 200)
    shutil.copy(pose_file, raw / "jump" / "b_good.npz")  # a pose file is a clip too
    proc = run_skelrec("prepare", "video_folder", "--raw", raw, "--out", tmp_path / "out", "--workers", "1")
    assert_one_line_error(proc, str(bad), "not a readable video")
    report = prepare_dataset("video_folder", raw, tmp_path / "out", workers=1, skip_bad=True)
    assert report.samples == 1 and [s["file"] for s in report.skipped_files] == ["jump/a_bad.mp4"]
    assert PreparedDataset(tmp_path / "out")[0].name == "jump/b_good.npz"


@pytest.mark.parametrize("clip", ["pose file", "video"])
def test_inspect_a_single_clip_writes_nothing_beside_it(clip: str, pose_file: Path, root: Path, tmp_path: Path):
    single = tmp_path / "single"
    single.mkdir()
    path = Path(shutil.copy(pose_file if clip == "pose file" else root / "bow" / "clip0.mp4", single))
    info = inspect_file(path)
    assert (info["format"], info["layout"], info["frames"], info["persons"], info["joints"]) == (
        "video_folder",
        "kinect20",
        FRAMES,
        1,
        20,
    )
    assert info["label"] is None and info["meta"]["frames_with_person"] == FRAMES
    assert [p.name for p in single.iterdir()] == [path.name]  # no pose cache written beside the file


def test_random_split_is_seeded_stratified_and_stable():
    meta = [{"name": f"a/{i}", "label": 0} for i in range(10)] + [{"name": f"b/{i}", "label": 1} for i in range(3)]
    meta += [{"name": "c/0", "label": 2}, {"name": "unlabelled", "label": None}]
    split = random_split(meta, seed=0)
    test = [meta[i]["name"] for i in split["test"]]
    assert [sum(n.startswith(c) for n in test) for c in "abc"] == [2, 1, 0]  # 20 %, at least one, never all
    assert len(split["train"]) + len(split["test"]) == 14  # the unlabelled sample is in neither part
    assert random_split(meta, seed=0)["test"].tolist() == split["test"].tolist()
    assert any(random_split(meta, seed=s)["test"].tolist() != split["test"].tolist() for s in (1, 2, 3))
    grown = [{"name": f"d/{i}", "label": 3} for i in range(5)] + meta  # a new class, inserted first
    assert [grown[i]["name"] for i in random_split(grown, seed=0)["test"] if grown[i]["label"] != 3] == test


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"layout": "ntu99"}, "cannot be built from mediapipe33 poses; choose one of"),
        ({"mirrored": "yes"}, "mirrored='yes': expected true or false"),
        ({"layuot": "kinect20"}, "has no option layuot; known: layout"),
        ({"frame_stride": 0}, "frame stride must be >= 1"),
    ],
)
def test_bad_options_are_named(tmp_path: Path, options: dict, message: str):
    with pytest.raises(SkelrecError, match=message.replace("(", r"\(")):
        VideoFolderReader(tmp_path, **options)


def test_cli_reader_options_are_parsed_as_json(tmp_path: Path):
    for option, message in (("mirrored=yes", "mirrored='yes': expected true or false"), ("max_side", "KEY=VALUE")):
        args = ["prepare", "video_folder", "--raw", str(tmp_path), "--out", str(tmp_path / "out"), "-o", option]
        result = CliRunner().invoke(app, args)
        assert isinstance(result.exception, SkelrecError) and message in str(result.exception)
