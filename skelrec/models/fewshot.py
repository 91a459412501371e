"""Few-shot heads whose weights are the taught examples: nearest prototype and k nearest neighbours.

Both heads take a pooled encoder feature ``(N, D)`` (the ``pooling`` of their config, :mod:`skelrec.models.pooling`;
the encoder's :meth:`~skelrec.models.Encoder.pool` by default), subtract a stored
``center`` (the mean of the class means of the examples; zeros when not used), L2-normalise it and compare it by
cosine similarity with what they store:

* ``prototype``: one unit vector per class, the normalised mean of the class's normalised example features
  (Snell et al., NeurIPS'17, "Prototypical Networks", with cosine similarity). Logits ``cos / temperature``.
* ``knn``: the normalised features of every example and their labels; logits are the log of the InstDisc vote of
  the ``k`` most similar examples (:func:`knn_scores`, the kNN evaluation protocol's scoring).

Open set: with ``unknown_threshold`` set, a last logit for "unknown" is appended,
``max_c(logit_c) + (threshold - s) / temperature`` where ``s`` is the similarity to the nearest class (prototype
head) or nearest example (kNN head). It wins the argmax exactly when ``s < threshold``, and its softmax probability
grows smoothly as ``s`` falls below the threshold; for the prototype head it is the constant
``threshold / temperature``. The stored tensors are buffers, so a taught model round-trips through safetensors and
loads strictly like any other checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from skelrec.errors import SkelrecError
from skelrec.models.base import Head
from skelrec.models.pooling import PooledHeadConfig
from skelrec.models.registry import register_head

__all__ = [
    "KnnHead",
    "KnnHeadConfig",
    "PrototypeHead",
    "PrototypeHeadConfig",
    "knn_head",
    "knn_scores",
    "prototype_head",
]

_NO_VOTE = 1e-12
"""Vote of a class none of the ``k`` neighbours belongs to, before the log (keeps the logits finite)."""


def knn_scores(
    train_feats: Tensor,
    train_labels: Tensor,
    test_feats: Tensor,
    *,
    k: int,
    temperature: float,
    num_classes: int,
    chunk: int = 1024,
) -> Tensor:
    """Class scores ``(N_test, K)``: the ``exp(cos / tau)``-weighted votes of each test feature's ``k`` nearest
    training features (``k`` is capped at the number of training features); computed ``chunk`` test rows at a time.
    """
    bank = F.normalize(train_feats.float(), dim=1)  # (N_train, F)
    k = min(k, bank.shape[0])
    scores = []
    for start in range(0, test_feats.shape[0], chunk):
        query = F.normalize(test_feats[start : start + chunk].float(), dim=1)  # (B, F)
        sim, idx = (query @ bank.T).topk(k, dim=1)  # (B, k) cosine similarities and neighbour indices
        votes = torch.zeros(query.shape[0], num_classes, device=query.device, dtype=sim.dtype)
        scores.append(votes.scatter_add_(1, train_labels[idx], (sim / temperature).exp()))  # InstDisc eq. 8
    return torch.cat(scores)


def with_unknown(logits: Tensor, nearest: Tensor, threshold: float | None, temperature: float) -> Tensor:
    """``(N, K)`` class logits -> ``(N, K + 1)`` with the "unknown" logit of the module docstring (unchanged when
    ``threshold`` is ``None``); ``nearest`` ``(N,)`` is each row's similarity to the nearest class or example."""
    if threshold is None:
        return logits
    unknown = logits.max(dim=1).values + (threshold - nearest) / temperature
    return torch.cat([logits, unknown[:, None]], dim=1)


def _check_temperature(owner: str, temperature: float) -> None:
    if temperature <= 0:
        raise SkelrecError(f"{owner}.temperature must be > 0, got {temperature}")


@dataclass
class PrototypeHeadConfig(PooledHeadConfig):
    """Config of :class:`PrototypeHead` (and ``pooling``, the feature it reads: :class:`PooledHeadConfig`).

    Attributes:
        in_dim: width ``D`` of the pooled encoder feature.
        num_classes: number of taught classes ``K`` (the "unknown" logit comes on top).
        temperature: logits are ``cos / temperature``.
        unknown_threshold: cosine similarity to the nearest prototype below which a clip is "unknown"; ``None``
            for a closed set.
    """

    in_dim: int = 256
    num_classes: int = 2
    temperature: float = 0.1
    unknown_threshold: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_temperature(type(self).__name__, self.temperature)


