"""A folder of action folders holding clips: the rules shared by ``skelrec teach`` and the ``video_folder`` reader.

Layout::

    ROOT/
      jumping_jack/   clip1.mp4  clip2.mov  clip3.npz     <- label "jumping jack"
      bow/            ...
      .poses/         a pose cache (hidden folders are not actions)

* A folder's name is its action's label, with underscores read as spaces and runs of spaces collapsed
  (:func:`action_label`). Two folders whose labels differ only in case, spaces, underscores or hyphens are the same
  action (:func:`label_key`) and rejected, as is a name that is empty after this clean-up or one the caller reserves
  (``skelrec teach`` reserves the label of clips far from every taught action).
* Clips are the folder's video files (:data:`skelrec.video.VIDEO_SUFFIXES`) and pose files
  (:data:`skelrec.pose.POSE_SUFFIX`, written by :meth:`skelrec.pose.PoseSequence.save`, e.g. entries of a
  ``.poses`` cache). Hidden files and folders (``.poses``, ``.DS_Store``) are ignored; so are sub-folders of an
  action folder.
* Poses of videos come from the pipeline ``skelrec label`` uses (:func:`skelrec.pose.extract_poses` with the same
  :class:`~skelrec.pose.PoseOptions`), cached by video content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from skelrec.errors import SkelrecError
from skelrec.pose import POSE_SUFFIX, PoseEstimator, PoseOptions, PoseSequence, extract_poses
from skelrec.video import VIDEO_SUFFIXES

__all__ = ["CLIP_SUFFIXES", "ActionFolder", "action_label", "find_actions", "is_clip", "label_key", "load_poses"]

CLIP_SUFFIXES = (*VIDEO_SUFFIXES, POSE_SUFFIX)
"""File suffixes (lower case) of clips: videos, then the pose file suffix."""


def action_label(folder_name: str) -> str:
    """The label of an action folder: underscores become spaces, runs of spaces collapse, ends are stripped."""
    return " ".join(folder_name.replace("_", " ").split())


def label_key(label: str) -> str:
    """What makes two labels the same action: case, spaces, underscores and hyphens are ignored."""
    return "".join(label.replace("_", " ").replace("-", " ").split()).casefold()


def is_clip(path: Path) -> bool:
    """Whether ``path`` is a clip file: a visible video or pose file (see the module docstring)."""
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in CLIP_SUFFIXES


@dataclass(frozen=True)
class ActionFolder:
    """One action: its ``label``, its folder and the clip files in it (sorted by name)."""

    label: str
    path: Path
    clips: tuple[Path, ...]


def find_actions(root: str | Path, *, reserved: Sequence[str] = ()) -> list[ActionFolder]:
    """The action folders of ``root``, sorted by label (:func:`label_key`); a label's index is its class.

    Args:
        root: the folder of action folders.
        reserved: labels no action may have (compared with :func:`label_key`).

    Raises:
        SkelrecError: ``root`` is not a folder, holds clips outside action folders or no action folder, a folder's
            name is empty or reserved after clean-up, two folders name the same action, or a folder holds no clip.
    """
    root = Path(root)
    if not root.is_dir():
        raise SkelrecError(f"{root}: no such folder; pass a folder with one sub-folder of example clips per action")
    loose = sorted(p.name for p in root.iterdir() if is_clip(p))
    if loose:
        raise SkelrecError(
            f"{root}: clips outside an action folder ({', '.join(loose[:3])}{', ...' if len(loose) > 3 else ''}); "
            "move each clip into a sub-folder named after its action"
        )
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise SkelrecError(f"{root}: no action folders; create one sub-folder per action, named after it")
    reserved_keys = {label_key(r) for r in reserved}
    taken: dict[str, Path] = {}
    actions = []
    for folder in folders:
        label = action_label(folder.name)
        key = label_key(label)
        if not key:
            raise SkelrecError(f"{folder}: the folder name gives an empty action name; rename it after the action")
        if key in reserved_keys:
            raise SkelrecError(
                f"{folder}: action name {label!r} is reserved for clips far from every taught action; rename the folder"
            )
        if key in taken:
            raise SkelrecError(
                f"{folder}: action name {label!r} names the same action as folder {taken[key].name!r}; rename one "
                "of them or merge the two"
            )
        taken[key] = folder
        clips = tuple(sorted(p for p in folder.iterdir() if is_clip(p)))
        if not clips:
            raise SkelrecError(
                f"{folder}: no usable clip for action {label!r}: no video ({', '.join(VIDEO_SUFFIXES[:4])} ...) or "
                f"pose file ({POSE_SUFFIX}); add example clips of the action"
            )
        actions.append(ActionFolder(label, folder, clips))
    return sorted(actions, key=lambda a: label_key(a.label))


def load_poses(
    clip: Path,
    estimator: PoseEstimator,
    pose: PoseOptions,
    *,
    mirrored: bool = False,
    cache_dir: str | Path | None = None,
) -> PoseSequence:
    """The poses of a clip: a pose file as saved, or a video run through ``estimator`` (cached in ``cache_dir``)."""
    if clip.suffix.lower() == POSE_SUFFIX:
        return PoseSequence.load(clip)
    return extract_poses(
        clip,
        estimator,
        stride=pose.frame_stride,
        max_side=pose.max_side,
        max_frames=pose.max_frames,
        mirrored=mirrored,
        cache_dir=cache_dir,
    )
