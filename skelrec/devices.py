"""Which torch device a run uses: ``auto`` is CUDA when present, else the CPU. One resolver for every entry point."""

from __future__ import annotations

import torch

from skelrec.errors import SkelrecError

__all__ = ["resolve_device"]


def resolve_device(preference: str | torch.device = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` -> this process's GPU (``local_rank``); else as named.

    Raises:
        SkelrecError: an unknown device name, or CUDA asked for on a machine without it.
    """
    if isinstance(preference, torch.device):
        return preference
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(preference)
    except RuntimeError:
        raise SkelrecError(f"unknown device {preference!r}; use auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SkelrecError(
            f"device {preference!r}: CUDA is not available on this machine; "
            "use auto or cpu (--device, or run.device in a config)"
        )
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    return device
