"""How a classifier is fitted to the examples (``skelrec teach --method``), one registered class per way.

* ``prototype`` (default, instant): :class:`~skelrec.models.PrototypeHead` on the frozen encoder's features.
* ``knn``: :class:`~skelrec.models.KnnHead` (the kNN protocol's InstDisc vote, :func:`skelrec.models.knn_scores`).
* ``linear``: the linear probe of the linear protocol (:func:`skelrec.evaluate.fit_linear_probe`) on the frozen
  features.
* ``finetune``: encoder and head trained end to end by :func:`skelrec.train.train` with the ``supervised`` method
  (:func:`skelrec.evaluate.finetune.train_config`: MAMP's fine-tuning recipe, shortened), for more examples.

A method fits on a :class:`~skelrec.teach.clips.ClipSet` (with embeddings for the frozen-encoder methods): a head
on the features, or a whole fine-tuned :class:`~skelrec.models.Classifier`; :meth:`TeachMethod.classifier` makes
the classifier that is saved (the base's encoder and the head). ``similarity`` methods compare a clip
with the stored examples and so can say "unknown" (open set); ``folds`` bounds the cross-validation folds of a
method too slow to refit once per example (``None``: leave one out).
"""

from __future__ import annotations

import logging
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skelrec.datasets.base import Sample
from skelrec.errors import SkelrecError
from skelrec.evaluate.context import EvalContext
from skelrec.evaluate.finetune import FinetuneSettings, train_config
from skelrec.evaluate.linear import LinearSettings, fit_linear_probe
from skelrec.evaluate.semi import GeneratedClips
from skelrec.models import Classifier, Head, KnnHead, KnnHeadConfig, PrototypeHead, PrototypeHeadConfig
from skelrec.registry import Registry
from skelrec.teach.augment import data_config
from skelrec.teach.base import DEFAULT_POOLING, TeachBase
from skelrec.teach.clips import ClipSet
from skelrec.train import train

__all__ = [
    "TEACH_METHODS",
    "EmbeddingMethod",
    "Finetune",
    "FitContext",
    "HeadSpec",
    "Knn",
    "Linear",
    "Prototype",
    "TeachMethod",
    "build_teach_method",
    "class_center",
    "register_teach_method",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitContext:
    """What every fit needs besides the clips: the action names, a seed, the base model (``None`` when only
    features are given, e.g. in a benchmark: then only embedding methods fit, and no classifier is made), and the
    pooling of the embeddings (recorded in the head's config)."""

    labels: tuple[str, ...]
    base: TeachBase | None = None
    seed: int = 0
    pooling: str = DEFAULT_POOLING

    def require_base(self, what: str) -> TeachBase:
        if self.base is None:
            raise SkelrecError(f"{what} needs the base model; pass FitContext(base=...)")
        return self.base

    @property
    def num_classes(self) -> int:
        return len(self.labels)


class TeachMethod(ABC):
    """Fits a classifier on examples; subclasses are dataclasses of their hyper-parameters."""

    name: ClassVar[str]
    similarity: ClassVar[bool] = False
    folds: ClassVar[int | None] = None
    needs_embeddings: ClassVar[bool] = True

    @abstractmethod
    def fit(self, rows: ClipSet, ctx: FitContext, *, unknown_threshold: float | None = None) -> nn.Module:
        """The model fitted on ``rows`` (a head, or a classifier); ``unknown_threshold`` for :attr:`similarity`
        methods only."""

    @abstractmethod
    def held_out(self, fitted: nn.Module, rows: ClipSet) -> tuple[Tensor, Tensor | None]:
        """Closed-set logits ``(N, K)`` of ``rows`` by a model from :meth:`fit`, and for similarity methods their
        similarity ``(N, K)`` to each class (else ``None``)."""

    @abstractmethod
    def classifier(self, fitted: nn.Module, ctx: FitContext) -> Classifier:
        """The classifier to save from a model of :meth:`fit`."""


TEACH_METHODS: Registry[type[TeachMethod]] = Registry("teach method")


def register_teach_method(cls: type[TeachMethod]) -> type[TeachMethod]:
    """Class decorator: make a method available as ``skelrec teach --method <cls.name>``."""
    return TEACH_METHODS.add(cls.name, cls)


def build_teach_method(name: str, **options: Any) -> TeachMethod:
    """The method ``name`` with hyper-parameters ``options`` (unknown ones are named in the error)."""
    cls = TEACH_METHODS[name]
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(options) - known)
    if unknown:
        raise SkelrecError(f"teach method {name}: unknown options {unknown}; known: {', '.join(sorted(known)) or '-'}")
    return cls(**options)


