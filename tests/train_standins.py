"""Small stand-ins for the training tests: an in-memory prepared dataset, a tiny encoder and a tiny method.

Also a script for the tests that train in other processes (SIGKILL/resume, torchrun)::

    python tests/train_standins.py CONFIG.yaml REPORT_DIR [key=value ...]

trains on :class:`MemoryPrepared` and writes, per rank, ``REPORT_DIR/rank<r>.pt``: the sample indices the rank
trained on, its final method weights, the step reached and the checkpoint it resumed from.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from skelrec.datasets.base import DATASETS, DatasetReader, MetaSplit, Sample, register_dataset
from skelrec.models import ENCODERS, Encoder, ModelConfig, register_encoder
from skelrec.ssl import METHODS, InputSpec, Method, MethodOptions, register_method

LAYOUT = "kinect20"
CLASSES = ["wave", "clap", "kick"]


def walk_clip(i: int, rng: np.random.Generator) -> np.ndarray:
    """``(2, T, 20, 3)`` random walk of 20-40 frames with 3 zero frames around; person 2 only for even ``i``."""
    length = int(rng.integers(20, 41))
    data = np.zeros((2, length + 6, 20, 3), np.float32)
    data[:, 3 : 3 + length] = np.cumsum(rng.normal(0, 0.02, (2, length, 20, 3)), axis=1) + rng.normal(
        0, 0.3, (2, 1, 20, 3)
    )
    if i % 2:
        data[1] = 0.0
    return data


class MemoryPrepared:
    """``n`` random-walk clips of ``kinect20`` skeletons (:func:`walk_clip`), labels ``i % 3``."""

    layout = LAYOUT
    classes = CLASSES
    dataset = "memory"

    def __init__(self, n: int = 40, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.samples = [
            Sample(walk_clip(i, rng), LAYOUT, f"clip{i}", "memory", label=i % len(CLASSES)) for i in range(n)
        ]

    @property
    def labels(self) -> np.ndarray:
        return np.array([s.label for s in self.samples])

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> Sample:
        return self.samples[i]


@dataclass
class TinyConfig(ModelConfig):
    in_channels: int = 3
    num_joints: int = 20
    embed_dim: int = 8


class TinyEncoder(Encoder):
    """Per-joint linear embedding: ``(N, M, T, V, C) -> (N, M, T, V, D)``."""

    def __init__(self, config: TinyConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Linear(config.in_channels, config.embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(config.num_joints, config.embed_dim))

    in_channels = property(lambda self: self.config.in_channels)
    num_joints = property(lambda self: self.config.num_joints)
    embed_dim = property(lambda self: self.config.embed_dim)
    feature_joints = property(lambda self: self.config.num_joints)

    def forward_features(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        self.check_input(x)
        return torch.tanh(self.embed(x) + self.pos_embed)


if "test_tiny" not in ENCODERS:
    register_encoder("test_tiny", TinyConfig)(lambda **kw: TinyEncoder(TinyConfig.from_dict(kw)))


@dataclass(frozen=True)
class ReconOptions(MethodOptions):
    """``mask_ratio`` (torch RNG), ``dropout``, ``jitter`` (draws from NumPy and Python RNGs), ``kill_at_call``
    (SIGKILL the process at that forward call), ``sleep`` (seconds per step)."""

    mask_ratio: float = 0.5
    dropout: float = 0.1
    jitter: bool = True
    kill_at_call: int = 0
    sleep: float = 0.0


class Recon(Method):
    """Predict each clip's mean pose from the pooled features of a randomly masked input (:class:`ReconOptions`)."""

    Options = ReconOptions
    options: ReconOptions
    seen: ClassVar[list[int]] = []

    def __init__(self, encoder: nn.Module, spec: InputSpec, **options: Any) -> None:
        super().__init__(encoder, spec, **options)
        o = self.options
        self.mask_ratio, self.jitter, self.kill_at_call, self.sleep = o.mask_ratio, o.jitter, o.kill_at_call, o.sleep
        self.dropout = nn.Dropout(o.dropout)
        self.decoder = nn.Linear(encoder.embed_dim, spec.channels)
        self.register_buffer("ema", torch.zeros(()))
        self.calls = 0

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor | float]:
        self.calls += 1
        if self.calls == self.kill_at_call:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(self.sleep)
        Recon.seen.extend(batch["index"].tolist())
        x, mask = batch["x"], batch["mask"]
        keep = (torch.rand(x.shape[:-1], device=x.device) >= self.mask_ratio).unsqueeze(-1)
        pred = self.decoder(self.dropout(self.encoder(x * keep, mask)))  # (N, C)
        target = x.sum(dim=(1, 2, 3)) / mask.sum(dim=(1, 2)).clamp_min(1).unsqueeze(-1) / x.shape[3]
        loss = ((pred - target) ** 2).mean()
        if self.jitter:
            loss = loss * (1.0 + 0.01 * float(np.random.rand()) + 0.01 * random.random())
        return {"loss": loss, "keep": keep.float().mean()}

    def on_step_end(self, step: int) -> None:
        with torch.no_grad():
            self.ema.mul_(0.9).add_(0.1 * self.decoder.weight.mean())


if "test_recon" not in METHODS:
    register_method("test_recon")(Recon)


class WalkReader(DatasetReader):
    """A file format for real prepared caches in tests: ``<index> <subject>`` per ``*.walk`` file -> one clip."""

    name = "test_walk"
    layout = LAYOUT
    classes = CLASSES
    protocols: ClassVar[dict[str, MetaSplit]] = {"xsub": MetaSplit("subject", frozenset({1}), frozenset({2}))}
    persons = 2
    file_glob = "*.walk"

    def read(self, path: Path) -> list[Sample]:
        index, subject = (int(v) for v in path.read_text().split())
        data = walk_clip(index, np.random.default_rng(index))
        return [Sample(data, LAYOUT, path.stem, self.name, label=index % 3, meta={"subject": subject})]


if "test_walk" not in DATASETS:
    register_dataset(WalkReader)


def make_cache(root: Path, n: int = 24) -> Path:
    """A prepared cache of ``n`` WalkReader clips (subjects 1 and 2 alternate) at ``root/cache``."""
    from skelrec.datasets.prepare import prepare_dataset

    raw = root / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (raw / f"c{i:03d}.walk").write_text(f"{i} {1 + i % 2}")
    prepare_dataset("test_walk", raw, root / "cache", workers=1, progress=False)
    return root / "cache"


def main(argv: list[str]) -> None:
    from skelrec.config import load_config
    from skelrec.train import train

    config, report_dir, *overrides = argv
    result = train(load_config(config, overrides), prepared=MemoryPrepared())
    state = {k: v.detach().cpu() for k, v in result.method.state_dict().items()}
    Path(report_dir).mkdir(parents=True, exist_ok=True)
    report = {"seen": Recon.seen, "state": state, "step": result.step, "resumed_from": str(result.resumed_from)}
    torch.save(report, Path(report_dir) / f"rank{result.rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1:])
