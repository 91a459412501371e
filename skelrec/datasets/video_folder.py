"""Reader for your own data: a folder of action folders holding video clips (or skelrec pose files).

Layout (the same folder ``skelrec teach`` learns from)::

    ROOT/
      jumping_jack/   clip1.mp4  clip2.mov  clip3.npz
      bow/            ...
      .poses/         the pose cache (hidden folders are not read)

* Classes, their names and their order follow ``skelrec teach``'s rules (:mod:`skelrec.datasets.clip_folders`):
  one class per visible sub-folder, named after it with underscores read as spaces, sorted case-insensitively; the
  label is the position in that order. Clips are the folder's videos (.mp4, .mov, .avi, .mkv, .webm ...) and pose
  files (``.npz`` written by :meth:`skelrec.pose.PoseSequence.save`).
* A video runs through the pose estimator (MediaPipe by default) once: its poses are cached by content in the
  ``pose_cache`` folder (default ``ROOT/.poses``, :func:`skelrec.pose.extract_poses`), so preparing again, with
  another layout or after renaming clips, does not run the estimator again. A pose file is read as saved.
* World landmarks become skelrec skeletons in ``layout`` (default ``kinect20``; ``mediapipe33`` keeps the raw 33
  landmarks; any layout convertible from the estimator's), ``(M, T, V, 3)`` with ``M`` the estimator's maximum number
  of persons. Every processed frame is kept; frames without a person are zeros.
* A clip with nobody in any frame is left out and counted (reason ``no_person``); an unreadable video stops
  ``skelrec prepare`` with the video module's one-line error naming the file (``--skip-bad`` lists it instead).

Protocol ``random``: a seeded, stratified 80/20 split by clip. Within each class the clips are ordered by a hash of
the seed and their path below ROOT; the first 20 % (rounded, at least one when the class has two or more clips) are
the test part. A clip keeps its part when other clips or classes are added, and the split is the same on every
machine.

Reader options (``skelrec prepare video_folder --option KEY=VALUE`` or keyword arguments of
:func:`skelrec.datasets.prepare.prepare_dataset`): ``layout``, ``pose_cache``, ``mirrored`` (the videos are mirrored,
e.g. webcam recordings: left and right are swapped back), ``pose_backend`` and ``pose_options`` (see
:func:`skelrec.pose.create_estimator`), ``frame_stride``, ``max_side``, ``max_frames`` (as for ``skelrec label``) and
``seed`` (of the ``random`` protocol).
"""

from __future__ import annotations

import hashlib
import inspect
import zipfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from skelrec.datasets.base import DatasetReader, Sample, register_dataset
from skelrec.datasets.clip_folders import ActionFolder, find_actions, is_clip, load_poses
from skelrec.errors import SkelrecError
from skelrec.pose import POSE_CACHE_DIR, POSE_SUFFIX, PoseEstimator, PoseOptions, PoseSequence, create_estimator
from skelrec.skeleton import convertible_layouts

__all__ = ["RANDOM_TEST_FRACTION", "VideoFolderReader", "random_split", "sample_fps"]

RANDOM_TEST_FRACTION = 0.2
"""Share of each class's clips in the test part of the ``random`` protocol."""


