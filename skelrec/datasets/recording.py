"""One skeleton file on its own -> its whole recording (what ``skelrec label`` reads from dataset files).

The format is found by content, not by extension alone, through the readers' own :meth:`DatasetReader.detect`:
``.txt`` is a PKU-MMD stream when its first line holds 150 numbers (whatever its name) and an MSR Action3D /
DailyActivity3D file when it carries their names; ``.json`` is NW-UCLA when it opens with the ``"skeletons"`` key;
``.skeleton`` is NTU RGB+D; ``.mat`` is UTD-MHAD; ``.csv`` is MSRC-12; ``.txt.xz`` a compressed PKU-MMD stream.
The recognising reader then reads the file (:meth:`DatasetReader.read_sequence`: the whole untrimmed stream of a
PKU-MMD file, the one clip of the other formats), so parsing stays in the readers.
"""

from __future__ import annotations

from pathlib import Path, PurePath

import skelrec.datasets  # noqa: F401  (registers the readers)
from skelrec.datasets.base import DATASETS, XZ_SUFFIX, DatasetReader, Sample
from skelrec.datasets.inspect import detect_readers
from skelrec.errors import SkelrecError

__all__ = ["KINECT_FPS", "is_recording", "read_recording", "recording_suffixes"]

KINECT_FPS = 30.0
"""Frame rate of Kinect v1/v2 skeleton streams, used for formats that do not record theirs (NW-UCLA, MSR Daily)."""

_NOT_RECORDINGS = ("video_folder", "ntu_npz")  # videos and .npz are not dataset recordings here (see label)


def recording_suffixes() -> tuple[str, ...]:
    """Lower-case suffixes of the skeleton file formats (``.skeleton``, ``.txt``, ``.json``, ``.mat``, ``.csv``,
    ``.xz``), taken from the registered readers' file patterns."""
    found = {_suffix(cls) for n, cls in DATASETS.items() if n not in _NOT_RECORDINGS}
    return tuple(sorted(s for s in found | {XZ_SUFFIX} if s))


def _suffix(cls: type[DatasetReader]) -> str:
    """The suffix of a reader's file pattern: ``.txt`` for ``*-[LMR].txt*``."""
    return PurePath(cls.file_glob).suffix.rstrip("*").lower()


def _readers(path: Path) -> list[type[DatasetReader]]:
    return [cls for cls in detect_readers(path) if cls.name not in _NOT_RECORDINGS]


def is_recording(path: Path) -> bool:
    """Whether ``path`` is a skeleton file of a supported format (a cheap look at its name and first bytes)."""
    return path.is_file() and path.suffix.lower() in recording_suffixes() and bool(_readers(path))


def read_recording(path: str | Path) -> tuple[DatasetReader, Sample]:
    """The whole recording of one skeleton file, and the reader that read it.

    Raises:
        SkelrecError: missing file, or a file no reader recognises (one line naming the formats its extension
            can hold and what they look like).
        DataFormatError: a recognised file that does not parse (file and line).
    """
    path = Path(path)
    if not path.is_file():
        raise SkelrecError(f"{path}: no such file")
    candidates = _readers(path)
    if not candidates:
        raise SkelrecError(f"{path}: {_unrecognised(path)}")
    first_error: SkelrecError | None = None
    for cls in candidates:  # NTU-60 and NTU-120 both recognise an A001-A060 file; the first that reads it wins
        try:
            reader = cls.for_file(path)
            return reader, reader.read_sequence(path)
        except SkelrecError as err:
            first_error = first_error or err
    assert first_error is not None
    raise first_error


def _unrecognised(path: Path) -> str:
    suffix = path.suffix.lower()
    same = [
        f"{cls.name} ({cls.file_glob})"
        for name, cls in sorted(DATASETS.items())
        if name not in _NOT_RECORDINGS and _suffix(cls) == suffix
    ]
    if suffix == ".txt":
        pku = "pku_mmd (150 numbers per line: 2 bodies x 25 joints x xyz, any name)"
        same = [pku, *(s for s in same if not s.startswith("pku_mmd"))]
    if suffix == ".json":
        same = ['nw_ucla (a JSON object with "file_name", "skeletons" [T][20][3], "label")']
    if not same:
        return (
            f"not a skeleton file of a supported format ({', '.join(recording_suffixes())}); "
            "skelrec label also takes videos and pose files (.npz)"
        )
    return f"a {suffix} file whose content matches no supported format; {suffix} files are read as {'; '.join(same)}"
