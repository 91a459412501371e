"""SkeletonMAE (Yan et al., ICCV'23, arXiv 2307.08476): a graph masked autoencoder over the skeleton of each frame.

No code was released (RECIPES.md); this follows the paper and GraphMAE (Hou et al., KDD'22), which it builds on:

* **Encoder**: :class:`skelrec.models.gin.GINEncoder` (joint coordinates embedded linearly to D = 64, 3 GIN layers
  over the layout's bone graph, PReLU), frame by frame.
* **Masking of body parts**: the skeleton is split into six regions, V0 head, V1 torso, V2 left arm, V3 right arm,
  V4 left leg, V5 right leg (paper Fig. 2d: 5 / 4 / 2 x 4 joints of COCO-17); the regions come from the layout
  (:attr:`skelrec.skeleton.Layout.regions`), so ``ntu25``, ``kinect20`` and ``coco17`` all work. The joints of the
  masked regions get a learnable [MASK] token in place of their embedding. The paper's best choice masks V3 + V5,
  i.e. ``mask_regions=["right_arm", "right_leg"]`` (the default); ``random_regions=r`` instead masks ``r`` regions
  drawn anew for every person-frame.
* **Decoder**: GraphMAE's ``encoder_to_decoder`` linear map, the masked joints' latents re-masked to zero, then one
  GIN layer (no norm, no final activation) that maps back to the ``C`` input channels. ``decoder_depth > 1`` puts
  more GIN layers before it (not the paper's: with one layer a re-masked joint hears only its direct neighbours).
* **Loss**: GraphMAE's scaled cosine error on the masked joints of real person-frames,
  ``L = mean (1 - cos(x_hat, x))^beta`` with ``beta = 2``.

The pretrained encoder is probed through its pooled feature (mean over joints, frames and persons) and fine-tuned in
the paper's STRL model (:mod:`skelrec.models.strl`, ``strl_from_gin``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skelrec.config import ConfigValueError
from skelrec.errors import SkelrecError
from skelrec.models.gin import GINLayer
from skelrec.skeleton import Layout, get_layout
from skelrec.ssl.base import OPTIONS_KEY, InputSpec, Method, MethodOptions, register_method, require_option

__all__ = [
    "GINDecoderLayer",
    "SkeletonMAE",
    "SkeletonMAEOptions",
    "body_part_mask",
    "random_body_part_mask",
    "region_matrix",
    "scaled_cosine_error",
]


def region_matrix(layout: str | Layout) -> Tensor:
    """``(R, V)`` bool: row ``r`` marks the joints of region ``r`` of ``layout.regions`` (head, torso, arms, legs)."""
    lay = get_layout(layout)
    out = torch.zeros(len(lay.regions), lay.num_joints, dtype=torch.bool)
    for r, joints in enumerate(lay.regions.values()):
        out[r, joints] = True
    return out


def body_part_mask(layout: str | Layout, regions: Sequence[str]) -> Tensor:
    """``(V,)`` bool: the joints of the named ``regions`` of ``layout``."""
    lay = get_layout(layout)
    unknown = sorted(set(regions) - set(lay.regions))
    if unknown:
        raise SkelrecError(f"unknown body region(s) {unknown} for layout {lay.name}; regions: {', '.join(lay.regions)}")
    names = list(lay.regions)
    return region_matrix(lay)[[names.index(r) for r in regions]].any(dim=0)


def random_body_part_mask(
    regions: Tensor, shape: Sequence[int], num_regions: int, *, generator: torch.Generator | None = None
) -> Tensor:
    """Mask ``num_regions`` regions drawn uniformly without replacement for each entry of ``shape``.

    Args:
        regions: ``(R, V)`` bool region matrix (:func:`region_matrix`).
        shape: leading shape, e.g. ``(N, M, T)``.
        num_regions: regions masked per entry, ``1 <= num_regions <= R``.

    Returns:
        ``(*shape, V)`` bool joint mask.
    """
    scores = torch.rand(*shape, regions.shape[0], device=regions.device, generator=generator)
    chosen = torch.zeros_like(scores).scatter_(-1, scores.topk(num_regions, dim=-1).indices, 1.0)  # (*shape, R)
    return (chosen @ regions.float()) > 0


def scaled_cosine_error(pred: Tensor, target: Tensor, weight: Tensor, beta: float = 2.0) -> Tensor:
    """GraphMAE's SCE: mean of ``(1 - cos(pred, target))^beta`` over the entries where ``weight`` is set.

    Args:
        pred, target: ``(..., C)`` vectors.
        weight: ``(...)`` bool (or 0/1) selection, e.g. the masked joints of real frames.
        beta: the scaling exponent (>= 1 down-weights easy, already well-aligned joints).
    """
    cos = (F.normalize(pred, dim=-1) * F.normalize(target, dim=-1)).sum(dim=-1)
    err = (1.0 - cos).clamp_min(0.0).pow(beta)
    w = weight.to(err.dtype)
    return (err * w).sum() / w.sum().clamp_min(1.0)


class GINDecoderLayer(GINLayer):
    """GraphMAE's decoder: one GIN layer whose MLP ends in ``out_dim`` channels, without norm or activation."""

    def __init__(self, adjacency: Tensor, dim: int, out_dim: int, *, eps_init: float = 0.0, learn_eps: bool = True):
        super().__init__(adjacency, dim, eps_init=eps_init, learn_eps=learn_eps, norm="none")
        self.mlp[-1] = nn.Linear(dim, out_dim)
        self.act = nn.Identity()


