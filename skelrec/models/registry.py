"""Name -> factory registries of encoders and heads.

A factory is a small function named after the architecture that takes the config fields as keyword arguments
(caller values override the config defaults, which are the paper settings) and returns the module::

    @register_encoder("transformer", TransformerConfig)
    def skeleton_transformer(**kwargs) -> SkeletonTransformer:
        return SkeletonTransformer(TransformerConfig.from_dict(kwargs))

    encoder = build_encoder("transformer", depth=2, embed_dim=64)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from torch import nn

from skelrec.errors import SkelrecError
from skelrec.models.base import Encoder, Head
from skelrec.models.config import ModelConfig

__all__ = [
    "ENCODERS",
    "HEADS",
    "Registry",
    "build_encoder",
    "build_head",
    "register_encoder",
    "register_head",
]

M = TypeVar("M", bound=nn.Module)
F = TypeVar("F", bound=Callable[..., nn.Module])


@dataclass(frozen=True)
class RegistryEntry(Generic[M]):
    factory: Callable[..., M]
    config_class: type[ModelConfig]


class Registry(Generic[M]):
    """A named family of factories (``"encoder"``, ``"head"``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, RegistryEntry[M]] = {}

    def register(self, name: str, config_class: type[ModelConfig]) -> Callable[[F], F]:
        """Decorator registering ``factory(**config_fields) -> module`` under ``name``."""

        def deco(factory: F) -> F:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = RegistryEntry(factory, config_class)
            return factory

        return deco

    def entry(self, name: str) -> RegistryEntry[M]:
        try:
            return self._entries[name]
        except KeyError:
            raise SkelrecError(f"unknown {self.kind} {name!r}; known {self.kind}s: {', '.join(self.names())}") from None

    def build(self, name: str, **kwargs: Any) -> M:
        """The module ``name`` with config fields ``kwargs`` (unknown fields raise a SkelrecError naming them)."""
        return self.entry(name).factory(**kwargs)

    def config_class(self, name: str) -> type[ModelConfig]:
        return self.entry(name).config_class

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


ENCODERS: Registry[Encoder] = Registry("encoder")
HEADS: Registry[Head] = Registry("head")
register_encoder = ENCODERS.register
register_head = HEADS.register


def build_encoder(name: str, **kwargs: Any) -> Encoder:
    """Build the registered encoder ``name`` (``"transformer"``, ``"bigru"``, ``"gin"``) from config fields."""
    return ENCODERS.build(name, **kwargs)


def build_head(name: str, **kwargs: Any) -> Head:
    """Build the registered head ``name`` (``"linear"``, ``"mamp_finetune"``) from config fields."""
    return HEADS.build(name, **kwargs)
