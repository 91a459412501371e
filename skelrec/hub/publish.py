"""Publishing: ``save_pretrained`` writes a checkpoint folder with its model card, ``push`` uploads one to the Hub."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from skelrec.checkpoint import CONFIG_NAME, WEIGHTS_NAME, CheckpointConfig, load_model, save_checkpoint
from skelrec.errors import SkelrecError
from skelrec.hub.modelcard import render_model_card, validate_model_card
from skelrec.hub.remote import HubSettings, upload_folder

__all__ = ["CARD_NAME", "push", "save_pretrained"]

logger = logging.getLogger(__name__)

CARD_NAME = "README.md"


def save_pretrained(
    folder: str | Path,
    model_state: Mapping[str, Tensor],
    config: CheckpointConfig | Mapping[str, Any],
    card_extra: str | None = None,
    *,
    repo_id: str | None = None,
    overwrite_card: bool = False,
) -> Path:
    """Write ``model.safetensors``, ``config.json`` and a ``README.md`` model card rendered from ``config``.

    An existing ``README.md`` is kept (it may hold hand-written notes) unless ``overwrite_card``. The card is
    rendered before anything is written, so a config the card cannot describe leaves the folder untouched.

    Args:
        folder: the checkpoint folder (created if needed).
        model_state: ``model.state_dict()``.
        config: the checkpoint config (see :mod:`skelrec.checkpoint` and :mod:`skelrec.hub.modelcard`).
        card_extra: Markdown appended to the card.
        repo_id: the Hub repo the folder is meant for, used in the card's usage examples.
        overwrite_card: replace an existing ``README.md``.
    """
    folder = Path(folder)
    config = CheckpointConfig.coerce(config)
    card_path = folder / CARD_NAME
    write_card = overwrite_card or not card_path.exists()
    card = render_model_card(config, repo_id=repo_id, extra=card_extra) if write_card else None
    save_checkpoint(folder, model_state, config)
    if card is not None:
        card_path.write_text(card, encoding="utf-8")
    else:
        logger.info("kept the existing %s (pass overwrite_card=True to regenerate it)", card_path)
    return folder


def push(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    branch: str | None = None,
    token: str | None = None,
    commit_message: str | None = None,
) -> str:
    """Upload a checkpoint folder to ``repo_id`` (created if needed; ``branch`` too); returns the commit URL.

    The folder is first loaded exactly as :func:`~skelrec.hub.from_pretrained` would (config checked, model built,
    every weight loaded strictly), so a folder that would not load is refused before anything is sent. A folder
    without ``README.md`` gets one rendered from its config. Only ``config.json``, ``model.safetensors`` and
    ``README.md`` are uploaded.
    """
    folder = Path(folder)
    try:
        _, config = load_model(folder, "cpu")
    except SkelrecError as err:
        raise SkelrecError(f"refusing to push {folder}: it would not load ({err})") from err
    card_path = folder / CARD_NAME
    if not card_path.exists():
        card_path.write_text(render_model_card(config, repo_id=repo_id), encoding="utf-8")
        logger.info("wrote %s from %s", card_path, CONFIG_NAME)
    elif not card_path.read_text(encoding="utf-8").startswith("---\n"):
        logger.warning("%s has no metadata block: the Hub will not show its library, tags or results", card_path)
    else:
        try:
            validate_model_card(card_path.read_text(encoding="utf-8"))
        except SkelrecError as err:
            raise SkelrecError(f"refusing to push {folder}: {card_path.name}: {err}") from err
    message = commit_message or f"Upload skelrec model ({WEIGHTS_NAME}, {CONFIG_NAME}, {CARD_NAME})"
    url = upload_folder(
        folder, repo_id, private=private, branch=branch, commit_message=message, settings=HubSettings.from_env(token)
    )
    logger.info("pushed %s to %s", folder, url)
    return url
