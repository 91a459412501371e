"""`skelrec inspect`: format detection, what a file or cache holds, and clear errors (synthetic + real files)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import scipy.io
from test_prepare import ToyReader, make_toy_dataset, write_toy_file

from skelrec.datasets.base import DATASETS
from skelrec.datasets.inspect import inspect_file
from skelrec.datasets.prepare import prepare_dataset
from skelrec.errors import DataFormatError, SkelrecError


@pytest.fixture
def toy_registered(monkeypatch) -> None:
    monkeypatch.setitem(DATASETS, ToyReader.name, ToyReader)


def test_single_sample_file(tmp_path, toy_registered):
    write_toy_file(tmp_path / "one.toy", label=2, subject=3, persons=2, frames=7)
    info = inspect_file(tmp_path / "one.toy")
    assert info["format"] == "toy" and info["layout"] == "kinect20" and info["file"] == str(tmp_path / "one.toy")
    assert (info["frames"], info["persons"], info["joints"], info["channels"]) == (7, 2, 20, 3)
    assert (info["name"], info["label"], info["label_name"]) == ("one", 2, "kick")
    assert info["meta"] == {"subject": 3, "clip": 0} and "also" not in info
    json.dumps(info)  # JSON-ready for `inspect --json`


def test_file_with_several_clips(tmp_path, toy_registered):
    write_toy_file(tmp_path / "seq.toy", label=1, subject=1, persons=1, frames=9, clips=3)
    info = inspect_file(tmp_path / "seq.toy")
    assert (info["samples"], info["labelled_clips"], info["frames"], info["clip_frames"]) == (3, 3, 9, "3-3")
    assert info["classes"] == ["clap"] and info["joints"] == 20


@pytest.fixture
def strict_reader_first(toy_registered) -> Iterator[None]:
    """A second reader of ``*.toy`` files, registered before ``toy``, that rejects files with label 2."""

    class StrictToy(ToyReader):
        name = "toy_strict"

        def read(self, path):
            samples = super().read(path)
            if samples[0].label == 2:
                raise DataFormatError(path, "label 2", expected="labels 0-1", line=1)
            return samples

    saved = dict(DATASETS)
    DATASETS.clear()
    DATASETS.update({"toy_strict": StrictToy, **saved})
    yield
    DATASETS.clear()
    DATASETS.update(saved)


def test_the_first_reader_that_reads_the_file_wins(tmp_path, strict_reader_first):
    write_toy_file(tmp_path / "a.toy", label=1, subject=1, persons=1, frames=3)
    write_toy_file(tmp_path / "b.toy", label=2, subject=1, persons=1, frames=3)
    a, b = inspect_file(tmp_path / "a.toy"), inspect_file(tmp_path / "b.toy")
    assert (a["format"], a["also"]) == ("toy_strict", ["toy"])
    assert (b["format"], b["also"]) == ("toy", ["toy_strict"])


def test_a_broken_file_raises_the_readers_error(tmp_path, toy_registered):
    (tmp_path / "bad.toy").write_text("0 1 1 1\n" + "0.1 " * 60 + "\n" + "0.1 " * 30 + "\n")
    with pytest.raises(DataFormatError, match=r"bad.toy:3: found 30 values; expected 60 coordinates"):
        inspect_file(tmp_path / "bad.toy")


def test_unknown_file_and_missing_path(tmp_path, toy_registered):
    (tmp_path / "notes.md").write_text("# hi")
    with pytest.raises(SkelrecError, match=r"notes.md: not a skeleton file .*toy \(\*\.toy\).*utd_mhad") as err:
        inspect_file(tmp_path / "notes.md")
    assert "\n" not in str(err.value)
    with pytest.raises(SkelrecError, match="no such file or directory"):
        inspect_file(tmp_path / "missing.toy")


def test_cache_folder(tmp_path, toy_registered):
    raw = make_toy_dataset(tmp_path / "raw")
    prepare_dataset("toy", raw, tmp_path / "cache", workers=1)
    info = inspect_file(tmp_path / "cache")
    assert info["format"] == "skelrec cache (format 1)" and info["dataset"] == "toy"
    assert (info["samples"], info["persons"], info["joints"], info["layout"]) == (14, 2, 20, "kinect20")
    assert info["labelled"] == 13 and info["classes"] == 3 and list(info["splits"]) == ["xsub"]
    with pytest.raises(SkelrecError, match="a folder, but not a prepared cache"):
        inspect_file(raw)
    (tmp_path / "cache" / "info.json").unlink()
    with pytest.raises(SkelrecError, match="incomplete prepared cache"):
        inspect_file(tmp_path / "cache")


# -------------------------------------------------------------------------------------------------------------
# A real file of every format (../shared/data).
# -------------------------------------------------------------------------------------------------------------


def _lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if ln.strip()]


def _expect_ntu(d: Path) -> tuple[Path, dict]:
    return d / "ntu_rgbd60_S001C001P001R001/S001C001P001R001A050.skeleton", {
        "format": "ntu60",
        "also": ["ntu120"],
        "layout": "ntu25",
        "joints": 25,
        "persons": 2,
        "frames": int(_lines(d / "ntu_rgbd60_S001C001P001R001/S001C001P001R001A050.skeleton")[0]),
        "label": 49,
        "label_name": "punching/slapping other person",
    }


def _expect_utd(d: Path) -> tuple[Path, dict]:
    path = d / "utd_mhad/Skeleton/a27_s8_t3_skeleton.mat"
    frames = scipy.io.loadmat(str(path))["d_skel"].shape[2]
    return path, {"format": "utd_mhad", "layout": "utd_mhad20", "joints": 20, "frames": frames, "label": 26}


def _expect_ucla(d: Path) -> tuple[Path, dict]:
    path = d / "nw_ucla/all_sqe/a12_s10_e04_v02.json"
    frames = len(json.loads(path.read_text())["skeletons"])
    return path, {"format": "nw_ucla", "layout": "kinect20", "joints": 20, "frames": frames, "label_name": "carry"}


def _expect_msr(d: Path) -> tuple[Path, dict]:
    path = d / "msr_action3d/real_world_coordinates/a20_s10_e03_skeleton3D.txt"
    return path, {"format": "msr_action3d", "layout": "msr_action3d20", "frames": len(_lines(path)) // 20, "label": 19}


def _expect_msrc12(d: Path) -> tuple[Path, dict]:
    path = d / "msrc12_sample/P1_1_1_p22.csv"
    return path, {"format": "msrc12", "layout": "kinect20", "joints": 20, "label_name": "lift outstretched arms"}


def _expect_msr_daily(d: Path) -> tuple[Path, dict]:
    path = d / "msr_daily_activity3d_sample/a03_s01_e01_skeleton.txt"
    return path, {"format": "msr_daily", "layout": "kinect20", "frames": int(_lines(path)[0].split()[0])}


def _expect_pku(d: Path) -> tuple[Path, dict]:
    labels = [ln.split(",") for ln in _lines(d / "pku_mmd/v1/labels/0036-L.txt")]
    return d / "pku_mmd/v1/skeletons/0036-L.txt", {
        "format": "pku_mmd",
        "layout": "ntu25",
        "joints": 25,
        "persons": 2,
        "samples": len(labels),
        "labelled_clips": len(labels),
        "frames": sum(int(e) - int(s) for _, s, e, _ in labels),
    }


def _expect_pku_unlabelled(d: Path) -> tuple[Path, dict]:
    return d / "pku_mmd/v2_sample/A10N08-L.txt", {"format": "pku_mmd", "samples": 0, "left_out": {"unlabelled": 1}}


REAL = {
    "ntu60": _expect_ntu,
    "utd_mhad": _expect_utd,
    "nw_ucla": _expect_ucla,
    "msr_action3d": _expect_msr,
    "msrc12": _expect_msrc12,
    "msr_daily": _expect_msr_daily,
    "pku_mmd": _expect_pku,
    "pku_mmd-unlabelled": _expect_pku_unlabelled,
}


@pytest.mark.shared_data
@pytest.mark.parametrize("case", list(REAL))
def test_inspect_a_real_file_of_each_format(case, shared_data):
    import skelrec.datasets  # noqa: F401  (registers the readers)

    if case.split("-")[0] not in DATASETS:
        pytest.skip(f"reader {case} is not registered")
    path, expected = REAL[case](shared_data)
    info = inspect_file(path)
    assert {k: info.get(k) for k in expected} == expected
    for key in ("format", "frames", "persons", "joints", "layout"):
        assert key in info
    json.dumps(info)
    if info.get("samples", 1) and "label" in expected:
        assert isinstance(info["meta"], dict) and info["meta"]
