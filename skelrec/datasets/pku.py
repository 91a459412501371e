"""Reader for PKU-MMD (Liu et al., 2017): untrimmed Kinect v2 sequences cut into labelled action clips.

Files (the dataset release, ``ECHO960/PKU-MMD``):

* skeleton ``<video>.txt``: one line per frame, 150 numbers = 2 bodies x 25 joints x ``x y z`` (NTU RGB+D joint
  order and camera axes, metres: layout ``ntu25``); the second body is zeros when absent. Phase 1 names videos
  ``NNNN-V`` (``0002-L``), phase 2 ``AxxNyy-V`` (``A10N08-L``); ``V`` is the view, L/M/R.
* label ``<video>.txt`` of the same name in a separate folder: lines ``label,start,end,confidence`` with a 1-based
  label among the 51 actions and ``confidence`` 1 (slight) or 2 (strong) (0 also occurs).
* split files ``cross-subject.txt`` / ``cross-view.txt`` (phase 2: ``cross_subject_v2.txt`` / ``cross_view_v2.txt``):
  line 2 is the comma-separated training-video list, line 4 the validation list, which is the test part (the two
  lists partition the 1,076 phase-1 videos, so this equals MAMP's "test = not in the training list").

Each labelled action becomes one :class:`Sample` holding frames ``[start, end)``: ``end`` is exclusive, as in MAMP's
``data/pku_v1/pku_gendata.py`` (``seq_data[start:end]``). Labels become 0-based. A range outside its sequence is an
error naming the label file and line. A range with ``end <= start`` is skipped with a warning and counted in
``reader.stats["bad_range"]``: the release has one (``0043-L.txt`` line 21: ``1,4925,4036,2``), which MAMP drops as
an all-zero clip; all-zero clips are skipped the same way (``stats["empty"]``). Phase 1 therefore yields at most
21,544 clips from its 21,545 labelled instances. Clips are not truncated (MAMP truncates to 300 frames later).

Skeleton files may be xz-compressed (``0002-L.txt.xz``, same text): they are decompressed while parsed, a block
of lines at a time, so memory holds one sequence's array and never a whole decompressed file.

Folders: ``root`` may hold everything. The skeleton folders are all those named ``skeletons``, ``skeleton``,
``PKU_Skeleton_Renew`` or ``skeletons_xz`` below ``root`` (or ``root`` itself when it directly holds skeleton files),
so ``root = v1/`` reads ``v1/skeletons/*.txt`` and ``v1/skeletons_xz/*.txt.xz`` together; a video found twice (in
two folders, or as ``.txt`` and ``.txt.xz``) is an error naming both files. The label folder is the one named
``labels``, ``label`` or ``Train_Label_PKU_final``, the split files are searched by name; when ``root`` is a skeleton
folder itself, its parent is searched. ``skeleton_dir`` (one folder or a list), ``label_dir``, ``split_dir`` override
the search.
A skeleton file without a label file is skipped and counted (``stats["unlabelled"]``) unless ``unlabelled=True``,
which yields the whole sequence as one unlabelled sample (for pretraining).

Background (``background=True``, for detection): the frames of a labelled stream that no labelled action covers
(before the first, between two, after the last), minus ``background_margin`` frames beside every action (the
annotated boundaries are not frame-exact), become clips of the extra class :data:`BACKGROUND_CLASS` ("no action",
index 51): a stretch of ``background_min`` frames or more, cut into equal pieces of at most ``background_max``
frames; stretches or pieces with no tracked body are dropped silently (``stats["empty_background"]``). The phase-1
label files leave about half of every stream between actions (median gap 115 frames, 3.8 s, over the 1,076 label
files), so this class is as large as all the actions together.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skelrec.datasets.base import (
    BACKGROUND_CLASS,
    XZ_SUFFIX,
    DatasetReader,
    MetaSplit,
    Sample,
    name_fields,
    open_text,
    read_table,
    read_text_lines_numbered,
    register_dataset,
)
from skelrec.errors import DataFormatError, SkelrecError

__all__ = [
    "PKU_MMD_CLASSES",
    "PKU_MMD_INTERACTIONS",
    "PKU_MMD_INTERACTION_LABELS",
    "PkuMmdReader",
    "background_ranges",
    "pku_video",
    "read_pku_split",
    "read_pku_stream",
]

# The 51 actions of PKU-MMD (Actions.xlsx of the release), label 1..51 -> index 0..50.
PKU_MMD_CLASSES = (
    "bow", "brushing hair", "brushing teeth", "check time (from watch)", "cheer up", "clapping",
    "cross hands in front (say stop)", "drink water", "drop", "eat meal/snack", "falling",
    "giving something to other person", "hand waving", "handshaking", "hopping (one foot jumping)",
    "hugging other person", "jump up", "kicking other person", "kicking something",
    "make a phone call/answer phone", "pat on back of other person", "pickup", "playing with phone/tablet",
    "point finger at the other person", "pointing to something with finger", "punching/slapping other person",
    "pushing other person", "put on a hat/cap", "put something inside pocket", "reading", "rub two hands together",
    "salute", "sitting down", "standing up", "take off a hat/cap", "take off glasses", "take off jacket",
    "take out something from pocket", "taking a selfie", "tear up paper", "throw", "touch back (backache)",
    "touch chest (stomachache/heart pain)", "touch head (headache)", "touch neck (neckache)", "typing on a keyboard",
    "use a fan (with hand or paper)/feeling warm", "wear jacket", "wear on glasses", "wipe face", "writing",
)  # fmt: skip
PKU_MMD_INTERACTION_LABELS = (12, 14, 16, 18, 21, 24, 26, 27)
"""The 1-based labels of PKU-MMD's eight two-person interactions (giving something ... pushing)."""
PKU_MMD_INTERACTIONS = tuple(PKU_MMD_CLASSES[label - 1] for label in PKU_MMD_INTERACTION_LABELS)

