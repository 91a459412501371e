"""The models shipped with skelrec, by short name: ``default``, ``gestures``, ``interactions``.

Each name resolves to a checkpoint folder below :func:`skelrec.paths.shipped_weights_dir` (``weights/`` of a clone,
``skelrec/weights`` of an installed wheel). A name may list several candidate folders and the Hub repo id its model
card carries (``config["repo_id"]``); the first candidate holding that model wins. That is how ``gestures`` (the
UTD-MHAD model, ``skelrec/utd-mhad-actions-kinect20``) is found in ``weights/default`` today and in
``weights/gestures`` once the unified model (``pretrain/build_unified_model.py``) takes ``weights/default`` — the build
moves the UTD-MHAD model there rather than copying its weights. A name whose model is not in this install is a
one-line error saying so.

How :func:`skelrec.hub.from_pretrained` reads a model name (first match wins):

1. ``None``: the ``default`` shipped model (or the folder in ``$SKELREC_DEFAULT_MODEL``);
2. a string that is a shipped name (exactly ``default``, ``gestures``, ``interactions``): that shipped model, even if
   the working directory holds a folder of that name (write ``./default`` to load such a folder);
3. an existing local folder (a ``str`` or a :class:`~pathlib.Path`);
4. anything else is a Hugging Face Hub repo id (``owner/name``; a shipped name never contains ``/``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skelrec.errors import SkelrecError
from skelrec.paths import shipped_weights_dir
from skelrec.registry import Registry

__all__ = ["SHIPPED_MODELS", "ShippedModel", "is_shipped_name", "list_shipped_models", "shipped_model_dir"]

CONFIG = "config.json"  # skelrec.checkpoint.CONFIG_NAME (not imported: this module stays free of torch)


@dataclass(frozen=True)
class ShippedModel:
    """A shipped model name.

    Attributes:
        name: the short name (``--model NAME``, ``from_pretrained(NAME)``).
        description: what it recognises, one line.
        folders: candidate folders below the shipped-weights folder, in order.
        repo_id: the ``config["repo_id"]`` the folder's model must carry (``None``: any model in the folder).
    """

    name: str
    description: str
    folders: tuple[str, ...]
    repo_id: str | None = None

    def folder(self, root: Path | None = None) -> Path | None:
        """The folder holding this model in this install, or ``None`` when it is not built/shipped."""
        root = shipped_weights_dir() if root is None else root
        for name in self.folders:
            config = _read_config(root / name)
            if config is not None and (self.repo_id is None or config.get("repo_id") == self.repo_id):
                return root / name
        return None


SHIPPED_MODELS: Registry[ShippedModel] = Registry(
    "shipped model",
    {
        m.name: m
        for m in (
            ShippedModel(
                "default",
                "one vocabulary over UTD-MHAD, NW-UCLA, MSR Action3D and the NTU samples (Kinect v1 skeletons, ST-GCN)",
                ("default",),
            ),
            ShippedModel(
                "gestures",
                "27 UTD-MHAD gestures, sports moves and exercises of one person (Kinect v1 skeletons, ST-GCN)",
                ("gestures", "default"),
                repo_id="skelrec/utd-mhad-actions-kinect20",
            ),
            ShippedModel(
                "interactions",
                "8 PKU-MMD two-person interactions (hug, handshake, push, kick ...) and no action between them, in "
                "Kinect v2 / NTU skeleton files, not videos (transformer)",
                ("interactions",),
            ),
        )
    },
)


def is_shipped_name(model: object) -> bool:
    """Whether ``model`` is a shipped name (a ``str``, exactly one of :data:`SHIPPED_MODELS`)."""
    return isinstance(model, str) and model in SHIPPED_MODELS


def shipped_model_dir(name: str) -> Path:
    """The folder of shipped model ``name``; a one-line error for an unknown name or one not in this install."""
    model = SHIPPED_MODELS[name]  # an unknown name: the registry's one-line error
    folder = model.folder()
    if folder is None:
        where = " or ".join(str(shipped_weights_dir() / f) for f in model.folders)
        raise SkelrecError(
            f"shipped model {name!r} is not built/shipped in this install (no model in {where}); "
            f"`skelrec models` lists the available ones"
        )
    return folder


def list_shipped_models() -> list[dict[str, Any]]:
    """Every shipped name: ``{name, description, available, folder, labels, videos}`` (``labels`` empty when absent;
    ``videos``: whether it labels videos, false for a model whose ``min_persons`` exceeds the one person MediaPipe
    sees, which labels skeleton files only).

    The entry point for a model choice (CLI ``skelrec models``, the app's model menu)."""
    rows = []
    for model in SHIPPED_MODELS.values():
        folder = model.folder()
        config = _read_config(folder) if folder is not None else None
        rows.append(
            {
                "name": model.name,
                "description": model.description,
                "available": folder is not None,
                "folder": str(folder) if folder is not None else None,
                "labels": list((config or {}).get("labels") or []),
                "videos": int((config or {}).get("min_persons") or 1) <= 1,
            }
        )
    return rows


def _read_config(folder: Path) -> dict[str, Any] | None:
    """The raw ``config.json`` of a candidate folder, or ``None``. Deliberately not
    :class:`skelrec.checkpoint.CheckpointConfig`: this module stays free of torch (``skelrec models`` starts fast),
    and a broken folder here only means "not this one" (loading it reports the problem)."""
    try:
        value = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
