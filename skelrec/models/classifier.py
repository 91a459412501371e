"""An encoder and a head composed into an action classifier."""

from __future__ import annotations

from torch import Tensor, nn

from skelrec.models.base import Encoder, Head, token_mask
from skelrec.models.pooling import get_pooling

__all__ = ["Classifier"]


class Classifier(nn.Module):
    """``(N, M, T, V, C)`` skeletons + mask ``(N, M, T)`` -> logits ``(N, classes)``.

    The head gets the pooled feature its config names (:attr:`Head.pooling`, the encoder's own pooling by default),
    or the token grid and token mask when ``head.takes_tokens``. State-dict keys are ``encoder.*`` and ``head.*``.
    """

    def __init__(self, encoder: Encoder, head: Head) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def features(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """The pooled feature ``(N, F)`` a pooled-feature head reads (:attr:`Head.pooling`)."""
        return self._pool(self.encoder.forward_features(x, mask), mask)

    def _pool(self, feats: Tensor, mask: Tensor | None) -> Tensor:
        return get_pooling(self.head.pooling)(self.encoder, feats, mask)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        feats = self.encoder.forward_features(x, mask)
        if self.head.takes_tokens:
            return self.head(feats, token_mask(mask, feats))
        return self.head(self._pool(feats, mask))
