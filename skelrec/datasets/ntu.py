"""NTU RGB+D 60 / 120: the Kinect v2 ``.skeleton`` format, the standard body denoising, and three readers.

* :func:`parse_skeleton` reads every field of one ``.skeleton`` file into an :class:`NtuRecording` (bodies grouped
  by Kinect body ID, 12 values per joint: camera xyz, depth-image xy, colour-image xy, orientation wxyz, tracking).
* :func:`select_actors` re-implements the denoising and two-actor selection of the preprocessing that CTR-GCN,
  MAMP and MacDiff share (``data/ntu*/get_raw_skes_data.py`` + ``get_raw_denoised_data.py``), quirks included, so
  that samples match the published ``NTU60_CS.npz``-style arrays before their centring.
* Readers ``ntu60`` / ``ntu120`` (raw ``SsssCcccPpppRrrrAaaa.skeleton`` files, protocols ``xsub``/``xview`` and
  ``xsub``/``xset``) and ``ntu_npz`` (the widely shared preprocessed ``.npz`` files, protocol ``file``).

Format (``read_skeleton_file.m`` of the official repository): line 1 frameCount; per frame bodyCount; per body a
line of :data:`BODY_FIELDS`, a jointCount line (25) and 25 lines of :data:`JOINT_FIELDS`.
"""

from __future__ import annotations

import logging
import re
import struct
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import numpy as np

from skelrec.datasets.base import DatasetReader, MetaSplit, Sample, parse_floats, register_dataset
from skelrec.errors import DataFormatError, SkelrecError

__all__ = [
    "BODY_FIELDS",
    "JOINT_FIELDS",
    "NTU60_CLASSES",
    "NTU120_CLASSES",
    "ActorSelection",
    "DenoiseConfig",
    "NtuBody",
    "NtuRecording",
    "load_npz_array",
    "parse_ntu_name",
    "parse_skeleton",
    "read_name_list",
    "select_actors",
]

log = logging.getLogger(__name__)

NUM_JOINTS = 25
FPS = 30.0  # Kinect v2
BODY_FIELDS = (
    "bodyID",
    "clippedEdges",
    "handLeftConfidence",
    "handLeftState",
    "handRightConfidence",
    "handRightState",
    "isRestricted",
    "leanX",
    "leanY",
    "trackingState",
)
BODY_INFO_FIELDS = BODY_FIELDS[1:]  # the columns of NtuBody.info (the body ID is kept exactly, as an int)
JOINT_FIELDS = (
    "x",
    "y",
    "z",
    "depthX",
    "depthY",
    "colorX",
    "colorY",
    "orientationW",
    "orientationX",
    "orientationY",
    "orientationZ",
    "trackingState",
)

# Official README of shahroudy/NTURGB-D: A1..A60 form NTU RGB+D 60, A1..A120 NTU RGB+D 120.
NTU120_CLASSES: tuple[str, ...] = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw", "sitting down",
    "standing up (from sitting position)", "clapping", "reading", "writing", "tear up paper", "wear jacket",
    "take off jacket", "wear a shoe", "take off a shoe", "wear on glasses", "take off glasses", "put on a hat/cap",
    "take off a hat/cap", "cheer up", "hand waving", "kicking something",
    "put something inside pocket / take out something from pocket", "hopping (one foot jumping)", "jump up",
    "make a phone call/answer phone", "playing with phone/tablet", "typing on a keyboard",
    "pointing to something with finger", "taking a selfie", "check time (from watch)", "rub two hands together",
    "nod head/bow", "shake head", "wipe face", "salute", "put the palms together", "cross hands in front (say stop)",
    "sneeze/cough", "staggering", "falling", "touch head (headache)", "touch chest (stomachache/heart pain)",
    "touch back (backache)", "touch neck (neckache)", "nausea or vomiting condition",
    "use a fan (with hand or paper)/feeling warm", "punching/slapping other person", "kicking other person",
    "pushing other person", "pat on back of other person", "point finger at the other person",
    "hugging other person", "giving something to other person", "touch other person's pocket", "handshaking",
    "walking towards each other", "walking apart from each other",
    "put on headphone", "take off headphone", "shoot at the basket", "bounce ball", "tennis bat swing",
    "juggling table tennis balls", "hush (quite)", "flick hair", "thumb up", "thumb down", "make ok sign",
    "make victory sign", "staple book", "counting money", "cutting nails", "cutting paper (using scissors)",
    "snapping fingers", "open bottle", "sniff (smell)", "squat down", "toss a coin", "fold paper", "ball up paper",
    "play magic cube", "apply cream on face", "apply cream on hand back", "put on bag", "take off bag",
    "put something into a bag", "take something out of a bag", "open a box", "move heavy objects", "shake fist",
    "throw up cap/hat", "hands up (both hands)", "cross arms", "arm circles", "arm swings", "running on the spot",
    "butt kicks (kick backward)", "cross toe touch", "side kick", "yawn", "stretch oneself", "blow nose",
    "hit other person with something", "wield knife towards other person", "knock over other person (hit with body)",
    "grab other person's stuff", "shoot at other person with a gun", "step on foot", "high-five",
    "cheers and drink", "carry something with other person", "take a photo of other person", "follow other person",
    "whisper in other person's ear", "exchange things with other person",
    "support somebody with one's hand (someone is sick, help him to walk)",
    "finger-guessing game (playing rock-paper-scissors)",
)  # fmt: skip
NTU60_CLASSES = NTU120_CLASSES[:60]

