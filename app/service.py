"""What the web app does behind the page: load a model, label one video, present the result.

:class:`LabelingService` keeps a few loaded models (a small LRU cache), checks an input video, runs the
:class:`~skelrec.labeling.Labeler` with the settings a user chose, and writes every output of a run: the overlay
video (:func:`skelrec.labeling.render.render_overlay`) and the JSON and CSV files ``skelrec label`` writes
(:func:`skelrec.labeling.write_outputs`). :class:`RunOutputs` turns the result into what the page shows: top-k
scores of the whole clip, a per-window probability timeline and the segment table. Every bad input (not a video,
corrupt, too long, nobody in view, an unusable model) raises a one-line :class:`~skelrec.errors.SkelrecError`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import math
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from skelrec.errors import SkelrecError
from skelrec.hub.loading import LoadedModel, from_pretrained
from skelrec.labeling import (
    DEFAULT_STRIDE,
    NO_PERSON_FOUND,
    SMOOTHERS,
    Labeler,
    LabelResult,
    PoseOptions,
    decide,
    write_outputs,
)
from skelrec.labeling.render import render_overlay
from skelrec.video import VideoInfo, open_video

__all__ = [
    "DEFAULT_MAX_SECONDS",
    "OUTPUT_FORMATS",
    "SEGMENT_COLUMNS",
    "SMOOTHING_CHOICES",
    "TIMELINE_COLUMNS",
    "WEBCAM_RECORDING_MIRRORED",
    "LabelingService",
    "RunOutputs",
    "RunSettings",
    "check_length",
    "describe_model",
    "device_choices",
    "device_status",
    "frame_cap",
    "model_card_text",
    "prune_old_entries",
    "release_memory",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_SECONDS = 120.0
"""Longest video the app labels by default (seconds); ``skelrec app --max-seconds`` changes it."""

OUTPUT_FORMATS = ("json", "csv")
"""Result files offered for download (written by the same writers as ``skelrec label``)."""

SEGMENT_COLUMNS = ["start", "end", "label", "score", "state"]
TIMELINE_COLUMNS = ["time", "window", "probability", "class"]

FASTEST_FPS = 60.0
"""Highest frame rate assumed when bounding the frames of a video by ``max_seconds`` (see :func:`frame_cap`)."""

SMOOTHING_CHOICES = [*SMOOTHERS, "moving_average:5", "ema:0.3"]
"""Smoothing settings offered in the app: every registered method, and two with a parameter (any
``name[:parameter]`` is accepted, see :meth:`~skelrec.labeling.Smoothing.parse`)."""

WEBCAM_RECORDING_MIRRORED = False
"""Whether a webcam recording made in the app's video component is mirrored. Gradio mirrors only the live preview
(CSS); the browser records the camera's own, unmirrored stream, and Gradio flips the file only for components whose
sole source is the webcam (this app also accepts uploads). ``tests/test_app_browser.py`` checks this with a fake
camera."""

ProgressCallback = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; stages ``decode``, ``pose``, ``classify``, ``render``, ``write``."""


def _quiet(stage: str, done: int, total: int) -> None:
    pass


# ------------------------------------------------------------------------------------------------------------------
# Models and devices.
# ------------------------------------------------------------------------------------------------------------------


def device_choices() -> list[str]:
    """Devices a user can pick: ``auto``, ``cpu`` and ``cuda`` when a CUDA GPU is present."""
    return ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def device_status() -> str:
    """One line saying whether a GPU is used, e.g. ``"GPU: NVIDIA L4 (CUDA 12.8), used by auto and cuda"``."""
    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda}), used by auto and cuda"
    return "No GPU found: everything runs on the CPU"


def describe_model(loaded: LoadedModel, shown: str) -> str:
    """Markdown: the model (``shown``: its name on the page), its device and input, and its labels (collapsed)."""
    cfg = loaded.config
    where = shown if loaded.commit is None else f"{shown} @ {loaded.commit[:10]}"
    device = next(loaded.model.parameters()).device
    labels = list(cfg.labels or [])
    return (
        f"**Model** `{where}` on `{device}`: layout `{cfg.layout}`, "
        f"clip of {cfg.clip_length} frames.\n\n"
        f"<details><summary><b>{len(labels)} labels</b></summary>\n\n{', '.join(labels)}\n\n</details>"
    )


def model_card_text(loaded: LoadedModel) -> str:
    """The model card (``README.md``) without its YAML front matter, or a note that the checkpoint has none."""
    card = loaded.folder / "README.md"
    if not card.is_file():
        return "_This checkpoint has no model card (README.md)._"
    text = card.read_text(encoding="utf-8")
    if text.startswith("---"):
        _, _, rest = text[3:].partition("\n---")
        text = rest.lstrip("\n") if rest else text
    return text


