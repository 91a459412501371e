"""Kinect v1 readers: NW-UCLA, UTD-MHAD, MSR Action3D, MSRC-12, MSR DailyActivity3D.

Real-data tests (``shared_data``) check counts, labels, protocols, and that each dataset's joint order and axes are
what its layout claims: the head sits on top of a rising spine, the legs hang down, the subject's right shoulder has the
larger x (skelrec axes), and in right-arm actions the joint named right wrist moves most. Every such check is also run
on left/right-swapped data, where it must fail, so the checks can tell a wrong order from a right one. Synthetic
files in ``tmp_path`` test the one-line errors of malformed input.
"""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from skelrec.datasets import get_reader
from skelrec.datasets.base import DatasetReader, Sample
from skelrec.datasets.msr_daily import MSR_DAILY_CLASSES
from skelrec.datasets.nw_ucla import NW_UCLA_ACTIONS
from skelrec.datasets.utd_mhad import UTD_MHAD_CLASSES
from skelrec.errors import DataFormatError, SkelrecError
from skelrec.skeleton import Layout, get_layout

# ----------------------------------------------------------------------------------------------------------------
# Real data, loaded once per module.
# ----------------------------------------------------------------------------------------------------------------


def _load(name: str, folder: Path) -> tuple[DatasetReader, list[Sample]]:
    reader = get_reader(name, folder)
    return reader, list(reader.samples())


@pytest.fixture(scope="module")
def ucla(shared_data):
    return _load("nw_ucla", shared_data / "nw_ucla")


@pytest.fixture(scope="module")
def utd(shared_data):
    return _load("utd_mhad", shared_data / "utd_mhad")


@pytest.fixture(scope="module")
def msr(shared_data):
    return _load("msr_action3d", shared_data / "msr_action3d")


# ----------------------------------------------------------------------------------------------------------------
# Joint-order and axis measures. Each returns a share in [0, 1]; ``swapped`` relabels left <-> right first.
# ----------------------------------------------------------------------------------------------------------------


def _frames(sample: Sample, layout: Layout, swapped: bool) -> np.ndarray:
    """Valid frames ``(T', V, 3)`` of person 0, optionally with left and right joints swapped."""
    d = sample.data[0]
    d = d[d.any(axis=(1, 2))]
    return d[:, layout.flip_index] if swapped else d


def right_arm_moves_more(samples: list[Sample], layout: Layout, swapped: bool = False) -> float:
    """Share of clips in which the right wrist and hand travel further than the left ones."""
    rw, rh, lw, lh = layout.indices(["right_wrist", "right_hand", "left_wrist", "left_hand"])
    wins = []
    for s in samples:
        path = np.linalg.norm(np.diff(_frames(s, layout, swapped), axis=0), axis=-1).sum(axis=0)  # (V,)
        wins.append(path[rw] + path[rh] > path[lw] + path[lh])
    return float(np.mean(wins))


def right_side_has_larger_x(samples: list[Sample], layout: Layout, swapped: bool = False) -> float:
    """Share of clips whose right shoulder and right hip lie, on average, at larger x than the left ones."""
    rs, rh, ls, lh = layout.indices(["right_shoulder", "right_hip", "left_shoulder", "left_hip"])
    wins = []
    for s in samples:
        d = _frames(s, layout, swapped)
        wins.append(d[:, rs, 0].mean() > d[:, ls, 0].mean() and d[:, rh, 0].mean() > d[:, lh, 0].mean())
    return float(np.mean(wins))


def upright(samples: list[Sample], layout: Layout, chain: list[str]) -> float:
    """Share of valid frames in which the joints of ``chain`` are ordered from highest to lowest (largest y first)."""
    idx = layout.indices(chain)
    ok = [np.all(np.diff(_frames(s, layout, False)[:, idx, 1], axis=1) < 0, axis=1) for s in samples]
    return float(np.concatenate(ok).mean())


_SPINE = ["head", "spine_shoulder", "spine_mid", "spine_base"]
_LEGS = [["spine_base", f"{side}_knee", f"{side}_ankle"] for side in ("left", "right")]


def _check_axes(samples: list[Sample], layout_name: str, *, handed: list[Sample] | None = None) -> None:
    layout = get_layout(layout_name)
    assert upright(samples, layout, _SPINE) > 0.95  # the head is on top of the spine, which rises from the hips
    assert all(upright(samples, layout, leg) > 0.95 for leg in _LEGS)
    assert right_side_has_larger_x(samples, layout) > 0.95
    assert right_side_has_larger_x(samples, layout, swapped=True) < 0.05
    if handed is not None:
        assert right_arm_moves_more(handed, layout) > 0.95
        assert right_arm_moves_more(handed, layout, swapped=True) < 0.05


