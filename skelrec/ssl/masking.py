"""Token masking strategies shared by the masked-modelling methods (MAMP, Skeleton2vec, MacDiff).

Tokens are the flattened ``L = T' * V`` grid of the skeleton transformer (row-major over ``(T', V)``, see
:meth:`skelrec.models.transformer.SkeletonTransformer.forward_tokens`). Every strategy returns a
:class:`MaskIndices`: the ascending indices of the visible and of the masked tokens and a boolean mask; every
sample of a batch masks the same number of tokens. Randomness comes from ``generator`` when one is given, else from
torch's global generator (seeded by the training loop).

* :func:`random_masking`: a uniformly random subset (MAE; MacDiff).
* :func:`motion_aware_masking`: MAMP's sampling without replacement, biased towards high-motion tokens.
* :func:`motion_aware_tube_masking`: Skeleton2vec's: the same joints masked over a tube of consecutive token
  steps, joints with more motion more likely.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from skelrec.errors import SkelrecError
from skelrec.ssl.targets import patch_motion

__all__ = [
    "MaskIndices",
    "mamp_masking",
    "mask_from_scores",
    "mask_indices",
    "motion_aware_masking",
    "motion_aware_tube_masking",
    "num_masked",
    "random_masking",
]


class MaskIndices(NamedTuple):
    """Which tokens of ``(B, L)`` are visible and which are masked.

    Attributes:
        keep: ``(B, L_keep)`` int64 ascending indices of the visible tokens (the encoder's ``keep_idx``).
        masked: ``(B, L_mask)`` int64 ascending indices of the masked tokens, ``L_keep + L_mask = L``.
        mask: ``(B, L)`` bool, True where a token is masked.
    """

    keep: Tensor
    masked: Tensor
    mask: Tensor


def num_masked(num_tokens: int, ratio: float) -> int:
    """How many of ``num_tokens`` a ``ratio`` masks: ``L - round(L * (1 - ratio))``.

    MAE/MAMP write ``int(L * (1 - ratio))``, which floating point turns into 74 visible tokens of 750 at ratio 0.9;
    rounding keeps the ratio exact (75).
    """
    if not 0.0 <= ratio < 1.0:
        raise SkelrecError(f"mask ratio {ratio} is outside [0, 1); set method.kwargs.mask_ratio to e.g. 0.9")
    return num_tokens - round(num_tokens * (1.0 - ratio))


def mask_indices(mask: Tensor, num_mask: int) -> MaskIndices:
    """:class:`MaskIndices` of a boolean ``mask (B, L)`` in which every row masks exactly ``num_mask`` tokens.

    ``num_mask`` is passed rather than counted so that no value travels from the device to the host.
    """
    order = torch.argsort(mask.to(torch.int8), dim=1, stable=True)  # visible first, each part ascending
    num_keep = mask.shape[1] - num_mask
    return MaskIndices(order[:, :num_keep], order[:, num_keep:], mask)


def mask_from_scores(scores: Tensor, num_mask: int) -> MaskIndices:
    """Mask the ``num_mask`` highest-scoring tokens of each row of ``scores (B, L)``."""
    top = torch.topk(scores, num_mask, dim=1).indices  # (B, L_mask)
    mask = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device).scatter_(1, top, True)
    return mask_indices(mask, num_mask)


def random_masking(
    batch_size: int,
    num_tokens: int,
    ratio: float,
    *,
    device: torch.device | str,
    generator: torch.Generator | None = None,
) -> MaskIndices:
    """Mask a uniformly random ``ratio`` of the ``num_tokens`` tokens of each of ``batch_size`` samples (MAE)."""
    noise = torch.rand(batch_size, num_tokens, device=device, generator=generator)
    return mask_from_scores(noise, num_masked(num_tokens, ratio))


def gumbel_noise(shape: torch.Size, *, device: torch.device, generator: torch.Generator | None = None) -> Tensor:
    """Standard Gumbel samples ``-log(-log U)``, ``U ~ Uniform(0, 1)`` (clamped away from 0 and 1)."""
    u = torch.rand(shape, device=device, generator=generator).clamp_(1e-10, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


def motion_aware_masking(
    motion: Tensor, ratio: float, tau: float, *, generator: torch.Generator | None = None
) -> MaskIndices:
    """MAMP's motion-aware masking of the tokens of ``motion (B, T', V)`` (or already flat ``(B, L)``).

    ``pi = softmax(m / (tau * max m))`` per sample, then ``ratio * L`` tokens are drawn without replacement from
    ``pi`` by Gumbel-top-k (MAMP ``motion_aware_random_masking``: ``log pi + Gumbel`` ranks the tokens). A smaller
    ``tau`` sharpens the bias towards moving tokens (MAMP: 0.80 NTU-60/PKU, 0.75 NTU-120).

    Args:
        motion: non-negative motion intensity per token, e.g. :func:`skelrec.ssl.targets.patch_motion`.
        ratio: fraction of tokens to mask.
        tau: temperature, > 0.
        generator: source of the Gumbel noise.
    """
    if tau <= 0:
        raise SkelrecError(f"motion-aware masking needs a temperature tau > 0, got {tau}; use random_masking instead")
    m = motion.flatten(1).float()  # (B, L)
    logits = m / (m.amax(dim=1, keepdim=True) * tau + 1e-10)
    scores = torch.log_softmax(logits, dim=1) + gumbel_noise(m.shape, device=m.device, generator=generator)
    return mask_from_scores(scores, num_masked(m.shape[1], ratio))


def mamp_masking(patches: Tensor, ratio: float, tau: float, *, generator: torch.Generator | None = None) -> MaskIndices:
    """MAMP's choice for token patches ``(B, T', V, P)``: motion-aware masking of their :func:`patch_motion` when
    ``tau > 0``, uniformly random masking otherwise (MAMP ``motion_aware_tau <= 0``; MacDiff uses -1)."""
    if tau > 0:
        return motion_aware_masking(patch_motion(patches), ratio, tau, generator=generator)
    b, t_steps, v, _ = patches.shape
    return random_masking(b, t_steps * v, ratio, device=patches.device, generator=generator)


def motion_aware_tube_masking(
    motion: Tensor,
    ratio: float,
    *,
    tube_len: int = 5,
    s_tau: float = 0.1,
    generator: torch.Generator | None = None,
) -> MaskIndices:
    """Skeleton2vec's motion-aware tube masking of a ``(B, T', V)`` token grid.

    The ``T'`` token steps are cut into tubes of ``tube_len`` consecutive steps (the last tube may be shorter). In
    each tube the same ``num_masked(V, ratio)`` joints are masked at every step; they are the joints with the
    highest score ``u + s_tau * m / max_v m`` with ``u ~ Uniform(0, 1)`` and ``m`` the joint's motion averaged over
    the tube (``Ruizhuo-Xu/SKeleton2vec-code`` ``motion_aware_tube_masking``; paper: ``tube_len=5``,
    ``s_tau=0.1``). ``s_tau=0`` (or all-zero motion) is plain random tube masking.

    Args:
        motion: ``(B, T', V)`` non-negative motion intensity per token (mean ``|x_{t+1} - x_t|`` over the patch).
        ratio: fraction of the joints masked at each token step (so also of all tokens).
        tube_len: token steps per tube.
        s_tau: weight of the motion term.
        generator: source of the uniform noise.
    """
    if motion.dim() != 3:
        raise SkelrecError(f"tube masking needs motion shaped (B, T', V), got {tuple(motion.shape)}")
    if tube_len < 1:
        raise SkelrecError(f"tube_len must be >= 1, got {tube_len}")
    b, t_steps, v = motion.shape
    tube_of_step = torch.arange(t_steps, device=motion.device) // tube_len  # (T',)
    tubes = (t_steps + tube_len - 1) // tube_len
    steps_per_tube = torch.bincount(tube_of_step, minlength=tubes).to(motion.dtype)  # (tubes,)
    tube_motion = motion.new_zeros(b, tubes, v).index_add_(1, tube_of_step, motion)  # (B, tubes, V)
    tube_motion = tube_motion / steps_per_tube[:, None]
    tube_motion = tube_motion / (tube_motion.amax(dim=2, keepdim=True) + 1e-6)
    noise = torch.rand(b, tubes, v, device=motion.device, generator=generator)
    scores = noise + s_tau * tube_motion.float()
    per_step = num_masked(v, ratio)
    top = torch.topk(scores, per_step, dim=2).indices  # (B, tubes, V_mask)
    joint_mask = torch.zeros(b, tubes, v, dtype=torch.bool, device=motion.device).scatter_(2, top, True)
    return mask_indices(joint_mask[:, tube_of_step].flatten(1), t_steps * per_step)  # (B, T' * V)
