"""The sample type every reader returns, and the registry of dataset readers.

A reader knows one file format. It finds the files of its dataset under a root folder, turns one file into one or
more :class:`Sample` objects (a PKU-MMD sequence holds many labelled clips), names its classes and defines its
standard evaluation protocols as queries over sample metadata.
"""

from __future__ import annotations

import contextlib
import logging
import lzma
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np

from skelrec.errors import DataFormatError, SkelrecError
from skelrec.registry import Registry
from skelrec.skeleton import get_layout

__all__ = ["BACKGROUND_CLASS", "DATASETS", "DatasetReader", "MetaSplit", "Sample", "get_reader", "register_dataset"]

log = logging.getLogger(__name__)


@dataclass
class Sample:
    """One skeleton sequence with its label and metadata.

    Attributes:
        data: ``(M, T, V, C)`` float32 in the layout ``layout`` (see :mod:`skelrec.skeleton`).
        layout: layout name, e.g. ``"ntu25"``.
        name: identifier unique within the dataset (file stem, plus the clip range for untrimmed sources).
        dataset: reader name that produced it.
        label: 0-based class index, or ``None`` for unlabelled data.
        label_name: human-readable class name, or ``None``.
        fps: frame rate of the recording when known.
        meta: dataset-specific integer/str metadata used by splits: ``subject``, ``view``/``camera``, ``setup``,
            ``replication``, ``source`` (file), ``start``/``end`` (frames of a clip in an untrimmed source) ...
    """

    data: np.ndarray
    layout: str
    name: str
    dataset: str
    label: int | None = None
    label_name: str | None = None
    fps: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lay = get_layout(self.layout)
        if self.data.ndim != 4 or self.data.shape[2] != lay.num_joints:
            raise ValueError(f"{self.name}: data {self.data.shape} is not (M, T, {lay.num_joints}, C)")
        self.data = np.ascontiguousarray(self.data, dtype=np.float32)

    @property
    def persons(self) -> int:
        return int(self.data.shape[0])

    @property
    def frames(self) -> int:
        return int(self.data.shape[1])

    @property
    def joints(self) -> int:
        return int(self.data.shape[2])

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (used by ``skelrec inspect``)."""
        return {
            "name": self.name,
            "dataset": self.dataset,
            "layout": self.layout,
            "persons": self.persons,
            "frames": self.frames,
            "joints": self.joints,
            "channels": int(self.data.shape[3]),
            "label": self.label,
            "label_name": self.label_name,
            "fps": self.fps,
            "meta": {k: (v.item() if isinstance(v, np.generic) else v) for k, v in self.meta.items()},
        }


class DatasetReader(ABC):
    """One dataset format. Subclasses set the class attributes and implement :meth:`files` and :meth:`read`.

    Attributes:
        name: registry key used on the command line (``skelrec prepare NAME``).
        layout: layout of the samples it returns.
        classes: class names, index = label.
        protocols: names of the standard splits, each answered by :meth:`split`; a mapping from name to
            :class:`MetaSplit` is answered by the default :meth:`split`.
        fps: frame rate of the recordings.
        persons: maximum number of persons per sample.
        expected_samples: how many samples the complete dataset yields (checked and reported by prepare).
    """

    name: ClassVar[str]
    layout: ClassVar[str]
    classes: ClassVar[Sequence[str]] = ()
    protocols: ClassVar[Sequence[str] | Mapping[str, MetaSplit]] = ()
    fps: ClassVar[float | None] = None
    persons: ClassVar[int] = 1
    expected_samples: ClassVar[int | None] = None
    parallel: ClassVar[bool] = True
    """Whether ``skelrec prepare`` may read files in forked worker processes (False for readers that run
    libraries which are not fork-safe once the parent has started threads, e.g. MediaPipe)."""
    file_glob: ClassVar[str] = "*"

    def __init__(self, root: str | Path, **options: Any) -> None:
        self.root = Path(root)
        self.options = options
        self.stats: Counter[str] = Counter()  # files/clips skipped on purpose, by reason (see :meth:`skip`)
        if not self.root.exists():
            raise SkelrecError(f"{self.root}: no such directory; pass the folder that holds the {self.name} files")

    def files(self) -> list[Path]:
        """All data files of this dataset below ``root``, sorted; an error when there are none."""
        found = sorted(p for p in self.root.rglob(self.file_glob) if p.is_file() and self.accepts(p))
        if not found:
            raise SkelrecError(
                f"{self.root}: holds no {self.name} files (looked for {self.file_glob}); "
                f"check the path, or the dataset name (known: {', '.join(DATASETS)})"
            )
        return found

    def accepts(self, path: Path) -> bool:
        """Whether a file matched by ``file_glob`` belongs to the dataset (e.g. its name parses)."""
        return True

    @classmethod
    def detect(cls, path: Path) -> bool:
        """Whether one file, on its own, looks like this format (name, extension, a cheap look at the content).

        Used by ``skelrec inspect`` to pick a reader. The default matches the name against ``file_glob`` (never
        for the catch-all ``"*"``); readers whose files share an extension override it to tell them apart.
        """
        return cls.file_glob != "*" and fnmatch(path.name, cls.file_glob)

    @abstractmethod
    def read(self, path: Path) -> list[Sample]:
        """Parse one file into samples. Raises :class:`DataFormatError` naming the file and the line."""

    def samples(self) -> Iterator[Sample]:
        for path in self.files():
            yield from self.read(path)

    @classmethod
    def for_file(cls, path: Path) -> DatasetReader:
        """A reader for one file on its own (``skelrec inspect``, ``skelrec label``): by default over its folder."""
        return cls(path.parent)

    def read_sequence(self, path: Path) -> Sample:
        """The whole recording of one file as one sample, labelled or not (``skelrec label`` reads files this way).

        The default is :meth:`read` when that gives exactly one sample; readers of untrimmed streams (PKU-MMD)
        return the whole stream instead of its labelled clips.

        Raises:
            DataFormatError: the file does not parse, holds no tracked skeleton, or holds several recordings.
        """
        samples = self.read(path)
        if len(samples) != 1:
            why = "no tracked skeleton" if not samples else f"{len(samples)} recordings"
            raise DataFormatError(path, f"holds {why}", expected=f"one {self.name} recording per file")
        return samples[0]

    def skip(self, reason: str, message: str) -> list[Sample]:
        """Skip a file or clip on purpose: log ``message``, count it under ``reason`` in :attr:`stats`."""
        self.stats[reason] += 1
        log.warning("%s: %s", self.name, message)
        return []

    def split(self, protocol: str, meta: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        """Indices of ``train``/``test`` samples for a standard protocol, given the samples' metadata."""
        rule = self.protocols.get(protocol) if isinstance(self.protocols, Mapping) else None
        if isinstance(rule, MetaSplit):
            return rule.indices(meta, protocol=f"{self.name} {protocol}")
        raise SkelrecError(f"{self.name} has no protocol {protocol!r}; known: {', '.join(self.protocols) or 'none'}")

    def _check_protocol(self, protocol: str) -> None:
        if protocol not in self.protocols:
            raise SkelrecError(f"{self.name} has no protocol {protocol!r}; known: {', '.join(self.protocols)}")


