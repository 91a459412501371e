"""skelrec as a user without a clone gets it: a wheel installed in a fresh virtual environment outside the repository
labels a video with the shipped default model and serves the app.

The fresh environment gets skelrec from the wheel alone (``--no-deps``); its dependencies (torch, MediaPipe, Gradio,
...) come from the test's own environment through a path entry, so no package registry is needed. The editable
install of the repository is not visible there: no ``.pth`` of the test environment runs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest
from app_helpers import action_clip

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory) -> dict[str, Path]:
    """Build the wheel, make a venv outside the repository and install the wheel there."""
    tmp = tmp_path_factory.mktemp("wheel")
    # setuptools builds in ROOT/build and never empties it: a module moved or deleted since an earlier build would
    # still be packaged from there (a wheel a clean clone would not make)
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    dist = tmp / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, ROOT],
        capture_output=True,
        text=True,
        cwd=tmp,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next(dist.glob("skelrec-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    site = Path(
        subprocess.run(
            [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The dependencies, and only them: a plain path entry (the .pth files in that folder, the editable skelrec's
    # among them, are not processed).
    (site / "skelrec_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-deps", "-q", wheel],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    work = tmp / "work"
    work.mkdir()
    return {"venv": venv, "site": site, "wheel": wheel, "work": work}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "SKELREC_DEFAULT"))}
    return env | {"HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}


def _python(wheel_env, code: str) -> str:
    proc = subprocess.run(
        [wheel_env["venv"] / "bin" / "python", "-c", code],
        capture_output=True,
        text=True,
        cwd=wheel_env["work"],
        env=_env(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


def test_wheel_holds_the_package_the_app_and_the_models_and_no_app_package(wheel_env):
    out = _python(
        wheel_env,
        "import importlib.util, skelrec, skelrec_app; from skelrec.hub import DEFAULT_MODEL_DIR; "
        "print(skelrec.__file__); print(DEFAULT_MODEL_DIR); print(importlib.util.find_spec('app'))",
    )
    package, default_model, app_spec = out.splitlines()
    site = str(wheel_env["site"])
    assert package.startswith(site) and default_model.startswith(site), out
    assert (Path(default_model) / "model.safetensors").is_file()
    assert app_spec == "None", "the wheel must not install a top-level package called 'app'"


def test_installed_skelrec_labels_a_video_with_the_shipped_model(wheel_env):
    clip = action_clip(wheel_env["work"] / "person.mp4", "astronaut", "sway", seconds=2.5)
    out = wheel_env["work"] / "labels"
    proc = subprocess.run(
        [wheel_env["venv"] / "bin" / "skelrec", "label", clip, "--out", out],
        capture_output=True,
        text=True,
        cwd=wheel_env["work"],
        env=_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads((out / "person.json").read_text())
    assert result["model"]["source"] == "default"
    assert result["frames"] > 0 and result["windows"], result.keys()


def test_installed_skelrec_serves_the_app(wheel_env):
    port = _free_port()
    proc = subprocess.Popen(
        [wheel_env["venv"] / "bin" / "skelrec", "app", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=wheel_env["work"],
        env=_env(),
    )
    try:
        deadline = time.monotonic() + 180
        page = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    page = response.read().decode("utf-8", "replace")
                break
            except OSError:
                time.sleep(1)
        assert page is not None, f"the app did not answer (exit {proc.poll()})"
        assert "gradio" in page.lower()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
