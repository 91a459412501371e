"""The learning-rate schedule of the MAE-family recipes: linear warm-up, then cosine decay to ``min_lr``, per step."""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["warmup_cosine"]


def warmup_cosine(total_steps: int, warmup_steps: int, min_ratio: float) -> Callable[[int], float]:
    """Multiplier of the peak learning rate at step ``s`` (``torch.optim.lr_scheduler.LambdaLR`` form).

    ``s / warmup`` during warm-up (MAE/MAMP start at 0), then ``min_ratio + (1 - min_ratio) * (1 + cos(pi * u)) / 2``
    with ``u`` the fraction of the post-warm-up steps done; ``min_ratio`` after ``total_steps``. A plain function
    (not an object), so the scheduler's state holds no schedule and a resumed run follows its current config.
    """

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor
