"""Name -> factory registries of encoders and heads.

A factory is a small function named after the architecture that takes the config fields as keyword arguments
(caller values override the config defaults, which are the paper settings) and returns the module::

    @register_encoder("transformer", TransformerConfig)
    def skeleton_transformer(**kwargs) -> SkeletonTransformer:
        return SkeletonTransformer(TransformerConfig.from_dict(kwargs))

    encoder = build_encoder("transformer", depth=2, embed_dim=64)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from torch import nn

from skelrec.models.base import Encoder, Head
from skelrec.models.config import ModelConfig
from skelrec.registry import Registry

__all__ = [
    "ENCODERS",
    "HEADS",
    "ModelEntry",
    "build_encoder",
    "build_head",
    "register_encoder",
    "register_head",
]

M = TypeVar("M", bound=nn.Module)
F = TypeVar("F", bound=Callable[..., nn.Module])


@dataclass(frozen=True)
class ModelEntry(Generic[M]):
    """A registered architecture: ``factory(**config_fields) -> module`` and the config class of its fields."""

    factory: Callable[..., M]
    config_class: type[ModelConfig]

    def build(self, **kwargs: Any) -> M:
        """The module with config fields ``kwargs`` (unknown fields raise a SkelrecError naming them)."""
        return self.factory(**kwargs)


ENCODERS: Registry[ModelEntry[Encoder]] = Registry("encoder")
HEADS: Registry[ModelEntry[Head]] = Registry("head")


def _register(registry: Registry[Any], name: str, config_class: type[ModelConfig]) -> Callable[[F], F]:
    def deco(factory: F) -> F:
        registry.add(name, ModelEntry(factory, config_class))
        return factory

    return deco


def register_encoder(name: str, config_class: type[ModelConfig]) -> Callable[[F], F]:
    """Decorator registering ``factory(**config_fields) -> encoder`` under ``name``."""
    return _register(ENCODERS, name, config_class)


def register_head(name: str, config_class: type[ModelConfig]) -> Callable[[F], F]:
    """Decorator registering ``factory(**config_fields) -> head`` under ``name``."""
    return _register(HEADS, name, config_class)


def build_encoder(name: str, **kwargs: Any) -> Encoder:
    """Build the registered encoder ``name`` (``"transformer"``, ``"bigru"``, ``"gin"``) from config fields."""
    return ENCODERS[name].build(**kwargs)


def build_head(name: str, **kwargs: Any) -> Head:
    """Build the registered head ``name`` (``"linear"``, ``"mamp_finetune"``) from config fields."""
    return HEADS[name].build(**kwargs)
