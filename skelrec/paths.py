"""Where skelrec's files are: the package, the shipped models, the shared research data, skelrec's own cache.

The data in ``../shared/data`` (beside the repository) is research-use only and never part of this repository.
``SKELREC_SHARED_DATA`` overrides the location. ``SKELREC_CACHE`` overrides the cache folder (``~/.cache/skelrec``).
Preparing the shared datasets as caches is the benchmarks' business: ``benchmarks/shared_data.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent


def shipped_weights_dir() -> Path:
    """The folder of the models shipped with skelrec: ``skelrec/weights`` in an installed wheel (package data), else
    the repository's top-level ``weights/`` (a clone, or an editable install)."""
    packaged = PACKAGE_DIR / "weights"
    return packaged if packaged.is_dir() else REPO_ROOT / "weights"


def shared_data_dir() -> Path | None:
    """The shared research data folder, or ``None`` when it is not present."""
    env = os.environ.get("SKELREC_SHARED_DATA")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


def user_cache_dir() -> Path:
    """skelrec's cache folder: ``$SKELREC_CACHE``, else ``$XDG_CACHE_HOME/skelrec``, else ``~/.cache/skelrec``."""
    env = os.environ.get("SKELREC_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "skelrec"
