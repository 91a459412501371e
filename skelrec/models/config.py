"""Typed configs of encoders and heads: plain dataclasses that round-trip through ``dict`` (checkpoint config.json).

A model keeps its config (``model.config``); :func:`skelrec.checkpoint.save_checkpoint` writes
``config.to_dict()`` beside the weights and :func:`skelrec.models.build_encoder` feeds it back, so a checkpoint
rebuilds exactly the architecture it was trained with.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, TypeVar

from skelrec.errors import SkelrecError

__all__ = ["ModelConfig"]

C = TypeVar("C", bound="ModelConfig")


@dataclass
class ModelConfig:
    """Base of the per-architecture configs: field types are checked on construction.

    Subclasses are dataclasses whose fields are ``int``, ``float``, ``bool``, ``str``, ``Literal[...]``,
    ``tuple[int, ...]`` (a list from JSON becomes a tuple) or ``X | None`` of those; ``from_dict`` rejects unknown keys
    by name.
    """

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            setattr(self, f.name, checked_value(type(self).__name__, f.name, getattr(self, f.name), hints[f.name]))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls: type[C], d: Mapping[str, Any] | None = None) -> C:
        d = dict(d or {})
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise SkelrecError(f"unknown {cls.__name__} fields {unknown}; known fields: {', '.join(known)}")
        return cls(**d)


def checked_value(owner: str, name: str, value: Any, hint: Any) -> Any:
    """``value`` if it fits the type ``hint`` (ints are accepted and converted for floats; a list becomes a tuple),
    else the SkelrecError ``<owner>.<name> must be <type>, got <value>`` (the shape of every config type error).

    Hints: ``int``, ``float``, ``bool``, ``str``, ``Literal[...]``, ``tuple[X, ...]``, ``dict[str, X]``, ``Any`` and
    ``X | None`` of those.
    """
    if hint is Any:
        return value
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, _UnionType) else (hint,)
    for opt in options:
        if opt is type(None) and value is None:
            return value
        if typing.get_origin(opt) is Literal and value in typing.get_args(opt):
            return value
        if opt is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if opt in (int, str, bool) and isinstance(value, opt) and (opt is bool or not isinstance(value, bool)):
            return value
        if typing.get_origin(opt) is tuple and isinstance(value, (list, tuple)):
            item = typing.get_args(opt)[0]
            if item is float and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                return tuple(float(v) for v in value)
            if all(isinstance(v, item) and not isinstance(v, bool) for v in value):
                return tuple(value)
        if typing.get_origin(opt) is dict and isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
            return dict(value)
    raise SkelrecError(f"{owner}.{name} must be {_describe(hint)}, got {value!r}")


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if typing.get_origin(hint) in (typing.Union, _UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if typing.get_origin(hint) is tuple:
        return f"a list of {typing.get_args(hint)[0].__name__}"
    if typing.get_origin(hint) is dict:
        return "a mapping"
    return "None" if hint is type(None) else getattr(hint, "__name__", str(hint))


_UnionType = type(int | None)
