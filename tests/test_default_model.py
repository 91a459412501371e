"""The shipped models: ``default`` (the unified vocabulary) and ``gestures`` (UTD-MHAD). They load offline, their cards
are their runs', and the accuracies they report are true.

The accuracy checks re-score the shipped weights on the cross-subject test subjects prepared from ../shared/data
(skipped without it) and compare with the numbers in their configs and model cards.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from skelrec.checkpoint import CheckpointConfig, read_config
from skelrec.datasets.vocabulary import UNIFIED
from skelrec.evaluate.context import EvalContext
from skelrec.evaluate.features import predict_logits
from skelrec.evaluate.finetune import per_dataset_scores
from skelrec.evaluate.metrics import classification_metrics
from skelrec.hub.loading import from_pretrained
from skelrec.hub.shipped import shipped_model_dir

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
SCORED = ("utd_mhad", "nw_ucla", "msr_action3d")
"""The labelled datasets the unified model is scored on (the NTU samples, one performer, only train it)."""


def card_accuracy(config: CheckpointConfig, dataset: str) -> float:
    (metric,) = [m for m in config.metrics or () if m["dataset"] == dataset and m["split"] == "xsub"]
    return float(metric["value"])


def _card(folder: Path) -> str:
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: skelrec" in card
    assert "research" in card.lower()  # the data terms
    assert sum(f.stat().st_size for f in folder.iterdir()) < 20e6
    return card


def test_the_default_model_is_the_unified_vocabulary_calibrated(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = from_pretrained(None, device="cpu")
    config = loaded.config
    assert loaded.folder == shipped_model_dir("default") == WEIGHTS / "default"
    assert config.layout == "kinect20" and config.normalization["center"] == "frame"  # the labeler's MediaPipe input
    sources = config.extra["label_sources"]
    assert set(sources) == {*SCORED, "ntu60"}
    assert set(config.labels) == {label for classes in sources.values() for label in classes.values()}
    assert sources == UNIFIED.restrict(sources).label_sources()  # the table of skelrec.datasets.vocabulary
    assert "sit down" in config.labels and "wave hand" in config.labels  # merged across datasets
    assert config.temperature and 0 < config.min_confidence < 1  # calibrated on held-out training subjects
    card = _card(loaded.folder)
    for dataset in SCORED:
        assert f"{card_accuracy(config, dataset):.2f}" in card  # the card shows the run's numbers
    assert "Calibration" in card and f"{config.extra['calibration']['ece']['test']['after']:.4f}" in card
    # the card compares the shipped fine-tuning with the other starting point (self-supervised weights / none)
    (other,) = config.extra["compared_with"]
    assert {other["init"], config.training["init"]} == {"pretrained", "random"}
    with torch.no_grad():
        logits = loaded.model(torch.zeros(1, 1, config.clip_length, 20, 3), torch.ones(1, 1, config.clip_length))
    assert logits.shape == (1, len(config.labels))


def test_the_gestures_model_loads_offline_with_its_card(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = from_pretrained("gestures", device="cpu")
    config = loaded.config
    assert loaded.folder == WEIGHTS / "gestures"
    assert len(config.labels) == 27 and config.layout == "kinect20"
    card = _card(loaded.folder)
    assert f"{card_accuracy(config, 'utd_mhad'):.4f}" in card
    (other,) = config.extra["compared_with"]
    assert {other["init"], config.training["init"]} == {"pretrained", "random"}
    assert f"{other['utd_mhad_xsub_top1']:.2f}" in card


@pytest.mark.slow
def test_the_default_model_scores_what_its_card_says_per_dataset(real_caches):
    folder = WEIGHTS / "default"
    config = read_config(folder)
    data = [f"{real_caches[name]}#xsub" for name in SCORED] + [f"{real_caches['ntu60_sample']}#train"]
    ctx = EvalContext.open(folder, data, "xsub", vocabulary="unified")
    assert ctx.classes == list(config.labels)
    test = ctx.part("test")
    model = from_pretrained(str(folder), device="cpu").model
    logits, labels = predict_logits(model, ctx.torch_dataset(test))
    scores = {row["dataset"]: row["value"] for row in per_dataset_scores(ctx, test, logits, labels)}
    assert set(scores) == set(SCORED)
    for dataset, value in scores.items():
        assert value == pytest.approx(card_accuracy(config, dataset), abs=0.01), dataset


@pytest.mark.slow
def test_the_gestures_model_scores_what_its_card_says_on_utd_mhad_test_subjects(real_caches):
    folder = WEIGHTS / "gestures"
    config = read_config(folder)
    ctx = EvalContext.open(folder, real_caches["utd_mhad"], "xsub")
    test = ctx.part("test")
    assert sorted({int(test.meta(i)["subject"]) for i in range(len(test))}) == [2, 4, 6, 8]
    model = from_pretrained(str(folder), device="cpu").model
    logits, labels = predict_logits(model, ctx.torch_dataset(test))
    metrics, _ = classification_metrics(logits, labels, ctx.classes)
    assert metrics["top1"] == pytest.approx(card_accuracy(config, "utd_mhad"), abs=0.25)  # one clip is 0.23 points