_NAME = re.compile(r"(?P<video>(?:\d{4}|A\d+N\d+)-(?P<view>[LMR]))\.txt(?:\.xz)?")
_NAMING = (
    "NNNN-V.txt (phase 1, e.g. 0002-L.txt) or AxxNyy-V.txt (phase 2, e.g. A10N08-L.txt), V in L/M/R, "
    "optionally xz-compressed (.txt.xz)"
)
_SKELETON_DIRS = ("skeletons", "skeleton", "PKU_Skeleton_Renew", "skeletons_xz")
_LABEL_DIRS = ("labels", "label", "Train_Label_PKU_final")
_SPLIT_FILES = {"xsub": ("cross-subject.txt", "cross_subject_v2.txt"), "xview": ("cross-view.txt", "cross_view_v2.txt")}
_BODIES, _JOINTS = 2, 25
_COLUMNS = _BODIES * _JOINTS * 3


@dataclass(frozen=True)
class _Action:
    """One line of a label file: 1-based ``label``, frames ``[start, end)``, ``confidence``, file ``line``."""

    label: int
    start: int
    end: int
    confidence: int
    line: int


@register_dataset
class PkuMmdReader(DatasetReader):
    """PKU-MMD skeleton + label files -> one two-person ``ntu25`` :class:`Sample` per labelled action.

    Args:
        root: folder holding the dataset (see the module docstring for what is searched).
        skeleton_dir: skeleton folder, or a list of them, instead of searching ``root``.
        label_dir, split_dir: explicit folders instead of searching ``root``.
        unlabelled: yield a skeleton file without a label file as one unlabelled whole-sequence sample.
        background: also yield the frames between labelled actions as clips of :data:`BACKGROUND_CLASS` (the last
            class; module docstring); ``background_margin``, ``background_min``, ``background_max``: frames.
    """

    name = "pku_mmd"
    layout = "ntu25"
    classes = PKU_MMD_CLASSES
    protocols = tuple(_SPLIT_FILES)
    fps = 30.0
    persons = _BODIES
    file_glob = "*-[LMR].txt*"

    def __init__(
        self,
        root: str | Path,
        *,
        skeleton_dir: str | Path | Sequence[str | Path] | None = None,
        label_dir: str | Path | None = None,
        split_dir: str | Path | None = None,
        unlabelled: bool = False,
        background: bool = False,
        background_margin: int = 5,
        background_min: int = 30,
        background_max: int = 120,
    ) -> None:
        super().__init__(
            root, skeleton_dir=skeleton_dir, label_dir=label_dir, split_dir=split_dir, unlabelled=unlabelled
        )
        frames = {"margin": background_margin, "min": background_min, "max": background_max}
        wrong = {f"background_{k}": v for k, v in frames.items() if isinstance(v, bool) or not isinstance(v, int)}
        if background and wrong:
            given = ", ".join(f"{k}={v!r}" for k, v in wrong.items())
            raise SkelrecError(f"pku_mmd: {given}: frames must be whole numbers (e.g. -o background_min=30)")
        if background and not 0 < background_min <= background_max:
            raise SkelrecError(
                f"background_min {background_min} and background_max {background_max} must satisfy "
                "0 < background_min <= background_max (frames)"
            )
        if background and background_margin < 0:
            raise SkelrecError(f"background_margin must be 0 or more frames, got {background_margin}")
        self.unlabelled = unlabelled
        self.background = (background_margin, background_min, background_max) if background else None
        if background:
            self.classes = (*PKU_MMD_CLASSES, BACKGROUND_CLASS)  # type: ignore[misc]
        given = [skeleton_dir] if isinstance(skeleton_dir, (str, Path)) else list(skeleton_dir or [])
        dirs = [_given_dir(d, "skeleton_dir") for d in given]
        self.skeleton_dirs: tuple[Path, ...] = tuple(d for d in dirs if d is not None) or self._find_skeleton_dirs()
        # when root is a skeleton folder by name, the label folder and split files sit beside it
        beside = self.root in self.skeleton_dirs and self.root.name in _SKELETON_DIRS
        self._search_root = self.root.parent if beside else self.root
        self.label_dir = _given_dir(label_dir, "label_dir") or _find_dir(self._search_root, _LABEL_DIRS, "label_dir")
        self.split_dir = _given_dir(split_dir, "split_dir")

    @classmethod
    def detect(cls, path: Path) -> bool:
        """A ``.txt`` or ``.txt.xz`` file whose first line holds 150 numbers, whatever its name (label files share
        the names of skeleton files but hold 4 numbers; MSR's ``.txt`` files hold 4 or 2 per line); a ``.txt.xz``
        whose compressed data is broken too, so that reading it reports the damage."""
        compressed = path.name.endswith(".txt" + XZ_SUFFIX)
        if not compressed and not path.name.endswith(".txt"):
            return False
        try:
            with open_text(path) as f:
                return len(f.readline().replace(",", " ").split()) == _COLUMNS
        except OSError:
            return False
        except SkelrecError:  # broken xz data: only PKU-MMD streams come compressed, reading says what is wrong
            return compressed

    def accepts(self, path: Path) -> bool:
        return _NAME.fullmatch(path.name) is not None

    def files(self) -> list[Path]:
        """Skeleton files of the skeleton folders, sorted by video; an error when labels are needed but no label
        folder exists, or when a video is found twice."""
        found = sorted(
            (p for d in self.skeleton_dirs for p in d.rglob(self.file_glob) if p.is_file() and self.accepts(p)),
            key=lambda p: (pku_video(p), str(p)),
        )
        if not found:
            where = ", ".join(map(str, self.skeleton_dirs))
            raise SkelrecError(f"{where}: holds no PKU-MMD skeleton files; expected {_NAMING}")
        for a, b in itertools.pairwise(found):
            if pku_video(a) == pku_video(b):
                raise SkelrecError(
                    f"video {pku_video(a)} is in two skeleton files, {a} and {b}; remove one, or pass skeleton_dir=..."
                )
        if self.label_dir is None and not self.unlabelled:
            raise SkelrecError(
                f"{self.root}: found {len(found)} PKU-MMD skeleton files but no label folder "
                f"({' / '.join(_LABEL_DIRS)}); pass label_dir=..., or unlabelled=True to read whole sequences"
            )
        return found

    def read(self, path: Path) -> list[Sample]:
        video = name_fields(path, _NAME, _NAMING)["video"]
        seq = read_pku_stream(path)
        meta = {"video": video, "view": video[-1], "phase": 2 if video.startswith("A") else 1, "source": str(path)}
        label_path = self.label_dir / f"{video}.txt" if self.label_dir is not None else None
        if label_path is None or not label_path.is_file():
            if not self.unlabelled:
                where = f"in {self.label_dir}" if self.label_dir is not None else "(no label folder found)"
                return self.skip(
                    "unlabelled", f"{path}: no label file {video}.txt {where}; skipped (unlabelled=True keeps it)"
                )
            return self._clip(path, seq, meta, start=0, end=seq.shape[1])
        samples: list[Sample] = []
        actions = _read_labels(label_path, frames=seq.shape[1], skeleton=path)
        for act in actions:
            if act.end <= act.start:
                self.skip("bad_range", f"{label_path}:{act.line}: end {act.end} <= start {act.start}; clip skipped")
                continue
            samples += self._clip(path, seq, meta, act.start, act.end, act)
        if self.background is not None:
            for start, end in background_ranges([(a.start, a.end) for a in actions], seq.shape[1], *self.background):
                samples += self._clip(path, seq, meta, start, end, background=True)
        return samples

    def _clip(
        self,
        path: Path,
        seq: np.ndarray,
        meta: dict[str, Any],
        start: int,
        end: int,
        act: _Action | None = None,
        *,
        background: bool = False,
    ) -> list[Sample]:
        data = seq[:, start:end]
        if not data.any():
            if background:  # nobody tracked between two actions: nothing to learn, nothing to warn about
                self.stats["empty_background"] += 1
                return []
            return self.skip("empty", f"{path}: frames [{start}, {end}) are all zeros (no tracked body); clip skipped")
        label = self.classes.index(BACKGROUND_CLASS) if background else None if act is None else act.label - 1
        return [
            Sample(
                data=data,
                layout=self.layout,
                name=meta["video"] if label is None else f"{meta['video']}_{start}-{end}",
                dataset=self.name,
                label=label,
                label_name=None if label is None else self.classes[label],
                fps=self.fps,
                meta={**meta, "start": start, "end": end, **({} if act is None else {"confidence": act.confidence})},
            )
        ]

    def split(self, protocol: str, meta: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        """Train = the split file's training videos, test = its validation videos (matched on ``meta["video"]``)."""
        self._check_protocol(protocol)
        train, test = read_pku_split(self._split_file(protocol))
        rule = MetaSplit("video", train=frozenset(train), test=frozenset(test))
        return rule.indices(meta, protocol=f"{self.name} {protocol}")

    @classmethod
    def for_file(cls, path: Path) -> PkuMmdReader:
        """A reader of one skeleton file, whatever its name; labels are looked for beside its folder."""
        return cls(path.parent, skeleton_dir=path.parent)

    def read_sequence(self, path: Path) -> Sample:
        """The whole untrimmed stream of one skeleton file, unlabelled, whatever its name (``skelrec label``)."""
        match = _NAME.fullmatch(path.name)
        video = match["video"] if match else path.name.removesuffix(XZ_SUFFIX).removesuffix(".txt")
        seq = read_pku_stream(path)
        meta = {"video": video, "source": str(path), "start": 0, "end": seq.shape[1]}
        return Sample(seq, self.layout, video, self.name, fps=self.fps, meta=meta)

    def _find_skeleton_dirs(self) -> tuple[Path, ...]:
        found = [self.root] if self.root.name in _SKELETON_DIRS else []
        found += sorted(p for p in self.root.rglob("*") if p.name in _SKELETON_DIRS and p.is_dir())
        if found:
            return tuple(found)
        if any(self.accepts(p) for p in self.root.glob(self.file_glob)):
            return (self.root,)
        raise SkelrecError(
            f"{self.root}: holds no PKU-MMD skeleton folder ({' / '.join(_SKELETON_DIRS)}) and no skeleton files "
            f"({_NAMING}); pass the dataset folder or skeleton_dir=..."
        )

    def _split_file(self, protocol: str) -> Path:
        names = _SPLIT_FILES[protocol]
        if self.split_dir is not None:
            hits = [self.split_dir / n for n in names if (self.split_dir / n).is_file()]
        else:
            hits = sorted(p for n in names for p in self._search_root.rglob(n) if p.is_file())
        if not hits:
            where = self.split_dir or self._search_root
            raise SkelrecError(
                f"{where}: no {' or '.join(names)}; protocol {protocol} needs the official PKU-MMD split files: "
                "put them under the dataset folder or pass split_dir=..."
            )
        if len(hits) > 1:
            raise SkelrecError(f"several split files for {protocol}: {', '.join(map(str, hits))}; pass split_dir=...")
        return hits[0]


def background_ranges(
    actions: Iterable[tuple[int, int]], frames: int, margin: int, shortest: int, longest: int
) -> list[tuple[int, int]]:
    """``[start, end)`` pieces of the ``frames`` of a stream that no ``[start, end)`` range of ``actions`` covers,
    ``margin`` frames away from every action, from stretches of ``shortest`` frames or more, cut into equal pieces
    of at most ``longest`` frames (the module docstring's background)."""
    covered = np.zeros(frames + 1, np.int64)
    for first, last in actions:
        if last > first:
            covered[max(first - margin, 0)] += 1
            covered[min(last + margin, frames)] -= 1
    free = np.concatenate([[False], np.cumsum(covered[:frames]) == 0, [False]])
    edges = np.flatnonzero(np.diff(free.astype(np.int8)))
    pieces = []
    for start, end in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        if end - start < shortest:
            continue
        count = -(-(end - start) // longest)
        cuts = np.linspace(start, end, count + 1).round().astype(int).tolist()
        pieces += list(itertools.pairwise(cuts))
    return pieces


def pku_video(path: Path) -> str:
    """The video name of a skeleton file: ``0002-L`` for ``0002-L.txt`` and ``0002-L.txt.xz``."""
    return path.name.removesuffix(XZ_SUFFIX).removesuffix(".txt")


def read_pku_stream(path: Path) -> np.ndarray:
    """A skeleton file (plain or ``.xz``, streamed) -> ``(2, T, 25, 3)`` float32 in ``ntu25`` order."""
    table, _ = read_table(path, _COLUMNS, f"numbers ({_BODIES} bodies x {_JOINTS} joints x xyz)")
    return table.reshape(-1, _BODIES, _JOINTS, 3).transpose(1, 0, 2, 3).astype(np.float32)  # (M, T, V, 3)


def _given_dir(path: str | Path | None, option: str) -> Path | None:
    if path is None:
        return None
    if not Path(path).is_dir():
        raise SkelrecError(f"{path}: no such directory (given as {option})")
    return Path(path)


def _find_dir(base: Path, names: tuple[str, ...], option: str) -> Path | None:
    """The one folder named like ``names`` at or below ``base``; None when absent, an error when ambiguous."""
    hits = [base] if base.name in names else []
    hits += sorted(p for p in base.rglob("*") if p.name in names and p.is_dir())
    if len(hits) > 1:
        raise SkelrecError(
            f"{base}: several PKU-MMD folders named like {'/'.join(names)}: {', '.join(map(str, hits))}; "
            f"pass {option}=... (or a root holding one dataset phase)"
        )
    return hits[0] if hits else None


def _read_labels(path: Path, *, frames: int, skeleton: Path) -> list[_Action]:
    """Parse a label file; errors name the line of a malformed row, an unknown label or a range outside the clip."""
    table, lines = read_table(path, 4, "integers (label,start,end,confidence)")
    whole = table == np.round(table)
    if not whole.all():
        raise DataFormatError(
            path,
            "non-integer value",
            expected="integers label,start,end,confidence",
            line=lines[int(np.argmin(whole.all(axis=1)))],
        )
    actions = [_Action(*(int(v) for v in row), line=n) for row, n in zip(table, lines, strict=True)]
    for act in actions:
        if not 1 <= act.label <= len(PKU_MMD_CLASSES):
            raise DataFormatError(
                path, f"action label {act.label}", expected=f"1..{len(PKU_MMD_CLASSES)}", line=act.line
            )
        if act.end > act.start and (act.start < 0 or act.end > frames):
            raise DataFormatError(
                path,
                f"frames [{act.start}, {act.end}) lie outside the {frames} frames of {skeleton.name}",
                expected=f"0 <= start < end <= {frames}",
                line=act.line,
            )
    return actions


def read_pku_split(path: Path) -> tuple[list[str], list[str]]:
    """``Training videos:`` / list / ``Validation videos:`` / list -> (training videos, validation videos)."""
    lines = read_text_lines_numbered(path)
    expected = "'Training videos:', the comma-separated training list, 'Validation videos:', the validation list"
    if len(lines) < 4 or not lines[0][1].lower().startswith("training") or not lines[2][1].lower().startswith("valid"):
        raise DataFormatError(path, f"{len(lines)} lines not in the PKU-MMD split layout", expected=expected)
    train, test = ([v.strip() for v in text.split(",") if v.strip()] for _, text in (lines[1], lines[3]))
    both = sorted(set(train) & set(test))
    if both:
        raise DataFormatError(path, f"videos {both[:3]} are in both lists", expected="disjoint lists", line=lines[3][0])
    return train, test
