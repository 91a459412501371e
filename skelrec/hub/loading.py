"""``from_pretrained``: a ready model from a shipped name (``default``, ``gestures`` ...), a local folder or a
Hugging Face Hub repo; the order in which a name is read is in :mod:`skelrec.hub.shipped`."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from skelrec.checkpoint import CONFIG_NAME, PICKLE_PATTERNS, WEIGHTS_NAME, CheckpointConfig, load_model
from skelrec.devices import resolve_device
from skelrec.errors import SkelrecError
from skelrec.hub.remote import MODEL_FILES, HubSettings, fetch_snapshot
from skelrec.hub.shipped import is_shipped_name, shipped_model_dir
from skelrec.paths import shipped_weights_dir

__all__ = ["DEFAULT_MODEL_DIR", "LoadedModel", "from_pretrained"]

logger = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = shipped_weights_dir() / "default"
"""The model used when none is named (a checkpoint folder shipped with skelrec: package data of a wheel, or the
repository's ``weights/default``)."""


@dataclass
class LoadedModel:
    """A model ready for inference and where it came from.

    Attributes:
        model: the network in eval mode (a ``Classifier`` ``(N, M, T, V, C)`` -> ``(N, classes)``, or a bare encoder).
        config: the checkpoint's typed ``config.json`` (layout, normalization, clip length, labels, ...).
        source: the Hub repo id, the local folder, or ``"default"``.
        folder: the local folder the files were read from.
        revision: the requested Hub revision (``None`` for local folders).
        commit: the Hub commit id the files belong to (``None`` for local folders).
    """

    model: nn.Module
    config: CheckpointConfig
    source: str
    folder: Path
    revision: str | None = None
    commit: str | None = None


def from_pretrained(
    model: str | Path | None = None,
    *,
    revision: str | None = None,
    device: str | torch.device = "auto",
    cache_dir: str | Path | None = None,
    token: str | None = None,
    trust_pickle: bool = False,
) -> LoadedModel:
    """Load a skelrec model strictly (every weight, every shape) and move it to ``device``.

    Args:
        model: ``None`` for the default model, a shipped model's name (``default``, ``gestures``, ``interactions``:
            :mod:`skelrec.hub.shipped`, which also gives the resolution order), a local checkpoint folder, or a Hub
            repo id (``owner/name``) downloaded through the Hub cache (``HF_ENDPOINT``, ``HF_HOME``, ``HF_HUB_OFFLINE``
            and ``HF_TOKEN`` are honoured; an unreachable Hub falls back to the cache).
        revision: Hub branch, tag or commit id (default branch when ``None``); only for repo ids.
        device: ``"auto"`` (CUDA, then MPS, then CPU), or any torch device.
        cache_dir: Hub cache folder instead of ``$HF_HOME/hub``.
        token: Hub token for private or gated repos (default: ``HF_TOKEN`` or the saved login).
        trust_pickle: accept pickled weights when a checkpoint has no ``model.safetensors``.

    Raises:
        SkelrecError: one line naming the problem and its fix (missing default model, unknown repo or revision,
            no network and nothing cached, gated/private repo without token, corrupt or incomplete checkpoint).
    """
    if model is None or model == "default":
        folder, source = _default_folder(), "default"
    elif is_shipped_name(model):
        folder, source = shipped_model_dir(str(model)), str(model)
    elif Path(model).is_dir():
        folder, source = Path(model), str(model)
    else:
        return _from_hub(str(model), revision, device, HubSettings.from_env(token, cache_dir), trust_pickle)
    if revision is not None:
        raise SkelrecError(f"revision={revision!r} applies to Hub repos, but {source} is a local folder; drop it")
    net, config = load_model(folder, resolve_device(device), trust_pickle=trust_pickle)
    return LoadedModel(net, config, source, folder)


def _default_folder() -> Path:
    """The embedded default model (:data:`DEFAULT_MODEL_DIR`), or ``$SKELREC_DEFAULT_MODEL``."""
    folder = Path(os.environ.get("SKELREC_DEFAULT_MODEL") or DEFAULT_MODEL_DIR)
    if not (folder / CONFIG_NAME).is_file():
        raise SkelrecError(
            f"no default model: {folder} holds no {CONFIG_NAME}; name a model instead "
            "(a Hub repo id owner/name, or a checkpoint folder), or set SKELREC_DEFAULT_MODEL to a checkpoint folder"
        )
    return folder


def _from_hub(
    repo_id: str, revision: str | None, device: str | torch.device, settings: HubSettings, trust_pickle: bool
) -> LoadedModel:
    patterns = MODEL_FILES + (PICKLE_PATTERNS if trust_pickle else ())
    snapshot = fetch_snapshot(repo_id, revision=revision, settings=settings, patterns=patterns)
    where = f"{repo_id}@{snapshot.revision}"
    _require_files(snapshot.path, where, trust_pickle)
    try:
        net, config = load_model(snapshot.path, resolve_device(device), trust_pickle=trust_pickle)
    except SkelrecError as err:
        raise SkelrecError(f"{where}: {err}") from err
    logger.info("loaded %s (commit %s) from %s", where, snapshot.commit, snapshot.path)
    return LoadedModel(net, config, repo_id, snapshot.path, snapshot.revision, snapshot.commit)


def _require_files(folder: Path, where: str, trust_pickle: bool) -> None:
    """A missing config or weights file is the repo's problem: name the repo, not the cache path."""
    present = sorted(p.name for p in folder.iterdir())
    has_weights = (folder / WEIGHTS_NAME).is_file() or (
        trust_pickle and any(any(folder.glob(pattern)) for pattern in PICKLE_PATTERNS)
    )
    checks = ((CONFIG_NAME, (folder / CONFIG_NAME).is_file()), (WEIGHTS_NAME, has_weights))
    missing = [name for name, ok in checks if not ok]
    if missing:
        pickle_hint = "" if trust_pickle else " (pickled weights are fetched only with trust_pickle=True)"
        raise SkelrecError(
            f"{where} is not a complete skelrec model: it lacks {' and '.join(missing)}{pickle_hint}; it has "
            f"{', '.join(present) or 'nothing'}. Push a complete checkpoint folder with `skelrec push`"
        )
