"""Supervised classification as a :class:`~skelrec.ssl.base.Method`: fine-tuning and training from scratch.

The fine-tuning evaluation and the supervised baseline are not a second training loop: they are this method run by
:func:`skelrec.train.train`. The method wraps the encoder into a :class:`~skelrec.models.Classifier` with the head
its encoder is fine-tuned with (:data:`FINETUNE_HEADS`), minimises the label-smoothed cross-entropy and builds
AdamW parameter groups with layer-wise learning-rate decay (MAMP ``util/lr_decay.py``, from BEiT/ELECTRA)::

    method:
      name: supervised
      kwargs: {num_classes: 10, pretrained: runs/mamp/encoder, layer_decay: 0.8, label_smoothing: 0.1}

Layer-wise decay: with ``L`` blocks, the embeddings (patch/position/joint embedding, input norm) are layer 0, block
``i`` is layer ``i + 1`` and everything after the blocks (final norm, head) is layer ``L + 1``; layer ``l`` learns
at ``lr * decay ** (L + 1 - l)``. Encoders declare their blocks and stem in :data:`LAYER_STACKS`.

Some pretrained encoders are fine-tuned inside a larger downstream model: SkeletonMAE's GIN inside STRL
(:mod:`skelrec.models.strl`). :func:`downstream_encoder` names the model to fine-tune for a pretrained encoder
(:data:`DOWNSTREAM_ENCODERS`) and :func:`load_pretrained_encoder` copies the pretrained weights into it
(:data:`PRETRAINED_LOADERS`; strict loading for every other encoder).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch.nn.functional as F
from torch import Tensor, nn

from skelrec.checkpoint import load_checkpoint, load_state_strict
from skelrec.errors import SkelrecError
from skelrec.models import (
    HEADS,
    BiGRUEncoder,
    Classifier,
    GINConfig,
    GINEncoder,
    Head,
    SkeletonTransformer,
    STGCNEncoder,
    STRLEncoder,
    strl_from_gin,
)
from skelrec.models.pooling import pooled_width
from skelrec.ssl.base import InputSpec, Method, MethodOptions, register_method, require_option, weight_decay_groups

if TYPE_CHECKING:
    from skelrec.config import OptimConfig

__all__ = [
    "DOWNSTREAM_ENCODERS",
    "FINETUNE_HEADS",
    "LAYER_STACKS",
    "PRETRAINED_LOADERS",
    "HeadChoice",
    "LayerStack",
    "Supervised",
    "SupervisedOptions",
    "build_finetune_head",
    "downstream_encoder",
    "layer_decay_groups",
    "load_pretrained_encoder",
    "lookup",
]

log = logging.getLogger(__name__)


def lookup(registry: Mapping[type, Any], module: nn.Module) -> Any | None:
    """The entry of ``registry`` for the class of ``module`` or its nearest registered base class, else ``None``."""
    return next((registry[cls] for cls in type(module).__mro__ if cls in registry), None)


# ------------------------------------------------------------------------------------------------------------------
# Layer-wise learning-rate decay.
# ------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerStack:
    """Where an encoder's depth is: ``blocks`` names its ``nn.ModuleList`` of layers, ``stem`` the top-level
    parameter/module names that come before them (embeddings, input norm)."""

    blocks: str
    stem: tuple[str, ...]

    def num_blocks(self, encoder: nn.Module) -> int:
        return len(getattr(encoder, self.blocks))

    def layer_id(self, name: str, num_blocks: int) -> int:
        """Layer of the encoder parameter ``name``: 0 for the stem, ``i + 1`` for block ``i``, else ``L + 1``."""
        head, _, rest = name.partition(".")
        if head in self.stem:
            return 0
        if head == self.blocks:
            return int(rest.partition(".")[0]) + 1
        return num_blocks + 1


LAYER_STACKS: dict[type[nn.Module], LayerStack] = {
    SkeletonTransformer: LayerStack("blocks", ("patch_embed", "temp_embed", "pos_embed")),  # MAMP get_layer_id_for_vit
    BiGRUEncoder: LayerStack("layers", ("input_norm",)),
    GINEncoder: LayerStack("layers", ("joint_embed",)),
    STRLEncoder: LayerStack("layers", ("joint_embed",)),
    STGCNEncoder: LayerStack("layers", ("data_bn",)),
}
"""Encoder class -> its :class:`LayerStack`; subclasses inherit their base's entry. Add an encoder here to fine-tune
it with ``layer_decay < 1``."""


def layer_decay_groups(
    model: nn.Module, *, lr: float, weight_decay: float, layer_decay: float, skip: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """AdamW groups of ``model``'s trainable parameters with layer-wise learning rates.

    The weight-decay split is :func:`~skelrec.ssl.base.weight_decay_groups`'s (none on norms, biases, names
    containing ``skip`` and the modules' ``no_weight_decay()``); each of its groups is split by layer. The layers are
    those of ``model.encoder``; parameters outside it (the head) are in the top layer ``L + 1``. A group has
    ``lr = lr * layer_decay ** (L + 1 - layer)`` and records ``lr_scale`` and ``layer``.
    """
    encoder = model.encoder
    if layer_decay == 1.0:
        stack, blocks = None, 0
    else:
        stack = lookup(LAYER_STACKS, encoder)
        if stack is None:
            raise SkelrecError(
                f"layer_decay={layer_decay} needs the block structure of {type(encoder).__name__}; add it to "
                f"skelrec.ssl.supervised.LAYER_STACKS or set layer_decay=1.0"
            )
        blocks = stack.num_blocks(encoder)
    layer_of = {}
    for name, param in model.named_parameters():
        inside, _, rest = name.partition(".")
        layer_of[id(param)] = stack.layer_id(rest, blocks) if stack is not None and inside == "encoder" else blocks + 1
    groups: dict[tuple[int, float], dict[str, Any]] = {}
    for base in weight_decay_groups(model, weight_decay, skip):
        for param in base["params"]:
            layer = layer_of[id(param)]
            scale = layer_decay ** (blocks + 1 - layer)
            group = {"params": [], "weight_decay": base["weight_decay"], "lr": lr * scale, "lr_scale": scale}
            groups.setdefault((layer, base["weight_decay"]), group | {"layer": layer})["params"].append(param)
    return [groups[key] for key in sorted(groups)]


# ------------------------------------------------------------------------------------------------------------------
# Heads.
# ------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeadChoice:
    """The head an encoder is fine-tuned with: the first of ``names`` registered in :data:`skelrec.models.HEADS`,
    with config fields ``kwargs`` (``in_dim``, ``num_joints`` and ``num_classes`` are filled in from the encoder)."""

    names: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


FINETUNE_HEADS: dict[type[nn.Module], HeadChoice] = {
    SkeletonTransformer: HeadChoice(("mamp_finetune",)),  # MAMP/MacDiff fine-tuning head
    BiGRUEncoder: HeadChoice(("linear",), {"batch_norm": False}),  # HaLP/CMD: one fc layer on the GRU feature
    STRLEncoder: HeadChoice(("linear",), {"batch_norm": False}),  # SkeletonMAE: global pooling + linear classifier
    STGCNEncoder: HeadChoice(("linear",), {"batch_norm": False}),  # ST-GCN: global pooling + fc
}
"""Encoder class -> :class:`HeadChoice`; other encoders get a linear head."""

DEFAULT_HEAD = HeadChoice(("linear",))


def build_finetune_head(
    encoder: nn.Module, num_classes: int, name: str | None = None, kwargs: Mapping[str, Any] | None = None
) -> Head:
    """The classification head for ``encoder``: ``name`` (a registered head) or the encoder's :data:`FINETUNE_HEADS`
    choice; config fields describing the encoder's features default to the encoder's values."""
    choice = lookup(FINETUNE_HEADS, encoder) or DEFAULT_HEAD
    if name is None:
        name = next((n for n in choice.names if n in HEADS), DEFAULT_HEAD.names[0])
        defaults = dict(choice.kwargs)
    else:
        defaults = {}
    known = {f.name for f in fields(HEADS[name].config_class)}
    values = defaults | dict(kwargs or {})
    in_dim = pooled_width(encoder, values["pooling"]) if "pooling" in values else encoder.embed_dim
    from_encoder = {"in_dim": in_dim, "num_joints": encoder.feature_joints, "num_classes": num_classes}
    return HEADS[name].build(**({k: v for k, v in from_encoder.items() if k in known} | values))


# ------------------------------------------------------------------------------------------------------------------
# Pretrained weights.
# ------------------------------------------------------------------------------------------------------------------


def strl_for_gin(config: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """SkeletonMAE fine-tunes its pretrained GIN inside STRL (Yan et al., ICCV'23, Sec. 3.3): the STRL config whose
    GIN copies fit a GIN encoder of ``config``."""
    return "strl", strl_from_gin(GINEncoder(GINConfig.from_dict(config))).config.to_dict()


DOWNSTREAM_ENCODERS: dict[str, Callable[[Mapping[str, Any]], tuple[str, dict[str, Any]]]] = {"gin": strl_for_gin}
"""Pretrained encoder name -> ``config -> (name, config)`` of the model fine-tuned around it."""


def downstream_encoder(name: str, config: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(name, config)`` of the encoder that fine-tuning trains for a pretrained ``name`` encoder of ``config``
    (the encoder itself unless :data:`DOWNSTREAM_ENCODERS` has an entry)."""
    make = DOWNSTREAM_ENCODERS.get(name)
    return make(config) if make is not None else (name, dict(config))


def _load_gin_into_strl(encoder: STRLEncoder, state: Mapping[str, Tensor], source: str) -> None:
    encoder.load_gin_state(state)


Loader = Callable[[Any, Mapping[str, Tensor], str], None]
"""``(encoder, pretrained state, source) -> None``."""

PRETRAINED_LOADERS: dict[str, tuple[type[nn.Module], Loader]] = {"gin": (STRLEncoder, _load_gin_into_strl)}
"""Pretrained encoder name -> (downstream encoder class, how to load its weights into one); every other pairing is
loaded strictly."""


def load_pretrained_encoder(encoder: nn.Module, folder: str | Path) -> None:
    """Load the encoder weights of a checkpoint folder (a pretrained encoder or a classifier) into ``encoder``:
    strictly (every key and shape; build ``encoder`` from the checkpoint's ``encoder`` section), or through
    :data:`PRETRAINED_LOADERS` into a downstream model (STRL takes a GIN encoder's weights)."""
    state, config = load_checkpoint(folder)
    if config.head is not None:
        state = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    source = config.encoder.name
    target, loader = PRETRAINED_LOADERS.get(source, (None, None))
    load = loader if target is not None and isinstance(encoder, target) else load_state_strict
    load(encoder, state, str(folder))
    log.info("loaded the pretrained %s encoder of %s into a %s", source, folder, type(encoder).__name__)


# ------------------------------------------------------------------------------------------------------------------
# The method.
# ------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SupervisedOptions(MethodOptions):
    """Supervised training's ``method.kwargs``.

    Attributes:
        num_classes: classes of the dataset (required).
        pretrained: checkpoint folder whose encoder weights initialise ``encoder``; ``None`` keeps its random init.
        head: registered head name; ``None`` picks the encoder's :data:`FINETUNE_HEADS` choice.
        head_kwargs: config fields of the head (e.g. ``{"dropout": 0.3}``).
        label_smoothing: ``eps`` of the smoothed target ``(1 - eps) * onehot + eps / K`` (MAMP: 0.1).
        layer_decay: layer-wise learning-rate decay (MAMP fine-tuning: 0.8; from scratch: 1.0).
    """

    num_classes: int
    pretrained: str | None = None
    head: str | None = None
    head_kwargs: dict[str, Any] | None = None
    label_smoothing: float = 0.1
    layer_decay: float = 1.0

    def check(self) -> None:
        require_option(self.num_classes >= 1, "num_classes", f"must be >= 1, got {self.num_classes}")
        smoothing = self.label_smoothing
        require_option(0 <= smoothing < 1, "label_smoothing", f"must be in [0, 1), got {smoothing}")
        require_option(0 < self.layer_decay <= 1, "layer_decay", f"must be in (0, 1], got {self.layer_decay}")


@register_method("supervised")
class Supervised(Method):
    """Classification with a label-smoothed cross-entropy: fine-tuning (``pretrained`` set) or from scratch.

    Options: :class:`SupervisedOptions`. Encoder: built from the pretrained checkpoint's config when ``pretrained``
    is set.

    Samples labelled ``-1`` (unlabelled) are ignored by the loss. Logs: ``acc`` (top-1 of the batch, in [0, 1]).
    """

    Options = SupervisedOptions
    options: SupervisedOptions

    def __init__(self, encoder: nn.Module, spec: InputSpec, **options: Any) -> None:
        super().__init__(encoder, spec, **options)
        o = self.options
        head = o.head
        self.head = build_finetune_head(encoder, o.num_classes, head, o.head_kwargs)
        if not any(p.requires_grad for p in self.head.parameters()):
            raise SkelrecError(
                f"head {head!r} has no trainable weights (it is built from labelled examples by `skelrec teach`), so "
                f"supervised training cannot fit it; use a trainable head such as {DEFAULT_HEAD.names[0]!r}"
            )
        if o.pretrained is not None:
            load_pretrained_encoder(encoder, o.pretrained)
        self.label_smoothing = o.label_smoothing
        self.layer_decay = o.layer_decay

    @property
    def classifier(self) -> Classifier:
        """The encoder and head as a :class:`Classifier` sharing this method's modules (state keys ``encoder.*``,
        ``head.*``, as in ``self.state_dict()``)."""
        return Classifier(self.encoder, self.head)

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor | float]:
        logits = self.classifier(batch["x"], batch["mask"])  # (N, K)
        labels = batch["label"]
        # L = -sum_k q_k log p_k,  q = (1 - eps) * onehot(y) + eps / K
        loss = F.cross_entropy(logits, labels, ignore_index=-1, label_smoothing=self.label_smoothing)
        labelled = labels >= 0
        acc = ((logits.argmax(dim=-1) == labels) & labelled).sum() / labelled.sum().clamp_min(1)
        return {"loss": loss, "acc": acc.detach()}

    def param_groups(self, optim: OptimConfig) -> list[dict[str, Any]]:
        """Layer-wise decayed learning rates; no weight decay on norms, biases and the encoder's embeddings."""
        return layer_decay_groups(
            self,
            lr=optim.lr,
            weight_decay=optim.weight_decay,
            layer_decay=self.layer_decay,
            skip=self.no_weight_decay,
        )
