"""STRL, the downstream model of SkeletonMAE (Yan et al., ICCV'23, Sec. 3.3 "Skeleton Sequence Learning").

The paper fine-tunes the pretrained SkeletonMAE encoder inside a Spatial-Temporal Representation Learning model of
``M = 3`` layers; each layer holds two pretrained encoders (one per person), fuses the persons by sum-pooling with
a residual connection, and models time by multi-scale temporal pooling; global average pooling and a linear
classifier follow. No code was released, so the layer is our reading of that description::

    h = joint_embed(x)                                       # (N, P, T, V, D), pretrained embedding
    for layer in layers:                                     # M = 3
        s_p = GIN_p(h_p)           for each person p         # per-person copies of the pretrained GIN layers
        h_p = h_p + sum_q s_q      over the real persons q   # sum-pooling + residual
        h_p = MultiScaleTemporalPooling(h_p)                 # dilated temporal convs + max pooling, residual

Every ``GIN_p`` of every layer starts from the pretrained GIN layers (:func:`strl_from_gin` /
:meth:`STRLEncoder.load_gin_state`). Registered as the encoder ``"strl"``; its token grid ``(N, P, T, V, D)``
pools like any encoder's, so the ``linear`` head on top is the paper's classifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from skelrec.errors import SkelrecError
from skelrec.models.base import Encoder, token_mask
from skelrec.models.config import ModelConfig
from skelrec.models.gin import GINEncoder, GINLayer
from skelrec.models.registry import register_encoder
from skelrec.skeleton import get_layout

__all__ = ["MultiScaleTemporalPooling", "STRLConfig", "STRLEncoder", "STRLLayer", "strl", "strl_from_gin"]


@dataclass
class STRLConfig(ModelConfig):
    """Architecture of :class:`STRLEncoder`; the GIN fields must match the pretrained encoder (:class:`GINConfig`).

    Attributes:
        layout, in_channels, embed_dim, gin_depth, eps_init, learn_eps, norm: the pretrained GIN encoder's
            ``layout``, ``in_channels``, ``embed_dim``, ``depth``, ``eps_init``, ``learn_eps``, ``norm``.
        num_layers: STRL layers ``M`` (3).
        num_persons: persons per clip, one GIN copy each (2).
        temporal_kernel: kernel of the dilated temporal convolutions (odd).
        max_dilation: dilations ``1 .. max_dilation``; with the max-pool and 1x1 branches ``embed_dim`` must split
            into ``max_dilation + 2`` equal parts.
        dropout: dropout on the output tokens.
    """

    layout: str = "coco17"
    in_channels: int = 3
    embed_dim: int = 64
    gin_depth: int = 3
    eps_init: float = 0.0
    learn_eps: bool = True
    norm: Literal["layer", "batch", "none"] = "layer"
    num_layers: int = 3
    num_persons: int = 2
    temporal_kernel: int = 5
    max_dilation: int = 2
    dropout: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        get_layout(self.layout)
        sizes = (
            "in_channels",
            "embed_dim",
            "gin_depth",
            "num_layers",
            "num_persons",
            "temporal_kernel",
            "max_dilation",
        )
        bad = [f"{n}={getattr(self, n)}" for n in sizes if getattr(self, n) < 1]
        if bad:
            raise SkelrecError(f"STRLConfig: {', '.join(bad)} must be >= 1")
        if self.temporal_kernel % 2 == 0:
            raise SkelrecError(f"STRLConfig: temporal_kernel={self.temporal_kernel} must be odd")
        if self.embed_dim % (self.max_dilation + 2):
            raise SkelrecError(
                f"STRLConfig: embed_dim={self.embed_dim} does not split into {self.max_dilation + 2} temporal "
                f"branches (max_dilation + 2); change max_dilation"
            )


def _conv_bn(cin: int, cout: int, kernel: int = 1, dilation: int = 1) -> nn.Sequential:
    """``Conv2d`` over ``(T, V)`` with a ``(kernel, 1)`` temporal kernel (same length), then BatchNorm."""
    pad = (kernel - 1) * dilation // 2
    conv = nn.Conv2d(cin, cout, (kernel, 1), padding=(pad, 0), dilation=(dilation, 1))
    return nn.Sequential(conv, nn.BatchNorm2d(cout))


class MultiScaleTemporalPooling(nn.Module):
    """Parallel temporal branches on ``(B, D, T, V)``: dilated convs (d = 1..max), a max pool, a 1x1; concat, residual.

    Each branch gets ``D / (max_dilation + 2)`` channels (the multi-scale temporal module of MS-G3D / CTR-GCN).
    """

    def __init__(self, dim: int, kernel: int, max_dilation: int) -> None:
        super().__init__()
        width = dim // (max_dilation + 2)
        self.dilated = nn.ModuleList(
            nn.Sequential(_conv_bn(dim, width), nn.ReLU(), _conv_bn(width, width, kernel, d))
            for d in range(1, max_dilation + 1)
        )
        self.pool = nn.Sequential(
            _conv_bn(dim, width), nn.ReLU(), nn.MaxPool2d((3, 1), stride=1, padding=(1, 0)), nn.BatchNorm2d(width)
        )
        self.point = _conv_bn(dim, width)
        self.act = nn.ReLU()

    def forward(self, h: Tensor) -> Tensor:
        """``(B, D, T, V) -> (B, D, T, V)``."""
        branches = [b(h) for b in self.dilated] + [self.pool(h), self.point(h)]
        return self.act(torch.cat(branches, dim=1) + h)


class STRLLayer(nn.Module):
    """One STRL layer on ``(N, P, T, V, D)``: per-person GIN stacks, person sum-pooling + residual, temporal pooling."""

    def __init__(self, adjacency: Tensor, cfg: STRLConfig) -> None:
        super().__init__()
        self.persons = nn.ModuleList(
            nn.ModuleList(
                GINLayer(adjacency, cfg.embed_dim, eps_init=cfg.eps_init, learn_eps=cfg.learn_eps, norm=cfg.norm)
                for _ in range(cfg.gin_depth)
            )
            for _ in range(cfg.num_persons)
        )
        self.temporal = MultiScaleTemporalPooling(cfg.embed_dim, cfg.temporal_kernel, cfg.max_dilation)

    @staticmethod
    def _gin(stack: nn.ModuleList, h: Tensor) -> Tensor:
        for layer in stack:
            h = layer(h)
        return h

    def forward(self, h: Tensor, valid: Tensor) -> Tensor:
        """``h (N, P, T, V, D)``, ``valid (N, P, T)`` float -> ``(N, P, T, V, D)`` (zeros where not valid)."""
        w = valid[..., None, None]
        spatial = torch.stack([self._gin(stack, h[:, p]) for p, stack in enumerate(self.persons)], dim=1) * w
        h = (h + spatial.sum(dim=1, keepdim=True)) * w  # sum-pooling over the real persons + residual
        n, p, t, v, d = h.shape
        out = self.temporal(h.reshape(n * p, t, v, d).permute(0, 3, 1, 2))  # (N*P, D, T, V)
        return out.permute(0, 2, 3, 1).reshape(n, p, t, v, d) * w


class STRLEncoder(Encoder):
    """SkeletonMAE's STRL model without its classifier: ``(N, M, T, V, C) -> (N, P, T, V, D)`` (see module doc).

    ``M`` persons are padded/truncated to ``num_persons``.

    Args:
        config: the architecture (:class:`STRLConfig`).
    """

    def __init__(self, config: STRLConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or STRLConfig()
        self.layout = get_layout(cfg.layout)
        adjacency = torch.from_numpy(self.layout.adjacency)
        self.joint_embed = nn.Linear(cfg.in_channels, cfg.embed_dim)
        self.layers = nn.ModuleList(STRLLayer(adjacency, cfg) for _ in range(cfg.num_layers))
        self.dropout = nn.Dropout(cfg.dropout)

    def _fit_persons(self, t: Tensor) -> Tensor:
        """Pad (with zeros / False) or truncate dim 1 of ``t (N, M, ...)`` to ``num_persons``."""
        p, m = self.config.num_persons, t.shape[1]
        if m >= p:
            return t[:, :p]
        return torch.cat([t, t.new_zeros(t.shape[0], p - m, *t.shape[2:])], dim=1)

    def forward_features(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``(N, M, T, V, C) -> (N, P, T, V, D)``, ``P = num_persons``."""
        self.check_input(x)
        w = self._fit_persons(token_mask(mask, x)).to(x.dtype)  # (N, P, T); absent padded persons are 0
        x = self._fit_persons(x)
        h = self.joint_embed(x) * w[..., None, None]
        for layer in self.layers:
            h = layer(h, w)
        return self.dropout(h)

    def pool(self, feats: Tensor, mask: Tensor | None = None) -> Tensor:
        """Global average over the real persons' frames and the joints: ``(N, P, T, V, D) -> (N, D)``."""
        return super().pool(feats, None if mask is None else self._fit_persons(mask.bool()))

    @torch.no_grad()
    def load_gin_state(self, state: Mapping[str, Tensor]) -> None:
        """Initialise from a pretrained :class:`GINEncoder` state dict: ``joint_embed`` and, for every layer and
        person, the GIN layers ``layers.<i>``. Raises a SkelrecError naming missing keys or mismatched shapes."""
        own = self.state_dict()
        missing, wrong = [], []
        for name in own:
            parts = name.split(".")  # joint_embed.<rest> or layers.<l>.persons.<p>.<i>.<rest>
            if parts[0] == "joint_embed":
                source = name
            elif parts[0] == "layers" and parts[2] == "persons":
                source = ".".join(["layers", *parts[4:]])
            else:
                continue  # temporal pooling: trained from scratch
            if source not in state:
                missing.append(source)
            elif state[source].shape != own[name].shape:
                wrong.append(f"{source} {tuple(state[source].shape)} vs {tuple(own[name].shape)}")
            else:
                own[name].copy_(state[source])
        if missing or wrong:
            problems = sorted(set(missing))[:5] + wrong[:5]
            raise SkelrecError(
                f"the pretrained GIN weights do not fit this STRL model ({'; '.join(problems)}); build STRL with the "
                f"GIN checkpoint's layout, in_channels, embed_dim, depth (strl_from_gin does this)"
            )


