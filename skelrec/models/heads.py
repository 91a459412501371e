"""Classification heads of the evaluation protocols (MAMP ``main_linprobe.py`` / ``main_finetune.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from skelrec.errors import SkelrecError
from skelrec.models.base import Head, masked_mean
from skelrec.models.config import ModelConfig
from skelrec.models.pooling import PooledHeadConfig
from skelrec.models.registry import register_head

__all__ = ["LinearHead", "LinearHeadConfig", "MampFinetuneHead", "MampFinetuneHeadConfig", "linear", "mamp_finetune"]


@dataclass
class LinearHeadConfig(PooledHeadConfig):
    """Config of :class:`LinearHead` (and ``pooling``, the feature it reads: :class:`PooledHeadConfig`).

    Attributes:
        in_dim: width of the pooled encoder feature.
        num_classes: number of classes.
        batch_norm: a ``BatchNorm1d(affine=False)`` before the linear layer (MAMP's linear probe).
    """

    in_dim: int = 256
    num_classes: int = 60
    batch_norm: bool = True


class LinearHead(Head):
    """Linear probe on the pooled feature: ``(N, D) -> BatchNorm1d(affine=False) -> Linear -> (N, classes)``."""

    takes_tokens = False

    def __init__(self, config: LinearHeadConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or LinearHeadConfig()
        self.norm = nn.BatchNorm1d(cfg.in_dim, affine=False) if cfg.batch_norm else nn.Identity()
        self.fc = nn.Linear(cfg.in_dim, cfg.num_classes)

    def forward(self, pooled: Tensor) -> Tensor:
        return self.fc(self.norm(pooled))


@dataclass
class MampFinetuneHeadConfig(ModelConfig):
    """Config of :class:`MampFinetuneHead`; the defaults are MAMP's NTU-60 fine-tuning head (13.24M parameters).

    Attributes:
        in_dim: token width ``D``.
        num_joints: tokens per frame step ``V'`` (the encoder's ``feature_joints``).
        num_classes: number of classes.
        hidden_dim: width of the hidden layer (2048).
        dropout: dropout on the token features (MAMP fine-tuning: 0.3).
    """

    in_dim: int = 256
    num_joints: int = 25
    num_classes: int = 60
    hidden_dim: int = 2048
    dropout: float = 0.3


class MampFinetuneHead(Head):
    """MAMP's fine-tuning head on the token grid ``(N, M', T', V', D)``.

    Dropout on the tokens -> mean over valid time -> concatenate the ``V'`` joints (``V' * D``) -> mean over valid
    persons -> ``fc(hidden) -> BatchNorm1d -> ReLU -> fc(classes)``. The dropout sits on the input features as in
    MAMP's ``ActionHeadFinetune``; MAMP averages over all persons and frames, padding included, this head over
    the valid ones.
    """

    takes_tokens = True

    def __init__(self, config: MampFinetuneHeadConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or MampFinetuneHeadConfig()
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc1 = nn.Linear(cfg.num_joints * cfg.in_dim, cfg.hidden_dim)
        self.bn = nn.BatchNorm1d(cfg.hidden_dim)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(cfg.hidden_dim, cfg.num_classes)

    def forward(self, feats: Tensor, token_mask: Tensor) -> Tensor:
        """``feats (N, M', T', V', D)``, ``token_mask (N, M', T')`` -> logits ``(N, classes)``."""
        n, m, _, v, d = feats.shape
        if (v, d) != (self.config.num_joints, self.config.in_dim):
            raise SkelrecError(
                f"MampFinetuneHead was built for {self.config.num_joints} x {self.config.in_dim} tokens per frame, "
                f"got {v} x {d}; build it with num_joints=encoder.feature_joints, in_dim=encoder.embed_dim"
            )
        per_person = masked_mean(self.dropout(feats), token_mask, dims=(2,)).reshape(n, m, v * d)  # (N, M', V'*D)
        pooled = masked_mean(per_person, token_mask.any(dim=-1), dims=(1,))  # (N, V'*D)
        return self.fc2(self.relu(self.bn(self.fc1(pooled))))


@register_head("linear", LinearHeadConfig)
def linear(**kwargs) -> LinearHead:
    """MAMP linear probe (BatchNorm without affine + Linear); kwargs override :class:`LinearHeadConfig`."""
    return LinearHead(LinearHeadConfig.from_dict(kwargs))


@register_head("mamp_finetune", MampFinetuneHeadConfig)
def mamp_finetune(**kwargs) -> MampFinetuneHead:
    """MAMP fine-tuning head; kwargs override :class:`MampFinetuneHeadConfig`."""
    return MampFinetuneHead(MampFinetuneHeadConfig.from_dict(kwargs))
