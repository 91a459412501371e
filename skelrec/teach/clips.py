"""The examples as model inputs: :class:`ClipSet`, the originals followed by the copies generated from them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from skelrec.errors import SkelrecError

__all__ = ["ClipSet"]


@dataclass
class ClipSet:
    """Model-input clips with their action labels; rows ``[0, num_originals)`` are the original examples.

    Attributes:
        x: ``(N, M, T, V, C)`` float32 model inputs.
        mask: ``(N, M, T)`` bool.
        labels: ``(N,)`` int64 action indices.
        source: ``(N,)`` int64: the row of the original example in the full set (its own row for an original),
            kept when rows are selected.
        original: ``(N,)`` bool: the row is an original example, not a generated copy.
        training: per row, what fine-tuning trains on: an original's whole clip in the model's layout (the
            training pipeline normalizes, crops and augments it), a copy's model input.
        embeddings: ``(N, D)`` float32 encoder features, once computed (:meth:`with_embeddings`).
    """

    x: Tensor
    mask: Tensor
    labels: Tensor
    source: Tensor
    original: Tensor
    training: list[np.ndarray] = field(repr=False)
    embeddings: Tensor | None = None

    def __post_init__(self) -> None:
        n = int(self.x.shape[0])
        sizes = {
            "mask": self.mask.shape[0],
            "labels": len(self.labels),
            "source": len(self.source),
            "original": len(self.original),
            "training": len(self.training),
        }
        if self.embeddings is not None:
            sizes["embeddings"] = self.embeddings.shape[0]
        wrong = {k: v for k, v in sizes.items() if v != n}
        if wrong:
            raise SkelrecError(f"ClipSet: {n} clips but {wrong}")

    @classmethod
    def originals(cls, x: Tensor, mask: Tensor, labels: Tensor, clips: list[np.ndarray]) -> ClipSet:
        """The original examples: model inputs, labels and whole clips (``source`` is the row index)."""
        n = len(labels)
        return cls(x, mask, labels.long(), torch.arange(n), torch.ones(n, dtype=torch.bool), list(clips))

    @classmethod
    def of_features(cls, embeddings: Tensor, labels: Tensor) -> ClipSet:
        """Original examples known only by their features ``(N, D)`` (benchmarks, tests): the clip tensors are
        empty placeholders, so only embedding methods can fit on them."""
        n = len(labels)
        placeholder = [np.zeros((0, 0, 0, 0), np.float32)] * n
        return cls.originals(
            torch.zeros(n, 0, 0, 0, 0), torch.zeros(n, 0, 0, dtype=torch.bool), labels, placeholder
        ).with_embeddings(embeddings.float())

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_originals(self) -> int:
        return int(self.original.sum())

    def rows(self, keep: Tensor) -> ClipSet:
        """The rows where ``keep`` ``(N,)`` bool is set (``source`` keeps pointing at the originals' rows)."""
        idx = torch.nonzero(keep).flatten()
        emb = None if self.embeddings is None else self.embeddings[idx]
        training = [self.training[i] for i in idx.tolist()]
        return ClipSet(
            self.x[idx], self.mask[idx], self.labels[idx], self.source[idx], self.original[idx], training, emb
        )

    def split(self, held_out: Tensor) -> tuple[ClipSet, ClipSet]:
        """``(training rows, held-out originals)`` for a fold holding out the originals ``held_out`` (row indices):
        the copies generated from a held-out original leave with it."""
        out = torch.isin(self.source, held_out)
        return self.rows(~out), self.rows(out & self.original)

    def concat(self, copies: ClipSet) -> ClipSet:
        """These rows followed by ``copies`` (whose ``source`` indexes this set's originals)."""
        emb = None
        if self.embeddings is not None and copies.embeddings is not None:
            emb = torch.cat([self.embeddings, copies.embeddings])
        return ClipSet(
            torch.cat([self.x, copies.x]),
            torch.cat([self.mask, copies.mask]),
            torch.cat([self.labels, copies.labels]),
            torch.cat([self.source, copies.source]),
            torch.cat([self.original, copies.original]),
            self.training + copies.training,
            emb,
        )

    def with_embeddings(self, embeddings: Tensor) -> ClipSet:
        return ClipSet(self.x, self.mask, self.labels, self.source, self.original, self.training, embeddings)