@register_dataset
class VideoFolderReader(DatasetReader):
    """``ROOT/<class>/<clip>`` videos or pose files -> one :class:`Sample` per clip with a person (module docstring).

    Args:
        root: the folder of class folders.
        layout: layout of the samples, any layout convertible from the estimator's (``mediapipe33`` keeps it raw).
        pose_cache: folder for cached poses of videos (default ``ROOT/.poses``).
        mirrored: the videos are mirrored (webcam previews); pose files keep the flag they were saved with.
        pose_backend: pose estimator (:data:`skelrec.pose.POSE_BACKENDS`).
        pose_options: keyword options of the backend (thresholds, model file ...).
        frame_stride: run the estimator on every ``frame_stride``-th frame.
        max_side: downscale frames to at most this many pixels on the longer side before estimation.
        max_frames: process at most this many frames of a video.
        seed: seed of the ``random`` protocol.
    """

    name = "video_folder"
    layout = "kinect20"
    protocols: ClassVar[Sequence[str]] = ("random",)
    persons = 1
    file_glob = "*/*"  # a clip in a class folder; files() and detect() apply the real rules
    parallel = False  # MediaPipe (TFLite, its threads) is not fork-safe in a worker forked from a busy process

    def __init__(
        self,
        root: str | Path,
        *,
        layout: str = "kinect20",
        pose_cache: str | Path | None = None,
        mirrored: bool = False,
        pose_backend: str = "mediapipe",
        pose_options: Mapping[str, Any] | None = None,
        frame_stride: int = 1,
        max_side: int | None = None,
        max_frames: int | None = None,
        seed: int = 0,
        **unknown: Any,
    ) -> None:
        super().__init__(root)
        if unknown:
            known = [p for p in inspect.signature(VideoFolderReader).parameters if p not in ("root", "unknown")]
            raise SkelrecError(f"video_folder has no option {', '.join(sorted(unknown))}; known: {', '.join(known)}")
        for option, value, kind, expected in (
            ("mirrored", mirrored, bool, "true or false"),
            ("seed", seed, int, "an integer"),
        ):
            if not isinstance(value, kind):
                raise SkelrecError(f"video_folder option {option}={value!r}: expected {expected}")
        self.pose = PoseOptions(pose_backend, dict(pose_options or {}), frame_stride, max_side, max_frames)
        self.estimator: PoseEstimator = create_estimator(self.pose.backend, **self.pose.options)
        if layout not in convertible_layouts(self.estimator.layout):
            raise SkelrecError(
                f"video_folder option layout={layout!r}: cannot be built from {self.estimator.layout} poses; "
                f"choose one of {', '.join(convertible_layouts(self.estimator.layout))}"
            )
        self.layout = layout
        self.persons = self.estimator.max_persons
        self.pose_cache = Path(pose_cache) if pose_cache is not None else None
        self.mirrored, self.seed = mirrored, seed

    # ----------------------------------------------------------------------------------------------------------
    # The folder: classes and clips (skelrec teach's rules).
    # ----------------------------------------------------------------------------------------------------------

    @cached_property
    def actions(self) -> list[ActionFolder]:
        """The class folders of ROOT in label order (found once, on first use)."""
        return find_actions(self.root)

    @property
    def classes(self) -> tuple[str, ...]:  # type: ignore[override]  (per folder, not per reader class)
        return tuple(a.label for a in self.actions)

    def files(self) -> list[Path]:
        return [clip for action in self.actions for clip in action.clips]

    def accepts(self, path: Path) -> bool:
        return is_clip(path)

    @classmethod
    def detect(cls, path: Path) -> bool:
        """A video file, or an ``.npz`` holding the arrays of a skelrec pose file (``skelrec inspect`` of one clip)."""
        return is_clip(path) and (path.suffix.lower() != POSE_SUFFIX or _is_pose_file(path))

    def _in_a_class_folder(self, path: Path) -> bool:
        """Whether ``path`` is a clip of this dataset, not a single file given to ``skelrec inspect``."""
        return path.parent.parent.resolve() == self.root.resolve()

    def _cache_dir(self, path: Path) -> Path | None:
        """``pose_cache`` (default ``ROOT/.poses``); none for a single inspected file (nothing is written beside it)."""
        if self.pose_cache is not None:
            return self.pose_cache
        return self.root / POSE_CACHE_DIR if self._in_a_class_folder(path) else None

    def _label(self, path: Path) -> tuple[int | None, str | None]:
        """Label of a clip in a class folder of ROOT; ``None`` for a single inspected file."""
        if not self._in_a_class_folder(path):
            return None, None
        folders = [a.path.name for a in self.actions]
        if path.parent.name not in folders:
            raise SkelrecError(f"{path}: not in a class folder of {self.root} (hidden folders are not classes)")
        label = folders.index(path.parent.name)
        return label, self.classes[label]

    # ----------------------------------------------------------------------------------------------------------
    # One clip.
    # ----------------------------------------------------------------------------------------------------------

    def read(self, path: Path) -> list[Sample]:
        poses = load_poses(path, self.estimator, self.pose, mirrored=self.mirrored, cache_dir=self._cache_dir(path))
        seen = poses.present.any(axis=0)  # (T,)
        if not seen.any():
            return self.skip(
                "no_person", f"{path}: no person found in any of its {poses.num_frames} processed frames; clip left out"
            )
        label, label_name = self._label(path)
        return [
            Sample(
                data=poses.to_skeleton(self.layout),
                layout=self.layout,
                name=_clip_name(path, self.root),
                dataset=self.name,
                label=label,
                label_name=label_name,
                fps=sample_fps(poses),
                meta={
                    "source": str(path),
                    "folder": path.parent.name,
                    "frames_with_person": int(seen.sum()),
                    "mirrored": bool(poses.mirrored),
                },
            )
        ]

    # ----------------------------------------------------------------------------------------------------------
    # The protocol.
    # ----------------------------------------------------------------------------------------------------------

    def split(self, protocol: str, meta: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        self._check_protocol(protocol)
        return random_split(meta, seed=self.seed)


def random_split(
    meta: Sequence[Mapping[str, Any]], *, seed: int = 0, test_fraction: float = RANDOM_TEST_FRACTION
) -> dict[str, np.ndarray]:
    """Seeded stratified split of labelled samples by ``name``: ``{"train": idx, "test": idx}`` (module docstring).

    Per label, ``round(test_fraction * n)`` samples (at least 1 when ``n >= 2``, never all) go to ``test``: those
    whose BLAKE2b hash of ``"<seed>:<name>"`` sorts first. Unlabelled samples are in neither part.
    """
    by_label: dict[int, list[int]] = defaultdict(list)
    for i, row in enumerate(meta):
        if row.get("label") is not None:
            by_label[int(row["label"])].append(i)
    train: list[int] = []
    test: list[int] = []
    for members in by_label.values():
        n = len(members)
        n_test = min(max(round(test_fraction * n), 1 if n >= 2 else 0), n - 1)
        ranked = sorted(members, key=lambda i: _hash_key(seed, str(meta[i]["name"])))
        test += ranked[:n_test]
        train += ranked[n_test:]
    return {"train": np.array(sorted(train), np.int64), "test": np.array(sorted(test), np.int64)}


def sample_fps(poses: PoseSequence) -> float | None:
    """Frame rate of the processed frames: the video's rate divided by the frame stride; ``None`` when unknown."""
    stride = int(poses.settings.get("stride") or 1)
    return poses.fps / stride if poses.fps > 0 else None


def _hash_key(seed: int, name: str) -> str:
    return hashlib.blake2b(f"{seed}:{name}".encode(), digest_size=8).hexdigest()


def _clip_name(path: Path, root: Path) -> str:
    """``class_folder/clip.mp4`` (unique even when a video and a pose file share a stem); the file name elsewhere."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _is_pose_file(path: Path) -> bool:
    """Whether an ``.npz`` holds the arrays of :meth:`PoseSequence.save` (a look at the archive's names only)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return {"meta.npy", "present.npy", "world.npy"} <= names
