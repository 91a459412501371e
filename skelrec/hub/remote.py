"""The one place that talks to the Hugging Face Hub: settings from the environment, downloads, uploads, errors.

Environment (read at call time, so a change made after ``import huggingface_hub`` still counts):
``HF_ENDPOINT`` (a mirror), ``HF_HOME`` / ``HF_HUB_CACHE`` (the cache), ``HF_HUB_OFFLINE=1`` (cache only),
``HF_TOKEN`` (private, gated and write access). Every Hub failure leaves this module as a one-line
:class:`~skelrec.errors.SkelrecError` saying what went wrong and how to fix it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import HfApi, constants, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from skelrec.errors import SkelrecError

__all__ = [
    "MODEL_FILES",
    "HubSettings",
    "HubUnavailableError",
    "Snapshot",
    "download",
    "fetch_snapshot",
    "hub_errors",
    "upload_folder",
]

logger = logging.getLogger(__name__)

MODEL_FILES = ("config.json", "model.safetensors", "README.md")
"""What a skelrec model repo holds; downloads fetch only these."""

_TRUE = {"1", "ON", "YES", "TRUE"}


@dataclass(frozen=True)
class HubSettings:
    """Where the Hub is, where its cache lives, whether to stay offline, which token to send (``None`` = default)."""

    endpoint: str
    cache_dir: Path
    offline: bool
    token: str | None = None

    @classmethod
    def from_env(cls, token: str | None = None, cache_dir: str | Path | None = None) -> HubSettings:
        """The settings huggingface_hub would use if it were imported now (explicit arguments win)."""
        env = os.environ
        if cache_dir is None:
            home = env.get("HF_HOME")
            cache_dir = env.get("HF_HUB_CACHE") or (Path(home) / "hub" if home else constants.HF_HUB_CACHE)
        offline = env.get("HF_HUB_OFFLINE")
        return cls(
            endpoint=(env.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/"),
            cache_dir=Path(cache_dir).expanduser(),
            offline=offline.upper() in _TRUE if offline is not None else constants.HF_HUB_OFFLINE,
            token=token,
        )

    def api(self) -> HfApi:
        return HfApi(endpoint=self.endpoint, token=self.token)


@dataclass(frozen=True)
class Snapshot:
    """A downloaded repo revision: its local folder and the commit it came from (``None`` if not known)."""

    path: Path
    repo_id: str
    revision: str
    commit: str | None


def fetch_snapshot(
    repo_id: str,
    *,
    revision: str | None = None,
    local_dir: str | Path | None = None,
    settings: HubSettings | None = None,
    patterns: Sequence[str] = MODEL_FILES,
) -> Snapshot:
    """Download the files of ``repo_id`` matching ``patterns`` at ``revision`` (default branch when ``None``).

    Asks the Hub first (unless offline) which commit ``revision`` is; when the Hub cannot be reached it logs that
    and uses the local cache (``local_files_only``), as ``HF_HUB_OFFLINE=1`` does. Raises a SkelrecError naming
    the repo and the fix for an unknown repo or revision, a gated/private repo without a token, or no network and
    no cached copy.
    """
    settings = settings or HubSettings.from_env()
    rev = revision or constants.DEFAULT_REVISION
    commit, online = None, not settings.offline
    with hub_errors(repo_id, rev, settings):
        if online:
            try:
                commit = settings.api().repo_info(repo_id, revision=rev).sha
            except (httpx2.TransportError, OfflineModeIsEnabled) as err:
                logger.warning(
                    "cannot reach %s (%s); looking for %s@%s in the cache %s",
                    settings.endpoint,
                    type(err).__name__,
                    repo_id,
                    rev,
                    settings.cache_dir,
                )
                online = False
        path = Path(
            snapshot_download(
                repo_id,
                revision=rev,
                cache_dir=settings.cache_dir,
                local_dir=local_dir,
                endpoint=settings.endpoint,
                token=settings.token,
                allow_patterns=list(patterns),
                local_files_only=not online,
            )
        )
    if path.parent.name == "snapshots":  # the cache layout names the commit actually downloaded
        commit = path.name
    return Snapshot(path, repo_id, rev, commit)


def download(
    repo_id: str, *, revision: str | None = None, local_dir: str | Path | None = None, token: str | None = None
) -> Path:
    """The local folder holding ``repo_id``'s model files (the cache snapshot, or ``local_dir`` when given)."""
    return fetch_snapshot(repo_id, revision=revision, local_dir=local_dir, settings=HubSettings.from_env(token)).path


def upload_folder(
    folder: Path,
    repo_id: str,
    *,
    private: bool = False,
    branch: str | None = None,
    commit_message: str,
    settings: HubSettings | None = None,
) -> str:
    """Create ``repo_id`` if needed (and ``branch`` from the default branch), commit ``folder``; the commit URL."""
    settings = settings or HubSettings.from_env()
    if settings.offline:
        raise SkelrecError(f"cannot push {folder} to {repo_id}: HF_HUB_OFFLINE=1 is set; unset it to upload")
    rev = branch or constants.DEFAULT_REVISION
    api = settings.api()
    with hub_errors(repo_id, rev, settings, writing=True):
        api.create_repo(repo_id, private=private, exist_ok=True)
        if branch and branch != constants.DEFAULT_REVISION:
            api.create_branch(repo_id, branch=branch, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            revision=rev,
            commit_message=commit_message,
            allow_patterns=list(MODEL_FILES),
        )
    return str(info.commit_url)


