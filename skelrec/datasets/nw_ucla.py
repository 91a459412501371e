"""Reader for Northwestern-UCLA Multiview Action 3D (Wang et al., CVPR 2014), ``all_sqe`` JSON version.

One file per clip, ``aAA_sSS_eEE_vVV.json`` (action, subject, episode, view), holding
``{"file_name": "<stem>", "skeletons": [T][20][3], "label": 1..10}``: Kinect v1 camera coordinates in metres, in the
Kinect SDK v1 joint order (``kinect20``: head is the highest joint, the spine runs hip centre -> shoulder centre, the
joint named left has the smaller x; checked in ``tests/test_datasets_kinect_v1.py``). The axes already are skelrec's
(y up, z away, x towards the subject's right), so coordinates are kept as they are. This is the copy used by
CTR-GCN's ``feeders/feeder_ucla.py``; its ``label`` is 1-based and must agree with the file name's action code.

Classes: the ten action codes a01-a06, a08, a09, a11, a12 map to labels 0-9 in that order.

Protocols:
    xview: views 1 and 2 train, view 3 test (the published NW-UCLA protocol, 1,020 / 464 clips). A copy that holds
        views 1 and 2 only yields an empty test part, and :meth:`split` logs a warning saying so.
    xsub: odd subjects (1, 3, 5, 7, 9) train, even subjects test. Chosen because it is the cross-subject rule of the
        other Kinect v1 datasets here (UTD-MHAD, MSR Action3D, MSR DailyActivity3D), because it splits views 1-2 into
        two halves of similar size (506 / 514 clips) with every class in both, and because it works without view 3.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from skelrec.datasets.base import DatasetReader, MetaSplit, Sample, name_fields, register_dataset
from skelrec.errors import DataFormatError

__all__ = ["NW_UCLA_ACTIONS", "NW_UCLA_CLASSES", "NwUclaReader"]

# Action codes of the file names, in label order, and their names (Wang et al. 2014).
NW_UCLA_ACTIONS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)
NW_UCLA_CLASSES = (
    "pick up with one hand",
    "pick up with two hands",
    "drop trash",
    "walk around",
    "sit down",
    "stand up",
    "donning",
    "doffing",
    "throw",
    "carry",
)

_NAME = re.compile(r"a(?P<action>\d+)_s(?P<subject>\d+)_e(?P<episode>\d+)_v(?P<view>\d+)\.json")
_NAMING = "aAA_sSS_eEE_vVV.json, e.g. a01_s01_e00_v01.json"
_JOINTS = 20


@register_dataset
class NwUclaReader(DatasetReader):
    """NW-UCLA ``all_sqe`` JSON clips -> one single-person ``kinect20`` :class:`Sample` per file."""

    name = "nw_ucla"
    layout = "kinect20"
    classes = NW_UCLA_CLASSES
    protocols: ClassVar[dict[str, MetaSplit]] = {
        "xview": MetaSplit("view", train=frozenset({1, 2}), test=frozenset({3})),
        "xsub": MetaSplit("subject", train=frozenset({1, 3, 5, 7, 9}), test=frozenset({2, 4, 6, 8, 10})),
    }
    persons = 1
    expected_samples = 1484  # views 1-3; the ../shared copy holds views 1-2 only (1,020 clips)
    file_glob = "a*_s*_e*_v*.json"

    def accepts(self, path: Path) -> bool:
        return _NAME.fullmatch(path.name) is not None

    @classmethod
    def detect(cls, path: Path) -> bool:
        """A ``.json`` file that opens with the ``all_sqe`` object's keys (``"skeletons"``), whatever its name."""
        if path.suffix.lower() != ".json":
            return False
        try:
            with path.open("rb") as f:
                head = f.read(4096)
        except OSError:
            return False
        return head.lstrip().startswith(b"{") and b'"skeletons"' in head

    def read_sequence(self, path: Path) -> Sample:
        """The clip of one file, unlabelled and whatever its name (``skelrec label``)."""
        data = _skeleton_array(path, _load_json(path)["skeletons"])  # (T, V, 3)
        if not data.any():
            raise DataFormatError(path, "every joint coordinate is zero", expected="a tracked skeleton")
        return Sample(data[None], self.layout, path.stem, self.name, meta={"source": str(path)})

    def read(self, path: Path) -> list[Sample]:
        fields = {k: int(v) for k, v in name_fields(path, _NAME, _NAMING).items()}
        if fields["action"] not in NW_UCLA_ACTIONS:
            raise DataFormatError(path, f"unknown action code a{fields['action']:02d}", expected=_codes())
        label = NW_UCLA_ACTIONS.index(fields["action"])
        doc = _load_json(path)
        _check_header(path, doc, label)
        data = _skeleton_array(path, doc["skeletons"])  # (T, V, 3)
        if not data.any():
            return self.skip("empty", f"{path}: every joint coordinate is zero (no tracked skeleton); file skipped")
        return [
            Sample(
                data=data[None],
                layout=self.layout,
                name=path.stem,
                dataset=self.name,
                label=label,
                label_name=self.classes[label],
                meta={**fields, "source": str(path)},
            )
        ]


