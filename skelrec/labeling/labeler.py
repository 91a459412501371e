"""The labeler: video -> poses -> model-layout skeletons -> sliding windows -> class probabilities -> segments.

Skeleton files (dataset recordings, read by :mod:`skelrec.datasets`) enter at the model-layout step
(:meth:`Labeler.label_skeleton`) and share everything after it with videos.

The one entry point used by ``skelrec label`` and the app::

    labeler = Labeler.from_pretrained("owner/name")        # or a folder, or None for the embedded default
    result = labeler.label("clip.mp4")                      # -> LabelResult (segments, windows, pose statistics)

Steps, each in its own module: pose extraction (:func:`skelrec.pose.extract_poses`, cached by content), conversion
to the model's layout with the checkpoint's normalization (:class:`~skelrec.labeling.inputs.ModelInput`, the
training evaluation pipeline), windows in seconds (:mod:`~skelrec.labeling.windows`), batched inference on the
chosen device, smoothing (:mod:`~skelrec.labeling.smoothing`), decisions and segments
(:mod:`~skelrec.labeling.segments`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skelrec.checkpoint import WEIGHTS_NAME
from skelrec.devices import resolve_device
from skelrec.errors import SkelrecError
from skelrec.hub.loading import LoadedModel, from_pretrained
from skelrec.labeling.inputs import ModelInput
from skelrec.labeling.result import LabelResult, PoseStats
from skelrec.labeling.segments import TOO_SHORT, Decision, decide, merge_segments
from skelrec.labeling.smoothing import Smoothing
from skelrec.labeling.windows import Window, frame_period, plan_windows, visible_fraction
from skelrec.models import Classifier
from skelrec.pose import (
    Detection,
    PoseEstimator,
    PoseOptions,
    PoseSequence,
    create_estimator,
    extract_poses,
    file_digest,
)
from skelrec.pose.base import FrameDetector
from skelrec.skeleton import convert, get_layout, valid_mask
from skelrec.video import Frame, VideoInfo, VideoReader, open_video

__all__ = [
    "DEFAULT_MIN_CONFIDENCE",
    "DEFAULT_SKELETON_FPS",
    "DEFAULT_STRIDE",
    "MIN_WINDOW_FRACTION",
    "Labeler",
    "PoseOptions",
    "ProgressCallback",
]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]
"""``progress(stage, done, total)`` with stage ``"pose"`` (frames), ``"classify"`` (windows) or ``"render"``."""

DEFAULT_STRIDE = 0.5
"""Seconds between window starts when none is given (at most the window length)."""

DEFAULT_SKELETON_FPS = 30.0
"""Frame rate of a skeleton file whose format records none: Kinect v1 and v2 stream at 30 frames per second."""

DEFAULT_MIN_CONFIDENCE = 0.4
"""The "no action" threshold when neither the caller nor the checkpoint (``config["min_confidence"]``) sets one."""

MIN_WINDOW_FRACTION = 0.5
"""A video (or pose stream) shorter than this fraction of the model's window is ``too_short`` and not labelled: with
less than half a clip, most of what the model was trained to see is missing (a training clip of a 2.2 s window
resampled from 1 s of motion is stretched beyond the speeds the augmentations cover), and a 1-frame input has no
motion at all."""


class Labeler:
    """Labels videos (or pose sequences) with a classifier checkpoint.

    Args:
        loaded: a model from :func:`skelrec.hub.from_pretrained` (a classifier with labels).
        window: window length in seconds; default: the checkpoint's clip duration (:func:`~.inputs.clip_seconds`).
        stride: seconds between windows; default :data:`DEFAULT_STRIDE` (at most the window length).
        smoothing: a :class:`Smoothing` or its text form (``"moving_average:3"``, ``"ema:0.5"``, ``"none"``).
        min_confidence: below this smoothed top probability a window is ``uncertain`` (label ``no action``);
            default: the checkpoint's measured ``config["min_confidence"]``, else :data:`DEFAULT_MIN_CONFIDENCE`.
        min_visible: below this fraction of frames with a person a window is ``no_person``.
        top_k: classes listed per window.
        batch_size: windows per forward pass.
        cpu_threads: PyTorch threads while classifying on the CPU (restored afterwards); ``None`` keeps PyTorch's
            setting. Default 1: the windows come in small batches, and on a busy 2-core machine a second thread
            made them 3-20x slower (benchmarks/labeling_throughput.py, ``cpu_threads`` section).
        pose: pose extraction options.
        mirrored: videos are mirrored (webcam/selfie recordings); can be overridden per call.
        pose_cache: folder caching pose sequences by video content; ``None`` disables the cache.
        skeleton_fps: frame rate of skeleton files (:meth:`label_skeleton`) instead of their format's; videos and
            pose files keep their own frame times.

    Raises:
        SkelrecError: the model has no classification head or labels, or takes a layout/channels the pose
            estimator cannot produce.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        window: float | None = None,
        stride: float | None = None,
        smoothing: Smoothing | str = "moving_average",
        min_confidence: float | None = None,
        min_visible: float = 0.5,
        top_k: int = 5,
        batch_size: int = 32,
        cpu_threads: int | None = 1,
        pose: PoseOptions | None = None,
        mirrored: bool = False,
        pose_cache: str | Path | None = None,
        skeleton_fps: float | None = None,
    ) -> None:
        self.loaded, self.model = loaded, loaded.model
        self.labels = _labels(loaded)
        self.input = ModelInput.from_config(
            loaded.config, source=loaded.source, in_channels=self.model.encoder.in_channels
        )
        self.pose = pose or PoseOptions()
        self.estimator = create_estimator(self.pose.backend, **self.pose.options)
        self.input.check_source(self.estimator.layout, loaded.source)
        self.window = float(window) if window is not None else self.input.seconds
        self.stride = float(stride) if stride is not None else min(DEFAULT_STRIDE, self.window)
        if not self.window > 0:  # also NaN
            raise SkelrecError(
                f"window length must be > 0 seconds, got {self.window:g}; e.g. 2, or leave it unset for the model's "
                f"clip ({self.input.seconds:.2f} s)"
            )
        if not self.stride > 0:
            raise SkelrecError(
                f"window stride (seconds between window starts) must be > 0, got {self.stride:g}; e.g. "
                f"{DEFAULT_STRIDE} (the default)"
            )
        self.smoothing = Smoothing.parse(smoothing) if isinstance(smoothing, str) else smoothing
        if min_confidence is None:
            measured = loaded.config.min_confidence
            min_confidence = float(DEFAULT_MIN_CONFIDENCE if measured is None else measured)
        temperature = loaded.config.temperature
        self.temperature = float(1.0 if temperature is None else temperature)
        if not self.temperature > 0:
            raise SkelrecError(f"model {loaded.source}: temperature {self.temperature} in config.json must be > 0")
        for name, value in (("min_confidence", min_confidence), ("min_visible", min_visible)):
            if not 0 <= value <= 1:
                raise SkelrecError(f"{name} must be between 0 and 1, got {value}")
        if top_k < 1 or batch_size < 1 or (cpu_threads is not None and cpu_threads < 1):
            raise SkelrecError(
                f"top_k, batch_size and cpu_threads must be >= 1, got {top_k}, {batch_size} and {cpu_threads}"
            )
        self.min_confidence, self.min_visible = min_confidence, min_visible
        self.top_k, self.batch_size, self.cpu_threads = top_k, batch_size, cpu_threads
        if skeleton_fps is not None and skeleton_fps <= 0:
            raise SkelrecError(f"--fps must be > 0, got {skeleton_fps}")
        self.skeleton_fps = skeleton_fps
        self.mirrored = mirrored
        self.pose_cache = Path(pose_cache) if pose_cache is not None else None
        self.device = next(self.model.parameters()).device
        weights = loaded.folder / WEIGHTS_NAME
        self.weights_digest = file_digest(weights) if weights.is_file() else None
        self._warm_up()

    @classmethod
    def from_pretrained(
        cls, model: str | Path | None = None, *, revision: str | None = None, device: str = "auto", **options: Any
    ) -> Labeler:
        """Load ``model`` (``None``: the embedded default; a folder; a Hub repo id) and build a labeler.

        ``options`` are the keyword arguments of :class:`Labeler` (window, stride, smoothing, min_confidence,
        min_visible, top_k, batch_size, cpu_threads, pose, mirrored, pose_cache, skeleton_fps).
        """
        resolve_device(device)  # a one-line error for an unknown device or CUDA without a GPU
        return cls(from_pretrained(model, revision=revision, device=device), **options)

    @property
    def min_seconds(self) -> float:
        """The shortest video this labeler labels: :data:`MIN_WINDOW_FRACTION` of its window."""
        return MIN_WINDOW_FRACTION * self.window

    # ----------------------------------------------------------------------------------------------------------
    # description
    # ----------------------------------------------------------------------------------------------------------

    def model_info(self) -> dict[str, Any]:
        """Where the model came from and what it takes (the ``model`` section of a result)."""
        return {
            "source": self.loaded.source,
            "revision": self.loaded.revision,
            "commit": self.loaded.commit,
            "weights_digest": self.weights_digest,
            "layout": self.input.layout,
            "clip_length": self.input.clip_length,
            "clip_seconds": round(self.input.seconds, 4),
            "temperature": self.temperature,
            "num_persons": self.input.num_persons,
            "labels": list(self.labels),
            "device": str(self.device),
        }

    def settings(self, mirrored: bool | None = None) -> dict[str, Any]:
        """The labeling settings (the ``settings`` section of a result); all of them change the output."""
        return {
            "window": round(self.window, 4),
            "window_stride": round(self.stride, 4),
            "smoothing": self.smoothing.to_dict(),
            "min_confidence": self.min_confidence,
            "min_visible": self.min_visible,
            "min_seconds": round(self.min_seconds, 4),
            "top_k": self.top_k,
            "mirrored": self.mirrored if mirrored is None else mirrored,
            "pose": self.pose.to_dict(),
            **({"skeleton_fps": self.skeleton_fps} if self.skeleton_fps else {}),
        }

    def identity(self) -> dict[str, Any]:
        """What makes two results of the same video interchangeable: model identity and settings."""
        info = self.model_info()
        return {"model": {k: info[k] for k in ("source", "commit", "weights_digest")}, "settings": self.settings()}

    # ----------------------------------------------------------------------------------------------------------
    # labeling
    # ----------------------------------------------------------------------------------------------------------

    def label(
        self, video: str | Path, *, progress: ProgressCallback | None = None, mirrored: bool | None = None
    ) -> LabelResult:
        """Label a video file.

        Args:
            video: a video file.
            progress: called as ``progress(stage, done, total)`` while poses are extracted and windows classified.
            mirrored: override the labeler's ``mirrored`` setting for this video.

        Raises:
            SkelrecError: the model needs several persons (a video gives one), or the file is missing, not a video,
                corrupt, truncated or has no frames.
        """
        needs = self.loaded.config.min_persons or 1
        if needs > 1:
            raise SkelrecError(
                f"{Path(video).name}: model {self.loaded.source} labels actions of {needs} persons, and a video gives "
                "one (MediaPipe's pose sees one person); label skeleton files of both persons with it (PKU-MMD .txt, "
                "NTU .skeleton, a pose .npz with two persons), or choose a one-person model such as 'default'"
            )
        if not Path(video).is_file():
            open_video(video)  # raises the reader's one-line error (no such file, a folder) before hashing
        mirrored = self.mirrored if mirrored is None else mirrored
        report = None if progress is None else (lambda n, total: progress("pose", n, total))
        estimator = _ObservingEstimator(self.estimator, report, self._expected_frames)
        opts = self.pose
        poses = extract_poses(
            video,
            estimator,
            stride=opts.frame_stride,
            max_side=opts.max_side,
            max_frames=opts.max_frames,
            mirrored=mirrored,
            cache_dir=self.pose_cache,
        )
        info = estimator.info or open_video(video).info  # the cached poses were used: read the metadata
        return self.label_poses(poses, progress=progress, info=info)

    def label_poses(
        self, poses: PoseSequence, *, progress: ProgressCallback | None = None, info: VideoInfo | None = None
    ) -> LabelResult:
        """Label a pose sequence (e.g. a saved pose file, or frames the caller ran through an estimator).

        Args:
            poses: landmarks in the estimator's layout, with their frame times; ``poses.mirrored`` is honoured.
            progress: called as ``progress("classify", done, total)`` per batch of windows.
            info: the video's metadata (fps, frame count, duration); default: taken from ``poses``.
        """
        skeleton = poses.to_skeleton(self.input.layout, confidence=self.input.channels >= 4)  # (M, T, V, C)
        return self._label_sequence(
            skeleton,
            poses.present,
            poses.times,
            fps=info.fps if info else poses.fps,
            video=str(info.path) if info else poses.source,
            frames=info.frame_count if info else _frames_of(poses),
            duration=info.duration if info else None,
            settings=self.settings(poses.mirrored),
            stats=PoseStats.of(poses),
            poses=poses,
            progress=progress,
        )

    def label_skeleton(
        self,
        data: np.ndarray,
        layout: str,
        *,
        fps: float | None = None,
        source: str = "",
        origin: str = "skeleton",
        progress: ProgressCallback | None = None,
    ) -> LabelResult:
        """Label a skeleton sequence read from a file (a dataset recording: Kinect skeletons, no pose estimation).

        The joints are converted to the model's layout (:func:`skelrec.skeleton.convert`), then everything runs as
        for the poses of a video: the same windows, the checkpoint's evaluation pipeline (normalization, resampling,
        persons: a two-person recording keeps both persons for a 2-person model, else the reader's first person,
        its main actor), smoothing and segments. ``frame_stride`` and ``max_frames`` of the pose options apply to
        the frames as they do to a video's.

        Args:
            data: ``(M, T, V, 3+)`` in skelrec axes and ``layout`` order; absent persons/frames are zeros.
            layout: the layout of ``data`` (e.g. ``"ntu25"``).
            fps: frame rate of the recording; the labeler's ``skeleton_fps`` overrides it, default 30 (Kinect).
            source: the file, reported as the result's ``video``.
            origin: the file's format (the reader's name), reported with the pose statistics.

        Raises:
            SkelrecError: the layout cannot be converted to the model's, or the frame rate is not positive.
        """
        self.input.check_source(layout, self.loaded.source, origin=f"the {origin} file's")
        fps = float(self.skeleton_fps or fps or DEFAULT_SKELETON_FPS)
        if fps <= 0:
            raise SkelrecError(f"{source or 'skeleton file'}: frame rate {fps} is not positive; pass --fps")
        opts = self.pose
        index = np.arange(0, data.shape[1], opts.frame_stride)[: opts.max_frames or None]
        xyz = convert(np.asarray(data, np.float32)[:, index, :, :3], layout, self.input.layout)  # (M, T, V, 3)
        present = valid_mask(xyz)  # (M, T)
        if self.input.channels >= 4:  # Kinect joints carry no confidence: tracked joints count as fully visible
            xyz = np.concatenate([xyz, present[..., None, None] * np.ones_like(xyz[..., :1])], axis=-1)
        times = index / fps
        stats = PoseStats.of_skeleton(present, times, {"origin": origin, "layout": layout, "fps": fps})
        return self._label_sequence(
            xyz,
            present,
            times,
            fps=fps,
            video=source,
            frames=int(data.shape[1]),
            duration=data.shape[1] / fps,
            settings=self.settings(),
            stats=stats,
            poses=None,
            progress=progress,
        )

    def _label_sequence(
        self,
        skeleton: np.ndarray,
        present: np.ndarray,
        times: np.ndarray,
        *,
        fps: float,
        video: str,
        frames: int,
        duration: float | None,
        settings: dict[str, Any],
        stats: PoseStats,
        poses: PoseSequence | None,
        progress: ProgressCallback | None,
    ) -> LabelResult:
        """Windows -> model inputs -> probabilities -> smoothing -> segments, for a model-layout ``(M, T, V, C)``
        sequence whose frames are at ``times`` (s), with ``present`` ``(M, T)`` saying where a person is."""
        end = float(times[-1] + frame_period(times, fps)) if len(times) else 0.0
        windows = plan_windows(times, length=self.window, stride=self.stride, end=end)
        visible = np.array([visible_fraction(present, w) for w in windows], np.float32)
        valid = visible >= self.min_visible
        probs = np.zeros((len(windows), len(self.labels)), np.float32)
        notice = self._too_short(present, times, end, video)
        if notice is not None:
            valid[:] = False  # never labelled as an action
        chosen = [w for w, ok in zip(windows, valid, strict=True) if ok]
        if chosen:
            probs[valid] = self.classify(skeleton, chosen, progress=progress)
        smoothed = self.smoothing(probs, valid)
        decisions = decide(
            smoothed, visible, self.labels, min_confidence=self.min_confidence, min_visible=self.min_visible
        )
        if notice is not None:
            decisions = [Decision("too_short", TOO_SHORT, None) for _ in windows]
        return LabelResult(
            video=video,
            fps=fps,
            frames=frames,
            duration=end if duration is None else duration,
            labels=list(self.labels),
            model=self.model_info(),
            settings=settings,
            windows=windows,
            probabilities=probs,
            smoothed=smoothed,
            visible=visible,
            decisions=decisions,
            segments=merge_segments(windows, decisions),
            pose=stats,
            poses=poses,
            top_k=self.top_k,
            notice=notice,
        )

    def _too_short(self, present: np.ndarray, times: np.ndarray, end: float, source: str) -> str | None:
        """A one-line notice (also logged) when the sequence lasts less than :attr:`min_seconds`, else None."""
        if not len(times) or not present.any():
            return None  # nothing to label anyway: "no person found"
        seconds = end - float(times[0])
        if seconds >= self.min_seconds - 1e-9:
            return None
        notice = (
            f"{source or 'input'}: too short to label: {seconds:.2f} s ({len(times)} frames); this "
            f"model needs at least {self.min_seconds:.2f} s (half its {self.window:.2f} s window)"
        )
        log.warning("%s", notice)
        return notice

    def classify(
        self, skeleton: np.ndarray, windows: Sequence[Window], *, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Class probabilities ``(len(windows), K)`` of windows of a model-layout sequence ``(M, T, V, C)``."""
        out = []
        with self._threads():
            for start in range(0, len(windows), self.batch_size):
                batch = [self.input(skeleton[:, w.frames]) for w in windows[start : start + self.batch_size]]
                x = torch.from_numpy(np.stack([b[0] for b in batch])).to(self.device)
                mask = torch.from_numpy(np.stack([b[1] for b in batch])).to(self.device)
                out.append(self._probabilities(x, mask).cpu().numpy())
                if progress is not None:
                    progress("classify", min(start + self.batch_size, len(windows)), len(windows))
        return np.concatenate(out)

    @contextmanager
    def _threads(self) -> Iterator[None]:
        """Run the block with :attr:`cpu_threads` PyTorch threads when the model is on the CPU."""
        before = torch.get_num_threads()
        change = self.device.type == "cpu" and self.cpu_threads is not None and self.cpu_threads != before
        if change:
            torch.set_num_threads(self.cpu_threads)
        try:
            yield
        finally:
            if change:
                torch.set_num_threads(before)

    def _probabilities(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Softmax of the model's logits divided by its calibrated temperature (``config["temperature"]``, default
        1; :mod:`skelrec.evaluate.calibration`): ``(N, M, T, V, C)``, mask ``(N, M, T)`` -> ``(N, K)``."""
        with torch.inference_mode():
            logits = self.model(x, mask)
        if logits.shape[-1] != len(self.labels):
            raise SkelrecError(
                f"model {self.loaded.source} outputs {logits.shape[-1]} classes but its config lists "
                f"{len(self.labels)} labels; fix the labels in its config.json"
            )
        return torch.softmax(logits.float() / self.temperature, dim=-1)

    def _warm_up(self) -> None:
        """A forward pass on zeros: checks the output size, and PyTorch's first-call cost (up to a second on a
        busy CPU) is paid when the model is loaded rather than on the first video."""
        spec = self.input
        shape = (1, spec.num_persons, spec.clip_length, get_layout(spec.layout).num_joints, spec.channels)
        x = torch.zeros(shape, device=self.device)
        with self._threads():
            self._probabilities(x, torch.ones(shape[:3], dtype=torch.bool, device=self.device))

    def _expected_frames(self, info: VideoInfo) -> int:
        total = math.ceil(info.frame_count / self.pose.frame_stride)
        return min(total, self.pose.max_frames) if self.pose.max_frames else total


def _labels(loaded: LoadedModel) -> list[str]:
    if not isinstance(loaded.model, Classifier):
        raise SkelrecError(
            f"model {loaded.source} is a pretrained encoder without a classification head; fine-tune it or teach "
            "it actions first (skelrec teach), then label with the resulting model"
        )
    labels = loaded.config.labels
    if not labels:
        raise SkelrecError(f'model {loaded.source}: config.json has no list of label names; add "labels": [...]')
    return list(labels)


def _frames_of(poses: PoseSequence) -> int:
    return int(poses.frame_index[-1]) + 1 if poses.num_frames else 0


class _ObservingEstimator(PoseEstimator):
    """Wraps a pose estimator to see what it is given: the video's metadata and each processed frame.

    Same settings as the wrapped estimator, hence the same cache key. Keeping the metadata of the reader that
    :func:`~skelrec.pose.extract_poses` opens spares a second probe of the file (half a second for 1080p video).
    """

    def __init__(
        self,
        inner: PoseEstimator,
        report: Callable[[int, int], None] | None,
        expected_frames: Callable[[VideoInfo], int],
    ) -> None:
        self.inner, self.report, self.expected_frames = inner, report, expected_frames
        self.name = inner.name  # type: ignore[misc]
        self.layout = inner.layout  # type: ignore[misc]
        self.info: VideoInfo | None = None

    @property
    def max_persons(self) -> int:
        return self.inner.max_persons

    def settings(self) -> dict[str, Any]:
        return self.inner.settings()

    def estimate(
        self, frames: Iterable[Frame], *, info: VideoInfo | None = None, mirrored: bool = False
    ) -> PoseSequence:
        if isinstance(frames, VideoReader):
            self.info = frames.info
        return super().estimate(frames, info=info, mirrored=mirrored)

    @contextmanager
    def detector(self) -> Iterator[FrameDetector]:
        with self.inner.detector() as detect:
            if self.report is None:
                yield detect
                return
            report, count, total = self.report, 0, self.expected_frames(self.info) if self.info else 0

            def reporting(frame: Frame) -> list[Detection]:
                nonlocal count
                detections = detect(frame)
                count += 1
                report(count, max(total, count))
                return detections

            yield reporting
