"""HaLP: Hallucinating Latent Positives (Shah et al., CVPR'23), on the MoCo v2 of :mod:`skelrec.ssl.moco`.

Facts from ``anshulbshah/HaLP`` (``moco/builder_single_modality_halp.py``, ``moco/generator.py``, ``scripts/*.sh``;
RECIPES.md), re-implemented:

* **Prototypes.** 20 centres of a spherical k-means over the 256 most recent queue keys, refreshed every 10 steps
  (HaLP: geomstats ``RiemannianKMeans`` with k-means++ init; here :func:`spherical_kmeans`, batched torch on the
  device, whose centre is the re-normalised mean rather than the Fréchet mean).
* **Positives.** For an anchor key ``k`` with nearest prototype ``p0``, pick a prototype ``p`` uniformly among the
  ``candidate_prototypes`` nearest ones after ``p0`` and walk from ``k`` towards ``p`` on the sphere::

      g(t) = slerp(k, p, t) = (sin((1 - t) w) k + sin(t w) p) / sin w,     w = arccos(p . k)

  The largest step that keeps ``g`` at least as close to ``p0`` as to ``p`` has the closed form (solve
  ``g(t) . (p0 - p) = 0``)::

      t_max = atan2(sin w, K + cos w) / w,     K = (1 - p . p0) / (k . (p0 - p))

  (HaLP writes ``atan(sin w / (K + cos w))``, equal while ``K + cos w > 0``; ``atan2`` keeps the right branch
  otherwise.) ``t ~ U[(1 - lambda) t_max, t_max]`` with ``lambda = 0.8``; 100 positives per anchor.
* **Rank filter.** Only positives whose nearest prototype is still ``p0`` count (another prototype than ``p`` may
  have come closer).
* **Loss.** ``L = InfoNCE + mu * L_halp`` with ``L_halp = -mean over kept positives of (q . g) / T`` (HaLP:
  ``mu = 2`` on NTU, 1 on PKU-MMD).
* **Schedule.** HaLP resumes a MoCo baseline trained for 200 epochs (PKU: 500) and trains on with hallucination;
  here one run does both: no positives before ``halp_start_step`` optimizer steps.

Positives are generated for the whole batch at once (``(N, G, D)``); only the k-means iterations and its
k-means++ seeding loop in Python, over iterations and centres, never over anchors or positives.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from skelrec.errors import SkelrecError
from skelrec.ssl.base import InputSpec, register_method, require_option
from skelrec.ssl.moco import MoCoOptions, MoCoV2

__all__ = ["HaLP", "HaLPOptions", "hallucinate_positives", "halp_loss", "max_slerp_step", "slerp", "spherical_kmeans"]

log = logging.getLogger(__name__)

_EPS = 1e-7


def spherical_kmeans(x: Tensor, k: int, *, iters: int = 50, generator: torch.Generator | None = None) -> Tensor:
    """Spherical k-means (Dhillon & Modha, 2001) of unit vectors ``x (n, D)`` -> unit centres ``(k, D)``.

    k-means++ seeding on the cosine distance ``1 - x . c``, then Lloyd iterations: assign each point to the centre
    of highest cosine, move each centre to the normalised mean of its points (an empty cluster keeps its centre);
    stops early when no assignment changes.
    """
    n = x.shape[0]
    if not 1 <= k <= n:
        raise SkelrecError(f"spherical k-means of {n} points into {k} clusters: need 1 <= clusters <= points")
    x = F.normalize(x.float(), dim=1)
    first = torch.randint(n, (1,), device=x.device, generator=generator)
    centres = [x[first[0]]]
    dist_to_nearest = 1.0 - x @ centres[0]  # (n,)
    for _ in range(1, k):  # k-means++: next centre drawn with probability ~ distance to the nearest chosen one
        weights = dist_to_nearest.clamp_min(0.0) + 1e-12
        pick = torch.multinomial(weights, 1, generator=generator)[0]
        centres.append(x[pick])
        dist_to_nearest = torch.minimum(dist_to_nearest, 1.0 - x @ x[pick])
    c = torch.stack(centres)  # (k, D)
    assign = torch.full((n,), -1, dtype=torch.long, device=x.device)
    for _ in range(iters):
        new_assign = (x @ c.T).argmax(dim=1)
        if torch.equal(new_assign, assign):
            break
        assign = new_assign
        sums = torch.zeros_like(c).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k)
        c = torch.where((counts > 0)[:, None], F.normalize(sums, dim=1), c)
    return c


def slerp(k: Tensor, p: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation ``(sin((1 - t) w) k + sin(t w) p) / sin w``, ``w = arccos(k . p)``.

    ``k``, ``p``: ``(..., D)`` unit vectors; ``t``: ``(...)``. Returns ``(..., D)`` (unit up to rounding).
    """
    omega = torch.arccos((k * p).sum(-1).clamp(-1.0 + _EPS, 1.0 - _EPS))
    sin_omega = torch.sin(omega)
    a = torch.sin((1.0 - t) * omega) / sin_omega
    b = torch.sin(t * omega) / sin_omega
    return a[..., None] * k + b[..., None] * p