# ------------------------------------------------------------------------------------------------------------------
# One run.
# ------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSettings:
    """The labeling settings a user chooses per run (see :class:`~skelrec.labeling.Labeler`)."""

    window_stride: float = DEFAULT_STRIDE
    smoothing: str = "moving_average"
    min_confidence: float | None = None  # None: the model's calibrated threshold (config.json), else 0.4
    mirrored: bool = False


@dataclass
class RunOutputs:
    """What one run produced: the result, the overlay video and the result files, and how long it took."""

    result: LabelResult
    overlay: Path
    files: dict[str, Path]
    seconds: float

    def _seen(self) -> np.ndarray:
        """``(W,)`` whether each window had a person in view (the windows the model was asked about)."""
        return np.array([d.state != "no_person" for d in self.result.decisions], bool)

    def _mean(self) -> np.ndarray:
        """``(K,)`` mean smoothed probability of every class over the windows with a person in view."""
        return self.result.smoothed[self._seen()].mean(axis=0)

    def whole_clip(self, k: int = 5) -> dict[str, Any]:
        """The whole clip as the page's headline: ``{"label": ..., "confidences": [{label, confidence}]}``.

        The headline is the segments' decision rule (:func:`~skelrec.labeling.decide`, the run's minimum
        confidence) applied to the mean smoothed probabilities of the windows with a person; the confidences are
        those means, top ``k``. A clip whose every window is ``no action`` is ``no action`` as a whole, and one whose
        every window is one action is that action.
        """
        r, mean = self.result, self._mean()
        decision = decide(mean[None], np.ones(1), r.labels, min_confidence=r.settings["min_confidence"], min_visible=0)
        order = np.argsort(-mean, kind="stable")[:k]
        confidences = [{"label": r.labels[i], "confidence": round(float(mean[i]), 4)} for i in order]
        return {"label": decision[0].label, "confidences": confidences}

    def timeline(self, top: int = 5) -> pd.DataFrame:
        """Smoothed probabilities of the clip's ``top`` classes per window with a person in view.

        Long format, one row per (window, class): ``time`` (window centre, s), ``window`` (its span, e.g.
        ``"0.0-1.0 s"``), ``probability``, ``class``.
        """
        r = self.result
        classes = np.argsort(-self._mean(), kind="stable")[:top]  # the classes of the headline, in its order
        rows = [
            {
                "time": round(w.center, 3),
                "window": f"{w.start:.1f}-{w.end:.1f} s",
                "probability": float(r.smoothed[i, k]),
                "class": r.labels[k],
            }
            for i, (w, seen) in enumerate(zip(r.windows, self._seen(), strict=True))
            if seen
            for k in classes
        ]
        return pd.DataFrame(rows, columns=TIMELINE_COLUMNS).astype({"time": float, "probability": float})

    def segment_table(self) -> pd.DataFrame:
        """The segments, one row each: start, end (s), label, score, state."""
        return pd.DataFrame([s.to_dict() for s in self.result.segments], columns=SEGMENT_COLUMNS)

    def describe(self) -> str:
        """One line: frames, duration, device, time taken, person visibility and number of action segments."""
        r, p = self.result, self.result.pose
        actions = sum(s.state == "action" for s in r.segments)
        seconds = r.segments[-1].end if r.segments else 0.0  # the labelled time line (containers may lack one)
        return (
            f"Labelled {p.frames_processed} frames ({seconds:.1f} s) on {r.model['device']} in "
            f"{self.seconds:.1f} s: a person is in view in {p.frames_with_person} of them; "
            f"{actions} action segment{'s' * (actions != 1)}."
        )


def check_length(video: str | Path, max_seconds: float | None, seconds: float | None = None) -> VideoInfo:
    """Open ``video`` (raises for a missing, non-video or undecodable file) and check it is short enough.

    ``seconds``: a length measured otherwise (the time of the last frame processed), instead of the container's.
    """
    info = open_video(video).info
    length = f"{info.duration:.1f} s" if seconds is None else f"at least {seconds:.1f} s"
    if max_seconds is not None and (info.duration if seconds is None else seconds) > max_seconds:
        raise SkelrecError(
            f"{video}: the video lasts {length}, longer than the limit of {max_seconds:g} s; trim it, or start "
            "the app with a larger --max-seconds"
        )
    return info


def frame_cap(info: VideoInfo, max_seconds: float | None) -> int | None:
    """The most frames a video within ``max_seconds`` can have, at its frame rate or :data:`FASTEST_FPS`.

    Containers that store no duration (browser webcam recordings in WebM) report a length of about one frame,
    which passes any limit; processing at most this many frames keeps the work bounded, and the time of the last
    processed frame tells whether the video was longer.
    """
    return None if max_seconds is None else math.ceil(max_seconds * max(info.fps, FASTEST_FPS)) + 1


