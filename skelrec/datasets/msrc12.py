"""Reader for the MSRC-12 Kinect gesture dataset (Fothergill, Mentis, Kohli, Nowozin, CHI 2012).

One recording per ``.csv`` file: one line per frame, ``timestamp`` then 20 joints x ``x y z confidence`` (81 numbers,
space separated), Kinect SDK v1 joint order (``kinect20``), Kinect camera coordinates in metres (already skelrec's
axes). Frames before the skeleton is first tracked and after it is last tracked are all zeros; they are trimmed and
the kept file frames ``[start, end)`` go to ``meta``. The confidence column is dropped; its mean goes to
``meta["confidence"]``.

File names are ``P<a>_<b>_<g>[A]_p<pp>.csv``, e.g. ``P1_1_1_p06``. The third field is the gesture id 1-12 of the
dataset's tag set (Nowozin's ``load_file.m``: G1 lift outstretched arms ... G12 kick; loaders strip the ``A``), and
``p<pp>`` is the performer. Each recording repeats its one gesture about ten times with pauses in between, so the
sample's label is the recording's gesture, not a trimmed instance (the per-instance ``.tagstream`` files are not
read). The leading ``P<a>_<b>`` and the ``A`` flag are kept, uninterpreted, in ``meta["series"]`` and
``meta["variant"]``. Meant for pretraining.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from skelrec.datasets.base import DatasetReader, Sample, name_fields, read_table, register_dataset
from skelrec.errors import DataFormatError

__all__ = ["MSRC12_CLASSES", "Msrc12Reader"]

# Gesture ids G1..G12 of the dataset's tag set.
MSRC12_CLASSES = (
    "lift outstretched arms",
    "duck",
    "push right",
    "goggles",
    "wind it up",
    "shoot",
    "bow",
    "throw",
    "had enough",
    "change weapon",
    "beat both",
    "kick",
)

_NAME = re.compile(r"(?P<series>P\d+_\d+)_(?P<gesture>\d+)(?P<variant>A?)_p(?P<person>\d+)\.csv")
_NAMING = "P<a>_<b>_<gesture>[A]_p<person>.csv, e.g. P1_1_1_p06.csv"
_JOINTS = 20


@register_dataset
class Msrc12Reader(DatasetReader):
    """MSRC-12 gesture recordings -> one single-person ``kinect20`` :class:`Sample` per file (untrimmed gestures)."""

    name = "msrc12"
    layout = "kinect20"
    classes = MSRC12_CLASSES
    fps = 30.0
    persons = 1
    expected_samples = 594
    file_glob = "P*_*_*_p*.csv"

    def accepts(self, path: Path) -> bool:
        return _NAME.fullmatch(path.name) is not None

    def read(self, path: Path) -> list[Sample]:
        fields = name_fields(path, _NAME, _NAMING)
        gesture = int(fields["gesture"])
        if not 1 <= gesture <= len(self.classes):
            raise DataFormatError(path, f"gesture {gesture} in the file name", expected="gestures 1..12")
        table, _ = read_table(path, 1 + 4 * _JOINTS, f"numbers (timestamp + {_JOINTS} joints x 4)")
        frames = table[:, 1:].reshape(-1, _JOINTS, 4)  # (T, V, xyz + confidence)
        span = _tracked_span(frames[..., :3])
        if span is None:
            return self.skip("empty", f"{path}: every joint coordinate is zero (no tracked skeleton); file skipped")
        start, end = span
        kept = frames[start:end]
        return [
            Sample(
                data=kept[None, ..., :3].astype(np.float32),
                layout=self.layout,
                name=path.stem,
                dataset=self.name,
                label=gesture - 1,
                label_name=self.classes[gesture - 1],
                fps=self.fps,
                meta={
                    "series": fields["series"],
                    "gesture": gesture,
                    "variant": fields["variant"],
                    "person": int(fields["person"]),
                    "start": start,
                    "end": end,
                    "confidence": round(float(kept[..., 3].mean()), 4),
                    "source": str(path),
                },
            )
        ]


def _tracked_span(xyz: np.ndarray) -> tuple[int, int] | None:
    """``[start, end)`` from the first to the last frame with a non-zero joint of ``(T, V, 3)``; None if none."""
    tracked = np.flatnonzero(xyz.any(axis=(1, 2)))
    if not len(tracked):
        return None
    return int(tracked[0]), int(tracked[-1]) + 1
