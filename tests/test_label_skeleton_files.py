"""``skelrec label`` on skeleton files: PKU-MMD .txt/.txt.xz, NTU .skeleton, NW-UCLA .json, UTD-MHAD .mat, MSR .txt
and pose .npz, recognised by content, through the same windows/normalization as the poses of a video."""

from __future__ import annotations

import json
import lzma
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from test_datasets_ntu import write_skeleton
from test_label_cli import run_label, summary_lines
from test_labeling import (
    FPS,
    checkpoint_config,
    fit_posture_model,
    save_model,
    synthetic_poses,
    tiny_classifier,
)

from skelrec.datasets.recording import read_recording
from skelrec.errors import SkelrecError
from skelrec.labeling import Labeler
from skelrec.labeling.batch import collect_jobs, label_batch
from skelrec.skeleton import convert

SCRIPT = [("raise left", 2.5), ("rest", 2.5)]


@pytest.fixture(scope="module")
def posture_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ntu25, one person, trained on synthetic postures (tests/test_labeling.py)."""
    return fit_posture_model(tmp_path_factory.mktemp("models") / "postures")


@pytest.fixture(scope="module")
def kinect20_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained kinect20 model: every format here converts to its layout."""
    model = tiny_classifier(joints=20)
    return save_model(tmp_path_factory.mktemp("models") / "k20", model, checkpoint_config(model, layout="kinect20"))


def ntu25(seed: int = 7) -> np.ndarray:
    """``(T, 25, 3)`` ntu25 joints of the synthetic postures (raise left, then rest) at 20 frames per second."""
    return synthetic_poses(SCRIPT, seed=seed).to_skeleton("ntu25")[0]


