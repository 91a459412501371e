"""The real ``skelrec`` command on bad input: exit code non-zero, ONE stderr line ``error: ...`` naming the file
(and the line where there is one), never a traceback. The bad files are synthetic, written in each reader's format."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import scipy.io

import skelrec.datasets  # noqa: F401  (registers the readers)
from skelrec.datasets.base import DATASETS

ROOT = Path(__file__).resolve().parent.parent


def skelrec_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("skelrec")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "skelrec.cli"]


def run_skelrec(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*skelrec_cmd(), *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *parts: str) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]


# -------------------------------------------------------------------------------------------------------------
# Synthetic files in the formats of the readers.
# -------------------------------------------------------------------------------------------------------------


def ntu_lines(frames: int = 3, joints: int = 25) -> list[str]:
    """An NTU RGB+D .skeleton file: frame count; per frame body count, body line (10 fields), joint count, joints."""
    rng = np.random.default_rng(0)
    lines = [str(frames)]
    for _ in range(frames):
        lines += ["1", "72057594037931101 0 1 1 1 1 0 0.01 -0.2 2", str(joints)]
        for _ in range(joints):
            xyz = rng.uniform(-1, 1, 3) + np.array([0, 0, 3])
            lines.append(" ".join(f"{v:.5f}" for v in (*xyz, 250, 200, 900, 500, 0.1, 0.2, 0.3, 0.9)) + " 2")
    return lines


def msr_lines(frames: int = 2) -> list[str]:
    """An MSR Action3D real-world-coordinates file: 20 rows ``x y z confidence`` per frame."""
    rng = np.random.default_rng(1)
    return [" ".join(f"{v:.4f}" for v in (*rng.uniform(-1, 1, 3), 1.0)) for _ in range(frames * 20)]


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def replace_token(lines: list[str], line_no: int, column: int, token: str) -> list[str]:
    """``lines`` with token ``column`` of 1-based line ``line_no`` replaced."""
    out = list(lines)
    tokens = out[line_no - 1].split()
    tokens[column] = token
    out[line_no - 1] = " ".join(tokens)
    return out


NTU = "S001C001P001R001A001.skeleton"
MSR = "a01_s01_e01_skeleton3D.txt"


@dataclass
class Case:
    """A bad input: the reader it needs, how to write it, the command, and what the error line must contain."""

    reader: str | None
    make: Callable[[Path], tuple[list[str | Path], list[str]]]


def _inspect(path: Path, *parts: str) -> tuple[list[str | Path], list[str]]:
    return ["inspect", path], [str(path), *parts]


CASES: dict[str, Case] = {
    # NTU .skeleton: line 1 frames, 2 body count, 3 body line, 4 joint count, 5.. joints (27 lines per frame + 1)
    "ntu-truncated": Case(
        "ntu60", lambda d: _inspect(write(d / NTU, ntu_lines()[:-5]), ":81: file ends after line 80, inside frame 3")
    ),
    "ntu-wrong-joint-count": Case(
        "ntu60", lambda d: _inspect(write(d / NTU, ntu_lines(joints=24)), ":4: joint count 24; expected 25")
    ),
    "ntu-non-numeric": Case(
        "ntu60",
        lambda d: _inspect(write(d / NTU, replace_token(ntu_lines(), 9, 1, "2x")), ":9: non-numeric value '2x'"),
    ),
    "ntu-nan": Case(
        "ntu60", lambda d: _inspect(write(d / NTU, replace_token(ntu_lines(), 40, 2, "nan")), ":40: NaN or infinite")
    ),
    "ntu-empty": Case("ntu60", lambda d: _inspect(write(d / NTU, []), "file is empty")),
    "msr-non-numeric": Case(
        "msr_action3d",
        lambda d: _inspect(write(d / MSR, replace_token(msr_lines(), 7, 0, "abc")), ":7: non-numeric value 'abc'"),
    ),
    "msr-inf": Case(
        "msr_action3d",
        lambda d: _inspect(write(d / MSR, replace_token(msr_lines(), 33, 1, "inf")), ":33: NaN or infinite"),
    ),
    "msr-wrong-column-count": Case(
        "msr_action3d", lambda d: _inspect(write(d / MSR, [*msr_lines(), "0.1 0.2"]), ":41: found 2 values")
    ),
    "utd-wrong-joint-count": Case("utd_mhad", lambda d: _inspect(_utd(d, np.ones((19, 3, 5))), "shape (19, 3, 5)")),
    "utd-not-a-mat-file": Case("utd_mhad", lambda d: _inspect(write(d / "a1_s1_t1_skeleton.mat", ["hello"]))),
    "nw-ucla-nan": Case("nw_ucla", lambda d: _inspect(_ucla(d, float("nan")), "[2][5][1]")),
    "pku-short-line": Case(
        "pku_mmd", lambda d: _inspect(write(d / "0002-L.txt", ["0.5 " * 150, "0.5 " * 149]), ":2: found 149 values")
    ),
    "msrc12-short-line": Case(
        "msrc12",
        lambda d: _inspect(
            write(d / "P1_1_1_p06.csv", ["0 " + "0.5 " * 80, "1 " + "0.5 " * 79]), ":2: found 80 values"
        ),
    ),
    "msr-daily-wrong-joint-count": Case(
        "msr_daily", lambda d: _inspect(write(d / "a03_s01_e01_skeleton.txt", ["1 25", "40"]), ":1: joint count 25")
    ),
    "msr-daily-truncated": Case(
        "msr_daily",
        lambda d: _inspect(
            write(d / "a03_s01_e01_skeleton.txt", ["2 20", "40", *["0.1 0.2 3 1"] * 40, "40", "0.1 0.2 3 1"]),
            ":44: file ends inside frame 1",
        ),
    ),
    "ntu-npz-wrong-shape": Case(
        "ntu_npz", lambda d: _inspect(_npz(d, np.ones((2, 5, 74))), "x_train has shape (2, 5, 74)")
    ),
    "ntu-npz-inf": Case(
        "ntu_npz", lambda d: _inspect(_npz(d, np.full((2, 5, 150), np.inf)), "x_train[0] has NaN or inf")
    ),
    "unknown-format": Case(None, lambda d: _inspect(write(d / "notes.xyz", ["1 2 3"]), "not a skeleton file", "ntu60")),
    "missing-path": Case(None, lambda d: _inspect(d / "nothing.skeleton", "no such file or directory")),
    "folder-without-cache": Case(None, lambda d: _inspect(write(d / "x" / "a.txt", ["1"]).parent, "not a prepared")),
    "prepare-folder-without-dataset": Case(
        "utd_mhad",
        lambda d: (
            ["prepare", "utd_mhad", "--raw", write(d / "raw" / "notes.txt", ["x"]).parent, "--out", d / "out"],
            [str(d / "raw"), "holds no utd_mhad files"],
        ),
    ),
    "prepare-wrong-dataset-name": Case(
        None,
        lambda d: (["prepare", "ntu61", "--raw", d, "--out", d / "out"], ["unknown dataset 'ntu61'", "ntu60"]),
    ),
    "prepare-missing-raw": Case(
        "utd_mhad",
        lambda d: (["prepare", "utd_mhad", "--raw", d / "gone", "--out", d / "out"], [str(d / "gone"), "no such"]),
    ),
    "prepare-bad-file": Case("msr_action3d", lambda d: _prepare_with_bad_file(d)),
    "inspect-incomplete-cache": Case(
        None,
        lambda d: _inspect(
            write(d / "cache" / "shards" / "manifest.json", ['{"dataset": "ntu60"}']).parent.parent,
            "incomplete prepared cache",
            "skelrec prepare ntu60",
        ),
    ),
}


def _prepare_with_bad_file(d: Path) -> tuple[list[str | Path], list[str]]:
    write(d / "raw" / MSR, msr_lines())  # a good file first
    bad = write(d / "raw" / "a02_s01_e01_skeleton3D.txt", replace_token(msr_lines(), 12, 2, "x"))
    argv: list[str | Path] = ["prepare", "msr_action3d", "--raw", d / "raw", "--out", d / "out", "--workers", "1"]
    return argv, [f"{bad}:12: non-numeric value 'x'"]


def _npz(d: Path, x_train: np.ndarray) -> Path:
    """A CTR-GCN style NTU .npz (x_train/x_test (N, T, M*75), one-hot y)."""
    path = d / "NTU60_CS.npz"
    y = np.eye(60)[[0, 1]]
    np.savez(path, x_train=x_train, y_train=y, x_test=np.ones((2, 5, 150)), y_test=y)
    return path


def _utd(d: Path, d_skel: np.ndarray) -> Path:
    path = d / "a1_s1_t1_skeleton.mat"
    scipy.io.savemat(path, {"d_skel": d_skel})
    return path


def _ucla(d: Path, value: float) -> Path:
    skeletons = np.ones((4, 20, 3)).tolist()
    skeletons[2][5][1] = value
    path = d / "a01_s01_e00_v01.json"
    path.write_text(json.dumps({"file_name": "a01_s01_e00_v01", "skeletons": skeletons, "label": 1}))
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_one_line_error(case, tmp_path):
    spec = CASES[case]
    if spec.reader is not None and spec.reader not in DATASETS:
        pytest.skip(f"reader {spec.reader} is not registered")
    argv, parts = spec.make(tmp_path)
    assert_one_line_error(run_skelrec(*argv), *parts)


@pytest.mark.slow
def test_synthetic_files_are_valid_before_they_are_broken(tmp_path):
    """The generators above write files the readers accept, so each case tests the one defect it adds."""
    good = [write(tmp_path / NTU, ntu_lines()), write(tmp_path / MSR, msr_lines())]
    good += [_utd(tmp_path, np.ones((20, 3, 5))), _ucla(tmp_path, 1.0), _npz(tmp_path, np.ones((2, 5, 150)))]
    for path in good:
        proc = run_skelrec("inspect", "--json", path)
        assert proc.returncode == 0, proc.stderr
        info = json.loads(proc.stdout)
        assert info["frames"] >= 2 and info["joints"] in (20, 25), info


@pytest.mark.parametrize("args", [[], ["prepare"], ["inspect"]], ids=["main", "prepare", "inspect"])
def test_help_works(args):
    proc = run_skelrec(*args, "--help")
    assert proc.returncode == 0 and "Usage" in proc.stdout and "Traceback" not in proc.stderr
    if args == ["prepare"]:
        assert "--skip-bad" in proc.stdout and "--force" in proc.stdout and "--workers" in proc.stdout
