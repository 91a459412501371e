"""Shared by the app tests (``test_app.py``, ``test_app_browser.py``): a test model, test videos, a launched app.

The model is a classifier with random weights, built through :mod:`skelrec.models` and saved with
:mod:`skelrec.hub`: it exercises the whole pipeline; its labels mean nothing. The Teach tab's tests use its encoder
as the base and clips of two public-domain photos of a person, filmed by a moving camera (:func:`action_clip`).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import av
import gradio as gr
import numpy as np
import pytest
import torch

from skelrec.hub import architecture, loading, save_checkpoint, save_pretrained
from skelrec.models import Classifier, build_encoder, build_head
from skelrec.video import write_video

LABELS = ["wave", "clap", "jump"]
TEACH_ACTIONS = {"wave": ("astronaut", "sway"), "bow": ("camera", "tilt")}
"""Actions taught in the app tests: the photo and the camera motion of their clips (:func:`action_clip`)."""


def random_classifier(folder: Path, *, repo_id: str | None = None, min_confidence: float | None = None) -> Path:
    """A tiny transformer classifier over ``ntu25`` skeletons (16-frame clips of 1 s), random weights.

    With ``repo_id``, saved by ``save_pretrained`` with a model card naming that repo; else a bare checkpoint.
    ``min_confidence`` is stored as a calibrated "no action" threshold would be.
    """
    torch.manual_seed(0)
    encoder = build_encoder(
        "transformer", in_channels=3, num_joints=25, num_frames=16, depth=1, embed_dim=16, num_heads=2
    )
    model = Classifier(encoder, build_head("linear", in_dim=16, num_classes=len(LABELS), batch_norm=False))
    config = {
        **architecture(model),
        "layout": "ntu25",
        "normalization": {"center": "frame", "scale": "torso"},
        "clip_length": 16,
        "clip_seconds": 1.0,
        "num_persons": 1,
        "labels": LABELS,
    }
    if min_confidence is not None:
        config["min_confidence"] = min_confidence
    if repo_id is not None:
        return save_pretrained(folder, model.state_dict(), config, "Random weights, for tests.", repo_id=repo_id)
    return save_checkpoint(folder, model.state_dict(), config)


def noise_video(path: Path, seconds: float, size: int = 64, fps: float = 30.0) -> Path:
    """Random pixels: a valid video in which nobody can be found."""
    rng = np.random.default_rng(0)
    frames = (rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(round(seconds * fps)))
    return write_video(path, frames, fps=fps)


def live_webm(path: Path, seconds: float, size: int = 64, fps: int = 30) -> Path:
    """A WebM written as a live stream, which stores no duration (like a browser's webcam recording)."""
    with av.open(str(path), "w", format="webm", options={"live": "1"}) as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size, size, "yuv420p"
        for i in range(round(seconds * fps)):
            frame = np.full((size, size, 3), (i * 7) % 256, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def action_clip(path: Path, photo: str, motion: str, *, seconds: float = 1.2, fps: float = 15, seed: int = 0) -> Path:
    """A still public-domain photo of a person, scikit-image's ``astronaut`` or ``camera`` (a cameraman), filmed by a
    camera that sways sideways (``sway``) or tilts (``tilt``); ``seed`` changes the speed (a different clip)."""
    from PIL import Image
    from skimage import data

    img = Image.fromarray(getattr(data, photo)()).convert("RGB")  # (512, 512, 3)
    speed = 1.0 + 0.2 * seed

    def frames() -> Iterator[np.ndarray]:
        for i in range(round(seconds * fps)):
            a = np.sin(2 * np.pi * speed * i / fps)
            view = img.rotate(25 * a, center=(256, 200)) if motion == "tilt" else img
            dx = round(30 * a) if motion == "sway" else 0
            yield np.asarray(view.crop((30 + dx, 10, 480 + dx, 460)).resize((192, 192)))

    return write_video(path, frames(), fps=fps)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(tmp: Path, **options: Any) -> Iterator[gr.Blocks]:
    """The app launched in this process on a free port (``options``: those of :func:`skelrec_app.main.launch`).

    The skelrec cache (the example video) goes to ``tmp``, and the embedded default model is made absent, so the
    "no model" message is shown whatever ``weights/default`` holds.
    """
    from skelrec_app.main import launch  # here, not at the top: the other users of these helpers need no app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SKELREC_CACHE", str(tmp / "cache"))
        patch.setattr(loading, "DEFAULT_MODEL_DIR", tmp / "no-default-model")
        demo = launch(port=free_port(), workdir=tmp / "work", prevent_thread_lock=True, **options)
        try:
            yield demo
        finally:
            demo.close()