class LabelingService:
    """Labels videos for the app: cached models, one work folder, old outputs removed after a while.

    Args:
        workdir: folder for the pose cache (``poses/``) and the outputs of runs (``runs/<id>/``).
        max_seconds: longest video accepted (``None``: any length).
        max_models: loaded models kept in memory (least recently used ones are dropped).
        keep_seconds: outputs and cached poses older than this are deleted when a new run starts.
    """

    def __init__(
        self,
        workdir: str | Path,
        *,
        max_seconds: float | None = DEFAULT_MAX_SECONDS,
        max_models: int = 2,
        keep_seconds: float = 3600.0,
    ) -> None:
        if max_seconds is not None and max_seconds <= 0:
            raise SkelrecError(f"max_seconds must be > 0, got {max_seconds}")
        self.workdir = Path(workdir)
        self.runs, self.poses = self.workdir / "runs", self.workdir / "poses"
        self.runs.mkdir(parents=True, exist_ok=True)
        self.max_seconds, self.max_models, self.keep_seconds = max_seconds, max(1, max_models), keep_seconds
        self._models: OrderedDict[tuple[str | None, str], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, model: str | None = None, device: str = "auto") -> LoadedModel:
        """The model ``model`` (``None``: the default; a folder; a Hub repo id) on ``device``, loaded once.

        Raises:
            SkelrecError: unknown device, no default model, an unknown/unreachable repo, a checkpoint without a
                classification head or labels (the labeler's checks).
        """
        if device not in device_choices():
            raise SkelrecError(f"device {device!r} is not available here; choose one of {', '.join(device_choices())}")
        key = (model, device)
        with self._lock:  # one download at a time; concurrent requests for the same model wait for it
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            loaded = from_pretrained(model, device=device)
            Labeler(loaded)  # the labeler's checks: a classifier with labels, a layout MediaPipe poses can give
            self._models[key] = loaded
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)
            return loaded

    def label(
        self,
        video: str | Path,
        *,
        model: str | None = None,
        device: str = "auto",
        settings: RunSettings | None = None,
        progress: ProgressCallback | None = None,
        name: str | None = None,
        shown_model: str | None = None,
    ) -> RunOutputs:
        """Label one video and write the overlay video and the result files into a new run folder.

        ``name`` (default: the file's name) is the video's name in the results and the stem of their files, and
        ``shown_model`` (default: ``model``) the model's: the outputs hold no server path.

        Raises:
            SkelrecError: the video is missing, not a video, corrupt, too long or shows nobody; the model or a
                setting is unusable.
        """
        try:
            name = name or Path(video).name
            shown_model = shown_model or model or "default"
            return self._label(video, model, device, settings or RunSettings(), progress or _quiet, name, shown_model)
        finally:
            release_memory()

    def _label(
        self,
        video: str | Path,
        model: str | None,
        device: str,
        settings: RunSettings,
        report: ProgressCallback,
        name: str,
        shown_model: str,
    ) -> RunOutputs:
        start = time.perf_counter()
        prune_old_entries(self.runs, self.keep_seconds)
        prune_old_entries(self.poses, self.keep_seconds)
        report("decode", 0, 1)
        info = check_length(video, self.max_seconds)
        labeler = Labeler(
            self.load(model, device),
            stride=settings.window_stride,
            smoothing=settings.smoothing,
            min_confidence=settings.min_confidence,
            mirrored=settings.mirrored,
            pose=PoseOptions(max_frames=frame_cap(info, self.max_seconds)),
            pose_cache=self.poses,
        )
        report("decode", 1, 1)
        result = labeler.label(video, progress=report)
        if result.poses is not None and result.poses.num_frames:
            check_length(video, self.max_seconds, seconds=float(result.poses.times[-1]))
        if result.status == NO_PERSON_FOUND:
            raise SkelrecError(
                f"{video}: no person found in any of its {result.pose.frames_processed} frames; film a person with "
                "head, shoulders and hips in view, in good light"
            )
        result = replace(result, video=name, model={**result.model, "source": shown_model})
        out = Path(tempfile.mkdtemp(prefix="run-", dir=self.runs))
        stem = Path(name).stem
        overlay = render_overlay(video, result, out / f"{stem}.mp4", progress=report)
        report("write", 0, 1)
        files = write_outputs(result, out, stem, OUTPUT_FORMATS)
        report("write", 1, 1)
        return RunOutputs(result, overlay, files, time.perf_counter() - start)


def release_memory() -> None:
    """Return freed heap memory to the operating system (glibc's ``malloc_trim``; nothing elsewhere).

    Pose estimation in several server threads leaves freed memory in glibc's per-thread arenas: without this the
    app's resident memory grew by ~130 MB per four requests in ``tests/test_app.py``'s concurrency test.
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def prune_old_entries(folder: Path, max_age_s: float) -> None:
    """Delete the entries of ``folder`` last modified more than ``max_age_s`` seconds ago."""
    if not folder.is_dir():
        return
    cutoff = time.time() - max_age_s
    for entry in folder.iterdir():
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        except FileNotFoundError:  # another request removed it first
            continue
