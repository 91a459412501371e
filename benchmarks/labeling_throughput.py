"""Labeling throughput against pose extraction alone, frame stride 2, and peak memory on a long video.

Measured in one run on the same videos (``../shared/data/videos`` clips, or a video rendered from scikit-image's
astronaut photo when the shared data is absent):

1. **Overhead of the labeler.** Per video: pose extraction alone (:func:`skelrec.pose.extract_poses`, no cache),
   the whole labeler (:meth:`Labeler.label`, no cache: decode + poses + windows + model + segments) and the
   labeler's own part alone (:meth:`Labeler.label_poses` on the same poses). Pose-only and end-to-end runs
   alternate, ``--repeats`` times; the fastest of each is kept (the machine is shared, see ``load``).
   Target: the labeler adds at most 10% to pose-only time.
2. **Frame stride 2** (``skelrec label --stride 2``): end-to-end speed as a multiple of real time on the 30 fps
   videos. Target: at least 2x real time on 2 cores.
3. **Peak memory** (max RSS of a fresh process running ``Labeler.label``) for a long video (>= 5 min, made by
   concatenating the real clips, letterboxed to 640x360, 30 fps) against the first 10 s of the same video.
   Target: long <= 1.2x short.
4. **PyTorch threads** (``cpu_threads``): the labeler's own part with 1 thread (the labeler's default) against
   PyTorch's default thread count, on the longest clip.

The model is ``--model`` (a checkpoint folder or Hub id), else the embedded default (``weights/default``), else a
stand-in built here with random weights, **for timing only**: a transformer of the size a CPU-trained default
would have (depth 4, width 128, 64-frame clips, kinect20, 27 classes). The per-window inference time of the
MAMP/MacDiff paper-size transformer (depth 8, width 256, 120 frames, 2 persons) is measured too, so the overhead
of other models can be worked out: overhead ~ windows per second (1 / window stride) x time per window.

Usage (runs ~10 min on 2 busy cores; fine in the background)::

    .venv/bin/python benchmarks/labeling_throughput.py [--model M] [--repeats 2] [--long-seconds 300]
        [--out benchmarks/results/labeling_throughput.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skelrec.files import atomic_write_text
from skelrec.hub import DEFAULT_MODEL_DIR, architecture, save_checkpoint
from skelrec.labeling import Labeler, PoseOptions
from skelrec.models import Classifier, build_encoder, build_head
from skelrec.paths import REPO_ROOT, shared_data_dir
from skelrec.pose import create_estimator, extract_poses
from skelrec.video import open_video, write_video

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for benchmarks.*
from benchmarks.machine import machine

CLIPS = (  # real footage in ../shared/data/videos (never copied into the repository)
    "mmaction2/ntu_sample.avi",  # NTU-120 RGB, 1920x1080, 30 fps, 72 frames
    "ntu_rgbd/S001C001P001R001A001_rgb.avi",  # NTU-60 RGB, 1920x1080, 30 fps, 103 frames
    "mmaction2/demo_test_video_structuralize.mp4",  # basketball gym, 426x240, 29.97 fps, 300 frames
    "mmaction2/demo_demo.mp4",  # Kinetics arm wrestling, 340x256, 28 fps, 280 frames
)
CANVAS = (640, 360)
TARGETS = {"overhead": 0.10, "stride2_realtime": 2.0, "memory_ratio": 1.2}


# ------------------------------------------------------------------------------------------------------------------
# Inputs.
# ------------------------------------------------------------------------------------------------------------------


def astronaut_video(path: Path, seconds: float = 10.0, fps: float = 30.0) -> Path:
    """The public-domain astronaut photo with a swaying crop (as in tests/test_labeling.py)."""
    from PIL import Image
    from skimage.data import astronaut

    img = Image.fromarray(astronaut())

    def frames() -> Iterator[np.ndarray]:
        for i in range(round(seconds * fps)):
            a = 2 * np.pi * i / fps
            dx, dy = round(20 * np.sin(a)), round(10 * np.cos(a))
            yield np.asarray(img.crop((20 + dx, 10 + dy, 470 + dx, 480 + dy)).resize((360, 360)))

    return write_video(path, frames(), fps=fps)


def letterboxed(video: Path) -> Iterator[np.ndarray]:
    """Frames of ``video`` scaled into a black :data:`CANVAS`."""
    w, h = CANVAS
    for frame in open_video(video, max_side=w):
        img = frame.rgb[:h, :w]
        canvas = np.zeros((h, w, 3), np.uint8)
        y, x = (h - img.shape[0]) // 2, (w - img.shape[1]) // 2
        canvas[y : y + img.shape[0], x : x + img.shape[1]] = img
        yield canvas


def concatenated(path: Path, clips: list[Path], seconds: float, fps: float = 30.0) -> Path:
    """The clips one after another, repeated until ``seconds`` of video (at ``fps``) are written."""

    def frames() -> Iterator[np.ndarray]:
        n, limit = 0, round(seconds * fps)
        while n < limit:
            for clip in clips:
                for rgb in letterboxed(clip):
                    yield rgb
                    n += 1
                    if n >= limit:
                        return

    return write_video(path, frames(), fps=fps)


def stand_in_model(folder: Path) -> Path:
    """A randomly initialised classifier of CPU-default size, for timing only (never a real model)."""
    torch.manual_seed(0)
    enc = build_encoder("transformer", num_joints=20, num_frames=64, depth=4, embed_dim=128, num_heads=4)
    model = Classifier(enc, build_head("linear", in_dim=128, num_classes=27))
    config = {
        **architecture(model),
        "layout": "kinect20",
        "normalization": {"center": "frame", "scale": "torso"},
        "clip_length": 64,
        "num_persons": 1,
        "labels": [f"class {i}" for i in range(27)],
        "clip_seconds": 2.0,
        "note": "random weights: a stand-in for timing the labeler, not a model",
    }
    return save_checkpoint(folder, model.state_dict(), config)


def paper_window_ms(windows: int = 8) -> float:
    """Milliseconds per window of the MAMP/MacDiff paper-size transformer (random weights, batch of ``windows``)."""
    enc = build_encoder("transformer")  # depth 8, width 256, 120 frames, ntu25
    model = Classifier(enc, build_head("linear", in_dim=256, num_classes=60)).eval()
    x = torch.randn(windows, 2, 120, 25, 3)
    mask = torch.ones(windows, 2, 120, dtype=torch.bool)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the labeler runs it (Labeler cpu_threads=1)
    try:
        with torch.inference_mode():
            model(x[:1], mask[:1])
            start = time.perf_counter()
            model(x, mask)
    finally:
        torch.set_num_threads(threads)
    return (time.perf_counter() - start) / windows * 1000


# ------------------------------------------------------------------------------------------------------------------
# Measurements.
# ------------------------------------------------------------------------------------------------------------------


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def throughput(video: Path, model: str, stride: int, repeats: int) -> dict[str, Any]:
    """Pose-only, end-to-end and labeler-only times of one video (fastest of ``repeats`` alternating runs)."""
    labeler = Labeler.from_pretrained(model, device="cpu", pose=PoseOptions(frame_stride=stride))
    estimator = create_estimator("mediapipe")
    pose_times, label_times = [], []
    for _ in range(repeats):
        t, poses = timed(lambda: extract_poses(video, estimator, stride=stride))
        pose_times.append(t)
        t, result = timed(lambda: labeler.label(video))
        label_times.append(t)
    classify = min(timed(lambda: labeler.label_poses(poses))[0] for _ in range(repeats))
    info = open_video(video).info
    pose_s, label_s = min(pose_times), min(label_times)
    return {
        "video": video.name,
        "size": [info.width, info.height],
        "fps": round(info.fps, 3),
        "frames": info.frame_count,
        "duration_s": round(info.duration, 3),
        "frame_stride": stride,
        "windows": len(result.windows),
        "pose_only_s": round(pose_s, 3),
        "end_to_end_s": round(label_s, 3),
        "labeler_only_s": round(classify, 3),
        "pose_only_video_fps": round(info.frame_count / pose_s, 1),
        "end_to_end_video_fps": round(info.frame_count / label_s, 1),
        "realtime_factor": round(info.duration / label_s, 2),
        "overhead_end_to_end": round(label_s / pose_s - 1, 4),
        "overhead_labeler_only": round(classify / pose_s, 4),
        "all_runs_s": {
            "pose_only": [round(t, 3) for t in pose_times],
            "end_to_end": [round(t, 3) for t in label_times],
        },
        "load_after": round(os.getloadavg()[0], 2),
    }


def cpu_threads(video: Path, model: str, repeats: int = 5) -> dict[str, Any]:
    """Seconds to classify all windows of ``video`` with 1 PyTorch thread and with PyTorch's default (median)."""
    poses = extract_poses(video, create_estimator("mediapipe"))
    out: dict[str, Any] = {"video": video.name}
    for threads in (1, None):
        labeler = Labeler.from_pretrained(model, device="cpu", cpu_threads=threads)
        times = [timed(lambda lab=labeler: lab.label_poses(poses))[0] for _ in range(repeats)]
        out[f"threads_{threads or torch.get_num_threads()}_s"] = round(float(np.median(times)), 3)
    out["windows"] = len(labeler.label_poses(poses).windows)
    return out


