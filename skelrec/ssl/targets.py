"""Patch and target utilities shared by the masked-modelling methods.

A *patch* is the raw content of one transformer token: ``p`` consecutive frames of one joint, flattened frame-major
to ``p * C`` values, exactly as :meth:`skelrec.models.transformer.SkeletonTransformer.patchify` lays them out before
its linear embedding. Patches are kept on the ``(T', V)`` grid; ``patches.flatten(-3, -2)`` gives the encoder's
token order ``L = T' * V`` (row-major over ``(T', V)``).

* MAMP regresses the next-frame motion of masked patches, each normalised by its own mean and variance.
* Skeleton2vec (data2vec) regresses the average of the teacher's top layers, each instance-normalised over the
  tokens, then layer-normalised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from skelrec.errors import SkelrecError
from skelrec.registry import Registry

__all__ = [
    "LAYER_NORMS",
    "average_top_layers",
    "frame_motion",
    "instance_norm_tokens",
    "layer_norm_channels",
    "normalize_per_patch",
    "patch_motion",
    "patchify",
    "token_motion",
    "unpatchify",
]


def patchify(x: Tensor, patch_frames: int) -> Tensor:
    """Group frames into token patches: ``(..., T, V, C) -> (..., T/p, V, p*C)`` (frame-major inside a patch).

    Works for a batch ``(N, M, T, V, C)`` as well as persons folded into the batch ``(B, T, V, C)``.
    """
    *lead, t, v, c = x.shape
    p = patch_frames
    if t % p:
        raise SkelrecError(f"clip of {t} frames is not a multiple of the patch of {p} frames; crop or resample it")
    x = x.reshape(*lead, t // p, p, v, c).transpose(-3, -2)  # (..., T', V, p, C)
    return x.reshape(*lead, t // p, v, p * c)


def unpatchify(patches: Tensor, patch_frames: int) -> Tensor:
    """Inverse of :func:`patchify`: ``(..., T', V, p*C) -> (..., T'*p, V, C)``."""
    *lead, t_steps, v, pc = patches.shape
    p = patch_frames
    if pc % p:
        raise SkelrecError(f"patch of {pc} values does not split into {p} frames")
    x = patches.reshape(*lead, t_steps, v, p, pc // p).transpose(-3, -2)  # (..., T', p, V, C)
    return x.reshape(*lead, t_steps * p, v, pc // p)


def frame_motion(x: Tensor, stride: int = 1) -> Tensor:
    """Forward motion ``m_t = x_{t+s} - x_t`` of ``(..., T, V, C)``; the last ``s`` frames get zeros.

    MAMP ``extract_motion`` and PYSKL ``ToMotion`` (used by Skeleton2vec) both define motion this way.
    """
    motion = torch.zeros_like(x)
    motion[..., :-stride, :, :] = x[..., stride:, :, :] - x[..., :-stride, :, :]
    return motion


def patch_motion(patches: Tensor) -> Tensor:
    """MAMP's motion intensity per token: ``mean |P_t - P_{t-1}|`` over a patch, ``(..., T', V, P) -> (..., T', V)``.

    The difference is between consecutive *patches* of the same joint; the first step copies the second (MAMP
    ``motion_aware_random_masking``). A single-step clip has no motion (zeros).
    """
    step = (patches[..., 1:, :, :] - patches[..., :-1, :, :]).abs().mean(dim=-1)  # (..., T'-1, V)
    if step.shape[-2] == 0:
        return patches.new_zeros(patches.shape[:-1])
    return torch.cat([step[..., :1, :], step], dim=-2)


def token_motion(x: Tensor, patch_frames: int) -> Tensor:
    """Skeleton2vec's motion intensity per token: ``mean |x_{t+1} - x_t|`` over a token's frames and channels,
    ``(..., T, V, C) -> (..., T', V)``."""
    return patchify(frame_motion(x), patch_frames).abs().mean(dim=-1)


def normalize_per_patch(patches: Tensor, eps: float = 1e-6) -> Tensor:
    """``(P - mean(P)) / sqrt(var(P) + eps)`` over the last dim of ``(..., P)`` (MAE/MAMP ``norm_skes_loss``).

    The variance is the unbiased one, as ``torch.var``'s default in MAMP; an all-zero patch stays zero.
    """
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True)
    return (patches - mean) / (var + eps).sqrt()


def instance_norm_tokens(h: Tensor, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of ``h (B, L, D)`` over the ``L`` tokens of its sample (``F.instance_norm`` on
    ``(B, D, L)``, data2vec's per-layer target norm; biased variance, no affine)."""
    return F.instance_norm(h.transpose(1, 2), eps=eps).transpose(1, 2)


def layer_norm_channels(h: Tensor, eps: float = 1e-5) -> Tensor:
    """Normalise each token of ``h (..., D)`` over its ``D`` channels (``F.layer_norm`` without affine)."""
    return F.layer_norm(h, h.shape[-1:], eps=eps)


LAYER_NORMS: Registry[Callable[[Tensor], Tensor]] = Registry(
    "target_layer_norm", {"instance_norm": instance_norm_tokens, "layer_norm": layer_norm_channels}
)
"""Per-layer target normalisations of data2vec by name (Skeleton2vec's paper config: ``instance_norm``)."""


def average_top_layers(
    layers: Sequence[Tensor], k: int, *, per_layer: str = "instance_norm", final: str | None = "layer_norm"
) -> Tensor:
    """data2vec target: ``y = final(mean_{l in top k} per_layer(h_l))`` over block outputs ``h_l (B, L, D)``.

    Args:
        layers: every block's output, first block first (``forward_tokens(..., return_layers=True)``).
        k: how many of the last blocks to average (Skeleton2vec: 8 of 8).
        per_layer, final: :data:`LAYER_NORMS` names; ``final=None`` skips the final normalisation.

    Returns:
        ``(B, L, D)`` float32 targets.
    """
    if not 1 <= k <= len(layers):
        raise SkelrecError(f"top_k_layers={k} must be between 1 and the encoder's {len(layers)} blocks")
    norm = LAYER_NORMS[per_layer]
    final_norm = LAYER_NORMS[final] if final is not None else None
    y = torch.stack([norm(h.float()) for h in layers[-k:]]).mean(dim=0)
    return final_norm(y) if final_norm is not None else y
