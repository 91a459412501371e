"""The real ``skelrec label`` command: batch over files and folders, bad inputs reported without stopping the batch,
re-runs skipped unless --force, one-line errors for unusable models, and a video where nobody is found."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.shared_data
def test_a_video_without_people_says_so(tmp_path: Path, model: Path, shared_data: Path):
    vtest = shared_data / "videos/opencv_samples/vtest.avi"
    proc = run_label(vtest, "--model", model, "--out", tmp_path, "--stride", "5", "--max-frames", "12")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no person found (person in 0/12 frames)" in proc.stdout
    doc = json.loads((tmp_path / "vtest.json").read_text())
    assert doc["status"] == "no person found" and [s["label"] for s in doc["segments"]] == ["no person"]
    assert (tmp_path / "vtest.srt").read_text() == ""


# ------------------------------------------------------------------------------------------------------------------
# A user's report on a fresh clone: Ctrl-C, an unwritable --out, flags in the help, numeric options, MediaPipe's
# start-up notices, per-video lines printed twice.
# ------------------------------------------------------------------------------------------------------------------

_CHILD = """
import signal, sys
# Ctrl-C as in a terminal, even when the tests run where SIGINT is ignored (a shell's background job passes SIG_IGN
# on, and Python then installs no KeyboardInterrupt handler); as in tests/test_prepare.py
signal.signal(signal.SIGINT, signal.default_int_handler)
from skelrec.cli import main
sys.argv = ["skelrec", *{argv!r}]
main()
"""


@pytest.mark.slow
def test_ctrl_c_prints_what_finished_and_what_did_not(tmp_path: Path, model: Path):
    videos = [make_astronaut_video(tmp_path / "first.mp4", seconds=1.0)]  # distinct lengths: no shared pose cache
    videos += [make_astronaut_video(tmp_path / f"{name}.mp4", seconds=s) for name, s in (("second", 4), ("third", 3))]
    out = tmp_path / "out"
    argv = ["label", *map(str, videos), "--model", str(model), "--out", str(out), "--device", "cpu"]
    code = _CHILD.format(argv=argv)
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, text=True, **pipes)
    deadline = time.monotonic() + 120
    while not (out / "first.json").exists():  # the first video is finished: the second one is being labelled
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the first video was not labelled in time"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr, stderr
    lines = summary_lines(stdout)
    assert lines["first.mp4"].startswith("labelled 1 action segments"), stdout
    assert lines["second.mp4"] == "stopped interrupted while labelling (Ctrl-C)", stdout
    assert lines["third.mp4"] == "pending not started (interrupted)", stdout
    assert stdout.strip().splitlines()[-1] == "1 labelled, 0 skipped, 0 failed, 1 stopped, 1 pending"
    assert stderr.strip().splitlines()[-1] == (
        "interrupted: finished videos are kept; run the same command again to label the rest"
    )
    assert sorted(p.name for p in out.glob("*.json")) == ["first.json"]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["a file", "inside a file", "read-only folder"])
def test_unwritable_out_is_one_line_error_before_any_work(tmp_path: Path, model: Path, inputs: Path, case: str):
    if case == "read-only folder" and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    (tmp_path / "file").write_text("x")
    out = {"a file": tmp_path / "file", "inside a file": tmp_path / "file" / "labels"}.get(case, tmp_path / "ro")
    if case == "read-only folder":
        out.mkdir()
        out.chmod(0o500)
    target = out / "x" if case == "read-only folder" else out
    proc = run_label(inputs / "astronaut.mp4", inputs / "cut.mp4", "--model", model, "--out", target)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stdout + proc.stderr  # no model loading, no pose logs
    assert lines[0].startswith(f"error: output folder {target}") and "choose another folder with --out" in lines[0]
    assert proc.stdout == ""


def test_help_shows_boolean_options_as_flags():
    proc = run_label("--help")
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    for flag in ("--overlay", "--mirrored", "--force", "--help"):
        row = next(line for line in proc.stdout.splitlines() if flag in line)
        assert "bool" not in row.lower() and "<" not in row, row  # no value after a flag
    assert ("--window" in text and "<float>" in text) or "FLOAT" in text  # options that take a value still say so


@pytest.mark.parametrize(
    ("option", "parts"),
    [
        (["--window", "0"], ["window length must be > 0 seconds, got 0", "model's clip"]),
        (["--window-stride", "0"], ["window stride", "must be > 0, got 0"]),
        (["--stride", "0"], ["frame stride must be >= 1", "every N-th frame"]),
        (["--max-frames", "0"], ["max_frames must be >= 1"]),
        (["--max-side", "8"], ["max_side", "at least 16 pixels, got 8"]),
        (["--min-confidence", "1.5"], ["min_confidence must be between 0 and 1"]),
    ],
    ids=lambda v: v[0] if isinstance(v, list) and v[0].startswith("--") else "",
)
@pytest.mark.slow
def test_numeric_options_name_what_is_wrong(tmp_path: Path, model: Path, inputs: Path, option, parts):
    proc = run_label(inputs / "astronaut.mp4", "--model", model, "--out", tmp_path / "o", "--device", "cpu", *option)
    assert_one_line_error(proc, *parts)
    if option[0] == "--window":
        assert "stride" not in proc.stderr


@pytest.mark.slow
def test_each_video_line_once_and_no_mediapipe_notices(tmp_path: Path, model: Path, inputs: Path):
    proc = run_label(inputs / "astronaut.mp4", "--model", model, "--out", tmp_path / "o", "--device", "cpu")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    both = proc.stdout + proc.stderr
    assert both.count("astronaut.mp4: 1 action segments") == 1, both
    assert proc.stdout.strip().splitlines()[-1] == "1 labelled, 0 skipped, 0 failed"
    for notice in ("W0000", "inference_feedback_manager", "XNNPACK", "absl::InitializeLog"):
        assert notice not in proc.stderr, proc.stderr
    assert "cached in" in proc.stderr  # skelrec's own log lines still show
