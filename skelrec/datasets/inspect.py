"""``skelrec inspect``: what one skeleton file (any supported format) or one prepared cache folder holds.

The format of a file is found by asking every registered reader whether it recognises the file
(:meth:`DatasetReader.detect`, then :meth:`DatasetReader.accepts`); when several do (NTU-60 and NTU-120 share
``.skeleton``), the first that reads the file wins and the others are listed under ``also``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import skelrec.datasets  # noqa: F401  (registers the readers)
from skelrec.datasets.base import DATASETS, DatasetReader, Sample
from skelrec.datasets.cache import INFO, SHARDS_DIR, PreparedDataset
from skelrec.datasets.prepare import read_one
from skelrec.errors import SkelrecError
from skelrec.skeleton import get_layout

__all__ = ["detect_readers", "inspect_file"]


def inspect_file(path: str | Path) -> dict[str, Any]:
    """A JSON-ready description of a skeleton file or of a prepared cache folder.

    Keys for a file: ``format`` (reader name), ``file``, ``layout``, ``frames``, ``persons``, ``joints``,
    ``channels``, ``fps``; for a file holding one sample also ``name``, ``label``, ``label_name``, ``meta``; for a file
    holding several (an untrimmed PKU-MMD sequence with its labels): ``samples``, ``labelled_clips``,
    ``clip_frames``, ``classes``; ``left_out`` when the reader skipped clips or the file on purpose.

    Raises:
        SkelrecError: missing path, or a file no reader recognises (the message lists the supported formats).
        DataFormatError: a recognised file that does not parse (file and line).
    """
    path = Path(path)
    if not path.exists():
        raise SkelrecError(f"{path}: no such file or directory")
    if path.is_dir():
        return _inspect_cache(path)
    reader, samples, also = _read_detected(path)
    out: dict[str, Any] = {"format": reader.name, "file": str(path), "layout": reader.layout}
    if also:
        out["also"] = also
    out.update(_describe_one(samples[0]) if len(samples) == 1 else _describe_many(samples, reader))
    if reader.stats:
        out["left_out"] = dict(reader.stats)
    return out


def detect_readers(path: Path) -> list[type[DatasetReader]]:
    """Registered readers that recognise ``path`` by name/extension/content, in registry order."""
    return [cls for cls in DATASETS.values() if cls.detect(path)]


def _supported() -> str:
    formats = ", ".join(f"{name} ({cls.file_glob})" for name, cls in sorted(DATASETS.items()))
    return f"{formats}, or a folder written by `skelrec prepare`"


def _read_detected(path: Path) -> tuple[DatasetReader, list[Sample], list[str]]:
    """The first recognising reader that parses ``path``, its samples, and the other readers that recognise it."""
    first_error: SkelrecError | None = None
    candidates = detect_readers(path)
    for cls in candidates:
        try:
            reader = cls.for_file(path)
            if not reader.accepts(path):
                continue
            samples = read_one(reader, path)
        except SkelrecError as err:
            first_error = first_error or err
            continue
        return reader, samples, [c.name for c in candidates if c is not cls]
    if first_error is not None:
        raise first_error
    raise SkelrecError(f"{path}: not a skeleton file of a supported format; supported: {_supported()}")


def _describe_one(sample: Sample) -> dict[str, Any]:
    s = sample.summary()
    keys = ("frames", "persons", "joints", "channels", "fps", "name", "label", "label_name", "meta")
    return {k: s[k] for k in keys}


def _describe_many(samples: list[Sample], reader: DatasetReader) -> dict[str, Any]:
    """Several samples from one file (the labelled clips of an untrimmed sequence), or none (the reader left the
    file out, e.g. a PKU-MMD sequence without its label file: see ``left_out``). ``frames`` counts all clips."""
    out: dict[str, Any] = {
        "frames": sum(s.frames for s in samples),
        "persons": max((s.persons for s in samples), default=0),
        "joints": get_layout(reader.layout).num_joints,
        "channels": int(samples[0].data.shape[3]) if samples else None,
        "fps": samples[0].fps if samples else reader.fps,
        "samples": len(samples),
        "labelled_clips": sum(s.label is not None for s in samples),
    }
    if samples:
        out["clip_frames"] = f"{min(s.frames for s in samples)}-{max(s.frames for s in samples)}"
        out["classes"] = sorted({s.label_name or str(s.label) for s in samples if s.label is not None})
    return out


def _inspect_cache(root: Path) -> dict[str, Any]:
    if not (root / INFO).exists() and not any(root.glob("*.npy")) and not (root / SHARDS_DIR).is_dir():
        raise SkelrecError(f"{root}: a folder, but not a prepared cache; pass one skeleton file ({_supported()})")
    ds = PreparedDataset(root)
    info = ds.info
    return {
        "format": f"skelrec cache (format {info['format']})",
        "file": str(root),
        "dataset": info["dataset"],
        "layout": info["layout"],
        "samples": len(ds),
        "frames": info["frames"],
        "persons": info["persons"],
        "joints": info["joints"],
        "channels": info["channels"],
        "fps": info["fps"],
        "classes": len(info["classes"]),
        "labelled": int(np.sum(ds.labels >= 0)),
        "splits": {p: f"train {c['train']}, test {c['test']}" for p, c in info["protocols"].items()},
        "skipped": len(info["skipped_files"]),
        "created": info["created"],
        "version": info["skelrec_version"],
    }
