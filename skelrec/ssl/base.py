"""What a trainable objective looks like to :mod:`skelrec.train`, and the registry that names them.

A :class:`Method` wraps an encoder from :mod:`skelrec.models` and adds what its objective needs (decoder, EMA teacher,
queue, diffusion process). The training loop only ever calls::

    out = method(batch)              # {"loss": scalar tensor, "<log name>": float or 0-dim tensor, ...}
    out["loss"].backward(); optimizer.step()
    method.on_step_end(step)         # EMA teacher / momentum encoder / queue updates

``batch`` is the dict :class:`skelrec.datasets.torch_data.SkeletonTorchDataset` yields, collated:
``x`` ``(N, M, T, V, C)`` float32, ``mask`` ``(N, M, T)`` bool, ``label`` ``(N,)`` int64 (-1 = unlabelled),
``index`` ``(N,)`` int64. Self-supervised methods live one per file in :mod:`skelrec.ssl`; evaluations that train
(fine-tuning) implement the same interface.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

from torch import Tensor, nn

from skelrec.errors import SkelrecError
from skelrec.registry import Registry
from skelrec.skeleton import get_layout

if TYPE_CHECKING:
    from skelrec.config import OptimConfig

__all__ = [
    "METHODS",
    "InputSpec",
    "Method",
    "build_encoder_for",
    "build_method",
    "register_method",
    "weight_decay_groups",
]


@dataclass(frozen=True)
class InputSpec:
    """The model input a run is built for: batches ``x`` of shape ``(N, persons, frames, joints, channels)``.

    Attributes:
        layout: joint order of the input (a :data:`skelrec.skeleton.LAYOUTS` name).
        frames: clip length ``T``.
        persons: persons per clip ``M``.
        channels: channels per joint ``C``.
    """

    layout: str
    frames: int
    persons: int
    channels: int

    @property
    def joints(self) -> int:
        """``V`` of the layout."""
        return get_layout(self.layout).num_joints

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def encoder_fields(self) -> dict[str, Any]:
        """Values for the encoder config fields that describe the input (used when a config leaves them out)."""
        return {
            "layout": self.layout,
            "in_channels": self.channels,
            "num_joints": self.joints,
            "num_frames": self.frames,
            "num_persons": self.persons,
        }


def build_encoder_for(spec: InputSpec, name: str, **kwargs: Any) -> nn.Module:
    """The registered encoder ``name`` for input ``spec``: config fields describing the input default to ``spec``.

    Fields the caller sets in ``kwargs`` win (a mismatch then fails on the first batch with the encoder's error).
    """
    from skelrec.models import ENCODERS

    known = {f.name for f in fields(ENCODERS[name].config_class)}
    defaults = {k: v for k, v in spec.encoder_fields().items() if k in known}
    return ENCODERS[name].build(**{**defaults, **kwargs})


def weight_decay_groups(
    module: nn.Module, weight_decay: float, skip: Iterable[str] = ("pos_embed", "token")
) -> list[dict[str, Any]]:
    """AdamW parameter groups: no decay on biases, norm weights (``ndim <= 1``), names containing ``skip`` and the
    names any submodule lists in its ``no_weight_decay()`` (timm convention, e.g. the encoder's ``temp_embed``).

    Frozen parameters (``requires_grad=False``, e.g. an EMA teacher) are left out; empty groups are dropped.
    """
    skip = tuple(skip)
    declared = {
        f"{prefix}.{name}" if prefix else name
        for prefix, sub in module.named_modules()
        if callable(getattr(sub, "no_weight_decay", None))
        for name in sub.no_weight_decay()
    }
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        plain = param.ndim <= 1 or name in declared or any(s in name for s in skip)
        (no_decay if plain else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


class Method(nn.Module, ABC):
    """A training objective around ``encoder``; subclasses take ``(encoder, spec, **options)`` in ``__init__``.

    Class attributes:
        no_weight_decay: parameter-name substrings excluded from weight decay by the default :meth:`param_groups`.
        find_unused_parameters: passed to DistributedDataParallel (set it when some parameters can get no gradient
            in a step, e.g. a branch used only every other step).
    """

    no_weight_decay: ClassVar[tuple[str, ...]] = ("pos_embed", "token")
    find_unused_parameters: ClassVar[bool] = False

    def __init__(self, encoder: nn.Module, spec: InputSpec) -> None:
        super().__init__()
        self.encoder = encoder
        self.spec = spec

    @abstractmethod
    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor | float]:
        """One training step's objective: ``{"loss": scalar tensor, **logs}`` (logs: floats or 0-dim tensors)."""

    def on_step_end(self, step: int) -> None:
        """Called after every optimizer step, ``step`` = steps finished so far (1 after the first)."""

    def pretrained_encoder(self) -> nn.Module:
        """The encoder to export for downstream use: :attr:`encoder` unless a method says otherwise (Skeleton2vec's
        authors evaluate its EMA teacher)."""
        return self.encoder

    def export_state(self) -> dict[str, Tensor]:
        """The tensors of the exported checkpoint: the :meth:`pretrained_encoder`'s state dict, plus any tensors
        the method itself needs later under keys prefixed ``method.`` (MacDiff's decoder, for augmentation);
        :func:`skelrec.hub.checkpoint.load_model` loads the encoder keys strictly and leaves ``method.`` keys out."""
        return dict(self.pretrained_encoder().state_dict())

    def param_groups(self, optim: OptimConfig) -> list[dict[str, Any]]:
        """Optimizer parameter groups; the default applies ``optim.weight_decay`` except to norms/biases/embeddings."""
        return weight_decay_groups(self, optim.weight_decay, self.no_weight_decay)


METHODS: Registry[type[Method]] = Registry("method", populate="skelrec.ssl")
"""Registered methods by name (``method.name`` of a training config); :mod:`skelrec.ssl` registers them."""

register_method = METHODS.register
"""Class decorator registering a :class:`Method` under a name: ``@register_method("mamp")``."""


def build_method(name: str, encoder: nn.Module, spec: InputSpec, **options: Any) -> Method:
    """The registered method ``name`` around ``encoder``; unknown ``options`` raise a SkelrecError naming them."""
    cls = METHODS[name]
    params = inspect.signature(cls.__init__).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        accepted = [p for p in params if p not in ("self", "encoder", "spec")]
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise SkelrecError(
                f"method {name!r} has no option {', '.join(unknown)} (method.kwargs); "
                f"its options: {', '.join(accepted) or 'none'}"
            )
    return cls(encoder, spec, **options)
