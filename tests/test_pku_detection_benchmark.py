"""benchmarks/pku_detection.py on a synthetic PKU-MMD folder: streams split by the official list, segments become
detections, tuning reads training streams only and the stored settings drive the one validation scoring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_label_skeleton_files import write_pku
from test_labeling import checkpoint_config, save_model, tiny_classifier

from benchmarks import pku_detection as bench
from skelrec.errors import SkelrecError
from skelrec.labeling import Labeler
from skelrec.labeling.segments import Segment

LABELS = ["handshaking", "hugging other person", "pushing other person"]  # PKU-MMD class names
TRAIN, VALID = ["0002-L", "0002-M", "0003-L"], ["0309-L", "0310-R"]
FRAMES = 150  # 5 s at 30 fps


def stream(seed: int) -> np.ndarray:
    """``(FRAMES, 25, 3)`` a person standing with swaying joints."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 0.3, (1, 25, 3)) + np.array([0, 0, 3.0])
    sway = 0.05 * np.sin(np.linspace(0, 6, FRAMES))[:, None, None]
    return (base + sway + rng.normal(0, 0.01, (FRAMES, 25, 3))).astype(np.float32)


@pytest.fixture(scope="module")
def pku_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pku_folder(tmp_path_factory.mktemp("pku") / "v1", TRAIN, VALID, "14,10,60,2\n16,80,140,2\n")


def pku_folder(root: Path, train: list[str], valid: list[str], labels: str) -> Path:
    """A PKU-MMD v1 folder: two-person streams of ``train`` and ``valid`` videos, each with the label lines
    ``labels``, and the cross-subject split file."""
    for sub in ("skeletons", "labels", "splits"):
        (root / sub).mkdir(parents=True)
    for i, video in enumerate(train + valid):
        write_pku(root / "skeletons" / f"{video}.txt", stream(i), stream(i + 50))
        (root / "labels" / f"{video}.txt").write_text(labels)
    (root / "splits" / "cross-subject.txt").write_text(
        f"Training videos: \n{', '.join(train)}\nValidation videos: \n{', '.join(valid)}\n"
    )
    return root


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    net = tiny_classifier(classes=len(LABELS))
    config = checkpoint_config(net, labels=LABELS, clip_seconds=1.0)
    return save_model(tmp_path_factory.mktemp("models") / "interactions", net, config)


def test_streams_follow_the_official_lists(pku_root: Path):
    assert [p.name for p in bench.split_streams(pku_root, "train")] == [f"{v}.txt" for v in TRAIN]
    assert [p.name for p in bench.split_streams(pku_root, "test")] == [f"{v}.txt" for v in VALID]
    assert bench.spread(list(range(10)), 3) == [0, 4, 9]  # type: ignore[arg-type]
    truths = bench.ground_truth(bench.PkuMmdReader(pku_root), pku_root / "skeletons" / "0309-L.txt")
    assert [(t.label, t.start, t.end) for t in truths] == [("handshaking", 10, 60), ("hugging other person", 80, 140)]


def test_segments_become_detections_joined_and_filtered():
    segments = [
        Segment(0.0, 1.0, "hug", 0.9),
        Segment(1.0, 1.4, "no action", 0.2, "uncertain"),
        Segment(1.4, 2.4, "hug", 0.5),
        Segment(2.4, 2.6, "kick", 0.8),
        Segment(3.0, 3.1, "no person", None, "no_person"),
    ]
    apart = bench.to_detections(segments, video="v", fps=30.0)
    assert [(d.label, d.start, d.end) for d in apart] == [("hug", 0, 30), ("hug", 42, 72), ("kick", 72, 78)]
    joined = bench.to_detections(segments, video="v", fps=30.0, max_gap=0.5, min_seconds=0.5)
    assert [(d.label, d.start, d.end) for d in joined] == [("hug", 0, 72)]  # the 0.2 s kick is dropped
    assert joined[0].score == pytest.approx(0.7)  # duration-weighted: 1 s at 0.9, 1 s at 0.5


def test_resegment_reproduces_the_labeler(pku_root: Path, model: Path):
    """Tuning varies smoothing and threshold over stored probabilities; with the labeler's own settings it must
    give exactly the labeler's segments (else the tuned choice would not be what the labeler does)."""
    path = pku_root / "skeletons" / "0002-L.txt"
    for smoothing, threshold in (("moving_average:3", 0.34), ("none", 0.0), ("ema:0.5", 0.5)):
        labeler = Labeler.from_pretrained(str(model), device="cpu", smoothing=smoothing, min_confidence=threshold)
        result = bench.label_stream(labeler, path)
        assert len(result.windows) > 5
        again = bench.resegment(result, smoothing=smoothing, min_confidence=threshold, min_visible=0.5)
        assert again == result.segments


def test_tune_then_score_once(pku_root: Path, model: Path, tmp_path: Path):
    settings, out = tmp_path / "settings.json", tmp_path / "result.json"
    common = ["--model", str(model), "--data", str(pku_root), "--settings", str(settings), "--out", str(out)]
    with pytest.raises(SkelrecError, match="--tune"):
        bench.main(common)  # no tuned settings yet
    grid = ["--windows", "1.0", "--strides", "0.5", "--smoothings", "none,moving_average:3"]
    grid += ["--min-confidences", "0.0,0.5", "--max-gaps", "0", "--min-seconds", "0"]
    doc = bench.main([*common, "--tune", "--skip-eval", *grid])
    assert doc["streams"] == TRAIN  # never a validation stream
    assert len(doc["rows"]) == 4 and doc["chosen"] == doc["rows"][0]["settings"]
    assert json.loads(settings.read_text())["chosen"] == doc["chosen"]
    result = bench.main(common)
    assert [s["video"] for s in result["streams"]] == VALID
    assert result["instances"] == 4
    assert set(result["map"]) == {"0.1", "0.3", "0.5"}
    assert set(result["model_classes"]["per_class"]) == {"handshaking", "hugging other person"}  # present only
    assert result["settings"]["skelrec_label_flags"].startswith("--window 1 --window-stride 0.5")
    assert json.loads(out.read_text())["map"] == result["map"]


def test_settings_of_other_weights_are_refused(pku_root: Path, model: Path, tmp_path: Path):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"model": {"source": "other", "weights_digest": "0" * 32}, "chosen": {}}))
    with pytest.raises(SkelrecError, match="tuned for other"):
        bench.load_settings(settings, str(model))
