"""``KEY=VALUE`` items of the command line (config overrides, ``--option``, ``--augment``): one parser, one value rule.

A value is read as YAML 1.2 flow text, a superset of JSON: ``640`` (int), ``1e-3`` / ``0.5`` (float), ``true`` /
``false``, ``null`` (or nothing after ``=``), ``[0.67, 1.5]``, ``[caches/ntu60]``, ``{depth: 2}``, ``"quoted"``;
anything else (``mediapipe33``, ``yes``, an unbalanced ``[1,``) is kept as text. Unlike PyYAML's default YAML 1.1
rules, ``yes``/``no``/``on``/``off`` stay text and ``1e-3`` is a float, so a JSON value always means what JSON says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

from skelrec.errors import SkelrecError

__all__ = ["parse_key_value", "parse_key_values", "parse_value"]


class _ValueLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema booleans and floats."""


_BOOL, _FLOAT = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:float"
_ValueLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ValueLoader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_ValueLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def parse_value(text: str) -> Any:
    """The value of ``text`` by the module's rule (``""`` -> ``None``; text that is not YAML stays text)."""
    if not text.strip():
        return None
    try:
        return yaml.load(text, Loader=_ValueLoader)
    except yaml.YAMLError:
        return text


def parse_key_value(text: str, source: str, example: str, *, dotted: bool = False) -> tuple[str, Any]:
    """``"key=value"`` -> ``("key", value)``; a malformed item is a one-line :class:`SkelrecError`.

    Args:
        text: one item as typed.
        source: where it came from, as the error names it (``"--option"``, ``"command-line override"``).
        example: a well-formed item for the error, e.g. ``"--option layout=mediapipe33"``.
        dotted: the key is a dotted path (``optim.lr``); an empty part (``optim..lr``) is malformed.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or (dotted and any(not part for part in key.split("."))):
        form = "key.sub=value" if dotted else "KEY=VALUE"
        raise SkelrecError(f"{source} {text!r}: expected {form}, e.g. {example}")
    return key, parse_value(raw)


def parse_key_values(items: Iterable[str] | None, source: str, example: str) -> dict[str, Any]:
    """``["k=v", ...]`` -> ``{k: v}`` (a later item wins), each item read by :func:`parse_key_value`."""
    return dict(parse_key_value(text, source, example) for text in items or ())
