"""The sample type every reader returns, and the registry of dataset readers.

A reader knows one file format. It finds the files of its dataset under a root folder, turns one file into one or
more :class:`Sample` objects (a PKU-MMD sequence holds many labelled clips), names its classes and defines its
standard evaluation protocols as queries over sample metadata.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from skelrec.errors import DataFormatError, SkelrecError
from skelrec.skeleton import get_layout

__all__ = ["DATASETS", "DatasetReader", "Sample", "get_reader", "register_dataset"]


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
        protocols: names of the standard splits, each answered by :meth:`split`.
        fps: frame rate of the recordings.
        persons: maximum number of persons per sample.
        expected_samples: how many samples the complete dataset yields (checked and reported by prepare).
    """

    name: ClassVar[str]
    layout: ClassVar[str]
    classes: ClassVar[Sequence[str]] = ()
    protocols: ClassVar[Sequence[str]] = ()
    fps: ClassVar[float | None] = None
    persons: ClassVar[int] = 1
    expected_samples: ClassVar[int | None] = None
    file_glob: ClassVar[str] = "*"

    def __init__(self, root: str | Path, **options: Any) -> None:
        self.root = Path(root)
        self.options = options
        if not self.root.exists():
            raise SkelrecError(f"{self.root}: no such directory; pass the folder that holds the {self.name} files")

    def files(self) -> list[Path]:
        """All data files of this dataset below ``root``, sorted; an error when there are none."""
        found = sorted(p for p in self.root.rglob(self.file_glob) if p.is_file() and self.accepts(p))
        if not found:
            raise SkelrecError(
                f"{self.root}: holds no {self.name} files (looked for {self.file_glob}); "
                f"check the path, or the dataset name (known: {', '.join(sorted(DATASETS))})"
            )
        return found

    def accepts(self, path: Path) -> bool:
        """Whether a file matched by ``file_glob`` belongs to the dataset (e.g. its name parses)."""
        return True

    @abstractmethod
    def read(self, path: Path) -> list[Sample]:
        """Parse one file into samples. Raises :class:`DataFormatError` naming the file and the line."""

    def samples(self) -> Iterator[Sample]:
        for path in self.files():
            yield from self.read(path)

    def split(self, protocol: str, meta: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        """Indices of ``train``/``test`` samples for a standard protocol, given the samples' metadata."""
        raise SkelrecError(f"{self.name} has no protocol {protocol!r}; known: {', '.join(self.protocols) or 'none'}")

    def _check_protocol(self, protocol: str) -> None:
        if protocol not in self.protocols:
            raise SkelrecError(f"{self.name} has no protocol {protocol!r}; known: {', '.join(self.protocols)}")


DATASETS: dict[str, type[DatasetReader]] = {}


def register_dataset(cls: type[DatasetReader]) -> type[DatasetReader]:
    DATASETS[cls.name] = cls
    return cls


def get_reader(name: str, root: str | Path, **options: Any) -> DatasetReader:
    import skelrec.datasets  # noqa: F401  (registers the readers)

    try:
        cls = DATASETS[name]
    except KeyError:
        raise SkelrecError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}") from None
    return cls(root, **options)


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
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataFormatError(path, "not a text file", expected="a text skeleton file") from None
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise DataFormatError(path, "file is empty", expected="skeleton data")
    return lines
