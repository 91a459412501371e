"""`skelrec prepare` and the prepared cache, on a synthetic dataset (plus a real one from ../shared/data).

The synthetic format ``toy`` (defined here, registered only inside the tests) is a text file::

    label subject persons clips          <- label -1 = unlabelled; clips > 1 cuts the sequence into that many samples
    x y z x y z ...                       <- one line per frame: persons x 20 joints x 3 floats (layout kinect20)
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io

from skelrec.datasets.base import DATASETS, DatasetReader, Sample, get_reader, parse_floats, read_text_lines
from skelrec.datasets.cache import PreparedDataset
from skelrec.datasets.prepare import prepare_dataset
from skelrec.errors import DataFormatError, SkelrecError

ROOT = Path(__file__).resolve().parent.parent
TOY_CLASSES = ("wave", "clap", "kick")
TOY_FILES = 12


class ToyReader(DatasetReader):
    """The synthetic format of this module's docstring. Sleeps ``$SKELREC_TOY_DELAY`` seconds per file; the process
    dies on the file named ``$SKELREC_TOY_CRASH`` (a worker killed when out of memory)."""

    name = "toy"
    layout = "kinect20"
    classes = TOY_CLASSES
    protocols = ("xsub", "xview")  # xview needs a "view" the toy data lacks: prepare must skip it with a note
    fps = 30.0
    persons = 2
    expected_samples = 14
    file_glob = "*.toy"

    def read(self, path: Path) -> list[Sample]:
        time.sleep(float(os.environ.get("SKELREC_TOY_DELAY", "0")))
        if path.name == os.environ.get("SKELREC_TOY_CRASH"):
            os._exit(9)
        lines = read_text_lines(path)
        label, subject, persons, clips = (int(v) for v in parse_floats(path, 1, lines[0], 4, "header values"))
        width = persons * 20 * 3
        rows = [parse_floats(path, n, text, width, "coordinates") for n, text in enumerate(lines[1:], start=2)]
        data = np.stack(rows).reshape(len(rows), persons, 20, 3).transpose(1, 0, 2, 3)  # (M, T, V, C)
        return [
            Sample(
                data=part,
                layout=self.layout,
                name=path.stem if clips == 1 else f"{path.stem}_c{k}",
                dataset=self.name,
                label=None if label < 0 else label,
                label_name=None if label < 0 else TOY_CLASSES[label],
                fps=self.fps,
                meta={"subject": subject, "clip": k},
            )
            for k, part in enumerate(np.array_split(data, clips, axis=1))
        ]

    def split(self, protocol: str, meta: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        self._check_protocol(protocol)
        key = {"xsub": "subject", "xview": "view"}[protocol]
        values = np.array([m[key] for m in meta])  # KeyError for xview: the data cannot answer it
        return {"train": np.flatnonzero(values % 2 == 1), "test": np.flatnonzero(values % 2 == 0)}


def register_toy() -> None:
    """Register the toy reader (also called by the subprocesses of the tests)."""
    DATASETS[ToyReader.name] = ToyReader


@pytest.fixture
def toy_registered(monkeypatch) -> None:
    monkeypatch.setitem(DATASETS, ToyReader.name, ToyReader)


def write_toy_file(path: Path, label: int, subject: int, persons: int, frames: int, clips: int = 1, seed: int = 0):
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(frames, persons * 60)).round(4)
    lines = [f"{label} {subject} {persons} {clips}", *(" ".join(map(str, row)) for row in data)]
    path.write_text("\n".join(lines) + "\n")


def make_toy_dataset(root: Path, n_files: int = TOY_FILES) -> Path:
    """``n_files`` files in two sub-folders; two persons in every third file, two clips in files 0 and 5 (so the
    default 12 files give 14 samples), file 7 unlabelled."""
    for i in range(n_files):
        folder = root / f"part{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        label = -1 if i == 7 else i % 3
        clips = 2 if i in (0, 5) else 1
        write_toy_file(folder / f"f{i:03d}.toy", label, 1 + i % 4, 1 + (i % 3 == 0), 4 + i % 5, clips, seed=i)
    return root


CACHE_FILES = ("frames.npy", "index.npy", "labels.npy", "meta.jsonl", "info.json")


def assert_same_cache(a: Path, b: Path) -> None:
    for name in CACHE_FILES[:-1]:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert sorted(p.name for p in (a / "splits").iterdir()) == sorted(p.name for p in (b / "splits").iterdir())
    for p in (a / "splits").iterdir():
        assert p.read_text() == (b / "splits" / p.name).read_text()
    ia, ib = (json.loads((d / "info.json").read_text()) for d in (a, b))
    for volatile in ("created", "seconds", "raw"):
        ia.pop(volatile), ib.pop(volatile)
    assert ia == ib


# -------------------------------------------------------------------------------------------------------------
# Writing the cache.
# -------------------------------------------------------------------------------------------------------------


def test_prepare_writes_a_cache_equal_to_the_reader_output(tmp_path, toy_registered):
    raw = make_toy_dataset(tmp_path / "raw")
    report = prepare_dataset("toy", raw, tmp_path / "cache", workers=1, chunk_files=5)
    out = tmp_path / "cache"
    assert sorted(p.name for p in out.iterdir()) == sorted([*CACHE_FILES, "splits"])  # no shards or tmp files left

    reader = get_reader("toy", raw)
    expected = [s for f in reader.files() for s in reader.read(f)]
    assert report.samples == len(expected) == 14
    frames = np.load(out / "frames.npy", mmap_mode="r")
    index, labels = np.load(out / "index.npy"), np.load(out / "labels.npy")
    assert frames.dtype == np.float32 and frames.shape == (sum(s.frames for s in expected), 2, 20, 3)
    assert index.dtype == labels.dtype == np.int64 and index.shape == (14, 2)
    assert labels.tolist() == [-1 if s.label is None else s.label for s in expected]
    assert (index[1:, 0] == np.cumsum(index[:, 1])[:-1]).all()
    rows = [json.loads(line) for line in (out / "meta.jsonl").read_text().splitlines()]
    assert rows[0] == {"name": "f000_c0", "label": 0, "label_name": "wave", "fps": 30.0, "subject": 1, "clip": 0}

    ds = PreparedDataset(out)
    assert len(ds) == 14 and ds.classes == list(TOY_CLASSES) and ds.layout == "kinect20"
    for i, want in enumerate(expected):
        got = ds[i]
        assert (got.name, got.label, got.label_name, got.meta) == (want.name, want.label, want.label_name, want.meta)
        assert got.data.shape == (2, want.frames, 20, 3)  # persons padded to the cache's M with zeros
        np.testing.assert_array_equal(got.data[: want.persons], want.data)
        assert not got.data[want.persons :].any()

    info = json.loads((out / "info.json").read_text())
    assert info["samples"] == 14 and info["files"] == 12 and info["labelled"] == 13
    assert (info["persons"], info["joints"], info["channels"], info["layout"]) == (2, 20, 3, "kinect20")
    assert info["expected_samples"] == 14 and info["skipped_files"] == []
    assert "xview" in info["skipped_protocols"] and "xview" in report.describe()
    xsub = json.loads((out / "splits" / "xsub.json").read_text())
    subjects = [r["subject"] for r in rows]
    assert xsub["train"] == [i for i, s in enumerate(subjects) if s % 2]
    assert sorted(xsub["train"] + xsub["test"]) == list(range(14))
    assert info["protocols"] == {"xsub": {"train": len(xsub["train"]), "test": len(xsub["test"])}}
    assert "warning" not in report.describe()


def test_parallel_workers_give_the_same_cache(tmp_path, toy_registered):
    raw = make_toy_dataset(tmp_path / "raw")
    prepare_dataset("toy", raw, tmp_path / "one", workers=1, chunk_files=4)
    prepare_dataset("toy", raw, tmp_path / "two", workers=2, chunk_files=4)
    assert_same_cache(tmp_path / "one", tmp_path / "two")


def test_report_counts_and_warns_about_the_expected_count(tmp_path, toy_registered):
    raw = make_toy_dataset(tmp_path / "raw", n_files=6)  # a subset: 8 samples of the 14 the reader expects
    text = prepare_dataset("toy", raw, tmp_path / "c", workers=1).describe()
    assert "samples   8 from 6 files" in text
    assert "split     xsub: train" in text and "3 of 3 present" in text and "skipped   0 bad files" in text
    assert "warning: the complete toy dataset gives 14 samples, this cache has 8" in text


def test_rerun_on_a_complete_cache_reads_nothing_unless_forced(tmp_path, toy_registered):
    raw = make_toy_dataset(tmp_path / "raw")
    prepare_dataset("toy", raw, tmp_path / "c", workers=1)
    before = (tmp_path / "c" / "info.json").read_text()

    def fail(self, path):
        raise AssertionError("a complete cache must not be read again")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ToyReader, "read", fail)
        report = prepare_dataset("toy", raw, tmp_path / "c", workers=1)
    assert report.already_complete and report.samples == 14 and "already complete" in report.describe()
    assert (tmp_path / "c" / "info.json").read_text() == before
    forced = prepare_dataset("toy", raw, tmp_path / "c", workers=1, force=True)
    assert not forced.already_complete and "rebuilt (--force)" in forced.describe()


def test_changed_options_rebuild_and_another_dataset_is_refused(tmp_path, toy_registered, monkeypatch):
    raw = make_toy_dataset(tmp_path / "raw")
    prepare_dataset("toy", raw, tmp_path / "c", workers=1)
    again = prepare_dataset("toy", raw, tmp_path / "c", workers=1, skip_bad=True)
    assert not again.already_complete and "rebuilt: the old cache was prepared with options" in again.describe()

    class OtherReader(ToyReader):
        name = "toy_other"

    monkeypatch.setitem(DATASETS, "toy_other", OtherReader)
    with pytest.raises(SkelrecError, match="holds a prepared toy cache, not toy_other; choose another --out"):
        prepare_dataset("toy_other", raw, tmp_path / "c", workers=1)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_bad_file_stops_the_run_with_its_one_line_error(tmp_path, toy_registered, workers):
    raw = make_toy_dataset(tmp_path / "raw")
    bad = raw / "part1" / "f003.toy"
    lines = bad.read_text().splitlines()
    tokens = lines[2].split()
    tokens[5] = "abc"
    lines[2] = " ".join(tokens)
    bad.write_text("\n".join(lines))
    with pytest.raises(DataFormatError) as err:
        prepare_dataset("toy", raw, tmp_path / "c", workers=workers, chunk_files=4)
    assert str(err.value).startswith(f"{bad}:3: non-numeric value 'abc'") and "\n" not in str(err.value)
    assert not (tmp_path / "c" / "info.json").exists()


def test_skip_bad_lists_skipped_files_in_info_and_report(tmp_path, toy_registered):
    raw = make_toy_dataset(tmp_path / "raw")
    (raw / "part1" / "f003.toy").write_text("")  # empty
    (raw / "part0" / "f004.toy").write_text("1 1 1 1\n" + "0.5 " * 59 + "\n")  # one coordinate short
    report = prepare_dataset("toy", raw, tmp_path / "c", workers=2, chunk_files=4, skip_bad=True)
    skipped = report.skipped_files
    assert [s["file"] for s in skipped] == ["part0/f004.toy", "part1/f003.toy"]
    assert "found 59 values; expected 60 coordinates" in skipped[0]["reason"]
    assert "file is empty" in skipped[1]["reason"]
    assert json.loads((tmp_path / "c" / "info.json").read_text())["skipped_files"] == skipped
    text = report.describe()
    assert "skipped   2 bad files" in text and "part1/f003.toy: " in text
    assert report.samples == 12 and len(PreparedDataset(tmp_path / "c")) == 12


def test_a_folder_without_the_dataset_files_is_one_clear_error(tmp_path, toy_registered):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "notes.txt").write_text("hello")
    with pytest.raises(SkelrecError, match="holds no toy files"):
        prepare_dataset("toy", tmp_path / "raw", tmp_path / "c")
    assert not (tmp_path / "c").exists()
    with pytest.raises(SkelrecError, match="unknown dataset 'toyy'"):
        prepare_dataset("toyy", tmp_path / "raw", tmp_path / "c")


def test_out_folder_inside_the_raw_folder_is_not_read(tmp_path, toy_registered):
    raw = make_toy_dataset(tmp_path / "raw")
    (raw / "cache").mkdir()
    write_toy_file(raw / "cache" / "stray.toy", label=0, subject=1, persons=1, frames=3)
    assert prepare_dataset("toy", raw, raw / "cache", workers=1).samples == 14


def test_progress_bar_renders(tmp_path, toy_registered, capsys):
    raw = make_toy_dataset(tmp_path / "raw", n_files=3)
    prepare_dataset("toy", raw, tmp_path / "c", workers=1, progress=True)
    err = capsys.readouterr().err
    assert "prepare toy" in err and "3/3" in err and "samples" in err


# -------------------------------------------------------------------------------------------------------------
# Interruption and resuming.
# -------------------------------------------------------------------------------------------------------------

_CHILD = """
import signal, sys
# Ctrl-C as in a terminal, even when the tests run where SIGINT is ignored (a shell's background job passes SIG_IGN
# on, and Python then installs no KeyboardInterrupt handler)
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, {tests!r})
import test_prepare
test_prepare.register_toy()
import skelrec.datasets.prepare
skelrec.datasets.prepare.CHUNK_FILES = {chunk_files}
from skelrec.cli import main
sys.argv = ["skelrec", *{argv!r}]
main()
"""


def run_cli_with_toy(argv: list[str], chunk_files: int = 64, **kwargs) -> subprocess.Popen:
    """The real ``skelrec`` entry point, in a new process that also knows the toy reader."""
    code = _CHILD.format(tests=str(ROOT / "tests"), argv=argv, chunk_files=chunk_files)
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, text=True, **kwargs)


def _wait_for_shards(shards: Path, proc: subprocess.Popen, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(list(shards.glob("shard-*.npz"))) < count:
        assert proc.poll() is None, "prepare finished before it could be interrupted"
        assert time.monotonic() < deadline, "no shard was written in time"
        time.sleep(0.02)


def _prepare_slowly(raw: Path, out: Path) -> subprocess.Popen:
    return run_cli_with_toy(
        ["prepare", "toy", "--raw", str(raw), "--out", str(out), "--workers", "2"],
        chunk_files=4,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "SKELREC_TOY_DELAY": "0.15"},
    )


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "Ctrl-C"])
def test_resume_after_interruption_equals_an_uninterrupted_run(tmp_path, toy_registered, monkeypatch, sig):
    raw = make_toy_dataset(tmp_path / "raw", n_files=40)
    proc = _prepare_slowly(raw, tmp_path / "killed")
    _wait_for_shards(tmp_path / "killed" / "shards", proc, count=2)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert stderr.strip() == "interrupted: finished shards are kept; run the same command again to resume"
    assert not (tmp_path / "killed" / "info.json").exists()
    with pytest.raises(SkelrecError, match=r"incomplete prepared cache .* run `skelrec prepare toy --raw .* again"):
        PreparedDataset(tmp_path / "killed")
    done = sorted(p.name for p in (tmp_path / "killed" / "shards").glob("shard-*.npz"))
    assert 2 <= len(done) < 10

    reads: list[str] = []
    original = ToyReader.read
    monkeypatch.setattr(ToyReader, "read", lambda self, path: reads.append(path.name) or original(self, path))
    resumed = prepare_dataset("toy", raw, tmp_path / "killed", workers=1, chunk_files=4)
    assert resumed.reused_shards == len(done) and len(reads) == 40 - 4 * len(done)
    prepare_dataset("toy", raw, tmp_path / "clean", workers=1, chunk_files=4)
    assert_same_cache(tmp_path / "killed", tmp_path / "clean")


def test_a_dead_worker_is_an_error_not_a_hang(tmp_path, toy_registered, monkeypatch):
    raw = make_toy_dataset(tmp_path / "raw")
    monkeypatch.setenv("SKELREC_TOY_CRASH", "f010.toy")  # the worker reading it dies
    with pytest.raises(SkelrecError, match="a reader process died"):
        prepare_dataset("toy", raw, tmp_path / "c", workers=2, chunk_files=4)
    monkeypatch.delenv("SKELREC_TOY_CRASH")
    assert prepare_dataset("toy", raw, tmp_path / "c", workers=1, chunk_files=4).samples == 14


def test_interruption_while_consolidating_leaves_no_complete_cache(tmp_path, toy_registered):
    raw = make_toy_dataset(tmp_path / "raw")

    def interrupted(*args):
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr("skelrec.datasets.prepare._split_protocols", interrupted)  # after frames.npy is written
        prepare_dataset("toy", raw, tmp_path / "c", workers=1, chunk_files=5)
    assert (tmp_path / "c" / "frames.npy").exists() and not (tmp_path / "c" / "info.json").exists()
    with pytest.raises(SkelrecError, match="incomplete prepared cache"):
        PreparedDataset(tmp_path / "c")
    report = prepare_dataset("toy", raw, tmp_path / "c", workers=1, chunk_files=5)
    assert report.reused_shards == 3 and len(PreparedDataset(tmp_path / "c")) == 14


# -------------------------------------------------------------------------------------------------------------
# PreparedDataset.
# -------------------------------------------------------------------------------------------------------------


@pytest.fixture
def toy_cache(tmp_path, toy_registered) -> Path:
    raw = make_toy_dataset(tmp_path / "raw")
    prepare_dataset("toy", raw, tmp_path / "cache", workers=1)
    return tmp_path / "cache"


def test_prepared_dataset_splits_subsets_and_metadata(toy_cache):
    full = PreparedDataset(toy_cache)
    train = PreparedDataset(toy_cache, protocol="xsub", part="train")
    test = PreparedDataset(toy_cache, protocol="xsub", part="test")
    assert len(train) + len(test) == len(full) == 14
    assert all(train.meta(i)["subject"] % 2 == 1 for i in range(len(train)))
    assert all(test.meta(i)["subject"] % 2 == 0 for i in range(len(test)))
    np.testing.assert_array_equal(train.labels, full.labels[train.indices])
    np.testing.assert_array_equal(train[-1].data, full[int(train.indices[-1])].data)

    sub = train.subset([2, 0])
    assert len(sub) == 2 and sub.name(0) == train.name(2) and sub[1].name == train[0].name
    assert sub.lengths.tolist() == [train[2].frames, train[0].frames]
    mask = full.labels == 1
    assert full.subset(mask).labels.tolist() == [1] * int(mask.sum())
    with pytest.raises(IndexError):
        full[14]
    with pytest.raises(SkelrecError, match="indices must be"):
        full.subset([99])


def test_prepared_dataset_does_not_load_or_pickle_the_frames(toy_cache):
    ds = PreparedDataset(toy_cache)
    assert ds._frames is None  # opened lazily
    _ = ds[0]
    assert isinstance(ds.frames, np.memmap)
    clone = pickle.loads(pickle.dumps(ds.subset([3, 4])))
    assert clone._frames is None  # reopened on use, not pickled with its data
    np.testing.assert_array_equal(clone[0].data, ds[3].data)


def test_prepared_dataset_errors_name_the_fix(toy_cache, tmp_path):
    with pytest.raises(SkelrecError, match=r"no split 'xview' .*data cannot answer.*; this cache has: xsub"):
        PreparedDataset(toy_cache, protocol="xview", part="train")
    with pytest.raises(SkelrecError, match="pass both protocol and part"):
        PreparedDataset(toy_cache, protocol="xsub")
    with pytest.raises(SkelrecError, match="not a prepared cache"):
        PreparedDataset(tmp_path)
    info = json.loads((toy_cache / "info.json").read_text())
    (toy_cache / "info.json").write_text(json.dumps({**info, "format": 0, "skelrec_version": "0.0.1"}))
    with pytest.raises(SkelrecError, match=r"cache format 0 \(skelrec 0.0.1\) .*run `skelrec prepare toy --raw"):
        PreparedDataset(toy_cache)
    (toy_cache / "info.json").write_text(json.dumps({**info, "frames": info["frames"] + 1}))
    with pytest.raises(SkelrecError, match="damaged cache"):
        PreparedDataset(toy_cache)[0]


# -------------------------------------------------------------------------------------------------------------
# Real data.
# -------------------------------------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_prepare_utd_mhad(shared_data, tmp_path):
    """The real UTD-MHAD (861 .mat clips): counts, labels and the odd/even-subject split follow the file names."""
    import skelrec.datasets  # noqa: F401  (registers the readers)

    if "utd_mhad" not in DATASETS:
        pytest.skip("the utd_mhad reader is not registered yet")
    raw = shared_data / "utd_mhad" / "Skeleton"
    names = sorted(p.name for p in raw.glob("a*_s*_t*_skeleton.mat"))
    ids = np.array([[int(v) for v in re.findall(r"\d+", n)] for n in names])  # (N, 3) action, subject, trial
    report = prepare_dataset("utd_mhad", raw, tmp_path / "utd", workers=2)
    assert report.samples == len(names) == 861 and report.skipped_files == [] and "warning" not in report.describe()

    ds = PreparedDataset(tmp_path / "utd")
    assert (ds.layout, ds.info["joints"], ds.info["persons"], len(ds.classes)) == ("utd_mhad20", 20, 1, 27)
    np.testing.assert_array_equal(np.bincount(ds.labels, minlength=27), np.bincount(ids[:, 0] - 1, minlength=27))
    train = PreparedDataset(tmp_path / "utd", protocol="xsub", part="train")
    test = PreparedDataset(tmp_path / "utd", protocol="xsub", part="test")
    assert (len(train), len(test)) == (int((ids[:, 1] % 2 == 1).sum()), int((ids[:, 1] % 2 == 0).sum()))
    assert {train.meta(i)["subject"] % 2 for i in range(len(train))} == {1}

    k = int(np.flatnonzero(np.array([ds.name(i) for i in range(len(ds))]) == "a5_s3_t2")[0])
    d_skel = scipy.io.loadmat(str(raw / "a5_s3_t2_skeleton.mat"))["d_skel"]  # (20, 3, T)
    np.testing.assert_allclose(ds[k].data[0], d_skel.transpose(2, 0, 1), rtol=1e-6)
    assert ds[k].label == 4 and ds.lengths[k] == d_skel.shape[2]
