"""The one registry class: a named family of things (classes, factories, functions, values) chosen by name.

Every "choose by name" table of skelrec is a :class:`Registry`: model encoders and heads, SSL methods, dataset
readers, pose backends, teach methods, skeleton layouts, smoothers, output writers, poolings. A module fills its
registry with the :meth:`Registry.register` decorator (or :meth:`Registry.add` for a value)::

    SMOOTHERS: Registry[Smoother] = Registry("smoothing")

    @SMOOTHERS.register("ema")
    def _ema(probs, valid, s): ...

    SMOOTHERS["ema"]      # the function
    SMOOTHERS["emma"]     # SkelrecError: unknown smoothing 'emma'; choose from none, moving_average, ema

A registry is a mapping (``in``, iteration in registration order, ``items()``), so a name list for a help text
or an error is ``", ".join(registry)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import TypeVar

from skelrec.errors import SkelrecError

__all__ = ["Registry"]

T = TypeVar("T")
V = TypeVar("V")


class Registry(MutableMapping[str, T]):
    """Name -> item of one ``kind`` (``"encoder"``, ``"dataset"`` ...), with one error for an unknown name.

    Args:
        kind: what an item is, as the error names it: ``unknown <kind> 'x'; choose from a, b``.
        items: the first entries, for a table written out in one place (``Registry("pooling", {"mean": ...})``).
        populate: a module that registers the items when imported (``"skelrec.datasets"``); imported on the first
            lookup, so a registry can be consulted before its plug-ins were imported.
    """

    def __init__(self, kind: str, items: Mapping[str, T] | None = None, *, populate: str | None = None) -> None:
        self.kind = kind
        self._populate = populate
        self._items: dict[str, T] = {}
        for name, item in (items or {}).items():
            self.add(name, item)

    def register(self, name: str) -> Callable[[V], V]:
        """Decorator adding the decorated object under ``name`` (a name registered twice is a ValueError)."""

        def deco(item: V) -> V:
            self.add(name, item)  # type: ignore[arg-type]
            return item

        return deco

    def add(self, name: str, item: T) -> T:
        """Add ``item`` under ``name``; returns it. A programming error (ValueError) if ``name`` is taken."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice ({self._items[name]!r}, {item!r})")
        self._items[name] = item
        return item

    def check(self, name: str) -> str:
        """``name`` if it is registered, else the one :class:`SkelrecError` listing the registered names."""
        if name not in self:
            raise SkelrecError(f"unknown {self.kind} {name!r}; choose from {', '.join(self) or '(none registered)'}")
        return name

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self)

    def __getitem__(self, name: str) -> T:
        return self._loaded()[self.check(name)]

    def get(self, name: str, default: V | None = None) -> T | V | None:  # type: ignore[override]
        """The item of ``name``, or ``default`` when it is not registered (no error)."""
        return self._loaded().get(name, default)

    def __setitem__(self, name: str, item: T) -> None:  # replacing is for tests (monkeypatch.setitem)
        self._items[name] = item

    def __delitem__(self, name: str) -> None:
        del self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._loaded()

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._loaded()))

    def __len__(self) -> int:
        return len(self._loaded())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._items)})"

    def _loaded(self) -> dict[str, T]:
        if self._populate is not None:
            module, self._populate = self._populate, None
            importlib.import_module(module)
        return self._items
