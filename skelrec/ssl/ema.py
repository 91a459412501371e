"""An exponential-moving-average teacher: a frozen copy of a student network updated after every optimizer step.

``theta_teacher <- d(s) * theta_teacher + (1 - d(s)) * theta_student`` (data2vec, BYOL), with the decay ``d(s)``
annealed from ``decay`` to ``end_decay`` over ``anneal_steps`` optimizer steps and held there afterwards. The decay
is a pure function of the step the training loop reports, so a resumed run follows the same schedule; the teacher's
weights are ordinary (non-trainable) parameters of the method and travel in its checkpoints.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import nn

from skelrec.errors import SkelrecError
from skelrec.registry import Registry

__all__ = ["DECAY_SCHEDULES", "EMATeacher", "unwrap_module"]


def linear_anneal(start: float, end: float, progress: float) -> float:
    """``start + (end - start) * progress`` (data2vec ``get_annealed_rate``)."""
    return start + (end - start) * progress


def cosine_anneal(start: float, end: float, progress: float) -> float:
    """``end - (end - start) * (1 + cos(pi * progress)) / 2`` (BYOL's momentum schedule)."""
    return end - (end - start) * 0.5 * (1.0 + math.cos(math.pi * progress))


DECAY_SCHEDULES: Registry[Callable[[float, float, float], float]] = Registry(
    "EMA schedule", {"linear": linear_anneal, "cosine": cosine_anneal}
)
"""EMA decay schedules by name: ``schedule(start, end, progress in [0, 1]) -> decay``."""


def unwrap_module(module: nn.Module) -> nn.Module:
    """The network inside ``DistributedDataParallel`` / ``DataParallel`` / ``torch.compile`` wrappers."""
    while True:
        if isinstance(module, nn.parallel.DistributedDataParallel | nn.DataParallel):
            module = module.module
        elif isinstance(getattr(module, "_orig_mod", None), nn.Module):
            module = module._orig_mod
        else:
            return module


class EMATeacher(nn.Module):
    """A frozen copy of ``student`` that follows it by exponential moving average.

    The copy is always in eval mode (no dropout / stochastic depth in the targets) and its parameters have
    ``requires_grad=False``, so optimizers built by :func:`skelrec.ssl.base.weight_decay_groups` leave them out.

    Args:
        student: the network to follow (a DDP-wrapped one is unwrapped).
        decay: decay at step 0.
        end_decay: decay after ``anneal_steps`` steps (1.0 freezes the teacher at the end).
        anneal_steps: optimizer steps of the annealing; 0 uses ``end_decay`` from the start.
        schedule: a :data:`DECAY_SCHEDULES` name.
    """

    def __init__(
        self,
        student: nn.Module,
        *,
        decay: float = 0.9999,
        end_decay: float = 1.0,
        anneal_steps: int = 0,
        schedule: str = "linear",
    ) -> None:
        super().__init__()
        if not (0.0 <= decay <= 1.0 and 0.0 <= end_decay <= 1.0):
            raise SkelrecError(f"EMA decays must be in [0, 1], got decay={decay}, end_decay={end_decay}")
        if anneal_steps < 0:
            raise SkelrecError(f"EMA anneal_steps must be >= 0, got {anneal_steps}")
        DECAY_SCHEDULES.check(schedule)
        self.decay, self.end_decay, self.anneal_steps, self.schedule = decay, end_decay, anneal_steps, schedule
        self.module = copy.deepcopy(unwrap_module(student)).requires_grad_(False).eval()

    def train(self, mode: bool = True) -> EMATeacher:
        """Keep the teacher in eval mode whatever the method's mode."""
        super().train(mode)
        self.module.eval()
        return self

    def decay_at(self, step: int) -> float:
        """The EMA decay ``d(step)`` of the schedule."""
        if self.anneal_steps == 0:
            return self.end_decay
        progress = min(1.0, step / self.anneal_steps)
        return DECAY_SCHEDULES[self.schedule](self.decay, self.end_decay, progress)

    @torch.no_grad()
    def update(self, student: nn.Module, step: int) -> float:
        """``theta_t <- d * theta_t + (1 - d) * theta_s`` with ``d = decay_at(step)``; buffers are copied.

        Returns:
            the decay used.
        """
        d = self.decay_at(step)
        student = unwrap_module(student)
        if d < 1.0:
            for t, s in zip(self.module.parameters(), student.parameters(), strict=True):
                t.lerp_(s.detach().to(t.dtype), 1.0 - d)
        for t, s in zip(self.module.buffers(), student.buffers(), strict=True):
            t.copy_(s)
        return d

    def extra_repr(self) -> str:
        return f"decay={self.decay}, end_decay={self.end_decay}, anneal_steps={self.anneal_steps}, {self.schedule}"