def _parts(reader: DatasetReader, samples: list[Sample], protocol: str) -> dict[str, list[Sample]]:
    idx = reader.split(protocol, [s.meta for s in samples])
    return {part: [samples[i] for i in ix] for part, ix in idx.items()}


# ----------------------------------------------------------------------------------------------------------------
# NW-UCLA
# ----------------------------------------------------------------------------------------------------------------


def test_nw_ucla_loads_all_1020_clips_with_labels_from_names(ucla):
    reader, samples = ucla
    assert len(samples) == 1020 and not reader.stats
    assert len({s.name for s in samples}) == 1020
    assert {s.meta["view"] for s in samples} == {1, 2}
    assert {s.meta["subject"] for s in samples} == set(range(1, 11))
    for s in samples:
        assert s.data.shape[0] == 1 and s.data.shape[2:] == (20, 3)
        assert s.label == NW_UCLA_ACTIONS.index(s.meta["action"])
    assert np.bincount([s.label for s in samples]).tolist() == [102, 102, 96, 124, 101, 102, 99, 99, 98, 97]


def test_nw_ucla_xview_test_part_is_empty_without_view_3_and_says_so(ucla, caplog):
    reader, samples = ucla
    with caplog.at_level(logging.WARNING):
        parts = _parts(reader, samples, "xview")
    assert len(parts["train"]) == 1020 and parts["test"] == []
    assert "test part is empty" in caplog.text and "view" in caplog.text


def test_nw_ucla_xsub_is_a_subject_disjoint_split_covering_every_class(ucla):
    reader, samples = ucla
    parts = _parts(reader, samples, "xsub")
    assert (len(parts["train"]), len(parts["test"])) == (506, 514)
    train_subjects = {s.meta["subject"] for s in parts["train"]}
    assert train_subjects == {1, 3, 5, 7, 9} and not train_subjects & {s.meta["subject"] for s in parts["test"]}
    for part in parts.values():
        assert {s.label for s in part} == set(range(10))


def test_nw_ucla_is_kinect_sdk_order_in_skelrec_axes(ucla):
    _check_axes(ucla[1], "kinect20")


# ----------------------------------------------------------------------------------------------------------------
# UTD-MHAD
# ----------------------------------------------------------------------------------------------------------------

# Actions performed with the right arm in which the right hand clearly moves more (swipes, wave, throw, draw x,
# circles, triangle, bowling, tennis swing, knock, catch, pick up and throw).
_UTD_RIGHT_ARM = {1, 2, 3, 5, 8, 9, 10, 11, 12, 15, 19, 20, 21}


def test_utd_mhad_loads_all_861_clips(utd):
    reader, samples = utd
    assert len(samples) == 861 == reader.expected_samples and not reader.stats
    assert {s.label for s in samples} == set(range(27))
    assert all(s.label == s.meta["action"] - 1 and s.data.shape[2:] == (20, 3) for s in samples)


def test_utd_mhad_class_names_match_action_list(shared_data):
    text = (shared_data / "utd_mhad" / "Action_List.txt").read_text()
    found = dict(re.findall(r"^\s*(\d+)\.\s+(.+?)\s+\(\w+\)\s*$", text, flags=re.M))
    names = [" ".join(found[str(i)].split()) for i in range(1, 28)]
    assert names == list(UTD_MHAD_CLASSES)


def test_utd_mhad_layout_matches_the_dataset_joint_order_file(shared_data):
    text = (shared_data / "utd_mhad" / "Skeleton" / "Skeleton_joint_order.txt").read_text()
    listed = re.findall(r"^\s*\d+\.\s*(\w+);", text, flags=re.M)
    ours = {"shoulder_center": "spine_shoulder", "spine": "spine_mid", "hip_center": "spine_base"}
    assert [ours.get(n, n) for n in listed] == list(get_layout("utd_mhad20").joints)


def test_utd_mhad_xsub_is_odd_versus_even_subjects(utd):
    reader, samples = utd
    parts = _parts(reader, samples, "xsub")
    assert (len(parts["train"]), len(parts["test"])) == (431, 430)
    assert {s.meta["subject"] for s in parts["train"]} == {1, 3, 5, 7}
    assert {s.meta["subject"] for s in parts["test"]} == {2, 4, 6, 8}


def test_utd_mhad_right_arm_actions_move_the_joint_named_right_wrist(utd):
    samples = utd[1]
    _check_axes(samples, "utd_mhad20", handed=[s for s in samples if s.meta["action"] in _UTD_RIGHT_ARM])