@dataclass(frozen=True)
class SkeletonMAEOptions(MethodOptions):
    """SkeletonMAE's ``method.kwargs``.

    Attributes:
        mask_regions: regions masked in every frame (paper: V3 + V5 = right arm + right leg).
        random_regions: when > 0, mask this many regions drawn per person-frame instead of ``mask_regions``.
        beta: exponent of the scaled cosine error (2).
        remask: zero the masked joints' latents before the decoder (GraphMAE's re-mask).
        decoder_depth: GIN layers of the decoder (paper: 1); the extra ones come first, with the encoder's norm.
    """

    mask_regions: tuple[str, ...] = ("right_arm", "right_leg")
    random_regions: int = 0
    beta: float = 2.0
    remask: bool = True
    decoder_depth: int = 1

    def check(self) -> None:
        require_option(self.random_regions >= 0, "random_regions", f"must be >= 0, got {self.random_regions}")
        require_option(self.beta > 0, "beta", f"must be > 0, got {self.beta}")
        require_option(self.decoder_depth >= 1, "decoder_depth", f"must be >= 1, got {self.decoder_depth}")


@register_method("skeletonmae")
class SkeletonMAE(Method):
    """Masked body-part reconstruction with a GIN encoder/decoder (see the module docstring).

    Options: :class:`SkeletonMAEOptions`. Encoder: a :class:`skelrec.models.gin.GINEncoder` (anything with
    ``embed``, ``forward_embedded`` and ``layout``) for ``spec``'s layout.
    """

    Options = SkeletonMAEOptions
    options: SkeletonMAEOptions

    def __init__(self, encoder: nn.Module, spec: InputSpec, **options: Any) -> None:
        super().__init__(encoder, spec, **options)
        o = self.options
        if not all(hasattr(encoder, a) for a in ("embed", "forward_embedded", "layout")):
            raise SkelrecError(
                f"skeletonmae needs the per-frame graph encoder (encoder.name: gin), got {type(encoder).__name__}"
            )
        layout = get_layout(encoder.layout)
        if layout.name != spec.layout:
            raise SkelrecError(
                f"skeletonmae: the GIN encoder is built for layout {layout.name}, the data is {spec.layout}; "
                f"drop encoder.kwargs.layout (it defaults to the data's) or convert the data"
            )
        regions = len(layout.regions)
        fits = o.random_regions <= regions
        require_option(fits, "random_regions", f"must be in [0, {regions}] ({layout.name}), got {o.random_regions}")
        self.beta, self.remask, self.random_regions = o.beta, o.remask, o.random_regions
        dim = encoder.embed_dim
        try:
            fixed_mask = body_part_mask(layout, list(o.mask_regions))  # (V,)
        except SkelrecError as err:
            raise ConfigValueError(f"{OPTIONS_KEY}.mask_regions", str(err)) from None
        self.register_buffer("fixed_mask", fixed_mask, persistent=False)
        self.register_buffer("regions", region_matrix(layout), persistent=False)  # (R, V)
        some = o.random_regions > 0 or bool(self.fixed_mask.any())
        require_option(some, "mask_regions", f"{list(o.mask_regions)} holds no joint of {layout.name}")
        self.mask_token = nn.Parameter(torch.zeros(dim))
        nn.init.normal_(self.mask_token, std=0.02)
        self.encoder_to_decoder = nn.Linear(dim, dim, bias=False)
        adjacency = torch.from_numpy(layout.adjacency)
        norm = getattr(getattr(encoder, "config", None), "norm", "layer")
        self.decoder_hidden = nn.ModuleList(GINLayer(adjacency, dim, norm=norm) for _ in range(o.decoder_depth - 1))
        self.decoder = GINDecoderLayer(adjacency, dim, spec.channels)

    def joint_mask(self, shape: Sequence[int]) -> Tensor:
        """``(*shape, V)`` bool: the joints replaced by [MASK] for a batch of leading shape ``(N, M, T)``."""
        if self.random_regions:
            return random_body_part_mask(self.regions, shape, self.random_regions)
        return self.fixed_mask.expand(*shape, -1)

    def reconstruct(self, x: Tensor, joint_mask: Tensor) -> Tensor:
        """Encode ``x (N, M, T, V, C)`` with the masked joints' embeddings replaced by [MASK]; decode ``(..., C)``."""
        h = self.encoder.embed(x)  # (N, M, T, V, D)
        h = torch.where(joint_mask[..., None], self.mask_token.to(h.dtype), h)
        z = self.encoder_to_decoder(self.encoder.forward_embedded(h))
        if self.remask:
            z = z.masked_fill(joint_mask[..., None], 0.0)
        for layer in self.decoder_hidden:
            z = layer(z)
        return self.decoder(z)  # (N, M, T, V, C)

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor | float]:
        x, mask = batch["x"], batch["mask"]
        joint_mask = self.joint_mask(x.shape[:3])
        pred = self.reconstruct(x, joint_mask)
        weight = joint_mask & mask[..., None] & (x != 0).any(dim=-1)  # masked joints of real frames, not missing
        loss = scaled_cosine_error(pred.float(), x.float(), weight, self.beta)
        return {"loss": loss, "masked_joints": joint_mask.float().mean()}
