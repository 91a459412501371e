"""Reader for MSR Action3D (Li, Zhang, Liu, CVPR-W 2010), skeleton "real world coordinates" version.

One text file per clip, ``aAA_sSS_eEE_skeleton3D.txt`` (action 1-20, subject 1-10, repetition 1-3): 20 rows per
frame, each ``x y z confidence``, in the MSR joint order of ``body_model.mat`` (layout ``msr_action3d20``). The
coordinates are metres with y up and z away from the camera, and x grows towards the subject's right: in the one-arm
actions 1-9 the joint named right wrist (row 11) moves most in every clip and the right shoulder (row 2) lies at the
larger x, so no axis change is needed (``tests/test_datasets_kinect_v1.py`` checks both). The confidence column is
dropped from the data; its mean is kept in ``meta["confidence"]``.

Empty recordings: ``a13_s09_e02`` holds 38 frames that are all zeros (so does the original release). A clip with no
non-zero coordinate carries no motion, so it is skipped on purpose: logged as a warning and counted in
``reader.stats["empty"]``. The 567 files therefore load as 566 samples. Clips with some zero frames (lost tracking,
e.g. in "bend" and "pickup and throw") are kept; their zero frames are absent frames under the skelrec convention.

Protocol ``xsub``: odd subjects (1, 3, 5, 7, 9) train, even subjects test (the standard cross-subject protocol over
all 20 actions). The AS1/AS2/AS3 action subsets are a filter on ``label`` that callers can apply themselves.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import numpy as np

from skelrec.datasets.base import DatasetReader, MetaSplit, Sample, name_fields, read_table, register_dataset
from skelrec.errors import DataFormatError

__all__ = ["MSR_ACTION3D_CLASSES", "MsrAction3dReader"]

# action_names.mat of the dataset's evaluation package, actions 1-20.
MSR_ACTION3D_CLASSES = (
    "high arm wave", "horizontal arm wave", "hammer", "hand catch", "forward punch", "high throw", "draw X",
    "draw tick", "draw circle", "hand clap", "two hand wave", "side boxing", "bend", "forward kick", "side kick",
    "jogging", "tennis swing", "tennis serve", "golf swing", "pickup and throw",
)  # fmt: skip

_NAME = re.compile(r"a(?P<action>\d+)_s(?P<subject>\d+)_e(?P<episode>\d+)_skeleton3D\.txt")
_NAMING = "aAA_sSS_eEE_skeleton3D.txt, e.g. a01_s01_e01_skeleton3D.txt"
_JOINTS = 20


@register_dataset
class MsrAction3dReader(DatasetReader):
    """MSR Action3D real-world skeleton files -> one single-person ``msr_action3d20`` :class:`Sample` per file."""

    name = "msr_action3d"
    layout = "msr_action3d20"
    classes = MSR_ACTION3D_CLASSES
    protocols: ClassVar[dict[str, MetaSplit]] = {
        "xsub": MetaSplit("subject", train=frozenset({1, 3, 5, 7, 9}), test=frozenset({2, 4, 6, 8, 10})),
    }
    fps = 15.0
    persons = 1
    expected_samples = 566  # 567 files, one of them all zeros (a13_s09_e02)
    file_glob = "a*_s*_e*_skeleton3D.txt"

    def accepts(self, path: Path) -> bool:
        return _NAME.fullmatch(path.name) is not None

    def read(self, path: Path) -> list[Sample]:
        fields = {k: int(v) for k, v in name_fields(path, _NAME, _NAMING).items()}
        if not 1 <= fields["action"] <= len(self.classes):
            raise DataFormatError(path, f"action {fields['action']} in the file name", expected="actions 1..20")
        label = fields["action"] - 1
        table, lines = read_table(path, 4, "numbers (x y z confidence)")
        if len(table) % _JOINTS:
            raise DataFormatError(
                path,
                f"{len(table)} joint rows are not whole frames (the last frame has {len(table) % _JOINTS} rows)",
                expected=f"{_JOINTS} rows per frame: a truncated file or a wrong joint count",
                line=lines[-1],
            )
        frames = table.reshape(-1, _JOINTS, 4)  # (T, V, xyz + confidence)
        if not frames[..., :3].any():
            return self.skip("empty", f"{path}: every joint coordinate is zero (no tracked skeleton); file skipped")
        return [
            Sample(
                data=frames[None, ..., :3].astype(np.float32),
                layout=self.layout,
                name=path.stem.removesuffix("_skeleton3D"),
                dataset=self.name,
                label=label,
                label_name=self.classes[label],
                fps=self.fps,
                meta={**fields, "confidence": round(float(frames[..., 3].mean()), 4), "source": str(path)},
            )
        ]
