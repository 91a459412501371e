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

import typing
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from torch import Tensor, nn

from skelrec.config import ConfigValueError
from skelrec.errors import SkelrecError
from skelrec.models import ENCODERS
from skelrec.models.config import checked_value
from skelrec.registry import Registry
from skelrec.skeleton import get_layout

if TYPE_CHECKING:
    from skelrec.config import OptimConfig

__all__ = [
    "METHODS",
    "InputSpec",
    "Method",
    "MethodOptions",
    "build_encoder_for",
    "build_method",
    "check_mask_ratio",
    "register_method",
    "require_option",
    "require_registered",
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


OPTIONS_KEY = "method.kwargs"


def require_option(ok: bool, option: str, problem: str) -> None:
    """The one way a method refuses an option value: ``method.kwargs.<option>: <problem>`` (a ConfigValueError, the
    shape of every config value error), e.g. ``require_option(0 <= r < 1, "mask_ratio", f"must be in [0, 1), got
    {r}")``."""
    if not ok:
        raise ConfigValueError(f"{OPTIONS_KEY}.{option}", problem)


OptionsT = TypeVar("OptionsT", bound="MethodOptions")


def require_registered(registry: Registry[Any], name: str, option: str) -> None:
    """:func:`require_option` for an option that names a registry entry (the registry's "unknown ..." message)."""
    try:
        registry.check(name)
    except SkelrecError as err:
        raise ConfigValueError(f"{OPTIONS_KEY}.{option}", str(err)) from None


def check_mask_ratio(ratio: float) -> None:
    """The masking methods' rule for ``mask_ratio``: a fraction in ``[0, 1)``."""
    require_option(0.0 <= ratio < 1.0, "mask_ratio", f"must be in [0, 1) (e.g. 0.9), got {ratio}")


@dataclass(frozen=True)
class MethodOptions:
    """A method's options (its ``method.kwargs``) as a typed dataclass: the fields are the options with their paper
    defaults. Construction checks every field's type (``method.kwargs.mask_ratio must be float, got 'x'``) and
    then :meth:`check`; :meth:`from_kwargs` refuses unknown options by name."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            value = checked_value(OPTIONS_KEY, f.name, getattr(self, f.name), hints[f.name])
            object.__setattr__(self, f.name, value)
        self.check()

    def check(self) -> None:
        """The value rules of the options that need nothing but the options (:func:`require_option` calls)."""

    @classmethod
    def from_kwargs(cls: type[OptionsT], method: str, kwargs: Mapping[str, Any]) -> OptionsT:
        """The options of ``method`` from its ``method.kwargs``; an unknown key is an error that lists the options."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(kwargs) - set(known))
        if unknown:
            raise ConfigValueError(
                OPTIONS_KEY, f"method {method!r} has no option {', '.join(unknown)}; its options: {', '.join(known)}"
            )
        for f in fields(cls):
            required = f.default is MISSING and f.default_factory is MISSING
            require_option(not required or f.name in kwargs, f.name, f"method {method!r} needs it; set it")
        return cls(**kwargs)


class Method(nn.Module, ABC):
    """A training objective around ``encoder``; subclasses take ``(encoder, spec, **options)`` in ``__init__``.

    The options are parsed into :attr:`options`, an instance of the class attribute :attr:`Options` (the method's
    :class:`MethodOptions` dataclass); a check that needs the encoder uses :func:`require_option` too.

    Class attributes:
        Options: the method's options dataclass.
        no_weight_decay: parameter-name substrings excluded from weight decay by the default :meth:`param_groups`.
        find_unused_parameters: passed to DistributedDataParallel (set it when some parameters can get no gradient
            in a step, e.g. a branch used only every other step).
    """

    Options: ClassVar[type[MethodOptions]] = MethodOptions
    no_weight_decay: ClassVar[tuple[str, ...]] = ("pos_embed", "token")
    find_unused_parameters: ClassVar[bool] = False

    def __init__(self, encoder: nn.Module, spec: InputSpec, **options: Any) -> None:
        super().__init__()
        self.encoder = encoder
        self.spec = spec
        name = next((n for n, c in METHODS.items() if c is type(self)), type(self).__name__)
        self.options = self.Options.from_kwargs(name, options)

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
        :func:`skelrec.checkpoint.load_model` loads the encoder keys strictly and leaves ``method.`` keys out."""
        return dict(self.pretrained_encoder().state_dict())

    def param_groups(self, optim: OptimConfig) -> list[dict[str, Any]]:
        """Optimizer parameter groups; the default applies ``optim.weight_decay`` except to norms/biases/embeddings."""
        return weight_decay_groups(self, optim.weight_decay, self.no_weight_decay)


METHODS: Registry[type[Method]] = Registry("method", populate="skelrec.ssl")
"""Registered methods by name (``method.name`` of a training config); :mod:`skelrec.ssl` registers them."""

register_method = METHODS.register
"""Class decorator registering a :class:`Method` under a name: ``@register_method("mamp")``."""


def build_method(name: str, encoder: nn.Module, spec: InputSpec, **options: Any) -> Method:
    """The registered method ``name`` around ``encoder``; its :class:`MethodOptions` check ``options``."""
    return METHODS[name](encoder, spec, **options)
