"""Where the research data used by tests, benchmarks and the small CPU configs lives.

The data in ``../shared/data`` (beside the repository) is research-use only and never part of this repository.
``SKELREC_SHARED_DATA`` overrides the location.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    """The shared research data folder, or ``None`` when it is not present."""
    env = os.environ.get("SKELREC_SHARED_DATA")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None