def child(video: Path, model: str) -> dict[str, Any]:
    """Run in a fresh process: label ``video`` end to end, report time and peak RSS."""
    seconds, result = timed(lambda: Labeler.from_pretrained(model, device="cpu").label(video))
    return {
        "video": video.name,
        "frames": result.frames,
        "duration_s": round(result.duration, 1),
        "seconds": round(seconds, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_end_mb": round(_vm_rss_kb() / 1024, 1),
        "windows": len(result.windows),
    }


def _vm_rss_kb() -> int:
    status = Path("/proc/self/status").read_text()
    return int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("VmRSS:")))


def peak_memory(video: Path, model: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", str(video), "--model", model]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    if proc.returncode:
        raise RuntimeError(f"child failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="checkpoint folder or Hub id (default: weights/default, else a stand-in)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--long-seconds", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks/results/labeling_throughput.json")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.model)))
        return {}

    started, load_start = time.time(), os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.model:
            model, model_note = args.model, "given with --model"
        elif (DEFAULT_MODEL_DIR / "config.json").is_file():
            model, model_note = str(DEFAULT_MODEL_DIR), "the embedded default model"
        else:
            model = str(stand_in_model(tmp / "stand_in"))
            model_note = (
                "stand-in with random weights (no default model yet): transformer depth 4, width 128, 64 frames"
            )
        data = shared_data_dir()
        clips = [data / "videos" / c for c in CLIPS] if data else [astronaut_video(tmp / "astronaut.mp4")]
        clips = [c for c in clips if c.is_file()]
        print(f"model: {model} ({model_note}); videos: {[c.name for c in clips]}", flush=True)

        rows = []
        for stride in (1, 2):
            for clip in clips:
                rows.append(throughput(clip, model, stride, args.repeats))
                print(json.dumps(rows[-1]), flush=True)
        threads = cpu_threads(max(clips, key=lambda c: open_video(c).frame_count), model)
        print(json.dumps(threads), flush=True)
        long_video = concatenated(tmp / "long.mp4", clips, args.long_seconds)
        short_video = concatenated(tmp / "short.mp4", clips, 10.0)
        memory = {"short": peak_memory(short_video, model), "long": peak_memory(long_video, model)}
        print(json.dumps(memory), flush=True)
        labeler = Labeler.from_pretrained(model, device="cpu")
        model_info = labeler.model_info()

    return write_results(args, rows, memory, threads, model_note, model_info, started, load_start)


