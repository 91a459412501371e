"""MacDiff: masked conditional diffusion for skeleton representation learning (Wu et al., ECCV'24).

Recipe from the author commits ``Wenrui-Shen/MacDiff@692888f`` (``model/transformer_macdiff.py``,
``guided_diffusion/gaussian_diffusion.py``, ``model/util.py``; RECIPES.md):

* the encoder (the MAMP transformer) sees a 90 %-masked view of the skeleton plus joint noise (std 0.005); masked
  tokens never enter it;
* a diffusion decoder denoises the *whole* noisy skeleton ``x_t`` (its own patch embedding and position
  embeddings, no mask tokens), conditioned on the encoder through feature modulation of every LayerNorm
  (:class:`FeatureModulation`): ``z`` is the encoder latent at visible positions and the mean latent at masked
  ones; 10 % of the samples get ``z = 0`` (classifier-free guidance becomes possible at sampling time);
* 1000 steps, epsilon prediction, uniform ``t``, the ``inverse_cosine`` schedule with ``tau = 1``;
* ``loss = MSE(eps_hat, eps) on masked patches + 0.02 * token uniformity of the encoder tokens``;
* coordinates are standardised per axis (``(x - mean) / sqrt(var)``, NTU statistics of the author config) for
  the encoder and the diffusion alike.

Beyond pretraining the decoder generates skeletons: :meth:`MacDiff.sample` draws sequences for a representation,
:func:`diffusion_augment` makes new labelled clips from labelled ones (the paper's semi-supervised augmentation) and
:func:`load_macdiff` rebuilds the whole method from an exported checkpoint. The export (:meth:`MacDiff.export_state`)
holds the encoder with the input standardisation folded into its patch embedding -- downstream code feeds it raw
coordinates, like any other encoder -- and the decoder under the ``method.`` prefix.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skelrec.checkpoint import METHOD_PREFIX, build_model, load_checkpoint, load_state_strict
from skelrec.config import ConfigValueError
from skelrec.errors import SkelrecError
from skelrec.models.layers import TransformerBlock, init_vit_weights
from skelrec.ssl.base import (
    OPTIONS_KEY,
    InputSpec,
    Method,
    MethodOptions,
    check_mask_ratio,
    register_method,
    require_option,
    require_registered,
)
from skelrec.ssl.decoder import require_token_encoder
from skelrec.ssl.diffusion import (
    NOISE_SCHEDULES,
    GaussianDiffusion,
    classifier_free_guidance,
    make_betas,
    timestep_embedding,
)
from skelrec.ssl.masking import MaskIndices, mamp_masking
from skelrec.ssl.targets import patchify, unpatchify

__all__ = [
    "NTU_INPUT_MEAN",
    "NTU_INPUT_VAR",
    "SAMPLE_CLIP",
    "AugmentedBatch",
    "DiffusionDecoder",
    "FeatureModulation",
    "MacDiff",
    "MacDiffOptions",
    "diffusion_augment",
    "drop_condition",
    "fill_condition",
    "fold_standardization",
    "input_statistics",
    "load_macdiff",
    "token_uniformity",
    "unfold_standardization",
]

NTU_INPUT_MEAN = (-0.0058, -0.1333, -0.0246)
NTU_INPUT_VAR = (0.0206, 0.0805, 0.0218)
"""Per-axis mean / variance of NTU-60 x-sub joints (author config ``pretrain_madiff.yaml``)."""

SAMPLE_CLIP = 6.0
"""Default bound of the predicted ``x_0`` while sampling, in standardised units (real joints stay within about 5).

