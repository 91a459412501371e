"""The MAE-style decoder shared by MAMP and Skeleton2vec.

The encoder sees only the visible tokens; the decoder puts them back on the full ``(T', V)`` grid, fills the masked
positions with a learned mask token, adds its own temporal and spatial position embeddings, runs a few transformer
blocks and a final norm, and projects every token to the prediction target (MAMP ``forward_decoder``; Skeleton2vec
``SkTWithDecoder.forward_decoder``, which does the same with mask tokens)::

    latent = encoder.forward_tokens(tokens, keep_idx=m.keep)  # (B, L_keep, D_enc)
    pred = decoder(latent, m.keep, grid=(T', V))             # (B, L, out_dim)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from skelrec.errors import SkelrecError
from skelrec.models.layers import TransformerBlock, init_vit_weights
from skelrec.models.transformer import SkeletonTransformer

__all__ = ["MaskedDecoder", "require_token_encoder"]


def require_token_encoder(encoder: nn.Module, method: str) -> SkeletonTransformer:
    """The encoder if it is the skeleton transformer (which encodes visible tokens only), else a SkelrecError."""
    if not isinstance(encoder, SkeletonTransformer):
        raise SkelrecError(
            f"method {method!r} masks transformer tokens and needs encoder.name=transformer, "
            f"got {type(encoder).__name__}"
        )
    return encoder


class MaskedDecoder(nn.Module):
    """Mask tokens + decoder position embeddings + pre-norm blocks + LayerNorm + linear prediction head.

    Args:
        encoder_dim: width of the encoder's latent tokens.
        out_dim: width of a prediction (MAMP: ``patch_frames * C``; Skeleton2vec: ``encoder_dim``).
        max_steps: token steps ``T'`` the temporal position embedding covers (the encoder's ``num_frames / p``).
        num_joints: ``V``.
        dim, depth, num_heads, mlp_ratio: the decoder transformer (MAMP: 256 wide, 3 blocks NTU-60, 5 NTU-120/PKU).
        layer_scale_init: LayerScale of the blocks (Skeleton2vec's decoder shares the encoder's 1e-4).
    """

    def __init__(
        self,
        encoder_dim: int,
        out_dim: int,
        *,
        max_steps: int,
        num_joints: int,
        dim: int = 256,
        depth: int = 3,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        layer_scale_init: float | None = None,
    ) -> None:
        super().__init__()
        if depth < 0:
            raise SkelrecError(f"decoder depth must be >= 0, got {depth}")
        self.embed = nn.Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.temp_embed = nn.Parameter(torch.zeros(1, max_steps, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1, num_joints, dim))
        self.blocks = nn.ModuleList(
            TransformerBlock(dim, num_heads, mlp_ratio=mlp_ratio, layer_scale_init=layer_scale_init)
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, out_dim)
        self.apply(init_vit_weights)
        for p in (self.mask_token, self.temp_embed, self.pos_embed):
            nn.init.trunc_normal_(p, std=0.02)

    @classmethod
    def for_encoder(cls, encoder: SkeletonTransformer, out_dim: int, **kwargs: Any) -> MaskedDecoder:
        """A decoder for ``encoder``'s token grid and width; ``kwargs`` are the decoder options (dim, depth ...)."""
        cfg = encoder.config
        steps = cfg.num_frames // cfg.patch_frames
        return cls(cfg.embed_dim, out_dim, max_steps=steps, num_joints=cfg.num_joints, **kwargs)

    def no_weight_decay(self) -> set[str]:
        return {"mask_token", "temp_embed", "pos_embed"}

    def fill_masked(self, latent: Tensor, keep: Tensor, num_tokens: int) -> Tensor:
        """Visible latents ``(B, L_keep, D_enc)`` at ``keep (B, L_keep)`` -> ``(B, L, dim)``, mask tokens elsewhere."""
        visible = self.embed(latent)  # (B, L_keep, dim)
        b, _, d = visible.shape
        full = self.mask_token.to(visible.dtype).expand(b, num_tokens, d)
        return full.scatter(1, keep.unsqueeze(-1).expand(-1, -1, d), visible)

    def forward(self, latent: Tensor, keep: Tensor, grid: tuple[int, int]) -> Tensor:
        """Predict every token of the ``grid = (T', V)``: ``(B, L_keep, D_enc) -> (B, T' * V, out_dim)``."""
        t_steps, v = grid
        if t_steps > self.temp_embed.shape[1] or v != self.pos_embed.shape[2]:
            raise SkelrecError(
                f"decoder built for up to {self.temp_embed.shape[1]} token steps x {self.pos_embed.shape[2]} joints "
                f"got a {t_steps} x {v} grid; build the method for this clip length and layout"
            )
        x = self.fill_masked(latent, keep, t_steps * v).reshape(-1, t_steps, v, self.mask_token.shape[-1])
        x = (x + self.temp_embed[:, :t_steps] + self.pos_embed).flatten(1, 2)  # (B, L, dim)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))
