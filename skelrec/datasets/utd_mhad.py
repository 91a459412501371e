"""Reader for UTD-MHAD (Chen, Jafari, Kehtarnavaz, ICIP 2015), skeleton modality.

One MATLAB file per clip, ``aA_sS_tT_skeleton.mat`` (action 1-27, subject 1-8, trial 1-4), holding ``d_skel`` of
shape ``(20, 3, T)``: Kinect v1 camera coordinates in metres in the dataset's own joint order
(``Skeleton/Skeleton_joint_order.txt`` -> layout ``utd_mhad20``: head, shoulder centre, spine, hip centre, then the
Kinect SDK limbs). The axes already are skelrec's (y up, z away, x towards the subject's right: in the right-arm
actions 1-21 the joint named right wrist moves most and lies at the larger x; ``tests/test_datasets_kinect_v1.py``),
so coordinates are kept as they are. The complete dataset has 861 clips (27 x 8 x 4 minus 3 missing recordings).

Protocol ``xsub``: odd subjects (1, 3, 5, 7) train, even subjects test (the dataset paper's cross-subject split).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import numpy as np
import scipy.io

from skelrec.datasets.base import DatasetReader, MetaSplit, Sample, name_fields, register_dataset
from skelrec.errors import DataFormatError

__all__ = ["UTD_MHAD_CLASSES", "UtdMhadReader"]

# Action_List.txt of the dataset, actions 1-27 (1-21 performed with the right arm / inertial sensor on the right wrist).
UTD_MHAD_CLASSES = (
    "right arm swipe to the left", "right arm swipe to the right", "right hand wave", "two hand front clap",
    "right arm throw", "cross arms in the chest", "basketball shooting", "draw x", "draw circle (clockwise)",
    "draw circle (counter clockwise)", "draw triangle", "bowling (right hand)", "front boxing",
    "baseball swing from right", "tennis forehand swing", "arm curl (two arms)", "tennis serve", "two hand push",
    "knock on door", "hand catch", "pick up and throw", "jogging", "walking", "sit to stand", "stand to sit",
    "forward lunge (left foot forward)", "squat",
)  # fmt: skip

_NAME = re.compile(r"a(?P<action>\d+)_s(?P<subject>\d+)_t(?P<trial>\d+)_skeleton\.mat")
_NAMING = "aA_sS_tT_skeleton.mat, e.g. a1_s1_t1_skeleton.mat"
_VARIABLE = "d_skel"
_JOINTS = 20


@register_dataset
class UtdMhadReader(DatasetReader):
    """UTD-MHAD ``.mat`` skeleton clips -> one single-person ``utd_mhad20`` :class:`Sample` per file."""

    name = "utd_mhad"
    layout = "utd_mhad20"
    classes = UTD_MHAD_CLASSES
    protocols: ClassVar[dict[str, MetaSplit]] = {
        "xsub": MetaSplit("subject", train=frozenset({1, 3, 5, 7}), test=frozenset({2, 4, 6, 8})),
    }
    fps = 30.0
    persons = 1
    expected_samples = 861
    file_glob = "a*_s*_t*_skeleton.mat"

    def accepts(self, path: Path) -> bool:
        return _NAME.fullmatch(path.name) is not None

    def read(self, path: Path) -> list[Sample]:
        fields = {k: int(v) for k, v in name_fields(path, _NAME, _NAMING).items()}
        if not 1 <= fields["action"] <= len(self.classes):
            raise DataFormatError(path, f"action {fields['action']} in the file name", expected="actions 1..27")
        label = fields["action"] - 1
        data = _load_d_skel(path).transpose(2, 0, 1)  # (20, 3, T) -> (T, 20, 3)
        if not data.any():
            return self.skip("empty", f"{path}: every joint coordinate is zero (no tracked skeleton); file skipped")
        return [
            Sample(
                data=data[None],
                layout=self.layout,
                name=path.stem.removesuffix("_skeleton"),
                dataset=self.name,
                label=label,
                label_name=self.classes[label],
                fps=self.fps,
                meta={**fields, "source": str(path)},
            )
        ]


def _load_d_skel(path: Path) -> np.ndarray:
    """The ``d_skel`` variable as a finite float32 ``(20, 3, T)`` array, T >= 1."""
    expected = f"a MATLAB file with variable {_VARIABLE} of shape ({_JOINTS}, 3, T)"
    if path.stat().st_size == 0:
        raise DataFormatError(path, "file is empty", expected=expected)
    try:
        mat = scipy.io.loadmat(str(path))
    except (ValueError, TypeError, OSError, NotImplementedError, scipy.io.matlab.MatReadError) as err:
        raise DataFormatError(path, f"not a readable MATLAB file ({err})", expected=expected) from None
    if _VARIABLE not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise DataFormatError(path, f"no variable {_VARIABLE} (found {found})", expected=expected)
    raw = mat[_VARIABLE]
    if raw.ndim != 3 or raw.shape[:2] != (_JOINTS, 3) or raw.shape[2] < 1:
        raise DataFormatError(path, f"{_VARIABLE} has shape {raw.shape}", expected=expected)
    if not np.issubdtype(raw.dtype, np.number):
        raise DataFormatError(path, f"{_VARIABLE} holds {raw.dtype} values", expected="numbers")
    bad = ~np.isfinite(raw)
    if bad.any():
        j, c, t = (int(i) for i in np.argwhere(bad)[0])
        raise DataFormatError(path, f"{_VARIABLE}[{j}, {c}, {t}] is {raw[j, c, t]}", expected="finite coordinates")
    return raw.astype(np.float32)
