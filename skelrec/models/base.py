"""What every encoder and head looks like, and the masked pooling they share.

Input convention (:mod:`skelrec.skeleton`): a batch ``x`` is ``(N, M, T, V, C)`` float32 with a validity mask
``(N, M, T)`` (``True`` = a real person-frame). An encoder maps it to a grid of token features
``(N, M', T', V', D)``: ``M'`` persons (``M`` when persons are folded into the batch, 1 when an encoder
concatenates them), ``T'`` token steps (``T / patch`` for the transformer) and ``V'`` token joints (1 for the GRU).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import Tensor, nn

from skelrec.errors import SkelrecError
from skelrec.models.config import ModelConfig
from skelrec.skeleton import get_layout

__all__ = ["Encoder", "Head", "fold_persons", "masked_mean", "token_mask"]


def fold_persons(x: Tensor) -> Tensor:
    """``(N, M, ...) -> (N*M, ...)``: persons become independent batch entries."""
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def token_mask(mask: Tensor | None, feats: Tensor) -> Tensor:
    """Validity of the token grid of ``feats`` ``(N, M', T', ...)`` from the frame mask ``(N, M, T)``.

    A token is valid when any of the frames it covers is; with ``M' == 1 < M`` (persons concatenated) when any
    person is. ``mask=None`` means everything is valid. Returns bool ``(N, M', T')``.
    """
    n, m_out, t_out = feats.shape[:3]
    if mask is None:
        return torch.ones(n, m_out, t_out, dtype=torch.bool, device=feats.device)
    mask = mask.to(device=feats.device, dtype=torch.bool)
    if mask.shape[1] != m_out:
        mask = mask.any(dim=1, keepdim=True)
    t = mask.shape[2]
    if t % t_out:
        raise SkelrecError(f"mask has {t} frames, which does not split into the encoder's {t_out} token steps")
    return mask.reshape(n, m_out, t_out, t // t_out).any(dim=-1)


def masked_mean(x: Tensor, weight: Tensor, dims: tuple[int, ...]) -> Tensor:
    """Mean of ``x`` over ``dims`` counting only entries where ``weight`` (broadcastable bool/float) is set.

    Entries with no valid element at all come out as zeros.
    """
    w = weight.to(x.dtype)
    while w.dim() < x.dim():
        w = w.unsqueeze(-1)
    total = (x * w).sum(dim=dims)
    count = w.expand_as(x).sum(dim=dims).clamp_min(1.0)
    return total / count


class Encoder(nn.Module, ABC):
    """A skeleton encoder: ``(N, M, T, V, C)`` + mask ``(N, M, T)`` -> tokens ``(N, M', T', V', D)`` -> ``(N, D)``.

    Subclasses set ``config``, implement :meth:`forward_features`, and override the ``in_channels`` /
    ``num_joints`` / ``embed_dim`` / ``feature_joints`` properties where their config names them differently.
    The default :meth:`pool` averages valid tokens over persons, time and joints (the MAMP linear-probe feature).
    """

    config: ModelConfig

    @property
    def in_channels(self) -> int:
        """``C``, channels per joint of the input (``config.in_channels``)."""
        return int(self.config.in_channels)

    @property
    def num_joints(self) -> int:
        """``V``, joints of the input layout (``config.num_joints``, else the joints of ``config.layout``)."""
        joints = getattr(self.config, "num_joints", None)
        return int(joints) if joints is not None else get_layout(self.config.layout).num_joints

    @property
    def embed_dim(self) -> int:
        """``D``, the width of the token features and of the pooled feature (``config.embed_dim``)."""
        return int(self.config.embed_dim)

    @property
    def feature_joints(self) -> int:
        """``V'``, tokens per frame step (``V`` for joint-token encoders, 1 for the GRU)."""
        return self.num_joints

    def no_weight_decay(self) -> set[str]:
        """Names of parameters an optimizer should not decay (timm convention), e.g. position embeddings."""
        return set()

    def check_input(self, x: Tensor) -> None:
        """Raise a SkelrecError unless ``x`` is ``(N, M, T, V, C)`` with this encoder's ``V`` and ``C``."""
        v, c = self.num_joints, self.in_channels
        if x.dim() != 5 or x.shape[3] != v or x.shape[4] != c:
            raise SkelrecError(
                f"{type(self).__name__} expects input (N, M, T, {v}, {c}), got {tuple(x.shape)}; "
                f"convert the skeletons to the encoder's layout/channels or build the encoder for this input"
            )

    @abstractmethod
    def forward_features(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``(N, M, T, V, C)`` -> token features ``(N, M', T', V', D)``."""

    def pool(self, feats: Tensor, mask: Tensor | None = None) -> Tensor:
        """Mean of the valid tokens ``(N, M', T', V', D) -> (N, D)``; ``mask`` is the frame mask ``(N, M, T)``."""
        return masked_mean(feats, token_mask(mask, feats), dims=(1, 2, 3))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``(N, M, T, V, C)`` -> pooled features ``(N, D)``."""
        return self.pool(self.forward_features(x, mask), mask)


class Head(nn.Module):
    """A classification head.

    ``takes_tokens = False``: ``forward(pooled (N, F)) -> logits`` on the pooled feature named by :attr:`pooling`
    (:mod:`skelrec.models.pooling`; the encoder's :meth:`Encoder.pool` output by default).
    ``takes_tokens = True``: ``forward(feats (N, M', T', V', D), token_mask (N, M', T')) -> logits``.
    """

    takes_tokens: ClassVar[bool] = False
    config: ModelConfig

    @property
    def pooling(self) -> str:
        """The pooling of the feature the head reads: its config's ``pooling`` field, else ``mean``."""
        return str(getattr(self.config, "pooling", "mean"))
