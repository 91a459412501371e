"""MediaPipe -> Kinect (ntu25) conversion check on one NTU RGB+D recording seen by both sensors, plus pose speed.

The clip ``videos/ntu_rgbd/S001C001P001R001A001_rgb.avi`` (A001 "drink water", mirrored Kinect colour frames) and
its Kinect skeleton ``ntu_rgbd60_S001C001P001R001/S001C001P001R001A001.skeleton`` cover the same 103 frames.
MediaPipe Pose (legacy, model_complexity=1, video mode) runs on the clip with ``mirrored=True``; its landmarks are
converted to ntu25 with skelrec's own conversion and compared with the Kinect joints:

* in pixels: MediaPipe image landmarks x (1920, 1080) against Kinect ``colorX/colorY``, in torso lengths;
* in 3D: both normalized with :func:`skelrec.skeleton.normalize` (scale="torso"; center="sequence", the
  ``Normalization`` default, and center="frame"), per-joint mean distance and per-axis Pearson correlation of the
  trajectories;
* a control run interpreting the same landmarks as *unmirrored* (must be clearly worse: sides swapped);
* candidate weights for the joints MediaPipe lacks (head, neck, spine_mid, hands, feet), to justify the recipe in
  :data:`skelrec.skeleton._MP_TO_KINECT`;
* speed: frames per second of decoding and of decoding + MediaPipe on the 1080p clip, the same clip downscaled to
  512 px, and a 512x512 video.

Usage::

    .venv/bin/python benchmarks/conversion_check.py [--data ../shared/data] [--out results.json]

(default output: benchmarks/results/conversion_check.json).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from skelrec.datasets.ntu import parse_skeleton
from skelrec.errors import SkelrecError
from skelrec.files import atomic_write_text
from skelrec.paths import REPO_ROOT, shared_data_dir
from skelrec.pose import MediaPipePoseEstimator, PoseSequence, extract_poses
from skelrec.pose.agreement import Agreement, compare_skeletons, compare_with_reference
from skelrec.skeleton import Normalization, conversion_matrix, get_layout
from skelrec.video import open_video, write_video

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for benchmarks.*
from benchmarks.machine import machine

VIDEO = "videos/ntu_rgbd/S001C001P001R001A001_rgb.avi"
SKELETON = "ntu_rgbd60_S001C001P001R001/S001C001P001R001A001.skeleton"
KEY_JOINTS = (
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "head",
    "neck",
    "spine_mid",
    "spine_shoulder",
    "spine_base",
)
MOVING_JOINTS = ("right_elbow", "right_wrist", "right_hand", "left_elbow", "left_wrist", "left_hand")

# Candidate weights for joints MediaPipe does not have (the first of each list is the current recipe).
_SIDES = ("left", "right")
CANDIDATES: dict[str, list[dict[str, float]]] = {
    "head": [
        {"left_ear": 0.25, "right_ear": 0.25, "left_eye": 0.25, "right_eye": 0.25},
        {"left_ear": 0.5, "right_ear": 0.5},
        {"nose": 1.0},
    ],
    "neck": [
        {"left_shoulder": 0.3, "right_shoulder": 0.3, "left_ear": 0.2, "right_ear": 0.2},
        {"left_shoulder": 0.35, "right_shoulder": 0.35, "left_ear": 0.15, "right_ear": 0.15},
        {"left_shoulder": 0.3, "right_shoulder": 0.3, "mouth_left": 0.2, "mouth_right": 0.2},
    ],
    "spine_mid": [
        {"left_hip": 0.225, "right_hip": 0.225, "left_shoulder": 0.275, "right_shoulder": 0.275},
        {"left_hip": 0.25, "right_hip": 0.25, "left_shoulder": 0.25, "right_shoulder": 0.25},
        {"left_hip": 0.2, "right_hip": 0.2, "left_shoulder": 0.3, "right_shoulder": 0.3},
    ],
    **{
        f"{s}_hand": [
            {f"{s}_index": 0.5, f"{s}_pinky": 0.5},
            {f"{s}_wrist": 0.2, f"{s}_index": 0.4, f"{s}_pinky": 0.4},
            {f"{s}_wrist": 1.0},
        ]
        for s in _SIDES
    },
    **{
        f"{s}_foot": [
            {f"{s}_ankle": 0.5, f"{s}_foot_index": 0.5},
            {f"{s}_foot_index": 1.0},
            {f"{s}_heel": 0.5, f"{s}_foot_index": 0.5},
        ]
        for s in _SIDES
    },
}


def run_pose(video: Path) -> PoseSequence:
    return extract_poses(video, MediaPipePoseEstimator(), mirrored=True)


def kinect_reference(path: Path, frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(T, 25, 3)`` xyz, ``(T, 25, 2)`` colour pixels, ``(T, 25)`` tracked of the file's single body."""
    rec = parse_skeleton(path)
    if len(rec.bodies) != 1 or rec.bodies[0].num_frames != frames:
        raise SkelrecError(f"{path}: expected one body in {frames} frames, got {len(rec.bodies)} bodies")
    body = rec.bodies[0]
    return body.xyz, body.color_xy, body.tracking_state == 2


