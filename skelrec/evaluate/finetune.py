"""Fine-tuning evaluation (and the supervised-from-scratch baseline): encoder + head trained end to end.

The training run is :func:`skelrec.train.train` with the ``supervised`` method
(:class:`skelrec.ssl.supervised.Supervised`), so fine-tuning gets the loop's checkpoints, exact resume, AMP and
``torchrun`` for free. Recipe (MAMP ``main_finetune.py``, ``finetune_t120_layer8_decay.yaml``,
``script_finetune_*.sh``): AdamW (0.9, 0.999), lr 3e-4 with 5 warm-up epochs then per-step cosine decay to 1e-5,
weight decay 0.05, layer-wise lr decay 0.8, drop path 0.3 (transformer), head dropout 0.3, label smoothing 0.1,
100 epochs, batch 24 per GPU x 2 GPUs (48 here), training clips augmented as MAMP does (50-100 % crop,
rotation ±0.3 rad). The head is the encoder's (:data:`skelrec.ssl.supervised.FINETUNE_HEADS`: MAMP's head for the
transformer, a linear layer for the GRU); a GIN (SkeletonMAE) is fine-tuned inside STRL with a linear classifier,
with this same AdamW recipe (the paper uses SGD, lr 0.1, 110 epochs: the loop trains with AdamW only).
``init=random`` is the supervised baseline; it uses layer decay 1.0 by default, as MAMP's
``script_finetune_scratch.sh`` does.

Deviations: MAMP reports the best test accuracy over all epochs; this module reports the accuracy of the final
weights (no model selection on the test set). The embeddings are excluded from weight decay
(``Encoder.no_weight_decay``), as in timm/BEiT; MAMP decays them.

The fine-tuned model is saved as a classifier checkpoint (:mod:`skelrec.checkpoint`: encoder + head, labels,
layout, normalization, clip length, the measured metrics) in ``<run_dir>/classifier``, loadable by
:func:`skelrec.hub.load_model` / ``from_pretrained`` and the labeler.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from skelrec.checkpoint import architecture, save_checkpoint
from skelrec.config import (
    DataConfig,
    EncoderConfig,
    MethodConfig,
    OptimConfig,
    RunConfig,
    TrainConfig,
    config_to_dict,
)
from skelrec.datasets.cache import read_info
from skelrec.datasets.torch_data import PreparedLike
from skelrec.errors import SkelrecError
from skelrec.evaluate.context import EvalContext
from skelrec.evaluate.features import predict_logits
from skelrec.evaluate.metrics import classification_metrics
from skelrec.evaluate.results import EvalResult
from skelrec.models import ENCODERS, HEADS
from skelrec.models.pooling import PooledHeadConfig, check_pooling
from skelrec.ssl.supervised import Supervised, downstream_encoder
from skelrec.train import train

__all__ = ["CLASSIFIER_DIR", "FinetuneOutcome", "FinetuneSettings", "finetune_once", "run_finetune"]

log = logging.getLogger(__name__)

CLASSIFIER_DIR = "classifier"


@dataclass
class FinetuneSettings:
    """Hyper-parameters of fine-tuning (defaults: MAMP's recipe, see the module docstring).

    Attributes:
        epochs, warmup_epochs, batch_size, lr, min_lr, weight_decay: AdamW with warm-up and cosine decay
            (``warmup_epochs`` is capped at ``epochs``; ``batch_size`` at the number of training clips).
        layer_decay: layer-wise lr decay; ``None`` = 0.8 for a pretrained encoder, 1.0 for ``init=random``.
        drop_path: stochastic depth of the encoder's last block (for encoders that have it).
        label_smoothing: of the cross-entropy.
        head: a registered head name; ``None`` = the encoder's fine-tuning head.
        pooling: the feature a pooled head (``linear``, ...) reads (:data:`skelrec.models.pooling.POOLINGS`);
            ``None`` = the head's default. With ``head="linear"`` and ``downstream=False`` the run trains the encoder
            through exactly the linear probe's feature: the supervised reference of that probe.
        downstream: fine-tune the pretrained encoder inside its downstream model when it has one
            (:func:`skelrec.ssl.supervised.downstream_encoder`: a GIN inside SkeletonMAE's STRL).
        amp: mixed precision on CUDA (``bf16``, ``fp16``, ``none``).
        seed: initialisation, data order, augmentations.
        max_steps: stop after this many optimizer steps (smoke runs); 0 = the whole schedule.
    """

    epochs: int = 100
    warmup_epochs: float = 5.0
    batch_size: int = 48
    lr: float = 3e-4
    min_lr: float = 1e-5
    weight_decay: float = 0.05
    layer_decay: float | None = None
    drop_path: float = 0.3
    label_smoothing: float = 0.1
    head: str | None = None
    pooling: str | None = None
    downstream: bool = True
    amp: str = "bf16"
    seed: int = 0
    max_steps: int = 0

    def __post_init__(self) -> None:
        if self.head is not None:
            HEADS.check(self.head)  # an unknown head fails here, listing the registered ones
        if self.pooling is None:
            return
        check_pooling(self.pooling)
        if self.head is None or not issubclass(HEADS[self.head].config_class, PooledHeadConfig):
            pooled = [n for n in HEADS.names() if issubclass(HEADS[n].config_class, PooledHeadConfig)]
            raise SkelrecError(
                f"pooling={self.pooling!r} needs a head that reads a pooled feature (head: {', '.join(pooled)}), "
                f"got head={self.head!r}"
            )

    def layer_decay_for(self, init: str) -> float:
        if self.layer_decay is not None:
            return self.layer_decay
        return 0.8 if init == "pretrained" else 1.0


@dataclass
class FinetuneOutcome:
    """One fine-tuning run: test metrics, per-class rows, training facts and the classifier checkpoint (if saved)."""

    metrics: dict[str, float]
    per_class: list[dict[str, Any]]
    train_size: int
    steps: int
    epochs: float
    checkpoint: Path | None


def train_config(
    ctx: EvalContext,
    s: FinetuneSettings,
    run_dir: Path,
    train_size: int,
    *,
    device: str,
    num_workers: int,
    progress: bool,
) -> TrainConfig:
    """The :class:`TrainConfig` of a fine-tuning run of ``ctx`` on ``train_size`` clips."""
    name, encoder_kwargs = (
        downstream_encoder(ctx.encoder_name, ctx.encoder_config)
        if s.downstream
        else (ctx.encoder_name, ctx.encoder_config)
    )
    if "drop_path_rate" in {f.name for f in fields(ENCODERS[name].config_class)}:
        encoder_kwargs["drop_path_rate"] = s.drop_path
    elif s.drop_path:
        log.info("the %s encoder has no drop path: drop_path=%s is not used", name, s.drop_path)
    batch = min(s.batch_size, train_size)
    if batch < s.batch_size:
        log.warning("batch size %d > %d training clips: using batches of %d", s.batch_size, train_size, batch)
    method = {
        "num_classes": len(ctx.classes),
        "pretrained": str(ctx.checkpoint) if ctx.init == "pretrained" else None,
        "head": s.head,
        "head_kwargs": {"pooling": s.pooling} if s.pooling is not None else None,
        "label_smoothing": s.label_smoothing,
        "layer_decay": s.layer_decay_for(ctx.init),
    }
    return TrainConfig(
        data=ctx.data,
        encoder=EncoderConfig(name, encoder_kwargs),
        method=MethodConfig("supervised", method),
        optim=OptimConfig(
            batch_size=batch,
            epochs=s.epochs,
            warmup_epochs=min(s.warmup_epochs, s.epochs),
            lr=s.lr,
            min_lr=s.min_lr,
            weight_decay=s.weight_decay,
            betas=(0.9, 0.999),
            amp=s.amp,  # type: ignore[arg-type]
        ),
        run=RunConfig(
            out_dir=str(run_dir),
            seed=s.seed,
            num_workers=num_workers,
            device=device,  # type: ignore[arg-type]
            max_steps=s.max_steps,
            progress=progress,
        ),
    )


def median_clip_seconds(part: PreparedLike) -> float | None:
    """Median duration of the clips of ``part`` (frames / fps of their recordings); ``None`` without frame rates.

    A model sees each training clip resampled to ``clip_length`` frames, so this duration, not ``clip_length``, is
    the time span one input covers: the labeler uses it as its window length (``config["clip_seconds"]``).
    """
    seconds = [s.frames / s.fps for s in (part[i] for i in range(len(part))) if s.fps]
    return round(float(sorted(seconds)[len(seconds) // 2]), 3) if seconds else None


def save_classifier(
    folder: Path,
    method: Supervised,
    cfg: TrainConfig,
    ctx: EvalContext,
    metrics: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``method``'s encoder + head as a checkpoint whose config reproduces the training input.

    ``extra`` adds top-level config entries (``clip_seconds``, ``per_class`` results).
    """
    data: DataConfig = cfg.data
    config = {
        **architecture(method.classifier),
        "layout": data.layout,
        "normalization": data.normalization.to_dict(),
        "clip_length": data.clip_length,
        "num_persons": data.persons,
        "labels": list(ctx.classes),
        "data": config_to_dict(data),
        "method": ctx.config.method_name if ctx.init == "pretrained" else None,
        "training": {
            "protocol": "finetune",
            "init": ctx.init,
            "pretrained": str(ctx.checkpoint) if ctx.init == "pretrained" else None,
            "pretraining": ctx.config.training if ctx.init == "pretrained" else None,
            "method": config_to_dict(cfg.method),
            "optim": config_to_dict(cfg.optim),
            "seed": cfg.run.seed,
        },
        "metrics": metrics,
        **{k: v for k, v in (extra or {}).items() if v is not None},
    }
    return save_checkpoint(folder, method.classifier.state_dict(), config)


def per_dataset_scores(
    ctx: EvalContext, test_part: PreparedLike, logits: Tensor, labels: Tensor
) -> list[dict[str, Any]]:
    """Cross-subject scores of every dataset of a joint test part: ``[{dataset, split, value (top-1 %),
    mean_class, test_clips, per_class}]`` (per-class rows carry ``dataset`` and list only that dataset's classes)."""
    datasets = getattr(test_part, "sample_datasets", None) or [ctx.dataset] * len(labels)
    splits = {read_info(root)["dataset"]: protocol for root, protocol in ctx.sources}
    rows = []
    for name in dict.fromkeys(datasets):
        chosen = torch.tensor([d == name for d in datasets])
        metrics, per_class = classification_metrics(logits[chosen], labels[chosen], ctx.classes)
        rows.append(
            {
                "dataset": name,
                "split": splits.get(name, ctx.protocol),
                "value": metrics["top1"],
                "mean_class": metrics["mean_class"],
                "test_clips": int(chosen.sum()),
                "per_class": [{"dataset": name, **r} for r in per_class if r["total"]],
            }
        )
    return rows


def finetune_once(
    ctx: EvalContext,
    settings: FinetuneSettings,
    run_dir: str | Path,
    *,
    train_part: PreparedLike | None = None,
    device: str = "auto",
    batch_size: int = 64,
    num_workers: int = 0,
    progress: bool = True,
    save: bool = True,
    command: str | None = None,
) -> FinetuneOutcome | None:
    """Fine-tune on ``train_part`` (default: the protocol's train part), score the test part, save the classifier.

    A ``run_dir`` holding checkpoints of an earlier run with the same config is resumed (see :mod:`skelrec.train`).
    Returns ``None`` on processes other than rank 0 of a ``torchrun`` launch.
    """
    run_dir = Path(run_dir)
    train_part = ctx.part("train") if train_part is None else train_part
    test_part = ctx.part("test")
    cfg = train_config(
        ctx, settings, run_dir, len(train_part), device=device, num_workers=num_workers, progress=progress
    )
    result = train(cfg, prepared=train_part)
    if result.rank != 0:
        return None
    method = result.method
    if not isinstance(method, Supervised):
        raise SkelrecError(f"fine-tuning trained a {type(method).__name__}, expected the supervised method")
    device_of = next(method.parameters()).device
    logits, labels = predict_logits(
        method.classifier,
        ctx.torch_dataset(test_part),
        batch_size=batch_size,
        device=device_of,
        num_workers=num_workers,
    )
    metrics, per_class = classification_metrics(logits, labels, ctx.classes)
    scores = per_dataset_scores(ctx, test_part, logits, labels)
    checkpoint = None
    if save:
        cards = [{"protocol": "finetune", "dataset": ctx.dataset, "split": ctx.protocol, "value": metrics["top1"]}]
        if len(scores) > 1 or ctx.vocabulary is not None:
            cards = [{"protocol": "finetune", **{k: v for k, v in r.items() if k != "per_class"}} for r in scores]
        for card in cards:
            card |= {"metric": "accuracy", "command": command} if command else {"metric": "accuracy"}
        extra = {"clip_seconds": median_clip_seconds(train_part), "per_class": per_class}
        if ctx.vocabulary is not None:
            extra |= {
                "vocabulary": ctx.vocabulary.name,
                "label_sources": ctx.vocabulary.label_sources(),
                "per_dataset_class": [r for row in scores for r in row["per_class"]],
            }
        checkpoint = save_classifier(run_dir / CLASSIFIER_DIR, method, cfg, ctx, cards, extra)
    return FinetuneOutcome(metrics, per_class, len(train_part), result.step, result.epoch, checkpoint)


def run_finetune(
    ctx: EvalContext,
    settings: FinetuneSettings | None = None,
    *,
    run_dir: str | Path,
    device: str = "auto",
    batch_size: int = 64,
    num_workers: int = 0,
    progress: bool = True,
    command: str | None = None,
) -> EvalResult | None:
    """Fine-tuning evaluation of ``ctx`` (``init=random``: the supervised-from-scratch baseline).

    Args:
        ctx: checkpoint, init and dataset split.
        settings: the recipe.
        run_dir: the training run folder (checkpoints, metrics.csv; the classifier goes to ``classifier/``).
        device: ``auto``, ``cpu`` or ``cuda``.
        batch_size: clips per forward pass when scoring the test part.
        num_workers: DataLoader workers.
        progress: show the training progress bar.
        command: the command line, recorded with the metrics in the classifier checkpoint.
    """
    s = settings or FinetuneSettings()
    started = time.perf_counter()
    outcome = finetune_once(
        ctx,
        s,
        run_dir,
        device=device,
        batch_size=batch_size,
        num_workers=num_workers,
        progress=progress,
        command=command,
    )
    if outcome is None:
        return None
    test_size = len(ctx.part("test"))
    return EvalResult(
        protocol="finetune",
        **ctx.result_fields(),
        sizes={"train": outcome.train_size, "test": test_size, "classes": len(ctx.classes)},
        settings={**asdict(replace(s, layer_decay=s.layer_decay_for(ctx.init))), "run_dir": str(run_dir)},
        epochs=outcome.epochs,
        seeds=[s.seed],
        metrics={**outcome.metrics},
        per_class=outcome.per_class,
        seconds=time.perf_counter() - started,
        runs=[{"steps": outcome.steps, "epochs": outcome.epochs}],
        artifacts={"classifier": str(outcome.checkpoint)} if outcome.checkpoint else {},
    )
