"""How well estimated poses agree with a reference skeleton of the same recording (e.g. Kinect on NTU RGB+D).

Used to check the MediaPipe -> Kinect layout conversion (``benchmarks/conversion_check.py``): joints converted from
the estimator must land where the reference puts the same-named joint, in the image (pixels) and in 3D after the
normalization a model sees, and their trajectories must move together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from skelrec.errors import SkelrecError
from skelrec.pose.sequence import PoseSequence
from skelrec.skeleton import Layout, Normalization, get_layout, normalize

__all__ = ["Agreement", "compare_skeletons", "compare_with_reference"]


@dataclass
class Agreement:
    """Per-joint agreement of an estimate with a reference, over the frames where the estimate found the person.

    Distances are in torso lengths (spine base -> spine shoulder): the reference's median torso in pixels for
    image distances; for 3D, each skeleton is normalized on its own (:func:`skelrec.skeleton.normalize`).

    Attributes:
        layout: joint order of all ``(V, ...)`` arrays.
        normalization: the normalization applied to both skeletons before the 3D comparison.
        frames: number of compared frames.
        pixel_error: ``(V,)`` mean image distance.
        pixel_error_tracked: ``(V,)`` the same over frames where the reference marks the joint as tracked (NaN when
            it never is; equals ``pixel_error`` when no tracking state was given).
        position_error: ``(V,)`` mean 3D distance after normalization.
        axis_error: ``(V, 3)`` mean absolute difference per axis (x, y, z) after normalization.
        correlation: ``(V, 3)`` Pearson correlation of the per-axis trajectories; NaN where the reference moves less
            than ``min_motion`` (standard deviation in torso lengths) along that axis.
        motion: ``(V,)`` mean distance of the estimated joint from its average position (how much it moves).
        reference_motion: ``(V,)`` the same for the reference.
    """

    layout: str
    normalization: dict[str, Any]
    frames: int
    pixel_error: np.ndarray
    pixel_error_tracked: np.ndarray
    position_error: np.ndarray
    axis_error: np.ndarray
    correlation: np.ndarray
    motion: np.ndarray
    reference_motion: np.ndarray

    def most_moving(self, k: int = 4, *, reference: bool = False) -> list[str]:
        """Names of the ``k`` joints that move most in the estimate (or in the reference)."""
        motion = self.reference_motion if reference else self.motion
        joints = get_layout(self.layout).joints
        return [joints[j] for j in np.argsort(-motion)[:k]]

    def joint(self, name: str) -> dict[str, Any]:
        """JSON-ready numbers of one joint."""
        j = get_layout(self.layout).index(name)
        return {
            "pixel_error": _num(self.pixel_error[j]),
            "pixel_error_tracked": _num(self.pixel_error_tracked[j]),
            "position_error": _num(self.position_error[j]),
            "axis_error_xyz": [_num(v) for v in self.axis_error[j]],
            "correlation_xyz": [_num(v) for v in self.correlation[j]],
            "motion": _num(self.motion[j]),
            "reference_motion": _num(self.reference_motion[j]),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "normalization": self.normalization,
            "frames": self.frames,
            "mean_position_error": _num(np.mean(self.position_error)),
            "mean_axis_error_xyz": [_num(v) for v in self.axis_error.mean(axis=0)],
            "most_moving": self.most_moving(),
            "most_moving_reference": self.most_moving(reference=True),
            "joints": {n: self.joint(n) for n in get_layout(self.layout).joints},
        }


def _num(v: float) -> float | None:
    return None if not np.isfinite(v) else round(float(v), 4)


def compare_with_reference(
    poses: PoseSequence,
    reference_xyz: np.ndarray,
    reference_px: np.ndarray,
    *,
    layout: str = "ntu25",
    reference_tracked: np.ndarray | None = None,
    **options: Any,
) -> Agreement:
    """Compare person 0 of ``poses`` with a reference skeleton recorded on the same frames.

    Frames where the estimate found nobody are left out. ``options`` go to :func:`compare_skeletons`.

    Args:
        poses: estimated poses, one entry per reference frame.
        reference_xyz: ``(T, V, 3)`` reference joints in skelrec axes (metres), ``layout`` order.
        reference_px: ``(T, V, 2)`` reference joints in the video's pixels.
        layout: the common layout; the estimate is converted to it.
        reference_tracked: ``(T, V)`` bool, where the reference measured (not inferred) the joint.
    """
    t = poses.num_frames
    if reference_xyz.shape[0] != t or reference_px.shape[0] != t:
        raise SkelrecError(
            f"estimate has {t} frames but the reference has {reference_xyz.shape[0]}; compare the same recording"
        )
    keep = poses.present[0]
    if not keep.any():
        raise SkelrecError("the estimate found nobody in any frame; nothing to compare")
    est_px = poses.image_joints(layout)[0, :, :, :2] * np.array([poses.width, poses.height], np.float32)
    tracked = None if reference_tracked is None else reference_tracked[keep]
    return compare_skeletons(
        poses.to_skeleton(layout)[0, keep],
        est_px[keep],
        reference_xyz[keep],
        reference_px[keep],
        layout=layout,
        reference_tracked=tracked,
        **options,
    )


def compare_skeletons(
    est_xyz: np.ndarray,
    est_px: np.ndarray,
    ref_xyz: np.ndarray,
    ref_px: np.ndarray,
    *,
    layout: str = "ntu25",
    normalization: Normalization | None = None,
    reference_tracked: np.ndarray | None = None,
    min_motion: float = 0.05,
) -> Agreement:
    """Per-joint agreement of two skeletons of the same ``T`` frames.

    Args:
        est_xyz: ``(T, V, 3)`` estimated joints in skelrec axes.
        est_px: ``(T, V, 2)`` estimated joints in pixels.
        ref_xyz: ``(T, V, 3)`` reference joints in skelrec axes.
        ref_px: ``(T, V, 2)`` reference joints in pixels.
        layout: joint order of all arrays.
        normalization: applied to both before the 3D comparison (default: ``Normalization()``).
        reference_tracked: ``(T, V)`` bool, where the reference measured (not inferred) the joint.
        min_motion: axes along which the reference moves less than this (std, torso lengths) get no correlation.
    """
    lay, norm = get_layout(layout), normalization or Normalization()
    torso_px = np.median(np.linalg.norm(_mean(ref_px, lay.torso_top, lay) - _mean(ref_px, lay.center, lay), axis=-1))
    px_err = np.linalg.norm(est_px - ref_px, axis=-1) / torso_px  # (T, V)
    tracked = np.ones_like(px_err, bool) if reference_tracked is None else reference_tracked
    with np.errstate(invalid="ignore"):
        px_tracked = np.where(tracked, px_err, 0).sum(axis=0) / tracked.sum(axis=0)
    est, _ = normalize(est_xyz[None], lay, norm)
    ref, _ = normalize(ref_xyz[None], lay, norm)
    est, ref = est[0], ref[0]  # (T, V, 3)
    return Agreement(
        layout=lay.name,
        normalization=norm.to_dict(),
        frames=int(est_xyz.shape[0]),
        pixel_error=px_err.mean(axis=0),
        pixel_error_tracked=px_tracked,
        position_error=np.linalg.norm(est - ref, axis=-1).mean(axis=0),
        axis_error=np.abs(est - ref).mean(axis=0),
        correlation=_pearson(est, ref, min_motion),
        motion=_motion(est),
        reference_motion=_motion(ref),
    )


def _mean(x: np.ndarray, names: tuple[str, ...], lay: Layout) -> np.ndarray:
    return x[..., lay.indices(names), :].mean(axis=-2)


def _motion(x: np.ndarray) -> np.ndarray:
    """``(T, V, 3)`` -> ``(V,)`` mean distance from the joint's average position."""
    return np.linalg.norm(x - x.mean(axis=0), axis=-1).mean(axis=0)


def _pearson(a: np.ndarray, b: np.ndarray, min_std: float) -> np.ndarray:
    """Per joint and axis correlation over time of ``(T, V, 3)`` arrays; NaN where ``b`` barely moves."""
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    sa, sb = np.sqrt((a**2).mean(axis=0)), np.sqrt((b**2).mean(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).mean(axis=0) / (sa * sb)
    return np.where((sb >= min_std) & (sa > 0), r, np.nan)
