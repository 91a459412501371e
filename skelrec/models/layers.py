"""Transformer building blocks shared by the skeleton transformer and the decoders of the SSL methods.

:class:`TransformerBlock` is the pre-norm ViT block of MAMP (``x + DropPath(Attn(LN(x)))``, then the MLP). Its
norms come from a ``norm_layer(dim)`` factory and ``forward(x, *cond)`` hands ``cond`` to both norms, so a
conditioned norm such as MacDiff's feature modulation ``x <- z_s * (t_s * LN(x) + t_b) + z_b`` plugs in without a
new block: ``TransformerBlock(dim, heads, norm_layer=FeatureModulation)`` and ``block(x, z, t_emb)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "Attention",
    "DropPath",
    "LayerScale",
    "Mlp",
    "NormFactory",
    "TransformerBlock",
    "drop_path_rates",
    "init_vit_weights",
]

NormFactory = Callable[[int], nn.Module]


def drop_path_rates(rate: float, depth: int) -> list[float]:
    """Stochastic-depth rate of each of ``depth`` blocks, rising linearly from 0 to ``rate`` (MAMP, DeiT)."""
    return [float(r) for r in torch.linspace(0.0, rate, depth)]


def init_vit_weights(module: nn.Module) -> None:
    """MAE/MAMP init, for ``model.apply``: Xavier-uniform Linear weights, zero biases, unit LayerNorms."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm) and module.elementwise_affine:
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch of a sample with probability ``p`` while training."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.dim() - 1)
        return x * x.new_empty(shape).bernoulli_(keep) / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LayerScale(nn.Module):
    """Per-channel learnable scale of a residual branch, initialised to ``init`` (CaiT; Skeleton2vec uses 1e-4)."""

    def __init__(self, dim: int, init: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Mlp(nn.Module):
    """``Linear(dim, hidden) -> GELU -> Dropout -> Linear(hidden, dim) -> Dropout`` on ``(..., dim)``."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Attention(nn.Module):
    """Multi-head self-attention over ``(B, L, dim)`` with the fused ``scaled_dot_product_attention`` kernel."""

    def __init__(self, dim: int, num_heads: int, *, qkv_bias: bool = True, attn_drop: float = 0.0, drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.attn_drop = attn_drop
        self.proj_drop = nn.Dropout(drop)

    def forward(self, x: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        """``(B, L, dim) -> (B, L, dim)``; ``attn_mask`` (bool, True = may attend) broadcasts to ``(B, H, L, L)``."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        p = self.attn_drop if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)  # (B, H, L, d/H)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, d)))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block on ``(B, L, dim)`` tokens.

    Args:
        dim: token width.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / ``dim``.
        qkv_bias: bias of the query/key/value projection.
        drop: dropout after the attention projection and in the MLP.
        attn_drop: dropout on the attention weights.
        drop_path: stochastic-depth probability of both residual branches.
        layer_scale_init: initial value of a :class:`LayerScale` on both branches; ``None`` disables it.
        norm_layer: factory ``norm_layer(dim)`` of the two norms; a conditioned norm receives ``forward``'s
            ``*cond`` arguments.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        layer_scale_init: float | None = None,
        norm_layer: NormFactory = nn.LayerNorm,
    ) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, drop=drop)
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)
        scale = (lambda: LayerScale(dim, layer_scale_init)) if layer_scale_init is not None else nn.Identity
        self.ls1, self.ls2 = scale(), scale()
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor, *cond: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        """``(B, L, dim) -> (B, L, dim)``; ``cond`` goes to both norms (none for a plain LayerNorm)."""
        x = x + self.drop_path(self.ls1(self.attn(self.norm1(x, *cond), attn_mask)))
        return x + self.drop_path(self.ls2(self.mlp(self.norm2(x, *cond))))