def _codes() -> str:
    return "one of " + ", ".join(f"a{a:02d}" for a in NW_UCLA_ACTIONS)


def _load_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataFormatError(path, "not a text file", expected="a JSON skeleton file") from None
    if not text.strip():
        raise DataFormatError(path, "file is empty", expected='a JSON object {"file_name", "skeletons", "label"}')
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataFormatError(
            path, f"invalid JSON ({err.msg})", expected="a complete JSON object", line=err.lineno
        ) from None
    if not isinstance(doc, dict) or not {"file_name", "skeletons", "label"} <= doc.keys():
        found = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise DataFormatError(path, f"found {found}", expected='a JSON object with "file_name", "skeletons", "label"')
    return doc


def _check_header(path: Path, doc: dict[str, Any], label: int) -> None:
    """``file_name`` must be the file's stem and the 1-based ``label`` must match the name's action code."""
    if doc["file_name"] != path.stem:
        raise DataFormatError(path, f'"file_name" is {doc["file_name"]!r}', expected=f"{path.stem!r} (the file's name)")
    if doc["label"] != label + 1 or isinstance(doc["label"], bool):
        raise DataFormatError(
            path, f'"label" is {doc["label"]!r}', expected=f"{label + 1} (1-based label of the name's action code)"
        )


def _skeleton_array(path: Path, skeletons: Any) -> np.ndarray:
    """``[T][20][3]`` numbers -> ``(T, 20, 3)`` float32; errors name the offending ``skeletons[t][j][c]`` field."""
    expected = f"[T][{_JOINTS}][3] finite numbers (T >= 1)"
    if not isinstance(skeletons, list) or not skeletons:
        raise DataFormatError(path, '"skeletons" is empty or not a list', expected=expected)
    try:
        data = np.array(skeletons, dtype=np.float64)
    except (ValueError, TypeError):
        data = None
    if data is not None and data.shape == (len(skeletons), _JOINTS, 3) and np.isfinite(data).all():
        return data.astype(np.float32)
    for t, frame in enumerate(skeletons):  # slow path: locate the first bad field
        if not isinstance(frame, list) or len(frame) != _JOINTS:
            n = len(frame) if isinstance(frame, list) else type(frame).__name__
            raise DataFormatError(path, f'"skeletons"[{t}] has {n} joints', expected=expected)
        for j, joint in enumerate(frame):
            if not isinstance(joint, list) or len(joint) != 3:
                raise DataFormatError(path, f'"skeletons"[{t}][{j}] is {joint!r}', expected="[x, y, z]")
            for c, value in enumerate(joint):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise DataFormatError(path, f'"skeletons"[{t}][{j}][{c}] is {value!r}', expected="a number")
                if not math.isfinite(value):
                    raise DataFormatError(path, f'"skeletons"[{t}][{j}][{c}] is {value}', expected="a finite number")
    raise DataFormatError(path, '"skeletons" could not be read', expected=expected)  # not reached
