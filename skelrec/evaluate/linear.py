"""Linear evaluation: a frozen encoder, a ``BatchNorm1d(affine=False) -> Linear`` probe trained on its features.

Recipe (MAMP ``main_linprobe.py`` / ``linprobe_t120_layer8.yaml``): SGD, lr 0.1, momentum 0.9, no weight decay,
100 epochs, no warm-up, per-step cosine decay to 0, batch 128 per GPU x 2 GPUs (256 here), ``fc`` initialised
``trunc_normal(std=0.01)`` (MoCo v3). MAMP trains the probe on augmented clips (random 50-100 % crop, rotation
±0.3 rad); by default this module extracts the features of the un-augmented clips once and trains on those tensors
(minutes on a CPU instead of a forward pass of the encoder per sample and epoch), ``augment=True`` reproduces MAMP
(features re-extracted each epoch with that epoch's augmentation, the encoder still frozen in eval mode).
The probe is the :class:`~skelrec.models.LinearHead` (BatchNorm ``eps`` 1e-5; MAMP 1e-6).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import Dataset

from skelrec.errors import SkelrecError
from skelrec.evaluate.context import EvalContext
from skelrec.evaluate.features import extract_features
from skelrec.evaluate.metrics import classification_metrics
from skelrec.evaluate.results import EvalResult
from skelrec.models import LinearHead, LinearHeadConfig
from skelrec.train.distributed import resolve_device
from skelrec.train.schedule import warmup_cosine

__all__ = ["LinearSettings", "fit_linear_probe", "run_linear"]

log = logging.getLogger(__name__)

FeatureSource = Callable[[int], tuple[Tensor, Tensor]]
"""``epoch -> (features (N, F), labels (N,))`` of the training samples."""


@dataclass
class LinearSettings:
    """Hyper-parameters of the linear probe (defaults: MAMP's recipe, see the module docstring).

    Attributes:
        pooling: feature pooling (a :data:`skelrec.models.pooling.POOLINGS` name: ``mean``, MacDiff's ``joints`` ...).
        epochs, lr, momentum, weight_decay, batch_size: SGD on the probe, cosine schedule per step.
        augment: train on augmented clips (features re-extracted every epoch) instead of fixed features.
        seed: probe initialisation, batch order, augmentations (and the random encoder of ``init=random``).
    """

    pooling: str = "mean"
    epochs: int = 100
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 256
    augment: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or self.lr <= 0:
            raise SkelrecError(
                f"linear probe: epochs ({self.epochs}) must be >= 1, batch size ({self.batch_size}) >= 2 and lr "
                f"({self.lr}) > 0"
            )


class _EpochItems(Dataset):
    """Item ``i`` of a :class:`~skelrec.datasets.torch_data.SkeletonTorchDataset` with epoch ``epoch``'s
    augmentation."""

    def __init__(self, dataset: Dataset, epoch: int) -> None:
        self.dataset, self.epoch = dataset, epoch

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return self.dataset[(i, self.epoch)]


def fit_linear_probe(
    features: FeatureSource, num_classes: int, settings: LinearSettings, device: torch.device | str = "cpu"
) -> LinearHead:
    """Train a :class:`LinearHead` on ``features(epoch)`` (pooled with ``settings.pooling``, which its config
    records); returns it in eval mode.

    Batches of ``settings.batch_size`` in a seeded random order per epoch; the last partial batch is dropped (as
    MAMP's loader does) unless the whole set is smaller than one batch, which is then a single batch.
    """
    feats, _ = features(0)
    n, dim = feats.shape
    if n < 2:
        raise SkelrecError(f"linear probe: {n} training sample(s); BatchNorm needs at least 2")
    torch.manual_seed(settings.seed)
    cfg = LinearHeadConfig(pooling=settings.pooling, in_dim=dim, num_classes=num_classes, batch_norm=True)
    head = LinearHead(cfg).to(device)
    nn.init.trunc_normal_(head.fc.weight, std=0.01)
    nn.init.zeros_(head.fc.bias)
    opt = torch.optim.SGD(
        head.parameters(), lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
    )
    batch = min(settings.batch_size, n)
    steps = n // batch
    sched = LambdaLR(opt, warmup_cosine(settings.epochs * steps, 0, 0.0))
    order_rng = torch.Generator().manual_seed(settings.seed)
    head.train()
    for epoch in range(settings.epochs):
        x, y = features(epoch)
        order = torch.randperm(n, generator=order_rng).to(x.device)
        for b in range(steps):
            idx = order[b * batch : (b + 1) * batch]
            loss = F.cross_entropy(head(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if (epoch + 1) % max(1, settings.epochs // 10) == 0:
            log.info("linear probe epoch %d/%d: loss %.4f", epoch + 1, settings.epochs, float(loss.detach()))
    return head.eval()


def run_linear(
    ctx: EvalContext,
    settings: LinearSettings | None = None,
    *,
    device: str = "auto",
    batch_size: int = 64,
    num_workers: int = 0,
) -> EvalResult:
    """Linear evaluation of ``ctx``'s encoder: probe trained on the train part, scored on the test part.

    Args:
        ctx: checkpoint, init and dataset split.
        settings: the probe's hyper-parameters.
        device: ``auto``, ``cpu`` or ``cuda``.
        batch_size: clips per forward pass of the encoder (feature extraction only).
        num_workers: DataLoader workers of the feature extraction.
    """
    s = settings or LinearSettings()
    started = time.perf_counter()
    dev = resolve_device(device)
    encoder = ctx.build_encoder(s.seed).to(dev)
    train_part, test_part = ctx.part("train"), ctx.part("test")

    def extract(dataset: Dataset) -> tuple[Tensor, Tensor]:
        return extract_features(
            encoder, dataset, pooling=s.pooling, batch_size=batch_size, device=dev, num_workers=num_workers
        )

    augmented = ctx.torch_dataset(train_part, train=True, seed=s.seed) if s.augment else None
    fixed = None if augmented is not None else extract(ctx.torch_dataset(train_part))

    def source(epoch: int) -> tuple[Tensor, Tensor]:
        return fixed if fixed is not None else extract(_EpochItems(augmented, epoch))

    head = fit_linear_probe(source, len(ctx.classes), s, dev)
    test_feats, test_labels = extract(ctx.torch_dataset(test_part))
    with torch.no_grad():
        metrics, per_class = classification_metrics(head(test_feats), test_labels, ctx.classes)
    return EvalResult(
        protocol="linear",
        **ctx.result_fields(),
        sizes={"train": len(train_part), "test": len(test_part), "classes": len(ctx.classes)},
        settings={**asdict(s), "feature_dim": int(test_feats.shape[1])},
        epochs=s.epochs,
        seeds=[s.seed],
        metrics=metrics,
        per_class=per_class,
        seconds=time.perf_counter() - started,
    )
