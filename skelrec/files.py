"""Atomic file writes: the one way skelrec writes a file that a reader (or a re-run) must see whole or not at all.

A write goes to a temporary file in the destination's folder (``.<stem>.<random>.tmp<suffix>``: hidden, and with
the destination's suffix, so writers that choose a format by suffix, e.g. a video encoder, still work), is
fsynced, then moved into place with :func:`os.replace`. A failed write removes its temporary file; one left by a
killed process is found by :func:`remove_temporaries`.

* :func:`atomic_write`: ``write(tmp_path)`` — for libraries that take a path (safetensors, video encoders, zip).
* :func:`atomic_write_stream`: ``write(binary_file)`` — for ``np.save``, ``np.savez``, ``torch.save``.
* :func:`atomic_write_text`: a string.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "atomic_write_stream", "atomic_write_text", "fsync_dir", "remove_temporaries"]

_TEMPORARY = re.compile(r"\..+\.tmp(\.[^.]+)?")  # the names atomic_write gives its temporary files


def atomic_write(path: str | Path, write: Callable[[Path], object], *, sync_folder: bool = False) -> Path:
    """Call ``write(tmp)`` for a temporary path beside ``path`` (same suffix), fsync it, move it to ``path``.

    Args:
        path: the destination; its folder is created if missing.
        write: writes the whole content to the path it is given (an empty file exists there already).
        sync_folder: also fsync the folder after the rename, so the new name survives a power loss.

    Returns:
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        _fsync(tmp, os.O_RDWR)
        os.chmod(tmp, 0o644)  # mkstemp creates owner-only files
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if sync_folder:
        fsync_dir(path.parent)
    return path


def atomic_write_stream(path: str | Path, write: Callable[[IO[bytes]], object], *, sync_folder: bool = False) -> Path:
    """:func:`atomic_write` for a ``write(f)`` that writes to an open binary file."""

    def to_file(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            write(f)

    return atomic_write(path, to_file, sync_folder=sync_folder)


def atomic_write_text(path: str | Path, text: str, *, sync_folder: bool = False) -> Path:
    """:func:`atomic_write` of ``text`` in UTF-8."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), sync_folder=sync_folder)


def fsync_dir(path: str | Path) -> None:
    """Flush a folder's entries (new and renamed names) to disk."""
    _fsync(Path(path), os.O_RDONLY)


def remove_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files a killed :func:`atomic_write` left in ``folder``; returns them."""
    found = [p for p in Path(folder).iterdir() if _TEMPORARY.fullmatch(p.name) and p.is_file()]
    for p in found:
        p.unlink(missing_ok=True)
    return found


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
