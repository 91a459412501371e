"""Typed training configs: dataclasses loaded from YAML, validated on load, saved resolved into the run folder.

A config file (``pretrain/configs/*.yaml``) has the sections of :class:`TrainConfig`::

    _base_: ../_base_/optim_mamp.yaml     # optional: a file (or list of files) this one extends, merged key by key
    data:    {paths: [caches/ntu60], protocol: xsub, part: train, clip_length: 120, persons: 2, ...}
    encoder: {name: transformer, kwargs: {depth: 8}}
    method:  {name: mamp, kwargs: {mask_ratio: 0.9}}
    optim:   {batch_size: 128, epochs: 400, warmup_epochs: 20, lr: 1.0e-3, min_lr: 5.0e-4, ...}
    run:     {out_dir: runs/mamp_ntu60_xsub, seed: 0, checkpoint_every: 1000, ...}

A file's mappings merge key by key into those of its bases; a mapping with the key ``_replace_: true`` replaces the
inherited one instead (e.g. ``encoder: {_replace_: true, name: bigru, kwargs: {...}}``). Command-line overrides
``key.sub=value`` set exactly that value (a mapping replaces); their values are read by :mod:`skelrec.keyvalues`
(YAML 1.2, a superset of JSON: ``optim.lr=1e-3``, ``run.tensorboard=true``, ``data.paths=[a,b]``) and then
converted to the field's type.
Every problem is a one-line :class:`SkelrecError` that names the file (or the override) and the key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from skelrec.datasets.vocabulary import VOCABULARIES
from skelrec.errors import SkelrecError
from skelrec.files import atomic_write_text
from skelrec.keyvalues import parse_key_value
from skelrec.skeleton import LAYOUTS, Normalization

__all__ = [
    "AugmentConfig",
    "ConfigValueError",
    "DataConfig",
    "EncoderConfig",
    "MethodConfig",
    "OptimConfig",
    "RunConfig",
    "TrainConfig",
    "config_diff",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "parse_override",
    "save_config",
    "section_from_dict",
]

BASE_KEY = "_base_"
REPLACE_KEY = "_replace_"


class ConfigValueError(SkelrecError):
    """An invalid value of one config field; :attr:`key` is the field name (relative to its section)."""

    def __init__(self, key: str, problem: str) -> None:
        self.key, self.problem = key, problem
        super().__init__(f"{key}: {problem}")


def _require(ok: bool, key: str, problem: str) -> None:
    if not ok:
        raise ConfigValueError(key, problem)


def _check_range(key: str, value: tuple[float, float], low: float, high: float | None = None) -> None:
    lo, hi = value
    top = f" and <= {high}" if high is not None else ""
    _require(low <= lo <= hi and (high is None or hi <= high), key, f"must be [min, max] with {low} <= min <= max{top}")


# ------------------------------------------------------------------------------------------------------------------
# The sections.
# ------------------------------------------------------------------------------------------------------------------


@dataclass
class AugmentConfig:
    """Random training augmentations (:mod:`skelrec.datasets.transforms`), applied in this order; each is off at its
    neutral value.

    Attributes:
        fps_scale: frame-rate change: the clip is resampled as if played ``f`` times faster, ``f`` uniform in range.
        crop: MAMP ``valid_crop_resize``: a random crop of this fraction of the valid frames, resized to ``T``.
        crop_min_frames: the crop keeps at least this many frames (fewer only when the clip is shorter).
        depth_scale: the depth ``z`` multiplied by a factor uniform in range (monocular depth differs from Kinect's).
        flip: probability that a clip is mirrored left-right (``x`` negated, left and right joints swapped): either
            hand, mirrored footage.
        rotate: MAMP ``random_rot``: rotation by an angle uniform in ``±rotate`` radians about each axis.
        scale: coordinates multiplied by a factor uniform in range (one factor for all axes).
        noise_std: Gaussian noise of this std added to every real joint (MacDiff: 0.005).
        drop_joints: probability that a joint of a person is zeroed for the whole clip.
    """

    fps_scale: tuple[float, float] = (1.0, 1.0)
    crop: tuple[float, float] = (0.5, 1.0)
    crop_min_frames: int = 64
    depth_scale: tuple[float, float] = (1.0, 1.0)
    flip: float = 0.0
    rotate: float = 0.3
    scale: tuple[float, float] = (1.0, 1.0)
    noise_std: float = 0.0
    drop_joints: float = 0.0

    def __post_init__(self) -> None:
        _check_range("fps_scale", self.fps_scale, 1e-3)
        _check_range("crop", self.crop, 1e-3, 1.0)
        _require(self.crop_min_frames >= 1, "crop_min_frames", "must be >= 1")
        _check_range("depth_scale", self.depth_scale, 1e-3)
        _require(0 <= self.flip <= 1, "flip", "must be a probability in [0, 1]")
        _require(self.rotate >= 0, "rotate", "must be >= 0 (radians)")
        _check_range("scale", self.scale, 1e-3)
        _require(self.noise_std >= 0, "noise_std", "must be >= 0")
        _require(0 <= self.drop_joints < 1, "drop_joints", "must be in [0, 1)")


@dataclass
class DataConfig:
    """What the model is trained on and how every clip becomes an ``(M, T, V, C)`` input.

    Attributes:
        paths: prepared caches (``skelrec prepare ... --out PATH``); several are concatenated and converted to
            ``layout``. Relative paths are relative to the working directory.
        protocol: a split of the caches (``xsub``, ``xview`` ...); ``None`` uses every sample.
        part: the part of ``protocol`` to use (``train`` or ``test``).
        layout: joint layout the model sees; ``None`` = the layout of the first cache.
        clip_length: frames ``T`` per clip.
        persons: persons ``M`` per clip (extra persons are dropped, missing ones are zeros).
        channels: channels ``C`` per joint kept from the cache (3 = x, y, z).
        normalization: the deterministic centring/scaling/alignment (:class:`skelrec.skeleton.Normalization`);
            its ``frames``/``persons`` stay 0, ``clip_length``/``persons`` above set the shape.
        augment: random training augmentations.
        test_crop: fraction of the valid frames kept, centred, at evaluation and inference (MAMP: 0.95).
        vocabulary: a registered vocabulary (:mod:`skelrec.datasets.vocabulary`, e.g. ``unified``): the labels of
            every cache are remapped to its labels (restricted to the datasets of ``paths``), so several labelled
            datasets train one classifier. ``None`` keeps the caches' own labels.
    """

    paths: list[str] = field(default_factory=list)
    protocol: str | None = None
    part: Literal["train", "test"] = "train"
    layout: str | None = None
    clip_length: int = 120
    persons: int = 2
    channels: int = 3
    normalization: Normalization = field(default_factory=lambda: Normalization(center="sequence", scale="none"))
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    test_crop: float = 0.95
    vocabulary: str | None = None

    def __post_init__(self) -> None:
        _require(
            self.vocabulary is None or self.vocabulary in VOCABULARIES,
            "vocabulary",
            f"must be one of {', '.join(VOCABULARIES)} (or null for the caches' own labels)",
        )
        _require(self.layout is None or self.layout in LAYOUTS, "layout", f"must be one of {', '.join(LAYOUTS)}")
        _require(self.clip_length >= 1, "clip_length", "must be >= 1")
        _require(self.persons >= 1, "persons", "must be >= 1")
        _require(self.channels >= 2, "channels", "must be >= 2")
        _require(0 < self.test_crop <= 1, "test_crop", "must be in (0, 1]")
        _require(
            self.normalization.frames == 0 and self.normalization.persons == 0,
            "normalization",
            "frames and persons must be 0 here; set data.clip_length and data.persons instead",
        )


@dataclass
class EncoderConfig:
    """The encoder: a :func:`skelrec.models.build_encoder` name and its config fields.

    Fields describing the input (``in_channels``, ``num_joints``, ``num_frames``, ``num_persons``, ``layout``)
    default to the data section's values when left out.
    """

    name: str = "transformer"
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class MethodConfig:
    """The objective: a :data:`skelrec.ssl.METHODS` name and its options."""

    name: str = "mamp"
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """AdamW with a linear warm-up and a per-step cosine decay to ``min_lr`` (the MAMP/MacDiff/Skeleton2vec recipe).

    Attributes:
        batch_size: global batch, split evenly over the processes of a distributed run.
        epochs: length of the schedule.
        warmup_epochs: linear warm-up from 0 to ``lr`` (may be fractional).
        lr, min_lr: peak and final learning rate.
        weight_decay, betas, eps: AdamW (no decay on norms, biases and embeddings, see :meth:`Method.param_groups`).
        grad_clip: maximum global gradient norm; 0 disables clipping.
        amp: mixed precision on CUDA: ``bf16``, ``fp16`` (with a gradient scaler) or ``none``; CPU runs are fp32.
    """

    batch_size: int = 128
    epochs: int = 400
    warmup_epochs: float = 20.0
    lr: float = 1e-3
    min_lr: float = 5e-4
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    grad_clip: float = 0.0
    amp: Literal["bf16", "fp16", "none"] = "bf16"

    def __post_init__(self) -> None:
        _require(self.batch_size >= 1, "batch_size", "must be >= 1")
        _require(self.epochs >= 1, "epochs", "must be >= 1")
        _require(0 <= self.warmup_epochs <= self.epochs, "warmup_epochs", f"must be in [0, epochs={self.epochs}]")
        _require(self.lr > 0, "lr", "must be > 0")
        _require(0 <= self.min_lr <= self.lr, "min_lr", f"must be in [0, lr={self.lr}]")
        _require(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        _require(all(0 <= b < 1 for b in self.betas), "betas", "must be two numbers in [0, 1)")
        _require(self.eps > 0, "eps", "must be > 0")
        _require(self.grad_clip >= 0, "grad_clip", "must be >= 0 (0 = off)")


@dataclass
class RunConfig:
    """Where and how a run executes.

    Attributes:
        out_dir: run folder: ``config.yaml``, ``metrics.csv``, ``checkpoints/``, ``encoder/`` (the export).
            A run restarted with the same folder resumes from its last checkpoint.
        seed: seeds model initialisation, data order, augmentations and the method's randomness.
        checkpoint_every: save a resumable checkpoint every this many optimizer steps (0 = only at the end).
        keep_checkpoints: how many of the newest checkpoints to keep.
        log_every: steps between rows of ``metrics.csv`` (and TensorBoard points).
        num_workers: DataLoader worker processes per training process.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        max_steps: stop after this many optimizer steps (smoke runs); 0 runs the whole schedule.
        tensorboard: also write TensorBoard event files to ``out_dir/tensorboard``.
        progress: show a progress bar (on a terminal; otherwise a log line every ``log_every`` steps).
    """

    out_dir: str = "runs/pretrain"
    seed: int = 0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    log_every: int = 20
    num_workers: int = 4
    device: Literal["auto", "cpu", "cuda"] = "auto"
    max_steps: int = 0
    tensorboard: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        _require(self.seed >= 0, "seed", "must be >= 0")
        _require(self.checkpoint_every >= 0, "checkpoint_every", "must be >= 0 (0 = only at the end)")
        _require(self.keep_checkpoints >= 1, "keep_checkpoints", "must be >= 1")
        _require(self.log_every >= 1, "log_every", "must be >= 1")
        _require(self.num_workers >= 0, "num_workers", "must be >= 0")
        _require(self.max_steps >= 0, "max_steps", "must be >= 0 (0 = the whole schedule)")


@dataclass
class TrainConfig:
    """A whole training run (see the module docstring for the YAML form)."""

    data: DataConfig = field(default_factory=DataConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)


# ------------------------------------------------------------------------------------------------------------------
# dict <-> dataclass, with type conversion and errors that name the key and where its value came from.
# ------------------------------------------------------------------------------------------------------------------

T = TypeVar("T")
_FREE_DICT = dict[str, Any]
"""Fields of this type take any keys (encoder/method options): overrides may add keys below them."""


def _is_dataclass_type(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is tuple:
        return f"a list of {len(args)} {_describe(args[0])}s"
    if origin is list:
        return f"a list of {_describe(args[0])}s"
    if origin is dict or _is_dataclass_type(hint):
        return "a mapping"
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


class _Mismatch(Exception):
    """A value that does not fit a type hint (internal; turned into a ConfigValueError)."""


def _convert(value: Any, hint: Any, key: str, origins: Mapping[str, str]) -> Any:
    """``value`` converted to ``hint``; raises _Mismatch when it does not fit."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if _is_dataclass_type(hint):
        if not isinstance(value, Mapping):
            raise _Mismatch
        return _from_dict(hint, value, key, origins)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None):
                try:
                    return _convert(value, arg, key, origins)
                except _Mismatch:
                    pass
        raise _Mismatch
    if origin is Literal:
        if value in args and not isinstance(value, bool):
            return value
        raise _Mismatch
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise _Mismatch
        return tuple(_convert(v, a, key, origins) for v, a in zip(value, args, strict=True))
    if origin is list:
        items = [value] if isinstance(value, str) else value  # data.paths=one/cache is a one-element list
        if not isinstance(items, (list, tuple)):
            raise _Mismatch
        return [_convert(v, args[0], key, origins) for v in items]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _Mismatch
        return dict(value)
    return _convert_scalar(value, hint)


