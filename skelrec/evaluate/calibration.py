"""Confidence calibration of a classifier: temperature scaling, expected calibration error, the "no action" rule.

Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017, sec. 4.2) divides the
logits by one scalar ``T`` fitted by minimising the negative log-likelihood on held-out data; the arg-max, hence the
accuracy, is unchanged. The held-out data are *training* subjects kept out of fine-tuning
(:func:`holdout_subjects`), never the test subjects the accuracy is reported on. The fitted ``T`` is stored in the
checkpoint's ``config["temperature"]`` and the labeler divides the logits by it before its softmax.

The labeler's "uncertain / no action" rule is a threshold on the top (calibrated) probability:
:func:`confidence_threshold` sets it from measurement, as the lowest threshold at which the windows it accepts are
right at least ``target_accuracy`` of the time on the held-out subjects; it goes to ``config["min_confidence"]``.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from skelrec.checkpoint import load_checkpoint, save_checkpoint
from skelrec.datasets.cache import PreparedDataset
from skelrec.datasets.torch_data import ConcatPrepared, PreparedLike
from skelrec.datasets.vocabulary import Vocabulary
from skelrec.errors import SkelrecError

__all__ = [
    "ECE_BINS",
    "Calibration",
    "confidence_threshold",
    "expected_calibration_error",
    "fit_temperature",
    "holdout_subjects",
    "measure_calibration",
    "write_calibration",
]

log = logging.getLogger(__name__)

ECE_BINS = 15
"""Equal-width confidence bins of the expected calibration error (Guo et al. 2017 use 15)."""

SUBJECT_KEYS = ("subject", "performer", "person")
"""Metadata keys that name who performed a clip, in the readers' spelling (NTU: ``performer``, MSRC-12: ``person``)."""


def expected_calibration_error(probs: Tensor, labels: Tensor, bins: int = ECE_BINS) -> float:
    """ECE of probabilities ``(N, K)`` against labels ``(N,)``: ``sum_b |B_b|/N * |acc(B_b) - conf(B_b)|`` over
    ``bins`` equal-width bins of the top probability (Guo et al. 2017, eq. 3); in [0, 1]."""
    if probs.ndim != 2 or len(probs) != len(labels) or not len(labels):
        raise ValueError(f"expected probabilities (N, K) and labels (N,), N > 0; got {tuple(probs.shape)}")
    conf, pred = probs.float().max(dim=1)
    correct = (pred == labels).float()
    edges = torch.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges.tolist()):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += float(inside.float().mean()) * abs(float(correct[inside].mean()) - float(conf[inside].mean()))
    return ece


def _nll(logits: Tensor, labels: Tensor, inverse_temperature: float) -> float:
    return float(torch.nn.functional.cross_entropy(logits * inverse_temperature, labels))