class PrototypeHead(Head):
    """Nearest class prototype by cosine similarity: ``(N, D) -> (N, K)`` logits (``K + 1`` with open set).

    Buffers: ``prototypes`` ``(K, D)`` unit vectors, ``center`` ``(D,)`` subtracted before normalising.
    """

    takes_tokens = False

    def __init__(self, config: PrototypeHeadConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or PrototypeHeadConfig()
        self.register_buffer("prototypes", torch.zeros(cfg.num_classes, cfg.in_dim))
        self.register_buffer("center", torch.zeros(cfg.in_dim))

    def similarities(self, pooled: Tensor) -> Tensor:
        """Cosine similarity ``(N, K)`` of each (centred) feature with each class prototype (-1, the lowest cosine,
        for a class without a prototype: an all-zero row)."""
        sims = F.normalize(pooled.float() - self.center, dim=1) @ self.prototypes.T
        return sims.masked_fill(self.prototypes.norm(dim=1) == 0, -1.0)

    def forward(self, pooled: Tensor) -> Tensor:
        sims = self.similarities(pooled)  # (N, K)
        cfg = self.config
        return with_unknown(sims / cfg.temperature, sims.max(dim=1).values, cfg.unknown_threshold, cfg.temperature)


@dataclass
class KnnHeadConfig(PooledHeadConfig):
    """Config of :class:`KnnHead` (and ``pooling``, the feature it reads: :class:`PooledHeadConfig`).

    Attributes:
        in_dim: width ``D`` of the pooled encoder feature.
        num_classes: number of taught classes ``K``.
        num_examples: number of stored example features ``E``.
        k: neighbours voting (capped at ``E``).
        temperature: vote weight ``exp(cos / temperature)`` (InstDisc).
        unknown_threshold: cosine similarity to the nearest example below which a clip is "unknown"; ``None`` for
            a closed set.
    """

    in_dim: int = 256
    num_classes: int = 2
    num_examples: int = 2
    k: int = 5
    temperature: float = 0.07
    unknown_threshold: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_temperature(type(self).__name__, self.temperature)
        if self.k < 1 or self.num_examples < 1:
            raise SkelrecError(f"KnnHeadConfig: k ({self.k}) and num_examples ({self.num_examples}) must be >= 1")


class KnnHead(Head):
    """Weighted vote of the ``k`` nearest stored examples: ``(N, D) -> (N, K)`` log-votes (``K + 1`` with open set).

    Buffers: ``bank`` ``(E, D)`` unit vectors, ``bank_labels`` ``(E,)`` int64, ``center`` ``(D,)``.
    """

    takes_tokens = False

    def __init__(self, config: KnnHeadConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or KnnHeadConfig()
        self.register_buffer("bank", torch.zeros(cfg.num_examples, cfg.in_dim))
        self.register_buffer("bank_labels", torch.zeros(cfg.num_examples, dtype=torch.int64))
        self.register_buffer("center", torch.zeros(cfg.in_dim))

    def _query(self, pooled: Tensor) -> Tensor:
        return F.normalize(pooled.float() - self.center, dim=1)

    def similarities(self, pooled: Tensor) -> Tensor:
        """``(N, K)``: cosine similarity of each (centred) feature with the nearest example of each class
        (-1, the lowest cosine, for a class without examples)."""
        sims = self._query(pooled) @ self.bank.T  # (N, E)
        out = torch.full((sims.shape[0], self.config.num_classes), -1.0, device=sims.device, dtype=sims.dtype)
        index = self.bank_labels.expand_as(sims)
        return out.scatter_reduce(1, index, sims, reduce="amax", include_self=True)

    def forward(self, pooled: Tensor) -> Tensor:
        cfg, query = self.config, self._query(pooled)
        votes = knn_scores(
            self.bank, self.bank_labels, query, k=cfg.k, temperature=cfg.temperature, num_classes=cfg.num_classes
        )
        nearest = (query @ self.bank.T).max(dim=1).values
        return with_unknown(votes.clamp_min(_NO_VOTE).log(), nearest, cfg.unknown_threshold, cfg.temperature)


@register_head("prototype", PrototypeHeadConfig)
def prototype_head(**kwargs) -> PrototypeHead:
    """Nearest-prototype few-shot head; kwargs override :class:`PrototypeHeadConfig`."""
    return PrototypeHead(PrototypeHeadConfig.from_dict(kwargs))


@register_head("knn", KnnHeadConfig)
def knn_head(**kwargs) -> KnnHead:
    """k-nearest-neighbour few-shot head; kwargs override :class:`KnnHeadConfig`."""
    return KnnHead(KnnHeadConfig.from_dict(kwargs))
