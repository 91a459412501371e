"""What a shipped model says on real footage: every real video in ../shared/data/videos, labelled as a user would.

    python benchmarks/real_footage.py                          # the shipped default model
    python benchmarks/real_footage.py --model gestures --out benchmarks/results/real_footage_gestures.json

Each video is labelled with ``skelrec label``'s defaults (the model's own window and threshold) through the library
(:class:`skelrec.labeling.Labeler`), as a user who knows the footage would: NTU RGB+D's colour video is Kinect's
mirrored image (../shared/DATA.md: the paired clip names sides oppositely; benchmarks/conversion_check.py), so its
clips are labelled as ``skelrec label --mirrored`` labels them; the others are not mirrored. Poses are cached in
``runs/real_footage/poses`` so another model re-uses them. Per video the result file holds what the video shows
(from its source's file name and ``SOURCE.txt``), whether it is mirrored, the label the model's vocabulary has for it
when it has one (through the checkpoint's ``label_sources``, or the label itself), the whole-clip top 3, the segments
and the status. Summary: of the videos whose action the model knows, how many have it as the whole-clip top-1, top-3
and as a segment; of the videos it cannot know, how many it nonetheless labels as an action.

This is a development set (7 + 7 clips): a figure here says what a user would see, not a benchmark score.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine  # noqa: E402
from skelrec.files import atomic_write_text  # noqa: E402
from skelrec.labeling import Labeler  # noqa: E402
from skelrec.paths import shared_data_dir  # noqa: E402


@dataclass(frozen=True)
class Clip:
    """A real video and what it shows: ``source`` = (dataset, class name as that dataset's reader names it);
    ``mirrored``: the frames are a mirror image (NTU RGB+D's Kinect colour video)."""

    path: str
    shows: str
    source: tuple[str, str] | None = None
    mirrored: bool = False


CLIPS = [
    Clip("daily_actions_dev/S004C003P003R001A006_rgb.avi", "pick up (NTU A006)", ("ntu60", "pickup"), mirrored=True),
    Clip("daily_actions_dev/S004C003P003R001A007_rgb.avi", "throw (NTU A007)", ("ntu60", "throw"), mirrored=True),
    Clip(
        "daily_actions_dev/S004C002P003R002A046_rgb.avi",
        "touch back (NTU A046)",
        ("ntu60", "touch back (backache)"),
        mirrored=True,
    ),
    Clip(
        "daily_actions_dev/S004C002P003R002A047_rgb.avi",
        "touch neck (NTU A047)",
        ("ntu60", "touch neck (neckache)"),
        mirrored=True,
    ),
    Clip(
        "daily_actions_dev/S004C002P003R002A048_rgb.avi",
        "nausea or vomiting (NTU A048)",
        ("ntu60", "nausea or vomiting condition"),
        mirrored=True,
    ),
    Clip(
        "daily_actions_dev/person01_handclapping_d1_uncomp.avi",
        "hand clapping (KTH)",
        ("utd_mhad", "two hand front clap"),
    ),
    Clip(
        "daily_actions_dev/person01_handclapping_d2_uncomp.avi",
        "hand clapping (KTH)",
        ("utd_mhad", "two hand front clap"),
    ),
    Clip("ntu_rgbd/S001C001P001R001A001_rgb.avi", "drink water (NTU A001)", ("ntu60", "drink water"), mirrored=True),
    Clip(
        "mmaction2/ntu_sample.avi",
        "two people, one hands a hat to the other (NTU-120)",
        ("ntu60", "giving something to other person"),
        mirrored=True,
    ),
    Clip(
        "mmaction2/demo_test_video_structuralize.mp4",
        "two people shooting basketballs",
        ("utd_mhad", "basketball shooting"),
    ),
    Clip("mmaction2/demo_demo.mp4", "arm wrestling (Kinetics-400)"),
    Clip("mmaction2/tests_data_test.mp4", "cleaning a pool, legs only"),
    Clip("mmpose_demo/demo.mp4", "mmpose demo clip"),
    Clip("opencv_samples/vtest.avi", "a street scene, people too small to find"),
]


def expected_label(clip: Clip, label_sources: dict[str, dict[str, str]], labels: list[str]) -> str | None:
    """The model's label for what ``clip`` shows, or ``None`` when the model has no such label."""
    if clip.source is None:
        return None
    dataset, name = clip.source
    label = label_sources.get(dataset, {}).get(name)
    if label is None and name in labels:
        label = name
    return label if label in labels else None


def label_clip(labeler: Labeler, clip: Clip, videos: Path, expected: str | None) -> dict:
    t0 = time.perf_counter()
    result = labeler.label(videos / clip.path, mirrored=clip.mirrored)
    seconds = time.perf_counter() - t0
    top3 = result.summary(3)
    actions = sorted({s.label for s in result.segments if s.state == "action"})
    row = {
        "video": clip.path,
        "shows": clip.shows,
        "mirrored": clip.mirrored,
        "expected": expected,
        "status": result.status,
        "duration_s": round(result.duration, 2),
        "detection_rate": round(result.pose.detection_rate, 3),
        "top3": top3,
        "segments": [s.to_dict() for s in result.segments],
        "actions": actions,
        "seconds": round(seconds, 1),
    }
    if expected is not None:
        names = [t["label"] for t in top3]
        row |= {
            "top1_right": names[:1] == [expected],
            "top3_right": expected in names,
            "segment_right": expected in actions,
        }
    else:
        row["labelled_an_action"] = bool(actions)
    return row


def summarise(rows: list[dict]) -> dict:
    known = [r for r in rows if r["expected"] is not None]
    unknown = [r for r in rows if r["expected"] is None and r["status"] == "ok"]
    return {
        "known_videos": len(known),
        "top1_right": sum(r["top1_right"] for r in known),
        "top3_right": sum(r["top3_right"] for r in known),
        "segment_right": sum(r["segment_right"] for r in known),
        "no_action_only": sum(not r["actions"] for r in known),
        "unknown_videos_with_a_person": len(unknown),
        "unknown_labelled_as_action": sum(r["labelled_an_action"] for r in unknown),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="a shipped name, folder or Hub id (default: the default model)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "real_footage.json")
    parser.add_argument("--poses", type=Path, default=ROOT / "runs" / "real_footage" / "poses")
    args = parser.parse_args()
    data = shared_data_dir()
    if data is None:
        sys.exit("real_footage.py needs ../shared/data (or SKELREC_SHARED_DATA)")
    videos = data / "videos"
    labeler = Labeler.from_pretrained(args.model, device="cpu", pose_cache=args.poses)
    label_sources = dict(labeler.loaded.config.extra.get("label_sources") or {})
    rows = []
    for clip in CLIPS:
        expected = expected_label(clip, label_sources, list(labeler.labels))
        rows.append(label_clip(labeler, clip, videos, expected))
        r = rows[-1]
        print(f"{clip.path}: {r['status']}; expected {expected}; top3 {[t['label'] for t in r['top3']]}", flush=True)
    report = {
        "benchmark": "real_footage",
        "command": "python " + " ".join(["benchmarks/real_footage.py", *sys.argv[1:]]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "model": labeler.model_info(),
        "settings": labeler.settings(False),
        "summary": summarise(rows),
        "videos": rows,
    }
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=2))


if __name__ == "__main__":
    main()
