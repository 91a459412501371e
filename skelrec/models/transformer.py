"""Skeleton transformer: the encoder of MAMP, MacDiff and Skeleton2vec.

MAMP (Mao et al., ICCV'23, ``maoyunyao/MAMP`` ``model_mamp/transformer.py``): a vanilla ViT over spatio-temporal
joint tokens. A token is ``patch_frames`` frames of one joint (4 x 1 in MAMP/MacDiff, 3 x 1 in Skeleton2vec),
embedded linearly; learned temporal ``(T', 1, D)`` and spatial ``(1, V, D)`` position embeddings are added; pre-norm
blocks with full joint attention over all ``T' * V`` tokens follow (paper config: depth 8, width 256, 8 heads,
MLP ratio 4, T = 120 -> 30 x 25 = 750 tokens, 6.336M parameters), then a final LayerNorm.

The forward pass is split like MAMP's so the SSL methods can intervene between the steps::

    tokens = enc.embed(x)                               # (B, T', V, D): patchify + position embeddings
    latent = enc.forward_tokens(tokens, keep_idx=keep)  # (B, L_keep, D): only visible tokens enter the blocks

Persons are folded into the batch (``B = N * M``) as in MAMP.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skelrec.errors import SkelrecError
from skelrec.models.base import Encoder, fold_persons
from skelrec.models.config import ModelConfig
from skelrec.models.layers import TransformerBlock, drop_path_rates, init_vit_weights
from skelrec.models.registry import register_encoder

__all__ = ["SkeletonTransformer", "TransformerConfig", "gather_tokens", "skeleton_transformer"]


@dataclass
class TransformerConfig(ModelConfig):
    """Architecture of :class:`SkeletonTransformer`; the defaults are the MAMP/MacDiff paper config (NTU, 3D).

    Attributes:
        in_channels: ``C`` of the input (3 for x, y, z).
        num_joints: ``V`` of the input layout (25 for ``ntu25``).
        num_frames: clip length ``T`` the temporal position embedding is learned for; shorter clips use its first
            ``T'`` entries (as MAMP does), longer ones a linear interpolation of it.
        patch_frames: frames per token (4 in MAMP/MacDiff, 3 in Skeleton2vec).
        embed_dim, depth, num_heads, mlp_ratio, qkv_bias: the ViT.
        drop_rate: dropout after the position embedding, attention projection and in the MLPs.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth of the last block (linear from 0); MAMP fine-tuning uses 0.3.
        layer_scale_init: LayerScale initial value (Skeleton2vec: 1e-4); ``None`` = no LayerScale.
    """

    in_channels: int = 3
    num_joints: int = 25
    num_frames: int = 120
    patch_frames: int = 4
    embed_dim: int = 256
    depth: int = 8
    num_heads: int = 8
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop_rate: float = 0.0
    attn_drop_rate: float = 0.0
    drop_path_rate: float = 0.0
    layer_scale_init: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        sizes = ("in_channels", "num_joints", "num_frames", "patch_frames", "embed_dim", "depth", "num_heads")
        bad = [f"{n}={getattr(self, n)}" for n in sizes if getattr(self, n) < 1]
        if bad:
            raise SkelrecError(f"TransformerConfig: {', '.join(bad)} must be >= 1")
        if self.num_frames % self.patch_frames:
            raise SkelrecError(
                f"TransformerConfig: num_frames={self.num_frames} is not a multiple of patch_frames={self.patch_frames}"
            )
        if self.embed_dim % self.num_heads:
            raise SkelrecError(
                f"TransformerConfig: embed_dim={self.embed_dim} is not divisible by num_heads={self.num_heads}"
            )


def gather_tokens(tokens: Tensor, index: Tensor) -> Tensor:
    """``tokens (B, L, D)``, ``index (B, K)`` -> ``(B, K, D)``: the tokens at ``index`` of each sample."""
    return torch.gather(tokens, 1, index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


class SkeletonTransformer(Encoder):
    """ViT over ``patch_frames x 1`` joint tokens; see the module docstring.

    Args:
        config: the architecture (:class:`TransformerConfig`; the default is the paper config).
    """

    def __init__(self, config: TransformerConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or TransformerConfig()
        d = cfg.embed_dim
        self.patch_embed = nn.Linear(cfg.patch_frames * cfg.in_channels, d)  # == Conv2d(C, D, (p, 1), stride (p, 1))
        self.temp_embed = nn.Parameter(torch.zeros(1, cfg.num_frames // cfg.patch_frames, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1, cfg.num_joints, d))
        self.pos_drop = nn.Dropout(cfg.drop_rate)
        self.blocks = nn.ModuleList(
            TransformerBlock(
                d,
                cfg.num_heads,
                mlp_ratio=cfg.mlp_ratio,
                qkv_bias=cfg.qkv_bias,
                drop=cfg.drop_rate,
                attn_drop=cfg.attn_drop_rate,
                drop_path=rate,
                layer_scale_init=cfg.layer_scale_init,
            )
            for rate in drop_path_rates(cfg.drop_path_rate, cfg.depth)
        )
        self.norm = nn.LayerNorm(d)
        self.apply(init_vit_weights)
        nn.init.trunc_normal_(self.temp_embed, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    @property
    def feature_joints(self) -> int:
        return self.config.num_joints

    def no_weight_decay(self) -> set[str]:
        return {"temp_embed", "pos_embed"}

    def patchify(self, x: Tensor) -> Tensor:
        """Embed ``(B, T, V, C)`` frames into tokens ``(B, T', V, D)``, ``T' = T / patch_frames``."""
        b, t, v, c = x.shape
        p = self.config.patch_frames
        if t % p:
            raise SkelrecError(f"clip of {t} frames is not a multiple of the transformer's patch of {p} frames")
        x = x.reshape(b, t // p, p, v, c).transpose(2, 3).reshape(b, t // p, v, p * c)  # (B, T', V, p*C)
        return self.patch_embed(x)

    def temporal_embed(self, steps: int) -> Tensor:
        """The temporal position embedding ``(1, steps, 1, D)`` for ``steps`` token steps."""
        if steps <= self.temp_embed.shape[1]:
            return self.temp_embed[:, :steps]
        resized = F.interpolate(self.temp_embed[:, :, 0].transpose(1, 2), size=steps, mode="linear")  # (1, D, T')
        return resized.transpose(1, 2).unsqueeze(2)

    def add_pos_embed(self, tokens: Tensor) -> Tensor:
        """``(B, T', V, D)`` tokens + temporal + spatial position embeddings (then dropout)."""
        return self.pos_drop(tokens + self.temporal_embed(tokens.shape[1]) + self.pos_embed)

    def embed(self, x: Tensor) -> Tensor:
        """``(B, T, V, C)`` -> position-embedded tokens ``(B, T', V, D)``."""
        return self.add_pos_embed(self.patchify(x))

    def forward_tokens(
        self, tokens: Tensor, keep_idx: Tensor | None = None, return_layers: bool = False
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Run the blocks and the final norm on embedded tokens.

        Args:
            tokens: ``(B, T', V, D)`` (or already flat ``(B, L, D)``) tokens from :meth:`embed`.
            keep_idx: ``(B, L_keep)`` indices into the flattened ``L = T' * V`` tokens (row-major over
                ``(T', V)``); only those enter the blocks (MAE: masked tokens are never encoded).
            return_layers: also return every block's output ``(B, L_keep, D)`` before the final norm
                (Skeleton2vec's teacher averages the top ones).

        Returns:
            ``(B, L_keep, D)`` (``L_keep = L`` without ``keep_idx``), plus the list of block outputs when asked.
        """
        x = tokens.flatten(1, -2) if tokens.dim() == 4 else tokens
        if keep_idx is not None:
            x = gather_tokens(x, keep_idx)
        layers = []
        for block in self.blocks:
            x = block(x)
            layers.append(x)
        x = self.norm(x)
        return (x, layers) if return_layers else x

    def forward_features(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``(N, M, T, V, C)`` -> ``(N, M, T', V, D)``; all tokens are encoded (``mask`` only matters to pooling)."""
        self.check_input(x)
        n, m = x.shape[:2]
        tokens = self.embed(fold_persons(x))
        _, t_steps, v, d = tokens.shape
        return self.forward_tokens(tokens).reshape(n, m, t_steps, v, d)


@register_encoder("transformer", TransformerConfig)
def skeleton_transformer(**kwargs) -> SkeletonTransformer:
    """MAMP/MacDiff skeleton transformer; kwargs override the paper config (:class:`TransformerConfig`).

    Skeleton2vec: ``patch_frames=3, num_frames=90, layer_scale_init=1e-4``.
    """
    return SkeletonTransformer(TransformerConfig.from_dict(kwargs))