def _convert_scalar(value: Any, hint: Any) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    raise _Mismatch


def _where(origins: Mapping[str, str], key: str) -> str:
    """The file (or override) that set ``key``, or else its nearest parent's."""
    while key not in origins and key:
        key = key.rpartition(".")[0]
    return origins.get(key, "config")


def _from_dict(cls: type[T], data: Mapping[str, Any], prefix: str, origins: Mapping[str, str]) -> T:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    dotted = f"{prefix}." if prefix else ""
    for key in data:
        if key not in names:
            where = _where(origins, f"{dotted}{key}")
            raise SkelrecError(f"{where}: unknown key {dotted}{key}; {cls.__name__} has: {', '.join(names)}")
    defaults = {
        f.name: f.default_factory for f in dataclasses.fields(cls) if f.default_factory is not dataclasses.MISSING
    }
    values = {}
    for name in (n for n in names if n in data):
        key = f"{dotted}{name}"
        value = data[name]
        if _is_dataclass_type(hints[name]) and isinstance(value, Mapping) and name in defaults:
            value = {**config_to_dict(defaults[name]()), **value}  # keys left out keep this field's defaults
        try:
            values[name] = _convert(value, hints[name], key, origins)
        except _Mismatch:
            expected = _describe(hints[name])
            raise SkelrecError(f"{_where(origins, key)}: {key} must be {expected}, got {data[name]!r}") from None
    try:
        return cls(**values)
    except ConfigValueError as err:
        key = f"{dotted}{err.key}"
        raise SkelrecError(f"{_where(origins, key)}: {key}: {err.problem}") from None
    except SkelrecError as err:  # a nested type's own check (e.g. Normalization)
        raise SkelrecError(f"{_where(origins, prefix)}: {prefix or cls.__name__}: {err}") from None


