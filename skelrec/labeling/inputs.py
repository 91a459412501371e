"""What a checkpoint's model takes as input, and the pipeline that turns a window of poses into it.

The pipeline is the evaluation pipeline of training (:func:`skelrec.datasets.transforms.build_transform` with
``train=False``): :func:`skelrec.skeleton.normalize` with the checkpoint's normalization, the channels the model
reads, the centre crop and linear resampling to ``clip_length`` frames, padding to ``num_persons``. When the
checkpoint stores its training ``data`` section, that section is used as is; otherwise one is built from the
top-level ``layout``, ``normalization``, ``clip_length`` and ``num_persons`` fields (no centre crop).

Window length in seconds (:func:`clip_seconds`), first match wins:

1. ``config["clip_seconds"]``: the duration of a training clip, written by the training code;
2. ``config["clip_length"] / config["fps"]``: the clip length at the training data's frame rate;
3. ``config["clip_length"] / 30``: Kinect datasets (NTU, UTD-MHAD, NW-UCLA ...) record at 30 frames per second.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from skelrec.checkpoint import CheckpointConfig
from skelrec.config import DataConfig, section_from_dict
from skelrec.datasets.transforms import Compose, build_transform
from skelrec.errors import SkelrecError
from skelrec.skeleton import Normalization, conversion_matrix, get_layout

__all__ = ["DEFAULT_TRAINING_FPS", "ModelInput", "clip_seconds"]

log = logging.getLogger(__name__)

DEFAULT_TRAINING_FPS = 30.0
"""Frame rate assumed for a checkpoint that records neither ``clip_seconds`` nor ``fps``."""


def clip_seconds(config: CheckpointConfig) -> float:
    """The duration in seconds of one model input (see the module docstring for where it comes from)."""
    if config.clip_seconds:
        return float(config.clip_seconds)
    return config.clip_length / float(config.fps or DEFAULT_TRAINING_FPS)


@dataclass(frozen=True)
class ModelInput:
    """The input a model takes and how to build it from skeletons.

    Attributes:
        layout: joint layout of the model (``config.layout``).
        channels: channels per joint the model reads (3 = x, y, z; 4 adds the landmark visibility).
        clip_length: frames ``T`` per input.
        num_persons: persons ``M`` per input.
        seconds: duration of one input window in seconds (:func:`clip_seconds`).
        pipeline: ``(M, t, V, C) -> ((num_persons, clip_length, V, channels), mask)``, the eval pipeline.
    """

    layout: str
    channels: int
    clip_length: int
    num_persons: int
    seconds: float
    pipeline: Compose

    @classmethod
    def from_config(cls, config: CheckpointConfig, *, source: str, in_channels: int) -> ModelInput:
        """Read and check the input fields of a checkpoint config.

        Args:
            config: the checkpoint's typed ``config.json``.
            source: the model's name for error messages.
            in_channels: channels of the model's encoder (used when the config has no ``data`` section).
        """
        data = _data_section(config, source, in_channels)
        layout = get_layout(config.layout).name
        return cls(
            layout=layout,
            channels=data.channels,
            clip_length=data.clip_length,
            num_persons=data.persons,
            seconds=clip_seconds(config),
            pipeline=build_transform(data, train=False, layout=layout),
        )

    def check_source(self, source_layout: str, model: str, *, origin: str = "the pose estimator's") -> None:
        """Raise a one-line error when ``source_layout`` joints (of ``origin``) cannot become the model's layout."""
        try:
            conversion_matrix(source_layout, self.layout)
        except SkelrecError as e:
            raise SkelrecError(
                f"model {model} takes {self.layout} skeletons, which cannot be built from {origin} "
                f"{source_layout} landmarks ({e}); use a model trained in one of those layouts"
            ) from None
        if self.channels > 4:
            raise SkelrecError(
                f"model {model} reads {self.channels} channels per joint; pose estimates have at most 4 "
                "(x, y, z, visibility)"
            )

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One window ``(M, t, V, C)`` -> model input ``(num_persons, clip_length, V, channels)`` and mask."""
        return self.pipeline(x)


def _data_section(config: CheckpointConfig, source: str, in_channels: int) -> DataConfig:
    """The training ``data`` section of ``config``, or one built from its top-level input fields."""
    if config.data is not None:
        data = section_from_dict(DataConfig, config.data, source=f"{source} config.json data")
        if data.clip_length != config.clip_length or data.persons != config.num_persons:
            log.warning("%s: data section and top-level clip_length/num_persons differ; using the data section", source)
        return data
    norm = Normalization.from_dict(config.normalization)
    # frames/persons of a stored normalization are the clip shape, applied by the resampling and padding steps
    norm = dataclasses.replace(norm, frames=0, persons=0)
    return DataConfig(
        layout=config.layout,
        clip_length=config.clip_length,
        persons=config.num_persons,
        channels=in_channels,
        normalization=norm,
        test_crop=1.0,
    )
