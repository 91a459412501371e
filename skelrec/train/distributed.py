"""The process group of a ``torchrun`` launch (``env://``), and the device this process trains on."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from skelrec.devices import resolve_device

__all__ = ["DistEnv", "init_distributed", "resolve_device"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the run: ``rank`` of ``world_size`` processes, on ``device``."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def all_gather(self, obj: Any) -> list[Any]:
        """Every process's ``obj`` (picklable), in rank order; ``[obj]`` when not distributed."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def all_mean(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise mean of a float tensor over the processes."""
        if not self.distributed:
            return values
        values = values.to(self.device)
        dist.all_reduce(values)
        return values.cpu() / self.world_size

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def shutdown(self) -> None:
        """Destroy the process group if :func:`init_distributed` created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device: str) -> DistEnv:
    """Join the process group that ``torchrun`` describes in the environment (gloo on CPU, nccl on CUDA).

    A plain ``python`` launch (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``) is a single process without a group; a group
    the caller initialised already is used as is.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world_size <= 1 and not dist.is_initialized():
        return DistEnv(0, 1, 0, dev)
    owns = False
    if not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", init_method="env://")
        owns = True
    env = DistEnv(dist.get_rank(), dist.get_world_size(), local_rank, dev, owns)
    log.info("process %d of %d on %s (%s)", env.rank, env.world_size, dev, dist.get_backend())
    return env
