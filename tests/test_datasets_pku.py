"""PKU-MMD reader: labelled clips from untrimmed sequences, folder search, official splits, malformed input."""

from __future__ import annotations

import csv
import json
import logging
import lzma
import re
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from skelrec import cli
from skelrec.datasets import get_reader
from skelrec.datasets.base import BACKGROUND_CLASS
from skelrec.datasets.cache import PreparedDataset
from skelrec.datasets.pku import PKU_MMD_CLASSES, PkuMmdReader, background_ranges, pku_video
from skelrec.datasets.pku_streams import PkuMmdStreamReader
from skelrec.errors import DataFormatError, SkelrecError
from skelrec.skeleton import get_layout


@pytest.fixture(scope="module")
def pku(shared_data):
    reader = get_reader("pku_mmd", shared_data / "pku_mmd")
    return reader, list(reader.samples())


def _label_rows(path: Path) -> list[list[int]]:
    return [[int(v) for v in line.split(",")] for line in path.read_text().splitlines() if line.strip()]


def _text(path: Path) -> str:
    """A skeleton file's text, decompressing ``.xz`` with the standard library (independent of the reader)."""
    return lzma.decompress(path.read_bytes()).decode() if path.suffix == ".xz" else path.read_text()


def _video(path: Path) -> str:
    return path.name.split(".")[0]