# Cross-subject training performers (MAMP / CTR-GCN ``seq_transformation.py:get_indices``); the rest are test.
NTU60_TRAIN_SUBJECTS = frozenset((1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38))
NTU120_TRAIN_SUBJECTS = NTU60_TRAIN_SUBJECTS | frozenset(
    (
        45,
        46,
        47,
        49,
        50,
        52,
        53,
        54,
        55,
        56,
        57,
        58,
        59,
        70,
        74,
        78,
        80,
        81,
        82,
        83,
        84,
        85,
        86,
        89,
        91,
        92,
        93,
        94,
        95,
        97,
        98,
        100,
        103,
    )
)
NTU60_TRAIN_CAMERAS = frozenset((2, 3))  # cross-view: cameras 2, 3 train; camera 1 test

# --------------------------------------------------------------------------------------------------------------
# Sample names and name lists
# --------------------------------------------------------------------------------------------------------------

_NAME_RE = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
_NAME_KEYS = ("setup", "camera", "performer", "replication", "action")


def parse_ntu_name(name: str) -> dict[str, int] | None:
    """``"S001C002P003R002A013"`` (a file stem) -> setup, camera, performer (= subject), replication, action.

    All values are the 1-based numbers of the name; ``None`` when ``name`` is not an NTU sample name.
    """
    m = _NAME_RE.fullmatch(name)
    if m is None:
        return None
    ids = dict(zip(_NAME_KEYS, map(int, m.groups()), strict=True))
    ids["subject"] = ids["performer"]
    return ids


