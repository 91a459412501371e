"""Poolings of an encoder's token grid into the feature vector a head reads, selected by name (:data:`POOLINGS`).

A pooling maps ``(encoder, feats (N, M', T', V', D), mask) -> (N, F)``; ``mask`` is the frame mask ``(N, M, T)`` or
the token mask ``(N, M', T')`` (:func:`~skelrec.models.token_mask` maps either to the token mask).

* ``mean`` — the encoder's own :meth:`~skelrec.models.Encoder.pool`: for joint-token encoders (transformer, GIN)
  the mean of the valid tokens over persons, time and joints (MAMP ``main_linprobe.py``), ``(N, D)``; for the GRU
  its readout (HaLP: last valid frame).
* ``joints`` — MacDiff's ``linprobe2``: mean over valid persons and time, the ``V'`` joint tokens kept and
  concatenated, ``(N, V' * D)`` (6,400 dimensions for the paper transformer).
* ``segments`` — the valid token steps of each clip split into :data:`SEGMENTS` equal parts in order, each averaged
  over valid persons, time and joints, concatenated, ``(N, SEGMENTS * D)``: the order of the movement survives the
  pooling (a swipe to the left and one to the right pass through the same poses), which matters for a per-frame
  encoder (SkeletonMAE's GIN, whose STRL adds the temporal modelling) and for few-shot heads.
* ``segment_joints`` — both: the :data:`SEGMENTS` ordered segments with the ``V'`` joint tokens of each kept,
  ``(N, SEGMENTS * V' * D)``.

A head whose config has a ``pooling`` field reads that pooling (:attr:`skelrec.models.Head.pooling`);
:class:`~skelrec.models.Classifier` applies it, so a taught or probed head is used with the feature it was fitted on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from skelrec.models.base import Encoder, masked_mean, token_mask
from skelrec.models.config import ModelConfig
from skelrec.registry import Registry

__all__ = [
    "POOLINGS",
    "SEGMENTS",
    "PooledHeadConfig",
    "check_pooling",
    "get_pooling",
    "pool_joints",
    "pool_mean",
    "pool_segment_joints",
    "pool_segments",
    "pooled_width",
]

Pooling = Callable[[Encoder, Tensor, Tensor | None], Tensor]
"""``(encoder, feats (N, M', T', V', D), frame or token mask) -> (N, F)``."""


def pool_mean(encoder: Encoder, feats: Tensor, mask: Tensor | None) -> Tensor:
    return encoder.pool(feats, mask)


def pool_joints(encoder: Encoder | None, feats: Tensor, mask: Tensor | None) -> Tensor:
    n, _, _, v, d = feats.shape
    return masked_mean(feats, token_mask(mask, feats), dims=(1, 2)).reshape(n, v * d)  # (N, V'*D)


SEGMENTS = 4
"""Temporal segments of the ``segments`` pooling."""


def _segment_means(feats: Tensor, mask: Tensor | None) -> Tensor:
    """``(N, SEGMENTS, V', D)``: the valid token steps of each clip split into :data:`SEGMENTS` equal parts in order,
    each averaged over its valid persons and steps."""
    valid = token_mask(mask, feats)  # (N, M', T')
    steps = masked_mean(feats, valid, dims=(1,))  # (N, T', V', D): valid persons
    step_valid = valid.any(dim=1)  # (N, T')
    rank = step_valid.long().cumsum(dim=1) - 1  # position among the clip's valid steps
    count = step_valid.sum(dim=1, keepdim=True).clamp_min(1)
    segment = torch.div(rank.clamp_min(0) * SEGMENTS, count, rounding_mode="floor").clamp_max(SEGMENTS - 1)
    weight = nn.functional.one_hot(segment, SEGMENTS).to(feats.dtype) * step_valid.unsqueeze(-1)  # (N, T', K)
    total = torch.einsum("ntk,ntvd->nkvd", weight, steps)
    return total / weight.sum(dim=1).clamp_min(1.0)[:, :, None, None]


def pool_segments(encoder: Encoder | None, feats: Tensor, mask: Tensor | None) -> Tensor:
    return _segment_means(feats, mask).mean(dim=2).flatten(1)  # (N, SEGMENTS*D)


def pool_segment_joints(encoder: Encoder | None, feats: Tensor, mask: Tensor | None) -> Tensor:
    return _segment_means(feats, mask).flatten(1)  # (N, SEGMENTS*V'*D)


POOLINGS: Registry[Pooling] = Registry(
    "pooling",
    {"mean": pool_mean, "joints": pool_joints, "segments": pool_segments, "segment_joints": pool_segment_joints},
)


def check_pooling(name: str) -> str:
    """``name`` if it is a pooling, else a :class:`SkelrecError` listing them."""
    return POOLINGS.check(name)


def get_pooling(name: str) -> Pooling:
    return POOLINGS[name]


@torch.no_grad()
def pooled_width(encoder: Encoder, name: str) -> int:
    """``F``, the width of ``encoder``'s feature under pooling ``name`` (the ``in_dim`` of a head reading it)."""
    feats = torch.zeros(1, 1, SEGMENTS, encoder.feature_joints, encoder.embed_dim)
    return int(get_pooling(name)(encoder, feats, None).shape[1])


@dataclass
class PooledHeadConfig(ModelConfig):
    """Base of the configs of heads on a pooled feature.

    Attributes:
        pooling: the :data:`POOLINGS` name of the feature the head reads (``in_dim`` is that feature's width).
    """

    pooling: str = "mean"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_pooling(self.pooling)
