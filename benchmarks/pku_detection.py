"""PKU-MMD temporal detection: label whole untrimmed streams with the interaction model and score the segments.

    python benchmarks/pku_detection.py --tune     # grid on TRAINING-list streams -> results/pku_detection_settings.json
    python benchmarks/pku_detection.py            # the validation streams, once, with the stored settings
                                                  #   -> benchmarks/results/pku_detection.json
    python benchmarks/pku_detection.py --model runs/interactions/finetune_pretrained/classifier --tune
    python benchmarks/pku_detection.py --tune --windows 1.0 --strides 0.5 --smoothings none   # a smaller grid

Streams: the PKU-MMD phase-1 skeleton files of ../shared/data/pku_mmd/v1 (``.txt`` and ``.txt.xz``), split by the
official cross-subject list (``splits/cross-subject.txt``): the 13 streams here on its validation list are scored, the
193 on its training list are the only ones ``--tune`` looks at (``--tune-streams`` of them, evenly spread).

Each stream is labelled exactly as ``skelrec label STREAM.txt --model MODEL --window ... --window-stride ...
--smoothing ... --min-confidence ...`` labels it (:func:`skelrec.datasets.recording.read_recording`, then
:meth:`skelrec.labeling.Labeler.label_skeleton`). The labeler's ``action`` segments become detections (label, frames,
score = the segment's mean top probability); same-label segments at most ``max_gap`` seconds apart are joined and
detections shorter than ``min_seconds`` dropped. Ground truth: the stream's label file (``[start, end)`` frames, 30
fps). Scores: mAP at temporal IoU 0.1, 0.3 and 0.5 (:mod:`skelrec.evaluate.detection`, the PKU-MMD protocol) over
(a) the model's classes that have instances in the scored streams (the 8 interactions) and (b) every class with
instances there (single-person classes too, which an interaction model cannot detect: AP 0).

Tuning: every window length (factors of the model's clip duration) and stride is classified once per stream; the
smoothing, the "no action" threshold and the merging are then varied over the stored per-window probabilities
(:func:`resegment`, the labeler's own smoothing/decision/merging functions). The setting with the best mAP@0.5 over
the model's classes wins (ties: the mean over the thresholds). The training streams hold the instances the model was
fine-tuned on, so tuning sees optimistic probabilities; the validation streams are never looked at before scoring.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import logging
import shlex
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.machine import machine  # noqa: E402
from skelrec.checkpoint import WEIGHTS_NAME  # noqa: E402
from skelrec.datasets.pku import PkuMmdReader, pku_video  # noqa: E402
from skelrec.datasets.recording import read_recording  # noqa: E402
from skelrec.errors import SkelrecError  # noqa: E402
from skelrec.evaluate.detection import Instance, detection_map  # noqa: E402
from skelrec.files import atomic_write_text  # noqa: E402
from skelrec.hub.loading import from_pretrained  # noqa: E402
from skelrec.labeling import Labeler  # noqa: E402
from skelrec.labeling.result import LabelResult  # noqa: E402
from skelrec.labeling.segments import Segment, decide, merge_segments  # noqa: E402
from skelrec.labeling.smoothing import Smoothing  # noqa: E402
from skelrec.paths import shared_data_dir  # noqa: E402
from skelrec.pose import file_digest  # noqa: E402

log = logging.getLogger("pku_detection")

RESULT = ROOT / "benchmarks" / "results" / "pku_detection.json"
SETTINGS = ROOT / "benchmarks" / "results" / "pku_detection_settings.json"
THRESHOLDS = (0.1, 0.3, 0.5)
OBJECTIVE = 0.5  # tuning maximises mAP at this IoU over the model's classes
PROTOCOL = "xsub"
DEFAULT_GRID = {
    "windows": (0.5, 0.75, 1.0),  # factors of the model's clip duration (config clip_seconds)
    "strides": (0.25, 0.5),  # seconds
    "smoothings": ("none", "moving_average:3", "moving_average:5"),
    "min_confidences": (0.3, 0.5, 0.7),
    "max_gaps": (0.0, 0.5, 1.0),  # seconds
    "min_seconds": (0.0, 0.5),
}
REFERENCES = [
    {
        "method": "HCN (Li, Zhong, Xie, Pu; IJCAI 2018), skeleton only",
        "protocol": "PKU-MMD phase 1, cross-subject, all 51 classes, the full validation list",
        "map": {"0.5": 0.926},
        "source": "arXiv:1804.06055, PKU-MMD detection table (mAP at theta 0.5; cross-view 0.942); the figures as the "
        "Papers-with-Code benchmark lists them (mirror: https://hyper.ai/en/papers/1804.06055); the paper's own "
        "table could not be read offline",
    },
    {
        "method": "PKU-MMD evaluation protocol (Liu et al. 2017, arXiv:1703.07475)",
        "protocol": "mAP over actions (mAP_a) at overlap ratio theta; 2D-AP over theta",
        "map": {},
        "source": "evaluation script github.com/ECHO960/PKU-MMD evaluate.py; the paper's skeleton baselines are not "
        "transcribed here (not retrievable offline)",
    },
]
DIFFERENCES = [
    "13 validation-list streams (the ones in ../shared/data), not the 132 of the full list: ~96 interaction "
    "instances and 19 single-person instances in one stream (0312-R)",
    "the model knows the 8 interaction classes only; the papers detect all 51",
    "one-to-one matching and interpolated AP at each true positive (skelrec/evaluate/detection.py states how the "
    "authors' evaluate.py differs)",
    "detections are the labeler's sliding-window segments: no proposal network, no boundary regression",
]


# ----------------------------------------------------------------------------------------------------------------
# Settings
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectionSettings:
    """How a stream becomes detections.

    Attributes:
        window: window length in seconds (``skelrec label --window``); ``None``: the model's clip duration.
        stride: seconds between windows (``--window-stride``).
        smoothing: ``--smoothing`` text (``none``, ``moving_average:3`` ...).
        min_confidence: ``--min-confidence``: below it a window is "no action".
        max_gap: same-label action segments at most this many seconds apart are joined into one detection.
        min_seconds: detections shorter than this are dropped.
    """

    window: float | None = None
    stride: float = 0.5
    smoothing: str = "moving_average"
    min_confidence: float = 0.5
    max_gap: float = 0.0
    min_seconds: float = 0.0

    def labeler_options(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "stride": self.stride,
            "smoothing": self.smoothing,
            "min_confidence": self.min_confidence,
        }

    def cli_flags(self) -> str:
        """The ``skelrec label`` flags that label a stream as this benchmark does."""
        window = f"--window {self.window:g} " if self.window is not None else ""
        return (
            f"{window}--window-stride {self.stride:g} --smoothing {self.smoothing} "
            f"--min-confidence {self.min_confidence:g}"
        )


# ----------------------------------------------------------------------------------------------------------------
# Streams and ground truth
# ----------------------------------------------------------------------------------------------------------------


def split_streams(root: Path, part: str, protocol: str = PROTOCOL) -> list[Path]:
    """Skeleton files of ``root`` (``pku_mmd/v1``) on the ``train`` or ``test`` (validation) list of ``protocol``."""
    reader = PkuMmdReader(root)
    files = reader.files()
    indices = reader.split(protocol, [{"video": pku_video(p)} for p in files])[part]
    return [files[i] for i in indices]


def spread(items: Sequence[Path], count: int) -> list[Path]:
    """``count`` items evenly spread over ``items`` (all of them when ``count`` is 0 or larger)."""
    if count <= 0 or count >= len(items):
        return list(items)
    picks = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in picks]


def ground_truth(reader: PkuMmdReader, path: Path) -> list[Instance]:
    """The labelled instances of one stream (its label file, as the ``pku_mmd`` reader cuts them)."""
    video = pku_video(path)
    return [
        Instance(video, str(s.label_name), int(s.meta["start"]), int(s.meta["end"]))
        for s in reader.read(path)
        if s.label_name is not None
    ]


# ----------------------------------------------------------------------------------------------------------------
# Labels -> detections
# ----------------------------------------------------------------------------------------------------------------


def label_stream(labeler: Labeler, path: Path) -> LabelResult:
    """Label one skeleton file through the path ``skelrec label FILE`` takes."""
    reader, sample = read_recording(path)
    fps = sample.fps or reader.fps
    return labeler.label_skeleton(sample.data, sample.layout, fps=fps, source=str(path), origin=reader.name)


def resegment(result: LabelResult, *, smoothing: str, min_confidence: float, min_visible: float) -> list[Segment]:
    """The segments ``result`` would have with another smoothing and threshold: the labeler's own smoothing,
    decisions and merging (:class:`Smoothing`, :func:`decide`, :func:`merge_segments`) on its raw probabilities."""
    if result.notice is not None:  # too short: the labeler labels no window
        return []
    valid = result.visible >= min_visible
    smoothed = Smoothing.parse(smoothing)(result.probabilities, valid)
    decisions = decide(smoothed, result.visible, result.labels, min_confidence=min_confidence, min_visible=min_visible)
    return merge_segments(result.windows, decisions)


def to_detections(
    segments: Iterable[Segment], *, video: str, fps: float, max_gap: float = 0.0, min_seconds: float = 0.0
) -> list[Instance]:
    """``action`` segments (seconds) -> detections (frames); same-label segments at most ``max_gap`` s apart are
    joined (score: the duration-weighted mean of their scores), then those shorter than ``min_seconds`` dropped."""
    joined: list[Segment] = []
    for seg in (s for s in segments if s.state == "action"):
        last = joined[-1] if joined else None
        if last is not None and last.label == seg.label and seg.start - last.end <= max_gap + 1e-9:
            weights = np.array([last.end - last.start, seg.end - seg.start])
            score = float(np.average([last.score or 0.0, seg.score or 0.0], weights=weights))
            joined[-1] = replace(last, end=seg.end, score=score)
        else:
            joined.append(seg)
    return [
        Instance(video, s.label, s.start * fps, s.end * fps, float(s.score or 0.0))
        for s in joined
        if s.end - s.start >= min_seconds - 1e-9
    ]


def score(detections: list[Instance], truths: list[Instance], labels: Sequence[str]) -> dict[str, Any]:
    """mAP of the model's classes present in ``truths`` (``model_classes``) and of every class present."""
    present = {t.label for t in truths}
    mine = [c for c in labels if c in present]
    if not mine:
        raise SkelrecError(f"none of the model's classes ({', '.join(labels)}) has instances in these streams")
    return {
        "model_classes": detection_map(detections, truths, THRESHOLDS, classes=mine).to_dict(),
        "all_present": detection_map(detections, truths, THRESHOLDS).to_dict(),
    }