@register_encoder("strl", STRLConfig)
def strl(**kwargs) -> STRLEncoder:
    """SkeletonMAE's STRL model (randomly initialised); kwargs override :class:`STRLConfig`."""
    return STRLEncoder(STRLConfig.from_dict(kwargs))


def strl_from_gin(gin: GINEncoder, **overrides) -> STRLEncoder:
    """An STRL model whose every GIN copy starts from the pretrained ``gin`` encoder (the paper's fine-tuning).

    The GIN fields of the config come from ``gin.config``; ``overrides`` set the STRL-only ones (``num_layers``,
    ``num_persons``, ``temporal_kernel``, ``max_dilation``, ``dropout``).
    """
    g = gin.config
    gin_fields = {
        "layout": g.layout,
        "in_channels": g.in_channels,
        "embed_dim": g.embed_dim,
        "gin_depth": g.depth,
        "eps_init": g.eps_init,
        "learn_eps": g.learn_eps,
        "norm": g.norm,
    }
    clash = sorted(set(overrides) & set(gin_fields))
    if clash:
        raise SkelrecError(f"strl_from_gin: {', '.join(clash)} come from the pretrained GIN encoder; do not set them")
    model = strl(**gin_fields, **overrides)
    model.load_gin_state(gin.state_dict())
    return model