def max_slerp_step(k: Tensor, p: Tensor, p0: Tensor) -> Tensor:
    """HaLP's closed form: the largest ``t`` with ``slerp(k, p, t) . p0 >= slerp(k, p, t) . p``.

    ``k``, ``p``, ``p0``: ``(..., D)`` unit vectors with ``k`` at least as close to ``p0`` as to ``p``.
    Returns ``t_max (...)`` in ``[0, 1]``: ``atan2(sin w, K + cos w) / w`` with ``K = (1 - p.p0) / (k.(p0 - p))``.
    """
    cos_omega = (k * p).sum(-1).clamp(-1.0 + _EPS, 1.0 - _EPS)
    omega = torch.arccos(cos_omega)
    gap = (k * (p0 - p)).sum(-1).clamp_min(_EPS)  # k . (p0 - p) >= 0 because p0 is k's nearest prototype
    big_k = (1.0 - (p * p0).sum(-1)) / gap
    return torch.atan2(torch.sin(omega), big_k + cos_omega) / omega


def hallucinate_positives(
    anchors: Tensor,
    prototypes: Tensor,
    *,
    num_positives: int,
    candidates: int,
    lam: float,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """HaLP positives for every anchor at once.

    Args:
        anchors: ``(N, D)`` unit keys.
        prototypes: ``(P, D)`` unit prototypes, ``P >= 2``.
        num_positives: ``G`` positives per anchor.
        candidates: the target prototype is drawn among this many nearest prototypes after the nearest one.
        lam: ``lambda``: ``t ~ U[(1 - lambda) t_max, t_max]``.
        generator: source of the random choices.

    Returns:
        ``positives (N, G, D)`` unit vectors and ``keep (N, G)`` bool, the rank filter (nearest prototype still
        the anchor's).
    """
    n, d = anchors.shape
    if prototypes.shape[0] < 2:
        raise SkelrecError(f"HaLP needs at least 2 prototypes, got {prototypes.shape[0]}; raise num_prototypes")
    order = (anchors @ prototypes.T).argsort(dim=1, descending=True)  # (N, P), nearest first
    nearest = order[:, 0]  # (N,)
    pool = order[:, 1 : 1 + candidates]  # (N, C)
    pick = torch.randint(pool.shape[1], (n, num_positives), device=anchors.device, generator=generator)
    target = pool.gather(1, pick)  # (N, G)
    p = prototypes[target]  # (N, G, D)
    p0 = prototypes[nearest][:, None].expand(n, num_positives, d)
    k = anchors[:, None].expand(n, num_positives, d)
    t_max = max_slerp_step(k, p, p0)  # (N, G)
    u = torch.rand(n, num_positives, device=anchors.device, generator=generator)
    t = (1.0 - lam * u) * t_max
    positives = F.normalize(slerp(k, p, t), dim=-1)
    keep = (positives @ prototypes.T).argmax(dim=-1) == nearest[:, None]
    return positives, keep


def halp_loss(q: Tensor, positives: Tensor, keep: Tensor, temperature: float) -> Tensor:
    """``-sum(keep * (q . g) / T) / sum(keep)`` for ``q (N, D)``, ``positives (N, G, D)``, ``keep (N, G)``.

    Zero (with a gradient path) when no positive is kept.
    """
    with torch.autocast(q.device.type, enabled=False):
        logits = torch.einsum("nd,ngd->ng", q.float(), positives.detach().float()) / temperature
        weight = keep.to(logits.dtype)
        return -(logits * weight).sum() / weight.sum().clamp_min(1.0)


@dataclass(frozen=True)
class HaLPOptions(MoCoOptions):
    """HaLP's ``method.kwargs``: those of :class:`~skelrec.ssl.moco.MoCoOptions` and

    Attributes:
        halp_start_step: optimizer steps of plain MoCo before hallucination starts (HaLP: 200 epochs, PKU 500).
        mu: weight of the HaLP loss (HaLP: 2 NTU, 1 PKU-MMD).
        num_prototypes: k-means clusters (20).
        prototype_every: steps between prototype refreshes (10).
        prototype_keys: most recent queue keys clustered (256), between ``num_prototypes`` and ``queue_size``.
        num_positives: positives per anchor (100).
        candidate_prototypes: the target prototype is one of this many nearest after the nearest (20).
        lam: ``lambda`` of the step range ``[(1 - lambda) t_max, t_max]`` (0.8).
        kmeans_iters: maximum Lloyd iterations per refresh.
    """

    halp_start_step: int = 0
    mu: float = 2.0
    num_prototypes: int = 20
    prototype_every: int = 10
    prototype_keys: int = 256
    num_positives: int = 100
    candidate_prototypes: int = 20
    lam: float = 0.8
    kmeans_iters: int = 50

    def check(self) -> None:
        super().check()
        for key, low in (("halp_start_step", 0), ("num_prototypes", 2), ("prototype_every", 1), ("num_positives", 1)):
            require_option(getattr(self, key) >= low, key, f"must be >= {low}, got {getattr(self, key)}")
        require_option(self.candidate_prototypes >= 1, "candidate_prototypes", "must be >= 1")
        keys, low, high = self.prototype_keys, self.num_prototypes, self.queue_size
        bounds = f"[num_prototypes, queue_size] = [{low}, {high}]"
        require_option(low <= keys <= high, "prototype_keys", f"must be in {bounds}, got {keys}")
        require_option(0 <= self.lam <= 1, "lam", f"must be in [0, 1], got {self.lam}")


@register_method("halp")
class HaLP(MoCoV2):
    """MoCo v2 + hallucinated positives (see the module docstring).

    Options: :class:`HaLPOptions`. Encoder: a registry encoder (HaLP: ``bigru``; ``transformer`` works too).
    """

    Options = HaLPOptions
    options: HaLPOptions

    def __init__(self, encoder: nn.Module, spec: InputSpec, **options: Any) -> None:
        super().__init__(encoder, spec, **options)
        o = self.options
        self.halp_start_step, self.mu = o.halp_start_step, o.mu
        self.prototype_every, self.prototype_keys = o.prototype_every, o.prototype_keys
        self.kmeans_iters = o.kmeans_iters
        self.num_positives, self.candidate_prototypes, self.lam = o.num_positives, o.candidate_prototypes, o.lam
        self.register_buffer("prototypes", torch.zeros(o.num_prototypes, self.queue.keys.shape[1]))
        self.register_buffer("prototypes_step", torch.tensor(-1))  # step of the last refresh; -1 = none yet
        self.halp_active = False  # prototypes_step >= 0, kept on the host so that forward never syncs the device
        self.register_load_state_dict_post_hook(HaLP._sync_halp_active)

    @staticmethod
    def _sync_halp_active(module: HaLP, _incompatible_keys: Any) -> None:
        """After loading a state dict (a resumed run): recompute :attr:`halp_active` from ``prototypes_step``."""
        module.halp_active = int(module.prototypes_step) >= 0

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor | float]:
        q, k = self.embed_views(batch)
        loss, logs = self.contrast(q, k)
        if not self.halp_active:
            zero = loss.new_zeros(())
            return {"loss": loss, **logs, "loss_halp": zero, "halp_kept": zero}
        with torch.autocast(k.device.type, enabled=False):  # slerp and arccos need float32
            positives, keep = hallucinate_positives(
                k.float(),
                self.prototypes,
                num_positives=self.num_positives,
                candidates=self.candidate_prototypes,
                lam=self.lam,
            )
        l_halp = halp_loss(q, positives, keep, self.temperature)
        kept = keep.float().mean()
        return {"loss": loss + self.mu * l_halp, **logs, "loss_halp": l_halp.detach(), "halp_kept": kept}

    @torch.no_grad()
    def refresh_prototypes(self) -> None:
        """Cluster the most recent queue keys; rank 0's prototypes are broadcast so every process uses the same."""
        if int(self.queue.seen) < self.prototype_keys:
            log.warning(
                "HaLP prototypes from a queue holding %d real keys (< prototype_keys=%d): raise halp_start_step",
                int(self.queue.seen),
                self.prototype_keys,
            )
        keys = self.queue.recent(self.prototype_keys)
        self.prototypes.copy_(spherical_kmeans(keys, self.prototypes.shape[0], iters=self.kmeans_iters))
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.broadcast(self.prototypes, src=0)

    @torch.no_grad()
    def on_step_end(self, step: int) -> None:
        """MoCo's updates, then new prototypes from ``halp_start_step`` on, every ``prototype_every`` steps."""
        super().on_step_end(step)
        last = int(self.prototypes_step)
        if step >= self.halp_start_step and (last < 0 or step - last >= self.prototype_every):
            self.refresh_prototypes()
            self.prototypes_step.fill_(step)
            self.halp_active = True