# ----------------------------------------------------------------------------------------------------------------
# Tuning and scoring
# ----------------------------------------------------------------------------------------------------------------


def _objective(maps: dict[str, float]) -> tuple[float, float]:
    """Tuning order: mAP at :data:`OBJECTIVE`, then the mean over the thresholds."""
    return maps[f"{OBJECTIVE:g}"], float(np.mean(list(maps.values())))


def tune(model: str, root: Path, streams: Sequence[Path], grid: dict[str, Sequence[Any]]) -> dict[str, Any]:
    """Grid search over ``grid`` on ``streams`` (training list only); returns the settings document."""
    reader = PkuMmdReader(root)
    truths = [t for p in streams for t in ground_truth(reader, p)]
    clip_seconds = Labeler.from_pretrained(model, device="cpu").input.seconds
    rows = []
    for factor, stride in itertools.product(grid["windows"], grid["strides"]):
        window = round(factor * clip_seconds, 3)
        labeler = Labeler.from_pretrained(model, device="cpu", window=window, stride=stride, smoothing="none")
        started = time.perf_counter()
        results = {pku_video(p): label_stream(labeler, p) for p in streams}
        log.info(
            "window %.2f s, stride %.2f s: %d streams labelled in %.0f s",
            window,
            stride,
            len(streams),
            time.perf_counter() - started,
        )
        post = itertools.product(grid["smoothings"], grid["min_confidences"], grid["max_gaps"], grid["min_seconds"])
        for smoothing, min_confidence, max_gap, min_seconds in post:
            settings = DetectionSettings(window, stride, smoothing, min_confidence, max_gap, min_seconds)
            detections = [
                d
                for video, result in results.items()
                for d in detections_with(result, settings, video=video, min_visible=labeler.min_visible)
            ]
            scores = score(detections, truths, labeler.labels)
            rows.append({"settings": asdict(settings), "window_factor": factor, "map": scores["model_classes"]["map"]})
    rows.sort(key=lambda r: _objective(r["map"]), reverse=True)
    return {
        "benchmark": "pku_detection_tuning",
        "model": model_identity(model),
        "clip_seconds": round(clip_seconds, 4),
        "objective": f"mAP@{OBJECTIVE:g} over the model's classes present (ties: mean over {THRESHOLDS})",
        "streams": [pku_video(p) for p in streams],
        "instances": len(truths),
        "grid": {k: list(v) for k, v in grid.items()},
        "chosen": rows[0]["settings"],
        "rows": rows,
    }