The inverse-cosine schedule ends at ``abar_999 ~ 2e-6``, so the first reverse steps compute
``x_0 = (x_t - sqrt(1 - abar) eps_hat) / sqrt(abar)`` with a gain of ~700 on the noise-prediction error; unclipped,
an imperfect model's samples diverge (measured: values ~1000 from the cpu_small model after 10 epochs). The
guided-diffusion samplers the author code ships clip to ``[-1, 1]`` by default (``clip_denoised=True``), which would
cut real poses here.
"""


# ------------------------------------------------------------------------------------------------------------------
# Pieces of the objective (pure functions).
# ------------------------------------------------------------------------------------------------------------------


def token_uniformity(tokens: Tensor, eps: float = 1e-12) -> Tensor:
    """Mean squared cosine similarity between the tokens of each sample, ``(B, L, D)`` -> scalar.

    ``mean_{b,i,j} cos(h_bi, h_bj)^2`` over all pairs, the diagonal included (``model/util.py``
    ``token_uniformity_loss``): it is small when a sample's tokens spread over many directions.
    """
    h = F.normalize(tokens, dim=-1, eps=eps)
    return (h @ h.transpose(1, 2)).pow(2).mean()


def fill_condition(latent: Tensor, keep: Tensor, num_tokens: int) -> Tensor:
    """``z`` on the full token grid: the latent at visible positions, the sample's mean latent elsewhere.

    Args:
        latent: ``(B, L_keep, D)`` encoder output of the visible tokens.
        keep: ``(B, L_keep)`` their indices in ``[0, num_tokens)``.

    Returns:
        ``(B, num_tokens, D)``.
    """
    b, _, d = latent.shape
    pooled = latent.mean(dim=1, keepdim=True).expand(b, num_tokens, d)
    return pooled.scatter(1, keep.unsqueeze(-1).expand(-1, -1, d), latent)


def drop_condition(z: Tensor, ratio: float, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Zero the condition ``z (B, ...)`` of a random ``ratio`` of the samples (classifier-free training).

    Returns:
        ``(z with dropped samples zeroed, dropped (B,) bool)``.
    """
    dropped = torch.rand(z.shape[0], device=z.device, generator=generator) < ratio
    return z * (~dropped).to(z.dtype).reshape(-1, *(1,) * (z.dim() - 1)), dropped


def masked_patch_weight(token_masked: Tensor, frame_valid: Tensor, patch_frames: int) -> Tensor:
    """Loss weight ``(B, T, V, 1)`` of the skeleton elements: 1 inside masked tokens that cover a real frame.

    Args:
        token_masked: ``(B, T', V)`` bool, True where the token was hidden from the encoder.
        frame_valid: ``(B, T)`` bool, True for real frames (``T = T' * patch_frames``).

    With equal-sized patches the weighted element mean per sample equals the author's mean over masked patches of
    the per-patch MSE.
    """
    b, t_steps, _ = token_masked.shape
    token_valid = frame_valid.reshape(b, t_steps, patch_frames).any(dim=-1)  # (B, T')
    weight = token_masked & token_valid[:, :, None]  # (B, T', V)
    return weight.repeat_interleave(patch_frames, dim=1)[..., None]


def input_statistics(x: Tensor, mask: Tensor, *, one_person: bool = True) -> tuple[list[float], list[float]]:
    """Per-channel mean and variance of the real frames of clips ``x (N, M, T, V, C)`` with ``mask (N, M, T)``:
    the ``input_mean`` / ``input_var`` options of :class:`MacDiff` for a new dataset (first persons only when
    ``one_person``)."""
    if one_person:
        x, mask = x[:, :1], mask[:, :1]
    values = x[mask.bool()].reshape(-1, x.shape[-1]).double()  # (frames * V, C)
    return values.mean(dim=0).tolist(), values.var(dim=0).tolist()


def fold_standardization(
    weight: Tensor, bias: Tensor, mean: Tensor, std: Tensor, patch_frames: int
) -> tuple[Tensor, Tensor]:
    """Patch-embedding ``(W', b')`` on raw input equal to ``(W, b)`` on ``(x - mean) / std``.

    ``W (D, p*C)`` reads a patch frame-major (channel ``k % C``): ``W' = W / std``, ``b' = b - W' mean``.
    """
    inv = (1.0 / std).to(weight).repeat(patch_frames)  # (p*C,)
    folded = weight * inv
    return folded, bias - folded @ mean.to(weight).repeat(patch_frames)


def unfold_standardization(
    weight: Tensor, bias: Tensor, mean: Tensor, std: Tensor, patch_frames: int
) -> tuple[Tensor, Tensor]:
    """Inverse of :func:`fold_standardization`: ``W = W' std``, ``b = b' + W' mean``."""
    return weight * std.to(weight).repeat(patch_frames), bias + weight @ mean.to(weight).repeat(patch_frames)


# ------------------------------------------------------------------------------------------------------------------
# The diffusion decoder.
# ------------------------------------------------------------------------------------------------------------------


