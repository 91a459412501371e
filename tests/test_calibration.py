"""Calibration: ECE by hand, temperature scaling recovers a known temperature, the measured "no action" threshold,
held-out training subjects, and the config entries the labeler reads."""

from __future__ import annotations

import json

import pytest
import torch

from skelrec.evaluate.calibration import (
    confidence_threshold,
    expected_calibration_error,
    fit_temperature,
    measure_calibration,
)


def test_ece_by_hand():
    # two samples at confidence 0.9 (one right) and two at 0.6 (both right): |0.5-0.9|*0.5 + |1-0.6|*0.5 = 0.4
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    labels = torch.tensor([0, 1, 1, 1])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.4)
    perfect = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(perfect, torch.tensor([0, 1])) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="N > 0"):
        expected_calibration_error(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))


def test_temperature_scaling_recovers_the_temperature_of_overconfident_logits():
    gen = torch.Generator().manual_seed(0)
    true = torch.randn(4000, 5, generator=gen) * 2  # calibrated logits: labels are drawn from their softmax
    labels = torch.multinomial(torch.softmax(true, -1), 1, generator=gen).flatten()
    overconfident = true * 3  # a model 3x too sure of itself
    t = fit_temperature(overconfident, labels)
    assert t == pytest.approx(3.0, rel=0.1)
    before = expected_calibration_error(torch.softmax(overconfident, -1), labels)
    after = expected_calibration_error(torch.softmax(overconfident / t, -1), labels)
    assert after < before / 3 and after < 0.03


def test_threshold_is_the_lowest_that_reaches_the_target_accuracy():
    conf = torch.tensor([0.95, 0.9, 0.8, 0.7, 0.6, 0.5])
    probs = torch.stack([conf, 1 - conf], dim=1)
    labels = torch.tensor([0, 0, 0, 1, 0, 1])  # the 4th most confident is wrong
    # top-3 are 100% right, top-5 4/5 = 80%, top-6 4/6
    assert confidence_threshold(probs, labels, target_accuracy=0.8) == (0.6, round(5 / 6, 4))
    assert confidence_threshold(probs, labels, target_accuracy=0.9) == (0.8, 0.5)
    only_4th = torch.tensor([1, 1, 1, 0, 1, 1])  # no threshold reaches 99%: the best accepted set is the top 4
    assert confidence_threshold(probs, only_4th, target_accuracy=0.99) == (0.7, round(4 / 6, 4))


def test_measure_calibration_reports_ece_before_and_after_on_both_sets():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(600, 4, generator=gen) * 2
    labels = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen).flatten()
    cal = measure_calibration((logits[:300] * 4, labels[:300]), (logits[300:] * 4, labels[300:]))
    report = json.loads(json.dumps(cal.to_dict()))
    assert report["temperature"] == pytest.approx(4.0, rel=0.25)
    for part in ("held_out", "test"):
        assert report["ece"][part]["after"] < report["ece"][part]["before"]
    assert report["samples"] == {"held_out": 300, "test": 300} and 0 < report["min_confidence"] < 1
