"""The skelrec checkpoint: a folder with ``model.safetensors`` (weights) and ``config.json`` (everything else).

``config.json`` carries what is needed to rebuild the model and to feed it exactly the input it was trained on::

    {
      "format_version": 1,                 # int, this module's FORMAT_VERSION when written
      "skelrec_version": "0.1.0",
      "encoder": {"name": "transformer", "config": {...}},    # build_encoder(name, **config)
      "head": {"name": "linear", "config": {...}} | null,      # null: a pretrained encoder alone
      "layout": "ntu25",
      "normalization": {...},              # skelrec.skeleton.Normalization.to_dict()
      "clip_length": 120,                  # frames T of a model input
      "num_persons": 2,                    # persons M of a model input
      "labels": ["drink water", ...] | null,
      ...                                  # free-form sections: "training", "metrics", "method", ...
    }

Tensors whose names start with :data:`METHOD_PREFIX` (``method.``) belong to the training method, not to the model
(MacDiff's diffusion decoder, used for augmentation): :func:`load_model` and :func:`load_checkpoint` leave them out
unless asked (``load_checkpoint(..., method_tensors=True)``, for the method's own loader).

Weights are loaded strictly (every key, every shape) and only from safetensors; pickled weights are refused unless
the caller passes ``trust_pickle=True``, and even then go through ``torch.load(weights_only=True)``.

Code reads a config through :class:`CheckpointConfig` (``read_config``, ``load_model`` and ``LoadedModel.config``
return one): typed attributes for every field skelrec interprets, ``extra`` for the free-form sections it only
carries (``calibration``, ``teach``, ``per_class`` ...). ``CheckpointConfig.from_dict(d).to_dict() == d`` for every
valid config, so old ``config.json`` files load and re-save unchanged.

This module sits below :mod:`skelrec.hub` (which re-exports its public names): it imports only the models, the file
helpers and the errors, so training, evaluation and SSL code can read and write checkpoints at module level.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from skelrec import __version__
from skelrec.errors import SkelrecError
from skelrec.files import atomic_write, atomic_write_text
from skelrec.models import ENCODERS, HEADS, Classifier, ModelEntry, build_encoder, build_head
from skelrec.registry import Registry

__all__ = [
    "CONFIG_NAME",
    "FORMAT_VERSION",
    "METHOD_PREFIX",
    "PICKLE_PATTERNS",
    "REQUIRED_FIELDS",
    "WEIGHTS_NAME",
    "CheckpointConfig",
    "ModelPart",
    "architecture",
    "build_model",
    "load_checkpoint",
    "load_model",
    "load_state_strict",
    "model_tensors",
    "read_config",
    "save_checkpoint",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
METHOD_PREFIX = "method."
"""Prefix of the tensors a training method stores beside the model (left out when loading the model)."""
CONFIG_NAME = "config.json"
REQUIRED_FIELDS = (
    "format_version",
    "skelrec_version",
    "encoder",
    "head",
    "layout",
    "normalization",
    "clip_length",
    "num_persons",
    "labels",
)
PICKLE_PATTERNS = ("pytorch_model.bin", "*.pt", "*.pth", "*.ckpt")


# --------------------------------------------------------------------------------------------------------------
# The typed config
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelPart:
    """The ``encoder`` or ``head`` section: a registry name and the keyword arguments of its factory."""

    name: str
    config: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, section: Any, part: str, source: str) -> ModelPart:
        if not (isinstance(section, Mapping) and isinstance(section.get("name"), str)):
            raise SkelrecError(f'{source}: "{part}" must be {{"name": str, "config": {{...}}}}, got {section!r}')
        if not isinstance(section.get("config", {}), Mapping):
            raise SkelrecError(f'{source}: "{part}.config" must be an object, got {section["config"]!r}')
        return cls(section["name"], dict(section.get("config", {})))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "config": dict(self.config)}


_NUMBER_FIELDS = ("clip_seconds", "fps", "temperature", "min_confidence")
_STRING_FIELDS = ("repo_id", "license")
_MAPPING_FIELDS = ("data", "training")


@dataclass(frozen=True, kw_only=True)
class CheckpointConfig:
    """The contents of ``config.json``, typed (see the module docstring for the layout of the file).

    Attributes:
        format_version: the checkpoint format (:data:`FORMAT_VERSION` when written).
        skelrec_version: the skelrec that wrote it.
        encoder: the encoder's registry name and config (``build_encoder(name, **config)``).
        head: the classification head's, or ``None`` for a pretrained encoder alone.
        layout: the joint layout of the model's input (``ntu25``, ``kinect20``, ...).
        normalization: :meth:`skelrec.skeleton.Normalization.to_dict` of the training input.
        clip_length: frames ``T`` of a model input.
        num_persons: persons ``M`` of a model input.
        min_persons: persons every class of the model needs in view (2 for a model of two-person interactions), if
            stated; the labeler refuses videos for a model that needs more than one (MediaPipe sees one person).
        labels: the class names (label ``i`` is ``labels[i]``), or ``None`` for an encoder.
        clip_seconds: the duration a training clip covered (the labeler's window length), if measured.
        fps: the frame rate of the training data, if known (``clip_length / fps`` is the window otherwise).
        data: the training run's :class:`~skelrec.config.DataConfig` as a dict (input pipeline fields).
        temperature: the calibrated softmax temperature (the labeler divides the logits by it).
        min_confidence: the calibrated "no action" threshold.
        method: a pretraining export's method section (``{"name": "macdiff", "kwargs": {...}}``), or the name of
            the self-supervised method a classifier's encoder came from (``"macdiff"``), or ``None``.
        training: how the model was trained (free-form; ``training.data`` lists the datasets and their terms).
        metrics: measured results (the model card's table; see :mod:`skelrec.hub.modelcard`).
        repo_id: the Hub repo the model is published as.
        license: the Hub license id.
        extra: every other top-level section, carried unchanged (``calibration``, ``teach``, ``per_class`` ...).
    """

    format_version: int = FORMAT_VERSION
    skelrec_version: str = __version__
    encoder: ModelPart
    head: ModelPart | None
    layout: str
    normalization: Mapping[str, Any]
    clip_length: int
    num_persons: int
    labels: tuple[str, ...] | None
    min_persons: int | None = None
    clip_seconds: float | None = None
    fps: float | None = None
    data: Mapping[str, Any] | None = None
    temperature: float | None = None
    min_confidence: float | None = None
    method: str | Mapping[str, Any] | None = None
    training: Mapping[str, Any] | None = None
    metrics: tuple[Mapping[str, Any], ...] | None = None
    repo_id: str | None = None
    license: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    key_order: tuple[str, ...] = field(default=(), compare=False, repr=False)
    """The top-level keys in the order they were read (``to_dict`` keeps it; a ``null`` read stays ``null``)."""

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], source: str = "checkpoint config") -> CheckpointConfig:
        """Check ``config`` (one-line :class:`SkelrecError` naming ``source`` and the problem) and type it."""
        version = config.get("format_version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            raise SkelrecError(f"{source}: format_version must be an integer, got {version!r}")
        if isinstance(version, int) and version > FORMAT_VERSION:
            raise SkelrecError(
                f"{source}: made by a newer skelrec {config.get('skelrec_version', '?')} (checkpoint format "
                f"{version}); this skelrec {__version__} reads formats <= {FORMAT_VERSION}: upgrade skelrec "
                f"(pip install -U skelrec)"
            )
        missing = [f for f in REQUIRED_FIELDS if f not in config]
        if missing:
            raise SkelrecError(f"{source}: missing required fields {', '.join(missing)}")
        _check_types(config, source)
        plain = {f.name for f in dataclasses.fields(cls)} - {
            "encoder",
            "head",
            "labels",
            "metrics",
            "extra",
            "key_order",
        }
        head = config["head"]
        labels, metrics = config["labels"], config.get("metrics")
        return cls(
            encoder=ModelPart.from_dict(config["encoder"], "encoder", source),
            head=None if head is None else ModelPart.from_dict(head, "head", source),
            labels=None if labels is None else tuple(labels),
            metrics=None if metrics is None else tuple(metrics),
            **{k: v for k, v in config.items() if k in plain},
            extra={k: v for k, v in config.items() if not _is_field(k)},
            key_order=tuple(config),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``config.json``: keys in the order read, then the typed fields, then ``extra``."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in ("extra", "key_order"):
                continue
            value = getattr(self, f.name)
            if value is None and f.name not in REQUIRED_FIELDS and f.name not in self.key_order:
                continue
            out[f.name] = _plain(value)
        out |= {k: _plain(v) for k, v in self.extra.items()}
        order = [k for k in self.key_order if k in out]
        return {k: out[k] for k in [*order, *(k for k in out if k not in order)]}

    def updated(self, **changes: Any) -> CheckpointConfig:
        """A copy with typed fields and ``extra`` sections replaced (a ``None`` extra section is removed)."""
        typed = {k: v for k, v in changes.items() if _is_field(k)}
        others = {k: v for k, v in changes.items() if not _is_field(k)}
        extra = {k: v for k, v in {**self.extra, **others}.items() if not (k in others and others[k] is None)}
        return dataclasses.replace(self, **typed, extra=extra)

    @classmethod
    def coerce(
        cls, config: CheckpointConfig | Mapping[str, Any], source: str = "checkpoint config"
    ) -> CheckpointConfig:
        """``config`` itself, or a mapping checked and typed by :meth:`from_dict` (a mapping being written may
        leave out ``format_version`` and ``skelrec_version``: this skelrec's are filled in)."""
        if isinstance(config, CheckpointConfig):
            return config
        return cls.from_dict({"format_version": FORMAT_VERSION, "skelrec_version": __version__, **config}, source)

    @property
    def method_name(self) -> str | None:
        """The pretraining method's name, from ``method`` as a name or as a ``{"name": ...}`` section."""
        method = self.method.get("name") if isinstance(self.method, Mapping) else self.method
        return str(method) if method else None


def _is_field(key: str) -> bool:
    return key in CheckpointConfig.__dataclass_fields__ and key not in ("extra", "key_order")


def _check_types(config: Mapping[str, Any], source: str) -> None:
    """One-line errors for typed fields of the wrong JSON type (``null`` is accepted for optional ones)."""

    def fail(key: str, kind: str) -> None:
        raise SkelrecError(f'{source}: "{key}" must be {kind}, got {config[key]!r}')

    for key in ("clip_length", "num_persons"):
        if not isinstance(config[key], int) or isinstance(config[key], bool):
            fail(key, "an integer")
    persons = config.get("min_persons")
    if persons is not None and (not isinstance(persons, int) or isinstance(persons, bool) or persons < 1):
        fail("min_persons", "an integer >= 1")
    if not isinstance(config["layout"], str):
        fail("layout", "a layout name")
    if not isinstance(config["normalization"], Mapping):
        fail("normalization", "an object")
    labels = config["labels"]
    if labels is not None and not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
        fail("labels", "a list of class names or null")
    for key in _NUMBER_FIELDS:
        value = config.get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            fail(key, "a number")
    for key in _STRING_FIELDS:
        if config.get(key) is not None and not isinstance(config[key], str):
            fail(key, "a string")
    for key in _MAPPING_FIELDS:
        if config.get(key) is not None and not isinstance(config[key], Mapping):
            fail(key, "an object")
    if config.get("metrics") is not None and not isinstance(config["metrics"], list):
        fail("metrics", "a list")
    method = config.get("method")
    if method is not None and not isinstance(method, (str, Mapping)):
        fail("method", "a method name or an object")


def _plain(value: Any) -> Any:
    """JSON-ready form of a typed field: model parts as dicts, tuples as lists."""
    if isinstance(value, ModelPart):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------------------


def save_checkpoint(
    folder: str | Path, model_state: Mapping[str, Tensor], config: CheckpointConfig | Mapping[str, Any]
) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``folder`` (created if needed); returns the folder.

    ``config`` is a :class:`CheckpointConfig` or its dict form; ``format_version`` and ``skelrec_version`` are set
    to this skelrec's, the other :data:`REQUIRED_FIELDS` must be present. Each file is written to a temporary name
    and moved into place, so a crash never leaves a half-written file.
    """
    folder = Path(folder)
    stamp = {"format_version": FORMAT_VERSION, "skelrec_version": __version__}
    if isinstance(config, CheckpointConfig):
        cfg = dataclasses.replace(config, **stamp)
    else:
        cfg = CheckpointConfig.from_dict(stamp | {k: v for k, v in config.items() if k not in stamp})
    try:
        text = json.dumps(cfg.to_dict(), indent=2, ensure_ascii=False) + "\n"
    except (TypeError, ValueError) as e:
        raise SkelrecError(
            f"checkpoint config is not JSON-serializable ({e}); store plain numbers/strings/lists"
        ) from e
    tensors = {}
    for key, value in model_state.items():
        if not isinstance(value, Tensor):
            raise SkelrecError(
                f"model_state[{key!r}] is a {type(value).__name__}, not a tensor; pass model.state_dict()"
            )
        tensors[key] = value.detach().to("cpu").contiguous()
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / WEIGHTS_NAME, lambda tmp: save_file(tensors, str(tmp), metadata={"format": "pt"}))
    atomic_write_text(folder / CONFIG_NAME, text)
    log.info("saved checkpoint %s (%d tensors)", folder, len(tensors))
    return folder


def architecture(model: nn.Module) -> dict[str, Any]:
    """The ``encoder`` and ``head`` config sections of a model made of registered parts (inverse of build_model).

    ``model`` is a :class:`~skelrec.models.Classifier` or a bare encoder; registry names are looked up by the
    config class, e.g. ``{"encoder": {"name": "transformer", "config": {...}}, "head": None}``.
    """

    def section(registry: Registry[ModelEntry[Any]], part: nn.Module) -> dict[str, Any]:
        names = [n for n, entry in registry.items() if isinstance(part.config, entry.config_class)]
        if not names:
            raise SkelrecError(f"{type(part).__name__} is not a registered {registry.kind}; register it first")
        return {"name": names[0], "config": part.config.to_dict()}

    if isinstance(model, Classifier):
        return {"encoder": section(ENCODERS, model.encoder), "head": section(HEADS, model.head)}
    return {"encoder": section(ENCODERS, model), "head": None}


# --------------------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------------------


def read_config(folder: str | Path) -> CheckpointConfig:
    """Read, check and type ``folder/config.json``."""
    path = _folder(folder) / CONFIG_NAME
    if not path.is_file():
        raise SkelrecError(f"{path}: not found; a skelrec checkpoint folder holds {CONFIG_NAME} and {WEIGHTS_NAME}")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise SkelrecError(f"{path}:{e.lineno}: invalid JSON ({e.msg}); re-save or re-download the checkpoint") from e
    if not isinstance(cfg, dict):
        raise SkelrecError(f"{path}: expected a JSON object, got {type(cfg).__name__}")
    return CheckpointConfig.from_dict(cfg, source=str(path))


def load_checkpoint(
    folder: str | Path, *, trust_pickle: bool = False, method_tensors: bool = False
) -> tuple[dict[str, Tensor], CheckpointConfig]:
    """``(state_dict, config)`` of a checkpoint folder (or of the folder of a given ``model.safetensors``).

    Args:
        folder: the checkpoint folder.
        trust_pickle: when the folder has no ``model.safetensors``, read a pickled state dict
            (``pytorch_model.bin``, ``*.pt``, ``*.pth``, ``*.ckpt``) with ``torch.load(weights_only=True)``.
        method_tensors: also return the training method's :data:`METHOD_PREFIX` tensors (left out by default).
    """
    folder = _folder(folder)
    cfg = read_config(folder)
    state = _read_weights(folder, trust_pickle)[0]
    return (state if method_tensors else model_tensors(state)), cfg


def model_tensors(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``state`` without the training method's :data:`METHOD_PREFIX` tensors."""
    return {k: v for k, v in state.items() if not k.startswith(METHOD_PREFIX)}


def _folder(folder: str | Path) -> Path:
    folder = Path(folder)
    if folder.is_file() and folder.name in (WEIGHTS_NAME, CONFIG_NAME):
        return folder.parent
    if not folder.exists():
        raise SkelrecError(f"{folder}: no such checkpoint folder")
    if not folder.is_dir():
        raise SkelrecError(
            f"{folder}: not a checkpoint folder; pass the folder holding {CONFIG_NAME} and {WEIGHTS_NAME}"
        )
    return folder


def _read_weights(folder: Path, trust_pickle: bool) -> tuple[dict[str, Tensor], Path]:
    """The state dict and the file it came from."""
    path = folder / WEIGHTS_NAME
    if path.is_file():
        try:
            return load_file(str(path)), path
        except (SafetensorError, OSError) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise SkelrecError(
                f"{path}: corrupted or truncated safetensors file ({reason}); re-download or re-save it"
            ) from None
    pickles = sorted({p for pattern in PICKLE_PATTERNS for p in folder.glob(pattern) if p.is_file()})
    if not pickles:
        raise SkelrecError(f"{path}: not found; a skelrec checkpoint folder holds {CONFIG_NAME} and {WEIGHTS_NAME}")
    if not trust_pickle:
        raise SkelrecError(
            f"{folder}: has no {WEIGHTS_NAME}, only pickled weights ({_listing(p.name for p in pickles)}), which can "
            f"run code when loaded; if you trust their source pass trust_pickle=True (reads tensors only, "
            f"torch.load(weights_only=True)) or convert them to {WEIGHTS_NAME}"
        )
    if len(pickles) > 1:
        raise SkelrecError(f"{folder}: several pickled weight files ({_listing(p.name for p in pickles)}); keep one")
    return _read_pickle(pickles[0]), pickles[0]


def _read_pickle(path: Path) -> dict[str, Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError, ... for bad files
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SkelrecError(f"{path}: cannot read it as a tensors-only pickle ({reason})") from e
    for candidate in (obj, obj.get("state_dict") if isinstance(obj, dict) else None):
        if isinstance(candidate, dict) and candidate and all(isinstance(v, Tensor) for v in candidate.values()):
            log.warning("loaded pickled weights from %s (trust_pickle=True)", path)
            return candidate
    raise SkelrecError(f"{path}: expected a state dict (names -> tensors), got {type(obj).__name__}")


# --------------------------------------------------------------------------------------------------------------
# Building and strict loading
# --------------------------------------------------------------------------------------------------------------


def build_model(config: CheckpointConfig | Mapping[str, Any], *, with_head: bool = True) -> nn.Module:
    """The untrained model a checkpoint config describes: a :class:`Classifier`, or the bare encoder when the
    config has no head or ``with_head=False``."""
    config = CheckpointConfig.coerce(config)
    encoder = build_encoder(config.encoder.name, **config.encoder.config)
    if config.head is None or not with_head:
        return encoder
    return Classifier(encoder, build_head(config.head.name, **config.head.config))


def load_state_strict(model: nn.Module, state: Mapping[str, Tensor], source: str) -> None:
    """``model.load_state_dict(state)`` after checking keys and shapes; a mismatch names the keys and shapes."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} (checkpoint {tuple(state[k].shape)}, model {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_listing(unexpected)}")
    if shapes:
        problems.append(f"shape mismatch {_listing(shapes)}")
    if problems:
        raise SkelrecError(f"{source}: weights do not fit the model of its config: {'; '.join(problems)}")
    model.load_state_dict(state, strict=True)


def load_model(
    folder: str | Path, device: str | torch.device = "cpu", *, trust_pickle: bool = False
) -> tuple[nn.Module, CheckpointConfig]:
    """Build the model of a checkpoint, load its weights strictly; returns ``(model in eval mode, config)``."""
    folder = _folder(folder)
    cfg = read_config(folder)
    state, weights_path = _read_weights(folder, trust_pickle)
    try:
        model = build_model(cfg)
    except SkelrecError as e:
        raise SkelrecError(f"{folder / CONFIG_NAME}: {e}") from e
    load_state_strict(model, model_tensors(state), source=str(weights_path))
    return model.to(device).eval(), cfg


def _listing(items: Iterable[str], first: int = 5) -> str:
    """``a, b, c, ... (12 in all)``."""
    items = list(items)
    shown = ", ".join(items[:first])
    return shown if len(items) <= first else f"{shown}, ... ({len(items)} in all)"
