"""The real ``skelrec label`` command: batch over files and folders, bad inputs reported without stopping the batch,
re-runs skipped unless --force, one-line errors for unusable models, and a video where nobody is found."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from test_labeling import checkpoint_config, fit_posture_model, make_astronaut_video, save_model, tiny_classifier

from skelrec.video import open_video, write_video

ROOT = Path(__file__).resolve().parent.parent


def run_label(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("skelrec")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "skelrec.cli"]
    return subprocess.run(
        [*cmd, "label", *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=300, env=env
    )


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit_posture_model(tmp_path_factory.mktemp("models") / "postures")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one good video and four bad ones."""
    folder = tmp_path_factory.mktemp("inputs")
    make_astronaut_video(folder / "astronaut.mp4", seconds=1.5)
    (folder / "notes.mp4").write_text("not a video\n" * 100)
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(30)]
    for name, codec in (("cut.mp4", "libx264"), ("cut.avi", "mpeg4")):
        full = write_video(folder / f"full_{name}", noise, codec=codec)
        (folder / name).write_bytes(full.read_bytes()[: full.stat().st_size // 2])
        full.unlink()
    with av.open(str(folder / "empty.avi"), "w") as c:  # a header and no frames
        s = c.add_stream("mpeg4", rate=30)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        c.start_encoding()
    return folder


def summary_lines(stdout: str) -> dict[str, str]:
    """``{file name: "<status> <message>"}`` from the summary printed at the end."""
    out = {}
    for line in stdout.strip().splitlines()[:-1]:
        status, _, rest = line.strip().partition("  ")
        path, _, message = rest.partition(": ")
        out[Path(path).name] = f"{status} {message}"
    return out


def test_batch_reports_bad_files_and_keeps_going(tmp_path: Path, model: Path, inputs: Path):
    out = tmp_path / "out"
    proc = run_label(inputs, tmp_path / "missing.mp4", "--model", model, "--out", out, "--overlay", "--device", "cpu")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = summary_lines(proc.stdout)
    assert proc.stdout.strip().splitlines()[-1] == "1 labelled, 0 skipped, 5 failed"
    expected = {
        "astronaut.mp4": "labelled",
        "notes.mp4": "failed not a",
        "cut.mp4": "failed not a readable video",
        "cut.avi": "failed ",  # "video ends after ..." or "cannot decode frame N ...; ... corrupt or truncated"
        "empty.avi": "failed contains no video frames",
        "missing.mp4": "failed no such video file",
    }
    assert set(lines) == set(expected), proc.stdout
    for name, start in expected.items():
        assert lines[name].startswith(start), (name, lines[name])
    assert "video ends after" in lines["cut.avi"] or "truncated" in lines["cut.avi"], lines["cut.avi"]
    assert "person in 45/45 frames" in lines["astronaut.mp4"]
    written = sorted(p.name for p in out.iterdir())
    assert written == [".poses", "astronaut.csv", "astronaut.json", "astronaut.mp4", "astronaut.srt"]
    doc = json.loads((out / "astronaut.json").read_text())
    assert doc["frames"] == 45 and doc["pose"]["frames_with_person"] == 45 and doc["segments"]
    assert doc["model"]["source"] == str(model) and doc["settings"]["pose"]["frame_stride"] == 1
    assert open_video(out / "astronaut.mp4").frame_count == 45
    assert len(list((out / ".poses").glob("*.npz"))) == 1

    # a re-run skips the finished video (the bad ones are tried again and still fail)
    again = run_label(inputs, "--model", model, "--out", out, "--overlay", "--device", "cpu")
    assert again.returncode == 1 and summary_lines(again.stdout)["astronaut.mp4"].startswith("skipped")
    # --force labels it again, from the cached poses
    good = inputs / "astronaut.mp4"
    forced = run_label(good, "--model", model, "--out", out, "--format", "csv", "--device", "cpu", "--force")
    assert forced.returncode == 0 and summary_lines(forced.stdout)["astronaut.mp4"].startswith("labelled")
    assert "loaded from cache" in forced.stderr
    # other settings are another result: labelled again without --force
    other = run_label(good, "--model", model, "--out", out, "--window-stride", "0.25", "--device", "cpu")
    assert summary_lines(other.stdout)["astronaut.mp4"].startswith("labelled"), other.stdout
    assert json.loads((out / "astronaut.json").read_text())["settings"]["window_stride"] == 0.25
    assert not [p for p in out.iterdir() if "tmp" in p.name]


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])


def test_unusable_models_are_one_line_errors(tmp_path: Path, inputs: Path):
    video = inputs / "astronaut.mp4"
    proc = run_label(video, "--model", tmp_path / "no_such_model", "--out", tmp_path / "o")
    assert_one_line_error(proc, "no_such_model", "nor an existing model folder")
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin"}
    proc = run_label(video, "--model", "no-such/model", "--out", tmp_path / "o", env=env)
    assert_one_line_error(proc, "no-such/model")
    utd = tiny_classifier(joints=20)
    save_model(tmp_path / "utd", utd, checkpoint_config(utd, layout="utd_mhad20"))
    proc = run_label(video, "--model", tmp_path / "utd", "--out", tmp_path / "o")
    assert_one_line_error(proc, "utd_mhad20", "cannot be built from the pose estimator's mediapipe33 landmarks")
    assert not (tmp_path / "o").exists()


@pytest.mark.shared_data
def test_a_video_without_people_says_so(tmp_path: Path, model: Path, shared_data: Path):
    vtest = shared_data / "videos/opencv_samples/vtest.avi"
    proc = run_label(vtest, "--model", model, "--out", tmp_path, "--stride", "5", "--max-frames", "12")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no person found (person in 0/12 frames)" in proc.stdout
    doc = json.loads((tmp_path / "vtest.json").read_text())
    assert doc["status"] == "no person found" and [s["label"] for s in doc["segments"]] == ["no person"]
    assert (tmp_path / "vtest.srt").read_text() == ""
