"""skelrec.files: the one atomic-write helper."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from skelrec.files import atomic_write, atomic_write_stream, atomic_write_text, remove_temporaries


def test_text_write_replaces_whole_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "out.json"
    assert atomic_write_text(path, "one\n") == path
    atomic_write_text(path, "two\n")
    assert path.read_text(encoding="utf-8") == "two\n"
    assert [p.name for p in path.parent.iterdir()] == ["out.json"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # readable by others, as a plain open() would make it


def test_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path: Path) -> None:
    path = tmp_path / "frames.npy"
    atomic_write_stream(path, lambda f: np.save(f, np.arange(3)))

    def broken(f: object) -> None:
        f.write(b"half")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write_stream(path, broken)
    assert np.load(path).tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["frames.npy"]


def test_path_writer_sees_the_destination_suffix(tmp_path: Path) -> None:
    seen: list[str] = []
    atomic_write(tmp_path / "clip.mp4", lambda tmp: (seen.append(tmp.suffix), tmp.write_bytes(b"x")))
    assert seen == [".mp4"] and (tmp_path / "clip.mp4").read_bytes() == b"x"


def test_remove_temporaries_finds_what_a_killed_write_left(tmp_path: Path) -> None:
    def killed(tmp: Path) -> None:
        tmp.write_bytes(b"partial")
        for p in tmp.parent.iterdir():  # what SIGKILL would leave: a copy under the temporary name
            if p.name != "keep.npz":
                (tmp_path / "left").mkdir(exist_ok=True)
                (tmp_path / "left" / p.name).write_bytes(b"partial")
        raise RuntimeError

    (tmp_path / "keep.npz").write_bytes(b"done")
    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "shard-00001.npz", killed)
    left = tmp_path / "left"
    (left / "shard-00002.npz").write_bytes(b"done")
    (left / ".hidden").write_bytes(b"not ours")
    removed = remove_temporaries(left)
    assert len(removed) == 1 and removed[0].name.startswith(".shard-00001.") and removed[0].suffix == ".npz"
    assert sorted(p.name for p in left.iterdir()) == [".hidden", "shard-00002.npz"]
