"""Mixed precision: bf16 or fp16 (with a gradient scaler) autocast on CUDA, plain fp32 everywhere else."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch

__all__ = ["Precision"]

log = logging.getLogger(__name__)


@dataclass
class Precision:
    """How forward passes run (``autocast``) and how losses are scaled before ``backward`` (``scaler``)."""

    device_type: str
    dtype: torch.dtype | None
    scaler: torch.amp.GradScaler

    @classmethod
    def for_run(cls, amp: str, device: torch.device) -> Precision:
        """``amp`` is ``bf16``, ``fp16`` or ``none``; only CUDA runs use it (CPU training is fp32)."""
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp) if device.type == "cuda" else None
        if dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
            log.warning("this GPU has no bf16 support: training in fp16 with a gradient scaler (optim.amp=fp16)")
            dtype = torch.float16
        scaler = torch.amp.GradScaler(device.type, enabled=dtype is torch.float16)
        return cls(device.type, dtype, scaler)

    def autocast(self) -> AbstractContextManager[None]:
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None)

    def describe(self) -> str:
        return "fp32" if self.dtype is None else f"{str(self.dtype).removeprefix('torch.')} autocast"