# ----------------------------------------------------------------------------------------------------------------
# MSR Action3D
# ----------------------------------------------------------------------------------------------------------------


def test_msr_action3d_reads_567_files_and_skips_the_all_zero_one_on_purpose(msr, caplog):
    reader, samples = msr
    assert len(reader.files()) == 567
    assert len(samples) == 566 == reader.expected_samples and reader.stats == {"empty": 1}
    assert "a13_s09_e02" not in {s.name for s in samples}
    with caplog.at_level(logging.WARNING):
        assert reader.read(next(p for p in reader.files() if p.name.startswith("a13_s09_e02"))) == []
    assert "a13_s09_e02" in caplog.text and "zero" in caplog.text
    assert {s.label for s in samples} == set(range(20))
    assert all(0 <= s.meta["confidence"] <= 1 for s in samples)


def test_msr_action3d_xsub_is_odd_versus_even_subjects(msr):
    reader, samples = msr
    parts = _parts(reader, samples, "xsub")
    assert (len(parts["train"]), len(parts["test"])) == (291, 275)
    assert {s.meta["subject"] for s in parts["train"]} == {1, 3, 5, 7, 9}


def test_msr_action3d_layout_matches_body_model_mat(shared_data):
    model = scipy.io.loadmat(str(shared_data / "msr_action3d" / "body_model.mat"))["body_model"][0, 0]
    layout = get_layout("msr_action3d20")
    bones = {frozenset(int(j) - 1 for j in b) for b in model["bones"]}
    assert bones == {frozenset(b) for b in layout.bones}
    named = {
        "head": "head_index",
        "spine_base": "hip_center_index",
        "left_hip": "left_hip_index",
        "right_hip": "right_hip_index",
        "left_wrist": "left_wrist_index",
        "right_wrist": "right_wrist_index",
        "left_ankle": "left_ankle_index",
        "right_ankle": "right_ankle_index",
    }
    assert {j: layout.index(j) for j in named} == {j: int(model[k][0, 0]) - 1 for j, k in named.items()}


def test_msr_action3d_right_is_the_subjects_right_and_x_points_to_it(msr):
    samples = msr[1]
    # actions 1-9 (arm waves, hammer, catch, punch, throw, draw x / tick / circle) use the right arm
    _check_axes(samples, "msr_action3d20", handed=[s for s in samples if s.meta["action"] <= 9])


# ----------------------------------------------------------------------------------------------------------------
# MSRC-12 and MSR DailyActivity3D samples
# ----------------------------------------------------------------------------------------------------------------


def test_msrc12_samples_load_with_gesture_from_name(shared_data):
    _, samples = _load("msrc12", shared_data / "msrc12_sample")
    assert [s.meta["person"] for s in samples] == [6, 19, 21, 22]
    for s in samples:
        assert s.label == 0 and s.label_name == "lift outstretched arms" and s.meta["series"] == "P1_1"
        assert s.data.shape[1] == s.meta["end"] - s.meta["start"] > 900
        assert s.meta["start"] >= 20 and s.data[0, 0].any() and s.data[0, -1].any()  # untracked frames trimmed
        arms = s.data[0][..., 1]  # both hands go above the head while lifting the outstretched arms
        layout = get_layout("kinect20")
        assert (arms[:, layout.index("left_hand")] > arms[:, layout.index("head")]).any()
        assert (arms[:, layout.index("right_hand")] > arms[:, layout.index("head")]).any()
    _check_axes(samples, "kinect20")


def test_msr_daily_sample_loads(shared_data):
    _, samples = _load("msr_daily", shared_data / "msr_daily_activity3d_sample")
    (s,) = samples
    assert s.data.shape == (1, 311, 20, 3) and s.name == "a03_s01_e01"
    assert s.label_name == MSR_DAILY_CLASSES[2] == "read book"
    assert s.meta == {**s.meta, "subject": 1, "episode": 1}
    _check_axes(samples, "kinect20")


# ----------------------------------------------------------------------------------------------------------------
# Malformed files: every reader gives a one-line DataFormatError naming the file, the line or field, and what was
# expected. Each format's writer first produces a valid file (checked to load), then one defect at a time.
# ----------------------------------------------------------------------------------------------------------------


def _coords(frames: int = 3, joints: int = 20) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.round(rng.uniform(-0.8, 0.8, (frames, joints, 3)) + np.array([0.0, 0.0, 2.5]), 4)


def _rows(values: np.ndarray) -> list[list[str]]:
    return [[f"{v:g}" for v in row] for row in values]