def write_results(
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    memory: dict[str, Any],
    threads: dict[str, Any],
    model_note: str,
    model_info: dict[str, Any],
    started: float,
    load_start: tuple[float, float, float],
) -> dict[str, Any]:
    def total(stride: int, key: str) -> float:
        return sum(r[key] for r in rows if r["frame_stride"] == stride)

    s1 = {k: total(1, k) for k in ("pose_only_s", "end_to_end_s", "labeler_only_s", "duration_s")}
    s2 = {k: total(2, k) for k in ("pose_only_s", "end_to_end_s", "duration_s")}
    s2_30fps = [r for r in rows if r["frame_stride"] == 2 and round(r["fps"]) == 30]
    ratio = memory["long"]["max_rss_mb"] / memory["short"]["max_rss_mb"]
    summary = {
        "overhead_end_to_end": round(s1["end_to_end_s"] / s1["pose_only_s"] - 1, 4),
        "overhead_labeler_only": round(s1["labeler_only_s"] / s1["pose_only_s"], 4),
        "stride1_realtime_factor": round(s1["duration_s"] / s1["end_to_end_s"], 2),
        "stride2_realtime_factor": round(s2["duration_s"] / s2["end_to_end_s"], 2),
        "stride2_realtime_factor_30fps_videos": [(r["video"], r["realtime_factor"]) for r in s2_30fps],
        "stride2_speedup_vs_stride1": round(s1["end_to_end_s"] / s2["end_to_end_s"], 2),
        "memory_long_over_short": round(ratio, 3),
        "labeler_ms_per_window": round(1000 * s1["labeler_only_s"] / total(1, "windows"), 1),
        "paper_size_transformer_ms_per_window": round(paper_window_ms(), 1),
    }
    result = {
        "command": "python benchmarks/labeling_throughput.py " + " ".join(sys.argv[1:]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(mediapipe=True),
        "load": {
            "loadavg_start": [round(v, 2) for v in load_start],
            "loadavg_end": [round(v, 2) for v in os.getloadavg()],
            "note": "2 cores shared with other jobs during the run: times include contention",
            "reading": (
                "overhead_labeler_only (the labeler's own work timed on the same poses) is the robust overhead "
                "figure; overhead_end_to_end compares separate runs whose differences are mostly load noise "
                "(see all_runs_s); memory: max_rss_mb is the peak of each process, rss_end_mb what it held at the end"
            ),
        },
        "wall_time_s": round(time.time() - started, 1),
        "model": {
            "note": model_note,
            **{k: model_info[k] for k in ("source", "layout", "clip_length", "clip_seconds")},
        },
        "targets": TARGETS,
        "summary": summary,
        "met": {
            "overhead": summary["overhead_labeler_only"] <= TARGETS["overhead"],
            "stride2_realtime": all(
                f >= TARGETS["stride2_realtime"] for _, f in summary["stride2_realtime_factor_30fps_videos"]
            ),
            "memory_ratio": ratio <= TARGETS["memory_ratio"],
        },
        "videos": rows,
        "memory": memory,
        "cpu_threads": threads,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return result


if __name__ == "__main__":
    main()
