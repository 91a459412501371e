from __future__ import annotations

import sys
from pathlib import Path

import pytest

from skelrec.paths import shared_data_dir

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the benchmarks' helpers (benchmarks/shared_data.py) are imported from there

from benchmarks.shared_data import SMALL_CPU_DATA, prepare_shared_caches  # noqa: E402


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of ../shared/data; tests that use it are skipped cleanly when it is absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is not present (set SKELREC_SHARED_DATA to run this test)")
    return path


@pytest.fixture(scope="session")
def real_caches(shared_data, tmp_path_factory) -> dict[str, Path]:
    """Every shared dataset prepared once per test session (a few seconds), by cache name."""
    return prepare_shared_caches(tmp_path_factory.mktemp("caches"))


def real_data_paths(caches: dict[str, Path]) -> str:
    """The ``data.paths=[...]`` override that points pretrain/configs/_base_/data_cpu_real.yaml at ``caches``."""
    entries = [f"{caches['nw_ucla']}#xsub:train", *(str(caches[n]) for n in SMALL_CPU_DATA if n != "nw_ucla")]
    return "data.paths=[" + ",".join(entries) + "]"


def save_encoder(folder: Path, encoder, *, method: str, clip_length: int) -> Path:
    """``encoder`` saved as a pretrained encoder checkpoint of ``method`` for kinect20 clips of ``clip_length``."""
    from skelrec.checkpoint import architecture, save_checkpoint
    from skelrec.skeleton import Normalization

    config = {
        **architecture(encoder),
        "layout": "kinect20",
        "normalization": Normalization(center="sequence", scale="none").to_dict(),
        "clip_length": clip_length,
        "num_persons": 1,
        "labels": None,
        "method": {"name": method, "kwargs": {}},
    }
    return save_checkpoint(folder, encoder.state_dict(), config)