def read_name_list(path: str | Path) -> frozenset[str]:
    """Sample names in a text file such as the official ``NTU_RGBD_samples_with_missing_skeletons.txt``.

    Any text around the names (the official file starts with a paragraph) is ignored.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise SkelrecError(
            f"{path}: cannot read the sample list ({err.strerror}); check the missing_list path"
        ) from None
    names = frozenset(m.group(0) for m in _NAME_RE.finditer(text))
    if not names:
        raise DataFormatError(path, "holds no NTU sample names", expected="names like S001C002P005R002A008")
    return names


# --------------------------------------------------------------------------------------------------------------
# The .skeleton parser
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class NtuBody:
    """All records of one Kinect body ID in a file, in frame order.

    Attributes:
        body_id: the Kinect tracking ID (a 64-bit integer, kept exactly).
        frames: ``(K,)`` int64 0-based indices of the frames holding this body (counting every frame of the file).
        info: ``(K, 9)`` float64, the body line after the ID, columns :data:`BODY_INFO_FIELDS`.
        joints: ``(K, 25, 12)`` float32, columns :data:`JOINT_FIELDS`, joints in ``ntu25`` order.
    """

    body_id: int
    frames: np.ndarray
    info: np.ndarray
    joints: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def xyz(self) -> np.ndarray:
        """``(K, 25, 3)`` camera-space position in metres."""
        return self.joints[..., 0:3]

    @property
    def depth_xy(self) -> np.ndarray:
        """``(K, 25, 2)`` position in the 512x424 depth image (pixels)."""
        return self.joints[..., 3:5]

    @property
    def color_xy(self) -> np.ndarray:
        """``(K, 25, 2)`` position in the 1920x1080 colour image (pixels)."""
        return self.joints[..., 5:7]

    @property
    def orientation(self) -> np.ndarray:
        """``(K, 25, 4)`` joint orientation quaternion ``w, x, y, z``."""
        return self.joints[..., 7:11]

    @property
    def tracking_state(self) -> np.ndarray:
        """``(K, 25)`` int: 0 not tracked, 1 inferred, 2 tracked."""
        return self.joints[..., 11].astype(np.int64)

    def info_field(self, name: str) -> np.ndarray:
        """``(K,)`` one column of the body line, by its name in :data:`BODY_INFO_FIELDS`."""
        return self.info[:, BODY_INFO_FIELDS.index(name)]


@dataclass(frozen=True, eq=False)
class NtuRecording:
    """One parsed ``.skeleton`` file.

    Attributes:
        path: the file.
        num_frames: frame count of the file (frames without bodies included).
        bodies_per_frame: ``(num_frames,)`` int64 body count of every frame.
        bodies: one :class:`NtuBody` per body ID, in order of first appearance.
    """

    path: Path
    num_frames: int
    bodies_per_frame: np.ndarray
    bodies: tuple[NtuBody, ...]

    @property
    def body_ids(self) -> list[int]:
        return [b.body_id for b in self.bodies]

    def body(self, body_id: int) -> NtuBody:
        for b in self.bodies:
            if b.body_id == body_id:
                return b
        raise KeyError(f"{self.path.name} has no body {body_id}; it has {self.body_ids}")


def parse_skeleton(path: str | Path) -> NtuRecording:
    """Read every field of an NTU RGB+D ``.skeleton`` file (CRLF or LF line ends).

    Fast: the structure (counts) is walked line by line, the numbers are parsed in two vectorised calls; only
    when these fail is the file re-scanned line by line to name the first bad line.

    Raises:
        DataFormatError: empty or non-text file, truncated file, joint count other than 25, a line with the wrong
            number of fields, a non-numeric, NaN or infinite value, or data after the last frame; the message
            names the file and the line.
    """
    path = Path(path)
    lines = _read_lines(path)
    num_frames, bodies_per_frame, body_lines, row_frame = _scan_structure(path, lines)
    body_ids, info = _parse_body_lines(path, lines, body_lines)
    joint_lines = (np.asarray(body_lines, dtype=np.int64)[:, None] + 2 + np.arange(NUM_JOINTS)).ravel()
    joints = _parse_table(path, lines, joint_lines, len(JOINT_FIELDS), "joint values", np.float32)
    joints = joints.reshape(-1, NUM_JOINTS, len(JOINT_FIELDS))
    bodies = _group_bodies(body_ids, np.asarray(row_frame, dtype=np.int64), info, joints)
    return NtuRecording(path, num_frames, bodies_per_frame, bodies)


def _read_lines(path: Path) -> list[str]:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise SkelrecError(f"{path}: cannot read ({err.strerror})") from None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as err:
        raise DataFormatError(path, f"byte {err.start} is not ASCII", expected="a text .skeleton file") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataFormatError(path, "file is empty", expected="a frame count on line 1", line=1)
    return lines


def _count(path: Path, lines: list[str], i: int, what: str) -> int:
    """The non-negative integer on line ``i`` (0-based)."""
    if i >= len(lines):
        raise DataFormatError(path, f"file ends after line {len(lines)}", expected=what, line=i + 1)
    text = lines[i].strip()
    if not text.isdigit():
        raise DataFormatError(path, f"found {text!r}", expected=f"{what} (one non-negative integer)", line=i + 1)
    return int(text)


def _scan_structure(path: Path, lines: list[str]) -> tuple[int, np.ndarray, list[int], list[int]]:
    """Walk the counts: frame count, body counts, joint counts.

    Returns:
        frame count, ``(F,)`` bodies per frame, the 0-based line of every body record, the frame of every record.
    """
    num_frames = _count(path, lines, 0, "frame count")
    if 1 + num_frames > len(lines):  # every frame takes at least its body-count line
        raise DataFormatError(
            path,
            f"file ends after line {len(lines)} but line 1 announces {num_frames} frames",
            expected=f"{num_frames} frames",
            line=len(lines) + 1,
        )
    bodies_per_frame = np.zeros(num_frames, dtype=np.int64)
    body_lines: list[int] = []
    row_frame: list[int] = []
    pos = 1
    for f in range(num_frames):
        n = bodies_per_frame[f] = _count(path, lines, pos, f"body count of frame {f + 1} of {num_frames}")
        pos += 1
        for _ in range(n):
            joints = _count(path, lines, pos + 1, "joint count")
            if joints != NUM_JOINTS:
                raise DataFormatError(path, f"joint count {joints}", expected=f"{NUM_JOINTS} (Kinect v2)", line=pos + 2)
            if pos + 2 + NUM_JOINTS > len(lines):
                raise DataFormatError(
                    path,
                    f"file ends after line {len(lines)}, inside frame {f + 1} of {num_frames}",
                    expected=f"{NUM_JOINTS} joint lines",
                    line=len(lines) + 1,
                )
            body_lines.append(pos)
            row_frame.append(f)
            pos += 2 + NUM_JOINTS
    if pos < len(lines):
        raise DataFormatError(
            path, "data after the last frame", expected=f"{num_frames} frames as line 1 says", line=pos + 1
        )
    return num_frames, bodies_per_frame, body_lines, row_frame


def _parse_table(
    path: Path, lines: list[str], idx: Sequence[int] | np.ndarray, width: int, what: str, dtype: type
) -> np.ndarray:
    """``(len(idx), width)`` finite numbers of the lines ``lines[i]``, ``i in idx`` (0-based)."""
    if len(idx) == 0:
        return np.zeros((0, width), dtype=dtype)
    selected = [lines[i] for i in (idx.tolist() if isinstance(idx, np.ndarray) else idx)]
    table: np.ndarray | None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data" for blank lines: caught by the shape test
            table = np.loadtxt(selected, dtype=dtype, comments=None, ndmin=2)
    except ValueError:
        table = None
    if table is None or table.shape != (len(idx), width) or not np.isfinite(table).all():
        _raise_first_bad_line(path, lines, idx, width, what)
    return table


def _raise_first_bad_line(
    path: Path, lines: list[str], idx: Sequence[int] | np.ndarray, width: int, what: str
) -> NoReturn:
    for i in idx:
        parse_floats(path, int(i) + 1, lines[i], count=width, what=what)  # raises for the first bad line
    raise DataFormatError(
        path,
        f"cannot parse the {what} of lines {idx[0] + 1}-{idx[-1] + 1}",
        expected=f"{width} whitespace-separated numbers per line",
    )


def _parse_body_lines(path: Path, lines: list[str], body_lines: list[int]) -> tuple[list[int], np.ndarray]:
    """Body IDs (exact ints) and the ``(R, 9)`` float64 remaining fields of every body record."""
    table = _parse_table(path, lines, body_lines, len(BODY_FIELDS), "body fields", np.float64)
    ids = []
    for i in body_lines:
        token = lines[i].split(maxsplit=1)[0]
        if not token.isdigit():
            raise DataFormatError(path, f"body ID {token!r}", expected="an unsigned integer bodyID", line=i + 1)
        ids.append(int(token))
    return ids, table[:, 1:]


def _group_bodies(ids: list[int], row_frame: np.ndarray, info: np.ndarray, joints: np.ndarray) -> tuple[NtuBody, ...]:
    rows: dict[int, list[int]] = {}
    for r, body_id in enumerate(ids):
        rows.setdefault(body_id, []).append(r)
    return tuple(NtuBody(b, row_frame[r], info[r], joints[r]) for b, r in rows.items())


# --------------------------------------------------------------------------------------------------------------
# Denoising and actor selection (CTR-GCN / MAMP get_raw_skes_data.py + get_raw_denoised_data.py)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DenoiseConfig:
    """Thresholds of ``get_raw_denoised_data.py``.

    Attributes:
        max_noise_length: bodies tracked in this many frames or fewer are noise (11).
        spread_ratio: a frame is noisy when the body's x spread exceeds ``spread_ratio`` x its y spread (0.8).
        max_noisy_fraction: bodies with at least this fraction of noisy frames are dropped (0.69754).
        motion_range: a body other than the most moving one is noise when its motion is outside this range.
        motion_filter: apply ``motion_range``. The reference code defines this step but returns before it, so it
            is off by default (the published arrays were made without it).
    """

    max_noise_length: int = 11
    spread_ratio: float = 0.8
    max_noisy_fraction: float = 0.69754
    motion_range: tuple[float, float] = (0.089925, 2.0)
    motion_filter: bool = False


@dataclass(frozen=True)
class ActorSelection:
    """The outcome of :func:`select_actors`.

    Attributes:
        data: ``(2, T, 25, 3)`` float32 xyz of actor 1 (most motion) and actor 2 (zeros when absent); T counts the
            frames kept (frames without bodies, and frames where no selected body is placed, are dropped).
        actors: body IDs placed in the actor-1 and actor-2 slots, in the order they were placed.
        dropped: body ID -> why it was not used: ``"length"``, ``"spread"``, ``"motion"`` or ``"overlap"``.
    """

    data: np.ndarray
    actors: tuple[tuple[int, ...], tuple[int, ...]]
    dropped: dict[int, str] = field(default_factory=dict)

    @property
    def num_actors(self) -> int:
        return 2 if self.actors[1] else 1


@dataclass(eq=False)
class _Track:
    """A body as the reference code sees it: its records placed on consecutive kept frames from its first one."""

    body_id: int
    start: int  # index among the frames that hold a body
    xyz: np.ndarray  # (K, 25, 3) float32, contiguous
    motion: np.float32  # see _motion

    @property
    def end(self) -> int:  # inclusive
        return self.start + self.xyz.shape[0] - 1


def select_actors(recording: NtuRecording, config: DenoiseConfig | None = None) -> ActorSelection:
    """Denoise the bodies of a recording and keep two actors, exactly as CTR-GCN/MAMP preprocessing does.

    1. Frames without bodies are dropped. A body's records are placed on consecutive frames from its first one
       (the reference ignores gaps in a body's tracking; so does this function).
    2. A file with one body ID keeps it as is. Otherwise: drop bodies tracked in <= 11 frames; then, in order of
       first appearance and while more than one body is left, drop a body whose frames have x spread >
       0.8 x y spread in at least 69.754 % of its frames, else lower its motion to that of its valid frames;
       motion = sum over x, y, z of the variance of all its joint positions.
    3. Order the bodies by motion (largest first). The first is actor 1. Each next body joins actor 1 when its
       interval does not overlap actor 1's (the span of all bodies placed there so far), else actor 2 likewise
       (actor 2's span always starts at frame 0, as in the reference), else it is dropped. Intervals sharing a
       single frame count as not overlapping; the later body overwrites that frame.
    4. With several body IDs, frames whose coordinates sum to zero are dropped.

    If every body of a multi-body file is tracked for <= 11 frames (the reference code fails there), the length
    step is skipped.

    Raises:
        DataFormatError: if no body is tracked in any frame (such files are in the official missing list).
    """
    config = config or DenoiseConfig()
    if not recording.bodies:
        raise DataFormatError(
            recording.path,
            "no body is tracked in any frame",
            expected="at least one body (the official missing-skeleton list names such files; skip them)",
        )
    compact = np.cumsum(recording.bodies_per_frame > 0) - 1  # raw frame -> index among frames holding a body
    num_frames = int(compact[-1]) + 1
    tracks = [_track(b, int(compact[b.frames[0]])) for b in recording.bodies]
    if len(tracks) == 1:
        return ActorSelection(_to_persons(_place(num_frames, [tracks[0]], [], width=1)), ((tracks[0].body_id,), ()))
    dropped: dict[int, str] = {}
    kept = _denoise(tracks, config, dropped, recording.path)
    slot1, slot2 = _assign_actors(kept, dropped)
    rows = _place(num_frames, slot1, slot2, width=1 if len(kept) == 1 else 2)
    rows = rows[rows.sum(axis=1) != 0]  # the reference's remove_missing_frames
    return ActorSelection(
        _to_persons(rows), (tuple(t.body_id for t in slot1), tuple(t.body_id for t in slot2)), dropped
    )


def _track(body: NtuBody, start: int) -> _Track:
    xyz = np.ascontiguousarray(body.xyz)
    return _Track(body.body_id, start, xyz, _motion(xyz))


def _motion(xyz: np.ndarray) -> np.float32:
    """Sum over x, y, z of the variance of all joint positions of a body, ``(K, 25, 3) -> ()`` (float32)."""
    return np.sum(np.var(xyz.reshape(-1, 3), axis=0))


def _spread_valid(xyz: np.ndarray, ratio: float) -> np.ndarray:
    """``(K, 25, 3) -> (K,)`` True where the x spread of the joints is <= ``ratio`` x their y spread."""
    spread = xyz.max(axis=1) - xyz.min(axis=1)  # (K, 3) float32
    return spread[:, 0].astype(np.float64) <= ratio * spread[:, 1].astype(np.float64)


def _denoise(tracks: list[_Track], config: DenoiseConfig, dropped: dict[int, str], source: Path) -> list[_Track]:
    """Length, spread (and optionally motion) filters; the survivors ordered by decreasing motion."""
    kept = [t for t in tracks if t.xyz.shape[0] > config.max_noise_length]
    if not kept:
        log.warning("%s: every body is tracked for <= %d frames; keeping them all", source, config.max_noise_length)
        kept = list(tracks)
    dropped.update({t.body_id: "length" for t in tracks if t not in kept})
    for t in list(kept):
        if len(kept) == 1:
            break
        valid = _spread_valid(t.xyz, config.spread_ratio)
        num_noise = valid.shape[0] - int(valid.sum())
        if num_noise == 0:
            continue
        if num_noise / valid.shape[0] >= config.max_noisy_fraction:
            kept.remove(t)
            dropped[t.body_id] = "spread"
        else:
            t.motion = min(t.motion, _motion(t.xyz[valid]))
    kept = sorted(kept, key=lambda t: t.motion, reverse=True)  # stable: ties keep first-appearance order
    if config.motion_filter:
        lo, hi = config.motion_range
        noisy = [t for t in kept[1:] if not lo <= t.motion <= hi]
        dropped.update({t.body_id: "motion" for t in noisy})
        kept = [t for t in kept if t not in noisy]
    return kept


def _assign_actors(tracks: list[_Track], dropped: dict[int, str]) -> tuple[list[_Track], list[_Track]]:
    """Spread bodies (by decreasing motion) over two actor slots so that bodies within a slot do not overlap."""
    slot1, slot2 = [tracks[0]], []
    start1, end1 = tracks[0].start, tracks[0].end
    start2, end2 = 0, 0  # the reference's "virtual" initial interval of actor 2
    for t in tracks[1:]:
        if min(end1, t.end) - max(start1, t.start) <= 0:
            slot1.append(t)
            start1, end1 = min(start1, t.start), max(end1, t.end)
        elif min(end2, t.end) - max(start2, t.start) <= 0:
            slot2.append(t)
            start2, end2 = min(start2, t.start), max(end2, t.end)
        else:
            dropped[t.body_id] = "overlap"
    return slot1, slot2


def _place(num_frames: int, slot1: list[_Track], slot2: list[_Track], *, width: int) -> np.ndarray:
    """``(T, width * 75)`` float32 rows as the reference builds them: each track written on its interval in its
    slot's columns, in order (a later track overwrites a shared frame)."""
    rows = np.zeros((num_frames, width * NUM_JOINTS * 3), dtype=np.float32)
    for slot, tracks in enumerate((slot1, slot2)[:width]):
        cols = slice(slot * NUM_JOINTS * 3, (slot + 1) * NUM_JOINTS * 3)
        for t in tracks:
            rows[t.start : t.end + 1, cols] = t.xyz.reshape(-1, NUM_JOINTS * 3)[: num_frames - t.start]
    return rows


def _to_persons(rows: np.ndarray) -> np.ndarray:
    """``(T, M * 75)`` rows -> ``(2, T, 25, 3)`` with zeros for an absent second person."""
    persons = rows.reshape(rows.shape[0], -1, NUM_JOINTS, 3).transpose(1, 0, 2, 3)
    if persons.shape[0] == 1:
        persons = np.concatenate([persons, np.zeros_like(persons)])
    return np.ascontiguousarray(persons)


# --------------------------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------------------------


class _NtuSkeletonReader(DatasetReader):
    """Raw ``SsssCcccPpppRrrrAaaa.skeleton`` files -> one denoised two-person sample per file.

    Options:
        missing_list: the official ``*_samples_with_missing_skeletons.txt``; listed samples are not read. Without
            it, files in which no body is ever tracked are skipped (:meth:`read` returns ``[]`` and counts them in
            ``stats["no_body"]``).
        motion_filter: also apply the motion filter the reference code defines but does not run (default off).
    """

    layout = "ntu25"
    fps = FPS
    persons = 2
    file_glob = "*.skeleton"
    num_actions: ClassVar[int]

    def __init__(
        self, root: str | Path, *, missing_list: str | Path | None = None, motion_filter: bool = False, **options: Any
    ) -> None:
        super().__init__(root, missing_list=missing_list, motion_filter=motion_filter, **options)
        self.missing = read_name_list(missing_list) if missing_list else frozenset()
        self.denoise = DenoiseConfig(motion_filter=motion_filter)

    @classmethod
    def _ids(cls, path: Path) -> dict[str, int] | None:
        ids = parse_ntu_name(path.stem)
        return ids if ids is not None and ids["action"] <= cls.num_actions else None

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.suffix == ".skeleton" and cls._ids(path) is not None

    def accepts(self, path: Path) -> bool:
        return self._ids(path) is not None and path.stem not in self.missing

    def read(self, path: Path) -> list[Sample]:
        """The sample of one file, or ``[]`` when no body is tracked in any of its frames (logged)."""
        ids = self._ids(path)
        if ids is None:
            raise DataFormatError(
                path,
                f"file name is not an {self.name} sample name",
                expected=f"SsssCcccPpppRrrrAaaa.skeleton with action A001-A{self.num_actions:03d}",
            )
        recording = parse_skeleton(path)
        if not recording.bodies:
            return self.skip("no_body", f"{path}: no body is tracked in any frame (a missing-skeleton sample); skipped")
        chosen = select_actors(recording, self.denoise)
        action = ids["action"]
        meta: dict[str, Any] = {**ids, "bodies": len(recording.bodies), "actors": chosen.num_actors}
        meta["source"] = str(path)
        return [
            Sample(
                chosen.data,
                self.layout,
                path.stem,
                self.name,
                label=action - 1,
                label_name=self.classes[action - 1],
                fps=self.fps,
                meta=meta,
            )
        ]


@register_dataset
class Ntu60Reader(_NtuSkeletonReader):
    """NTU RGB+D 60 (actions A001-A060, setups S001-S017): 56,880 files, 56,578 with skeletons."""

    name = "ntu60"
    classes = NTU60_CLASSES
    num_actions = 60
    expected_samples = 56_578
    protocols: ClassVar[dict[str, MetaSplit]] = {
        "xsub": MetaSplit("subject", NTU60_TRAIN_SUBJECTS, frozenset(range(1, 41)) - NTU60_TRAIN_SUBJECTS),
        "xview": MetaSplit("camera", NTU60_TRAIN_CAMERAS, frozenset({1})),
    }


@register_dataset
class Ntu120Reader(_NtuSkeletonReader):
    """NTU RGB+D 120 (A001-A120, S001-S032): 114,480 files, 113,945 with skeletons."""

    name = "ntu120"
    classes = NTU120_CLASSES
    num_actions = 120
    expected_samples = 113_945
    protocols: ClassVar[dict[str, MetaSplit]] = {
        "xsub": MetaSplit("subject", NTU120_TRAIN_SUBJECTS, frozenset(range(1, 107)) - NTU120_TRAIN_SUBJECTS),
        "xset": MetaSplit("setup", frozenset(range(2, 33, 2)), frozenset(range(1, 33, 2))),  # even setups train
    }


# --------------------------------------------------------------------------------------------------------------
# Preprocessed .npz files (CTR-GCN / MAMP seq_transformation.py output)
# --------------------------------------------------------------------------------------------------------------

_NPZ_PARTS = ("train", "test")


def load_npz_array(path: str | Path, key: str) -> np.ndarray:
    """One array of an ``.npz`` file: memory-mapped when stored uncompressed (``np.savez``), else read.

    ``np.load(..., mmap_mode="r")`` ignores the mode for ``.npz`` members; the multi-GB NTU arrays are mapped here
    by locating the ``.npy`` member inside the zip.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            try:
                info = zf.getinfo(f"{key}.npy")
            except KeyError:
                have = ", ".join(n.removesuffix(".npy") for n in zf.namelist())
                raise DataFormatError(
                    path, f"has no array {key!r} (it has {have})", expected="keys x_train, y_train, x_test, y_test"
                ) from None
            if info.compress_type != zipfile.ZIP_STORED:
                with zf.open(info) as member:
                    return np.lib.format.read_array(member)
    except zipfile.BadZipFile:
        raise DataFormatError(path, "not a zip (.npz) file", expected="an .npz written by numpy.savez") from None
    with path.open("rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)  # zip local file header; name and extra-field lengths at bytes 26-29
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise DataFormatError(path, f"broken zip entry {info.filename}", expected="an .npz written by numpy.savez")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:  # e.g. version 3.0: read into memory
            with zipfile.ZipFile(path) as zf, zf.open(info) as member:
                return np.lib.format.read_array(member)
        offset = f.tell()
    if dtype.hasobject:
        raise DataFormatError(path, f"array {key!r} holds Python objects", expected="a numeric array")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


@register_dataset
class NtuNpzReader(DatasetReader):
    """Preprocessed NTU arrays: ``x_train``/``x_test`` ``(N, T, M*75)`` (2 persons x 25 joints x xyz, zero-padded
    frames; centred on the spine of actor 1's first frame) and ``y_train``/``y_test`` (one-hot ``(N, C)`` or int).

    Samples are named ``<file stem>/<part>/<index>``; protocol ``file`` keeps the file's own train/test parts.
    Labels index :data:`NTU120_CLASSES` (an NTU-60 file uses the first 60). Option ``num_classes`` (60 or 120,
    default 120) narrows ``classes`` and is checked against the labels.
    """

    name = "ntu_npz"
    layout = "ntu25"
    fps = FPS
    persons = 2
    file_glob = "*.npz"
    classes = NTU120_CLASSES
    protocols: ClassVar[dict[str, MetaSplit]] = {"file": MetaSplit("part", frozenset({"train"}), frozenset({"test"}))}

    def __init__(self, root: str | Path, *, num_classes: int = 120, **options: Any) -> None:
        super().__init__(root, num_classes=num_classes, **options)
        if num_classes not in (60, 120):
            raise SkelrecError(f"ntu_npz: num_classes must be 60 or 120, got {num_classes}")
        self.classes = NTU120_CLASSES[:num_classes]  # type: ignore[misc]

    @classmethod
    def detect(cls, path: Path) -> bool:
        if path.suffix != ".npz" or not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as zf:
            return {"x_train.npy", "x_test.npy"} <= set(zf.namelist())

    def read(self, path: Path) -> list[Sample]:
        return list(self.iter_file(path))

    def samples(self) -> Iterator[Sample]:
        for path in self.files():
            yield from self.iter_file(path)

    def iter_file(self, path: Path) -> Iterator[Sample]:
        """Samples of one file, train part first, one at a time (the arrays stay memory-mapped)."""
        for part in _NPZ_PARTS:
            x, labels = self._part(path, part)
            for i in range(x.shape[0]):
                data = _npz_sample(path, f"x_{part}", i, np.asarray(x[i]))
                label = int(labels[i])
                yield Sample(
                    data,
                    self.layout,
                    f"{path.stem}/{part}/{i:05d}",
                    self.name,
                    label=label,
                    label_name=self.classes[label],
                    fps=self.fps,
                    meta={"part": part, "index": i, "source": str(path)},
                )

    def _part(self, path: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
        """``x`` ``(N, T, M*75)`` (memory-mapped) and int labels ``(N,)`` of one part, validated."""
        x, y = load_npz_array(path, f"x_{part}"), load_npz_array(path, f"y_{part}")
        if x.ndim != 3 or x.shape[2] % (NUM_JOINTS * 3) != 0:
            raise DataFormatError(
                path, f"x_{part} has shape {x.shape}", expected="(N, T, M*75): persons x 25 joints x xyz per frame"
            )
        labels = np.argmax(y, axis=1) if y.ndim == 2 else np.asarray(y).astype(np.int64)
        if labels.shape != (x.shape[0],):
            raise DataFormatError(
                path,
                f"y_{part} has shape {y.shape} for {x.shape[0]} samples",
                expected="one-hot (N, C) or integer (N,) labels",
            )
        bad = np.flatnonzero((labels < 0) | (labels >= len(self.classes)))
        if bad.size:
            raise DataFormatError(
                path,
                f"y_{part}[{bad[0]}] is class {labels[bad[0]]}",
                expected=f"a class index below {len(self.classes)} (option num_classes)",
            )
        return x, labels


def _npz_sample(path: Path, key: str, index: int, frames: np.ndarray) -> np.ndarray:
    """``(T_pad, M*75)`` zero-padded rows -> ``(M, T, 25, 3)`` without the trailing all-zero frames."""
    real = np.flatnonzero(np.any(frames != 0, axis=1))
    if real.size == 0:
        raise DataFormatError(path, f"{key}[{index}] has only zero frames", expected="at least one non-zero frame")
    frames = frames[: real[-1] + 1]
    if not np.isfinite(frames).all():
        raise DataFormatError(path, f"{key}[{index}] has NaN or infinite values", expected="finite coordinates")
    return frames.reshape(frames.shape[0], -1, NUM_JOINTS, 3).transpose(1, 0, 2, 3)