def detections_with(
    result: LabelResult, settings: DetectionSettings, *, video: str, min_visible: float
) -> list[Instance]:
    """The detections of a stream labelled without smoothing or threshold, under the post-processing ``settings``."""
    segments = resegment(
        result, smoothing=settings.smoothing, min_confidence=settings.min_confidence, min_visible=min_visible
    )
    return to_detections(
        segments, video=video, fps=result.fps, max_gap=settings.max_gap, min_seconds=settings.min_seconds
    )


def evaluate(model: str, root: Path, streams: Sequence[Path], settings: DetectionSettings) -> dict[str, Any]:
    """Label ``streams`` once with ``settings`` and score them; returns the result document (without the command)."""
    labeler = Labeler.from_pretrained(model, device="cpu", **settings.labeler_options())
    reader = PkuMmdReader(root)
    truths, detections, per_stream = [], [], []
    started = time.perf_counter()
    for path in streams:
        video = pku_video(path)
        result = label_stream(labeler, path)
        found = to_detections(
            result.segments, video=video, fps=result.fps, max_gap=settings.max_gap, min_seconds=settings.min_seconds
        )
        gt = ground_truth(reader, path)
        truths += gt
        detections += found
        per_stream.append({"video": video, "frames": result.frames, "instances": len(gt), "detections": len(found)})
    seconds = time.perf_counter() - started
    scores = score(detections, truths, labeler.labels)
    return {
        "benchmark": "pku_detection",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "model": {**model_identity(model), "labels": list(labeler.labels), "clip_seconds": labeler.input.seconds},
        "settings": {**asdict(settings), "labeler": labeler.settings(), "skelrec_label_flags": settings.cli_flags()},
        "protocol": "PKU-MMD phase 1, cross-subject validation list (the streams present here)",
        "streams": per_stream,
        "instances": len(truths),
        "map": scores["model_classes"]["map"],
        "model_classes": scores["model_classes"],
        "all_present": scores["all_present"],
        "labeling_seconds": round(seconds, 1),
        "references": REFERENCES,
        "differences": DIFFERENCES,
    }