def section_from_dict(cls: type[T], data: Mapping[str, Any], source: str = "config") -> T:
    """One section (e.g. :class:`DataConfig`, as stored in a checkpoint's config) from its dict form."""
    return _from_dict(cls, data, "", {"": source})


def config_from_dict(data: Mapping[str, Any], source: str = "config") -> TrainConfig:
    """A :class:`TrainConfig` from nested dicts; ``source`` names the origin in error messages."""
    return _from_dict(TrainConfig, data, "", {"": source})


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Nested plain dicts/lists of a config (or section), YAML- and JSON-ready."""
    return _plain(cfg)


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def config_diff(a: Any, b: Any) -> list[str]:
    """``key: old -> new`` lines for every leaf that differs between two configs (dataclasses or dicts)."""
    fa, fb = _flatten(config_to_dict(a)), _flatten(config_to_dict(b))
    return [f"{k}: {fa.get(k)!r} -> {fb.get(k)!r}" for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]


# ------------------------------------------------------------------------------------------------------------------
# YAML files, _base_ inheritance and command-line overrides.
# ------------------------------------------------------------------------------------------------------------------


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SkelrecError(f"{path}: cannot read config ({err.strerror}); check the path") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SkelrecError(f"{where}: invalid YAML ({problem})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SkelrecError(f"{path}: a config must be a YAML mapping of sections, got {type(data).__name__}")
    return data


def _unmarked(value: Any) -> Any:
    """A plain copy of ``value`` without ``_replace_`` markers."""
    if isinstance(value, Mapping):
        return {k: _unmarked(v) for k, v in value.items() if k != REPLACE_KEY}
    return _plain(value)


def _merge(
    base: dict[str, Any],
    over: Mapping[str, Any],
    origins: dict[str, str],
    source: str,
    prefix: str = "",
    *,
    replace: bool = False,
) -> None:
    """Merge ``over`` into ``base`` in place and record where each value came from.

    Mappings merge key by key, other values replace; a mapping holding ``_replace_: true`` (every value, with
    ``replace=True``) replaces the inherited one whole.
    """
    for key, value in over.items():
        dotted = f"{prefix}{key}"
        merge = isinstance(value, Mapping) and isinstance(base.get(key), dict) and not value.get(REPLACE_KEY)
        if merge and not replace:
            _merge(base[key], value, origins, source, dotted + ".")
            continue
        base[key] = _unmarked(value)
        for k in [k for k in origins if k.startswith(dotted + ".")]:
            del origins[k]
        origins[dotted] = source
        if isinstance(base[key], Mapping):
            origins.update({f"{dotted}.{k}": source for k in _flatten(base[key])})


def _load_tree(path: Path, origins: dict[str, str], stack: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in stack:
        chain = " -> ".join(str(p) for p in (*stack, path))
        raise SkelrecError(f"{path}: {BASE_KEY} inheritance loops ({chain}); remove one of the {BASE_KEY} entries")
    data = _read_yaml(path)
    bases = data.pop(BASE_KEY, [])
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise SkelrecError(f"{path}: {BASE_KEY} must be a file name or a list of file names, got {bases!r}")
    merged: dict[str, Any] = {}
    for base in bases:
        base_path = path.parent / base
        if not base_path.is_file():
            raise SkelrecError(f"{path}: {BASE_KEY} file {base} not found (looked at {base_path})")
        _merge(merged, _load_tree(base_path, origins, (*stack, path)), origins, str(base_path.resolve()))
    _merge(merged, data, origins, str(path))
    return merged


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"optim.lr=1e-3"`` -> ``(["optim", "lr"], 0.001)``; the value rule is :mod:`skelrec.keyvalues`'."""
    key, value = parse_key_value(text, "command-line override", "optim.lr=1e-3", dotted=True)
    return key.split("."), value


