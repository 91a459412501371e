"""MediaPipe's native start-up notices are dropped from stderr; errors and everything else still get through."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from skelrec.pose.native_log import is_native_noise

ROOT = Path(__file__).resolve().parent.parent

# what mediapipe 0.10.21 prints on descriptor 2 when a Pose graph starts (copied from a real run)
NOTICES = [
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"W0000 00:00:1796668359.270471    6911 inference_feedback_manager.cc:114] Feedback manager requires a model with "
    b"a single signature inference. Disabling support for feedback tensors.",
    b"I0000 00:00:1796668359.409796    6911 gl_context.cc:357] GL version: 3.2",
]
KEPT = [
    b"E0000 00:00:1796668359.409796    6911 calculator_graph.cc:887] INTERNAL: graph failed",
    b"F0000 00:00:1796668359.409796    6911 pose.cc:12] Check failed: x",
    b"ERROR: a model file could not be read",
    b"W0000 is not a log line without its time and source",
]

_CHILD = """
import os, sys
from skelrec.pose.native_log import quiet_native_stderr, separate_python_stderr
separate_python_stderr()
print("python before", file=sys.stderr)
with quiet_native_stderr():
    for line in {lines!r}:
        os.write(2, line + b"\\n")  # as native code writes: straight to descriptor 2
        print("python inside", file=sys.stderr)
os.write(2, b"native after\\n")
"""


def test_noise_pattern():
    assert all(is_native_noise(line) for line in NOTICES)
    assert not any(is_native_noise(line) for line in KEPT)


def test_quiet_native_stderr_drops_only_notices():
    lines = [NOTICES[0], KEPT[0], NOTICES[2], KEPT[1], KEPT[2]]
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD.format(lines=lines)], capture_output=True, cwd=ROOT, timeout=60, check=True
    )
    err = proc.stderr.decode().splitlines()
    native = [line for line in err if not line.startswith("python")]
    assert native == [KEPT[0].decode(), KEPT[1].decode(), KEPT[2].decode(), "native after"]
    assert err.count("python inside") == 5 and err[0] == "python before"  # Python's own output is not held back