def _text(rows: list[list[str]]) -> bytes:
    return ("\n".join(" ".join(r) for r in rows) + "\n").encode()


def _damage(rows: list[list[str]], defect: str, row: int, col: int) -> list[list[str]]:
    """Put a bad token into ``rows[row][col]`` (non-numeric / NaN / inf)."""
    rows[row][col] = {"text": "abc", "nan": "nan", "inf": "inf"}[defect]
    return rows


def _msr_action3d(defect: str | None) -> bytes:
    d = _coords(joints=25 if defect == "joints" else 20)
    rows = _rows(np.concatenate([d, np.ones((*d.shape[:2], 1))], axis=-1).reshape(-1, 4))
    if defect == "truncated":
        rows = rows[:-7]
    elif defect in ("text", "nan", "inf"):
        rows = _damage(rows, defect, 4, 1)
    return _text(rows)


def _msrc12(defect: str | None) -> bytes:
    d = _coords(joints=25 if defect == "joints" else 20)
    table = np.concatenate([d, np.ones((*d.shape[:2], 1))], axis=-1).reshape(len(d), -1)
    rows = _rows(np.concatenate([np.arange(len(d))[:, None] * 33000.0, table], axis=1))
    if defect == "truncated":
        rows[-1] = rows[-1][:41]
    elif defect in ("text", "nan", "inf"):
        rows = _damage(rows, defect, 1, 7)
    return _text(rows)


def _msr_daily(defect: str | None) -> bytes:
    d = _coords()
    rows = [["3", "25" if defect == "joints" else "20"]]
    for frame in d:
        rows.append(["40"])
        for joint in frame:
            rows += [[f"{v:g}" for v in joint] + ["1"], ["0.5", "0.5", "20000", "0"]]
    if defect == "truncated":
        rows = rows[:-10]
    elif defect in ("text", "nan", "inf"):
        rows = _damage(rows, defect, 5, 2)
    return _text(rows)


