"""Random views of a batch for the contrastive methods, drawn on the device (HaLP / CMD ``feeder/augmentations.py``).

A view of each clip is a temporal crop-resize followed by one random spatial augmentation (HaLP's
``feeder_pretraining_intra.py``): with probability ``p_corrupt`` a joint corruption, otherwise a shear of the whole
skeleton. The joint corruption picks ``round(corrupt_joints * V)`` joints (HaLP: 15 of 25) and, with equal
probability, zeroes them (missing detections) or maps their coordinates by one random ``3 x 3`` matrix with entries
``U(-corrupt_scale, corrupt_scale)``. The shear is ``I`` plus off-diagonal entries ``U(-shear, shear)``.

Why here and not in :mod:`skelrec.datasets.transforms`: those transforms make *one* view per clip in NumPy inside
the data loader; a contrastive method needs two independent views of the same clip at every step. They are drawn
here from the batch, vectorised over samples, persons, frames and joints, from torch's global generator (seeded per
process and saved in checkpoints by :mod:`skelrec.train`, so resumed runs draw the same views). The loader's own
pipeline still runs first (normalization, its crop-resize to ``data.clip_length``): a view crops that clip again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from skelrec.errors import SkelrecError

if TYPE_CHECKING:
    from skelrec.ssl.base import InputSpec

__all__ = ["ContrastiveViews", "joint_corruption_matrices", "shear_matrices", "temporal_crop_resize", "valid_span"]


def valid_span(mask: Tensor) -> tuple[Tensor, Tensor]:
    """``mask (N, M, T)`` -> ``(begin, end)`` int64 ``(N,)``: first and one-past-last frame where any person is real.

    ``begin == end == 0`` for a clip without any real frame.
    """
    present = mask.any(dim=1)  # (N, T)
    t = present.shape[1]
    begin = present.int().argmax(dim=1)
    end = t - present.flip(1).int().argmax(dim=1)
    has = present.any(dim=1)
    return torch.where(has, begin, 0), torch.where(has, end, 0)


def temporal_crop_resize(
    x: Tensor, mask: Tensor, ratio: Sequence[float], min_frames: int, frames: int
) -> tuple[Tensor, Tensor]:
    """HaLP ``temporal_cropresize``, per clip: crop ``p ~ U(ratio)`` of the valid span, resize linearly to ``frames``.

    The crop keeps ``clamp(floor(p * span), min(min_frames, span), span)`` frames starting at a uniform offset; it
    is resized like ``F.interpolate(mode="linear", align_corners=False)``. A resized frame is real when the frames
    it interpolates are; unreal frames are zeros.

    Args:
        x: ``(N, M, T, V, C)`` clips.
        mask: ``(N, M, T)`` bool, real person-frames.
        ratio: ``(low, high)`` fraction of the valid span to keep (HaLP: ``(0.1, 1.0)``).
        min_frames: shortest crop (HaLP: 64).
        frames: ``T_out`` of the result.

    Returns:
        ``x (N, M, T_out, V, C)`` and ``mask (N, M, T_out)``.
    """
    n, m, t = mask.shape
    dev = x.device
    begin, end = valid_span(mask)
    span = (end - begin).float()  # (N,)
    p = torch.empty(n, device=dev).uniform_(float(ratio[0]), float(ratio[1]))
    length = torch.maximum(torch.floor(span * p), torch.clamp(span, max=float(min_frames)))
    length = torch.minimum(length, span).clamp_min(1.0)  # (N,)
    start = begin.float() + torch.floor(torch.rand(n, device=dev) * (span - length + 1.0).clamp_min(1.0))
    j = torch.arange(frames, device=dev, dtype=torch.float32)
    src = ((j[None] + 0.5) * (length[:, None] / frames) - 0.5).clamp_min(0.0)  # (N, T_out), align_corners=False
    src = torch.minimum(src, length[:, None] - 1.0)
    i0 = torch.floor(src)
    w = (src - i0).to(x.dtype)
    f0 = (start[:, None] + i0).long().clamp(0, t - 1)
    f1 = (start[:, None] + torch.minimum(i0 + 1.0, length[:, None] - 1.0)).long().clamp(0, t - 1)

    def at(frame: Tensor) -> tuple[Tensor, Tensor]:
        index = frame[:, None, :].expand(n, m, frames)  # (N, M, T_out)
        picked = x.gather(2, index[..., None, None].expand(-1, -1, -1, *x.shape[3:]))
        return picked, mask.gather(2, index)

    (x0, m0), (x1, m1) = at(f0), at(f1)
    w = w[:, None, :, None, None]
    out_mask = m0 & (m1 | (w[..., 0, 0] == 0))
    out = (x0 + w * (x1 - x0)) * out_mask[..., None, None].to(x.dtype)
    return out, out_mask


def shear_matrices(n: int, dims: int, amplitude: float, *, device: torch.device) -> Tensor:
    """HaLP ``pose_augmentation``: ``(n, d, d)`` matrices ``I + S`` with off-diagonal ``S_ij ~ U(-a, a)``."""
    s = torch.empty(n, dims, dims, device=device).uniform_(-amplitude, amplitude)
    eye = torch.eye(dims, device=device)
    return eye + s * (1.0 - eye)


def joint_corruption_matrices(
    n: int, joints: int, dims: int, fraction: float, scale: float, *, device: torch.device
) -> Tensor:
    """HaLP ``joint_courruption`` as per-joint maps ``(n, V, d, d)``.

    ``round(fraction * V)`` random joints of each clip get, with equal probability, the zero map or one random
    matrix with entries ``U(-scale, scale)``; the other joints keep the identity.
    """
    count = round(fraction * joints)
    chosen = torch.zeros(n, joints, dtype=torch.bool, device=device)
    if count:
        chosen.scatter_(1, torch.rand(n, joints, device=device).topk(count, dim=1).indices, True)
    zero = torch.rand(n, device=device) < 0.5
    random_map = torch.empty(n, dims, dims, device=device).uniform_(-scale, scale)
    corrupt = torch.where(zero[:, None, None], torch.zeros_like(random_map), random_map)  # (n, d, d)
    eye = torch.eye(dims, device=device).expand(n, joints, dims, dims)
    return torch.where(chosen[..., None, None], corrupt[:, None], eye)


@dataclass(frozen=True)
class ContrastiveViews:
    """Draw one random view of every clip of a batch (see the module docstring); call it twice for two views.

    Attributes:
        frames: ``T`` of a view.
        crop: fraction of the valid span a temporal crop keeps, ``[low, high]`` (HaLP: ``[0.1, 1.0]``).
        min_frames: shortest temporal crop (HaLP: 64; here in frames of the loader's clip).
        p_corrupt: probability of a joint corruption rather than a shear (HaLP: 0.5).
        corrupt_joints: fraction of the joints a corruption touches (HaLP: 15 / 25 = 0.6).
        corrupt_scale: entries of the random corruption matrix are ``U(-corrupt_scale, corrupt_scale)`` (HaLP: 1).
        shear: off-diagonal shear entries are ``U(-shear, shear)`` (HaLP: 1).
        spatial_dims: leading channels that are coordinates (3 for x, y, z; 2 for 2D poses with a confidence).
    """

    frames: int
    crop: tuple[float, float] = (0.1, 1.0)
    min_frames: int = 64
    p_corrupt: float = 0.5
    corrupt_joints: float = 0.6
    corrupt_scale: float = 1.0
    shear: float = 1.0
    spatial_dims: int = 3

    def __post_init__(self) -> None:
        low, high = self.crop
        checks = {
            "frames": self.frames >= 1,
            "crop": 0.0 < low <= high <= 1.0,
            "min_frames": self.min_frames >= 1,
            "p_corrupt": 0.0 <= self.p_corrupt <= 1.0,
            "corrupt_joints": 0.0 <= self.corrupt_joints <= 1.0,
            "corrupt_scale": self.corrupt_scale >= 0.0,
            "shear": self.shear >= 0.0,
            "spatial_dims": self.spatial_dims >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise SkelrecError(
                f"method.kwargs.augment: invalid {', '.join(bad)} ({self}); frames/min_frames/spatial_dims >= 1, "
                f"0 < crop low <= high <= 1, probabilities and fractions in [0, 1], amplitudes >= 0"
            )

    @classmethod
    def from_options(cls, spec: InputSpec, options: Mapping[str, Any]) -> ContrastiveViews:
        """Views for ``spec`` from the ``method.kwargs.augment`` mapping (``frames`` defaults to the clip length)."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise SkelrecError(f"method.kwargs.augment has unknown keys {unknown}; known keys: {', '.join(known)}")
        values = {"frames": spec.frames, "spatial_dims": min(3, spec.channels), **options}
        if "crop" in options:
            values["crop"] = tuple(float(v) for v in options["crop"])
        return cls(**values)

    def spatial_maps(self, n: int, joints: int, dims: int, device: torch.device) -> Tensor:
        """One spatial augmentation per clip as per-joint linear maps ``(n, V, d, d)``."""
        corrupt = joint_corruption_matrices(n, joints, dims, self.corrupt_joints, self.corrupt_scale, device=device)
        shear = shear_matrices(n, dims, self.shear, device=device)[:, None].expand(n, joints, dims, dims)
        use_corrupt = torch.rand(n, device=device) < self.p_corrupt
        return torch.where(use_corrupt[:, None, None, None], corrupt, shear)

    def __call__(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``x (N, M, T, V, C)``, ``mask (N, M, T)`` -> a view ``(N, M, frames, V, C)`` and its mask."""
        x, mask = temporal_crop_resize(x, mask, self.crop, self.min_frames, self.frames)
        n, _, _, v, c = x.shape
        d = min(self.spatial_dims, c)
        maps = self.spatial_maps(n, v, d, x.device).to(x.dtype)  # (N, V, d, d)
        coords = torch.einsum("nvij,nmtvj->nmtvi", maps, x[..., :d])
        zeroed = (maps.abs().sum(dim=(-1, -2)) == 0)[:, None, None, :, None]  # a zeroed joint loses every channel
        rest = x[..., d:].masked_fill(zeroed, 0.0)
        return torch.cat([coords, rest], dim=-1), mask
