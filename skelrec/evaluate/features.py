"""Running a frozen encoder (or a classifier) over a dataset: pooled features and logits, batched, without grad.

The feature is one of the poolings of :mod:`skelrec.models.pooling` (:data:`POOLINGS`: ``mean``, MacDiff's
``joints``, ordered ``segments`` and ``segment_joints``), selected by name.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from skelrec.models import Encoder
from skelrec.models.pooling import POOLINGS, get_pooling

__all__ = ["POOLINGS", "extract_features", "predict_logits"]


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