def _nw_ucla(defect: str | None) -> bytes:
    skel = _coords().tolist()
    if defect == "joints":
        skel[1] = skel[1][:19]
    elif defect in ("text", "nan", "inf"):
        skel[0][2][1] = {"text": "abc", "nan": float("nan"), "inf": float("inf")}[defect]
    text = json.dumps({"file_name": "a01_s01_e00_v01", "skeletons": skel, "label": 1})
    return (text[: len(text) // 2] if defect == "truncated" else text).encode()


def _utd_mhad(defect: str | None) -> bytes:
    d = _coords(joints=25 if defect == "joints" else 20).transpose(1, 2, 0)  # (V, 3, T)
    if defect == "text":
        d = np.full(d.shape, "a")
    elif defect in ("nan", "inf"):
        d[2, 1, 0] = float(defect)
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"d_skel": d})
    raw = buf.getvalue()
    return raw[: len(raw) // 2] if defect == "truncated" else raw


# dataset -> (file name, writer, {defect: (fragment of the message, line or None)})
_FORMATS = {
    "msr_action3d": (
        "a01_s01_e01_skeleton3D.txt",
        _msr_action3d,
        {
            "truncated": ("53 joint rows are not whole frames", 53),
            "joints": ("75 joint rows are not whole frames", 75),
            "text": ("non-numeric value 'abc'", 5),
            "nan": ("NaN or infinite", 5),
            "inf": ("NaN or infinite", 5),
        },
    ),
    "msrc12": (
        "P1_1_1_p06.csv",
        _msrc12,
        {
            "truncated": ("found 41 values", 3),
            "joints": ("found 101 values", 1),
            "text": ("non-numeric value 'abc'", 2),
            "nan": ("NaN or infinite", 2),
            "inf": ("NaN or infinite", 2),
        },
    ),
    "msr_daily": (
        "a03_s01_e01_skeleton.txt",
        _msr_daily,
        {
            "truncated": ("file ends inside frame 2", 114),
            "joints": ("joint count 25", 1),
            "text": ("non-numeric value 'abc'", 6),
            "nan": ("NaN or infinite", 6),
            "inf": ("NaN or infinite", 6),
        },
    ),
    "nw_ucla": (
        "a01_s01_e00_v01.json",
        _nw_ucla,
        {
            "truncated": ("invalid JSON", 1),
            "joints": ('"skeletons"[1] has 19 joints', None),
            "text": ("\"skeletons\"[0][2][1] is 'abc'", None),
            "nan": ('"skeletons"[0][2][1] is nan', None),
            "inf": ('"skeletons"[0][2][1] is inf', None),
        },
    ),
    "utd_mhad": (
        "a1_s1_t1_skeleton.mat",
        _utd_mhad,
        {
            "truncated": ("not a readable MATLAB file", None),
            "joints": ("d_skel has shape (25, 3, 3)", None),
            "text": ("d_skel holds <U1 values", None),
            "nan": ("d_skel[2, 1, 0] is nan", None),
            "inf": ("d_skel[2, 1, 0] is inf", None),
        },
    ),
}
_CASES = [(name, defect, *want) for name, (_, _, defects) in _FORMATS.items() for defect, want in defects.items()]


def _write(tmp_path: Path, dataset: str, defect: str | None) -> Path:
    filename, writer, _ = _FORMATS[dataset]
    path = tmp_path / filename
    path.write_bytes(writer(defect))
    return path


@pytest.mark.parametrize("dataset", sorted(_FORMATS))
def test_synthetic_valid_file_loads(tmp_path, dataset):
    path = _write(tmp_path, dataset, None)
    (sample,) = list(get_reader(dataset, tmp_path).samples())
    assert sample.data.shape == (1, 3, 20, 3) and sample.meta["source"] == str(path)


@pytest.mark.parametrize(("dataset", "defect", "fragment", "line"), _CASES, ids=[f"{c[0]}-{c[1]}" for c in _CASES])
def test_malformed_file_gives_one_line_error_naming_file_and_place(tmp_path, dataset, defect, fragment, line):
    path = _write(tmp_path, dataset, defect)
    with pytest.raises(DataFormatError) as err:
        list(get_reader(dataset, tmp_path).samples())
    msg = str(err.value)
    assert "\n" not in msg and "expected" in msg and fragment in msg
    assert msg.startswith(f"{path}:{line}: " if line is not None else f"{path}: ")


@pytest.mark.parametrize("dataset", sorted(_FORMATS))
def test_empty_file_is_an_error(tmp_path, dataset):
    path = tmp_path / _FORMATS[dataset][0]
    path.write_bytes(b"")
    with pytest.raises(DataFormatError, match=rf"^{re.escape(str(path))}: file is empty; expected"):
        list(get_reader(dataset, tmp_path).samples())


@pytest.mark.parametrize("dataset", sorted(_FORMATS))
def test_folder_without_dataset_files_is_an_error(tmp_path, dataset):
    (tmp_path / "notes.txt").write_text("not a dataset\n")
    with pytest.raises(SkelrecError, match=rf"^{re.escape(str(tmp_path))}: holds no {dataset} files"):
        get_reader(dataset, tmp_path).files()


@pytest.mark.parametrize("dataset", ["msr_action3d", "msrc12", "msr_daily", "utd_mhad"])
def test_all_zero_file_is_skipped_and_counted(tmp_path, dataset, caplog):
    path = _write(tmp_path, dataset, None)
    reader = get_reader(dataset, tmp_path)
    zeros = {"utd_mhad": lambda: _zero_mat(), "msr_daily": lambda: b"2 20\n0\n0\n"}.get(dataset)
    path.write_bytes(zeros() if zeros else re.sub(rb"[0-9.eE+-]+", b"0", path.read_bytes()))
    with caplog.at_level(logging.WARNING):
        assert reader.read(path) == []
    assert reader.stats == {"empty": 1} and path.name in caplog.text


def _zero_mat() -> bytes:
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"d_skel": np.zeros((20, 3, 4))})
    return buf.getvalue()


def test_nw_ucla_label_must_agree_with_the_file_name(tmp_path):
    path = tmp_path / "a02_s01_e00_v01.json"
    path.write_text(json.dumps({"file_name": path.stem, "skeletons": _coords().tolist(), "label": 1}))
    with pytest.raises(DataFormatError, match=r'"label" is 1; expected 2'):
        get_reader("nw_ucla", tmp_path).read(path)


def test_msr_daily_frames_may_hold_several_skeletons_or_none(tmp_path):
    world = ["0.1 0.2 2.5 1", "0.5 0.5 20000 0"] * 20  # one skeleton: world and screen row per joint
    rows = ["3 20", "40", *world, "80", *world, *(r.replace("0.1", "0.3") for r in world), "0"]
    path = tmp_path / "a01_s02_e02_skeleton.txt"
    path.write_text("\n".join(rows) + "\n")
    (sample,) = get_reader("msr_daily", tmp_path).read(path)
    assert sample.data.shape == (2, 3, 20, 3) and sample.meta["subject"] == 2
    assert sample.data[1, 1, 0, 0] == pytest.approx(0.3) and not sample.data[1, 0].any() and not sample.data[:, 2].any()
