"""The labeler's calibrated softmax (``config["temperature"]``), the measured "no action" threshold
(``config["min_confidence"]``), and the ``too_short`` status of inputs shorter than half a window."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_labeling import astronaut_frames, checkpoint_config, save_model, synthetic_poses, tiny_classifier

from skelrec.labeling import Labeler
from skelrec.labeling.labeler import DEFAULT_MIN_CONFIDENCE
from skelrec.labeling.writers import render_csv, render_json
from skelrec.video import write_video


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same tiny classifier (window 1 s) saved plain and with a calibration (temperature 2.5, threshold 0.3)."""
    root, model = tmp_path_factory.mktemp("models"), tiny_classifier()
    return {
        "plain": save_model(root / "plain", model, checkpoint_config(model)),
        "calibrated": save_model(
            root / "calibrated", model, checkpoint_config(model, temperature=2.5, min_confidence=0.3)
        ),
    }


def test_temperature_and_threshold_come_from_the_config(models):
    plain = Labeler.from_pretrained(models["plain"], device="cpu", smoothing="none")
    calibrated = Labeler.from_pretrained(models["calibrated"], device="cpu", smoothing="none")
    assert (plain.temperature, plain.min_confidence) == (1.0, DEFAULT_MIN_CONFIDENCE)
    assert (calibrated.temperature, calibrated.min_confidence) == (2.5, 0.3)
    assert Labeler.from_pretrained(models["calibrated"], device="cpu", min_confidence=0.7).min_confidence == 0.7
    skeleton = synthetic_poses([("raise left", 2.0)]).to_skeleton("ntu25")
    windows = plain.label_poses(synthetic_poses([("raise left", 2.0)])).windows
    x, m = plain.input(skeleton[:, windows[0].frames])
    with torch.no_grad():
        logits = plain.model(torch.from_numpy(x)[None], torch.from_numpy(m)[None])[0]
    np.testing.assert_allclose(plain.classify(skeleton, windows[:1])[0], torch.softmax(logits, -1), atol=1e-6)
    np.testing.assert_allclose(
        calibrated.classify(skeleton, windows[:1])[0], torch.softmax(logits / 2.5, -1), atol=1e-6
    )
    assert calibrated.model_info()["temperature"] == 2.5


@pytest.mark.parametrize("seconds", [1 / 20, 0.2])  # one frame at 20 fps, and 0.2 s
def test_input_shorter_than_half_a_window_is_too_short_never_an_action(models, seconds):
    lab = Labeler.from_pretrained(models["plain"], device="cpu", min_confidence=0.0)  # would accept any action
    result = lab.label_poses(synthetic_poses([("raise left", seconds)]))
    assert result.status == "too_short" and lab.min_seconds == 0.5
    assert {d.state for d in result.decisions} == {"too_short"} and not result.probabilities.any()
    assert [(s.label, s.state) for s in result.segments] == [("too short", "too_short")]
    assert result.summary() == [] and all(w["top"] == [] for w in result.window_dicts())
    doc = json.loads(render_json(result))
    assert doc["status"] == "too_short" and "\n" not in doc["notice"]
    assert "needs at least 0.50 s (half its 1.00 s window)" in doc["notice"]
    assert "action" not in render_csv(result).replace("no action", "").split("\n", 1)[1]
    enough = lab.label_poses(synthetic_poses([("raise left", 0.6)]))
    assert enough.status == "ok" and {d.state for d in enough.decisions} == {"action"}


@pytest.mark.parametrize("seconds", [1 / 30, 0.2])
def test_too_short_videos_through_the_labeler(models, tmp_path, seconds, caplog):
    video = write_video(tmp_path / "short.mp4", astronaut_frames(seconds))
    lab = Labeler.from_pretrained(models["plain"], device="cpu", min_confidence=0.0)
    result = lab.label(video)
    assert result.pose.frames_with_person >= 1 and result.status == "too_short"
    assert not [s for s in result.segments if s.state == "action"]
    assert any("too short to label" in r.getMessage() for r in caplog.records)
