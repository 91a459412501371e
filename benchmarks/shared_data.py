"""The shared research datasets as prepared caches, for the benchmarks, the pretrain scripts and the tests.

The data in ``../shared/data`` (beside the repository; ``SKELREC_SHARED_DATA`` overrides it,
:func:`skelrec.paths.shared_data_dir`) is research-use only and never part of this repository. Scripts import this
module after putting the repository root on ``sys.path`` (``from benchmarks.shared_data import ...``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from skelrec.datasets.prepare import prepare_dataset
from skelrec.errors import SkelrecError
from skelrec.paths import shared_data_dir

__all__ = [
    "PKU_STREAM_FRACTIONS",
    "SHARED_SOURCES",
    "SMALL_CPU_DATA",
    "STREAM_SOURCES",
    "clip_statistics",
    "macdiff_input_statistics",
    "pku_added_streams",
    "prepare_shared_caches",
]

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


_CROPS = {"crop_frames": 120, "crop_stride": 60}  # 4 s crops every 2 s (30 fps)
PKU_STREAM_FRACTIONS = (0.25, 1.0)
"""The parts of the 181 added PKU-MMD streams that ``benchmarks/ssl_cpu.py --pku-streams`` can add (0 adds none)."""

STREAM_SOURCES: dict[str, tuple[str, str, dict[str, str], dict[str, Any]]] = {
    "pku_mmd_streams": ("pku_mmd_streams", "pku_mmd/v1", {}, _CROPS),
    **{
        f"pku_mmd_streams_added_{round(f * 100)}": (
            "pku_mmd_streams",
            "pku_mmd/v1",
            {"skeleton_dir": "skeletons_xz"},
            {**_CROPS, "stream_fraction": f, "stream_seed": 0},
        )
        for f in PKU_STREAM_FRACTIONS
    },
    "pku_mmd_background": ("pku_mmd", "pku_mmd/v1", {}, {"background": True}),
}
"""Cache name -> (reader, folder, folder options, other reader options) of the PKU-MMD stream caches; not
prepared unless named (they take a minute or more each). ``pku_mmd_background``: the labelled instances of all 206
streams (as ``pku_mmd``) and the frames between them as a 52nd class, "no action" (``PkuMmdReader(background=True)``;
the interactions model's background class). ``pku_mmd_streams``: every stream of the cross-subject
training list (193: 12 plain-text, 181 xz; ``pretrain/configs/*/pku_cpu.yaml``). ``pku_mmd_streams_added_<p>``: ``p``
percent of the 181 ``skeletons_xz`` streams (all on the training list) that came after the 25 plain-text ones of
``pku_mmd_25``, chosen by stream with seed 0 (the 25 % are part of the 100 %; ``skelrec.datasets.pku_streams``)."""


def pku_added_streams(fraction: float) -> str | None:
    """The cache of ``fraction`` (0, 0.25 or 1.0) of the added PKU-MMD streams; ``None`` for 0."""
    if fraction == 0:
        return None
    name = f"pku_mmd_streams_added_{round(fraction * 100)}"
    if name not in STREAM_SOURCES:
        choices = ", ".join(f"{f:g}" for f in (0, *PKU_STREAM_FRACTIONS))
        raise SkelrecError(f"no cache of {fraction:g} of the added PKU-MMD streams; choose one of: {choices}")
    return name


def prepare_shared_caches(out_root: str | Path, names: list[str] | None = None) -> dict[str, Path]:
    """Prepare the shared datasets into ``out_root/<name>`` (quick; reuses complete caches). Needs the shared data.

    ``names``: caches of :data:`SHARED_SOURCES` or :data:`STREAM_SOURCES`; default: all of :data:`SHARED_SOURCES`."""
    data = shared_data_dir()
    if data is None:
        raise SkelrecError("../shared/data is absent; set SKELREC_SHARED_DATA to the folder holding the datasets")
    known = {**{k: (*v, {}) for k, v in SHARED_SOURCES.items()}, **STREAM_SOURCES}
    out = {}
    for name in names or list(SHARED_SOURCES):
        if name not in known:
            raise SkelrecError(f"no shared cache {name!r}; known: {', '.join(known)}")
        reader, folder, folder_options, options = known[name]
        out[name] = Path(out_root) / name
        folders = {key: data / folder / value for key, value in folder_options.items()}
        prepare_dataset(reader, data / folder, out[name], workers=1, progress=False, **folders, **options)
    return out


def macdiff_input_statistics(config: str | Path, overrides: Sequence[str] = ()) -> tuple[list[float], list[float]]:
    """Per-channel mean and variance of a MacDiff config's training data as the model sees it: the training pipeline
    without rotation, scaling or noise, over every clip once, the first persons only unless the config sets
    ``method.kwargs.one_person: false`` -- the ``input_mean`` / ``input_var`` of
    :class:`skelrec.ssl.macdiff.MacDiff` (:func:`skelrec.ssl.macdiff.input_statistics` for one clip batch).

    Streams the clips (:func:`clip_statistics`), so memory does not grow with the data."""
    from skelrec.config import load_config
    from skelrec.datasets.torch_data import build_dataset

    still = ["data.augment.rotate=0.0", "data.augment.scale=[1.0,1.0]", "data.augment.noise_std=0"]
    cfg = load_config(config, [*overrides, *still])
    clips = build_dataset(cfg.data, train=True, seed=0)
    try:
        one_person = bool(cfg.method.kwargs.get("one_person", True))
        return clip_statistics((clips[i] for i in range(len(clips))), one_person=one_person)
    except SkelrecError as err:
        raise SkelrecError(f"{config}: {err}") from None


def clip_statistics(clips: Iterable[Mapping[str, Any]], *, one_person: bool = True) -> tuple[list[float], list[float]]:
    """Per-channel mean and unbiased variance of the real frames of ``clips`` (``{"x": (M, T, V, C), "mask": (M, T)}``,
    first persons only when ``one_person``): :func:`skelrec.ssl.macdiff.input_statistics` of the stacked clips,
    summed one clip at a time in float64."""
    import torch

    count, total, squares = 0, torch.zeros(()), torch.zeros(())
    for clip in clips:
        x, mask = (clip["x"][:1], clip["mask"][:1]) if one_person else (clip["x"], clip["mask"])
        values = x[mask.bool()].reshape(-1, x.shape[-1]).double()  # (frames * V, C)
        count, total, squares = count + len(values), total + values.sum(0), squares + (values**2).sum(0)
    if count < 2:
        raise SkelrecError("the training data holds fewer than two joint positions to take input statistics of")
    mean = total / count
    var = (squares - count * mean**2) / (count - 1)  # unbiased, as torch.var
    return mean.tolist(), var.tolist()
