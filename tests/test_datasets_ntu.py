"""NTU RGB+D: .skeleton parsing, CTR-GCN/MAMP denoising and actor selection, readers, splits, preprocessed npz."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

from skelrec.datasets import get_reader
from skelrec.datasets.ntu import (
    BODY_INFO_FIELDS,
    JOINT_FIELDS,
    NTU60_CLASSES,
    NTU120_CLASSES,
    DenoiseConfig,
    load_npz_array,
    parse_ntu_name,
    parse_skeleton,
    read_name_list,
    select_actors,
)
from skelrec.errors import DataFormatError, SkelrecError

NTU_SAMPLES = "ntu_rgbd60_S001C001P001R001"
TWO_BODY_ACTIONS = set(range(24, 30)) | set(range(50, 61))  # DATA.md: A024-A029 and A050-A060 hold 2 bodies
MUTUAL_ACTIONS = range(50, 61)

# --------------------------------------------------------------------------------------------------------------
# Synthetic .skeleton files
# --------------------------------------------------------------------------------------------------------------

Frame = list[tuple[int, np.ndarray]]  # (body ID, (25, 3) xyz) per body in the frame


def person(x: float = 0.0, *, amplitude: float = 0.0, t: int = 0, lying: bool = False, size: float = 1.0) -> np.ndarray:
    """(25, 3) xyz of an upright (y spread 1.6 m, x spread 0.4 m) or lying (spreads swapped) body at ``x``."""
    rng = np.random.default_rng(t)
    spread = size * (np.array([1.6, 0.4, 0.2]) if lying else np.array([0.4, 1.6, 0.2]))
    joints = np.linspace(-0.5, 0.5, 25)[:, None] * spread + [x + amplitude * np.sin(t / 3), 0.0, 3.0]
    return joints + rng.normal(0, 0.002, (25, 3))


def write_skeleton(path: Path, frames: list[Frame], *, newline: str = "\n") -> Path:
    """A .skeleton file in the official format; the non-xyz joint fields are fixed numbers."""
    out = [str(len(frames))]
    for bodies in frames:
        out.append(str(len(bodies)))
        for body_id, xyz in bodies:
            out += [f"{body_id} 0 1 1 0 1 0 0.01 -0.02 2", "25"]
            out += [" ".join(f"{v:.7g}" for v in (*p, 270.5, 190.25, 1030, 520, 0.5, 0.5, -0.5, 0.5, 2)) for p in xyz]
    path.write_text(newline.join(out) + newline, newline="")
    return path


def track(body_id: int, frames: range, **kw) -> dict[int, tuple[int, np.ndarray]]:
    return {t: (body_id, person(t=t, **kw)) for t in frames}


def compose(num_frames: int, *tracks: dict[int, tuple[int, np.ndarray]]) -> list[Frame]:
    return [[tr[t] for tr in tracks if t in tr] for t in range(num_frames)]


@pytest.fixture
def ntu_dir(shared_data: Path) -> Path:
    return shared_data / NTU_SAMPLES


def ntu_file(ntu_dir: Path, action: int) -> Path:
    return ntu_dir / f"S001C001P001R001A{action:03d}.skeleton"


# --------------------------------------------------------------------------------------------------------------
# Parser on the real files
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_all_shared_files_parse_with_consistent_structure(ntu_dir: Path):
    files = sorted(ntu_dir.glob("*.skeleton"))
    assert len(files) == 60
    start = time.perf_counter()
    recordings = [parse_skeleton(p) for p in files]
    per_file = (time.perf_counter() - start) / len(files)
    assert per_file < 0.05, f"parsing takes {per_file * 1e3:.1f} ms per file"  # ~3.5 ms measured
    for path, rec in zip(files, recordings, strict=True):
        action = parse_ntu_name(path.stem)["action"]
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
        assert rec.num_frames == int(lines[0]) == rec.bodies_per_frame.shape[0]
        assert len(lines) == 1 + rec.num_frames + 27 * int(rec.bodies_per_frame.sum())
        assert sum(b.num_frames for b in rec.bodies) == rec.bodies_per_frame.sum()
        assert int(rec.bodies_per_frame.max()) == (2 if action in TWO_BODY_ACTIONS else 1), path.name
        for b in rec.bodies:
            assert b.joints.shape == (b.num_frames, 25, 12) and b.joints.dtype == np.float32
            assert b.info.shape == (b.num_frames, len(BODY_INFO_FIELDS))
            assert np.all(np.diff(b.frames) > 0)
            assert set(np.unique(b.tracking_state)) <= {0, 1, 2}
            assert 2.0 < float(np.median(b.xyz[..., 2])) < 5.0  # a person 2-5 m in front of the Kinect


@pytest.mark.shared_data
def test_golden_values_of_a001(ntu_dir: Path):
    rec = parse_skeleton(ntu_file(ntu_dir, 1))
    assert rec.num_frames == 103 and rec.body_ids == [72057594037931101]
    body = rec.bodies[0]
    np.testing.assert_array_equal(body.xyz[0, 0], np.float32([0.2181153, 0.1725972, 3.785547]))
    np.testing.assert_array_equal(body.depth_xy[0, 0], np.float32([277.419, 191.8218]))
    np.testing.assert_array_equal(body.color_xy[0, 0], np.float32([1036.233, 519.1677]))
    np.testing.assert_array_equal(body.orientation[0, 0], np.float32([-0.2059419, 0.05349901, 0.9692109, -0.1239193]))
    assert body.tracking_state[0, 0] == 2 and body.tracking_state[0, 5] == 1  # the left elbow is inferred
    assert body.info_field("leanX")[0] == 0.02764709 and body.info_field("leanY")[0] == 0.05745083
    assert body.info[0].tolist() == [0, 1, 1, 1, 1, 0, 0.02764709, 0.05745083, 2]
    np.testing.assert_array_equal(body.xyz[1, 0], np.float32([0.2184443, 0.1737018, 3.789234]))  # frame 2


def naive_records(path: Path) -> list[tuple[int, int, list[str], list[list[str]]]]:
    """(frame, body ID, body fields, joint fields) of every body record, read token by token."""
    tokens = iter(path.read_text().split("\n"))
    records = []
    for f in range(int(next(tokens))):
        for _ in range(int(next(tokens))):
            fields = next(tokens).split()
            joints = [next(tokens).split() for _ in range(int(next(tokens)))]
            records.append((f, int(fields[0]), fields[1:], joints))
    return records


@pytest.mark.shared_data
@pytest.mark.parametrize("action", [1, 26, 55])
def test_every_field_matches_a_naive_reading(ntu_dir: Path, action: int):
    path = ntu_file(ntu_dir, action)
    rec = parse_skeleton(path)
    seen = dict.fromkeys(rec.body_ids, 0)
    for frame, body_id, fields, joints in naive_records(path):
        body, k = rec.body(body_id), seen[body_id]
        assert body.frames[k] == frame
        np.testing.assert_array_equal(body.info[k], np.array(fields, dtype=np.float64))
        np.testing.assert_array_equal(body.joints[k], np.array(joints, dtype=np.float32))
        seen[body_id] += 1
    assert seen == {b.body_id: b.num_frames for b in rec.bodies}
    assert len(JOINT_FIELDS) == 12


# --------------------------------------------------------------------------------------------------------------
# Parser: line ends and malformed files
# --------------------------------------------------------------------------------------------------------------


def two_frame_file(tmp_path: Path, name: str = "ok.skeleton", newline: str = "\n") -> Path:
    return write_skeleton(tmp_path / name, compose(2, track(7, range(2))), newline=newline)


def test_crlf_and_lf_files_parse_identically(tmp_path: Path):
    lf = parse_skeleton(two_frame_file(tmp_path, "lf.skeleton"))
    crlf = parse_skeleton(two_frame_file(tmp_path, "crlf.skeleton", newline="\r\n"))
    assert b"\r\n" in (tmp_path / "crlf.skeleton").read_bytes()
    assert lf.body_ids == crlf.body_ids == [7]
    np.testing.assert_array_equal(lf.bodies[0].joints, crlf.bodies[0].joints)
    np.testing.assert_array_equal(lf.bodies[0].info, crlf.bodies[0].info)


def test_body_ids_keep_64_bit_precision(tmp_path: Path):
    big = 72057594037931101  # not representable as float64
    rec = parse_skeleton(write_skeleton(tmp_path / "a.skeleton", compose(1, track(big, range(1)))))
    assert rec.body_ids == [big]


def replace_line(text: str, line: int, new: str) -> str:
    lines = text.split("\n")
    lines[line - 1] = new
    return "\n".join(lines)


def drop_last_field(text: str, line: int) -> str:
    return replace_line(text, line, text.split("\n")[line - 1].rsplit(" ", 1)[0])


# Lines of two_frame_file: 1 frame count, 2 body count, 3 body line, 4 joint count, 5-29 joints, 30 body count ...
MALFORMED = {
    "empty": (lambda t: "", 1, "empty"),
    "blank lines only": (lambda t: "\n \n", 1, "empty"),
    "truncated inside joints": (lambda t: "\n".join(t.split("\n")[:40]), 41, "file ends"),
    "truncated before a frame": (lambda t: replace_line(t, 1, "3"), 58, "file ends"),
    "huge frame count": (lambda t: replace_line(t, 1, "1000000000000"), 58, "announces 1000000000000 frames"),
    "wrong joint count": (lambda t: replace_line(t, 4, "20"), 4, "joint count 20"),
    "non-numeric joint value": (lambda t: t.replace("270.5", "abc", 1), 5, "non-numeric"),
    "non-numeric body count": (lambda t: replace_line(t, 2, "one"), 2, "'one'"),
    "non-numeric body ID": (lambda t: replace_line(t, 3, "x7 0 1 1 0 1 0 0.01 -0.02 2"), 3, "non-numeric"),
    "NaN": (lambda t: replace_line(t, 9, "nan " + t.split("\n")[8].split(" ", 1)[1]), 9, "NaN"),
    "inf": (lambda t: replace_line(t, 33, "-inf " + t.split("\n")[32].split(" ", 1)[1]), 33, "infinite"),
    "joint line with 11 fields": (lambda t: drop_last_field(t, 12), 12, "found 11 values"),
    "body line with 9 fields": (lambda t: drop_last_field(t, 31), 31, "found 9 values"),
    "data after the last frame": (lambda t: t + "1\n", 58, "after the last frame"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_file_error_names_file_and_line(tmp_path: Path, case: str):
    mutate, line, words = MALFORMED[case]
    path = tmp_path / "bad.skeleton"
    path.write_text(mutate(two_frame_file(tmp_path).read_text()))
    with pytest.raises(DataFormatError) as err:
        parse_skeleton(path)
    assert err.value.line == line
    assert f"{path}:{line}: " in str(err.value) and words in str(err.value)
    assert "expected" in str(err.value)


def test_binary_file_is_rejected(tmp_path: Path):
    path = tmp_path / "bin.skeleton"
    path.write_bytes(b"1\n\xff\xfe\x00")
    with pytest.raises(DataFormatError, match="not ASCII"):
        parse_skeleton(path)


# --------------------------------------------------------------------------------------------------------------
# Denoising and actor selection
# --------------------------------------------------------------------------------------------------------------


def select(tmp_path: Path, frames: list[Frame], config: DenoiseConfig | None = None):
    return select_actors(parse_skeleton(write_skeleton(tmp_path / "s.skeleton", frames)), config)


def test_single_body_kept_and_frames_without_bodies_dropped(tmp_path: Path):
    frames = compose(10, track(5, range(2, 10)))  # frames 0-1 have no body
    frames.insert(5, [])
    chosen = select(tmp_path, frames)
    assert chosen.actors == ((5,), ()) and chosen.num_actors == 1
    assert chosen.data.shape == (2, 8, 25, 3) and chosen.data.dtype == np.float32
    np.testing.assert_allclose(chosen.data[0, 0], person(t=2), atol=1e-6)
    assert not chosen.data[1].any()


@pytest.mark.parametrize(("length", "kept"), [(11, False), (12, True)])
def test_bodies_tracked_for_11_frames_or_fewer_are_noise(tmp_path: Path, length: int, kept: bool):
    chosen = select(tmp_path, compose(40, track(1, range(40), amplitude=0.3), track(2, range(length), x=1.5)))
    assert (2 in chosen.actors[1]) is kept
    assert chosen.dropped == ({} if kept else {2: "length"})


@pytest.mark.parametrize(("lying_frames", "dropped"), [(28, True), (27, False)])
def test_spread_noise_threshold(tmp_path: Path, lying_frames: int, dropped: bool):
    # a body is noise when x spread > 0.8 * y spread in >= 69.754 % of its frames: 28/40 = 0.70, 27/40 = 0.675
    noise = {t: (2, person(1.5, t=t, lying=t < lying_frames)) for t in range(40)}
    chosen = select(tmp_path, compose(40, track(1, range(40), amplitude=0.3), noise))
    assert (chosen.dropped == {2: "spread"}) is dropped
    assert chosen.actors == (((1,), ()) if dropped else ((1,), (2,)))


def test_actor_one_is_the_body_with_most_motion(tmp_path: Path):
    chosen = select(tmp_path, compose(30, track(1, range(30), amplitude=0.01), track(2, range(30), x=1, amplitude=0.5)))
    assert chosen.actors == ((2,), (1,))
    np.testing.assert_allclose(chosen.data[0, 3], person(1, amplitude=0.5, t=3), atol=1e-6)


def test_bodies_are_assigned_to_actors_across_time(tmp_path: Path):
    a = track(1, range(0, 30), amplitude=0.5)  # most motion: actor 1
    b = track(2, range(30, 60), amplitude=0.3)  # after a: continues actor 1
    c = track(3, range(10, 50), x=1.5, amplitude=0.2)  # overlaps actor 1: actor 2
    d = track(4, range(20, 40), x=-1.5, amplitude=0.1)  # overlaps both: dropped
    chosen = select(tmp_path, compose(60, a, b, c, d))
    assert chosen.actors == ((1, 2), (3,))
    assert chosen.dropped == {4: "overlap"}
    np.testing.assert_allclose(chosen.data[0, 45], person(amplitude=0.3, t=45), atol=1e-6)
    actor2 = np.any(chosen.data[1] != 0, axis=(1, 2))
    assert actor2[10:50].all() and not actor2[:10].any() and not actor2[50:].any()


def test_frames_where_no_selected_body_is_placed_are_dropped(tmp_path: Path):
    a = track(1, range(0, 20), amplitude=0.5)
    b = track(2, range(0, 20), x=1.5, amplitude=0.2)
    noise = track(3, range(20, 25), x=3)  # 5 frames: dropped by length, leaving frames 20-24 empty
    chosen = select(tmp_path, compose(25, a, b, noise))
    assert chosen.data.shape[1] == 20 and chosen.dropped == {3: "length"}


def test_body_with_a_tracking_gap_is_placed_on_consecutive_frames(tmp_path: Path):
    a = track(1, range(0, 30), amplitude=0.5)
    b = {t: v for t, v in track(2, range(0, 30), x=1.5).items() if t != 10}  # body 2 lost in frame 10
    chosen = select(tmp_path, compose(30, a, b))
    # the reference stacks a body's records from its first frame on: frame 11's pose lands on frame 10
    np.testing.assert_allclose(chosen.data[1, 10], person(1.5, t=11), atol=1e-6)
    assert not chosen.data[1, 29].any()


def test_motion_filter_is_off_by_default_as_in_the_reference(tmp_path: Path):
    # motion = summed variance of all joint positions: a small still "body" (an object) is below 0.089925
    frames = compose(30, track(1, range(30), amplitude=0.5), track(2, range(30), x=1.5, size=0.1))
    assert select(tmp_path, frames).actors == ((1,), (2,))
    chosen = select(tmp_path, frames, DenoiseConfig(motion_filter=True))
    assert chosen.actors == ((1,), ()) and chosen.dropped == {2: "motion"}


def test_recording_without_any_body_is_an_error(tmp_path: Path):
    with pytest.raises(DataFormatError, match="no body is tracked"):
        select(tmp_path, [[], [], []])


@pytest.mark.shared_data
def test_real_selection_keeps_two_actors_for_mutual_actions_only(ntu_dir: Path):
    for action in range(1, 61):
        rec = parse_skeleton(ntu_file(ntu_dir, action))
        chosen = select_actors(rec)
        actor2 = np.any(chosen.data[1] != 0, axis=(1, 2))
        if action in MUTUAL_ACTIONS:
            assert chosen.num_actors == 2 and actor2.mean() > 0.9, action
            assert set(chosen.actors[0] + chosen.actors[1]) == set(rec.body_ids)
        else:
            assert chosen.num_actors == 1 and not actor2.any(), action
        if action in TWO_BODY_ACTIONS - set(MUTUAL_ACTIONS):  # a second, wide "body": noise by spread
            assert list(chosen.dropped.values()) == ["spread"], action
        assert chosen.data.shape[1] == rec.num_frames  # no empty frames in these files


# --------------------------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------------------------


def test_parse_ntu_name():
    assert parse_ntu_name("S017C003P020R002A060") == {
        "setup": 17,
        "camera": 3,
        "performer": 20,
        "replication": 2,
        "action": 60,
        "subject": 20,
    }
    assert parse_ntu_name("S001C001P001R001A01") is None and parse_ntu_name("0001-L") is None


@pytest.mark.shared_data
def test_ntu60_reader_samples_and_meta(ntu_dir: Path):
    reader = get_reader("ntu60", ntu_dir)
    files = reader.files()
    assert len(files) == 60 and reader.expected_samples == 56_578
    (a001,) = reader.read(files[0])
    assert a001.data.shape == (2, 103, 25, 3) and a001.layout == "ntu25" and a001.name == "S001C001P001R001A001"
    assert (a001.label, a001.label_name, a001.fps) == (0, "drink water", 30.0)
    assert {k: a001.meta[k] for k in ("setup", "camera", "performer", "subject", "replication", "action")} == {
        "setup": 1,
        "camera": 1,
        "performer": 1,
        "subject": 1,
        "replication": 1,
        "action": 1,
    }
    assert a001.meta["bodies"] == 1 and a001.meta["actors"] == 1
    np.testing.assert_array_equal(a001.data[0, 0, 0], np.float32([0.2181153, 0.1725972, 3.785547]))
    assert not a001.data[1].any()
    (a055,) = reader.read(ntu_file(ntu_dir, 55))
    assert a055.label_name == "hugging other person" and a055.meta["actors"] == 2 and a055.meta["bodies"] == 2


def test_readers_accept_their_action_ranges(tmp_path: Path):
    for name in ("S018C001P008R001A061.skeleton", "S001C001P001R001A001.skeleton", "0001-L.skeleton"):
        two_frame_file(tmp_path, name)
    ntu60, ntu120 = get_reader("ntu60", tmp_path), get_reader("ntu120", tmp_path)
    assert [p.name for p in ntu60.files()] == ["S001C001P001R001A001.skeleton"]
    assert [p.stem for p in ntu120.files()] == ["S001C001P001R001A001", "S018C001P008R001A061"]
    assert ntu120.read(tmp_path / "S018C001P008R001A061.skeleton")[0].label_name == "put on headphone"
    with pytest.raises(DataFormatError, match="A001-A060"):
        ntu60.read(tmp_path / "S018C001P008R001A061.skeleton")
    assert ntu120.detect(tmp_path / "S018C001P008R001A061.skeleton")
    assert not ntu60.detect(tmp_path / "S018C001P008R001A061.skeleton")
    assert not ntu120.detect(tmp_path / "0001-L.skeleton")


def test_missing_list_option_and_skipping_files_without_bodies(tmp_path: Path):
    data = tmp_path / "raw"
    data.mkdir()
    for action in (1, 2):
        two_frame_file(data, f"S001C001P001R001A{action:03d}.skeleton")
    write_skeleton(data / "S001C002P005R002A008.skeleton", [[], []])  # nothing tracked: a "missing" sample
    listing = tmp_path / "missing.txt"
    listing.write_text(
        "2 of the captured samples have missing skeletons:\nS001C002P005R002A008\r\nS001C001P001R001A002\n"
    )
    assert read_name_list(listing) == {"S001C002P005R002A008", "S001C001P001R001A002"}

    with_list = get_reader("ntu60", data, missing_list=listing)
    assert [s.name for s in with_list.samples()] == ["S001C001P001R001A001"]

    without = get_reader("ntu60", data)
    assert [s.name for s in without.samples()] == ["S001C001P001R001A001", "S001C001P001R001A002"]
    assert without.stats["no_body"] == 1

    listing.write_text("no names here\n")
    with pytest.raises(DataFormatError, match="no NTU sample names"):
        get_reader("ntu60", data, missing_list=listing)


@pytest.mark.shared_data
def test_official_missing_lists(shared_data: Path):
    ntu60 = read_name_list(shared_data / "ntu_meta/NTU_RGBD_samples_with_missing_skeletons.txt")
    ntu120 = read_name_list(shared_data / "ntu_meta/NTU_RGBD120_samples_with_missing_skeletons.txt")
    assert (len(ntu60), len(ntu120)) == (302, 535) and ntu60 < ntu120


# --------------------------------------------------------------------------------------------------------------
# Splits and classes
# --------------------------------------------------------------------------------------------------------------


def statistics_meta(folder: Path) -> list[dict[str, int]]:
    """Meta of every available sample of CTR-GCN's statistics, checked against its per-sample columns."""
    meta = [parse_ntu_name(n) for n in (folder / "skes_available_name.txt").read_text().split()]
    for key in ("setup", "camera", "performer", "replication"):
        assert np.loadtxt(folder / f"{key}.txt", dtype=int).tolist() == [m[key] for m in meta]
    assert np.loadtxt(folder / "label.txt", dtype=int).tolist() == [m["action"] for m in meta]
    return meta


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("dataset", "counts"),
    [
        ("ntu60", {"xsub": (40_091, 16_487), "xview": (37_646, 18_932)}),
        ("ntu120", {"xsub": (63_026, 50_919), "xset": (54_468, 59_477)}),
    ],
)
def test_split_counts_on_the_ctrgcn_sample_lists(shared_data: Path, dataset: str, counts: dict):
    meta = statistics_meta(shared_data / f"ntu_meta/ctrgcn_statistics_{dataset}")
    reader = get_reader(dataset, shared_data)
    assert len(meta) == reader.expected_samples
    assert tuple(reader.protocols) == tuple(counts)
    for protocol, (train, test) in counts.items():
        split = reader.split(protocol, meta)
        assert (len(split["train"]), len(split["test"])) == (train, test), protocol
        assert np.intersect1d(split["train"], split["test"]).size == 0
    with pytest.raises(SkelrecError, match="no protocol"):
        reader.split("xview" if dataset == "ntu120" else "xset", meta)


