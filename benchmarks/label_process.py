"""Whole-process ``skelrec label`` against a bare MediaPipe script on the same 40-s clip.

What a user waits for: interpreter start, imports, model loading, decoding, poses, windows, outputs, exit. The
reference (:mod:`benchmarks.bare_mediapipe`) decodes the same video with PyAV and runs MediaPipe Pose on every frame
and nothing else. Runs alternate (bare, skelrec, bare, skelrec ...), ``--repeats`` times each; the fastest of each
is kept (the machine is shared: see ``load`` in the result). Each ``skelrec label`` run writes into a fresh
folder, so no pose cache is used. Target: skelrec / bare <= 1.10.

The clip: the real clips of benchmarks/labeling_throughput.py (``../shared/data/videos``) one after another,
letterboxed to 640x360 at 30 fps, repeated to 40 s (the astronaut photo video when the shared data is absent).

    python benchmarks/label_process.py [--seconds 40] [--repeats 3] [--model M]
        [--out benchmarks/results/label_process.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from skelrec.files import atomic_write_text
from skelrec.paths import REPO_ROOT, shared_data_dir

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for benchmarks.*
from benchmarks.labeling_throughput import CLIPS, astronaut_video, concatenated
from benchmarks.machine import machine

TARGET = 1.10
BARE = Path(__file__).with_name("bare_mediapipe.py")


def timed_run(cmd: list[str]) -> float:
    """Wall time of ``cmd`` in seconds; raises with its stderr when it fails."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"{shlex.join(cmd)} failed: {proc.stderr[-2000:]}")
    return elapsed


def skelrec_command(video: Path, out: Path, model: str | None) -> list[str]:
    exe = Path(sys.executable).with_name("skelrec")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "skelrec.cli"]
    return [*cmd, "label", str(video), "--out", str(out), "--device", "cpu", *(["--model", model] if model else [])]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", help="checkpoint folder or Hub id (default: skelrec label's default model)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks/results/label_process.json")
    args = parser.parse_args(argv)

    started, load_start = time.time(), os.getloadavg()
    runs: dict[str, list[float]] = {"bare_mediapipe_s": [], "skelrec_label_s": []}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = shared_data_dir()
        clips = [data / "videos" / c for c in CLIPS] if data else [astronaut_video(tmp / "astronaut.mp4")]
        video = concatenated(tmp / "clip.mp4", [c for c in clips if c.is_file()], args.seconds)
        for i in range(args.repeats):
            runs["bare_mediapipe_s"].append(round(timed_run([sys.executable, str(BARE), str(video)]), 2))
            out = tmp / f"labels{i}"
            runs["skelrec_label_s"].append(round(timed_run(skelrec_command(video, out, args.model)), 2))
            print(json.dumps({k: v[-1] for k, v in runs.items()}), flush=True)
        frames = json.loads(next(out.glob("*.json")).read_text(encoding="utf-8"))["frames"]

    bare, label = min(runs["bare_mediapipe_s"]), min(runs["skelrec_label_s"])
    result = {
        "command": shlex.join(["python", "benchmarks/label_process.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(mediapipe=True),
        "load": {"loadavg_start": list(load_start), "loadavg_end": list(os.getloadavg())},
        "clip": {"seconds": args.seconds, "frames": frames, "size": "640x360", "sources": [c.name for c in clips]},
        "skelrec_command": shlex.join(skelrec_command(Path("CLIP.mp4"), Path("OUT"), args.model)),
        "bare_command": f"python benchmarks/{BARE.name} CLIP.mp4",
        "runs": runs,
        "summary": {
            "bare_mediapipe_s": bare,
            "skelrec_label_s": label,
            "ratio": round(label / bare, 3),
            "target": TARGET,
            "meets_target": label / bare <= TARGET,
        },
        "wall_time_s": round(time.time() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["summary"]))
    return result


if __name__ == "__main__":
    main()