def class_center(embeddings: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """``(D,)`` mean of the class means of ``embeddings`` ``(N, D)``; zeros when fewer than two classes are present
    (centring a single class on its own mean would leave only its noise)."""
    present = [c for c in range(num_classes) if bool((labels == c).any())]
    if len(present) < 2:
        return torch.zeros(embeddings.shape[1])
    return torch.stack([embeddings[labels == c].mean(dim=0) for c in present]).mean(dim=0)


@dataclass(frozen=True)
class HeadSpec:
    """What a head is fitted for: ``num_classes`` classes, the open-set ``unknown_threshold`` (``None``: closed
    set; similarity methods only), the ``pooling`` of the features (recorded in the head's config), a ``seed``."""

    num_classes: int
    unknown_threshold: float | None = None
    pooling: str = DEFAULT_POOLING
    seed: int = 0


class EmbeddingMethod(TeachMethod):
    """A head fitted on the frozen base encoder's features (computed once for all folds)."""

    @abstractmethod
    def fit_head(self, embeddings: Tensor, labels: Tensor, spec: HeadSpec) -> Head:
        """A head on features ``(N, D)`` (the encoder feature ``spec.pooling``, which the head's config records)
        with labels ``(N,)`` in ``[0, spec.num_classes)``."""

    def fit(self, rows: ClipSet, ctx: FitContext, *, unknown_threshold: float | None = None) -> nn.Module:
        if rows.embeddings is None:
            raise SkelrecError(f"teach method {self.name} needs the examples' embeddings; compute them first")
        spec = HeadSpec(ctx.num_classes, unknown_threshold, ctx.pooling, ctx.seed)
        head = self.fit_head(rows.embeddings, rows.labels, spec)
        return head.eval()

    def classifier(self, fitted: nn.Module, ctx: FitContext) -> Classifier:
        return Classifier(ctx.require_base("a classifier").encoder, fitted)  # type: ignore[arg-type]

    def held_out(self, fitted: nn.Module, rows: ClipSet) -> tuple[Tensor, Tensor | None]:
        assert rows.embeddings is not None, "held-out rows need embeddings"
        with torch.no_grad():
            logits = fitted(rows.embeddings)[:, : fitted.config.num_classes]  # without the open-set column
            sims = fitted.similarities(rows.embeddings) if self.similarity else None  # type: ignore[operator]
        return logits, sims


@register_teach_method
@dataclass
class Prototype(EmbeddingMethod):
    """Nearest prototype (class mean of the normalised, centred features), cosine logits ``/ temperature``."""

    name: ClassVar[str] = "prototype"
    similarity: ClassVar[bool] = True
    temperature: float = 0.1
    center: bool = True

    def fit_head(self, embeddings: Tensor, labels: Tensor, spec: HeadSpec) -> Head:
        k, dim = spec.num_classes, embeddings.shape[1]
        center = class_center(embeddings, labels, k) if self.center else torch.zeros(dim)
        z = F.normalize(embeddings - center, dim=1)
        prototypes = torch.zeros(k, dim)
        for c in range(k):
            if bool((labels == c).any()):
                prototypes[c] = F.normalize(z[labels == c].mean(dim=0), dim=0)
        cfg = PrototypeHeadConfig(
            pooling=spec.pooling,
            in_dim=dim,
            num_classes=k,
            temperature=self.temperature,
            unknown_threshold=spec.unknown_threshold,
        )
        head = PrototypeHead(cfg)
        head.prototypes.copy_(prototypes)
        head.center.copy_(center)
        return head


@register_teach_method
@dataclass
class Knn(EmbeddingMethod):
    """Weighted vote of the ``k`` most similar examples (InstDisc, ``exp(cos / temperature)``)."""

    name: ClassVar[str] = "knn"
    similarity: ClassVar[bool] = True
    k: int = 5
    temperature: float = 0.07
    center: bool = True

    def fit_head(self, embeddings: Tensor, labels: Tensor, spec: HeadSpec) -> Head:
        n, dim = embeddings.shape
        center = class_center(embeddings, labels, spec.num_classes) if self.center else torch.zeros(dim)
        cfg = KnnHeadConfig(
            pooling=spec.pooling,
            in_dim=dim,
            num_classes=spec.num_classes,
            num_examples=n,
            k=min(self.k, n),
            temperature=self.temperature,
            unknown_threshold=spec.unknown_threshold,
        )
        head = KnnHead(cfg)
        head.bank.copy_(F.normalize(embeddings - center, dim=1))
        head.bank_labels.copy_(labels)
        head.center.copy_(center)
        return head


@register_teach_method
@dataclass
class Linear(EmbeddingMethod):
    """The linear protocol's probe (``BatchNorm1d(affine=False) -> Linear``, SGD) on the frozen features."""

    name: ClassVar[str] = "linear"
    epochs: int = 100
    lr: float = 0.1

    def fit_head(self, embeddings: Tensor, labels: Tensor, spec: HeadSpec) -> Head:
        settings = LinearSettings(epochs=self.epochs, lr=self.lr, pooling=spec.pooling, seed=spec.seed)
        return fit_linear_probe(lambda epoch: (embeddings, labels), spec.num_classes, settings)


@register_teach_method
@dataclass
class Finetune(TeachMethod):
    """Encoder and the encoder's fine-tuning head trained end to end through the training loop (``supervised``).

    The recipe is the fine-tuning protocol's (AdamW, warm-up + cosine, layer decay 0.8, label smoothing 0.1,
    training augmentations) for ``epochs`` epochs of batches of ``batch_size`` examples; cross-validation uses at
    most :attr:`folds` folds (one fine-tuning run each).
    """

    name: ClassVar[str] = "finetune"
    folds: ClassVar[int | None] = 5
    needs_embeddings: ClassVar[bool] = False
    epochs: int = 60
    batch_size: int = 8
    lr: float = 3e-4
    device: str = "cpu"

    def fit(self, rows: ClipSet, ctx: FitContext, *, unknown_threshold: float | None = None) -> nn.Module:
        base = ctx.require_base("fine-tuning")
        eval_ctx = EvalContext(
            base.loaded.folder, base.config, "pretrained", data_config(base.config), "examples", list(ctx.labels)
        )
        layout = base.input.layout
        samples = [
            Sample(clip, layout, f"example_{i}", "examples", int(y), ctx.labels[int(y)])
            for i, (clip, y) in enumerate(zip(rows.training, rows.labels.tolist(), strict=True))
        ]
        batch = min(self.batch_size, len(samples))
        settings = FinetuneSettings(
            epochs=self.epochs,
            warmup_epochs=min(5.0, self.epochs / 10),
            batch_size=batch,
            lr=self.lr,
            amp="none",
            seed=ctx.seed,
        )
        with tempfile.TemporaryDirectory(prefix="skelrec-teach-") as run_dir:
            cfg = train_config(
                eval_ctx, settings, run_dir, len(samples), device=self.device, num_workers=0, progress=False
            )
            result = train(cfg, prepared=GeneratedClips(samples, layout, list(ctx.labels)))
        return result.method.classifier.eval()  # type: ignore[attr-defined]

    def classifier(self, fitted: nn.Module, ctx: FitContext) -> Classifier:
        return fitted  # type: ignore[return-value]

    def held_out(self, fitted: nn.Module, rows: ClipSet) -> tuple[Tensor, Tensor | None]:
        device = next(fitted.parameters()).device
        with torch.no_grad():
            return fitted(rows.x.to(device), rows.mask.to(device)).float().cpu(), None