def model_identity(model: str) -> dict[str, Any]:
    """``{source, weights_digest}``: which weights the settings and scores belong to."""
    loaded = from_pretrained(model, device="cpu")
    weights = loaded.folder / WEIGHTS_NAME
    return {"source": model, "weights_digest": file_digest(weights) if weights.is_file() else None}


def load_settings(path: Path, model: str) -> DetectionSettings:
    """The tuned settings stored at ``path``; an error when absent or tuned for other weights."""
    if not path.is_file():
        raise SkelrecError(f"{path}: no tuned settings; run `python benchmarks/pku_detection.py --tune` first")
    doc = json.loads(path.read_text())
    digest = model_identity(model)["weights_digest"]
    if doc["model"]["weights_digest"] != digest:
        raise SkelrecError(
            f"{path} was tuned for {doc['model']['source']} (weights {doc['model']['weights_digest']}), not for "
            f"{model} (weights {digest}); run --tune again with --model {model}"
        )
    return DetectionSettings(**doc["chosen"])


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="interactions", help="shipped name, checkpoint folder or Hub repo id")
    parser.add_argument("--data", type=Path, default=None, help="PKU-MMD phase-1 folder (default ../shared/data)")
    parser.add_argument("--tune", action="store_true", help="grid-search on training-list streams, store the choice")
    parser.add_argument("--tune-streams", type=int, default=40, help="training streams tuned on (0: all 193)")
    parser.add_argument("--settings", type=Path, default=SETTINGS, help="tuned settings file (written by --tune)")
    parser.add_argument("--out", type=Path, default=RESULT, help="result file of the validation scoring")
    parser.add_argument("--skip-eval", action="store_true", help="with --tune: stop after tuning")
    parser.add_argument("--windows", type=_floats, default=DEFAULT_GRID["windows"], help="factors of the clip")
    parser.add_argument("--strides", type=_floats, default=DEFAULT_GRID["strides"], help="seconds")
    parser.add_argument("--smoothings", type=lambda s: tuple(s.split(",")), default=DEFAULT_GRID["smoothings"])
    parser.add_argument("--min-confidences", type=_floats, default=DEFAULT_GRID["min_confidences"])
    parser.add_argument("--max-gaps", type=_floats, default=DEFAULT_GRID["max_gaps"], help="seconds")
    parser.add_argument("--min-seconds", type=_floats, default=DEFAULT_GRID["min_seconds"], help="seconds")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    root = args.data
    if root is None:
        shared = shared_data_dir()
        if shared is None:
            sys.exit("../shared/data is absent; pass --data PATH/TO/PKU-MMD/v1 (or set SKELREC_SHARED_DATA)")
        root = shared / "pku_mmd" / "v1"
    command = shlex.join(["python", "benchmarks/pku_detection.py", *(sys.argv[1:] if argv is None else argv)])
    if args.tune:
        grid = {key: getattr(args, key) for key in DEFAULT_GRID}
        streams = spread(split_streams(root, "train"), args.tune_streams)
        doc = {"command": command, **tune(args.model, root, streams, grid)}
        atomic_write_text(args.settings, json.dumps(doc, indent=2) + "\n")
        log.info("tuned on %d training streams: %s -> %s", len(streams), doc["chosen"], doc["rows"][0]["map"])
        if args.skip_eval:
            return doc
    settings = load_settings(args.settings, args.model)
    result = {"command": command, **evaluate(args.model, root, split_streams(root, "test"), settings)}
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    log.info("%s: mAP %s over %s", args.out, result["map"], ", ".join(result["model_classes"]["per_class"]))
    return result


if __name__ == "__main__":
    try:
        main()
    except SkelrecError as e:
        sys.exit(f"error: {e}")
