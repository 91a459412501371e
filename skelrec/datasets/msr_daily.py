"""Reader for MSR DailyActivity3D (Wang, Liu, Wu, Yuan, CVPR 2012), skeleton files in the original MSR layout.

One text file per clip, ``aAA_sSS_eEE_skeleton.txt`` (activity 1-16, subject 1-10, episode 1-2). Line 1 holds the
frame count and the joint count (20). Each frame then starts with a row count (40 per tracked skeleton, 0 when none)
followed, per skeleton and joint, by two rows: world ``x y z confidence`` and screen ``u v depth confidence``. Only
the world rows are kept: Kinect SDK v1 joint order (``kinect20``), metres, already skelrec's axes. Frames without a
skeleton are zeros. The world confidence is dropped; its mean goes to ``meta["confidence"]``.

The format differs from MSRC-12's one-line-per-frame csv and from MSR Action3D's headerless rows, hence its own
module. Protocol ``xsub``: odd subjects train, even subjects test (the dataset paper's cross-subject split).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import numpy as np

from skelrec.datasets.base import (
    DatasetReader,
    MetaSplit,
    Sample,
    name_fields,
    parse_floats,
    parse_rows,
    read_text_lines_numbered,
    register_dataset,
)
from skelrec.errors import DataFormatError

__all__ = ["MSR_DAILY_CLASSES", "MsrDailyReader"]

# Activities 1-16 in the dataset's numbering (Wang et al. 2012).
MSR_DAILY_CLASSES = (
    "drink",
    "eat",
    "read book",
    "call cellphone",
    "write on a paper",
    "use laptop",
    "use vacuum cleaner",
    "cheer up",
    "sit still",
    "toss paper",
    "play game",
    "lie down on sofa",
    "walk",
    "play guitar",
    "stand up",
    "sit down",
)

_NAME = re.compile(r"a(?P<action>\d+)_s(?P<subject>\d+)_e(?P<episode>\d+)_skeleton\.txt")
_NAMING = "aAA_sSS_eEE_skeleton.txt, e.g. a03_s01_e01_skeleton.txt"
_JOINTS = 20
_ROWS = 2 * _JOINTS  # rows per skeleton: a world row and a screen row per joint


@register_dataset
class MsrDailyReader(DatasetReader):
    """MSR DailyActivity3D skeleton files -> one ``kinect20`` :class:`Sample` per file (persons = skeletons)."""

    name = "msr_daily"
    layout = "kinect20"
    classes = MSR_DAILY_CLASSES
    protocols: ClassVar[dict[str, MetaSplit]] = {
        "xsub": MetaSplit("subject", train=frozenset({1, 3, 5, 7, 9}), test=frozenset({2, 4, 6, 8, 10})),
    }
    persons = 2  # the shipped file tracks one skeleton; the format lets a frame list several (40 rows each)
    expected_samples = 320
    file_glob = "a*_s*_e*_skeleton.txt"

    def accepts(self, path: Path) -> bool:
        return _NAME.fullmatch(path.name) is not None

    def read(self, path: Path) -> list[Sample]:
        fields = {k: int(v) for k, v in name_fields(path, _NAME, _NAMING).items()}
        if not 1 <= fields["action"] <= len(self.classes):
            raise DataFormatError(path, f"activity {fields['action']} in the file name", expected="activities 1..16")
        label = fields["action"] - 1
        world = _read_world(path)  # (M, T, V, xyz + confidence)
        if not world[..., :3].any():
            return self.skip("empty", f"{path}: every joint coordinate is zero (no tracked skeleton); file skipped")
        tracked = world[..., :3].any(axis=(2, 3))
        return [
            Sample(
                data=world[..., :3],
                layout=self.layout,
                name=path.stem.removesuffix("_skeleton"),
                dataset=self.name,
                label=label,
                label_name=self.classes[label],
                meta={**fields, "confidence": round(float(world[..., 3][tracked].mean()), 4), "source": str(path)},
            )
        ]


def _read_world(path: Path) -> np.ndarray:
    """Parse the file into world joints ``(M, T, 20, 4)`` float32 (M >= 1; frames without a skeleton are zero)."""
    lines = read_text_lines_numbered(path)
    frames = _header(path, lines[0])
    blocks: list[tuple[int, int]] = []  # per frame: index of its first joint row in ``lines``, row count
    i = 1
    for t in range(frames):
        if i >= len(lines):
            raise DataFormatError(
                path, f"file ends after {t} of {frames} frames", expected="the frame count of line 1", line=lines[-1][0]
            )
        count = _integer(path, lines[i], f"row count of frame {t}")
        if count < 0 or count % _ROWS:
            raise DataFormatError(
                path,
                f"row count {count} of frame {t}",
                expected=f"a multiple of {_ROWS} (2 rows per joint)",
                line=lines[i][0],
            )
        if i + 1 + count > len(lines):
            raise DataFormatError(
                path,
                f"file ends inside frame {t}",
                expected=f"{count} rows after line {lines[i][0]}",
                line=lines[-1][0],
            )
        blocks.append((i + 1, count))
        i += 1 + count
    if i != len(lines):
        raise DataFormatError(
            path, f"data continues after the {frames} frames of line 1", expected="end of file", line=lines[i][0]
        )
    rows = parse_rows(path, [ln for s, c in blocks for ln in lines[s : s + c]], 4, "numbers (4 per row)")
    persons = max(1, max(c for _, c in blocks) // _ROWS)
    out = np.zeros((persons, frames, _JOINTS, 4), dtype=np.float32)
    offset = 0
    for t, (_, count) in enumerate(blocks):
        block = rows[offset : offset + count].reshape(count // _ROWS, _JOINTS, 2, 4)  # (M_t, V, world/screen, 4)
        out[: len(block), t] = block[:, :, 0]
        offset += count
    return out


def _header(path: Path, line: tuple[int, str]) -> int:
    """Line 1 ``frames joints``: the frame count; the joint count must be 20."""
    values = parse_floats(path, line[0], line[1], 2, "numbers (frame count, joint count)")
    frames, joints = int(values[0]), int(values[1])
    if joints != _JOINTS or values[1] != joints:
        raise DataFormatError(path, f"joint count {values[1]:g}", expected=f"{_JOINTS} (Kinect v1)", line=line[0])
    if frames < 1 or values[0] != frames:
        raise DataFormatError(path, f"frame count {values[0]:g}", expected="a positive integer", line=line[0])
    return frames


def _integer(path: Path, line: tuple[int, str], what: str) -> int:
    value = parse_floats(path, line[0], line[1], 1, what)[0]
    if value != int(value):
        raise DataFormatError(path, f"{what} is {value:g}", expected="an integer", line=line[0])
    return int(value)
