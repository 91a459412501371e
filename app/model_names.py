"""What the page calls a model, and what a visitor is told when it cannot be loaded.

The page never shows a server path: a model in a folder (the operator's ``--model`` folder, a model taught in the
Teach tab) appears by a name, and what a visitor types is resolved back to the folder here. A visitor who types
neither a known name, a folder nor a Hub id (``owner/name``) is told so; a model the server cannot fetch gets a
message for the visitor, while the operator's advice (environment variables, cache folders) goes to the log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

from skelrec.errors import SkelrecError
from skelrec.hub import HubUnavailableError
from skelrec.hub.shipped import is_shipped_name

__all__ = ["DEFAULT_NAME", "ModelNames", "visitor_message"]

log = logging.getLogger(__name__)

DEFAULT_NAME = "default"
"""What the page calls the embedded default model (an empty model box means it too)."""

_HUB_ID = re.compile(r"[^/\s]+/[^/\s]+")


class ModelNames:
    """Names the page shows for models in folders, and the folders they stand for.

    Args:
        folders: ``{name: folder}`` known to every visitor (e.g. the operator's ``--model`` folder by its name).
    """

    def __init__(self, folders: Mapping[str, Path] | None = None) -> None:
        self.folders = dict(folders or {})

    @classmethod
    def for_model(cls, model: str | None) -> tuple[ModelNames, str]:
        """The names for an operator's ``model`` argument, and what the model box shows for it."""
        if model is not None and Path(model).is_dir():
            folder = Path(model).resolve()
            return cls({folder.name: folder}), folder.name
        return cls(), model or ""

    def resolve(self, text: str | None, extra: Mapping[str, Path] | None = None) -> tuple[str | None, str]:
        """What a visitor typed -> (the ``model`` argument of ``from_pretrained``, the model's name on the page).

        ``extra``: more ``{name: folder}`` (the visitor's taught models), which take precedence.

        Raises:
            SkelrecError: ``text`` is neither a known name, an existing folder nor a Hub id ``owner/name``.
        """
        text = (text or "").strip()
        if text in ("", DEFAULT_NAME):
            return None, DEFAULT_NAME
        folders = {**self.folders, **(extra or {})}
        if text in folders:
            return str(folders[text]), text
        if is_shipped_name(text):  # a model shipped with skelrec, by its short name (`skelrec models`)
            return text, text
        if Path(text).is_dir():
            return text, Path(text).name
        if not _HUB_ID.fullmatch(text):
            raise SkelrecError(
                f"{text!r} is not a model name: a Hub id is owner/name (e.g. 'org/skelrec-model'); leave the box "
                "empty for the default model"
            )
        return text, text


def visitor_message(err: SkelrecError, model: str | None, shown: str) -> str:
    """What the page says when model ``model`` (shown as ``shown``) cannot be loaded; the log keeps ``err``."""
    if isinstance(err, HubUnavailableError):
        log.warning("cannot load %s: %s", shown, err)
        return (
            f"the model {shown!r} is not available on this server (it cannot fetch it from the Hugging Face Hub); "
            "use the default model, or ask the operator of this server to provide it"
        )
    if model is None:
        log.warning("cannot load the default model: %s", err)
        return (
            "this server has no default model; type the Hub id of a skelrec model (owner/name), or ask the "
            "operator of this server"
        )
    return str(err)
