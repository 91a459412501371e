"""Running a frozen encoder (or a classifier) over a dataset: pooled features and logits, batched, without grad.

Poolings (:data:`POOLINGS`), selected by name:

* ``mean`` — the encoder's own :meth:`~skelrec.models.Encoder.pool`: for joint-token encoders (transformer, GIN)
  the mean of the valid tokens over persons, time and joints (MAMP ``main_linprobe.py``), ``(N, D)``; for the GRU
  its readout (HaLP: last valid frame).
* ``joints`` — MacDiff's ``linprobe2``: mean over valid persons and time, the ``V'`` joint tokens kept and
  concatenated, ``(N, V' * D)`` (6,400 dimensions for the paper transformer).
* ``segments`` — the valid token steps of each clip split into :data:`SEGMENTS` equal parts in order, each averaged
  over valid persons, time and joints, concatenated, ``(N, SEGMENTS * D)``: the order of the movement survives the
  pooling, which matters for a per-frame encoder (SkeletonMAE's GIN, whose STRL adds the temporal modelling).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from skelrec.errors import SkelrecError
from skelrec.models import Encoder, masked_mean, token_mask

__all__ = ["POOLINGS", "extract_features", "predict_logits"]

Pooling = Callable[[Encoder, Tensor, Tensor], Tensor]
"""``(encoder, feats (N, M', T', V', D), frame mask (N, M, T)) -> (N, F)``."""


def pool_mean(encoder: Encoder, feats: Tensor, mask: Tensor) -> Tensor:
    return encoder.pool(feats, mask)


def pool_joints(encoder: Encoder, feats: Tensor, mask: Tensor) -> Tensor:
    n, _, _, v, d = feats.shape
    return masked_mean(feats, token_mask(mask, feats), dims=(1, 2)).reshape(n, v * d)  # (N, V'*D)


SEGMENTS = 4
"""Temporal segments of the ``segments`` pooling."""


def pool_segments(encoder: Encoder, feats: Tensor, mask: Tensor) -> Tensor:
    n, d = feats.shape[0], feats.shape[-1]
    valid = token_mask(mask, feats)  # (N, M', T')
    steps = masked_mean(feats, valid, dims=(1, 3))  # (N, T', D): valid persons and joints
    step_valid = valid.any(dim=1)  # (N, T')
    rank = step_valid.long().cumsum(dim=1) - 1  # position among the clip's valid steps
    count = step_valid.sum(dim=1, keepdim=True).clamp_min(1)
    segment = torch.div(rank.clamp_min(0) * SEGMENTS, count, rounding_mode="floor").clamp_max(SEGMENTS - 1)
    weight = nn.functional.one_hot(segment, SEGMENTS).to(feats.dtype) * step_valid.unsqueeze(-1)  # (N, T', K)
    total = torch.einsum("ntk,ntd->nkd", weight, steps)
    return (total / weight.sum(dim=1).clamp_min(1.0).unsqueeze(-1)).reshape(n, SEGMENTS * d)


POOLINGS: dict[str, Pooling] = {"mean": pool_mean, "joints": pool_joints, "segments": pool_segments}


def get_pooling(name: str) -> Pooling:
    try:
        return POOLINGS[name]
    except KeyError:
        raise SkelrecError(f"unknown pooling {name!r}; choose one of: {', '.join(POOLINGS)}") from None


@torch.no_grad()
def _map(
    module: nn.Module,
    fn: Callable[[Tensor, Tensor], Tensor],
    dataset: Dataset,
    batch_size: int,
    device: torch.device | str,
    num_workers: int,
) -> tuple[Tensor, Tensor]:
    """``fn(x, mask)`` of every batch of ``dataset`` (in order) with ``module`` in eval mode, and the labels."""
    was_training = module.training
    module.eval()
    outputs, labels = [], []
    try:
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers):
            outputs.append(fn(batch["x"].to(device), batch["mask"].to(device)).float())
            labels.append(batch["label"].to(device))
    finally:
        module.train(was_training)
    return torch.cat(outputs), torch.cat(labels)


def extract_features(
    encoder: Encoder,
    dataset: Dataset,
    *,
    pooling: str = "mean",
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    num_workers: int = 0,
) -> tuple[Tensor, Tensor]:
    """Features ``(N, F)`` float32 and labels ``(N,)`` int64 of every sample of ``dataset`` (in order), on ``device``.

    ``dataset`` yields :class:`~skelrec.datasets.torch_data.SkeletonTorchDataset` items; the encoder runs in eval
    mode (its mode is restored afterwards).
    """
    pool = get_pooling(pooling)

    def features(x: Tensor, mask: Tensor) -> Tensor:
        return pool(encoder, encoder.forward_features(x, mask), mask)

    return _map(encoder, features, dataset, batch_size, device, num_workers)


def predict_logits(
    model: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    num_workers: int = 0,
) -> tuple[Tensor, Tensor]:
    """Logits ``(N, K)`` of a classifier ``model(x, mask)`` and labels ``(N,)`` over ``dataset``, in eval mode."""
    return _map(model, model, dataset, batch_size, device, num_workers)