@dataclass(frozen=True)
class MetaSplit:
    """A protocol decided by one metadata field: ``meta[key]`` in ``train`` -> train part, in ``test`` -> test part.

    Samples whose value is in neither part belong to no part.
    """

    key: str
    train: frozenset[Any]
    test: frozenset[Any]

    def indices(self, meta: Sequence[Mapping[str, Any]], protocol: str = "split") -> dict[str, np.ndarray]:
        """``{"train": idx, "test": idx}`` over ``meta``; an empty part is logged (e.g. a view that is absent)."""
        values = [m.get(self.key) for m in meta]
        out = {
            part: np.array([i for i, v in enumerate(values) if v in allowed], dtype=np.int64)
            for part, allowed in (("train", self.train), ("test", self.test))
        }
        for part, idx in out.items():
            if len(meta) and not len(idx):
                wanted = sorted(self.train if part == "train" else self.test)
                log.warning(
                    "%s: the %s part is empty: none of the %d samples has %s in %s (that part of the data is absent)",
                    protocol,
                    part,
                    len(meta),
                    self.key,
                    wanted,
                )
        return out


DATASETS: Registry[type[DatasetReader]] = Registry("dataset", populate="skelrec.datasets")
"""Dataset readers by ``name`` (the package :mod:`skelrec.datasets` registers them when first consulted)."""


def register_dataset(cls: type[DatasetReader]) -> type[DatasetReader]:
    """Class decorator: make a reader available under ``cls.name``."""
    return DATASETS.add(cls.name, cls)


def get_reader(name: str, root: str | Path, **options: Any) -> DatasetReader:
    return DATASETS[name](root, **options)


# -------------------------------------------------------------------------------------------------------------
# Parsing helpers shared by the text readers.
# -------------------------------------------------------------------------------------------------------------


def parse_floats(path: Path, line_no: int, text: str, count: int | None = None, what: str = "numbers") -> np.ndarray:
    """Parse whitespace/comma separated finite floats of one line, with an error naming file and line."""
    parts = text.replace(",", " ").split()
    if count is not None and len(parts) != count:
        raise DataFormatError(path, f"found {len(parts)} values", expected=f"{count} {what}", line=line_no)
    try:
        values = np.array([float(p) for p in parts], dtype=np.float64)
    except ValueError:
        bad = next(p for p in parts if not _is_float(p))
        raise DataFormatError(path, f"non-numeric value {bad!r}", expected=what, line=line_no) from None
    if not np.all(np.isfinite(values)):
        raise DataFormatError(path, "NaN or infinite value", expected=f"finite {what}", line=line_no)
    return values


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def check_finite(path: Path, data: np.ndarray, what: str = "joint coordinates") -> np.ndarray:
    if not np.all(np.isfinite(data)):
        raise DataFormatError(path, "NaN or infinite value", expected=f"finite {what}")
    return data


