"""Bidirectional GRU encoder of HaLP (Shah et al., CVPR'23; ``anshulbshah/HaLP`` ``moco/GRU.py``, from CMD).

Each frame's joints are flattened into one vector, normalised by an input BatchNorm over (batch, time), and a
3-layer GRU with two directions (hidden 1024 each at the paper config, 45.0M parameters) reads the sequence.

Facts of HaLP's ``GRU.py`` this module reproduces, and the choices it leaves open:

* **Readout = last state.** ``BIGRU.forward`` returns the top layer's output at the last frame (both directions
  concatenated, ``2 * hidden``), not a mean over time. ``readout="last"`` (default) does this with the last *valid*
  frame of each sample; ``readout="mean"`` averages over valid frames instead.
* **Both directions run forward in time** (``causal=True``, default). HaLP's ``EncoderRNN`` calls the
  bidirectional ``nn.GRU`` on one frame at a time, carrying the hidden state, so its "backward" direction never
  sees a later frame: it is a second causal GRU cell per layer whose input is the concatenated outputs of both
  cells below. ``causal=True`` computes exactly that, on whole sequences (two ``nn.GRU`` per layer).
  ``causal=False`` is an ordinary bidirectional GRU (pair it with ``readout="mean"``: the backward direction's
  output at the last frame has seen one frame only).
* **Persons.** HaLP feeds 150 = 2 persons x 25 joints x 3 values per frame (``person_mode="concat"``, default:
  ``M`` is padded/truncated to ``num_persons`` and features are ``(N, 1, T, 1, 2H)``). ``person_mode="fold"``
  encodes each person separately (``V * C`` = 75 inputs, features ``(N, M, T, 1, 2H)``, any ``M``) and pooling
  averages the valid persons.
* The input BatchNorm sees padded (zero) frames and persons, as in HaLP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from skelrec.errors import SkelrecError
from skelrec.models.base import Encoder, fold_persons, masked_mean, token_mask
from skelrec.models.config import ModelConfig
from skelrec.models.registry import register_encoder

__all__ = ["BiGRUConfig", "BiGRUEncoder", "bigru"]


@dataclass
class BiGRUConfig(ModelConfig):
    """Architecture of :class:`BiGRUEncoder`; the defaults are HaLP's NTU config (see the module docstring).

    Attributes:
        in_channels: ``C`` per joint.
        num_joints: ``V`` of the layout.
        num_persons: persons concatenated per frame when ``person_mode="concat"`` (ignored for ``"fold"``).
        person_mode: ``"concat"`` (HaLP: ``M * V * C`` inputs per frame) or ``"fold"`` (``V * C``, persons in batch).
        hidden_size: GRU width per direction (1024 in HaLP); the feature width is ``2 * hidden_size``.
        num_layers: stacked GRU layers (3).
        causal: both directions read forward in time, as HaLP's frame-by-frame loop does.
        readout: ``"last"`` output at the last valid frame (HaLP) or ``"mean"`` over valid frames.
        dropout: dropout between GRU layers.
    """

    in_channels: int = 3
    num_joints: int = 25
    num_persons: int = 2
    person_mode: Literal["concat", "fold"] = "concat"
    hidden_size: int = 1024
    num_layers: int = 3
    causal: bool = True
    readout: Literal["last", "mean"] = "last"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        sizes = ("in_channels", "num_joints", "num_persons", "hidden_size", "num_layers")
        bad = [f"{n}={getattr(self, n)}" for n in sizes if getattr(self, n) < 1]
        if bad:
            raise SkelrecError(f"BiGRUConfig: {', '.join(bad)} must be >= 1")

    @property
    def input_size(self) -> int:
        persons = self.num_persons if self.person_mode == "concat" else 1
        return persons * self.num_joints * self.in_channels


class _CausalPairLayer(nn.Module):
    """Two GRU cells reading the same input forward in time; ``(B, T, I) -> (B, T, 2H)``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.cells = nn.ModuleList(nn.GRU(input_size, hidden_size, batch_first=True) for _ in range(2))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([cell(x)[0] for cell in self.cells], dim=-1)


class _BidirectionalLayer(nn.Module):
    """An ordinary bidirectional GRU layer; ``(B, T, I) -> (B, T, 2H)``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size, batch_first=True, bidirectional=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.gru(x)[0]


class BiGRUEncoder(Encoder):
    """HaLP's bidirectional GRU over per-frame joint vectors; see the module docstring.

    Args:
        config: the architecture (:class:`BiGRUConfig`; the default is HaLP's).
    """

    def __init__(self, config: BiGRUConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or BiGRUConfig()
        self.input_norm = nn.BatchNorm1d(cfg.input_size)
        layer = _CausalPairLayer if cfg.causal else _BidirectionalLayer
        sizes = [cfg.input_size] + [2 * cfg.hidden_size] * (cfg.num_layers - 1)
        self.layers = nn.ModuleList(layer(size, cfg.hidden_size) for size in sizes)
        self.dropout = nn.Dropout(cfg.dropout)

    @property
    def embed_dim(self) -> int:
        return 2 * self.config.hidden_size

    @property
    def feature_joints(self) -> int:
        return 1

    def frame_vectors(self, x: Tensor) -> Tensor:
        """``(N, M, T, V, C)`` -> per-frame input vectors ``(N, M', T, I)`` of the configured person mode."""
        n, m, t = x.shape[:3]
        if self.config.person_mode == "fold":
            return x.reshape(n, m, t, -1)
        p = self.config.num_persons
        x = x[:, :p] if m >= p else torch.cat([x, x.new_zeros(n, p - m, *x.shape[2:])], dim=1)
        return x.permute(0, 2, 1, 3, 4).reshape(n, 1, t, -1)

    def forward_features(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``(N, M, T, V, C)`` -> per-frame GRU outputs ``(N, M', T, 1, 2H)`` (``M' = 1`` for concat)."""
        self.check_input(x)
        seq = self.frame_vectors(x)
        n, m_out, t, _ = seq.shape
        h = self.input_norm(fold_persons(seq).transpose(1, 2)).transpose(1, 2)  # BN over (batch, time)
        for i, layer in enumerate(self.layers):
            h = layer(self.dropout(h) if i else h)
        return h.reshape(n, m_out, t, 1, -1)

    def pool(self, feats: Tensor, mask: Tensor | None = None) -> Tensor:
        """``(N, M', T, 1, 2H) -> (N, 2H)``: last valid frame (or mean of valid frames), then mean of valid persons."""
        valid = token_mask(mask, feats)  # (N, M', T)
        if self.config.readout == "mean":
            return masked_mean(feats, valid, dims=(1, 2, 3))
        t = valid.shape[-1]
        last = (t - 1 - valid.flip(-1).int().argmax(dim=-1)).clamp_min(0)  # (N, M') index of the last valid frame
        index = last[:, :, None, None, None].expand(-1, -1, 1, *feats.shape[3:])
        per_person = feats.gather(2, index)[:, :, 0, 0]  # (N, M', 2H)
        return masked_mean(per_person, valid.any(dim=-1), dims=(1,))


@register_encoder("bigru", BiGRUConfig)
def bigru(**kwargs) -> BiGRUEncoder:
    """HaLP's bidirectional GRU; kwargs override HaLP's config (:class:`BiGRUConfig`)."""
    return BiGRUEncoder(BiGRUConfig.from_dict(kwargs))