def test_class_names_match_the_official_action_list(shared_data):
    with (shared_data / "pku_mmd" / "v1" / "splits" / "Actions.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["Label"]) for r in rows] == list(range(1, 52))
    assert [r["Action"] for r in rows] == list(PKU_MMD_CLASSES)


@pytest.mark.slow
def test_folders_are_found_below_the_root(pku, shared_data):
    reader, _ = pku
    v1 = shared_data / "pku_mmd" / "v1"
    assert reader.skeleton_dirs == (v1 / "skeletons", v1 / "skeletons_xz") and reader.label_dir == v1 / "labels"
    files = reader.files()  # the phase-2 sample outside the skeleton folders is not picked up
    assert len(files) == 206 and sum(f.suffix == ".xz" for f in files) == 181
    assert [_video(f) for f in files] == sorted(_video(f) for f in files)  # .txt and .txt.xz merged by video


@pytest.mark.slow
def test_every_label_line_of_the_25_sequences_becomes_one_clip_inside_its_sequence(pku, shared_data):
    reader, samples = pku
    expected = {}
    for skeleton in reader.files():
        frames = sum(1 for line in _text(skeleton).splitlines() if line.strip())
        video = _video(skeleton)
        for label, start, end, confidence in _label_rows(shared_data / "pku_mmd" / "v1" / "labels" / f"{video}.txt"):
            assert 0 <= start < end <= frames
            expected[f"{video}_{start}-{end}"] = (label - 1, end - start, confidence)
    assert len(expected) == len(samples) == 1673 and not reader.stats
    got = {s.name: (s.label, s.frames, s.meta["confidence"]) for s in samples}
    assert got == expected
    assert len({s.label for s in samples}) == 36
    assert all(s.label_name == PKU_MMD_CLASSES[s.label] and s.data.shape[0] == 2 for s in samples)


@pytest.mark.slow
def test_clip_is_the_half_open_frame_range_of_its_label(pku, shared_data):
    _, samples = pku
    clip = next(s for s in samples if s.meta["video"] == "0036-L")
    label, start, end, _ = _label_rows(shared_data / "pku_mmd" / "v1" / "labels" / "0036-L.txt")[0]
    rows = (shared_data / "pku_mmd" / "v1" / "skeletons" / "0036-L.txt").read_text().splitlines()
    first = np.array(rows[start].split(), dtype=np.float32).reshape(2, 25, 3)
    last = np.array(rows[end - 1].split(), dtype=np.float32).reshape(2, 25, 3)
    assert (clip.meta["start"], clip.meta["end"], clip.label) == (start, end, label - 1)
    np.testing.assert_array_equal(clip.data[:, 0], first)
    np.testing.assert_array_equal(clip.data[:, -1], last)


@pytest.mark.parametrize(
    ("protocol", "train", "test"),
    [
        ("xsub", ["0036-L", "0105-M", "0206-R"], ["0309-L", "0312-R", "0320-M"]),
        ("xview", ["0036-L", "0036-R", "0319-L"], ["0036-M", "0160-M", "0320-M"]),
    ],
)
@pytest.mark.slow
def test_official_split_membership(pku, protocol, train, test):
    reader, samples = pku
    parts = reader.split(protocol, [s.meta for s in samples])
    videos = {part: {samples[i].meta["video"] for i in idx} for part, idx in parts.items()}
    assert set(train) <= videos["train"] and set(test) <= videos["test"]
    assert not videos["train"] & videos["test"] and len(parts["train"]) + len(parts["test"]) == len(samples)
    if protocol == "xview":
        assert {samples[i].meta["view"] for i in parts["test"]} == {"M"}


@pytest.mark.slow
def test_skeletons_are_in_skelrec_axes_with_anatomical_sides(pku):
    """x grows towards the subject's right in every clip; the right hand leads in hand waving / handshake / throw."""
    _, samples = pku
    lay = get_layout("ntu25")
    ls, rs, lw, rw = lay.indices(["left_shoulder", "right_shoulder", "left_wrist", "right_wrist"])
    body = [s.data[0][s.data[0].any(axis=(1, 2))] for s in samples]
    assert np.mean([d[:, rs, 0].mean() > d[:, ls, 0].mean() for d in body]) > 0.95
    handed = [d for d, s in zip(body, samples, strict=True) if s.label_name in ("hand waving", "handshaking", "throw")]
    path = np.array([np.linalg.norm(np.diff(d, axis=0), axis=-1).sum(axis=0) for d in handed])  # (clips, V)
    assert len(handed) == 206 and np.mean(path[:, rw] > path[:, lw]) > 0.7  # 0.78 measured (28 clips: 0.8+)


def test_phase2_file_without_labels_is_skipped_unless_asked_for(shared_data, caplog):
    folder = shared_data / "pku_mmd" / "v2_sample"
    with pytest.raises(SkelrecError, match=r"no label folder.*unlabelled=True"):
        get_reader("pku_mmd", folder).files()
    (sample,) = list(get_reader("pku_mmd", folder, unlabelled=True).samples())
    assert sample.name == "A10N08-L" and sample.label is None and sample.data.shape == (2, 1040, 25, 3)
    assert sample.meta == {**sample.meta, "video": "A10N08-L", "view": "L", "phase": 2, "start": 0, "end": 1040}
    reader = get_reader("pku_mmd", folder, label_dir=shared_data / "pku_mmd" / "v1" / "labels")
    with caplog.at_level(logging.WARNING):
        assert list(reader.samples()) == []
    assert reader.stats == {"unlabelled": 1} and "A10N08-L.txt" in caplog.text


def test_root_pointing_at_the_skeleton_folder_finds_labels_and_splits_beside_it(shared_data):
    reader = get_reader("pku_mmd", shared_data / "pku_mmd" / "v1" / "skeletons")
    assert reader.label_dir == shared_data / "pku_mmd" / "v1" / "labels"
    clips = reader.read(reader.skeleton_dirs[0] / "0312-R.txt")
    assert len(clips) == 19
    assert len(reader.split("xsub", [c.meta for c in clips])["test"]) == 19


def test_detect_tells_skeleton_files_from_label_files(shared_data):
    v1 = shared_data / "pku_mmd" / "v1"
    assert PkuMmdReader.detect(v1 / "skeletons" / "0036-L.txt")
    assert not PkuMmdReader.detect(v1 / "labels" / "0036-L.txt")


# ----------------------------------------------------------------------------------------------------------------
# Synthetic datasets in tmp_path.
# ----------------------------------------------------------------------------------------------------------------

_FRAMES = 10


def _dataset(root: Path, *, skeleton: list[str] | None = None, labels: str = "3,0,4,2\n7,4,10,1\n") -> Path:
    """A one-video dataset ``root/skeletons/0001-M.txt`` + ``root/labels/0001-M.txt``; returns the skeleton path."""
    if skeleton is None:
        rng = np.random.default_rng(0)
        skeleton = [" ".join(f"{v:.4f}" for v in rng.uniform(-1, 3, 150)) for _ in range(_FRAMES)]
    (root / "skeletons").mkdir()
    (root / "labels").mkdir()
    (root / "labels" / "0001-M.txt").write_text(labels)
    path = root / "skeletons" / "0001-M.txt"
    path.write_text("\n".join(skeleton) + ("\n" if skeleton else ""))
    return path


def _valid_rows() -> list[str]:
    return [" ".join(["0.5"] * 150) for _ in range(_FRAMES)]


def _split_files(root: Path, train: str, test: str) -> None:
    (root / "splits").mkdir()
    for name in ("cross-subject.txt", "cross-view.txt"):
        (root / "splits" / name).write_text(f"Training videos: \n{train}, \nValidataion videos: \n{test},\n")


def test_synthetic_dataset_yields_one_clip_per_label_line(tmp_path):
    _dataset(tmp_path)
    samples = list(get_reader("pku_mmd", tmp_path).samples())
    assert [(s.name, s.label, s.frames) for s in samples] == [("0001-M_0-4", 2, 4), ("0001-M_4-10", 6, 6)]


def test_split_needs_the_split_files(tmp_path):
    _dataset(tmp_path)
    reader = get_reader("pku_mmd", tmp_path)
    meta = [s.meta for s in reader.samples()]
    with pytest.raises(SkelrecError, match=r"no cross-subject\.txt or cross_subject_v2\.txt; protocol xsub needs"):
        reader.split("xsub", meta)
    _split_files(tmp_path, train="0002-L, 0002-M", test="0001-M")
    assert [len(v) for v in reader.split("xview", meta).values()] == [0, 2]
    with pytest.raises(SkelrecError, match="has no protocol 'xset'"):
        reader.split("xset", meta)


def test_inverted_label_range_is_skipped_and_counted(tmp_path, caplog):
    _dataset(tmp_path, labels="3,0,4,2\n1,9,5,2\n")
    reader = get_reader("pku_mmd", tmp_path)
    with caplog.at_level(logging.WARNING):
        assert len(list(reader.samples())) == 1
    assert reader.stats == {"bad_range": 1} and "0001-M.txt:2: end 5 <= start 9" in caplog.text


def test_all_zero_clip_is_skipped_and_counted(tmp_path):
    rows = _valid_rows()
    rows[:4] = [" ".join(["0"] * 150)] * 4
    _dataset(tmp_path, skeleton=rows)
    reader = get_reader("pku_mmd", tmp_path)
    assert [s.name for s in reader.samples()] == ["0001-M_4-10"] and reader.stats == {"empty": 1}


def test_background_is_the_frames_between_actions_cut_into_pieces():
    """Uncovered frames, ``margin`` away from every action, stretches of ``shortest`` or more, equal pieces of at most
    ``longest``; overlapping and inverted ranges are handled."""
    pieces = background_ranges([(100, 200), (150, 220), (300, 250), (260, 400)], 600, 5, 30, 100)
    assert pieces == [(0, 95), (225, 255), (405, 502), (502, 600)]  # 0-95 fits one piece, 405-600 needs two
    assert background_ranges([(10, 40)], 60, 5, 30, 100) == []  # 0-5 and 45-60 are too short
    assert background_ranges([], 50, 5, 30, 120) == [(0, 50)]


def test_background_option_adds_a_no_action_class_from_the_gaps(tmp_path):
    rows = [" ".join(f"{0.1 * (i + 1):.3f}" for _ in range(150)) for i in range(60)]
    rows[50:] = [" ".join(["0"] * 150)] * 10  # nobody tracked at the end: the last background piece is dropped
    _dataset(tmp_path, skeleton=rows, labels="3,10,20,2\n7,36,40,1\n")
    reader = get_reader("pku_mmd", tmp_path, background=True, background_margin=2, background_min=5, background_max=8)
    assert reader.classes == (*PKU_MMD_CLASSES, BACKGROUND_CLASS)
    got = [(s.name, s.label, s.label_name, s.frames) for s in reader.samples()]
    gaps = [(0, 8), (22, 28), (28, 34), (42, 48), (48, 54)]  # covered: [8, 22) and [34, 42) with the margins
    assert got == [
        ("0001-M_10-20", 2, PKU_MMD_CLASSES[2], 10),
        ("0001-M_36-40", 6, PKU_MMD_CLASSES[6], 4),
        *((f"0001-M_{a}-{b}", 51, BACKGROUND_CLASS, b - a) for a, b in gaps),
    ]
    assert reader.stats == {"empty_background": 1}  # [54, 60): no tracked body
    assert get_reader("pku_mmd", tmp_path).classes == PKU_MMD_CLASSES  # the option is off by default
    with pytest.raises(SkelrecError, match="background_min 9 and background_max 8"):
        get_reader("pku_mmd", tmp_path, background=True, background_min=9, background_max=8)
    with pytest.raises(SkelrecError, match="background_min='abc': frames must be whole numbers"):
        get_reader("pku_mmd", tmp_path, background=True, background_min="abc")  # -o background_min=abc


def _bad_skeleton(defect: str) -> list[str]:
    rows = _valid_rows()
    if defect == "truncated":
        rows[-1] = " ".join(["0.5"] * 149)
    elif defect == "joints":
        rows = [" ".join(["0.5"] * 120) for _ in rows]
    else:
        rows[3] = rows[3].replace("0.5", {"text": "x1", "nan": "nan", "inf": "-inf"}[defect], 1)
    return rows


@pytest.mark.parametrize(
    ("defect", "line", "fragment"),
    [
        ("truncated", 10, "found 149 values; expected 150 numbers"),
        ("joints", 1, "found 120 values; expected 150"),
        ("text", 4, "non-numeric value 'x1'"),
        ("nan", 4, "NaN or infinite value"),
        ("inf", 4, "NaN or infinite"),
    ],
)
def test_malformed_skeleton_file_names_file_and_line(tmp_path, defect, line, fragment):
    path = _dataset(tmp_path, skeleton=_bad_skeleton(defect))
    with pytest.raises(DataFormatError) as err:
        list(get_reader("pku_mmd", tmp_path).samples())
    msg = str(err.value)
    assert msg.startswith(f"{path}:{line}: {fragment}") and "expected" in msg and "\n" not in msg


@pytest.mark.parametrize(
    ("labels", "line", "fragment"),
    [
        ("3,0,4,2\n3,0,11,2\n", 2, "frames [0, 11) lie outside the 10 frames of 0001-M.txt; expected 0 <= start"),
        ("3,-1,4,2\n", 1, "frames [-1, 4) lie outside"),
        ("52,0,4,2\n", 1, "action label 52; expected 1..51"),
        ("0,0,4,2\n", 1, "action label 0"),
        ("3,0,4\n", 1, "found 3 values; expected 4 integers"),
        ("3,0,4.5,2\n", 1, "non-integer value"),
        ("3,a,4,2\n", 1, "non-numeric value 'a'"),
    ],
)
def test_malformed_label_file_names_file_and_line(tmp_path, labels, line, fragment):
    _dataset(tmp_path, skeleton=_valid_rows(), labels=labels)
    with pytest.raises(DataFormatError) as err:
        list(get_reader("pku_mmd", tmp_path).samples())
    assert str(err.value).startswith(f"{tmp_path / 'labels' / '0001-M.txt'}:{line}: {fragment}")


def test_empty_skeleton_file_is_an_error(tmp_path):
    path = _dataset(tmp_path, skeleton=[])
    with pytest.raises(DataFormatError, match=rf"^{re.escape(str(path))}: file is empty; expected"):
        list(get_reader("pku_mmd", tmp_path).samples())


def test_folder_without_pku_files_is_an_error(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here\n")
    with pytest.raises(SkelrecError, match=rf"^{re.escape(str(tmp_path))}: holds no PKU-MMD skeleton folder"):
        get_reader("pku_mmd", tmp_path)
    (tmp_path / "skeletons").mkdir()
    with pytest.raises(SkelrecError, match=r"skeletons: holds no PKU-MMD skeleton files; expected NNNN-V\.txt"):
        get_reader("pku_mmd", tmp_path).files()


def test_two_label_folders_are_ambiguous(tmp_path):
    _dataset(tmp_path)
    (tmp_path / "other" / "Train_Label_PKU_final").mkdir(parents=True)
    with pytest.raises(SkelrecError, match=r"several PKU-MMD folders named like .*pass label_dir"):
        get_reader("pku_mmd", tmp_path)
    reader = get_reader("pku_mmd", tmp_path, label_dir=tmp_path / "labels")
    assert len(list(reader.samples())) == 2


# ----------------------------------------------------------------------------------------------------------------
# Instances per class and per split on the real streams, counted here from the label and split files.
# ----------------------------------------------------------------------------------------------------------------


def _official_list(path: Path, line: int) -> set[str]:
    return {v.strip() for v in path.read_text().splitlines()[line].split(",") if v.strip()}


def _counted_by_hand(v1: Path) -> dict[str, Counter]:
    """``{"all" | "xsub train" | ... : Counter(label index)}`` from the label files of the streams present."""
    videos = [_video(p) for d in ("skeletons", "skeletons_xz") for p in (v1 / d).iterdir() if p.name[0].isdigit()]
    lists = {
        f"{p} {part}": _official_list(v1 / "splits" / name, line)
        for p, name in (("xsub", "cross-subject.txt"), ("xview", "cross-view.txt"))
        for part, line in (("train", 1), ("test", 3))
    }
    counts: dict[str, Counter] = {"all": Counter(), **{k: Counter() for k in lists}}
    for video in videos:
        for label, start, end, _ in _label_rows(v1 / "labels" / f"{video}.txt"):
            if end <= start:
                continue
            for key, members in [("all", videos), *lists.items()]:
                counts[key][label - 1] += video in members
    return counts


@pytest.fixture(scope="module")
def prepared(shared_data, tmp_path_factory):
    """``skelrec prepare pku_mmd --raw v1/`` through the CLI: its printed report and the cache folder."""
    out = tmp_path_factory.mktemp("pku") / "cache"
    cmd = ["prepare", "pku_mmd", "--raw", str(shared_data / "pku_mmd" / "v1"), "--out", str(out), "--workers", "2"]
    result = CliRunner().invoke(cli.app, cmd)
    assert result.exit_code == 0, result.output
    return result.output, out


@pytest.mark.slow
def test_prepare_reads_txt_and_xz_streams_and_reports_counts_per_split_and_class(prepared, shared_data):
    text, out = prepared
    counts = _counted_by_hand(shared_data / "pku_mmd" / "v1")
    assert {k: sum(c.values()) for k, c in counts.items()} == {
        "all": 1673,
        "xsub train": 1558,
        "xsub test": 115,
        "xview train": 1124,
        "xview test": 549,
    }
    # ~200 instances of each of the 8 interaction classes (labels 12 14 16 18 21 24 26 27), 1-4 of 28 others
    assert {k + 1 for k, n in counts["all"].items() if n > 100} == {12, 14, 16, 18, 21, 24, 26, 27}
    assert counts["all"][11] == 204 and len(counts["all"]) == 36
    info = json.loads((out / "info.json").read_text())
    assert info["files"] == 206 and info["samples"] == 1673
    assert info["label_counts"] == {str(k): n for k, n in counts["all"].items()}
    for key in ("xsub train", "xsub test", "xview train", "xview test"):
        protocol, part = key.split()
        assert info["class_counts"][protocol][part] == {str(k): n for k, n in counts[key].items() if n}
    assert "split     xsub: train 1,558, test 115" in text and "split     xview: train 1,124, test 549" in text
    row = next(line for line in text.splitlines() if "handshaking" in line).split()
    assert row[:3] == ["13", "handshaking", f"{counts['all'][13]:,}"]
    assert row[3:] == [f"{counts[f'{p} train'][13]:,}/{counts[f'{p} test'][13]:,}" for p in ("xsub", "xview")]


@pytest.mark.slow
def test_prepared_clips_are_the_label_ranges_of_both_bodies(prepared, shared_data):
    _, out = prepared
    ds = PreparedDataset(out)
    meta = [json.loads(line) for line in (out / "meta.jsonl").read_text().splitlines()]
    i = next(k for k, m in enumerate(meta) if m["video"] == "0005-L")  # an xz stream
    rows = _text(shared_data / "pku_mmd" / "v1" / "skeletons_xz" / "0005-L.txt.xz").splitlines()
    start, end = meta[i]["start"], meta[i]["end"]
    want = np.array([r.split() for r in rows[start:end]], np.float32).reshape(end - start, 2, 25, 3)
    np.testing.assert_array_equal(ds[i].data.transpose(1, 0, 2, 3), want)
    assert ds.info["layout"] == "ntu25" and ds.info["persons"] == 2


# ----------------------------------------------------------------------------------------------------------------
# xz-compressed streams (synthetic).
# ----------------------------------------------------------------------------------------------------------------


def test_xz_stream_reads_identically_to_its_text(tmp_path):
    path = _dataset(tmp_path)
    plain = list(get_reader("pku_mmd", tmp_path).samples())
    (tmp_path / "skeletons_xz").mkdir()
    (tmp_path / "skeletons_xz" / "0001-M.txt.xz").write_bytes(lzma.compress(path.read_bytes()))
    path.unlink()
    reader = get_reader("pku_mmd", tmp_path)
    packed = list(reader.samples())
    assert reader.skeleton_dirs == (tmp_path / "skeletons", tmp_path / "skeletons_xz")
    assert [s.name for s in packed] == [s.name for s in plain] == ["0001-M_0-4", "0001-M_4-10"]
    for a, b in zip(plain, packed, strict=True):
        np.testing.assert_array_equal(a.data, b.data)
        assert (a.label, a.meta["view"]) == (b.label, b.meta["view"])
    whole = reader.read_sequence(tmp_path / "skeletons_xz" / "0001-M.txt.xz")
    assert whole.name == "0001-M" and whole.data.shape == (2, _FRAMES, 25, 3) and whole.label is None


def test_a_video_present_as_txt_and_xz_is_an_error(tmp_path):
    path = _dataset(tmp_path)
    path.with_name(path.name + ".xz").write_bytes(lzma.compress(path.read_bytes()))
    with pytest.raises(SkelrecError, match=r"video 0001-M is in two skeleton files, .*0001-M\.txt and .*\.txt\.xz"):
        get_reader("pku_mmd", tmp_path).files()


@pytest.mark.parametrize(
    ("defect", "fragment"),
    [
        ("truncated", "broken xz data (Compressed file ended before the end-of-stream marker was reached)"),
        ("garbage", "broken xz data (Input format not supported by decoder)"),
        ("short-line", ":10: found 149 values; expected 150 numbers"),
    ],
)
def test_malformed_xz_stream_is_a_one_line_error_naming_the_file(tmp_path, defect, fragment):
    rows = _bad_skeleton("truncated") if defect == "short-line" else _valid_rows()
    data = lzma.compress(("\n".join(rows) + "\n").encode())
    data = {"truncated": data[: len(data) // 2], "garbage": b"not xz at all", "short-line": data}[defect]
    path = _dataset(tmp_path, skeleton=rows)
    path.unlink()
    xz = path.with_name("0001-M.txt.xz")
    xz.write_bytes(data)
    with pytest.raises(DataFormatError) as err:
        list(get_reader("pku_mmd", tmp_path).samples())
    assert str(err.value).startswith(str(xz)) and fragment in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_reading_a_stream_holds_one_block_of_text_not_the_whole_file(tmp_path):
    """Peak memory while parsing stays near the (T, 150) result: the text is streamed in blocks, not read whole."""
    frames = 6000
    rng = np.random.default_rng(0)
    rows = [" ".join(f"{v:.6f}" for v in rng.uniform(-1, 3, 150)) for _ in range(frames)]
    path = _dataset(tmp_path, skeleton=rows, labels="3,0,4,2\n")
    xz = path.with_name("0001-M.txt.xz")
    xz.write_bytes(lzma.compress(path.read_bytes()))
    path.unlink()
    text_bytes = sum(len(r) + 1 for r in rows)
    reader = get_reader("pku_mmd", tmp_path, unlabelled=True)
    tracemalloc.start()
    try:
        sample = reader.read_sequence(xz)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    result = frames * 150 * 8  # the float64 table; the float32 sample is half of it
    assert sample.data.shape == (2, frames, 25, 3)
    assert peak < 3 * result < 3 * text_bytes, (peak, result, text_bytes)  # reading the text whole: > 8x


# ----------------------------------------------------------------------------------------------------------------
# pku_mmd_streams: sliding crops over training-list streams for pretraining.
# ----------------------------------------------------------------------------------------------------------------


def test_stream_crops_cover_training_streams_only(tmp_path):
    rows = [" ".join([f"{t + 1}"] * 150) for t in range(_FRAMES)]
    path = _dataset(tmp_path, skeleton=rows)
    (tmp_path / "skeletons" / "0002-L.txt.xz").write_bytes(lzma.compress(path.read_bytes()))  # validation list
    _split_files(tmp_path, train="0001-M", test="0002-L")
    reader = get_reader("pku_mmd_streams", tmp_path, crop_frames=4, crop_stride=3)
    assert [f.name for f in reader.files()] == ["0001-M.txt"]
    crops = reader.read(path)
    assert [(c.meta["start"], c.meta["end"]) for c in crops] == [(0, 4), (3, 7), (6, 10)]  # the last ends at 10
    assert all(c.label is None and c.data.shape == (2, 4, 25, 3) for c in crops)
    np.testing.assert_array_equal(crops[1].data[0, :, 0, 0], [4, 5, 6, 7])
    with pytest.raises(SkelrecError, match="0002-L is not on the xsub training list"):
        reader.read(tmp_path / "skeletons" / "0002-L.txt.xz")
    assert not PkuMmdStreamReader.detect(path) and PkuMmdReader.detect(path)


def test_stream_fraction_keeps_a_seeded_nested_part_of_the_streams(tmp_path):
    rows = [" ".join(["1"] * 150) for _ in range(_FRAMES)]
    path = _dataset(tmp_path, skeleton=rows)
    videos = [f"{n:04d}-M" for n in range(1, 9)]
    for video in videos[1:]:
        (tmp_path / "skeletons" / f"{video}.txt").write_bytes(path.read_bytes())
    _split_files(tmp_path, train=",".join(videos), test="0100-L")

    def kept(fraction: float, seed: int = 0) -> list[str]:
        return [
            pku_video(f)
            for f in get_reader("pku_mmd_streams", tmp_path, stream_fraction=fraction, stream_seed=seed).files()
        ]

    quarter, half, whole = kept(0.25), kept(0.5), kept(1.0)
    assert whole == videos and len(quarter) == 2 and len(half) == 4
    assert set(quarter) <= set(half) and quarter == sorted(quarter)  # nested, in video order
    assert kept(0.25) == quarter and kept(0.25, seed=1) != quarter  # seeded
    with pytest.raises(SkelrecError, match=r"stream_fraction 0\.01 of 8 streams keeps none"):
        kept(0.01)
    with pytest.raises(SkelrecError, match=r"stream_fraction must be in \(0, 1\]"):
        kept(0.0)


@pytest.mark.parametrize(
    ("method", "encoder"),
    [
        ("mamp", "transformer"),
        ("macdiff", "transformer"),
        ("skeleton2vec", "transformer"),
        ("halp", "bigru"),
        ("skeletonmae", "gin"),
    ],
)
def test_pku_cpu_pretraining_configs_point_at_the_streams_cache(method, encoder):
    from skelrec.config import load_config

    cfg = load_config(Path(__file__).parent.parent / "pretrain" / "configs" / method / "pku_cpu.yaml", [])
    assert cfg.data.paths == ["caches/pku_mmd_streams"] and cfg.data.protocol is None
    assert (cfg.data.layout, cfg.data.persons) == ("ntu25", 2)
    assert (cfg.method.name, cfg.encoder.name, cfg.run.out_dir) == (method, encoder, f"runs/ssl_pku/{method}")
