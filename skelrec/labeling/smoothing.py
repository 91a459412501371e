"""Temporal smoothing of per-window class probabilities, chosen by name.

A smoother maps probabilities ``(W, K)`` of ``W`` consecutive windows and a validity mask ``(W,)`` (windows with
a person in view) to smoothed probabilities ``(W, K)``. Invalid windows neither contribute nor receive values
(their rows come out as zeros), so a stretch without a person does not blur the actions around it.

* ``none``: the probabilities as they are.
* ``moving_average``: centred mean over ``size`` windows (odd; an even size is rounded up), no lag.
* ``ema``: causal exponential moving average ``s_t = alpha * p_t + (1 - alpha) * s_{t-1}``, restarted after each
  gap; it lags by about ``(1 - alpha) / alpha`` windows but never looks ahead (live input).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from skelrec.errors import SkelrecError
from skelrec.registry import Registry

__all__ = ["SMOOTHERS", "Smoothing", "register_smoother"]

Smoother = Callable[[np.ndarray, np.ndarray, "Smoothing"], np.ndarray]
SMOOTHERS: Registry[Smoother] = Registry("smoothing")
register_smoother = SMOOTHERS.register


@dataclass(frozen=True)
class Smoothing:
    """A smoothing method and its parameters.

    Attributes:
        method: a name in :data:`SMOOTHERS` (``none``, ``moving_average``, ``ema``).
        size: windows averaged by ``moving_average``.
        alpha: weight of the newest window in ``ema``, in ``(0, 1]``.
    """

    method: str = "moving_average"
    size: int = 3
    alpha: float = 0.5

    def __post_init__(self) -> None:
        SMOOTHERS.check(self.method)
        if self.size < 1:
            raise SkelrecError(f"smoothing size must be >= 1 window, got {self.size}")
        if not 0 < self.alpha <= 1:
            raise SkelrecError(f"smoothing alpha must be in (0, 1], got {self.alpha}")

    @classmethod
    def parse(cls, text: str) -> Smoothing:
        """``"none"``, ``"moving_average"``, ``"moving_average:5"``, ``"ema"`` or ``"ema:0.3"``."""
        method, _, value = text.strip().partition(":")
        if not value:
            return cls(method)
        try:
            number = float(value)
        except ValueError:
            raise SkelrecError(
                f"smoothing {text!r}: {value!r} is not a number; e.g. moving_average:5 or ema:0.3"
            ) from None
        if method == "ema":
            return cls(method, alpha=number)
        if not number.is_integer():
            raise SkelrecError(f"smoothing {text!r}: the {method} parameter must be a whole number of windows")
        return cls(method, size=int(number))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "size": self.size, "alpha": self.alpha}

    def __call__(self, probs: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Smooth ``probs`` ``(W, K)`` over the ``valid`` ``(W,)`` windows."""
        probs = np.asarray(probs, np.float64)
        valid = np.asarray(valid, bool)
        out = SMOOTHERS[self.method](np.where(valid[:, None], probs, 0.0), valid, self)
        return np.where(valid[:, None], out, 0.0).astype(np.float32)


@register_smoother("none")
def _identity(probs: np.ndarray, valid: np.ndarray, cfg: Smoothing) -> np.ndarray:
    return probs


@register_smoother("moving_average")
def _moving_average(probs: np.ndarray, valid: np.ndarray, cfg: Smoothing) -> np.ndarray:
    half = cfg.size // 2
    total, count = _centred_sums(probs, half), _centred_sums(valid.astype(np.float64), half)
    return total / np.maximum(count, 1.0)[:, None]


def _centred_sums(a: np.ndarray, half: int) -> np.ndarray:
    """``(W, ...)`` -> sums over rows ``t - half .. t + half`` (rows outside count as zero)."""
    shape = a.shape[1:]
    cums = np.cumsum(np.concatenate([np.zeros((half + 1, *shape)), a, np.zeros((half, *shape))]), axis=0)
    return cums[2 * half + 1 :] - cums[: -2 * half - 1]


@register_smoother("ema")
def _ema(probs: np.ndarray, valid: np.ndarray, cfg: Smoothing) -> np.ndarray:
    out = np.zeros_like(probs)
    state = None
    for t in range(len(probs)):
        if not valid[t]:
            state = None
            continue
        state = probs[t] if state is None else cfg.alpha * probs[t] + (1 - cfg.alpha) * state
        out[t] = state
    return out
