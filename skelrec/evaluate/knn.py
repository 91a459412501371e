"""k-nearest-neighbour evaluation of frozen features, with InstDisc's temperature-weighted vote.

Each test clip's feature is compared with every training feature by cosine similarity ``s``; its ``k`` most similar
training clips vote for their labels with weight ``exp(s / tau)`` (Wu et al., CVPR'18, "InstDisc", eq. 8; the kNN
monitor of MoCo/DINO), and the class scores are the summed weights. Top-1/top-5 are read from the class scores
(ties go to the lower class index).

Defaults: ``tau = 0.07`` (InstDisc, DINO). ``k = 20``: DINO's headline kNN setting (``eval_knn.py`` reports 10, 20,
100, 200 and 20 is its best or near-best); it stays well below the training clips per class of the skeleton
benchmarks (NW-UCLA cross-subject ~50, NTU-60 ~660), so the vote is not swamped by other classes; the skeleton SSL
papers report no kNN setting of their own (RECIPES.md). The 1-NN accuracy (parameter-free) is reported beside it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from skelrec.errors import SkelrecError
from skelrec.evaluate.context import EvalContext
from skelrec.evaluate.features import extract_features
from skelrec.evaluate.metrics import classification_metrics, topk_accuracy
from skelrec.evaluate.results import EvalResult
from skelrec.models.fewshot import knn_scores  # shared with the few-shot kNN head of `skelrec teach`
from skelrec.train.distributed import resolve_device

__all__ = ["KnnSettings", "knn_scores", "run_knn"]


@dataclass
class KnnSettings:
    """Attributes: ``k`` neighbours, vote ``temperature``, feature ``pooling``, ``seed`` (random-init control)."""

    k: int = 20
    temperature: float = 0.07
    pooling: str = "mean"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.k < 1 or self.temperature <= 0:
            raise SkelrecError(f"kNN: k ({self.k}) must be >= 1 and temperature ({self.temperature}) > 0")


def run_knn(
    ctx: EvalContext,
    settings: KnnSettings | None = None,
    *,
    device: str = "auto",
    batch_size: int = 64,
    num_workers: int = 0,
) -> EvalResult:
    """kNN evaluation of ``ctx``'s encoder: train-part features are the memory bank, test-part features are scored.

    Metrics: ``top1``/``top5``/``mean_class`` of the ``k``-NN vote and ``top1_k1`` of the nearest neighbour.
    """
    s = settings or KnnSettings()
    started = time.perf_counter()
    dev = resolve_device(device)
    encoder = ctx.build_encoder(s.seed).to(dev)
    train_part, test_part = ctx.part("train"), ctx.part("test")
    options = {"pooling": s.pooling, "batch_size": batch_size, "device": dev, "num_workers": num_workers}
    train_feats, train_labels = extract_features(encoder, ctx.torch_dataset(train_part), **options)
    test_feats, test_labels = extract_features(encoder, ctx.torch_dataset(test_part), **options)
    vote = {"num_classes": len(ctx.classes), "temperature": s.temperature}
    scores = knn_scores(train_feats, train_labels, test_feats, k=s.k, **vote)
    metrics, per_class = classification_metrics(scores, test_labels, ctx.classes)
    nearest = knn_scores(train_feats, train_labels, test_feats, k=1, **vote)
    metrics["top1_k1"] = topk_accuracy(nearest.cpu(), test_labels.cpu(), ks=(1,))["top1"]
    return EvalResult(
        protocol="knn",
        **ctx.result_fields(),
        sizes={"train": len(train_part), "test": len(test_part), "classes": len(ctx.classes)},
        settings={**asdict(s), "k_used": min(s.k, len(train_part)), "feature_dim": int(test_feats.shape[1])},
        epochs=None,
        seeds=[s.seed],
        metrics=metrics,
        per_class=per_class,
        seconds=time.perf_counter() - started,
    )