def _schema_check(path: list[str], text: str) -> None:
    """Raise unless ``path`` names a field of TrainConfig (keys below a free dict are allowed)."""
    cls: Any = TrainConfig
    for depth, part in enumerate(path):
        hints = typing.get_type_hints(cls)
        if part not in hints:
            known = ", ".join(hints)
            where = ".".join(path[:depth]) or "the config"
            raise SkelrecError(f"command-line override {text!r}: unknown key {'.'.join(path)}; {where} has: {known}")
        hint = hints[part]
        if hint == _FREE_DICT:
            return
        if not _is_dataclass_type(hint):
            if depth != len(path) - 1:
                raise SkelrecError(f"command-line override {text!r}: {'.'.join(path[: depth + 1])} has no sub-keys")
            return
        cls = hint


def _apply_override(tree: dict[str, Any], text: str, origins: dict[str, str]) -> None:
    path, value = parse_override(text)
    _schema_check(path, text)
    node = tree
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    prefix = "".join(f"{part}." for part in path[:-1])
    _merge(node, {path[-1]: value}, origins, f"command-line override {text!r}", prefix, replace=True)


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> TrainConfig:
    """Read a YAML config (resolving ``_base_``), apply ``key.sub=value`` overrides, validate, return it."""
    path = Path(path)
    if not path.is_file():
        raise SkelrecError(f"{path}: config file not found; pass a YAML file such as pretrain/configs/test/tiny.yaml")
    origins: dict[str, str] = {"": str(path)}
    tree = _load_tree(path, origins)
    for text in overrides:
        _apply_override(tree, text, origins)
    return _from_dict(TrainConfig, tree, "", origins)


def save_config(cfg: TrainConfig, path: str | Path) -> Path:
    """Write the resolved config as YAML (loadable by :func:`load_config`, no ``_base_``)."""
    return atomic_write_text(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