def fit_temperature(logits: Tensor, labels: Tensor, *, low: float = 0.05, high: float = 20.0) -> float:
    """The temperature ``T`` minimising the NLL of ``softmax(logits / T)`` (logits ``(N, K)``, labels ``(N,)``).

    The NLL is convex in ``1 / T`` (a log-sum-exp minus a linear term), so a golden-section search over
    ``1 / T`` in ``[1 / high, 1 / low]`` finds the global minimum; deterministic, no optimiser state.
    """
    if not len(labels):
        raise ValueError("no held-out samples to fit a temperature on")
    logits, labels = logits.detach().double().cpu(), labels.detach().long().cpu()
    a, b = 1.0 / high, 1.0 / low
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = _nll(logits, labels, c), _nll(logits, labels, d)
    while b - a > 1e-5:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = _nll(logits, labels, c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = _nll(logits, labels, d)
    return 1.0 / ((a + b) / 2)


def confidence_threshold(probs: Tensor, labels: Tensor, *, target_accuracy: float = 0.9) -> tuple[float, float]:
    """``(threshold, coverage)``: the lowest top-probability threshold at which the accepted samples (top
    probability >= threshold) are right at least ``target_accuracy`` of the time, and the fraction accepted.

    When no threshold reaches the target, the one with the most accurate non-empty accepted set is returned.
    """
    conf, pred = probs.float().max(dim=1)
    order = torch.argsort(conf, descending=True)
    conf, correct = conf[order], (pred == labels)[order].float()
    accuracy = torch.cumsum(correct, 0) / torch.arange(1, len(conf) + 1)  # accuracy of the top-n most confident
    reached = torch.nonzero(accuracy >= target_accuracy).flatten()
    n = int(reached.max()) if len(reached) else int(torch.argmax(accuracy))
    return round(float(conf[n]), 4), round((n + 1) / len(conf), 4)


@dataclass
class Calibration:
    """What the build measures and stores: the fitted temperature, the "no action" threshold and the ECE before and
    after scaling on the held-out training subjects (and on the test subjects, when given)."""

    temperature: float
    min_confidence: float
    coverage: float
    target_accuracy: float
    ece: dict[str, dict[str, float]]
    samples: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "temperature scaling (Guo et al. 2017), fitted on held-out training subjects",
            "temperature": round(self.temperature, 4),
            "min_confidence": self.min_confidence,
            "min_confidence_rule": f"lowest top probability whose accepted held-out clips are >= "
            f"{self.target_accuracy:.0%} right (accepts {self.coverage:.0%} of them)",
            "ece_bins": ECE_BINS,
            "ece": self.ece,
            "samples": self.samples,
        }


def measure_calibration(
    held_out: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor] | None = None,
    *,
    target_accuracy: float = 0.9,
) -> Calibration:
    """Fit the temperature and the threshold on ``held_out`` ``(logits, labels)``; ECE before/after on both sets."""
    logits, labels = held_out
    temperature = fit_temperature(logits, labels)
    calibrated = torch.softmax(logits / temperature, -1)
    threshold, coverage = confidence_threshold(calibrated, labels, target_accuracy=target_accuracy)
    ece, samples = {}, {}
    for name, pair in (("held_out", held_out), ("test", test)):
        if pair is None:
            continue
        x, y = pair
        ece[name] = {
            "before": round(expected_calibration_error(torch.softmax(x, -1), y), 4),
            "after": round(expected_calibration_error(torch.softmax(x / temperature, -1), y), 4),
        }
        samples[name] = len(y)
    return Calibration(temperature, threshold, coverage, target_accuracy, ece, samples)


def holdout_subjects(
    parts: list[PreparedDataset], layout: str, vocabulary: Vocabulary | None = None
) -> tuple[PreparedLike, PreparedLike]:
    """Split training parts into (training, calibration): of every dataset with at least two performers, the clips
    of its highest-numbered training performer are held out for calibration (a dataset with one performer, such as
    the NTU samples, stays whole in training). Both come back as :class:`ConcatPrepared` in ``layout`` with
    ``vocabulary``."""
    train, held = [], []
    for part in parts:
        key = next((k for k in SUBJECT_KEYS if len(part) and k in part.meta(0)), None)
        who = np.array([part.meta(i)[key] for i in range(len(part))]) if key else np.zeros(len(part))
        if key is None or len(set(who.tolist())) < 2:
            train.append(part)
            continue
        last = who == who.max()
        train.append(part.subset(~last))
        held.append(part.subset(last))
        log.info("%s: %s %s held out for calibration (%d clips)", part.dataset, key, who.max(), int(last.sum()))
    if not held:
        raise SkelrecError("no dataset has two training performers to hold one out for calibration")
    return ConcatPrepared(train, layout, vocabulary), ConcatPrepared(held, layout, vocabulary)


def write_calibration(folder: str | Path, calibration: Calibration) -> Path:
    """Store the temperature, the threshold and the report in the checkpoint's ``config.json``."""
    state, config = load_checkpoint(folder)
    config = config.updated(
        temperature=round(calibration.temperature, 4),
        min_confidence=calibration.min_confidence,
        calibration=calibration.to_dict(),
    )
    return save_checkpoint(folder, state, config)