@pytest.mark.shared_data
def test_class_names_match_the_shipped_list(shared_data: Path):
    lines = (shared_data / "ntu_meta/ntu120_classes.txt").read_text().splitlines()
    assert list(NTU120_CLASSES) == [re.sub(r"^A\d+ ", "", ln) for ln in lines]
    assert [ln.split(" ", 1)[0] for ln in lines] == [f"A{i}" for i in range(1, 121)]
    assert len(set(NTU120_CLASSES)) == 120
    ntu60_readme = (shared_data / NTU_SAMPLES / "NTU60_class_names_README.txt").read_text().splitlines()
    assert list(NTU60_CLASSES) == [ln.strip().rstrip("#") for ln in ntu60_readme if ln.strip()][:60]


# --------------------------------------------------------------------------------------------------------------
# Preprocessed npz
# --------------------------------------------------------------------------------------------------------------


def make_npz(path: Path, *, compressed: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    x_train = np.zeros((3, 20, 150), dtype=np.float32)
    lengths = [20, 7, 12]
    for i, n in enumerate(lengths):
        x_train[i, :n] = rng.normal(size=(n, 150))
    x_train[1, :, 75:] = 0  # one actor only
    x_train[2, 4] = 0  # a zero frame inside the sequence stays
    x_test = rng.normal(size=(2, 20, 150)).astype(np.float32)
    x_test[:, 15:] = 0
    arrays = {"x_train": x_train, "y_train": np.eye(60)[[3, 0, 59]], "x_test": x_test, "y_test": np.array([5, 7])}
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return arrays


def test_npz_reader(tmp_path: Path):
    arrays = make_npz(tmp_path / "NTU60_CS.npz")
    reader = get_reader("ntu_npz", tmp_path, num_classes=60)
    samples = list(reader.samples())
    assert [s.name for s in samples] == [
        "NTU60_CS/train/00000",
        "NTU60_CS/train/00001",
        "NTU60_CS/train/00002",
        "NTU60_CS/test/00000",
        "NTU60_CS/test/00001",
    ]
    assert [s.frames for s in samples] == [20, 7, 12, 15, 15]
    assert [s.label for s in samples] == [3, 0, 59, 5, 7] and samples[2].label_name == NTU60_CLASSES[59]
    second = samples[1].data
    assert second.shape == (2, 7, 25, 3) and not second[1].any()
    np.testing.assert_array_equal(second[0, 6, 24], arrays["x_train"][1, 6, 72:75])
    np.testing.assert_array_equal(samples[3].data[1, 0, 0], arrays["x_test"][0, 0, 75:78])
    assert not samples[2].data[:, 4].any()
    split = reader.split("file", [s.meta for s in samples])
    assert split["train"].tolist() == [0, 1, 2] and split["test"].tolist() == [3, 4]
    assert reader.detect(tmp_path / "NTU60_CS.npz")


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_arrays_are_memory_mapped_when_stored(tmp_path: Path, compressed: bool):
    arrays = make_npz(tmp_path / "a.npz", compressed=compressed)
    x = load_npz_array(tmp_path / "a.npz", "x_train")
    assert isinstance(x, np.memmap) is not compressed
    np.testing.assert_array_equal(x, arrays["x_train"])
    with pytest.raises(DataFormatError, match="has no array 'x_val'"):
        load_npz_array(tmp_path / "a.npz", "x_val")


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x_train": np.ones((2, 5, 149)), "y_train": np.zeros(2)}, "x_train has shape"),
        ({"x_train": np.ones((2, 5, 150)), "y_train": np.array([0, 60])}, "y_train\\[1\\] is class 60"),
        ({"x_train": np.ones((2, 5, 150)), "y_train": np.zeros(3)}, "y_train has shape"),
        ({"x_train": np.zeros((1, 5, 150)), "y_train": np.zeros(1)}, "only zero frames"),
    ],
)
def test_npz_errors(tmp_path: Path, arrays: dict, message: str):
    np.savez(tmp_path / "bad.npz", **arrays, x_test=np.ones((1, 5, 150)), y_test=np.zeros(1))
    with pytest.raises(DataFormatError, match=message):
        list(get_reader("ntu_npz", tmp_path, num_classes=60).samples())
