"""Skeleton2vec: data2vec-style contextualised-target regression for skeletons (Xu et al., 2024).

Re-implemented from the authors' working repository ``Ruizhuo-Xu/SKeleton2vec-code`` (branch ``dev``, config
``configs/ntu60_xsub/pretrain_skt2vec2.yaml`` @67af323, ``models/skeleton2vec.py`` ``Skeleton2Vec2`` and
``models/transformer.py`` ``SkTWithDecoder``)::

    teacher = EMA(student encoder)                    # decay 0.9999 -> 1.0 linearly over the run
    y       = LN(mean_{top k} IN(h_l^teacher(x)))     # unmasked input; IN over tokens per channel; LN no affine
    mask    = motion-aware tube masking (90%, tubes of 5 token steps, s_tau = 0.1)
    z       = encoder(visible tokens)                 # the encoder's final LayerNorm included
    y_hat   = decoder(z + mask tokens)                # 3 blocks, linear head to the encoder width
    L       = mean over masked tokens of ||y_hat - y||^2

Facts read in the authors' code: the decoder receives MAE mask tokens at the masked positions and its blocks share
the encoder's LayerScale (1e-4); the student's latent is the normalised last layer; the teacher runs in eval mode
and its target layers are the raw block outputs (before the final norm); their linear probe evaluates the EMA
teacher, so :meth:`Skeleton2vec.pretrained_encoder` returns the teacher.
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
from skelrec.ssl.base import (
    InputSpec,
    Method,
    MethodOptions,
    check_mask_ratio,
    register_method,
    require_option,
    require_registered,
)
from skelrec.ssl.decoder import MaskedDecoder, require_token_encoder
from skelrec.ssl.ema import DECAY_SCHEDULES, EMATeacher
from skelrec.ssl.masking import MaskIndices, motion_aware_tube_masking
from skelrec.ssl.targets import LAYER_NORMS, average_top_layers, token_motion

__all__ = ["Skeleton2vec", "Skeleton2vecOptions"]


@dataclass(frozen=True)
class Skeleton2vecOptions(MethodOptions):
    """Skeleton2vec's ``method.kwargs``.

    Attributes:
        mask_ratio: fraction of the joints masked at each token step.
        tube_len: token steps sharing one joint mask.
        s_tau: weight of the motion bias of the joint choice.
        top_k_layers: teacher blocks averaged into the target (at most the encoder depth).
        target_layer_norm: per-layer target normalisation (:data:`skelrec.ssl.targets.LAYER_NORMS` name).
        normalize_targets: layer-normalise the averaged target.
        decoder_dim, decoder_depth, decoder_heads, decoder_layer_scale: the MAE decoder.
        ema_decay, ema_end_decay, ema_anneal_steps, ema_schedule: the teacher's decay schedule
            (:class:`~skelrec.ssl.ema.EMATeacher`; the authors anneal over 251,200 steps, 400 NTU-60 xsub epochs
            of batch 64).
        export_teacher: export the EMA teacher (as the authors evaluate) instead of the student.
    """

    mask_ratio: float = 0.9
    tube_len: int = 5
    s_tau: float = 0.1
    top_k_layers: int = 8
    target_layer_norm: str = "instance_norm"
    normalize_targets: bool = True
    decoder_dim: int = 256
    decoder_depth: int = 3
    decoder_heads: int = 8
    decoder_layer_scale: float | None = 1e-4
    ema_decay: float = 0.9999
    ema_end_decay: float = 1.0
    ema_anneal_steps: int = 251_200
    ema_schedule: str = "linear"
    export_teacher: bool = True

    def check(self) -> None:
        check_mask_ratio(self.mask_ratio)
        require_option(self.tube_len >= 1, "tube_len", f"must be >= 1, got {self.tube_len}")
        require_option(self.top_k_layers >= 1, "top_k_layers", f"must be >= 1, got {self.top_k_layers}")
        require_registered(LAYER_NORMS, self.target_layer_norm, "target_layer_norm")
        require_registered(DECAY_SCHEDULES, self.ema_schedule, "ema_schedule")
        for key in ("ema_decay", "ema_end_decay"):
            value = getattr(self, key)
            require_option(0 <= value <= 1, key, f"must be in [0, 1], got {value}")


@register_method("skeleton2vec")
class Skeleton2vec(Method):
    """Regress an EMA teacher's averaged top-layer features at masked tokens.

    Options: :class:`Skeleton2vecOptions`. Encoder: the skeleton transformer (paper: ``patch_frames=3,
    num_frames=90, layer_scale_init=1e-4``).
    """

    Options = Skeleton2vecOptions
    options: Skeleton2vecOptions

    def __init__(self, encoder: nn.Module, spec: InputSpec, **options: Any) -> None:
        super().__init__(encoder, spec, **options)
        o = self.options
        transformer = require_token_encoder(encoder, "skeleton2vec")
        depth = transformer.config.depth
        top_k = o.top_k_layers
        require_option(top_k <= depth, "top_k_layers", f"must be <= the encoder depth {depth}, got {top_k}")
        self.mask_ratio, self.tube_len, self.s_tau = o.mask_ratio, o.tube_len, o.s_tau
        self.top_k_layers, self.target_layer_norm = o.top_k_layers, o.target_layer_norm
        self.normalize_targets, self.export_teacher = o.normalize_targets, o.export_teacher
        self.patch_frames = transformer.config.patch_frames
        self.decoder = MaskedDecoder.for_encoder(
            transformer,
            transformer.embed_dim,
            dim=o.decoder_dim,
            depth=o.decoder_depth,
            num_heads=o.decoder_heads,
            layer_scale_init=o.decoder_layer_scale,
        )
        decays = {"decay": o.ema_decay, "end_decay": o.ema_end_decay}
        self.teacher = EMATeacher(encoder, **decays, anneal_steps=o.ema_anneal_steps, schedule=o.ema_schedule)

    def sample_mask(self, x: Tensor, generator: torch.Generator | None = None) -> MaskIndices:
        """Motion-aware tube mask of the token grid of ``x (B, T, V, C)``."""
        motion = token_motion(x, self.patch_frames)  # (B, T', V)
        return motion_aware_tube_masking(
            motion, self.mask_ratio, tube_len=self.tube_len, s_tau=self.s_tau, generator=generator
        )

    @torch.no_grad()
    def teacher_targets(self, x: Tensor) -> Tensor:
        """``(B, T, V, C) -> (B, L, D)``: the teacher's top-k block outputs on the whole clip, normalised, averaged."""
        teacher = self.teacher.module
        _, layers = teacher.forward_tokens(teacher.embed(x), return_layers=True)
        final = "layer_norm" if self.normalize_targets else None
        return average_top_layers(layers, self.top_k_layers, per_layer=self.target_layer_norm, final=final)

    def forward(self, batch: Mapping[str, Tensor], *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """``{"loss", "target_std", "pred_std"}``; the stds (over tokens, mean over channels) watch for collapse."""
        x = fold_persons(batch["x"])  # (B, T, V, C)
        m = self.sample_mask(x, generator)
        tokens = self.encoder.embed(x)  # (B, T', V, D)
        latent = self.encoder.forward_tokens(tokens, keep_idx=m.keep)  # (B, L_keep, D)
        pred = gather_tokens(self.decoder(latent, m.keep, tokens.shape[1:3]), m.masked).float()  # (B, L_mask, D)
        target = gather_tokens(self.teacher_targets(x), m.masked)
        return {
            "loss": F.mse_loss(pred, target),
            "target_std": target.detach().std(dim=1).mean(),
            "pred_std": pred.detach().std(dim=1).mean(),
        }

    def on_step_end(self, step: int) -> None:
        """EMA update of the teacher from the student encoder."""
        self.teacher.update(self.encoder, step)

    def pretrained_encoder(self) -> nn.Module:
        return self.teacher.module if self.export_teacher else self.encoder
