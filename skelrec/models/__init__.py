"""Skeleton encoders and classification heads, built by name from typed configs.

``build_encoder("transformer" | "bigru" | "gin" | "stgcn", **config)``, ``build_head("linear" | "mamp_finetune" |
"prototype" | "knn", **config)`` and :class:`Classifier`. Input convention: ``(N, M, T, V, C)`` float32 + mask
``(N, M, T)`` (:mod:`skelrec.skeleton`).
"""

from skelrec.models.base import Encoder, Head, fold_persons, masked_mean, token_mask
from skelrec.models.classifier import Classifier
from skelrec.models.config import ModelConfig
from skelrec.models.fewshot import KnnHead, KnnHeadConfig, PrototypeHead, PrototypeHeadConfig, knn_scores
from skelrec.models.gin import GINConfig, GINEncoder, GINLayer
from skelrec.models.gru import BiGRUConfig, BiGRUEncoder
from skelrec.models.heads import LinearHead, LinearHeadConfig, MampFinetuneHead, MampFinetuneHeadConfig
from skelrec.models.layers import TransformerBlock
from skelrec.models.registry import (
    ENCODERS,
    HEADS,
    ModelEntry,
    build_encoder,
    build_head,
    register_encoder,
    register_head,
)
from skelrec.models.stgcn import STGCNConfig, STGCNEncoder
from skelrec.models.strl import STRLConfig, STRLEncoder, strl_from_gin
from skelrec.models.transformer import SkeletonTransformer, TransformerConfig, gather_tokens

__all__ = [
    "ENCODERS",
    "HEADS",
    "BiGRUConfig",
    "BiGRUEncoder",
    "Classifier",
    "Encoder",
    "GINConfig",
    "GINEncoder",
    "GINLayer",
    "Head",
    "KnnHead",
    "KnnHeadConfig",
    "LinearHead",
    "LinearHeadConfig",
    "MampFinetuneHead",
    "MampFinetuneHeadConfig",
    "ModelConfig",
    "ModelEntry",
    "PrototypeHead",
    "PrototypeHeadConfig",
    "STGCNConfig",
    "STGCNEncoder",
    "STRLConfig",
    "STRLEncoder",
    "SkeletonTransformer",
    "TransformerBlock",
    "TransformerConfig",
    "build_encoder",
    "build_head",
    "fold_persons",
    "gather_tokens",
    "knn_scores",
    "masked_mean",
    "register_encoder",
    "register_head",
    "strl_from_gin",
    "token_mask",
]