class FeatureModulation(nn.Module):
    """Conditioned LayerNorm: ``x <- z_s * (t_s * LN(x) + t_b) + z_b`` (MacDiff's AdaLN variant).

    ``(z_s, z_b) = Linear(z)`` per token and ``(t_s, t_b) = Linear(t_emb)`` per sample. Used as the
    ``norm_layer`` of :class:`~skelrec.models.layers.TransformerBlock`, which passes ``(z, t_emb)`` on.

    Args:
        dim: width of ``x``.
        cond_dim: width of ``z`` (the encoder's; default ``dim``).
        time_dim: width of the timestep embedding (MacDiff: 64).
        drop_prob: while training, probability that this layer sees ``z = 0`` for the whole batch (the author
            code's ``layer_mask_ratio``; 0.15 in its NTU-120 x-set config, 0 elsewhere).
    """

    def __init__(self, dim: int, *, cond_dim: int | None = None, time_dim: int = 64, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.cond = nn.Linear(cond_dim or dim, 2 * dim)
        self.time = nn.Linear(time_dim, 2 * dim)
        self.drop_prob = drop_prob

    def forward(self, x: Tensor, z: Tensor, t_emb: Tensor) -> Tensor:
        """``x (B, L, dim)``, ``z (B, L, cond_dim)``, ``t_emb (B, time_dim)`` -> ``(B, L, dim)``."""
        if self.training and self.drop_prob > 0:
            z = z * (torch.rand((), device=z.device) >= self.drop_prob).to(z.dtype)
        z_s, z_b = self.cond(z).chunk(2, dim=-1)  # (B, L, dim) each
        t_s, t_b = self.time(t_emb).unsqueeze(1).chunk(2, dim=-1)  # (B, 1, dim) each
        return z_s * (t_s * self.norm(x) + t_b) + z_b


class DiffusionDecoder(nn.Module):
    """Noise predictor ``eps_hat(x_t, t, z)`` over the full skeleton, conditioned by :class:`FeatureModulation`.

    Args:
        in_channels: ``C``.
        num_joints: ``V``.
        max_steps: token steps ``T'`` of the temporal position embedding (clip frames / ``patch_frames``).
        patch_frames: frames per token ``p`` (the encoder's).
        cond_dim: width of the condition ``z`` (the encoder's).
        dim, depth, num_heads, mlp_ratio: the transformer (MacDiff: 256, 5, 8, 4 -> 5.62M parameters).
        time_dim: width of the sinusoidal timestep embedding (64).
        layer_drop_prob: :class:`FeatureModulation` ``drop_prob`` of every conditioned norm.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        num_joints: int,
        max_steps: int,
        patch_frames: int,
        cond_dim: int,
        dim: int = 256,
        depth: int = 5,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        time_dim: int = 64,
        layer_drop_prob: float = 0.0,
    ) -> None:
        super().__init__()
        self.patch_frames = patch_frames
        self.time_dim = time_dim
        self.patch_embed = nn.Linear(patch_frames * in_channels, dim)
        self.temp_embed = nn.Parameter(torch.zeros(1, max_steps, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1, num_joints, dim))
        norm = partial(FeatureModulation, cond_dim=cond_dim, time_dim=time_dim, drop_prob=layer_drop_prob)
        self.blocks = nn.ModuleList(
            TransformerBlock(dim, num_heads, mlp_ratio=mlp_ratio, norm_layer=norm) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, patch_frames * in_channels)
        self.apply(init_vit_weights)
        nn.init.trunc_normal_(self.temp_embed, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def no_weight_decay(self) -> set[str]:
        return {"temp_embed", "pos_embed"}

    def forward(self, x_t: Tensor, t: Tensor, z: Tensor) -> Tensor:
        """``x_t (B, T, V, C)``, steps ``t (B,)``, ``z (B, T'*V, cond_dim)`` -> predicted noise ``(B, T, V, C)``."""
        tokens = self.patch_embed(patchify(x_t, self.patch_frames))  # (B, T', V, dim)
        b, t_steps, v, _ = tokens.shape
        if t_steps > self.temp_embed.shape[1] or v != self.pos_embed.shape[2]:
            raise SkelrecError(
                f"diffusion decoder built for up to {self.temp_embed.shape[1]} token steps x "
                f"{self.pos_embed.shape[2]} joints got {t_steps} x {v}; build the method for this clip length"
            )
        h = (tokens + self.temp_embed[:, :t_steps] + self.pos_embed).flatten(1, 2)  # (B, L, dim)
        t_emb = timestep_embedding(t, self.time_dim)
        for block in self.blocks:
            h = block(h, z, t_emb)
        return unpatchify(self.head(self.norm(h)).reshape(b, t_steps, v, -1), self.patch_frames)


# ------------------------------------------------------------------------------------------------------------------
# The method.
# ------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MacDiffOptions(MethodOptions):
    """MacDiff's ``method.kwargs``.

    Attributes:
        mask_ratio: fraction of tokens hidden from the encoder (0.9).
        motion_aware_tau: ``> 0`` masks with MAMP's motion-aware sampling at this temperature (the author configs
            of NTU-60 x-view and NTU-120 x-set: 0.8); ``<= 0`` masks uniformly at random (the paper, x-sub: -1).
        joint_noise_std: std of the Gaussian noise added to the encoder's view of real joints (0.005, raw units).
        uncond_ratio: fraction of samples trained without condition (0.1).
        layer_uncond_ratio: per conditioned norm, probability of ``z = 0`` for the batch (0; x-set config 0.15).
        uniformity_weight: weight of :func:`token_uniformity` in the loss (0.02).
        diffusion_steps: ``T`` (1000).
        noise_schedule, noise_schedule_kwargs: :func:`skelrec.ssl.diffusion.make_betas` name and parameters
            (``inverse_cosine`` with ``tau = 1``).
        sampling_variance: DDPM reverse variance, ``large`` (beta, guided-diffusion's default) or ``small``.
        input_mean, input_var: per-axis statistics of the standardisation ``(x - mean) / sqrt(var)`` (one value per
            channel; NTU-60 values by default; ``[0, ...]`` / ``[1, ...]`` turn it off).
        one_person: train on the first person of each clip only (the author code's default); ``False`` folds all
            persons into the batch.
        decoder_dim, decoder_depth, decoder_heads, decoder_mlp_ratio, time_embed_dim: the diffusion decoder.
    """

    mask_ratio: float = 0.9
    motion_aware_tau: float = -1.0
    joint_noise_std: float = 0.005
    uncond_ratio: float = 0.1
    layer_uncond_ratio: float = 0.0
    uniformity_weight: float = 0.02
    diffusion_steps: int = 1000
    noise_schedule: str = "inverse_cosine"
    noise_schedule_kwargs: dict[str, float] | None = None
    sampling_variance: Literal["small", "large"] = "large"
    input_mean: tuple[float, ...] = NTU_INPUT_MEAN
    input_var: tuple[float, ...] = NTU_INPUT_VAR
    one_person: bool = True
    decoder_dim: int = 256
    decoder_depth: int = 5
    decoder_heads: int = 8
    decoder_mlp_ratio: float = 4.0
    time_embed_dim: int = 64

    def check(self) -> None:
        check_mask_ratio(self.mask_ratio)
        require_option(0 <= self.uncond_ratio <= 1, "uncond_ratio", f"must be in [0, 1], got {self.uncond_ratio}")
        ratio = self.layer_uncond_ratio
        require_option(0 <= ratio <= 1, "layer_uncond_ratio", f"must be in [0, 1], got {ratio}")
        require_option(self.joint_noise_std >= 0, "joint_noise_std", f"must be >= 0, got {self.joint_noise_std}")
        require_option(self.diffusion_steps >= 1, "diffusion_steps", f"must be >= 1, got {self.diffusion_steps}")
        require_registered(NOISE_SCHEDULES, self.noise_schedule, "noise_schedule")
        positive = all(v > 0 and math.isfinite(v) for v in self.input_var)
        require_option(positive, "input_var", f"must be positive, got {list(self.input_var)}")


@register_method("macdiff")
class MacDiff(Method):
    """Masked conditional diffusion around a :class:`~skelrec.models.transformer.SkeletonTransformer`.

    Options: :class:`MacDiffOptions`. Encoder: the skeleton transformer (built for ``spec``).
    """

    Options = MacDiffOptions
    options: MacDiffOptions

    def __init__(self, encoder: nn.Module, spec: InputSpec, **options: Any) -> None:
        super().__init__(encoder, spec, **options)
        o = self.options
        cfg = require_token_encoder(encoder, "macdiff").config
        channels = cfg.in_channels
        got = f"{len(o.input_mean)}/{len(o.input_var)}"
        fits = len(o.input_mean) == len(o.input_var) == channels
        require_option(fits, "input_mean", f"input_mean/input_var need one value per channel ({channels}), got {got}")
        self.mask_ratio = o.mask_ratio
        self.motion_aware_tau = o.motion_aware_tau
        self.joint_noise_std = o.joint_noise_std
        self.uncond_ratio = o.uncond_ratio
        self.uniformity_weight = o.uniformity_weight
        self.one_person = o.one_person
        self.patch_frames = cfg.patch_frames
        self.register_buffer("input_mean", torch.tensor(o.input_mean, dtype=torch.float32), persistent=False)
        self.register_buffer("input_std", torch.tensor(o.input_var, dtype=torch.float32).sqrt(), persistent=False)
        try:
            betas = make_betas(o.noise_schedule, o.diffusion_steps, **(o.noise_schedule_kwargs or {}))
            self.diffusion = GaussianDiffusion(betas, variance=o.sampling_variance)
        except ValueError as e:
            raise ConfigValueError(f"{OPTIONS_KEY}.noise_schedule_kwargs", str(e)) from None
        self.decoder = DiffusionDecoder(
            in_channels=cfg.in_channels,
            num_joints=cfg.num_joints,
            max_steps=cfg.num_frames // cfg.patch_frames,
            patch_frames=cfg.patch_frames,
            cond_dim=cfg.embed_dim,
            dim=o.decoder_dim,
            depth=o.decoder_depth,
            num_heads=o.decoder_heads,
            mlp_ratio=o.decoder_mlp_ratio,
            time_dim=o.time_embed_dim,
            layer_drop_prob=o.layer_uncond_ratio,
        )

    # -- coordinates ------------------------------------------------------------------------------------------------

    def standardize(self, x: Tensor) -> Tensor:
        """``(x - mean) / std`` per channel of ``(..., C)``."""
        return (x - self.input_mean) / self.input_std

    def destandardize(self, x: Tensor) -> Tensor:
        """Inverse of :meth:`standardize`."""
        return x * self.input_std + self.input_mean

    def select_persons(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``(N, M, T, V, C)``, ``(N, M, T)`` -> the clips trained on, ``(B, T, V, C)`` and ``(B, T)``."""
        if self.one_person:
            return x[:, 0], mask[:, 0]
        return x.flatten(0, 1), mask.flatten(0, 1)

    # -- encoder side -----------------------------------------------------------------------------------------------

    def sample_mask(self, x: Tensor, mask_ratio: float, generator: torch.Generator | None = None) -> MaskIndices:
        """Tokens of clips ``x (B, T, V, C)`` to hide: motion-aware when ``motion_aware_tau > 0``, else uniform."""
        patches = patchify(x, self.patch_frames)  # (B, T', V, p*C)
        return mamp_masking(patches, mask_ratio, self.motion_aware_tau, generator=generator)

    def encode_masked(self, x_std: Tensor, m: MaskIndices) -> tuple[Tensor, Tensor]:
        """Encode the visible tokens ``m.keep`` of standardised clips ``(B, T, V, C)``.

        Returns:
            ``(latent (B, L_keep, D), z (B, L, D) per :func:`fill_condition`)``.
        """
        tokens = self.encoder.embed(x_std)  # (B, T', V, D)
        latent = self.encoder.forward_tokens(tokens, keep_idx=m.keep)  # (B, L_keep, D)
        return latent, fill_condition(latent, m.keep, m.mask.shape[1])

    # -- training ---------------------------------------------------------------------------------------------------

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor | float]:
        x, valid = self.select_persons(batch["x"], batch["mask"])  # (B, T, V, C), (B, T)
        m = self.sample_mask(x, self.mask_ratio)
        noise = self.joint_noise_std * torch.randn_like(x) * valid[:, :, None, None]
        latent, z = self.encode_masked(self.standardize(x + noise), m)
        z, _ = drop_condition(z, self.uncond_ratio)
        x_start = self.standardize(x)
        t = self.diffusion.sample_timesteps(x.shape[0], x.device)
        weight = masked_patch_weight(m.mask.reshape(x.shape[0], -1, x.shape[2]), valid, self.patch_frames)
        # L = E_t,eps || eps - eps_theta(x_t, t, z) ||^2 over masked patches  +  lambda * token uniformity
        loss_diffusion = self.diffusion.p_losses(partial(self.decoder, z=z), x_start, t, weight=weight).mean()
        loss_uniformity = token_uniformity(latent)
        loss = loss_diffusion + self.uniformity_weight * loss_uniformity
        return {"loss": loss, "loss_diffusion": loss_diffusion.detach(), "loss_uniformity": loss_uniformity.detach()}

    # -- generation -------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def sample(
        self,
        z: Tensor,
        *,
        steps: int | None = None,
        ddim: bool = True,
        eta: float = 0.0,
        guidance: float = 0.0,
        clip: float | None = SAMPLE_CLIP,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Skeleton sequences the decoder generates for the condition ``z (B, T'*V, D)``: ``(B, T, V, C)`` raw units.

        Args:
            z: a representation on the full token grid (:meth:`encode_masked`; zeros = unconditional).
            steps: DDIM steps (``None`` = 50); with ``ddim=False`` ancestral DDPM over all ``T`` steps.
            eta: DDIM stochasticity (0 = deterministic given the initial noise).
            guidance: classifier-free guidance scale ``w`` (``eps_c + w (eps_c - eps_u)``; 0 = off).
            clip: clamp the predicted ``x_0`` (standardised units) to ``±clip`` at every step (:data:`SAMPLE_CLIP`;
                ``None`` = off).
            generator: RNG of the initial noise (and of the DDPM/``eta > 0`` noise).
        """
        v = self.decoder.pos_embed.shape[2]
        steps_t = z.shape[1] // v
        shape = (z.shape[0], steps_t * self.patch_frames, v, self.input_mean.shape[0])
        model = partial(self.decoder, z=z)
        if guidance:
            model = classifier_free_guidance(model, partial(self.decoder, z=torch.zeros_like(z)), guidance)
        x0 = self.diffusion.sample(
            model, shape, steps=steps, ddim=ddim, eta=eta, clip=clip, device=z.device, generator=generator
        )
        return self.destandardize(x0)

    @torch.no_grad()
    def generate(
        self, x: Tensor, *, mask_ratio: float | None = None, generator: torch.Generator | None = None, **sample_kw: Any
    ) -> Tensor:
        """Encode a masked view of raw clips ``x (B, T, V, C)`` and :meth:`sample` new clips ``(B, T, V, C)``.

        ``mask_ratio`` defaults to the training ratio; ``sample_kw`` go to :meth:`sample`.
        """
        ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        _, z = self.encode_masked(self.standardize(x), self.sample_mask(x, ratio, generator))
        return self.sample(z, generator=generator, **sample_kw)

    def augment(self, x: Tensor, mask: Tensor, label: Tensor | None = None, **kwargs: Any) -> AugmentedBatch:
        """:func:`diffusion_augment` with this method."""
        return diffusion_augment(self, x, mask, label, **kwargs)

    # -- export -----------------------------------------------------------------------------------------------------

    def export_state(self) -> dict[str, Tensor]:
        """Checkpoint tensors: the encoder on raw coordinates (standardisation folded into its patch embedding)
        plus everything else the method needs to generate (the decoder) under ``method.``."""
        state = dict(self.encoder.state_dict())
        state["patch_embed.weight"], state["patch_embed.bias"] = fold_standardization(
            state["patch_embed.weight"], state["patch_embed.bias"], self.input_mean, self.input_std, self.patch_frames
        )
        extra = {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}
        return state | {f"{METHOD_PREFIX}{k}": v for k, v in extra.items()}

    def load_export_state(self, state: Mapping[str, Tensor], source: str) -> None:
        """Load tensors written by :meth:`export_state` strictly (every key, every shape)."""
        own = {k: v for k, v in state.items() if not k.startswith(METHOD_PREFIX)}
        if "patch_embed.weight" in own and "patch_embed.bias" in own:
            own["patch_embed.weight"], own["patch_embed.bias"] = unfold_standardization(
                own["patch_embed.weight"], own["patch_embed.bias"], self.input_mean, self.input_std, self.patch_frames
            )
        full = {f"encoder.{k}": v for k, v in own.items()}
        full |= {k.removeprefix(METHOD_PREFIX): v for k, v in state.items() if k.startswith(METHOD_PREFIX)}
        load_state_strict(self, full, source)


# ------------------------------------------------------------------------------------------------------------------
# Diffusion data augmentation and loading from a checkpoint.
# ------------------------------------------------------------------------------------------------------------------


class AugmentedBatch(NamedTuple):
    """Generated clips: ``x (N*n, M, T, V, C)``, ``mask (N*n, M, T)``, ``label (N*n,)`` or None, ``source (N*n,)``
    (the index of the clip each one was generated from; the ``n`` clips of a source are consecutive)."""

    x: Tensor
    mask: Tensor
    label: Tensor | None
    source: Tensor


@contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


@torch.no_grad()
def diffusion_augment(
    method: MacDiff,
    x: Tensor,
    mask: Tensor,
    label: Tensor | None = None,
    *,
    n_per_sample: int = 1,
    mask_ratio: float = 0.9,
    steps: int = 50,
    eta: float = 0.0,
    guidance: float = 0.0,
    clip: float | None = SAMPLE_CLIP,
    generator: torch.Generator | None = None,
) -> AugmentedBatch:
    """MacDiff's diffusion data augmentation: ``n_per_sample`` new clips per labelled clip, same label.

    Every real person of every clip is encoded from a random ``mask_ratio`` view and re-generated by the decoder
    (DDIM, ``steps``); absent persons and padded frames stay zero, so the frame mask is the source's.

    Args:
        method: a trained :class:`MacDiff` (e.g. from :func:`load_macdiff`), on the device of ``x``.
        x: ``(N, M, T, V, C)`` raw clips (the model input), ``mask``: ``(N, M, T)`` bool, ``label``: ``(N,)``.
        n_per_sample: clips generated per source clip.
        mask_ratio: fraction of each clip's tokens hidden from the encoder.
        steps, eta, guidance, clip: DDIM sampling, see :meth:`MacDiff.sample`.
        generator: RNG (on ``x``'s device) of masks and noise, for reproducible augmentation.

    Returns:
        :class:`AugmentedBatch` of ``N * n_per_sample`` clips (the originals are not included).
    """
    if n_per_sample < 1:
        raise SkelrecError(f"n_per_sample must be >= 1, got {n_per_sample}")
    if x.dim() != 5 or tuple(mask.shape) != tuple(x.shape[:3]):
        raise SkelrecError(f"expected x (N, M, T, V, C) and mask (N, M, T), got {tuple(x.shape)} / {tuple(mask.shape)}")
    n, m = x.shape[:2]
    source = torch.arange(n, device=x.device).repeat_interleave(n_per_sample)
    xs, valid = x[source].flatten(0, 1), mask[source].bool().flatten(0, 1)  # (B, T, V, C), (B, T)
    with _eval_mode(method):
        out = method.generate(
            xs, mask_ratio=mask_ratio, steps=steps, eta=eta, guidance=guidance, clip=clip, generator=generator
        )
    out = out * valid[:, :, None, None]
    labels = label[source.to(label.device)] if label is not None else None
    return AugmentedBatch(out.reshape(n * n_per_sample, m, *x.shape[2:]), mask[source], labels, source)


def load_macdiff(folder: str | Path, device: str | torch.device = "cpu") -> MacDiff:
    """Rebuild a trained :class:`MacDiff` (encoder and decoder) from an exported checkpoint folder, in eval mode.

    The folder is the ``encoder/`` export of a ``macdiff`` run (:func:`skelrec.train.export.export_encoder`); its
    ``method`` config section gives the options and its ``method.``-prefixed tensors the decoder.
    """
    state, cfg = load_checkpoint(folder, method_tensors=True)
    section = cfg.method if isinstance(cfg.method, Mapping) else {}
    if cfg.method_name != "macdiff" or not section:
        raise SkelrecError(
            f"{folder}: not a MacDiff checkpoint (its config has method {cfg.method_name!r}); "
            f"diffusion augmentation needs the encoder/ export of a method.name=macdiff run"
        )
    encoder = build_model(cfg, with_head=False)
    spec = InputSpec(layout=cfg.layout, frames=cfg.clip_length, persons=cfg.num_persons, channels=encoder.in_channels)
    try:
        method = MacDiff(encoder, spec, **section.get("kwargs", {}))
    except SkelrecError as e:
        raise SkelrecError(f"{folder}: its method.kwargs do not fit this skelrec's MacDiff ({e})") from None
    method.load_export_state(state, source=str(folder))
    return method.to(device).eval()
