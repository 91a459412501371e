"""Spatial-temporal graph convolutional network (ST-GCN; Yan, Xiong and Lin, AAAI'18) over any layout's bones.

The standard skeleton backbone, and the encoder of most contrastive skeleton methods (CrosSCLR, AimCLR and the MoCo
family HaLP belongs to). A block is

    x <- ReLU(TCN(GCN(x)) + residual(x)),   GCN(x)_w = sum_k sum_v (W_k x)_v (A_k * M_k)_vw,
    TCN = BN -> ReLU -> Conv(kernel (9, 1), stride s) -> BN -> Dropout

with ``A_k`` the three subsets of the paper's *spatial* partition (the joint itself; neighbours nearer to the body
centre; neighbours farther from it), each column-normalised by the node degrees, and ``M_k`` a learnable edge
importance (initialised to 1). The paper config stacks 10 blocks of 64, 64, 64, 64, 128, 128, 128, 256, 256, 256
channels with temporal stride 2 at the 5th and 8th block (3.1M parameters for ``ntu25``), after a BatchNorm of the
raw coordinates (``data_bn``).

Choices this implementation makes:

* **Graph from the layout.** The bones are :attr:`skelrec.skeleton.Layout.bones`, the centre is the layout's body
  centre (its ``center`` joints: the hip centre, or both hips for MediaPipe/COCO), so one class serves ``ntu25``,
  ``kinect20``, ``coco17``, ``mediapipe33``. The paper's NTU graph centres on the spine joint instead.
* **Distances to the centre are geodesic.** The authors' graph code computes hop distances only up to ``max_hop`` = 1,
  so any two joints farther than one bone from the centre compare as equal (``inf == inf``) and their edge lands in
  the "root" subset; here the partition uses the real bone distance, as the paper describes it.
* **Persons are folded into the batch** (each person is encoded alone, ``data_bn`` normalises ``V * C`` per person)
  and the features keep them apart: ``(N, M, T', V, D)``, so pooling skips absent persons like the other encoders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from skelrec.errors import SkelrecError
from skelrec.models.base import Encoder, fold_persons
from skelrec.models.config import ModelConfig
from skelrec.models.registry import register_encoder
from skelrec.skeleton import get_layout

__all__ = ["STGCNConfig", "STGCNEncoder", "spatial_partition", "stgcn"]

PAPER_CHANNELS = (64, 64, 64, 64, 128, 128, 128, 256, 256, 256)
PAPER_STRIDES = (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)


@dataclass
class STGCNConfig(ModelConfig):
    """Architecture of :class:`STGCNEncoder`; the defaults are the paper's NTU config.

    Attributes:
        layout: skeleton layout whose bone graph the blocks use (any name of ``skelrec.skeleton.LAYOUTS``).
        in_channels: ``C`` per joint.
        channels: output channels of every block; the last one is the feature width ``D``.
        strides: temporal stride of every block (same length as ``channels``).
        temporal_kernel: frames of the temporal convolutions (odd).
        dropout: dropout at the end of every block's temporal unit.
        edge_importance: learn a multiplicative weight per edge and subset (the paper's edge importance).
    """

    layout: str = "ntu25"
    in_channels: int = 3
    channels: tuple[int, ...] = PAPER_CHANNELS
    strides: tuple[int, ...] = PAPER_STRIDES
    temporal_kernel: int = 9
    dropout: float = 0.0
    edge_importance: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        get_layout(self.layout)  # unknown layout -> SkelrecError listing the known ones
        if not self.channels or len(self.channels) != len(self.strides):
            raise SkelrecError(
                f"STGCNConfig: channels ({len(self.channels)} blocks) and strides ({len(self.strides)}) must be "
                f"non-empty lists of the same length"
            )
        bad = [f"{n}={getattr(self, n)}" for n in ("in_channels", "temporal_kernel") if getattr(self, n) < 1]
        bad += [f"{n} {list(getattr(self, n))}" for n in ("channels", "strides") if min(getattr(self, n)) < 1]
        if bad:
            raise SkelrecError(f"STGCNConfig: {', '.join(bad)} must be >= 1")
        if self.temporal_kernel % 2 == 0:
            raise SkelrecError(f"STGCNConfig: temporal_kernel={self.temporal_kernel} must be odd")
        if not 0.0 <= self.dropout < 1.0:
            raise SkelrecError(f"STGCNConfig: dropout={self.dropout} must be in [0, 1)")


def spatial_partition(layout: str) -> np.ndarray:
    """The paper's spatial partition of ``layout``'s graph: ``(3, V, V)`` = root, centripetal, centrifugal.

    Entry ``[k, v, w]`` weights joint ``v``'s message to joint ``w``; every column of the sum is normalised by
    ``v``'s degree (self loop included), as ST-GCN's ``normalize_digraph``.
    """
    lay = get_layout(layout)
    n = lay.num_joints
    neighbour = lay.adjacency.astype(bool) | np.eye(n, dtype=bool)
    # geodesic bone distance of every joint to the body centre (BFS from all centre joints at once)
    dist = np.full(n, np.inf)
    frontier = np.zeros(n, dtype=bool)
    frontier[lay.indices(lay.center)] = True
    hop = 0
    while frontier.any():
        dist[frontier] = hop
        frontier = neighbour[frontier].any(axis=0) & np.isinf(dist)
        hop += 1
    weights = neighbour / neighbour.sum(axis=0, keepdims=True)  # A D^-1: column w sums to 1 over its sources v
    src, dst = dist[:, None], dist[None, :]  # the message goes from v (rows) to w (columns)
    subsets = [src == dst, src < dst, src > dst]  # root, nearer to the centre than w, farther from it
    return np.stack([np.where(neighbour & s, weights, 0.0) for s in subsets]).astype(np.float32)


class STGCNBlock(nn.Module):
    """One ST-GCN unit on ``(N, C, T, V)``: spatial graph conv over the partition, temporal conv, residual."""

    def __init__(
        self, partition: Tensor, c_in: int, c_out: int, *, stride: int, kernel: int, dropout: float, edges: bool
    ):
        super().__init__()
        k = partition.shape[0]
        self.register_buffer("partition", partition, persistent=False)
        self.edge_importance = nn.Parameter(torch.ones_like(partition), requires_grad=edges)
        self.gcn = nn.Conv2d(c_in, c_out * k, 1)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, (kernel, 1), (stride, 1), (kernel // 2, 0)),
            nn.BatchNorm2d(c_out),
            nn.Dropout(dropout, inplace=True),
        )
        if c_in == c_out and stride == 1:
            self.residual: nn.Module = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(c_in, c_out, 1, (stride, 1)), nn.BatchNorm2d(c_out))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        n, _, t, v = x.shape
        y = self.gcn(x).view(n, self.partition.shape[0], -1, t, v)
        y = torch.einsum("nkctv,kvw->nctw", y, self.partition * self.edge_importance)
        return self.act(self.tcn(y) + self.residual(x))


class STGCNEncoder(Encoder):
    """ST-GCN over the layout's graph; tokens are joints at a reduced frame rate:
    ``(N, M, T, V, C) -> (N, M, T / prod(strides), V, D)``.

    Args:
        config: the architecture (:class:`STGCNConfig`; the default is the paper's).
    """

    def __init__(self, config: STGCNConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or STGCNConfig()
        self.layout = get_layout(cfg.layout)
        partition = torch.from_numpy(spatial_partition(cfg.layout))
        self.data_bn = nn.BatchNorm1d(self.layout.num_joints * cfg.in_channels)
        widths = (cfg.in_channels, *cfg.channels)
        self.layers = nn.ModuleList(
            STGCNBlock(
                partition,
                c_in,
                c_out,
                stride=stride,
                kernel=cfg.temporal_kernel,
                dropout=cfg.dropout,
                edges=cfg.edge_importance,
            )
            for c_in, c_out, stride in zip(widths[:-1], widths[1:], cfg.strides, strict=True)
        )
        self.time_stride = int(np.prod(cfg.strides))

    @property
    def embed_dim(self) -> int:
        return int(self.config.channels[-1])

    def forward_features(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``(N, M, T, V, C) -> (N, M, T', V, D)``; ``T`` must be a multiple of the product of the strides."""
        self.check_input(x)
        n, m, t, v, c = x.shape
        if t % self.time_stride:
            raise SkelrecError(
                f"STGCNEncoder: {t} frames do not divide into the temporal stride {self.time_stride}; use a clip "
                f"length that is a multiple of {self.time_stride}"
            )
        h = fold_persons(x)  # (N*M, T, V, C)
        h = self.data_bn(h.permute(0, 2, 3, 1).reshape(n * m, v * c, t))
        h = h.view(n * m, v, c, t).permute(0, 2, 3, 1).contiguous()  # (N*M, C, T, V)
        for layer in self.layers:
            h = layer(h)
        return h.permute(0, 2, 3, 1).reshape(n, m, h.shape[2], v, h.shape[1])


@register_encoder("stgcn", STGCNConfig)
def stgcn(**kwargs) -> STGCNEncoder:
    """ST-GCN; kwargs override the paper config (:class:`STGCNConfig`)."""
    return STGCNEncoder(STGCNConfig.from_dict(kwargs))