def read_text_lines(path: Path) -> list[str]:
    """Non-empty lines of a text file; an error for an empty or binary file."""
    return [text for _, text in read_text_lines_numbered(path)]


def name_fields(path: Path, pattern: re.Pattern[str], expected: str) -> dict[str, str]:
    """The named groups of ``pattern`` matched against the file name; an error naming the expected form."""
    m = pattern.fullmatch(path.name)
    if m is None:
        raise DataFormatError(path, f"file name {path.name!r} does not follow the dataset's naming", expected=expected)
    return m.groupdict()


def read_table(path: Path, columns: int, what: str = "numbers") -> tuple[np.ndarray, list[int]]:
    """A text file of ``columns`` finite numbers per line (blank lines ignored) as ``(rows, columns)`` float64.

    Returns the table and the 1-based file line number of every row. The file (plain or ``.xz``, see
    :func:`open_text`) is parsed in blocks of :data:`TABLE_BLOCK_LINES` lines: memory holds the table and one
    block of text, never the whole text (an untrimmed PKU-MMD stream is ~20 MB of text).
    """
    blocks: list[np.ndarray] = []
    numbers: list[int] = []
    for chunk in _numbered_blocks(path, TABLE_BLOCK_LINES):
        blocks.append(parse_rows(path, chunk, columns, what))
        numbers += [n for n, _ in chunk]
    if not numbers:
        raise DataFormatError(path, "file is empty", expected="skeleton data")
    return np.concatenate(blocks), numbers


TABLE_BLOCK_LINES = 256
"""Lines parsed at a time by :func:`read_table`."""

XZ_SUFFIX = ".xz"
"""Suffix of xz-compressed text files, read as if they were plain (PKU-MMD's ``skeletons_xz/*.txt.xz``)."""

BACKGROUND_CLASS = "no action"
"""The class name of clips that show no labelled action (the frames between a stream's labelled actions, e.g.
``PkuMmdReader(background=True)``). A classifier trained with it tells "no action" itself: the labeler reports its
windows as no action, never as an action (:func:`skelrec.labeling.segments.decide`)."""


@contextlib.contextmanager
def open_text(path: Path) -> Iterator[IO[str]]:
    """Open a UTF-8 text file for reading, decompressing ``.xz`` files on the fly (streamed, never whole).

    Decoding and decompression errors raised while reading become one-line :class:`DataFormatError` s.
    """
    compressed = path.name.endswith(XZ_SUFFIX)
    try:
        with lzma.open(path, "rt", encoding="utf-8") if compressed else path.open(encoding="utf-8") as f:
            yield f
    except UnicodeDecodeError:
        raise DataFormatError(path, "not a text file", expected="a text skeleton file") from None
    except (lzma.LZMAError, EOFError) as err:
        raise DataFormatError(path, f"broken xz data ({err})", expected="a complete .xz-compressed text file") from None


def _numbered_blocks(path: Path, size: int) -> Iterator[list[tuple[int, str]]]:
    """``(line number, stripped text)`` of the non-empty lines, ``size`` lines at a time."""
    block: list[tuple[int, str]] = []
    with open_text(path) as f:
        for n, line in enumerate(f, start=1):
            text = line.strip()
            if text:
                block.append((n, text))
            if len(block) == size:
                yield block
                block = []
    if block:
        yield block


def parse_rows(path: Path, lines: Sequence[tuple[int, str]], columns: int, what: str = "numbers") -> np.ndarray:
    """``(line number, text)`` rows of ``columns`` finite numbers each -> ``(rows, columns)`` float64.

    Fast path: one ``np.array`` over all rows; when that fails the rows are parsed one by one, so the error names
    the offending line.
    """
    rows = [text.replace(",", " ").split() for _, text in lines]
    table = None
    if all(len(r) == columns for r in rows):
        with contextlib.suppress(ValueError):  # a non-numeric token: the slow path below names its line
            table = np.array(rows, dtype=np.float64)
    if table is None:
        for n, text in lines:
            parse_floats(path, n, text, columns, what)
        raise DataFormatError(path, "unparsable numbers", expected=f"{columns} {what} per line")  # not reached
    table = table.reshape(len(lines), columns)  # (0, columns) when there are no rows
    bad = ~np.isfinite(table).all(axis=1)
    if bad.any():
        line = lines[int(np.argmax(bad))][0]
        raise DataFormatError(path, "NaN or infinite value", expected=f"finite {what}", line=line)
    return table


def read_text_lines_numbered(path: Path) -> list[tuple[int, str]]:
    """``(line number, stripped text)`` of the non-empty lines (plain or ``.xz``); an error for an empty or binary
    file."""
    lines = [ln for block in _numbered_blocks(path, TABLE_BLOCK_LINES) for ln in block]
    if not lines:
        raise DataFormatError(path, "file is empty", expected="skeleton data")
    return lines
