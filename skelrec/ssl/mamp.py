"""MAMP: Masked Motion Prediction (Mao et al., ICCV 2023; ``maoyunyao/MAMP@09e6252`` ``model_mamp/transformer.py``).

The skeleton transformer encodes the ~10% of tokens left visible by motion-aware masking; an MAE decoder predicts,
for every masked token, the *motion* of its frames, ``x_{t+1} - x_t``, normalised per patch::

    P    = patchify(x)                                         # (B, T', V, p*C)
    mask ~ GumbelTopK(softmax(|P_t - P_{t-1}| / (tau * max)))  # 90% of the tokens, moving ones more often
    y    = norm(patchify(x_{t+1} - x_t))                       # per-patch mean/var normalisation
    L    = mean over masked tokens of ||decoder(encoder(P_visible)) - y||^2

Paper config: ratio 0.9, tau 0.80 (NTU-60, PKU) / 0.75 (NTU-120), decoder 256 wide, 3 blocks (NTU-60) or 5
(NTU-120, PKU). ``motion_aware_tau <= 0`` falls back to random masking, as in MAMP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skelrec.models.base import fold_persons
from skelrec.models.transformer import gather_tokens
from skelrec.ssl.base import InputSpec, Method, MethodOptions, check_mask_ratio, register_method, require_option
from skelrec.ssl.decoder import MaskedDecoder, require_token_encoder
from skelrec.ssl.masking import MaskIndices, mamp_masking
from skelrec.ssl.targets import frame_motion, normalize_per_patch, patchify

__all__ = ["MAMP", "MAMPOptions"]


@dataclass(frozen=True)
class MAMPOptions(MethodOptions):
    """MAMP's ``method.kwargs``.

    Attributes:
        mask_ratio: fraction of tokens masked.
        motion_aware_tau: temperature of the motion-aware masking; ``<= 0`` = random masking.
        motion_stride: ``s`` of the motion target ``x_{t+s} - x_t``.
        norm_target: normalise each target patch by its mean and variance (MAMP ``norm_skes_loss``).
        decoder_dim, decoder_depth, decoder_heads: the MAE decoder.
    """

    mask_ratio: float = 0.9
    motion_aware_tau: float = 0.8
    motion_stride: int = 1
    norm_target: bool = True
    decoder_dim: int = 256
    decoder_depth: int = 3
    decoder_heads: int = 8

    def check(self) -> None:
        check_mask_ratio(self.mask_ratio)
        require_option(self.motion_stride >= 1, "motion_stride", f"must be >= 1, got {self.motion_stride}")


@register_method("mamp")
class MAMP(Method):
    """Masked motion prediction around a :class:`~skelrec.models.transformer.SkeletonTransformer`.

    Options: :class:`MAMPOptions`. Encoder: the skeleton transformer.
    """

    Options = MAMPOptions
    options: MAMPOptions

    def __init__(self, encoder: nn.Module, spec: InputSpec, **options: Any) -> None:
        super().__init__(encoder, spec, **options)
        o = self.options
        transformer = require_token_encoder(encoder, "mamp")
        self.mask_ratio, self.motion_aware_tau = o.mask_ratio, o.motion_aware_tau
        self.motion_stride, self.norm_target = o.motion_stride, o.norm_target
        self.patch_frames = transformer.config.patch_frames
        self.decoder = MaskedDecoder.for_encoder(
            transformer,
            self.patch_frames * transformer.in_channels,
            dim=o.decoder_dim,
            depth=o.decoder_depth,
            num_heads=o.decoder_heads,
        )

    def sample_mask(self, patches: Tensor, generator: torch.Generator | None = None) -> MaskIndices:
        """Tokens to mask for ``patches (B, T', V, p*C)``: motion-aware when ``motion_aware_tau > 0``."""
        return mamp_masking(patches, self.mask_ratio, self.motion_aware_tau, generator=generator)

    def motion_target(self, x: Tensor) -> Tensor:
        """Per-token target ``(B, T, V, C) -> (B, L, p*C)``: the patch of ``x_{t+s} - x_t``, normalised per patch."""
        target = patchify(frame_motion(x.float(), self.motion_stride), self.patch_frames).flatten(1, 2)
        return normalize_per_patch(target) if self.norm_target else target

    def forward(self, batch: Mapping[str, Tensor], *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """``{"loss"}``: MSE between predicted and true motion of the masked tokens; ``generator`` seeds the mask."""
        x = fold_persons(batch["x"])  # (B, T, V, C)
        patches = patchify(x, self.patch_frames)  # (B, T', V, p*C)
        _, t_steps, v, _ = patches.shape
        m = self.sample_mask(patches, generator)
        latent = self.encoder.forward_tokens(self.encoder.embed(x), keep_idx=m.keep)  # (B, L_keep, D)
        pred = gather_tokens(self.decoder(latent, m.keep, (t_steps, v)), m.masked)  # (B, L_mask, p*C)
        target = gather_tokens(self.motion_target(x), m.masked)
        return {"loss": F.mse_loss(pred.float(), target)}
