"""The base model of ``skelrec teach``: its encoder, its input pipeline, and the clips it can use.

An example clip becomes model input exactly as a labeling window does (:class:`skelrec.labeling.ModelInput`, the
checkpoint's evaluation pipeline): poses -> the model's layout (:meth:`skelrec.pose.PoseSequence.to_skeleton`) ->
the checkpoint's normalization -> centre crop -> linear resampling of the whole clip to the model's clip length ->
persons padding. Its embedding is a pooled encoder feature (:func:`skelrec.evaluate.extract_features`; by default
:data:`DEFAULT_POOLING`), which the taught head's config records, so a :class:`~skelrec.models.Classifier` hands the
head the same feature when labelling.

A clip is stretched at most :data:`MAX_STRETCH` times in time: one with fewer frames with a person than
``ceil(clip_length / MAX_STRETCH)`` (at least 2) is too short for the model (:attr:`TeachBase.min_frames`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from skelrec.checkpoint import CheckpointConfig
from skelrec.errors import SkelrecError
from skelrec.evaluate.features import extract_features
from skelrec.hub.loading import LoadedModel, from_pretrained
from skelrec.labeling import ModelInput
from skelrec.models import Classifier, Encoder
from skelrec.pose import PoseSequence
from skelrec.skeleton import convert, get_layout

__all__ = ["DEFAULT_POOLING", "MAX_STRETCH", "ClipTensors", "TeachBase"]

DEFAULT_POOLING = "joints"
"""The encoder feature a taught head reads unless told (:mod:`skelrec.models.pooling`): each joint token averaged
over the clip. On NW-UCLA's unseen actions it is the best few-shot feature of the MacDiff encoder and the default
model, for whole clips and for random windows of them (what a sliding labeling window sees); ``segment_joints``
(the same in four ordered segments) is for actions told apart only by direction or order, e.g. swipe left / right
(README "Teach your own actions", ``benchmarks/results/fewshot_pooling``)."""

MAX_STRETCH = 4
"""A clip's frames with a person are stretched at most this many times to the model's clip length."""


class ClipTensors(Dataset):
    """Model-input clips ``x`` ``(N, M, T, V, C)`` with masks ``(N, M, T)`` as the dataset items
    :func:`~skelrec.evaluate.extract_features` reads (``label`` is a placeholder)."""

    def __init__(self, x: Tensor, mask: Tensor) -> None:
        self.x, self.mask = x, mask

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"x": self.x[i], "mask": self.mask[i], "label": torch.tensor(-1)}


def _encoder_of(loaded: LoadedModel) -> Encoder:
    model = loaded.model
    encoder = model.encoder if isinstance(model, Classifier) else model
    if not isinstance(encoder, Encoder):
        raise SkelrecError(
            f"base model {loaded.source} has no skeleton encoder (it is a {type(model).__name__}); pass a pretrained "
            "encoder (a pretraining run's encoder/ folder) or a classifier checkpoint"
        )
    return encoder


@dataclass
class TeachBase:
    """A loaded base model ready to embed clips.

    Attributes:
        loaded: the checkpoint (:func:`skelrec.hub.from_pretrained`).
        encoder: its encoder (a classifier's encoder, or the bare pretrained encoder), in eval mode.
        input: its input pipeline.
    """

    loaded: LoadedModel
    encoder: Encoder
    input: ModelInput

    @classmethod
    def load(cls, model: str | Path | None = None, *, device: str = "cpu") -> TeachBase:
        """Load ``model`` (``None``: the embedded default; a checkpoint folder; a Hub repo id) as a base.

        Raises:
            SkelrecError: the model cannot be loaded or has no skeleton encoder.
        """
        try:
            loaded = from_pretrained(model, device=device)
        except SkelrecError as err:
            raise SkelrecError(f"cannot use base model {model or 'default'}: {err}") from None
        encoder = _encoder_of(loaded).eval()
        spec = ModelInput.from_config(loaded.config, source=loaded.source, in_channels=encoder.in_channels)
        return cls(loaded, encoder, spec)

    @property
    def config(self) -> CheckpointConfig:
        return self.loaded.config

    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    @property
    def min_frames(self) -> int:
        """Fewest frames with a person a clip needs (see the module docstring)."""
        return max(2, math.ceil(self.input.clip_length / MAX_STRETCH))

    def skeleton(self, poses: PoseSequence) -> np.ndarray:
        """Pose landmarks -> ``(M, T, V, C)`` in the model's layout (with visibility when the model reads it)."""
        self.input.check_source(poses.layout, self.loaded.source)
        return poses.to_skeleton(self.input.layout, confidence=self.input.channels >= 4)

    def convert(self, data: np.ndarray, layout: str) -> np.ndarray:
        """A dataset clip ``(M, T, V, C)`` in ``layout`` -> the model's layout (e.g. UTD-MHAD -> Kinect v1)."""
        return convert(data, get_layout(layout), self.input.layout)

    def model_inputs(self, skeletons: Sequence[np.ndarray]) -> tuple[Tensor, Tensor]:
        """Whole clips ``(M, T_i, V, C)`` in the model's layout -> ``x`` ``(N, M', T, V, C')`` and ``mask``
        ``(N, M', T)`` through the checkpoint's evaluation pipeline."""
        pairs = [self.input(s) for s in skeletons]
        x = torch.from_numpy(np.stack([p[0] for p in pairs]))
        mask = torch.from_numpy(np.stack([p[1] for p in pairs]))
        return x, mask

    def embed(self, x: Tensor, mask: Tensor, *, pooling: str = DEFAULT_POOLING, batch_size: int = 64) -> Tensor:
        """Pooled encoder features ``(N, F)`` float32 of model inputs ``x`` ``(N, M, T, V, C)`` (on the CPU);
        ``pooling`` is a :data:`skelrec.models.pooling.POOLINGS` name."""
        feats, _ = extract_features(
            self.encoder, ClipTensors(x, mask), pooling=pooling, batch_size=batch_size, device=self.device
        )
        return feats.cpu()
