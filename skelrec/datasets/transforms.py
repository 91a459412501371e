"""Clip transforms shared by training, evaluation and inference: the deterministic input pipeline and augmentations.

Every transform maps one clip ``x`` ``(M, T, V, C)`` float32 and its mask ``(M, T)`` bool to a new ``(x, mask)``,
drawing randomness only from the :class:`numpy.random.Generator` passed in, so a clip's augmentation is a pure
function of that generator's seed (the training loader seeds it from run seed, epoch and sample index, which makes
resumed runs exact). Transforms are vectorised over persons, frames and joints; padding stays exactly zero.

:func:`build_transform` is the one place that turns a :class:`skelrec.config.DataConfig` into the pipeline::

    train:  normalize -> channels -> frame-rate change -> valid_crop_resize (random) -> depth scale -> flip
            -> rotate -> scale -> noise -> drop joints -> persons
    eval:   normalize -> channels -> valid_crop_resize (centre crop ``test_crop``) -> persons

Inference builds the eval pipeline from the ``data`` section stored with a checkpoint, so it applies exactly what
training applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from skelrec.config import DataConfig
from skelrec.errors import SkelrecError
from skelrec.skeleton import Normalization, get_layout, normalize, pad_persons, resample_frames, valid_mask

__all__ = [
    "Compose",
    "DropJoints",
    "FrameRateChange",
    "JointNoise",
    "Normalize",
    "PadPersons",
    "RandomDepthScale",
    "RandomRotation",
    "RandomScale",
    "SelectChannels",
    "Transform",
    "ValidCropResize",
    "build_transform",
    "rotation_matrix",
    "valid_span",
]

Clip = tuple[np.ndarray, np.ndarray]
"""``(x (M, T, V, C) float32, mask (M, T) bool)``."""


class Transform(Protocol):
    def __call__(self, x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> Clip: ...


def valid_span(mask: np.ndarray) -> tuple[int, int]:
    """``[begin, end)`` from the first to the last frame where any person is present (``(0, 0)`` when none is)."""
    present = mask.any(axis=0)
    if not present.any():
        return 0, 0
    return int(np.argmax(present)), len(present) - int(np.argmax(present[::-1]))


def _empty(x: np.ndarray, frames: int) -> Clip:
    m, _, v, c = x.shape
    return np.zeros((m, frames, v, c), np.float32), np.zeros((m, frames), bool)


# ------------------------------------------------------------------------------------------------------------------
# Deterministic steps.
# ------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Normalize:
    """Centre / scale / align with :func:`skelrec.skeleton.normalize` (the main person defines the frame)."""

    layout: str
    normalization: Normalization

    def __call__(self, x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> Clip:
        return normalize(x, self.layout, self.normalization)


@dataclass(frozen=True)
class SelectChannels:
    """Keep the first ``channels`` channels (e.g. x, y, z of x, y, z, confidence)."""

    channels: int

    def __call__(self, x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> Clip:
        if x.shape[-1] < self.channels:
            raise SkelrecError(
                f"clip has {x.shape[-1]} channels per joint, the model needs {self.channels}; "
                f"set data.channels={x.shape[-1]} or use data with {self.channels} channels"
            )
        return x[..., : self.channels], mask


@dataclass(frozen=True)
class PadPersons:
    """Keep the first ``persons`` persons, zero-padding missing ones."""

    persons: int

    def __call__(self, x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> Clip:
        return pad_persons(x, mask, self.persons)


# ------------------------------------------------------------------------------------------------------------------
# Temporal crops and resampling.
# ------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidCropResize:
    """MAMP ``valid_crop_resize``: crop part of the valid frames and resize it linearly to ``frames``.

    Training: the crop keeps a fraction ``p ~ U(ratio)`` of the valid span (at least ``min_frames``, at most the
    span) starting at a uniform offset. ``center=True`` (evaluation): the centre ``ratio[0]`` of the span.
    """

    frames: int
    ratio: tuple[float, float] = (0.5, 1.0)
    min_frames: int = 64
    center: bool = False

    def __call__(self, x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> Clip:
        begin, end = valid_span(mask)
        size = end - begin
        if size == 0:
            return _empty(x, self.frames)
        if self.center:
            bias = int((1.0 - self.ratio[0]) * size / 2)
            start, length = begin + bias, max(1, size - 2 * bias)
        else:
            p = rng.uniform(*self.ratio)
            length = int(np.clip(np.floor(size * p), min(self.min_frames, size), size))
            start = begin + int(rng.integers(0, size - length + 1))
        window = slice(start, start + length)
        return resample_frames(x[:, window], mask[:, window], self.frames)


@dataclass(frozen=True)
class FrameRateChange:
    """Play the clip ``f`` times faster, ``f ~ U(low, high)``: its valid span is resampled to ``span / f`` frames."""

    low: float
    high: float

    def __call__(self, x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> Clip:
        factor = rng.uniform(self.low, self.high)
        begin, end = valid_span(mask)
        if end == begin:
            return x, mask
        return resample_frames(x, mask, max(1, round((end - begin) / factor)))


# ------------------------------------------------------------------------------------------------------------------
# Spatial augmentations (on the x, y, z channels).
# ------------------------------------------------------------------------------------------------------------------


def rotation_matrix(angles: np.ndarray) -> np.ndarray:
    """``(3,)`` angles about x, y, z (radians) -> ``(3, 3)`` ``Rz @ Ry @ Rx`` (MAMP ``_rot``)."""
    cx, cy, cz = np.cos(angles)
    sx, sy, sz = np.sin(angles)
    rx = np.array([[1, 0, 0], [0, cx, sx], [0, -sx, cx]])
    ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    rz = np.array([[cz, sz, 0], [-sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _require_xyz(x: np.ndarray, what: str) -> None:
    if x.shape[-1] < 3:
        raise SkelrecError(f"{what} needs x, y, z channels, the clip has {x.shape[-1]}; disable it for 2D data")


@dataclass(frozen=True)
class RandomDepthScale:
    """Multiply the depth (``z``) by one factor ``U(low, high)`` per clip: monocular pose estimators (MediaPipe)
    guess depth, and their depth range differs from a depth camera's."""

    low: float
    high: float

    def __call__(self, x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> Clip:
        _require_xyz(x, "depth scaling")
        out = x.copy()
        out[..., 2] *= np.float32(rng.uniform(self.low, self.high))
        return out, mask


@dataclass(frozen=True)
class RandomFlip:
    """With probability ``p``, mirror the clip left-right: ``x`` negated and every left joint swapped with its right
    twin (``flip_index`` of the layout), so a right-hand throw becomes a left-hand one. Mirrored footage (webcam
    previews, Kinect colour video) and left-handed people meet the model as the other side."""

    p: float
    flip_index: tuple[int, ...]

    def __call__(self, x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> Clip:
        _require_xyz(x, "left-right flipping")
        if rng.random() >= self.p:
            return x, mask
        out = x[:, :, list(self.flip_index)].copy()
        out[..., 0] *= -1.0
        return out, mask


@dataclass(frozen=True)
class RandomRotation:
    """MAMP ``random_rot``: one rotation for the whole clip, angle ``U(-theta, theta)`` about each axis."""

    theta: float = 0.3

    def __call__(self, x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> Clip:
        _require_xyz(x, "random rotation")
        rot = rotation_matrix(rng.uniform(-self.theta, self.theta, 3)).astype(np.float32)
        out = x.copy()
        out[..., :3] = x[..., :3] @ rot.T
        return out, mask


@dataclass(frozen=True)
class RandomScale:
    """Multiply the coordinates by one factor ``U(low, high)``."""

    low: float
    high: float

    def __call__(self, x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> Clip:
        out = x.copy()
        out[..., :3] *= np.float32(rng.uniform(self.low, self.high))
        return out, mask


@dataclass(frozen=True)
class JointNoise:
    """Add Gaussian noise ``N(0, std²)`` to every coordinate of the real frames (MacDiff ``add_source_aug``)."""

    std: float

    def __call__(self, x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> Clip:
        noise = rng.normal(0.0, self.std, size=(*x.shape[:-1], min(3, x.shape[-1]))).astype(np.float32)
        out = x.copy()
        out[..., :3] += noise * mask[..., None, None]
        return out, mask


@dataclass(frozen=True)
class DropJoints:
    """Zero each joint of each person for the whole clip with probability ``p`` (missing-detection simulation)."""

    p: float

    def __call__(self, x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> Clip:
        keep = rng.random((x.shape[0], 1, x.shape[2], 1)) >= self.p
        out = x * keep
        return out, mask & valid_mask(out)


# ------------------------------------------------------------------------------------------------------------------
# Composition.
# ------------------------------------------------------------------------------------------------------------------


class Compose:
    """Apply transforms in order; ``mask`` defaults to :func:`skelrec.skeleton.valid_mask`, ``rng`` to seed 0."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: np.ndarray, mask: np.ndarray | None = None, rng: np.random.Generator | None = None) -> Clip:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4:
            raise SkelrecError(f"expected a clip shaped (M, T, V, C), got {x.shape}")
        mask = valid_mask(x) if mask is None else mask
        rng = np.random.default_rng(0) if rng is None else rng
        for t in self.transforms:
            x, mask = t(x, mask, rng)
        return np.ascontiguousarray(x, dtype=np.float32), mask

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(map(repr, self.transforms)) + ")"


def build_transform(data: DataConfig, *, train: bool, layout: str | None = None) -> Compose:
    """The input pipeline of ``data`` (see the module docstring); ``layout`` overrides ``data.layout``."""
    layout = layout or data.layout
    if layout is None:
        raise SkelrecError("data.layout is not set; pass the layout of the clips (e.g. layout='ntu25')")
    steps: list[Transform] = [Normalize(layout, data.normalization), SelectChannels(data.channels)]
    aug = data.augment
    if not train:
        steps.append(ValidCropResize(data.clip_length, (data.test_crop, data.test_crop), center=True))
    else:
        if aug.fps_scale != (1.0, 1.0):
            steps.append(FrameRateChange(*aug.fps_scale))
        steps.append(ValidCropResize(data.clip_length, aug.crop, aug.crop_min_frames))
        if aug.depth_scale != (1.0, 1.0):
            steps.append(RandomDepthScale(*aug.depth_scale))
        if aug.flip > 0:
            steps.append(RandomFlip(aug.flip, tuple(get_layout(layout).flip_index)))
        if aug.rotate > 0:
            steps.append(RandomRotation(aug.rotate))
        if aug.scale != (1.0, 1.0):
            steps.append(RandomScale(*aug.scale))
        if aug.noise_std > 0:
            steps.append(JointNoise(aug.noise_std))
        if aug.drop_joints > 0:
            steps.append(DropJoints(aug.drop_joints))
    steps.append(PadPersons(data.persons))
    return Compose(steps)
