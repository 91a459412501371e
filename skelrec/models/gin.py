"""Graph isomorphism network over the skeleton graph, the encoder of SkeletonMAE (Yan et al., ICCV'23).

The paper (no code was released; RECIPES.md) embeds each joint's coordinates linearly to D = 64 and applies
3 GIN layers spatially, frame by frame, with PReLU activations. A GIN layer (Xu et al., ICLR'19, eq. 4.1) is

    h_v <- act(norm(MLP((1 + eps) * h_v + sum_{u in N(v)} h_u)))

with a learnable ``eps`` and ``N(v)`` the bone neighbours of joint ``v`` in the layout's kinematic tree
(``skelrec.skeleton.get_layout(layout).adjacency``). The MLP is ``Linear -> PReLU -> Linear``; the paper does not
name the norm, so it is configurable (``"layer"`` by default, which keeps every joint independent of the batch).

SkeletonMAE replaces the embeddings of masked joints by a learnable [MASK] token before the GIN layers; the split
:meth:`GINEncoder.embed` / :meth:`GINEncoder.forward_embedded` is that hook::

    h = enc.embed(x)                                     # (N, M, T, V, D)
    h = torch.where(joint_mask[..., None], token, h)     # the method owns the token
    feats = enc.forward_embedded(h)                      # (N, M, T, V, D)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from skelrec.errors import SkelrecError
from skelrec.models.base import Encoder
from skelrec.models.config import ModelConfig
from skelrec.models.registry import register_encoder
from skelrec.registry import Registry
from skelrec.skeleton import get_layout

__all__ = ["GINConfig", "GINEncoder", "GINLayer", "gin"]


class _TokenBatchNorm(nn.BatchNorm1d):
    """BatchNorm over every leading position of ``(..., D)`` features."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)


NORMS: Registry[Callable[[int], nn.Module]] = Registry(
    "GIN norm", {"layer": nn.LayerNorm, "batch": _TokenBatchNorm, "none": lambda _dim: nn.Identity()}
)


@dataclass
class GINConfig(ModelConfig):
    """Architecture of :class:`GINEncoder`; the defaults are SkeletonMAE's (COCO-17 2D poses, D = 64, 3 layers).

    Attributes:
        layout: skeleton layout whose bone graph the layers use (any name of ``skelrec.skeleton.LAYOUTS``).
        in_channels: ``C`` per joint (2D + confidence = 3, 3D = 3, 2D = 2).
        embed_dim: ``D`` of the joint embedding and of every layer.
        depth: number of GIN layers.
        eps_init: initial ``eps``.
        learn_eps: whether ``eps`` is trained.
        norm: ``"layer"``, ``"batch"`` or ``"none"`` after each layer's MLP.
    """

    layout: str = "coco17"
    in_channels: int = 3
    embed_dim: int = 64
    depth: int = 3
    eps_init: float = 0.0
    learn_eps: bool = True
    norm: Literal["layer", "batch", "none"] = "layer"

    def __post_init__(self) -> None:
        super().__post_init__()
        get_layout(self.layout)  # unknown layout -> SkelrecError listing the known ones
        bad = [f"{n}={getattr(self, n)}" for n in ("in_channels", "embed_dim", "depth") if getattr(self, n) < 1]
        if bad:
            raise SkelrecError(f"GINConfig: {', '.join(bad)} must be >= 1")


class GINLayer(nn.Module):
    """One GIN layer on per-joint features ``(..., V, D)`` over a fixed ``(V, V)`` adjacency (no self loops)."""

    def __init__(self, adjacency: Tensor, dim: int, *, eps_init: float = 0.0, learn_eps: bool = True, norm: str):
        super().__init__()
        self.register_buffer("adjacency", adjacency.float(), persistent=False)
        self.eps = nn.Parameter(torch.tensor(float(eps_init)), requires_grad=learn_eps)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.PReLU(), nn.Linear(dim, dim))
        self.norm = NORMS[norm](dim)
        self.act = nn.PReLU()

    def aggregate(self, h: Tensor) -> Tensor:
        """``(1 + eps) * h_v + sum of the neighbours' h_u`` on ``(..., V, D)``."""
        return (1.0 + self.eps) * h + torch.einsum("uv,...vd->...ud", self.adjacency, h)

    def forward(self, h: Tensor) -> Tensor:
        return self.act(self.norm(self.mlp(self.aggregate(h))))


class GINEncoder(Encoder):
    """Per-frame GIN over the layout's skeleton graph; tokens are joints: ``(N, M, T, V, C) -> (N, M, T, V, D)``.

    Args:
        config: the architecture (:class:`GINConfig`; the default is SkeletonMAE's).
    """

    def __init__(self, config: GINConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or GINConfig()
        self.layout = get_layout(cfg.layout)
        adjacency = torch.from_numpy(self.layout.adjacency)
        self.joint_embed = nn.Linear(cfg.in_channels, cfg.embed_dim)
        self.layers = nn.ModuleList(
            GINLayer(adjacency, cfg.embed_dim, eps_init=cfg.eps_init, learn_eps=cfg.learn_eps, norm=cfg.norm)
            for _ in range(cfg.depth)
        )

    def embed(self, x: Tensor) -> Tensor:
        """Linear joint embedding ``(N, M, T, V, C) -> (N, M, T, V, D)``."""
        self.check_input(x)
        return self.joint_embed(x)

    def forward_embedded(self, h: Tensor) -> Tensor:
        """The GIN layers on joint embeddings ``(..., V, D) -> (..., V, D)``."""
        for layer in self.layers:
            h = layer(h)
        return h

    def forward_features(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``(N, M, T, V, C) -> (N, M, T, V, D)``; frames are independent graphs, persons are separate."""
        return self.forward_embedded(self.embed(x))


@register_encoder("gin", GINConfig)
def gin(**kwargs) -> GINEncoder:
    """SkeletonMAE's GIN encoder; kwargs override its config (:class:`GINConfig`)."""
    return GINEncoder(GINConfig.from_dict(kwargs))
