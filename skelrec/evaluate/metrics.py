"""Classification metrics of every protocol: top-k accuracy and per-class accuracy, in percent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["classification_metrics", "per_class_accuracy", "topk_accuracy"]


def topk_accuracy(scores: Tensor, labels: Tensor, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """``{"top1": %, "top5": %}``: how often the label is among the ``k`` highest of ``scores (N, K)``.

    ``k`` larger than the number of classes ``K`` counts every sample as correct (``top5`` of a 3-class problem is
    100 %). Ties are broken towards the lower class index (``torch.topk``).
    """
    n, classes = scores.shape
    if n == 0:
        raise ValueError("no samples to score")
    ranked = scores.topk(min(max(ks), classes), dim=1).indices  # (N, k_max)
    hit = ranked == labels[:, None]
    return {f"top{k}": 100.0 * int(hit[:, :k].any(dim=1).sum()) / n for k in ks}


def per_class_accuracy(pred: Tensor, labels: Tensor, classes: Sequence[str]) -> list[dict[str, Any]]:
    """One row per class: ``{"class", "index", "correct", "total", "accuracy"}`` (accuracy in %, ``None`` for a
    class absent from ``labels``)."""
    k = len(classes)
    total = torch.bincount(labels, minlength=k)[:k]
    correct = torch.bincount(labels[pred == labels], minlength=k)[:k]
    return [
        {
            "class": name,
            "index": i,
            "correct": int(correct[i]),
            "total": int(total[i]),
            "accuracy": 100.0 * int(correct[i]) / int(total[i]) if total[i] else None,
        }
        for i, name in enumerate(classes)
    ]


def classification_metrics(
    scores: Tensor, labels: Tensor, classes: Sequence[str]
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """``(metrics, per_class)`` of class scores ``(N, K)`` (logits, probabilities or votes) against ``labels (N,)``.

    ``metrics`` holds ``top1``, ``top5`` and ``mean_class`` (the mean of the per-class accuracies of the classes
    present in ``labels``), all in percent.
    """
    scores, labels = scores.detach().float().cpu(), labels.detach().long().cpu()
    metrics = topk_accuracy(scores, labels)
    rows = per_class_accuracy(scores.argmax(dim=1), labels, classes)
    present = [r["accuracy"] for r in rows if r["accuracy"] is not None]
    metrics["mean_class"] = sum(present) / len(present)
    return metrics, rows
