"""The model shipped in weights/default: it loads offline, its card is the run's, and its reported accuracy is true.

The accuracy check re-scores the shipped weights on UTD-MHAD's cross-subject test subjects (2, 4, 6, 8) prepared
from ../shared/data (skipped without it) and compares with the number in its config and model card.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from skelrec.checkpoint import CheckpointConfig, read_config
from skelrec.evaluate.context import EvalContext
from skelrec.evaluate.features import predict_logits
from skelrec.evaluate.metrics import classification_metrics
from skelrec.hub.loading import from_pretrained

WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "default"


def card_accuracy(config: CheckpointConfig) -> float:
    (metric,) = [m for m in config.metrics or () if m["dataset"] == "utd_mhad" and m["split"] == "xsub"]
    return float(metric["value"])


def test_the_default_model_loads_offline_with_its_card(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = from_pretrained(None, device="cpu")
    config = loaded.config
    assert len(config.labels) == 27 and config.layout == "kinect20"
    assert config.normalization["center"] == "frame"  # what the labeler applies to MediaPipe world landmarks
    size = sum(f.stat().st_size for f in WEIGHTS.iterdir())
    assert size < 20e6
    card = (WEIGHTS / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: skelrec" in card
    assert f"{card_accuracy(config):.4f}" in card  # the card shows the run's number
    assert "research" in card.lower()  # the data terms
    # the card compares the shipped fine-tuning with the other starting point (self-supervised weights / none)
    (other,) = config.extra["compared_with"]
    assert {other["init"], config.training["init"]} == {"pretrained", "random"}
    assert f"{other['utd_mhad_xsub_top1']:.2f}" in card
    with torch.no_grad():
        logits = loaded.model(torch.zeros(1, 1, config.clip_length, 20, 3), torch.ones(1, 1, config.clip_length))
    assert logits.shape == (1, 27)


@pytest.mark.slow
def test_the_default_model_scores_what_its_card_says_on_utd_mhad_test_subjects(real_caches):
    config = read_config(WEIGHTS)
    ctx = EvalContext.open(WEIGHTS, real_caches["utd_mhad"], "xsub")
    test = ctx.part("test")
    assert sorted({int(test.meta(i)["subject"]) for i in range(len(test))}) == [2, 4, 6, 8]
    model = from_pretrained(str(WEIGHTS), device="cpu").model
    logits, labels = predict_logits(model, ctx.torch_dataset(test))
    metrics, _ = classification_metrics(logits, labels, ctx.classes)
    assert metrics["top1"] == pytest.approx(card_accuracy(config), abs=0.25)  # one clip is 0.23 points
