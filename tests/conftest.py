from __future__ import annotations

from pathlib import Path

import pytest

from skelrec.paths import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of ../shared/data; tests that use it are skipped cleanly when it is absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is not present (set SKELREC_SHARED_DATA to run this test)")
    return path
