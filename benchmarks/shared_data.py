"""The shared research datasets as prepared caches, for the benchmarks, the pretrain scripts and the tests.

The data in ``../shared/data`` (beside the repository; ``SKELREC_SHARED_DATA`` overrides it,
:func:`skelrec.paths.shared_data_dir`) is research-use only and never part of this repository. Scripts import this
module after putting the repository root on ``sys.path`` (``from benchmarks.shared_data import ...``).
"""

from __future__ import annotations

from pathlib import Path

from skelrec.datasets.prepare import prepare_dataset
from skelrec.errors import SkelrecError
from skelrec.paths import shared_data_dir

__all__ = ["SHARED_SOURCES", "SMALL_CPU_DATA", "prepare_shared_caches"]

SHARED_SOURCES: dict[str, tuple[str, str, dict[str, str]]] = {
    "nw_ucla": ("nw_ucla", "nw_ucla/all_sqe", {}),
    "utd_mhad": ("utd_mhad", "utd_mhad/Skeleton", {}),
    "msr_action3d": ("msr_action3d", "msr_action3d/real_world_coordinates", {}),
    "pku_mmd": ("pku_mmd", "pku_mmd/v1", {}),
    "pku_mmd_25": ("pku_mmd", "pku_mmd/v1", {"skeleton_dir": "skeletons"}),
    "ntu60_sample": ("ntu60", "ntu_rgbd60_S001C001P001R001", {}),
    "msrc12": ("msrc12", "msrc12_sample", {}),
    "msr_daily": ("msr_daily", "msr_daily_activity3d_sample", {}),
}
"""Cache name -> (dataset reader, folder below the shared data, reader options whose values are folders below that
folder) of every skeleton dataset in ../shared/data; configs read them from ``caches/<name>``. ``pku_mmd`` holds all
206 PKU-MMD streams; ``pku_mmd_25`` the 25 plain-text ones that were all there was when the small CPU configs
(``pretrain/configs/_base_/data_cpu_real.yaml``) and the gestures model were measured, so those stay reproducible."""

SMALL_CPU_DATA = ("nw_ucla", "utd_mhad", "msr_action3d", "pku_mmd_25", "ntu60_sample", "msrc12", "msr_daily")
"""The caches of ``pretrain/configs/_base_/data_cpu_real.yaml`` (NW-UCLA through its xsub training part)."""


def prepare_shared_caches(out_root: str | Path, names: list[str] | None = None) -> dict[str, Path]:
    """Prepare the shared datasets into ``out_root/<name>`` (quick; reuses complete caches). Needs the shared data."""
    data = shared_data_dir()
    if data is None:
        raise SkelrecError("../shared/data is absent; set SKELREC_SHARED_DATA to the folder holding the datasets")
    out = {}
    for name in names or list(SHARED_SOURCES):
        reader, folder, options = SHARED_SOURCES[name]
        out[name] = Path(out_root) / name
        folders = {key: data / folder / value for key, value in options.items()}
        prepare_dataset(reader, data / folder, out[name], workers=1, progress=False, **folders)
    return out
