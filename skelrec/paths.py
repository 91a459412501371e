"""Where the research data used by tests, benchmarks and the small CPU configs lives, and skelrec's own cache.

The data in ``../shared/data`` (beside the repository) is research-use only and never part of this repository.
``SKELREC_SHARED_DATA`` overrides the location. ``SKELREC_CACHE`` overrides the cache folder (``~/.cache/skelrec``).
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


SHARED_SOURCES: dict[str, tuple[str, str]] = {
    "nw_ucla": ("nw_ucla", "nw_ucla/all_sqe"),
    "utd_mhad": ("utd_mhad", "utd_mhad/Skeleton"),
    "msr_action3d": ("msr_action3d", "msr_action3d/real_world_coordinates"),
    "pku_mmd": ("pku_mmd", "pku_mmd/v1"),
    "ntu60_sample": ("ntu60", "ntu_rgbd60_S001C001P001R001"),
    "msrc12": ("msrc12", "msrc12_sample"),
    "msr_daily": ("msr_daily", "msr_daily_activity3d_sample"),
}
"""Cache name -> (dataset reader, folder below the shared data) of every skeleton dataset in ../shared/data; the
small CPU configs read them from ``caches/<name>`` (``python benchmarks/ssl_cpu.py prepare`` writes them)."""


def prepare_shared_caches(out_root: str | Path, names: list[str] | None = None) -> dict[str, Path]:
    """Prepare the shared datasets into ``out_root/<name>`` (quick; reuses complete caches). Needs the shared data."""
    from skelrec.datasets.prepare import prepare_dataset
    from skelrec.errors import SkelrecError

    data = shared_data_dir()
    if data is None:
        raise SkelrecError("../shared/data is absent; set SKELREC_SHARED_DATA to the folder holding the datasets")
    out = {}
    for name in names or list(SHARED_SOURCES):
        reader, folder = SHARED_SOURCES[name]
        out[name] = Path(out_root) / name
        prepare_dataset(reader, data / folder, out[name], workers=1, progress=False)
    return out