# ---- errors ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Where:
    repo_id: str
    revision: str
    settings: HubSettings
    writing: bool


_TOKEN_HINT = "pass token=..., set HF_TOKEN or run `hf auth login`"

_NO_NETWORK = (
    "connect to the network, set HF_HUB_OFFLINE=1 to use the cache, point HF_ENDPOINT at a mirror, "
    "or pass a local model folder"
)


def _bad_id(w: _Where, err: BaseException) -> str:
    return (
        f"{w.repo_id!r} is not a Hub repo id (owner/name of letters, digits, '-', '_', '.') "
        "nor an existing model folder: check the id or the path"
    )


def _gated(w: _Where, err: BaseException) -> str:
    return f"{w.repo_id} is gated: accept its conditions at {w.settings.endpoint}/{w.repo_id}, then {_TOKEN_HINT}"


def _no_revision(w: _Where, err: BaseException) -> str:
    return f"{w.repo_id} has no revision {w.revision!r}: pass an existing branch, tag or commit id"


def _no_entry(w: _Where, err: BaseException) -> str:
    return f"{w.repo_id}@{w.revision} lacks a file it lists: push a complete model folder with `skelrec push`"


def _no_repo(w: _Where, err: BaseException) -> str:
    return f"no model repo {w.repo_id!r} at {w.settings.endpoint}: check the id (owner/name); if private, {_TOKEN_HINT}"


def _not_cached(w: _Where, err: BaseException) -> str:
    if w.settings.offline:
        return (
            f"HF_HUB_OFFLINE=1 and {w.repo_id}@{w.revision} is not in the cache {w.settings.cache_dir}: "
            "unset HF_HUB_OFFLINE to download it, or pass a local model folder"
        )
    return (
        f"no network: cannot reach {w.settings.endpoint} and {w.repo_id}@{w.revision} is not in the cache "
        f"{w.settings.cache_dir}; {_NO_NETWORK}"
    )


def _offline_at_import(w: _Where, err: BaseException) -> str:
    return (
        f"huggingface_hub was imported with HF_HUB_OFFLINE=1, so {w.repo_id} cannot be fetched: unset "
        "HF_HUB_OFFLINE before starting Python, or pass a local model folder"
    )


def _unreachable(w: _Where, err: BaseException) -> str:
    return f"no network: cannot reach {w.settings.endpoint} ({type(err).__name__}); {_NO_NETWORK}"


def _http_message(where: _Where, err: BaseException) -> str:
    status = err.response.status_code if isinstance(err, HfHubHTTPError) and err.response is not None else None
    action = "write to" if where.writing else "read"
    if status in (401, 403):
        access = "write" if where.writing else "read"
        return (
            f"not allowed to {action} {where.repo_id} (HTTP {status}): use a token with {access} access ({_TOKEN_HINT})"
        )
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return f"the Hub at {where.settings.endpoint} refused to {action} {where.repo_id}: {first_line}; retry later"


class HubUnavailableError(SkelrecError):
    """The Hub cannot be reached (offline mode, no network) and the cache lacks the model: the fix is on the
    machine's side (network, ``HF_HUB_OFFLINE``, ``HF_ENDPOINT``, the cache), not in the repo id."""


_UNAVAILABLE = (LocalEntryNotFoundError, OfflineModeIsEnabled, httpx2.TransportError)

# (Hub exception, message) — the first matching class wins, so subclasses come before their bases.
_MESSAGES: list[tuple[type[BaseException], Callable[[_Where, BaseException], str]]] = [
    (HFValidationError, _bad_id),
    (GatedRepoError, _gated),
    (RevisionNotFoundError, _no_revision),
    (RemoteEntryNotFoundError, _no_entry),
    (RepositoryNotFoundError, _no_repo),
    (LocalEntryNotFoundError, _not_cached),
    (OfflineModeIsEnabled, _offline_at_import),
    (httpx2.TransportError, _unreachable),
    (HfHubHTTPError, _http_message),
]


@contextmanager
def hub_errors(repo_id: str, revision: str, settings: HubSettings, *, writing: bool = False) -> Iterator[None]:
    """Turn huggingface_hub and network exceptions raised inside the block into one-line SkelrecErrors."""
    where = _Where(repo_id, revision, settings, writing)
    try:
        yield
    except SkelrecError:
        raise
    except Exception as err:
        for kind, message in _MESSAGES:
            if isinstance(err, kind):
                error = HubUnavailableError if isinstance(err, _UNAVAILABLE) else SkelrecError
                raise error(message(where, err)) from err
        raise