def write_pku(path: Path, first: np.ndarray, second: np.ndarray | None = None) -> Path:
    """A PKU-MMD stream: one line of 150 numbers (2 bodies x 25 joints x xyz) per frame."""
    bodies = np.stack([first, np.zeros_like(first) if second is None else second], axis=1)  # (T, 2, 25, 3)
    text = "".join(" ".join(f"{v:.6f}" for v in row) + "\n" for row in bodies.reshape(len(first), -1))
    if path.name.endswith(".xz"):
        path.write_bytes(lzma.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def write_formats(folder: Path) -> dict[str, Path]:
    """One tiny file of every format, all holding the same synthetic motion."""
    folder.mkdir(parents=True, exist_ok=True)
    x = ntu25()
    k20 = convert(x, "ntu25", "kinect20")
    ucla = {"file_name": "a01_s01_e00_v01", "skeletons": k20.tolist(), "label": 1}
    (folder / "a01_s01_e00_v01.json").write_text(json.dumps(ucla))
    (folder / "my_ucla_clip.json").write_text(json.dumps({**ucla, "file_name": "my_ucla_clip"}))  # sniffed
    scipy.io.savemat(folder / "a1_s1_t1_skeleton.mat", {"d_skel": convert(x, "ntu25", "utd_mhad20").transpose(1, 2, 0)})
    msr = convert(x, "ntu25", "msr_action3d20")
    rows = np.concatenate([msr, np.ones_like(msr[..., :1])], axis=-1).reshape(-1, 4)
    (folder / "a01_s01_e01_skeleton3D.txt").write_text("".join(" ".join(map(str, r)) + "\n" for r in rows))
    write_skeleton(folder / "S001C001P001R001A001.skeleton", [[(72057594037931101, p)] for p in x])
    synthetic_poses(SCRIPT, seed=7).save(folder / "poses.npz")
    return {
        "pku_txt": write_pku(folder / "0001-L.txt", x),
        "pku_xz": write_pku(folder / "my_stream.txt.xz", x),  # any name: recognised by its 150 columns
        "ntu": folder / "S001C001P001R001A001.skeleton",
        "ucla": folder / "a01_s01_e00_v01.json",
        "ucla_renamed": folder / "my_ucla_clip.json",
        "utd": folder / "a1_s1_t1_skeleton.mat",
        "msr": folder / "a01_s01_e01_skeleton3D.txt",
        "pose": folder / "poses.npz",
    }


@pytest.mark.slow
def test_every_format_is_labelled_through_the_cli_and_a_bad_file_is_reported(tmp_path: Path, kinect20_model: Path):
    files = write_formats(tmp_path / "in")
    bad_rows = ["0.5 " * 150, "0.5 " * 149]
    (tmp_path / "in" / "0002-L.txt").write_text("\n".join(bad_rows) + "\n")
    (tmp_path / "in" / "notes.txt").write_text("these are notes, not skeletons\n")
    (tmp_path / "in" / "broken.txt.xz").write_bytes(lzma.compress(b"0.5 " * 150 + b"\n")[:20])
    out = tmp_path / "out"
    explicit = [tmp_path / "in" / "notes.txt", tmp_path / "in" / "broken.txt.xz"]  # folders hold recognised files
    proc = run_label(*explicit, tmp_path / "in", "--model", kinect20_model, "--out", out)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    lines = summary_lines(proc.stdout)
    assert proc.stdout.strip().splitlines()[-1] == f"{len(files)} labelled, 0 skipped, 3 failed", proc.stdout
    for name in (p.name for p in files.values()):
        assert lines[name].startswith("labelled"), (name, lines[name])
    assert lines["0002-L.txt"].startswith("failed ") and lines["0002-L.txt"].endswith(
        "0002-L.txt:2: found 149 values; expected 150 numbers (2 bodies x 25 joints x xyz)"
    )
    assert lines["notes.txt"].startswith("failed a .txt file whose content matches no supported format; ")
    assert lines["broken.txt.xz"].startswith("failed broken xz data (Compressed file ended")
    for stem in ("0001-L", "my_stream", "S001C001P001R001A001", "a01_s01_e00_v01", "a1_s1_t1_skeleton", "poses"):
        assert all((out / f"{stem}.{ext}").is_file() for ext in ("json", "csv", "srt")), stem
    doc = {stem: json.loads((out / f"{stem}.json").read_text()) for stem in ("0001-L", "a01_s01_e01_skeleton3D")}
    assert doc["0001-L"]["fps"] == 30.0 and doc["0001-L"]["frames"] == 100 and doc["0001-L"]["status"] == "ok"
    assert doc["0001-L"]["pose"]["estimator"] == {"origin": "pku_mmd", "layout": "ntu25", "fps": 30.0}
    assert doc["0001-L"]["duration"] == pytest.approx(100 / 30, abs=1e-3)
    assert doc["a01_s01_e01_skeleton3D"]["fps"] == 15.0  # MSR Action3D records at 15 frames per second


@pytest.mark.slow
def test_a_skeleton_file_is_labelled_exactly_like_the_same_poses(tmp_path: Path, posture_model: Path):
    """Written as a PKU stream and read back, the poses of a video get the same windows, scores and segments."""
    poses = synthetic_poses(SCRIPT, seed=7)
    path = write_pku(tmp_path / "0001-L.txt.xz", poses.to_skeleton("ntu25")[0])
    labeler = Labeler.from_pretrained(posture_model, device="cpu", skeleton_fps=FPS)
    report = label_batch(labeler, [path], tmp_path / "out", formats="json")
    assert report.count("labelled") == 1, report.describe()
    got = json.loads((tmp_path / "out" / "0001-L.json").read_text())
    want = labeler.label_poses(poses).to_dict()
    assert [s["label"] for s in got["segments"]] == ["raise left", "rest"]
    assert [(s["start"], s["end"], s["label"]) for s in got["segments"]] == [
        (s["start"], s["end"], s["label"]) for s in want["segments"]
    ]
    for a, b in zip(got["windows"], want["windows"], strict=True):
        assert (a["start"], a["end"], a["state"], a["label"]) == (b["start"], b["end"], b["state"], b["label"])
        assert a["score"] == pytest.approx(b["score"], abs=2e-3)
    assert got["settings"]["skeleton_fps"] == FPS and got["duration"] == pytest.approx(5.0)


def test_fps_comes_from_the_format_or_the_option(tmp_path: Path, posture_model: Path):
    path = write_pku(tmp_path / "0001-L.txt", ntu25())
    for fps, duration in ((None, 100 / 30), (10.0, 10.0)):
        labeler = Labeler.from_pretrained(posture_model, device="cpu", skeleton_fps=fps)
        reader, sample = read_recording(path)
        result = labeler.label_skeleton(sample.data, sample.layout, fps=sample.fps or reader.fps)
        assert result.fps == (fps or 30.0) and result.duration == pytest.approx(duration)


def _probabilities(model: Path, path: Path) -> np.ndarray:
    labeler = Labeler.from_pretrained(model, device="cpu")
    reader, sample = read_recording(path)
    return labeler.label_skeleton(sample.data, sample.layout, fps=reader.fps).probabilities


def test_two_person_files_keep_both_persons_only_for_two_person_models(tmp_path: Path, posture_model: Path):
    x = ntu25()
    alone = write_pku(tmp_path / "0001-L.txt", x)
    pair = write_pku(tmp_path / "0002-L.txt", x, second=ntu25(seed=3)[::-1] + np.array([0.8, 0.0, 0.0]))
    one = _probabilities(posture_model, alone), _probabilities(posture_model, pair)
    np.testing.assert_array_equal(*one)  # a one-person model reads the first body, the reader's main actor
    model = tiny_classifier()
    two_person = save_model(tmp_path / "m2", model, checkpoint_config(model, num_persons=2))
    two = _probabilities(two_person, alone), _probabilities(two_person, pair)
    assert np.abs(two[0] - two[1]).max() > 1e-4  # the second person reaches the model


def test_a_model_of_two_person_interactions_refuses_videos_and_labels_skeleton_files(tmp_path: Path):
    model = tiny_classifier()
    pairs = save_model(tmp_path / "m2", model, checkpoint_config(model, num_persons=2, min_persons=2))
    labeler = Labeler.from_pretrained(pairs, device="cpu")
    refused = r"^clip\.mp4: model .*m2 labels actions of 2 persons, and a video gives one"
    with pytest.raises(SkelrecError, match=refused):
        labeler.label(tmp_path / "clip.mp4")  # refused before any file is read
    pair = write_pku(tmp_path / "0002-L.txt", ntu25(), second=ntu25(seed=3) + np.array([0.8, 0.0, 0.0]))
    reader, sample = read_recording(pair)
    result = labeler.label_skeleton(sample.data, sample.layout, fps=reader.fps, origin=reader.name, source=str(pair))
    assert result.status == "ok" and result.model["num_persons"] == 2


def test_a_model_whose_layout_cannot_be_built_gives_one_line(tmp_path: Path, posture_model: Path):
    labeler = Labeler.from_pretrained(posture_model, device="cpu")
    write_formats(tmp_path)
    reader, sample = read_recording(tmp_path / "a01_s01_e00_v01.json")
    with pytest.raises(SkelrecError, match=r"takes ntu25 skeletons, which cannot be built from the nw_ucla file's kin"):
        labeler.label_skeleton(sample.data, sample.layout, fps=reader.fps, origin=reader.name)


def test_unrecognised_and_ambiguous_files(tmp_path: Path):
    files = write_formats(tmp_path)
    assert read_recording(files["ucla_renamed"])[0].name == "nw_ucla"  # sniffed by content, not by name
    assert read_recording(files["pku_xz"])[1].data.shape == (2, 100, 25, 3)
    (tmp_path / "label.txt").write_text("12,0,40,1\n")  # a PKU-MMD label file shares the extension
    (tmp_path / "other.json").write_text('{"frames": []}')
    for name, text in (("label.txt", "pku_mmd (150 numbers per line"), ("other.json", "nw_ucla (a JSON object")):
        with pytest.raises(SkelrecError) as err:
            read_recording(tmp_path / name)
        assert text in str(err.value) and "\n" not in str(err.value) and str(err.value).startswith(str(tmp_path))


def test_folders_collect_skeleton_files_and_leave_other_text_files(tmp_path: Path):
    write_formats(tmp_path / "in")
    (tmp_path / "in" / "labels").mkdir()
    (tmp_path / "in" / "labels" / "0001-L.txt").write_text("12,0,40,1\n")
    (tmp_path / "in" / "README.txt").write_text("read me\n")
    jobs, problems = collect_jobs([tmp_path / "in"])
    assert not problems
    assert sorted(j.stem for j in jobs) == sorted(
        [
            "0001-L",
            "my_stream",
            "S001C001P001R001A001",
            "a01_s01_e00_v01",
            "my_ucla_clip",
            "a1_s1_t1_skeleton",
            "a01_s01_e01_skeleton3D",
            "poses",
        ]
    )


REAL = {
    "pku_xz": "pku_mmd/v1/skeletons_xz/0005-L.txt.xz",
    "pku_txt": "pku_mmd/v1/skeletons/0036-L.txt",
    "ntu": "ntu_rgbd60_S001C001P001R001/S001C001P001R001A050.skeleton",
    "ucla": "nw_ucla/all_sqe/a01_s01_e00_v01.json",
    "utd": "utd_mhad/Skeleton/a1_s1_t1_skeleton.mat",
    "msr": "msr_action3d/real_world_coordinates/a01_s01_e01_skeleton3D.txt",
}


@pytest.mark.slow
def test_real_skeleton_files(tmp_path: Path, shared_data: Path, kinect20_model: Path):
    files = [shared_data / rel for rel in REAL.values() if (shared_data / rel).is_file()]
    if not files:
        pytest.skip("none of the real skeleton files is present")
    proc = run_label(*files, "--model", kinect20_model, "--out", tmp_path, "--format", "json,csv")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == f"{len(files)} labelled, 0 skipped, 0 failed"
    for f in files:
        doc = json.loads((tmp_path / f"{f.name.split('.')[0]}.json").read_text())
        assert doc["status"] == "ok" and doc["windows"] and (tmp_path / f"{f.name.split('.')[0]}.csv").is_file()
        assert doc["pose"]["persons"] == (2 if f.suffix in (".xz", ".skeleton") or "pku" in str(f) else 1)


def test_a_pose_file_written_by_hand_in_the_documented_format(tmp_path: Path, posture_model: Path):
    """The pose .npz as documented for other estimators: numpy arrays + a JSON ``meta`` naming the layout."""
    x = ntu25()  # skelrec axes (y up, x to the subject's right); the file holds camera axes (x image-right, y down)
    t = len(x)
    world = (x * np.array([-1.0, -1.0, 1.0], np.float32))[None]
    present = np.ones((1, t), bool)
    meta = {"format_version": 1, "fps": FPS, "width": 640, "height": 480, "layout": "ntu25", "source": "cam.mp4"}
    np.savez(
        tmp_path / "mine.npz",
        meta=np.array(json.dumps(meta)),
        image=np.zeros((1, t, 25, 3), np.float32),
        world=world,
        visibility=np.ones((1, t, 25), np.float32),
        present=present,
        times=np.arange(t) / FPS,
        frame_index=np.arange(t),
    )
    labeler = Labeler.from_pretrained(posture_model, device="cpu")
    report = label_batch(labeler, [tmp_path / "mine.npz"], tmp_path / "out", formats="json")
    assert report.count("labelled") == 1, report.describe()
    doc = json.loads((tmp_path / "out" / "mine.json").read_text())
    assert [s["label"] for s in doc["segments"]] == ["raise left", "rest"] and doc["duration"] == pytest.approx(5.0)
