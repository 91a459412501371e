"""MoCo v2 machinery: a queue of negative keys, the InfoNCE loss, a projection head, and the MoCo v2 method.

MoCo (He et al., CVPR'20) with the v2 changes (Chen et al., 2020: MLP projection head, stronger augmentation), in
the single-modality form HaLP builds on (``anshulbshah/HaLP`` ``moco/builder_single_modality_*.py``, from CMD):

* a query network (the registry encoder + :class:`ProjectionHead`) embeds one augmented view, ``q = f_q(x_q)``;
* a key network, a momentum copy of it (:class:`skelrec.ssl.ema.EMATeacher`, ``theta_k <- m theta_k +
  (1 - m) theta_q``, m = 0.999), embeds the other view, ``k = f_k(x_k)``, without gradient;
* :func:`info_nce` contrasts ``q`` with its key against the :class:`KeyQueue` of earlier keys (K = 16,384,
  temperature 0.07);
* after the optimizer step the key network follows the query network and the batch's keys replace the oldest ones
  in the queue (gathered from every process first, so the queue is the same on all of them).

The two views are drawn on the batch, on the device, by :class:`skelrec.ssl.augment.ContrastiveViews` (HaLP's
temporal crop-resize + one of joint corruption / shear).

Differences from MoCo's reference code, on purpose:

* Shuffle-BN on one device. An encoder with BatchNorm (ST-GCN, the GRU's none) computes the keys in train mode on
  ``shuffle_bn_groups`` random sub-batches (MoCo spreads the shuffled key batch over GPUs; here the sub-batches
  are the "GPUs", within each process), so a query and its positive key are never normalised by the same
  statistics. Keys in eval mode, on the running statistics copied from the query network, are not an option:
  those statistics describe the query network's activations, not the lagging key network's, and on ST-GCN MoCo
  collapsed to chance (InfoNCE at log(K + 1), key accuracy 0 after ~1,000 steps of the CPU config). Encoders
  without BatchNorm (the transformer's LayerNorms) compute keys in eval mode, on the whole batch.
* The momentum update and the enqueue run in :meth:`MoCoV2.on_step_end` (after the optimizer step) rather than at
  the start / end of the next forward: the same sequence of updates, and ``forward`` has no side effect on the
  queue (it only remembers the batch's keys).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from skelrec.config import ConfigValueError
from skelrec.errors import SkelrecError
from skelrec.ssl.augment import ContrastiveViews
from skelrec.ssl.base import OPTIONS_KEY, InputSpec, Method, MethodOptions, register_method, require_option
from skelrec.ssl.ema import EMATeacher

__all__ = ["KeyQueue", "MoCoOptions", "MoCoV2", "ProjectionHead", "concat_all_gather", "info_nce"]


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


@torch.no_grad()
def concat_all_gather(x: Tensor) -> Tensor:
    """``(n, ...)`` from each of ``W`` processes -> ``(W * n, ...)`` in rank order, without gradient.

    ``x`` itself when ``torch.distributed`` is not initialised (or has one process). Every process must pass the
    same shape (the training loop drops the last incomplete batch, so it does).
    """
    world = _world_size()
    if world == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def info_nce(q: Tensor, k: Tensor, negatives: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """MoCo's InfoNCE: ``L = -log exp(q.k/T) / (exp(q.k/T) + sum_n exp(q.n/T))``, mean over the batch.

    Args:
        q: ``(N, D)`` unit queries (with gradient).
        k: ``(N, D)`` unit positive keys.
        negatives: ``(K, D)`` unit negative keys (the queue).
        temperature: ``T``.

    Returns:
        the loss (0-dim) and the logits ``(N, 1 + K)`` (column 0 is the positive).
    """
    with torch.autocast(q.device.type, enabled=False):  # logits / 0.07 need float32 under mixed precision
        q, k, negatives = q.float(), k.float(), negatives.float()
        l_pos = (q * k).sum(dim=-1, keepdim=True)  # (N, 1)
        l_neg = q @ negatives.T  # (N, K)
        logits = torch.cat([l_pos, l_neg], dim=1) / temperature
        target = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
        return F.cross_entropy(logits, target), logits


class KeyQueue(nn.Module):
    """A first-in-first-out queue of ``size`` unit keys of width ``dim`` (MoCo's dictionary).

    Buffers (they travel in checkpoints): ``keys (size, dim)`` (random unit vectors at first, as in MoCo, drawn
    from a fixed seed so that every process starts with the same queue),
    ``ptr`` (where the next key goes) and ``seen`` (keys enqueued so far, all processes together).
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise SkelrecError(f"a key queue needs size >= 1 and dim >= 1, got size={size}, dim={dim}")
        self.size = size
        initial = torch.randn(size, dim, generator=torch.Generator().manual_seed(0))  # the same on every process
        self.register_buffer("keys", F.normalize(initial, dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        """Replace the oldest keys by ``keys (n, dim)`` of this process and of every other one (rank order)."""
        keys = concat_all_gather(keys.detach())
        n = keys.shape[0]
        if n > self.size:
            raise SkelrecError(
                f"{n} keys per step (global batch) do not fit a queue of {self.size}; raise method.kwargs.queue_size"
            )
        index = (self.ptr + torch.arange(n, device=self.ptr.device)) % self.size  # (n,), wraps around
        self.keys[index] = keys.to(self.keys.dtype)
        self.ptr.copy_((self.ptr + n) % self.size)
        self.seen.add_(n)

    def recent(self, n: int) -> Tensor:
        """The ``n`` most recently enqueued keys ``(n, dim)``, oldest first (wrapping around the ring)."""
        n = min(n, self.size)
        index = (self.ptr - n + torch.arange(n, device=self.ptr.device)) % self.size
        return self.keys[index]

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.keys.shape[1]}"


class ProjectionHead(nn.Module):
    """MoCo v2 projection: ``Linear(D, D) -> ReLU -> Linear(D, out)`` (``mlp=True``) or ``Linear(D, out)``.

    HaLP (``--mlp``) on the BiGRU: 2048 -> 2048 -> 128 (4.46M parameters).
    """

    def __init__(self, in_dim: int, out_dim: int = 128, *, mlp: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(in_dim, in_dim), nn.ReLU()] if mlp else []
        self.net = nn.Sequential(*layers, nn.Linear(in_dim, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        """``(N, D) -> (N, out)``."""
        return self.net(x)


@dataclass(frozen=True)
class MoCoOptions(MethodOptions):
    """MoCo v2's ``method.kwargs``.

    Attributes:
        queue_size: negatives ``K`` (HaLP: 16,384).
        momentum: key-network momentum ``m`` (0.999).
        temperature: InfoNCE temperature ``T`` (0.07).
        proj_dim: width of the projected, L2-normalised embedding (128).
        mlp: MLP projection head (MoCo v2, HaLP ``--mlp``) rather than a linear one.
        augment: options of :class:`skelrec.ssl.augment.ContrastiveViews` (``frames`` defaults to the clip length).
        shuffle_bn_groups: sub-batches of the key batch for shuffle-BN when the encoder has BatchNorm (MoCo: the
            number of GPUs, 8; 2 here, measured on the CPU config); 1 or less computes the keys in eval mode.
    """

    queue_size: int = 16384
    momentum: float = 0.999
    temperature: float = 0.07
    proj_dim: int = 128
    mlp: bool = True
    augment: dict[str, Any] | None = None
    shuffle_bn_groups: int = 2

    def check(self) -> None:
        require_option(self.queue_size >= 1, "queue_size", f"must be >= 1, got {self.queue_size}")
        require_option(0 <= self.momentum <= 1, "momentum", f"must be in [0, 1], got {self.momentum}")
        require_option(self.temperature > 0, "temperature", f"must be > 0, got {self.temperature}")
        require_option(self.proj_dim >= 1, "proj_dim", f"must be >= 1, got {self.proj_dim}")


@register_method("moco")
class MoCoV2(Method):
    """MoCo v2 on skeleton clips (see the module docstring); the baseline HaLP starts from.

    Options: :class:`MoCoOptions`. Encoder: a registry encoder; its pooled feature ``(N, D)`` is projected.
    """

    Options = MoCoOptions
    options: MoCoOptions

    def __init__(self, encoder: nn.Module, spec: InputSpec, **options: Any) -> None:
        super().__init__(encoder, spec, **options)
        o = self.options
        self.temperature = o.temperature
        try:
            self.views = ContrastiveViews.from_options(spec, o.augment or {})
        except SkelrecError as err:
            raise ConfigValueError(f"{OPTIONS_KEY}.augment", str(err)) from None
        self.projector = ProjectionHead(encoder.embed_dim, o.proj_dim, mlp=o.mlp)
        self.key_encoder = EMATeacher(encoder, decay=o.momentum, end_decay=o.momentum)
        self.key_projector = EMATeacher(self.projector, decay=o.momentum, end_decay=o.momentum)
        self.queue = KeyQueue(o.queue_size, o.proj_dim)
        self._new_keys: Tensor | None = None
        has_bn = any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in [*encoder.modules(), *self.projector.modules()]
        )
        self.shuffle_bn_groups = o.shuffle_bn_groups if has_bn else 1

    @torch.no_grad()
    def keys(self, x: Tensor, mask: Tensor) -> Tensor:
        """Unit keys ``(N, proj_dim)`` of the momentum network, with shuffle-BN when it has BatchNorm."""
        encoder, projector = self.key_encoder.module, self.key_projector.module
        groups = min(self.shuffle_bn_groups, x.shape[0] // 2)  # BatchNorm needs 2 samples a group
        if groups <= 1:
            return F.normalize(projector(encoder(x, mask)), dim=1)
        order = torch.randperm(x.shape[0], device=x.device)
        encoder.train(), projector.train()
        try:
            shuffled = torch.cat([projector(encoder(x[i], mask[i])) for i in order.tensor_split(groups)])
        finally:
            encoder.eval(), projector.eval()
        k = torch.empty_like(shuffled)
        k[order] = shuffled
        return F.normalize(k, dim=1)

    def embed_views(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Two random views of ``batch["x"]``: unit queries ``q (N, proj_dim)`` (with gradient) and keys ``k``."""
        x, mask = batch["x"], batch["mask"]
        x_q, mask_q = self.views(x, mask)
        x_k, mask_k = self.views(x, mask)
        q = F.normalize(self.projector(self.encoder(x_q, mask_q)), dim=1)
        return q, self.keys(x_k, mask_k)

    def contrast(self, q: Tensor, k: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """InfoNCE of ``q`` against ``k`` and the queue; remembers ``k`` for :meth:`on_step_end`."""
        loss, logits = info_nce(q, k, self.queue.keys.detach(), self.temperature)
        self._new_keys = k.detach()
        accuracy = (logits.detach().argmax(dim=1) == 0).float().mean()
        return loss, {"loss_infonce": loss.detach(), "acc_infonce": accuracy}

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor | float]:
        q, k = self.embed_views(batch)
        loss, logs = self.contrast(q, k)
        return {"loss": loss, **logs}

    @torch.no_grad()
    def on_step_end(self, step: int) -> None:
        """Momentum update of the key network, then enqueue the last batch's keys (all processes')."""
        self.key_encoder.update(self.encoder, step)
        self.key_projector.update(self.projector, step)
        if self._new_keys is not None:
            self.queue.enqueue(self._new_keys)
            self._new_keys = None
