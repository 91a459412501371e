"""Held-out scores of the examples: leave-one-out (or k-fold) cross-validation of a teach method.

Every original example is held out once, together with the copies ``--augment`` generated from it, the method is
fitted on the rest, and the held-out example is scored. Leave-one-out (one fold per example) unless the method
bounds its folds (:attr:`~skelrec.teach.methods.TeachMethod.folds`, fine-tuning: 5); folds are then assigned
round-robin in label order, so every fold holds a share of every action.

With ``groups`` (e.g. the person each example shows) every group is held out at once instead: leave-one-person-out,
the estimate of how the taught model does on a person it was not taught from.

The accuracy counts the examples whose action kept other clips in the model fitted without them: an action's only
clip (or only person), held out, leaves a model that has never seen the action, so its prediction says nothing
about the method.

Leave-one-out over the clips of ONE person says how consistently that person's clips agree, not how other people
will be recognised (:data:`SAME_PERSON_CAVEAT`): on ``benchmarks/fewshot.py --cross-person`` (2-5 actions from 3
clips of one NW-UCLA subject, the default model) leave-one-out says 70-90 % while the other subjects' clips of the
same actions are classified 64-84 % right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from skelrec.teach.clips import ClipSet
from skelrec.teach.methods import FitContext, TeachMethod

__all__ = ["SAME_PERSON_CAVEAT", "ActionScore", "HeldOutScores", "assign_folds", "cross_validate"]

SAME_PERSON_CAVEAT = (
    "held-out accuracy over your own clips: it shows how well they agree with each other; other people may differ. "
    "Clips of two or more people, named PERSON__name.mp4, add a leave-one-person-out accuracy"
)
"""What a leave-one-out figure over the examples means, said wherever it is shown (CLI, model card, app)."""


def assign_folds(labels: np.ndarray, folds: int | None) -> np.ndarray:
    """``(n,)`` fold index of each example: ``0 .. n-1`` for leave-one-out (``folds=None`` or ``folds >= n``),
    otherwise round-robin over the examples sorted by label (stable)."""
    n = len(labels)
    if folds is None or folds >= n:
        return np.arange(n)
    k = max(1, folds)
    out = np.empty(n, dtype=np.int64)
    out[np.argsort(labels, kind="stable")] = np.arange(n) % k
    return out


@dataclass(frozen=True)
class ActionScore:
    """Held-out result of one action: ``correct`` of ``clips`` (``None`` when it has a single clip)."""

    label: str
    clips: int
    correct: int | None

    @property
    def accuracy(self) -> float | None:
        return None if self.correct is None else self.correct / self.clips


@dataclass
class HeldOutScores:
    """Scores of every original example by the model fitted without it.

    Attributes:
        labels: ``(n,)`` action index of each original.
        logits: ``(n, K)`` closed-set logits.
        similarities: ``(n, K)`` similarity to each action (similarity methods), else ``None``.
        folds: number of folds (``n`` for leave-one-out).
        seen: ``(n,)`` bool: the example's action had other clips in the model fitted without it; ``None``: the
            action has at least two clips.
        grouped: the folds are the ``groups`` of :func:`cross_validate` (leave-one-person-out).
    """

    labels: np.ndarray
    logits: np.ndarray
    similarities: np.ndarray | None
    folds: int
    seen: np.ndarray | None = None
    grouped: bool = False

    @property
    def leave_one_out(self) -> bool:
        return not self.grouped and self.folds == len(self.labels)

    @property
    def counted(self) -> np.ndarray:
        """``(n,)`` bool: the example's action kept other clips when it was held out (module docstring)."""
        if self.seen is not None:
            return self.seen
        counts = np.bincount(self.labels, minlength=self.logits.shape[1])
        return counts[self.labels] >= 2

    @property
    def correct(self) -> np.ndarray:
        """``(n,)`` bool: the closed-set prediction is the example's action."""
        return self.logits.argmax(axis=1) == self.labels

    @property
    def accuracy(self) -> float | None:
        """Fraction of the counted examples predicted right; ``None`` when no action has two clips."""
        counted = self.counted
        return float(self.correct[counted].mean()) if counted.any() else None

    def per_action(self, names: tuple[str, ...] | list[str]) -> list[ActionScore]:
        out = []
        for c, name in enumerate(names):
            members = self.labels == c
            n = int(members.sum())
            out.append(ActionScore(name, n, int(self.correct[members].sum()) if n >= 2 else None))
        return out

    def own_similarities(self) -> np.ndarray:
        """Similarity of each counted example to its own action ``(n_counted,)`` (similarity methods only)."""
        if self.similarities is None:
            raise ValueError("this method has no similarities")
        counted = self.counted
        return self.similarities[np.flatnonzero(counted), self.labels[counted]]


def cross_validate(
    method: TeachMethod,
    clips: ClipSet,
    ctx: FitContext,
    *,
    groups: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> HeldOutScores | None:
    """Held-out scores of the originals of ``clips`` (module docstring); ``None`` when no action has two clips (with
    ``groups``: no action has clips of two groups).

    Args:
        method: the teach method.
        clips: originals and copies (with embeddings for embedding methods).
        ctx: base model, labels, seed.
        groups: ``(n_originals,)`` group of each original (e.g. its person): hold out one group per fold.
        progress: called as ``progress(done_folds, folds)``.
    """
    rows = torch.nonzero(clips.original).flatten()
    labels = clips.labels[rows].numpy()
    if groups is None:
        fold_of = assign_folds(labels, method.folds)
    else:
        fold_of = np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1)
    seen = np.array([bool(((labels == y) & (fold_of != f)).any()) for y, f in zip(labels, fold_of, strict=True)])
    if not seen.any():
        return None
    folds = int(fold_of.max()) + 1
    k = ctx.num_classes
    logits = np.zeros((len(rows), k), np.float32)
    sims = np.zeros((len(rows), k), np.float32) if method.similarity else None
    position = {int(r): i for i, r in enumerate(rows)}
    for f in range(folds):
        train, test = clips.split(rows[torch.from_numpy(fold_of == f)])
        fold_logits, fold_sims = method.held_out(method.fit(train, ctx), test)
        at = [position[int(s)] for s in test.source]
        logits[at] = fold_logits.numpy()
        if sims is not None and fold_sims is not None:
            sims[at] = fold_sims.numpy()
        if progress is not None:
            progress(f + 1, folds)
    return HeldOutScores(labels, logits, sims, folds, seen, groups is not None)
