"""The examples folder of ``skelrec teach``: one sub-folder per action, its clips, and their poses.

The folder rules (labels from folder names, which files are clips, how their poses are read) are those of
:mod:`skelrec.datasets.clip_folders`, shared with the ``video_folder`` dataset reader and re-exported here. What
teach adds: the label :data:`UNKNOWN_LABEL`, which an open-set model uses for clips far from every taught action, is
reserved by default (:func:`find_actions`), :class:`ExampleClip` holds the poses of one example, and a clip named
``PERSON__anything.mp4`` (two underscores) says which person it shows (:func:`person_of`), so that ``skelrec teach``
can measure leave-one-person-out accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skelrec.datasets import clip_folders
from skelrec.datasets.clip_folders import CLIP_SUFFIXES, ActionFolder, action_label, is_clip, label_key, load_poses
from skelrec.pose import PoseSequence

__all__ = [
    "CLIP_SUFFIXES",
    "UNKNOWN_LABEL",
    "ActionFolder",
    "ExampleClip",
    "action_label",
    "find_actions",
    "is_clip",
    "label_key",
    "load_poses",
    "person_of",
]

PERSON_SEPARATOR = "__"


def person_of(path: Path) -> str | None:
    """The person a clip shows: the part of its file name before ``__`` (``alice__wave1.mp4`` -> ``alice``);
    ``None`` without one."""
    person, sep, _ = Path(path).name.partition(PERSON_SEPARATOR)
    return person.strip() or None if sep else None


UNKNOWN_LABEL = "unknown"
"""The label an open-set model gives a clip far from every taught action."""


def find_actions(root: str | Path, *, reserved: Sequence[str] = (UNKNOWN_LABEL,)) -> list[ActionFolder]:
    """The action folders of an examples folder, sorted by label; no action may be named :data:`UNKNOWN_LABEL`.

    :func:`skelrec.datasets.clip_folders.find_actions` with ``reserved`` defaulting to ``(UNKNOWN_LABEL,)``.
    """
    return clip_folders.find_actions(root, reserved=reserved)


@dataclass
class ExampleClip:
    """The poses of one example clip of action ``action`` (an index into the taught labels)."""

    action: int
    path: Path
    poses: PoseSequence

    @property
    def person(self) -> str | None:
        """The person the clip shows (:func:`person_of`), ``None`` when its name does not say."""
        return person_of(self.path)

    @property
    def valid_frames(self) -> int:
        """Processed frames in which a person was found."""
        return int(self.poses.present.any(axis=0).sum())

    @property
    def seconds(self) -> float:
        """Duration from the first to the last frame with a person, one frame period included (0 when none)."""
        seen = self.poses.times[self.poses.present.any(axis=0)]
        if not seen.size:
            return 0.0
        steps = np.diff(self.poses.times)
        period = float(np.median(steps)) if steps.size else (1.0 / self.poses.fps if self.poses.fps else 0.0)
        return float(seen[-1] - seen[0]) + period