def agreement_summary(a: Agreement) -> dict[str, Any]:
    out = a.to_dict()
    out["key_joints"] = {n: out["joints"][n] for n in KEY_JOINTS + MOVING_JOINTS}
    return out


def recipe_candidates(poses: PoseSequence, ref: tuple[np.ndarray, ...], norm: Normalization) -> dict[str, Any]:
    """Pixel and 3D error of each candidate recipe for the joints MediaPipe lacks."""
    ntu, mp = get_layout("ntu25"), get_layout("mediapipe33")
    keep = poses.present[0]
    world = poses.to_skeleton("mediapipe33")[0, keep]  # skelrec axes, sides fixed
    image = poses.image_joints("mediapipe33")[0, keep, :, :2] * np.array([poses.width, poses.height], np.float32)
    ref_xyz, ref_px, tracked = (r[keep] for r in ref)
    out: dict[str, Any] = {}
    for joint, recipes in CANDIDATES.items():
        j, rows = ntu.index(joint), []
        for recipe in recipes:
            w = conversion_matrix(mp, ntu)
            w[j] = 0.0
            for name, weight in recipe.items():
                w[j, mp.index(name)] = weight
            est_xyz, est_px = (np.einsum("uv,tvc->tuc", w, x) for x in (world, image))
            a = compare_skeletons(est_xyz, est_px, ref_xyz, ref_px, normalization=norm, reference_tracked=tracked)
            rows.append({"recipe": recipe, **{k: a.joint(joint)[k] for k in ("pixel_error", "position_error")}})
        out[joint] = rows
    return out


def measure_speed(video: Path, max_side: int | None) -> dict[str, Any]:
    """Frames per second of decoding alone and of decoding + MediaPipe (graph start-up included)."""
    reader = open_video(video, max_side=max_side)
    start = time.perf_counter()
    n = sum(1 for _ in reader)
    decode = time.perf_counter() - start
    start = time.perf_counter()
    poses = MediaPipePoseEstimator().estimate(reader)
    total = time.perf_counter() - start
    return {
        "video": video.name,
        "size": f"{reader.width}x{reader.height}",
        "processed_size": "{}x{}".format(*reader.output_size),
        "frames": n,
        "decode_fps": round(n / decode, 1),
        "decode_and_pose_fps": round(n / total, 1),
        "detection_rate": round(poses.detection_rate, 3),
    }


def astronaut_video(folder: Path, frames: int = 90) -> Path:
    """A 512x512 H.264 clip of the scikit-image astronaut photo, slowly shifted (a real person, no shared data)."""
    from skimage.data import astronaut

    img = astronaut()
    return write_video(folder / "astronaut512.mp4", (np.roll(img, 2 * i, axis=1) for i in range(frames)), fps=30)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=shared_data_dir(), help="the shared research data folder")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks/results/conversion_check.json")
    args = parser.parse_args(argv)
    if args.data is None:
        raise SystemExit("../shared/data not found; pass --data or set SKELREC_SHARED_DATA")
    video = args.data / VIDEO
    poses = run_pose(video)
    ref = kinect_reference(args.data / SKELETON, poses.num_frames)
    tracked = {"reference_tracked": ref[2]}
    norms = {c: Normalization(center=c, scale="torso") for c in ("sequence", "frame")}
    control = compare_with_reference(poses.with_mirrored(False), ref[0], ref[1], **tracked)
    with tempfile.TemporaryDirectory() as tmp:
        speed = [measure_speed(video, None), measure_speed(video, 512), measure_speed(astronaut_video(Path(tmp)), None)]
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(mediapipe=True),
        "video": VIDEO,
        "skeleton": SKELETON,
        "frames": poses.num_frames,
        "frames_with_pose": int(poses.present[0].sum()),
        "units": "distances in torso lengths (spine_base -> spine_shoulder); pixel_error_tracked: only frames where "
        "Kinect tracked (not inferred) the joint; correlation null where Kinect moves < 0.05 torso lengths (std)",
        "kinect_tracked_fraction": {
            n: round(float(ref[2][:, j].mean()), 3) for j, n in enumerate(get_layout("ntu25").joints)
        },
        "agreement": {
            c: agreement_summary(compare_with_reference(poses, ref[0], ref[1], normalization=n, **tracked))
            for c, n in norms.items()
        },
        "unmirrored_control": {
            "most_moving": control.most_moving(),
            "pixel_error": {n: control.joint(n)["pixel_error"] for n in KEY_JOINTS},
        },
        "recipe_candidates": recipe_candidates(poses, ref, norms["sequence"]),
        "speed": speed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
